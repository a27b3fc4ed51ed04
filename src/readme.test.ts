/**
 * The README's TypeScript examples compile under `strict` and run: every ```ts block is written
 * to .readme-check/, type-checked and compiled by the project's tsc against the package itself
 * (`import ... from 'hessian'` resolves to this package by its exports), then each is run with
 * node. A block that is only a fragment can opt out with a first line `// fragment`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, '.readme-check');

function blocks(): string[] {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const out: string[] = [];
  const re = /^```ts\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) if (!m[1].startsWith('// fragment')) out.push(m[1]);
  return out;
}

test('every TypeScript example in the README type-checks under strict and runs', () => {
  const code = blocks();
  assert.ok(code.length >= 2, `expected the README's examples, found ${code.length} ts blocks`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'src'), { recursive: true });
  code.forEach((c, i) => writeFileSync(join(dir, 'src', `example-${i + 1}.ts`), c));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'out', rootDir: 'src', skipLibCheck: true, types: ['node'] },
    include: ['src'],
  }));
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8', cwd: dir });
  assert.equal(tsc.status, 0, `the README's examples do not compile:\n${tsc.stdout}${tsc.stderr}`);
  code.forEach((_, i) => {
    const r = spawnSync(process.execPath, [join(dir, 'out', `example-${i + 1}.js`)], { encoding: 'utf8', cwd: root, timeout: 120_000 });
    assert.equal(r.status, 0, `README example ${i + 1} failed:\n${r.stdout}${r.stderr}`);
  });
});

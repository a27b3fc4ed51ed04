/**
 * scripts/check-layers.mjs (run by `npm run lint`) on fake source trees: a tree that follows the
 * layer order passes; an import against it (static, type-only, re-export or dynamic) fails,
 * naming the file, the target and both layers; an import cycle fails, naming its files;
 * comments, tests, src/index.ts and testing/ do not count against the order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/check-layers.mjs', import.meta.url));

function check(files: Record<string, string>): { status: number | null; out: string } {
  const root = mkdtempSync(join(tmpdir(), 'check-layers-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, 'src', path)), { recursive: true });
      writeFileSync(join(root, 'src', path), text);
    }
    const r = spawnSync(process.execPath, [script, '--root', root], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const clean: Record<string, string> = {
  'kernels/k.ts': 'export const k = 1;\n',
  'tensor/t.ts': "import { k } from '../kernels/k.js';\nexport const t = k;\n",
  'autodiff/a.ts': "import { t } from '../tensor/t.js';\nimport { x } from './b.js';\nexport const a = t + x;\n",
  'autodiff/b.ts': 'export const x = 2;\n',
  'curvature/c.ts': "import type { a } from '../autodiff/a.js';\nexport type C = typeof a;\n",
  'optim/o.ts': "export * from '../curvature/c.js';\nimport fs from 'node:fs';\nexport const o = fs;\n",
  'cli/main.ts': "import '../optim/o.js';\nconst m = await import('../bench/b.js');\nexport { m };\n",
  'bench/b.ts': "import { o } from '../optim/o.js';\nexport { o };\n",
  'index.ts': "export * from './cli/main.js';\n",
  'testing/h.ts': "export { m } from '../cli/main.js';\n",
  // A test may use a higher layer as its oracle.
  'tensor/t.test.ts': "import { a } from '../autodiff/a.js';\nimport { m } from '../testing/h.js';\nvoid a; void m;\n",
  // An import shown in a comment is not an import.
  'kernels/doc.ts': "/**\n * import { o } from '../optim/o.js';\n */\n// import { c } from '../cli/main.js';\nexport const doc = 0;\n",
};

test('a tree that follows the layer order passes', () => {
  const r = check(clean);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /check-layers: 12 files, 0 problems/);
});

test('an import against the layer order fails, naming the file, the target and both layers', () => {
  const r = check({ ...clean, 'tensor/t.ts': "import { o } from '../optim/o.js';\nexport const t = o;\n" });
  assert.equal(r.status, 1);
  assert.match(r.out, /tensor\/t\.ts: imports 'optim\/o\.ts' — tensor may not depend on optim/);
  // type-only, re-export and dynamic imports count as well
  const r2 = check({
    ...clean,
    'nn/n.ts': "import type { C } from '../curvature/c.js';\nexport type N = C;\n",
    'kernels/k.ts': "export { t } from '../tensor/t.js';\nexport const k = 1;\n",
    'data/d.ts': "export const d = () => import('../bench/b.js');\n",
  });
  assert.equal(r2.status, 1);
  assert.match(r2.out, /nn\/n\.ts: imports 'curvature\/c\.ts' — nn may not depend on curvature/);
  assert.match(r2.out, /kernels\/k\.ts: imports 'tensor\/t\.ts' — kernels may not depend on tensor/);
  assert.match(r2.out, /data\/d\.ts: imports 'bench\/b\.ts' — data may not depend on bench/);
});

test('an import cycle fails even within one layer, naming its files', () => {
  const r = check({ ...clean, 'autodiff/b.ts': "import type { a } from './a.js';\nexport const x = 2;\nexport type A = typeof a;\n" });
  assert.equal(r.status, 1);
  assert.match(r.out, /import cycle: autodiff\/a\.ts -> autodiff\/b\.ts -> autodiff\/a\.ts/);
});

test('a folder outside the order, a missing file and an import of the package root are reported', () => {
  const r = check({ ...clean, 'web/w.ts': 'export const w = 0;\n', 'optim/p.ts': "import { z } from './missing.js';\nimport * as all from '../index.js';\nexport { z, all };\n" });
  assert.equal(r.status, 1);
  assert.match(r.out, /web\/w\.ts: folder 'web' is not in the layer order/);
  assert.match(r.out, /optim\/p\.ts: imports 'optim\/missing\.ts', which does not exist/);
  assert.match(r.out, /optim\/p\.ts: imports the package root 'index\.ts'/);
});

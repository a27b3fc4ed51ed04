/**
 * A native addon that exists but does not load (a stale ABI, a corrupt file) falls back to wasm
 * with exactly one warning line on stderr; a missing addon falls back silently (the install step
 * already said so). Runs a copy of the compiled kernels in a child process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/kernels
const root = path.resolve(here, '..', '..');

function firstBackend(nativeFile: string | null): { name: string; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hessian-stale-'));
  try {
    fs.writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}');
    fs.cpSync(here, path.join(dir, 'dist', 'kernels'), { recursive: true });
    fs.cpSync(path.join(root, 'build', 'wasm'), path.join(dir, 'build', 'wasm'), { recursive: true });
    if (nativeFile !== null) {
      fs.mkdirSync(path.join(dir, 'build', 'native'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'build', 'native', 'hessian.node'), nativeFile);
    }
    const env = { ...process.env };
    delete env.HESSIAN_BACKEND;
    const script = `const m = await import(${JSON.stringify(path.join(dir, 'dist', 'kernels', 'index.js'))}); m.kernels(); m.kernels(); console.log(m.kernels().name);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return { name: r.stdout.trim(), stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('native addon fallback', () => {
  it('a built addon that fails to load prints one warning line naming the file and the fix, then uses wasm', () => {
    const { name, stderr } = firstBackend('not a shared object');
    assert.equal(name, 'wasm');
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /^hessian: native kernels not loaded \(cannot load .*hessian\.node: .*\); using wasm\. Rebuild them with `npm run build:native`\.$/);
  });

  it('no addon at all: wasm without a warning', () => {
    const { name, stderr } = firstBackend(null);
    assert.equal(name, 'wasm');
    assert.equal(stderr.trim(), '');
  });
});

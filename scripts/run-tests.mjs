#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's built-in test runner, once per
// kernel backend that loads on this machine (HESSIAN_BACKEND=native, wasm, ts), so that the
// whole suite is known to pass on each. Ends with one line CI can read: "N passed, N failed".
// Options: --backend NAME (only that one), --quick (only the default backend).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const args = process.argv.slice(2);
const only = args.includes('--backend') ? args[args.indexOf('--backend') + 1] : undefined;
const files = findTests(dist).filter((f) => !args.some((a) => a.startsWith('--filter=')) || args.some((a) => a.startsWith('--filter=') && f.includes(a.slice(9))));
if (files.length === 0) {
  console.error('run-tests: no compiled tests under dist/ (run `npm run build:ts` first)');
  process.exit(1);
}

const { availableBackends } = await import(join(dist, 'kernels', 'index.js'));
const available = availableBackends();
const backends = only ? [only] : args.includes('--quick') ? [available[0]] : available;

let passed = 0;
let failed = 0;
for (const b of backends) {
  console.log(`\n=== backend ${b}: ${files.length} test files ===`);
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', ...files.map((f) => relative(root, f))], {
    cwd: root,
    env: { ...process.env, HESSIAN_BACKEND: b },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const text = (r.stdout ?? '') + (r.stderr ?? '');
  // Print failures in full, passing tests as one line each.
  process.stdout.write(text.split('\n').filter((l) => !/^\s+(---|\.\.\.|duration_ms|type:)/.test(l)).join('\n'));
  const p = Number(/^# pass (\d+)/m.exec(text)?.[1] ?? 0);
  const f = Number(/^# fail (\d+)/m.exec(text)?.[1] ?? 0);
  passed += p;
  failed += f + (r.status !== 0 && f === 0 ? 1 : 0);
}
console.log(`\nbackends: ${backends.join(', ')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);

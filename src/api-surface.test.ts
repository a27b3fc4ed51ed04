/**
 * The package's public surface is deliberate: the names exported from the root and from each
 * namespace (nn, optim, models, data, linalg, ...) equal the checked-in list in
 * src/api-surface.json, so nothing internal leaks and nothing public disappears unnoticed.
 * After an intended change: `HESSIAN_UPDATE_API=1 node --test dist/api-surface.test.js`, then
 * review the diff of src/api-surface.json. `npm run docs` checks the other half: every type a
 * public signature refers to is exported (TypeDoc's validation, warnings as errors).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as api from './index.js';

const SNAPSHOT = fileURLToPath(new URL('../src/api-surface.json', import.meta.url));

function surface(): Record<string, string[]> {
  const out: Record<string, string[]> = { '.': Object.keys(api).sort() };
  for (const [k, v] of Object.entries(api)) {
    // Namespaces are module objects: a null prototype and a Symbol.toStringTag of 'Module'.
    if (v !== null && typeof v === 'object' && (v as Record<symbol, unknown>)[Symbol.toStringTag] === 'Module') out[k] = Object.keys(v).sort();
  }
  return out;
}

test('the exported names equal src/api-surface.json', () => {
  const now = surface();
  if (process.env.HESSIAN_UPDATE_API === '1') writeFileSync(SNAPSHOT, `${JSON.stringify(now, null, 2)}\n`);
  const want = JSON.parse(readFileSync(SNAPSHOT, 'utf8')) as Record<string, string[]>;
  for (const ns of new Set([...Object.keys(want), ...Object.keys(now)])) {
    const added = (now[ns] ?? []).filter((n) => !(want[ns] ?? []).includes(n));
    const removed = (want[ns] ?? []).filter((n) => !(now[ns] ?? []).includes(n));
    assert.deepEqual({ ns, added, removed }, { ns, added: [], removed: [] }, `exports of '${ns}' changed; if intended, update src/api-surface.json (see this file's comment)`);
  }
});

test('no underscore names and no deep imports: the package exports only its root', () => {
  for (const [ns, names] of Object.entries(surface())) for (const n of names) assert.ok(!n.startsWith('_'), `${ns}.${n} looks internal`);
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { exports: Record<string, unknown> };
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './package.json']);
});

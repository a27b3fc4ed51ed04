import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPTIMIZERS, optimizerEntry } from './registry.js';

it('the registry is typed: no entry needs a cast to Optimizer<PyTree, PyTree>', () => {
  const source = readFileSync(fileURLToPath(new URL('../../src/optim/registry.ts', import.meta.url)), 'utf8');
  assert.doesNotMatch(source, /as unknown as/);
});

it('every entry builds an optimizer named by its id (nesterov aside), with the needs it declares', () => {
  for (const [id, entry] of OPTIMIZERS) {
    const opt = entry.create(id === 'momentum' ? { nesterov: false } : {});
    assert.equal(opt.name, id);
    for (const need of entry.needs) assert.equal(typeof need, 'string');
  }
  assert.deepEqual(optimizerEntry('adahessian').needs, ['hvp']);
  assert.deepEqual(optimizerEntry('sophia-h').needs, ['hvp']);
  assert.deepEqual(optimizerEntry('sophia-g').needs, ['gnbDiagonal']);
  for (const id of ['adahessian', 'sophia-h', 'sophia-g']) assert.equal(optimizerEntry(id).stochastic, true);
});

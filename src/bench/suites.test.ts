/**
 * Suites: every id they name exists, the quick suite covers one problem of each purpose it
 * promises, and the run counts and time bounds match a hand count.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SUITES, suiteById, suiteBudgetSeconds, suiteRunCount } from './suites.js';
import { problemById } from './problems.js';
import { OPTIMIZERS } from '../optim/registry.js';
import { parseBudget } from './runner.js';

describe('benchmark suites', () => {
  it('name only registered problems and optimizers, with budgets that parse', () => {
    for (const s of Object.values(SUITES)) {
      for (const p of s.problems) assert.doesNotThrow(() => problemById(p), `${s.id}: ${p}`);
      for (const o of s.optimizers) assert.ok(OPTIMIZERS.has(o), `${s.id}: ${o}`);
      for (const p of s.peerProblems) assert.ok(s.problems.includes(p), `${s.id}: peer problem ${p} is not in the suite`);
      assert.doesNotThrow(() => parseBudget(s.budget));
      assert.ok(s.optimizers.includes('adam'), `${s.id}: the headlines compare against Adam`);
    }
  });

  it('quick covers a test function, a convex model, a small net and a deep autoencoder', () => {
    const q = SUITES.quick;
    assert.ok(q.problems.some((p) => problemById(p).kind === 'function'));
    assert.ok(q.problems.includes('logreg-mnist'), 'softmax regression is the convex model');
    assert.ok(q.problems.includes('mlp-iris'));
    assert.ok(q.problems.some((p) => problemById(p).kind === 'autoencoder'));
    assert.equal(q.tune, false);
  });

  it('count runs and bound their time by hand', () => {
    const q = SUITES.quick;
    assert.deepEqual(suiteRunCount(q, true), { tuning: 0, runs: 24, peer: 3 });
    assert.equal(suiteBudgetSeconds(q, true), 5 * 27);
    assert.equal(suiteBudgetSeconds(q, false), 5 * 24);
    // deep: 3 problems × 7 optimizers × 3 seeds; tuning grids sgd 5 + momentum 4 + adam 3 per problem.
    const d = SUITES.deep;
    assert.deepEqual(suiteRunCount(d, true), { tuning: 3 * 12, runs: 63, peer: 27 });
    assert.equal(suiteBudgetSeconds(d, true), 30 * (63 + 27 + 9));
    assert.equal(suiteBudgetSeconds({ ...q, budget: '100steps' }, true), undefined);
  });

  it('an unknown suite is an error listing the valid ones', () => {
    assert.equal(suiteById('deep').id, 'deep');
    assert.throws(() => suiteById('slow'), /unknown suite 'slow'; valid: quick, deep, paper/);
  });
});

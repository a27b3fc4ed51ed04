/**
 * Suites: every id they name exists, the quick suite covers one problem of each purpose it
 * promises, and the run counts and time bounds match a hand count.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SUITES, suiteById, suiteBudgetSeconds, suiteHyper, suiteRunCount } from './suites.js';
import { hyperFor } from './hyper.js';
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

  it("a suite's options go over the table's for its problem and optimizer only, and build", () => {
    const base = hyperFor('autoencoder-curves', 'autoencoder', 'hessian-free');
    const q = suiteHyper(SUITES.quick, 'autoencoder-curves', 'hessian-free', base);
    assert.deepEqual(q, { options: { ...base.options, preconditioner: false, cgMaxIter: 10, curvatureExamples: 50 }, batchSize: base.batchSize });
    assert.deepEqual(suiteHyper(SUITES.deep, 'autoencoder-curves', 'hessian-free', base), base);
    // The row's other fields (batch growth) stay under the suite's options.
    const grown = { ...base, batchGrowth: { from: 50, steps: 10 } };
    assert.deepEqual(suiteHyper(SUITES.quick, 'autoencoder-curves', 'hessian-free', grown).batchGrowth, { from: 50, steps: 10 });
    const other = hyperFor('mlp-iris', 'classifier', 'hessian-free');
    assert.deepEqual(suiteHyper(SUITES.quick, 'mlp-iris', 'hessian-free', other), other);
    for (const s of Object.values(SUITES)) {
      for (const [p, byOpt] of Object.entries(s.hyper ?? {})) {
        for (const o of Object.keys(byOpt)) {
          const h = suiteHyper(s, p, o, hyperFor(p, problemById(p).kind, o));
          assert.doesNotThrow(() => OPTIMIZERS.get(o)?.create(h.options), `${s.id}: ${o} on ${p}`);
        }
      }
    }
  });

  it('an unknown suite is an error listing the valid ones', () => {
    assert.equal(suiteById('deep').id, 'deep');
    assert.throws(() => suiteById('slow'), /unknown suite 'slow'; valid: quick, deep, paper/);
  });
});

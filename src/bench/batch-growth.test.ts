/**
 * Batch growth in the benchmark runner (Hyper.batchGrowth): the sizes follow the geometric
 * schedule, bad rows are refused naming the field, and a run draws exactly those batches (oracle:
 * the same optimizer stepped by hand on batches of the scheduled sizes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Objective, Optimizer } from '../optim/types.js';
import { batchSizeAt, checkBatchGrowth, type Hyper } from './hyper.js';
import { problemById } from './problems.js';
import { runOne } from './runner.js';

describe('batch growth', () => {
  it('sizes grow geometrically from `from` to batchSize over `steps` steps, then stay', () => {
    const h: Hyper = { options: {}, batchSize: 400, batchGrowth: { from: 25, steps: 4 } };
    // 25 · 16^(k/4): 25, 50, 100, 200, then 400.
    assert.deepEqual([0, 1, 2, 3, 4, 5, 100].map((k) => batchSizeAt(h, k)), [25, 50, 100, 200, 400, 400, 400]);
    assert.equal(batchSizeAt({ options: {}, batchSize: 64 }, 3), 64);
    assert.equal(batchSizeAt({ options: {}, batchSize: 'full' }, 0), 'full');
  });

  it('bad rows are refused naming the field and the value', () => {
    const bad = (batchGrowth: unknown, batchSize: number | 'full' = 100) => () => checkBatchGrowth({ options: {}, batchSize, batchGrowth } as Hyper);
    assert.throws(bad({ from: 0, steps: 5 }), /'batchGrowth\.from' must be an integer in \[1, batchSize = 100\], got 0/);
    assert.throws(bad({ from: 101, steps: 5 }), /'batchGrowth\.from' must be an integer in \[1, batchSize = 100\], got 101/);
    assert.throws(bad({ from: 2.5, steps: 5 }), /'batchGrowth\.from'/);
    assert.throws(bad({ from: 10, steps: 0 }), /'batchGrowth\.steps' must be a positive integer, got 0/);
    assert.throws(bad({ from: 10 }), /'batchGrowth\.steps' must be a positive integer, got undefined/);
    assert.throws(bad({ from: 10, steps: 5, rate: 2 }), /takes 'from' and 'steps', got unknown 'rate'/);
    assert.throws(bad({ from: 10, steps: 5 }, 'full'), /grows the batch up to a numeric batchSize, got batchSize "full"/);
    assert.throws(bad(7), /'batchGrowth' must be \{from, steps\}, got 7/);
    assert.doesNotThrow(bad({ from: 10, steps: 5 }));
    // The runner checks the row before any step.
    assert.throws(() => runOne('mlp-spirals', 'sgd', 1, { steps: 1 }, { size: 'tiny', hyper: { options: { lr: 0.1 }, batchSize: 16, batchGrowth: { from: 32, steps: 2 } } }), /'batchGrowth\.from'/);
  });

  it('a run steps on batches of the scheduled sizes (bit for bit against stepping by hand)', () => {
    const hyper: Hyper = { options: { lr: 0.1, momentum: 0.9 }, batchSize: 64, batchGrowth: { from: 4, steps: 3 } };
    const steps = 5;
    const { checkpoint } = runOne('mlp-spirals', 'momentum', 1, { steps }, { size: 'tiny', hyper });
    const inst = problemById('mlp-spirals').build(1, { size: 'tiny' });
    const byHand = (sizes: number[]) => {
      const opt = optimizerEntry('momentum').create(hyper.options) as Optimizer<PyTree, PyTree>;
      let params = inst.params;
      let state = opt.init(params);
      for (let k = 0; k < steps; k++) ({ params, state } = opt.step(params, state, inst.batch(k, sizes[k]) as Objective<PyTree>));
      return params;
    };
    const same = (a: PyTree, b: PyTree) => treeLeaves(a).every((t, i) => t.data.every((v, j) => v === treeLeaves(b)[i].data[j]));
    // 4 · 16^(k/3): 4, 10, 25, then 64.
    assert.deepEqual([0, 1, 2, 3, 4].map((k) => batchSizeAt(hyper, k)), [4, 10, 25, 64, 64]);
    assert.ok(same(checkpoint.params, byHand([4, 10, 25, 64, 64])), 'the run differs from stepping on the scheduled batches');
    assert.ok(!same(checkpoint.params, byHand([64, 64, 64, 64, 64])), 'the schedule made no difference');
  });
});

/**
 * Batch growth in the benchmark runner (Hyper.batchGrowth): the sizes follow the geometric
 * schedule, bad rows are refused naming the field, and a run draws exactly those batches (oracle:
 * the same optimizer stepped by hand on batches of the scheduled sizes).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PyTree } from '../autodiff/pytree.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Objective, Optimizer } from '../optim/types.js';
import { batchSizeAt, batchSizeText, checkBatchGrowth, resolveBatchSize, type Hyper, type ResolvedHyper } from './hyper.js';
import { problemById } from './problems.js';
import { runOne } from './runner.js';
import { sameBits } from '../testing/helpers.js';

describe('batch growth', () => {
  it('sizes grow geometrically from `from` to batchSize over `steps` steps, then stay', () => {
    const h: ResolvedHyper = { options: {}, batchSize: 400, batchGrowth: { from: 25, steps: 4 } };
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
    const hyper: ResolvedHyper = { options: { lr: 0.1, momentum: 0.9 }, batchSize: 64, batchGrowth: { from: 4, steps: 3 } };
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
    // 4 · 16^(k/3): 4, 10, 25, then 64.
    assert.deepEqual([0, 1, 2, 3, 4].map((k) => batchSizeAt(hyper, k)), [4, 10, 25, 64, 64]);
    assert.ok(sameBits(checkpoint.params, byHand([4, 10, 25, 64, 64])), 'the run differs from stepping on the scheduled batches');
    assert.ok(!sameBits(checkpoint.params, byHand([64, 64, 64, 64, 64])), 'the schedule made no difference');
  });
});

describe('batch size as a share of the training set', () => {

  it('{fraction} becomes ⌊fraction · n⌉ examples (at least one): the run, its record and checkpoint are those of the count', () => {
    const n = problemById('mlp-spirals').build(1, { size: 'tiny' }).trainSize;
    assert.deepEqual(resolveBatchSize({ options: {}, batchSize: { fraction: 0.25 } }, 1000), { options: {}, batchSize: 250 });
    assert.equal(resolveBatchSize({ options: {}, batchSize: { fraction: 1e-6 } }, 1000).batchSize, 1);
    assert.equal(resolveBatchSize({ options: {}, batchSize: { fraction: 1 } }, 999).batchSize, 999);
    assert.equal(resolveBatchSize({ options: {}, batchSize: 64 }, 10).batchSize, 64, 'a count is left to the runner\'s own cap');
    assert.equal(batchSizeText({ fraction: 0.25 }), '25% of the training set');
    const share = runOne('mlp-spirals', 'momentum', 1, { steps: 4 }, { size: 'tiny', hyper: { options: { lr: 0.1, momentum: 0.9 }, batchSize: { fraction: 0.3 } } });
    const count = runOne('mlp-spirals', 'momentum', 1, { steps: 4 }, { size: 'tiny', hyper: { options: { lr: 0.1, momentum: 0.9 }, batchSize: Math.round(0.3 * n) } });
    assert.equal(share.record.hyper.batchSize, Math.round(0.3 * n));
    assert.deepEqual(share.checkpoint.hyper, count.checkpoint.hyper);
    assert.ok(sameBits(share.checkpoint.params, count.checkpoint.params), 'a share of 0.3 did not step as its count');
    // With growth up to the share's count.
    const grown = runOne('mlp-spirals', 'momentum', 1, { steps: 2 }, { size: 'tiny', hyper: { options: { lr: 0.1, momentum: 0.9 }, batchSize: { fraction: 0.5 }, batchGrowth: { from: 4, steps: 2 } } });
    assert.deepEqual(grown.record.hyper.batchGrowth, { from: 4, steps: 2 });
  });

  it('bad batch sizes are refused before any step, naming the field and the value', () => {
    const run = (batchSize: unknown) => () => runOne('mlp-spirals', 'sgd', 1, { steps: 1 }, { size: 'tiny', hyper: { options: { lr: 0.1 }, batchSize } as Hyper });
    assert.throws(run({ fraction: 0 }), /'batchSize\.fraction' must be a number in \(0, 1\], got 0/);
    assert.throws(run({ fraction: 1.5 }), /'batchSize\.fraction' must be a number in \(0, 1\], got 1\.5/);
    assert.throws(run({ fraction: '0.5' }), /'batchSize\.fraction' must be a number in \(0, 1\], got "0\.5"/);
    assert.throws(run({ fraction: 0.5, of: 'train' }), /takes only 'fraction', got unknown 'of'/);
    assert.throws(run(2.5), /'batchSize' must be a positive integer, 'full' or \{fraction\}, got 2\.5/);
    assert.throws(run(0), /'batchSize' must be a positive integer, 'full' or \{fraction\}, got 0/);
    assert.throws(run('half'), /'batchSize' must be a positive integer, 'full' or \{fraction\}, got "half"/);
    assert.doesNotThrow(run({ fraction: 0.001 }), 'a share below one example is a batch of one');
  });
});

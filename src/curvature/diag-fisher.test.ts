/**
 * diagEmpiricalFisher: the taps' fast path (one forward and a partial backward pass, squares by
 * GEMM) against the oracle w·Σ_i (∇L_i)² summed from per-example gradients (the general path).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../tensor/random.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { Linear, Sigmoid, Tanh } from '../nn/layers.js';
import { Sequential } from '../nn/module.js';
import { mse, sigmoidBinaryCrossEntropy, type Loss } from '../nn/losses.js';
import { diagEmpiricalFisher } from './diag-fisher.js';
import { perExampleGrads } from './products.js';

describe('diagEmpiricalFisher', () => {
  const cases: [string, Loss, Sequential][] = [
    ['sigmoid cross-entropy (batch mean), sigmoid net', sigmoidBinaryCrossEntropy({ reduction: 'batchmean' }), new Sequential([new Linear(5, 4), new Sigmoid(), new Linear(4, 3), new Sigmoid(), new Linear(3, 5)])],
    ['mse (mean), tanh net', mse(), new Sequential([new Linear(5, 6), new Tanh(), new Linear(6, 5)])],
  ];
  for (const [name, loss, net] of cases) {
    it(`${name}: the taps' path equals w·Σ_i (∇L_i)² from per-example gradients`, () => {
      const rng = new Rng(31);
      const x = rng.uniform([9, 5], { dtype: 'float64' });
      const params = net.init(new Rng(8), { dtype: 'float64' }) as PyTree;
      const batch = { x, y: x };
      const fast = treeLeaves(diagEmpiricalFisher(net, loss, params, batch));
      const w = loss.batchWeight(9);
      const per = treeLeaves(perExampleGrads(net, loss, params, batch));
      assert.equal(fast.length, per.length);
      fast.forEach((f, j) => {
        const size = f.size;
        for (let k = 0; k < size; k++) {
          let s = 0;
          for (let i = 0; i < 9; i++) s += per[j].data[i * size + k] ** 2;
          const want = w * s;
          assert.ok(Math.abs(f.data[k] - want) <= 1e-12 * (1e-12 + Math.abs(want)) + 1e-300, `leaf ${j} entry ${k}: ${f.data[k]} vs ${want}`);
        }
      });
    });
  }
});

/**
 * `train` on mini-batches gives an optimizer the full-data objective on the steps it asks for
 * it (`Optimizer.fullBatch`, the L-BFGS phase of a switching hybrid) and mini-batches otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../tensor/random.js';
import type { PyTree } from '../autodiff/pytree.js';
import { mse } from '../nn/losses.js';
import { mlp } from '../nn/models.js';
import { modelObjective } from '../optim/objective.js';
import { adam } from '../optim/first-order/baselines.js';
import { lbfgs } from '../optim/quasi-newton/lbfgs.js';
import { switching } from '../optim/hybrids/switching.js';
import type { Objective, Optimizer, OptimizerState } from '../optim/types.js';
import { train } from './train.js';

test('a switching hybrid trained on mini-batches gets mini-batches before the switch and the full batch after it', () => {
  const rng = new Rng(2);
  const data = { x: rng.normal([32, 2], { dtype: 'float64' }), y: rng.normal([32, 1], { dtype: 'float64' }) };
  const model = mlp([2, 4, 1]);
  const loss = mse();
  const full = modelObjective(model, loss, data);
  const isFull: boolean[] = [];
  const record = (opt: Optimizer): Optimizer => ({
    ...opt,
    step: ((p: PyTree, s: OptimizerState, o: Objective) => {
      isFull.push(o.valueAndGrad(p)[0] === full.valueAndGrad(p as PyTree[])[0]);
      return opt.step(p, s, o);
    }) as Optimizer['step'],
  });
  const opt = switching(record(adam()), record(lbfgs()), { after: 2, fullBatch: { second: true } });
  train(model, loss, data, { optimizer: opt as unknown as Optimizer<PyTree, PyTree[]>, batchSize: 8, steps: 5, progress: false });
  assert.deepEqual(isFull, [false, false, true, true, true]);
});

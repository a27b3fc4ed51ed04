/**
 * fromObjective: the operator of an objective's product equals that product (so optimizers that
 * switch from closures keep their iterates), counts products, takes the objective's forward-mode
 * Gram matrix when it has one, and names what is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { hvp } from '../../autodiff/compose.js';
import { treeAxpby } from '../../autodiff/tree-math.js';
import { Linear } from '../../nn/layers.js';
import { mse } from '../../nn/losses.js';
import { ggnvp } from '../products.js';
import { fromObjective } from './from-objective.js';
import { ggn } from './ggn.js';

const f64 = { dtype: 'float64' as const };
const lin = new Linear(3, 2);
const params = lin.init(new Rng(51), f64);
type P = typeof params;
const batch = { x: new Rng(52).normal([4, 3], f64), y: new Rng(53).normal([4, 2], f64) };
const objective = {
  hvp: (p: P, v: P) => hvp((q: P) => mse().value(lin.apply(q, batch.x), batch.y), p, v),
  ggnvp: (p: P, v: P) => ggnvp(lin, mse(), p, batch, v),
};
const v = { weight: new Rng(54).normal([2, 3], f64), bias: new Rng(55).normal([2], f64) };

test("the operator's product is the objective's product, bit for bit, and each is counted", () => {
  let count = 0;
  const G = fromObjective(objective, params, 'ggn', { onMatvec: () => count++ });
  assert.deepEqual(Array.from(G.matvec(v).weight.data), Array.from(objective.ggnvp(params, v).weight.data));
  const damped = G.damped(0.5).matvec(v);
  assert.deepEqual(Array.from((damped.bias as Tensor).data), Array.from((treeAxpby(1, objective.ggnvp(params, v), 0.5, v).bias as Tensor).data));
  assert.equal(count, 2);
  assert.equal(G.psd, true);
  assert.equal(fromObjective(objective, params, 'hessian').psd, false);
  const dense = G.toDense().data;
  const want = ggn(lin, mse(), params, batch).toDense().data;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(dense[i] - want[i]) < 1e-14);
});

test("the objective's ggnGram serves gram for 'ggn' (and only there)", () => {
  let grams = 0;
  const withGram = { ...objective, ggnGram: (p: P, vs: readonly P[]) => { grams++; return ggn(lin, mse(), p, batch).gram(vs); } };
  const g = fromObjective(withGram, params, 'ggn').damped(0.1).gram([v, params]);
  assert.equal(grams, 1);
  const byProducts = fromObjective(objective, params, 'ggn').damped(0.1).gram([v, params]);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) assert.ok(Math.abs(g[i][j] - byProducts[i][j]) < 1e-12 * Math.abs(byProducts[i][j]));
  fromObjective(withGram, params, 'hessian').gram([v]);
  assert.equal(grams, 1);
});

test('a missing product or kind is named with what the objective has', () => {
  assert.throws(() => fromObjective(objective, params, 'fisher'), /fromObjective: curvature 'fisher' needs an objective with fisherVp; this one provides hvp, ggnvp/);
  assert.throws(() => fromObjective({}, params, 'ggn'), /this one provides no curvature products/);
  assert.throws(() => fromObjective(objective, params, 'gn' as 'ggn'), /fromObjective: kind must be 'hessian', 'ggn' or 'fisher', got "gn"/);
  const H = fromObjective(objective, params, 'hessian');
  assert.throws(() => H.matvec({ weight: new Tensor(new Float64Array(6), [3, 2]), bias: v.bias }), /hessian: the vector's tensor 'weight' is float64 \[3, 2\], expected float64 \[2, 3\]/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../tensor/tensor.js';
import { cholesky, solveTriangular } from '../../tensor/linalg.js';
import * as O from '../../autodiff/ops.js';
import { hessian } from '../../autodiff/compose.js';
import { objective } from '../objective.js';
import { optimizerEntry } from '../registry.js';
import { sgd } from '../first-order/baselines.js';
import { minimize } from '../minimize/minimize.js';
import { saddleFreeNewton, saddleFreeNewtonTransform } from './saddle-free-newton.js';
import type { Optimizer, UpdateContext } from '../types.js';

const f64 = { dtype: 'float64' as const };
// f(x, y) = x² + (y² − 1)²/4: a strict saddle at the origin (H = diag(2, −1)), minima at (0, ±1).
const saddle = (p: Tensor) => {
  const x = O.slice(p, [0], [1]);
  const y = O.slice(p, [1], [2]);
  return O.sum(O.add(O.square(x), O.mul(0.25, O.square(O.sub(O.square(y), 1)))));
};

function run(opt: Optimizer, p0: Tensor, steps: number): Tensor {
  const obj = objective(saddle);
  let p: Tensor = p0;
  let s = opt.init(p);
  for (let i = 0; i < steps; i++) ({ params: p as unknown, state: s } = opt.step(p, s, obj) as { params: Tensor; state: typeof s });
  return p;
}

test('leaves a strict saddle where gradient descent stalls', () => {
  const start = tensor([0.5, 1e-6], undefined, f64);
  const gd = run(sgd({ lr: 0.1 }) as Optimizer, start, 30);
  const sfn = run(optimizerEntry('saddle-free-newton').create({ damping: 0 }), start, 30);
  const value = (p: Tensor) => saddle(p).data[0];
  // Gradient descent converges along x but |y| grows only ×1.1 per step: still at the saddle's level.
  assert.ok(Math.abs(gd.data[1]) < 1e-4 && Math.abs(value(gd) - 0.25) < 1e-3, `GD at ${gd.toFlatArray()}`);
  // |H|⁻¹ doubles y per step near the saddle, then Newton converges to a minimum.
  assert.ok(Math.abs(Math.abs(sfn.data[1]) - 1) < 1e-8 && Math.abs(sfn.data[0]) < 1e-8, `SFN at ${sfn.toFlatArray()}`);
  assert.ok(value(sfn) < 1e-14);
});

test('the step equals Newton\'s −H⁻¹g near a minimum when k = n and δ = 0', () => {
  // A strictly convex non-quadratic function of 5 variables.
  const a = tensor([[2, 0.3, 0, 0.1, 0], [0.3, 1.5, 0.2, 0, 0], [0, 0.2, 3, 0.4, 0.1], [0.1, 0, 0.4, 1, 0.2], [0, 0, 0.1, 0.2, 2.5]], undefined, f64);
  const f = (x: Tensor) => O.add(O.mul(0.5, O.sum(O.mul(x, O.reshape(O.matmul(a, O.reshape(x, [5, 1])), [5])))), O.sum(O.exp(O.mul(0.3, x))));
  const x = tensor([-0.2, 0.1, 0.05, 0.3, -0.1], undefined, f64);
  const obj = objective(f);
  const [loss, g] = obj.valueAndGrad(x);
  const t = saddleFreeNewtonTransform<Tensor>({ k: 5, damping: 0 });
  const ctx: UpdateContext<Tensor> = { step: 0, loss, objective: obj, counters: { evals: 0, curvatureProducts: 0 }, events: [] };
  const [update] = t.update(g, t.init(x), x, ctx);
  assert.equal(ctx.counters.curvatureProducts, 5);
  const h = hessian(f, x);
  const l = cholesky(h);
  const newton = solveTriangular(l, solveTriangular(l, g, { lower: true }), { lower: true, transpose: true });
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(update.data[i] + newton.data[i]) < 1e-10 * Math.abs(newton.data[0]) + 1e-14, `entry ${i}: ${update.data[i]} vs ${-newton.data[i]}`);
});

test('minimize with method saddle-free-newton reaches a minimum from near the saddle', () => {
  const r = minimize(saddle, [0.3, -1e-5], { method: 'saddle-free-newton' });
  assert.ok(r.success, r.message);
  assert.ok(Math.abs(r.x.data[1] + 1) < 1e-6 && r.nhev > 0, `${r.x.toFlatArray()}`);
});

test('a step without hvp and bad options are errors naming them', () => {
  assert.throws(() => saddleFreeNewton({ k: 0 }), /option 'k'/);
  assert.throws(() => saddleFreeNewton({ damping: -1 }), /option 'damping'/);
  assert.throws(() => saddleFreeNewton({ kk: 3 } as never), /unknown option 'kk'/);
  const opt = saddleFreeNewton();
  const p = tensor([1, 2], undefined, f64);
  const obj = objective(saddle);
  assert.throws(() => opt.step(p, opt.init(p), { valueAndGrad: obj.valueAndGrad }), /must provide hvp/);
});

test('a non-finite Hessian product falls back to a steepest-descent step, reported, parameters finite', () => {
  const base = objective(saddle);
  const obj = { ...base, hvp: (p: Tensor, v: Tensor) => { const r = base.hvp?.(p, v) as Tensor; const c = r.clone(); c.data[0] = NaN; return c; } };
  const opt = saddleFreeNewton();
  const p = tensor([0.5, 0.5], undefined, f64);
  const r = opt.step(p, opt.init(p), obj);
  assert.ok(r.info.accepted);
  assert.ok(r.info.events.some((e) => /non-finite Hessian-vector product/.test(e)), r.info.events.join('; '));
  assert.ok(r.params instanceof Tensor && r.params.toFlatArray().every(Number.isFinite));
  assert.ok(saddle(r.params).data[0] < saddle(p).data[0]);
});

/**
 * Input derivatives of a network inside a loss: per-point ∂u/∂x_i and ∂²u/∂x_i² match an
 * analytic function and float64 central differences of a tanh MLP; the parameter gradient and
 * Hessian-vector product of a PDE-residual loss built from them match finite differences.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as O from '../autodiff/ops.js';
import { grad } from '../autodiff/vjp.js';
import { hvp } from '../autodiff/compose.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { mlp } from './models.js';
import { inputDerivatives } from './input-derivatives.js';

const f64 = { dtype: 'float64' as const };
const net = mlp([2, 6, 5, 1]);
const params = net.init(new Rng(3), f64);
const xs = new Rng(4).uniform([5, 2], { low: -1, high: 1, dtype: 'float64' });
const valueAt = (p: PyTree[], a: number, b: number): number => net.apply(p, tensor([[a, b]], undefined, f64)).data[0];

function close(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);
}

/** p + t·v over the leaves. */
function shift(p: PyTree[], v: Tensor[], t: number): PyTree[] {
  return treeUnflatten(p, treeLeaves(p).map((l, i) => tensor(Float64Array.from(l.data, (x, j) => x + t * v[i].data[j]), l.shape, f64)));
}

// A 2-D Poisson residual u_xx + u_yy − g, squared and averaged: the loss of a PINN.
const g = tensor(Float64Array.from({ length: 5 }, (_, i) => Math.sin(i + 1)), [5, 1], f64);
const residualLoss = (p: PyTree[]): Tensor => {
  const { d2u } = inputDerivatives(net, p, xs, { order: 2 });
  return O.mean(O.square(O.sub(O.add(d2u[0], d2u[1]), g)));
};

describe('inputDerivatives', () => {
  it('equals the analytic derivatives of u = sin(a·x)·y² with a model given as a function', () => {
    const model = (p: { a: Tensor }, x: Tensor): Tensor => {
      const c0 = O.slice(x, [0, 0], [undefined, 1]);
      const c1 = O.slice(x, [0, 1], [undefined, 2]);
      return O.mul(O.sin(O.mul(p.a, c0)), O.square(c1));
    };
    const a = 1.7;
    const r = inputDerivatives(model, { a: tensor([a], undefined, f64) }, xs);
    for (let n = 0; n < 5; n++) {
      const x = xs.data[2 * n];
      const y = xs.data[2 * n + 1];
      close(r.u.data[n], Math.sin(a * x) * y * y, 1e-14, 'u');
      close(r.du[0].data[n], a * Math.cos(a * x) * y * y, 1e-14, 'u_x');
      close(r.du[1].data[n], 2 * Math.sin(a * x) * y, 1e-14, 'u_y');
      close(r.d2u[0].data[n], -a * a * Math.sin(a * x) * y * y, 1e-14, 'u_xx');
      close(r.d2u[1].data[n], 2 * Math.sin(a * x), 1e-14, 'u_yy');
    }
  });

  it('matches float64 central differences of a tanh MLP at every point of the batch', () => {
    const r = inputDerivatives(net, params, xs, { order: 2 });
    const h = 1e-4;
    for (let n = 0; n < 5; n++) {
      const x = [xs.data[2 * n], xs.data[2 * n + 1]];
      close(r.u.data[n], valueAt(params, x[0], x[1]), 1e-12, `u at ${n}`);
      for (const i of [0, 1]) {
        const at = (t: number) => valueAt(params, x[0] + (i === 0 ? t : 0), x[1] + (i === 1 ? t : 0));
        close(r.du[i].data[n], (at(h) - at(-h)) / (2 * h), 1e-7, `du/dx${i} at ${n}`);
        close(r.d2u[i].data[n], (at(h) - 2 * at(0) + at(-h)) / (h * h), 1e-5, `d2u/dx${i}² at ${n}`);
      }
    }
  });

  it('order 1 and a subset of dims give the same first derivatives as order 2 on all dims', () => {
    const all = inputDerivatives(net, params, xs, { order: 2 });
    const one = inputDerivatives(net, params, xs, { order: 1, dims: [1] });
    assert.equal(one.d2u.length, 0);
    assert.equal(one.du.length, 1);
    assert.deepEqual([...one.du[0].data], [...all.du[1].data]);
    assert.deepEqual([...one.u.data], [...all.u.data]);
  });

  it('the parameter gradient and Hessian-vector product of a residual loss match finite differences', () => {
    const gr = grad(residualLoss)(params);
    const rng = new Rng(9);
    const v = treeLeaves(params).map((l) => rng.normal(l.shape, f64));
    const h = 1e-5;
    let directional = 0;
    treeLeaves(gr).forEach((l, i) => l.data.forEach((x, j) => { directional += x * v[i].data[j]; }));
    const fd = (residualLoss(shift(params, v, h)).item() - residualLoss(shift(params, v, -h)).item()) / (2 * h);
    close(directional, fd, 1e-6, '<grad, v>');
    const hv = treeLeaves(hvp(residualLoss, params, treeUnflatten(params, v)));
    const gPlus = treeLeaves(grad(residualLoss)(shift(params, v, h)));
    const gMinus = treeLeaves(grad(residualLoss)(shift(params, v, -h)));
    hv.forEach((l, i) => l.data.forEach((x, j) => close(x, (gPlus[i].data[j] - gMinus[i].data[j]) / (2 * h), 1e-5, `Hv leaf ${i}[${j}]`)));
  });

  it('bad input fails with an error naming the problem', () => {
    assert.throws(() => inputDerivatives(net, params, tensor([1, 2], undefined, f64)), /x must be a Tensor of points \[N, d\]/);
    assert.throws(() => inputDerivatives(net, params, xs, { order: 3 as never }), /option 'order' must be 1 or 2/);
    assert.throws(() => inputDerivatives(net, params, xs, { dims: [2] }), /option 'dims' must be a non-empty list of input columns in \[0, 2\)/);
    assert.throws(() => inputDerivatives((_p: null, x: Tensor) => O.sum(x), null, xs), /one output row per point \(5\)/);
    assert.throws(() => inputDerivatives({} as never, params, xs), /model must be an nn Module or a function/);
  });
});

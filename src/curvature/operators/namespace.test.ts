/**
 * The package's `curvature` namespace, used as the README shows it: builders, `damped`, `block`
 * and `cg` reached from the root; CG on a damped GGN leaves a small residual in the operator's
 * own products, and the K-FAC solve of the same system is close to it on a linear model where
 * K-FAC is exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { curvature, nn, Rng, treeLeaves, treeUnflatten, optim } from '../../index.js';
import type { PyTree } from '../../autodiff/pytree.js';

const f64 = { dtype: 'float64' as const };

test('the curvature namespace solves a damped GGN system by CG to a small residual', () => {
  const net = new nn.Sequential([new nn.Linear(4, 8), new nn.Tanh(), new nn.Linear(8, 3)]);
  const params = net.init(new Rng(0), f64);
  const batch = { x: new Rng(1).normal([16, 4], f64), y: new Rng(2).normal([16, 3], f64) };
  const G = curvature.ggn(net, nn.mse(), params, batch).damped(1e-3);
  const rhs = treeUnflatten(params, treeLeaves(params).map((l) => new Rng(l.size).normal(l.shape, f64))) as PyTree[];
  const { x, reason } = curvature.cg(G, rhs, { tol: 1e-10, martens: false, maxIter: 500 });
  assert.equal(reason, 'tolerance');
  const r = optim.treeAxpby(1, G.matvec(x), -1, rhs);
  assert.ok(Math.sqrt(optim.treeVdot(r, r)) <= 1e-9 * Math.sqrt(optim.treeVdot(rhs, rhs)) * 1.01);
  assert.equal(curvature.hessian((p: PyTree[]) => nn.mse().value(net.apply(p, batch.x), batch.y), params).block('2').size, 8 * 3 + 3);
});

test('on a linear layer with squared loss the K-FAC operator (exact factors) gives the GGN solve', () => {
  const lin = new nn.Linear(3, 2);
  const params = lin.init(new Rng(3), f64);
  const batch = { x: new Rng(4).normal([10, 3], f64), y: new Rng(5).normal([10, 2], f64) };
  const rhs = { weight: new Rng(6).normal([2, 3], f64), bias: new Rng(7).normal([2], f64) };
  const opts = { tol: 1e-12, martens: false as const };
  const viaGgn = curvature.cg(curvature.ggn(lin, nn.mse(), params, batch).damped(0.1), rhs, opts).x;
  const viaKfac = curvature.cg(curvature.kfac(lin, nn.mse(), params, batch, { mode: 'ggn' }).damped(0.1), rhs, opts).x;
  const d = optim.treeAxpby(1, viaGgn, -1, viaKfac);
  assert.ok(Math.sqrt(optim.treeVdot(d, d)) < 1e-9 * Math.sqrt(optim.treeVdot(viaGgn, viaGgn)));
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import * as O from '../../autodiff/ops.js';
import { armijo, strongWolfe, cubicMinimizer } from './line-search.js';
import { emptyHistory, lbfgs, linePhi, pushPair, twoLoop, type LbfgsHistory } from './lbfgs.js';
import { minimize } from '../minimize/minimize.js';
import { objective } from '../objective.js';
import { treeVdot } from '../../autodiff/tree-math.js';
import type { Objective } from '../types.js';

const f64 = { dtype: 'float64' as const };

function quadratic(n: number, seed: number): { f: (x: Tensor) => Tensor; A: Tensor } {
  const rng = new Rng(seed);
  const G = rng.normal([n, n], f64);
  const A = O.add(O.matmul(G, G, { transposeB: true }), O.mul(tensor(Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), [n, n], f64), 0.1));
  const b = rng.normal([n], f64);
  return { f: (x) => O.sub(O.mul(0.5, O.sum(O.mul(x, O.matmul(A, x)))), O.sum(O.mul(b, x))), A };
}

describe('line searches', () => {
  it('accepted strong-Wolfe steps satisfy both Wolfe conditions', () => {
    const at = (x: Tensor, i: number) => O.slice(x, [i], [i + 1]);
    const rosen = (x: Tensor) => O.sum(O.add(O.mul(100, O.square(O.sub(at(x, 1), O.square(at(x, 0))))), O.square(O.sub(1, at(x, 0)))));
    const rng = new Rng(3);
    for (let trial = 0; trial < 30; trial++) {
      const useRosen = trial % 2 === 0;
      const f = useRosen ? rosen : quadratic(6, trial).f;
      const obj = objective(f);
      const x = rng.normal([useRosen ? 2 : 6], f64);
      const [f0, g0] = obj.valueAndGrad(x);
      const d = O.mul(g0, -1);
      const counters = { evals: 0 };
      const phi = linePhi(obj, x, d, counters);
      const slope = treeVdot(g0, d);
      for (const [c1, c2] of [[1e-4, 0.9], [1e-4, 0.1]]) {
        const t0 = [1, 1e-3, 10][trial % 3];
        const r = strongWolfe(phi, { t: 0, value: f0, slope, grad: g0 }, t0, { c1, c2 });
        assert.ok(r.success, r.message);
        assert.ok(r.point.value <= f0 + c1 * r.point.t * slope + 1e-12, 'sufficient decrease');
        assert.ok(Math.abs(r.point.slope) <= c2 * Math.abs(slope) + 1e-12, 'curvature condition');
      }
      const a = armijo(phi, { t: 0, value: f0, slope, grad: g0 }, 10);
      assert.ok(a.success && a.point.value <= f0 + 1e-4 * a.point.t * slope);
    }
  });

  it('treats non-finite trial values as too long a step', () => {
    // f(t) = (t - 1)^2 for t < 2, NaN beyond: the search must come back below 2.
    const phi = (t: number) => ({ t, value: t < 2 ? (t - 1) ** 2 : NaN, slope: t < 2 ? 2 * (t - 1) : NaN, grad: null });
    const r = strongWolfe(phi, phi(0), 5);
    assert.ok(r.success && r.point.t < 2 && Number.isFinite(r.point.value));
    assert.equal(cubicMinimizer(0, 1, -2, 2, 1, 2, 0, 2), 1);
  });
});

describe('L-BFGS', () => {
  it("the two-loop recursion equals the dense inverse-Hessian formula H ← V^T H V + ρ s s^T", () => {
    const rng = new Rng(4);
    const n = 7;
    let h: LbfgsHistory<Tensor> = emptyHistory();
    const pairs: [Float64Array, Float64Array][] = [];
    while (h.s.length < 5) {
      const s = rng.normal([n], f64);
      const y = O.add(s, O.mul(rng.normal([n], f64), 0.3)); // s^T y > 0 with high probability
      const [next, skipped] = pushPair(h, s, y, 5, 1e-10);
      if (!skipped) pairs.push([Float64Array.from(s.data), Float64Array.from(y.data)]);
      h = next;
    }
    const gamma = 0.7;
    let H: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? gamma : 0)));
    for (const [s, y] of pairs) {
      const rho = 1 / s.reduce((a, v, i) => a + v * y[i], 0);
      const V = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0) - rho * y[i] * s[j]));
      const VtHV = V.map((_, i) => V.map((__, j) => {
        let acc = 0;
        for (let p = 0; p < n; p++) for (let q = 0; q < n; q++) acc += V[p][i] * H[p][q] * V[q][j];
        return acc;
      }));
      H = VtHV.map((row, i) => row.map((v, j) => v + rho * s[i] * s[j]));
    }
    const g = rng.normal([n], f64);
    const dense = H.map((row) => row.reduce((a, v, j) => a + v * g.data[j], 0));
    const r = twoLoop(h, g, gamma).toFlatArray();
    dense.forEach((v, i) => assert.ok(Math.abs(v - r[i]) < 1e-10 * (1 + Math.abs(v)), `${i}: ${r[i]} vs ${v}`));
  });

  it('skips curvature pairs with s^T y <= eps·y^T y and keeps at most m pairs', () => {
    const s = tensor([1, 0], undefined, f64);
    const [h1, skipped] = pushPair(emptyHistory<Tensor>(), s, tensor([-1, 0], undefined, f64), 3, 1e-10);
    assert.ok(skipped && h1.s.length === 0);
    let h = emptyHistory<Tensor>();
    for (let i = 0; i < 5; i++) [h] = pushPair(h, tensor([i + 1, 0], undefined, f64), tensor([1, 0], undefined, f64), 3, 1e-10);
    assert.deepEqual(h.s.map((t) => t.data[0]), [3, 4, 5]);
  });

  it('never produces NaN: a function that is NaN beyond a radius, and a failing line search, are survived and reported', () => {
    const f = (x: Tensor) => {
      const r2 = O.sum(O.square(x));
      return O.add(O.sum(O.square(O.sub(x, 0.9))), O.where(O.greater(r2, 4), NaN, 0));
    };
    const obj = objective(f);
    const opt = lbfgs<Tensor>({ lr: 100 });
    let x = tensor([0, 0], undefined, f64);
    let state = opt.init(x);
    for (let i = 0; i < 15; i++) {
      const r = opt.step(x, state, obj);
      x = r.params;
      state = r.state;
      assert.ok(x.toFlatArray().every(Number.isFinite));
    }
    assert.ok(Math.abs(x.data[0] - 0.9) < 1e-6, `x = ${x.toFlatArray()}`);
    // A direction along which nothing decreases (f has a kink-free maximum there) makes the search fail without moving.
    const flat: Objective<Tensor> = { valueAndGrad: (p) => [p.data[0] === 0 ? 0 : 1, tensor([1], undefined, f64)] };
    const r = lbfgs<Tensor>().step(tensor([0], undefined, f64), lbfgs<Tensor>().init(tensor([0], undefined, f64)), flat);
    assert.equal(r.params.data[0], 0);
    assert.ok(r.info.events.some((e) => e.includes('line search failed')), r.info.events.join('; '));
  });
});

describe('L-BFGS steps (Moré–Thuente search, SciPy initial step)', () => {
  const at = (x: Tensor, i: number) => O.slice(x, [i], [i + 1]);
  const sq = (t: Tensor) => O.square(t);

  it('the first trial step with an empty history has length lr', () => {
    const f = (x: Tensor) => O.sum(O.mul(tensor([3, 40], undefined, f64), O.square(O.sub(x, 1))));
    const obj = objective(f);
    for (const lr of [1, 0.01]) {
      const tried: number[][] = [];
      const counting: Objective<Tensor> = { valueAndGrad: (p) => { tried.push(p.toFlatArray()); return obj.valueAndGrad(p); } };
      const x0 = tensor([0, 0], undefined, f64);
      lbfgs<Tensor>({ lr }).step(x0, lbfgs<Tensor>({ lr }).init(x0), counting);
      // tried[0] is x0 itself (the step's own evaluation); tried[1] the first trial of the search.
      assert.ok(Math.abs(Math.hypot(...tried[1]) - lr) < 1e-12 * lr, `lr ${lr}: first trial ${tried[1]}`);
    }
  });

  it('keeps the curvature pairs of a stiff problem (curvature 1e12) and converges quickly', () => {
    // s^T y / y^T y is the inverse curvature, 5e-13 here: a fixed threshold such as 1e-10 would
    // reject every pair and leave steepest descent on a problem with condition number 1e12.
    const f = (x: Tensor) => O.add(O.mul(1e12, sq(O.sub(at(x, 0), 1))), sq(O.sub(at(x, 1), 2)));
    const r = minimize((x) => O.sum(f(x)), [0, 0], { method: 'lbfgs' });
    assert.ok(r.success, r.message);
    assert.ok(r.nfev <= 30, `nfev = ${r.nfev}`);
    assert.ok(Math.abs(r.x.data[0] - 1) < 1e-6 && Math.abs(r.x.data[1] - 2) < 1e-4, `x = ${r.x.toFlatArray()}`);
  });

  it("takes the steps of L-BFGS-B (SciPy's algorithm) on badly scaled problems: equal evaluation counts", () => {
    const problems: [string, (x: Tensor) => Tensor, number[]][] = [
      ['rosenbrock', (x) => O.sum(O.add(O.mul(100, sq(O.sub(at(x, 1), sq(at(x, 0))))), sq(O.sub(1, at(x, 0))))), [-1.2, 1]],
      ['brown badly scaled', (x) => O.sum(O.add(O.add(sq(O.sub(at(x, 0), 1e6)), sq(O.sub(at(x, 1), 2e-6))), sq(O.sub(O.mul(at(x, 0), at(x, 1)), 2)))), [1, 1]],
      ['powell badly scaled', (x) => O.sum(O.add(sq(O.sub(O.mul(1e4, O.mul(at(x, 0), at(x, 1))), 1)), sq(O.sub(O.add(O.exp(O.neg(at(x, 0))), O.exp(O.neg(at(x, 1)))), 1.0001)))), [0, 1]],
    ];
    for (const [name, f, x0] of problems) {
      const a = minimize(f, x0, { method: 'lbfgs' });
      const b = minimize(f, x0, { method: 'lbfgsb' });
      assert.equal(a.nfev, b.nfev, `${name}: lbfgs ${a.nit}/${a.nfev}, lbfgsb ${b.nit}/${b.nfev}`);
      assert.ok(Math.abs(a.fun - b.fun) <= 1e-8 * Math.max(1, Math.abs(b.fun)), `${name}: f ${a.fun} vs ${b.fun}`);
    }
  });
});

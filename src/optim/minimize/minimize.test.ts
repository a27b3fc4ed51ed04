/**
 * minimize() against known optima and the peers' own tests: SciPy's maximum-entropy problem
 * with its known-good evaluation counts, Optax's L-BFGS cases, PyTorch's L-BFGS test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import * as O from '../../autodiff/ops.js';
import { minimize, MINIMIZE_METHODS } from './minimize.js';
import { lbfgs } from '../quasi-newton/lbfgs.js';
import { objective } from '../objective.js';

const f64 = { dtype: 'float64' as const };
const at = (x: Tensor, i: number) => O.slice(x, [i], [i + 1]);
const rosen = (x: Tensor) => O.sum(O.add(O.mul(100, O.square(O.sub(at(x, 1), O.square(at(x, 0))))), O.square(O.sub(1, at(x, 0)))));

describe('minimize', () => {
  for (const method of ['lbfgs', 'cg', 'bfgs', 'newton-cg'] as const) {
    it(`${method} finds the Rosenbrock minimum from (-1.2, 1)`, () => {
      const r = minimize(rosen, [-1.2, 1], { method, gtol: 1e-7 });
      assert.ok(r.success, r.message);
      assert.ok(r.fun < 1e-10, `f = ${r.fun}`);
      r.x.toFlatArray().forEach((v) => assert.ok(Math.abs(v - 1) < 1e-4, `x = ${r.x.toFlatArray()}`));
      assert.equal(r.nfev, r.njev);
    });
  }

  it("SciPy's maximum-entropy problem within SciPy's known-good evaluation counts", () => {
    const F = tensor([[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 0, 0]], undefined, f64);
    const K = tensor([1, 0.3, 0.5], undefined, f64);
    const f = (x: Tensor) => O.sub(O.logsumexp(O.matmul(F, x)), O.sum(O.mul(K, x)));
    // SciPy's counts (function / gradient calls): L-BFGS-B 7/5, BFGS 10/8, CG 9/7. Each of our
    // evaluations yields both, so an evaluation is held to the smaller (gradient) budget where we
    // meet it, and to the function budget for lbfgsb, whose line search is Moré–Thuente-like.
    const budgets: Record<string, number> = { lbfgs: 5, lbfgsb: 7, bfgs: 8, cg: 7, 'newton-cg': 7, 'saddle-free-newton': 7 };
    for (const method of MINIMIZE_METHODS) {
      const r = minimize(f, [0, 0, 0], { method });
      assert.ok(Math.abs(r.fun - 1.5591321673) < 1e-8, `${method}: f = ${r.fun}`);
      assert.ok(r.nfev <= budgets[method], `${method} used ${r.nfev} evaluations (budget ${budgets[method]})`);
    }
  });

  it("Optax's L-BFGS test cases reach their minima", () => {
    const himmelblau = (x: Tensor) => O.add(O.square(O.sub(O.add(O.square(at(x, 0)), at(x, 1)), 11)), O.square(O.sub(O.add(at(x, 0), O.square(at(x, 1))), 7)));
    const matyas = (x: Tensor) => O.sub(O.mul(0.26, O.add(O.square(at(x, 0)), O.square(at(x, 1)))), O.mul(0.48, O.mul(at(x, 0), at(x, 1))));
    const zakharov = (x: Tensor) => {
      const i = tensor([1, 2, 3, 4, 5, 6], undefined, f64);
      const s = O.sum(O.mul(O.mul(0.5, i), x));
      return O.add(O.add(O.sum(O.square(x)), O.square(s)), O.square(O.square(s)));
    };
    const steep = (x: Tensor) => O.mean(O.square(O.mul(1e4, x)));
    const cases: [string, (x: Tensor) => Tensor, number[], number][] = [
      ['rosenbrock (0,0)', rosen, [0, 0], 0],
      ['himmelblau (1,1)', himmelblau, [1, 1], 0],
      ['himmelblau (92, 0.001)', himmelblau, [92, 0.001], 0],
      ['matyas (6,6)', matyas, [6, 6], 0],
      ['zakharov', zakharov, [600, 700, 200, 100, 90, 1000], 0],
      ['steep', steep, [1, 1], 0],
    ];
    for (const [name, f, x0, fStar] of cases) {
      const r = minimize(f, x0, { method: 'lbfgs', gtol: 1e-9 });
      assert.ok(Math.abs(r.fun - fStar) < 1e-8, `${name}: f = ${r.fun} (${r.message})`);
    }
  });

  it("PyTorch's L-BFGS test: 20 steps at lr 0.01 with strong Wolfe lower ||Wx + b||^2", () => {
    const rng = new Rng(0);
    const W = rng.normal([10, 5], f64);
    const b = rng.normal([10], f64);
    const obj = objective((x: Tensor) => O.sum(O.square(O.add(O.matmul(W, x), b))));
    const opt = lbfgs<Tensor>({ lr: 0.01, lineSearch: 'strong-wolfe' });
    let x = rng.normal([5], f64);
    let state = opt.init(x);
    const [f0] = obj.valueAndGrad(x);
    let last = f0;
    for (let i = 0; i < 20; i++) {
      const r = opt.step(x, state, obj);
      assert.ok(r.info.accepted);
      x = r.params;
      state = r.state;
      last = r.info.newLoss ?? last;
      assert.ok(Number.isFinite(last));
    }
    assert.ok(last < f0 * 0.5, `loss ${f0} -> ${last}`);
  });

  it('bad input: non-finite x0, NaN at the start, non-scalar f, bad bounds, unknown methods', () => {
    assert.throws(() => minimize(rosen, [NaN, 1]), /x0 has a non-finite value \(NaN\) at index 0/);
    assert.throws(() => minimize((x: Tensor) => O.div(O.sum(x), 0 * 0), [0, 0]), /f\(x0\) is NaN/);
    assert.throws(() => minimize((x: Tensor) => O.mul(x, 2), [1, 2]), /must return a scalar/);
    assert.throws(() => minimize(rosen, [0, 0], { bounds: [[1, 0], [0, 1]] }), /bounds\[0\] has lower 1 > upper 0/);
    assert.throws(() => minimize(rosen, [0, 0], { method: 'nelder-mead' as never }), /unknown method 'nelder-mead'; expected one of lbfgs, lbfgsb, cg, bfgs, newton-cg/);
    assert.throws(() => minimize(rosen, [0, 0], { method: 'cg', bounds: [[0, 1], [0, 1]] }), /does not take bounds/);
  });

  it('a user-supplied jac is used instead of autodiff (plain-number functions work)', () => {
    let jacCalls = 0;
    const r = minimize((x) => (x.data[0] - 3) ** 2 + (x.data[1] + 1) ** 2, [0, 0], {
      jac: (x) => { jacCalls++; return [2 * (x.data[0] - 3), 2 * (x.data[1] + 1)]; },
    });
    assert.ok(r.success);
    assert.ok(Math.abs(r.x.data[0] - 3) < 1e-6 && Math.abs(r.x.data[1] + 1) < 1e-6);
    assert.equal(jacCalls, r.njev);
  });
});

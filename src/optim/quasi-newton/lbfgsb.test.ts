/**
 * L-BFGS-B against oracles: known minima of unbounded problems, the exact solution of linear
 * systems (naive Gaussian elimination), the projected-gradient optimality (KKT) conditions on
 * bounded problems, a brute-force enumeration of the faces of a box QP, and SciPy's
 * maximum-entropy test with its evaluation count.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lbfgsb, lbfgsbOptimizer, type LbfgsbObjective } from './lbfgsb.js';
import { Tensor } from '../../tensor/tensor.js';
import type { Objective } from '../types.js';

type Fg = LbfgsbObjective;

function filled(n: number, v: number): Float64Array {
  return new Float64Array(n).fill(v);
}

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Extended Rosenbrock: Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)², minimum 0 at all ones. */
const rosenbrock: Fg = (x) => {
  let f = 0;
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length - 1; i++) {
    const a = x[i + 1] - x[i] * x[i];
    const b = 1 - x[i];
    f += 100 * a * a + b * b;
    g[i] += -400 * x[i] * a - 2 * b;
    g[i + 1] += 200 * a;
  }
  return [f, g];
};

/** A random SPD matrix QᵀQ + n·I (rows as arrays). */
function randomSpd(n: number, next: () => number): number[][] {
  const q = Array.from({ length: n }, () => Array.from({ length: n }, () => 2 * next() - 1));
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
    let v = i === j ? n * 0.25 : 0;
    for (let p = 0; p < n; p++) v += q[p][i] * q[p][j];
    return v;
  }));
}

/** f = ½ xᵀAx − bᵀx. */
function quadratic(a: number[][], b: number[]): Fg {
  return (x) => {
    const n = x.length;
    const g = new Float64Array(n);
    let f = 0;
    for (let i = 0; i < n; i++) {
      let ax = 0;
      for (let j = 0; j < n; j++) ax += a[i][j] * x[j];
      g[i] = ax - b[i];
      f += 0.5 * x[i] * ax - b[i] * x[i];
    }
    return [f, g];
  };
}

/** Naive Gaussian elimination with partial pivoting. */
function gaussSolve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = c + 1; r < n; r++) {
      const k = m[r][c] / m[c][c];
      for (let q = c; q <= n; q++) m[r][q] -= k * m[c][q];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let v = m[r][n];
    for (let q = r + 1; q < n; q++) v -= m[r][q] * x[q];
    x[r] = v / m[r][r];
  }
  return x;
}

/** Projected-gradient optimality: interior |g| <= tol, at lower g >= −tol, at upper g <= tol. */
function assertKkt(x: Float64Array, g: Float64Array, lower: Float64Array, upper: Float64Array, tol: number): void {
  for (let i = 0; i < x.length; i++) {
    assert.ok(x[i] >= lower[i] && x[i] <= upper[i], `x[${i}] = ${x[i]} outside [${lower[i]}, ${upper[i]}]`);
    const atLower = x[i] === lower[i];
    const atUpper = x[i] === upper[i];
    if (atLower && atUpper) continue;
    if (atLower) assert.ok(g[i] >= -tol, `x[${i}] at lower bound with g = ${g[i]}`);
    else if (atUpper) assert.ok(g[i] <= tol, `x[${i}] at upper bound with g = ${g[i]}`);
    else assert.ok(Math.abs(g[i]) <= tol, `x[${i}] = ${x[i]} interior with g = ${g[i]}`);
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

const tight = { pgtol: 1e-9, ftol: 0 };
// For quadratics f stops resolving progress near ‖g‖ ~ 1e-8 (f − f* ~ ‖g‖²/λ is below f's rounding).
const quadTight = { pgtol: 1e-7, ftol: 0 };

describe('lbfgsb: unbounded problems reach the known minimum', () => {
  test('Rosenbrock from (-1.2, 1)', () => {
    const r = lbfgsb(rosenbrock, Float64Array.from([-1.2, 1]), filled(2, -Infinity), filled(2, Infinity), tight);
    assert.ok(r.success, r.message);
    assert.ok(Math.hypot(r.x[0] - 1, r.x[1] - 1) < 1e-5, `x = ${r.x}`);
    assert.ok(r.f < 1e-12);
  });

  test('Rosenbrock with default tolerances stops by the relative reduction of f', () => {
    const r = lbfgsb(rosenbrock, Float64Array.from([-1.2, 1]), filled(2, -Infinity), filled(2, Infinity));
    assert.equal(r.status, 'converged-ftol');
    assert.ok(r.nfev <= 60, `nfev = ${r.nfev}`); // SciPy 1.17: 36 iterations, 44 evaluations
    assert.ok(maxAbsDiff(r.x, [1, 1]) < 1e-4);
  });

  test('a random SPD quadratic in 20 variables reaches the solution of A x = b', () => {
    const next = rng(7);
    const n = 20;
    const a = randomSpd(n, next);
    const b = Array.from({ length: n }, () => 4 * next() - 2);
    const exact = gaussSolve(a, b);
    const r = lbfgsb(quadratic(a, b), new Float64Array(n), filled(n, -Infinity), filled(n, Infinity), quadTight);
    assert.ok(r.success, r.message);
    assert.ok(maxAbsDiff(r.x, exact) < 1e-7, `error ${maxAbsDiff(r.x, exact)}`);
  });

  test('extended Rosenbrock in 10 variables', () => {
    const x0 = Float64Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? -1.2 : 1));
    const r = lbfgsb(rosenbrock, x0, filled(10, -Infinity), filled(10, Infinity), tight);
    assert.ok(r.success, r.message);
    assert.ok(maxAbsDiff(r.x, filled(10, 1)) < 1e-6, `x = ${r.x}`);
  });
});

describe('lbfgsb: bounded problems end at KKT points', () => {
  test('Rosenbrock on [-2, 0.5] × [-2, 2] ends at (0.5, 0.25) with x0 at its upper bound', () => {
    const lower = Float64Array.from([-2, -2]);
    const upper = Float64Array.from([0.5, 2]);
    const r = lbfgsb(rosenbrock, Float64Array.from([-1.2, 1]), lower, upper, tight);
    assert.ok(r.success, r.message);
    assert.equal(r.x[0], 0.5);
    assert.ok(Math.abs(r.x[1] - 0.25) < 1e-8);
    assertKkt(r.x, r.g, lower, upper, 1e-8);
  });

  test('a box QP in 6 variables matches brute-force enumeration of the faces', () => {
    const next = rng(11);
    const n = 6;
    const a = randomSpd(n, next);
    // Unconstrained minimizer well outside [-1, 1] in several coordinates.
    const target = [3, -2.5, 0.2, 4, -0.4, -3];
    const b = a.map((row) => row.reduce((acc, v, j) => acc + v * target[j], 0));
    const lower = filled(n, -1);
    const upper = filled(n, 1);
    const fg = quadratic(a, b);

    // Each variable free, at lower or at upper: 3^n faces. On each, minimize over the free
    // variables; the best feasible face minimizer is the global minimizer of the convex QP.
    let best: number[] | null = null;
    let bestF = Infinity;
    for (let code = 0; code < 3 ** n; code++) {
      const state: number[] = [];
      for (let i = 0, c = code; i < n; i++, c = Math.floor(c / 3)) state.push(c % 3);
      const free = state.flatMap((s, i) => (s === 0 ? [i] : []));
      const x = state.map((s): number => (s === 1 ? -1 : s === 2 ? 1 : 0));
      if (free.length > 0) {
        const sub = free.map((i) => free.map((j) => a[i][j]));
        const rhs = free.map((i) => b[i] - state.reduce((acc, s, j) => acc + (s === 0 ? 0 : a[i][j] * x[j]), 0));
        gaussSolve(sub, rhs).forEach((v, p) => { x[free[p]] = v; });
      }
      if (x.some((v) => v < -1 || v > 1)) continue;
      const f = fg(Float64Array.from(x))[0];
      if (f < bestF) { bestF = f; best = x; }
    }
    assert.ok(best !== null);
    const active = best.filter((v) => v === -1 || v === 1).length;
    assert.ok(active >= 2, `expected several active bounds, got ${active}`);

    const r = lbfgsb(fg, new Float64Array(n), lower, upper, quadTight);
    assert.ok(r.success, r.message);
    assert.ok(maxAbsDiff(r.x, best) < 1e-7, `x = ${r.x}, expected ${best}`);
    assert.ok(Math.abs(r.f - bestF) < 1e-10);
    assertKkt(r.x, r.g, lower, upper, 1e-7);
  });

  test('variables with lower = upper stay fixed and the rest satisfy KKT', () => {
    const lower = Float64Array.from([-2, 0.3, -2, -2, -0.5, 0]);
    const upper = Float64Array.from([2, 0.3, 2, 2, -0.5, 0.8]);
    const x0 = Float64Array.from([-1.2, 1, -1.2, 1, -1.2, 1]);
    const r = lbfgsb(rosenbrock, x0, lower, upper, tight);
    assert.ok(r.success, r.message);
    assert.equal(r.x[1], 0.3);
    assert.equal(r.x[4], -0.5);
    assertKkt(r.x, r.g, lower, upper, 1e-7);
  });

  test('a box with mixed one-sided bounds on a random quadratic', () => {
    const next = rng(3);
    const n = 15;
    const a = randomSpd(n, next);
    const b = Array.from({ length: n }, () => 20 * next() - 10);
    const lower = Float64Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -Infinity : -1));
    const upper = Float64Array.from({ length: n }, (_, i) => (i % 3 === 1 ? Infinity : 1));
    const r = lbfgsb(quadratic(a, b), new Float64Array(n), lower, upper, quadTight);
    assert.ok(r.success, r.message);
    assertKkt(r.x, r.g, lower, upper, 1e-7);
  });
});

describe('lbfgsb: SciPy maximum-entropy test', () => {
  const F = [[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 0, 0]];
  const K = [1, 0.3, 0.5];
  const maxent: Fg = (x) => {
    const e = F.map((row) => Math.exp(row[0] * x[0] + row[1] * x[1] + row[2] * x[2]));
    const z = e.reduce((acc, v) => acc + v, 0);
    const g = new Float64Array(3);
    for (let j = 0; j < 3; j++) g[j] = e.reduce((acc, v, i) => acc + v * F[i][j], 0) / z - K[j];
    return [Math.log(z) - (K[0] * x[0] + K[1] * x[1] + K[2] * x[2]), g];
  };

  test('reaches f* = 1.5591321673 within 7 evaluations', () => {
    const r = lbfgsb(maxent, new Float64Array(3), filled(3, -Infinity), filled(3, Infinity));
    assert.ok(r.success, r.message);
    assert.ok(Math.abs(r.f - 1.5591321673) < 1e-6, `f = ${r.f}`);
    assert.ok(r.nfev <= 7, `nfev = ${r.nfev}`);
  });
});

describe('lbfgsb: inputs and robustness', () => {
  const sq: Fg = (x) => [x.reduce((acc, v) => acc + (v - 0.5) ** 2, 0), x.map((v) => 2 * (v - 0.5))];

  test('x0 outside the box is projected and reported', () => {
    const r = lbfgsb(sq, Float64Array.from([0.2, 0.4, 5]), filled(3, 0), filled(3, 1));
    assert.ok(r.warnings.some((w) => w.startsWith('x0[2] = 5 was outside [0, 1]; projected')), r.warnings.join('; '));
    assert.equal(r.warnings.length, 1);
    assert.ok(r.success);
    assert.ok(maxAbsDiff(r.x, [0.5, 0.5, 0.5]) < 1e-6);
  });

  test('invalid inputs throw errors that name the problem', () => {
    const x0 = filled(3, 0);
    assert.throws(() => lbfgsb(sq, x0, filled(3, 0), Float64Array.from([1, 1, -1])), /lower\[2\] = 0 > upper\[2\] = -1/);
    assert.throws(() => lbfgsb(sq, x0, filled(2, 0), filled(3, 1)), /same length/);
    assert.throws(() => lbfgsb(sq, x0, Float64Array.from([0, NaN, 0]), filled(3, 1)), /index 1 is NaN/);
    assert.throws(() => lbfgsb(sq, Float64Array.from([0, Infinity, 0]), filled(3, -1), filled(3, 1)), /x0\[1\]/);
    assert.throws(() => lbfgsb(() => [NaN, filled(3, 0)], x0, filled(3, -1), filled(3, 1)), /f\(x0\)/);
    assert.throws(() => lbfgsb(() => [0, Float64Array.from([0, 0, NaN])], x0, filled(3, -1), filled(3, 1)), /index 2/);
    assert.throws(() => lbfgsb(sq, x0, filled(3, -1), filled(3, 1), { m: 0 }), /option 'm'/);
    assert.throws(() => lbfgsb(sq, x0, filled(3, -1), filled(3, 1), { pgtol: -1 }), /option 'pgtol'/);
  });

  test('a non-finite f or g at trial points is rejected and never reaches the result', () => {
    let calls = 0;
    const poisoned: Fg = (x) => {
      calls++;
      if (calls === 2 || calls === 3) return [NaN, filled(x.length, NaN)];
      if (calls === 9) return [1, filled(x.length, Infinity)];
      if (calls === 14) return [-Infinity, filled(x.length, 0)];
      return rosenbrock(x);
    };
    const r = lbfgsb(poisoned, Float64Array.from([-1.2, 1]), filled(2, -Infinity), filled(2, Infinity), tight);
    assert.ok(Number.isFinite(r.f));
    assert.ok(r.x.every(Number.isFinite) && r.g.every(Number.isFinite));
    assert.ok(r.success, r.message);
    assert.ok(maxAbsDiff(r.x, [1, 1]) < 1e-6);
  });

  test('an objective undefined outside its domain (log barrier) still converges', () => {
    // f = Σ x_i − log(x_i)·c_i, NaN for x_i <= 0; minimum at x_i = c_i.
    const c = [0.01, 0.02, 3];
    let nanSeen = 0;
    const barrier: Fg = (x) => {
      let f = 0;
      const g = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        f += x[i] - c[i] * Math.log(x[i]);
        g[i] = 1 - c[i] / x[i];
      }
      if (Number.isNaN(f)) nanSeen++;
      return [f, g];
    };
    const r = lbfgsb(barrier, Float64Array.from([2, 2, 0.5]), filled(3, -Infinity), filled(3, Infinity), { pgtol: 1e-8 });
    assert.ok(nanSeen > 0, 'the test should exercise a NaN trial');
    assert.ok(Number.isFinite(r.f) && r.x.every(Number.isFinite));
    assert.ok(maxAbsDiff(r.x, c) < 1e-6, `x = ${r.x} (${r.message})`);
  });

  test('a gradient that contradicts f ends with line-search-failed at the last good point', () => {
    const wrong: Fg = (x) => [x.reduce((acc, v) => acc + v * v, 0), x.map((v) => -2 * v)];
    const x0 = Float64Array.from([1, -2]);
    const r = lbfgsb(wrong, x0, filled(2, -Infinity), filled(2, Infinity));
    assert.equal(r.status, 'line-search-failed');
    assert.equal(r.success, false);
    assert.deepStrictEqual(Array.from(r.x), [1, -2]);
    assert.equal(r.f, 5);
    assert.ok(r.nfev <= 21);
  });

  test('two runs give identical results', () => {
    const next = rng(5);
    const n = 30;
    const a = randomSpd(n, next);
    const b = Array.from({ length: n }, () => 10 * next() - 5);
    const run = () => lbfgsb(quadratic(a, b), new Float64Array(n), filled(n, -0.5), filled(n, 0.5), { m: 5 });
    assert.deepStrictEqual(run(), run());
  });

  test('maxIter, maxEvals and the callback stop the run with their status', () => {
    const x0 = Float64Array.from([-1.2, 1]);
    const lo = filled(2, -Infinity);
    const hi = filled(2, Infinity);
    const byIter = lbfgsb(rosenbrock, x0, lo, hi, { maxIter: 3 });
    assert.equal(byIter.status, 'max-iter');
    assert.equal(byIter.nit, 3);
    assert.equal(byIter.success, false);
    const byEvals = lbfgsb(rosenbrock, x0, lo, hi, { maxEvals: 5 });
    assert.equal(byEvals.status, 'max-evals');
    assert.ok(byEvals.nfev <= 5);
    assert.deepStrictEqual(rosenbrock(byEvals.x), [byEvals.f, byEvals.g]);
    const seen: number[] = [];
    const byCallback = lbfgsb(rosenbrock, x0, lo, hi, { callback: (_x, _f, it) => { seen.push(it); return it === 4; } });
    assert.equal(byCallback.status, 'callback');
    assert.deepStrictEqual(seen, [1, 2, 3, 4]);
  });

  test('a starting point that is already optimal returns at once', () => {
    const r = lbfgsb(sq, filled(4, 0.5), filled(4, 0), filled(4, 1));
    assert.equal(r.status, 'converged-pgtol');
    assert.equal(r.nit, 0);
    assert.equal(r.nfev, 1);
  });
});

/** The Float64Array objective as an Objective on a float64 Tensor of shape [n]. */
function tensorObjective(fg: Fg): Objective<Tensor> {
  return {
    valueAndGrad: (p) => {
      const [f, g] = fg(Float64Array.from(p.data));
      return [f, new Tensor(Float64Array.from(g), [g.length])];
    },
  };
}

describe('lbfgsb: the stepwise optimizer (one iteration per step)', () => {
  test('makes the same iterates as the loop on extended Rosenbrock and reaches the minimum', () => {
    const n = 6;
    const x0 = new Float64Array(n).map((_, i) => (i % 2 === 0 ? -1.2 : 1));
    const iterates: Float64Array[] = [];
    const loop = lbfgsb(rosenbrock, x0, filled(n, -Infinity), filled(n, Infinity), {
      callback: (x) => { iterates.push(x); },
    });
    assert.ok(loop.success);
    const opt = lbfgsbOptimizer<Tensor>();
    const obj = tensorObjective(rosenbrock);
    let p = new Tensor(Float64Array.from(x0), [n]);
    let s = opt.init(p);
    for (let k = 0; k < loop.nit; k++) {
      const r = opt.step(p, s, obj);
      assert.ok(r.info.accepted);
      p = r.params; s = r.state;
      if (k < 20) assert.deepEqual(Array.from(p.data), Array.from(iterates[k]), `iterate ${k + 1}`);
    }
    for (let i = 0; i < n; i++) assert.ok(Math.abs(p.data[i] - 1) < 1e-4, `x[${i}] = ${p.data[i]}`);
    assert.equal(s.inner.iterations, loop.nit);
  });

  test('minimizes an unbounded quadratic', () => {
    const diag = [1, 10, 100, 3];
    const quad: Fg = (x) => {
      let f = 0;
      const g = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) { f += 0.5 * diag[i] * (x[i] - i) ** 2; g[i] = diag[i] * (x[i] - i); }
      return [f, g];
    };
    const opt = lbfgsbOptimizer<Tensor>({ historySize: 5 });
    const obj = tensorObjective(quad);
    let p = new Tensor(new Float64Array(4).fill(5), [4]);
    let s = opt.init(p);
    for (let k = 0; k < 30; k++) ({ params: p, state: s } = opt.step(p, s, obj));
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(p.data[i] - i) < 1e-6, `x[${i}] = ${p.data[i]}`);
  });

  test('with bounds every iterate stays feasible and the end point is the bounded minimizer', () => {
    const n = 4;
    const opt = lbfgsbOptimizer<Tensor>({ lower: -0.5, upper: 0.8 });
    const obj = tensorObjective(rosenbrock);
    let p = new Tensor(new Float64Array([-2, 2, 0.3, -1]), [n]);
    let s = opt.init(p);
    for (let k = 0; k < 60; k++) {
      ({ params: p, state: s } = opt.step(p, s, obj));
      for (let i = 0; i < n; i++) assert.ok(p.data[i] >= -0.5 && p.data[i] <= 0.8, `step ${k}: x[${i}] = ${p.data[i]}`);
    }
    const ref = lbfgsb(rosenbrock, new Float64Array([-2, 2, 0.3, -1]), filled(n, -0.5), filled(n, 0.8));
    for (let i = 0; i < n; i++) assert.ok(Math.abs(p.data[i] - ref.x[i]) < 1e-4, `x[${i}] = ${p.data[i]} vs ${ref.x[i]}`);
  });
});

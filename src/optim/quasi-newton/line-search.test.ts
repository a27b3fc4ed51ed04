/**
 * Line searches against oracles: the test functions and published results of Moré & Thuente
 * (ACM TOMS 20(3), 1994, §5, Tables 1–6), exact minimizers of random quadratics, and the
 * conditions that define an accepted step (strong Wolfe, sufficient decrease).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { moreThuente, type LinePoint, type Phi } from './line-search.js';

type Scalar = (t: number) => [number, number];

/** φ as a line search sees it, recording every step tried. */
function line(fn: Scalar, tried: number[] = []): Phi<null> {
  return (t) => {
    tried.push(t);
    const [value, slope] = fn(t);
    return { t, value, slope, grad: null };
  };
}

function assertStrongWolfe(p: LinePoint<unknown>, start: LinePoint<unknown>, c1: number, c2: number, label: string): void {
  assert.ok(p.value <= start.value + c1 * p.t * start.slope, `${label}: sufficient decrease fails at t = ${p.t}`);
  assert.ok(Math.abs(p.slope) <= c2 * Math.abs(start.slope), `${label}: curvature condition fails at t = ${p.t} (φ' = ${p.slope})`);
}

// Moré & Thuente §5, eq. (5.1)–(5.4).
const mt1: Scalar = (a) => [-a / (a * a + 2), (a * a - 2) / (a * a + 2) ** 2];
const mt2: Scalar = (a) => {
  const b = a + 0.004;
  return [b ** 5 - 2 * b ** 4, b ** 3 * (5 * b - 8)];
};
const mt3: Scalar = (a) => {
  const beta = 0.01;
  const l = 39;
  let phi0: number;
  let dphi0: number;
  if (a <= 1 - beta) { phi0 = 1 - a; dphi0 = -1; }
  else if (a >= 1 + beta) { phi0 = a - 1; dphi0 = 1; }
  else { phi0 = (a - 1) ** 2 / (2 * beta) + beta / 2; dphi0 = (a - 1) / beta; }
  return [phi0 + ((2 * (1 - beta)) / (l * Math.PI)) * Math.sin((l * Math.PI * a) / 2), dphi0 + (1 - beta) * Math.cos((l * Math.PI * a) / 2)];
};
/** (5.4): γ(β1)·√((1−α)² + β2²) + γ(β2)·√(α² + β1²), γ(β) = √(1 + β²) − β. */
function yanai(beta1: number, beta2: number): Scalar {
  const gamma = (b: number) => Math.sqrt(1 + b * b) - b;
  return (a) => {
    const r1 = Math.sqrt((1 - a) ** 2 + beta2 * beta2);
    const r2 = Math.sqrt(a * a + beta1 * beta1);
    return [gamma(beta1) * r1 + gamma(beta2) * r2, (gamma(beta1) * (a - 1)) / r1 + (gamma(beta2) * a) / r2];
  };
}

/** Function, c1 (μ), c2 (η), and per initial step 1e-3, 1e-1, 1e1, 1e3: the final step and evaluations of Tables 1–6. */
const PAPER: [string, Scalar, number, number, [number, number][]][] = [
  ['(5.1) β = 2', mt1, 1e-3, 0.1, [[1.365, 6], [1.4414, 3], [10, 1], [36.888, 4]]],
  ['(5.2) β = 0.004', mt2, 0.1, 0.1, [[1.596, 12], [1.596, 8], [1.596, 8], [1.596, 11]]],
  ['(5.3) β = 0.01, l = 39', mt3, 0.1, 0.1, [[1, 12], [1, 12], [1, 10], [1, 13]]],
  ['(5.4) β1 = 0.001, β2 = 0.001', yanai(0.001, 0.001), 1e-3, 1e-3, [[0.085, 4], [0.1, 1], [0.3491, 3], [0.8294, 4]]],
  ['(5.4) β1 = 0.01, β2 = 0.001', yanai(0.01, 0.001), 1e-3, 1e-3, [[0.075011, 6], [0.07751, 3], [0.073142, 7], [0.076159, 8]]],
  ['(5.4) β1 = 0.001, β2 = 0.01', yanai(0.001, 0.01), 1e-3, 1e-3, [[0.9279, 13], [0.92615, 11], [0.92478, 8], [0.9244, 11]]],
];

describe('moreThuente', () => {
  it("finds strong-Wolfe steps on Moré & Thuente's test functions, with the steps and evaluation counts of their Tables 1–6", () => {
    for (const [name, fn, c1, c2, table] of PAPER) {
      const phi = line(fn);
      const start = phi(0);
      [1e-3, 1e-1, 1e1, 1e3].forEach((t0, k) => {
        const r = moreThuente(phi, start, t0, { c1, c2, maxEvals: 100 });
        const label = `${name}, t0 = ${t0}`;
        assert.ok(r.success, `${label}: ${r.message}`);
        assertStrongWolfe(r.point, start, c1, c2, label);
        const [step, evals] = table[k];
        assert.ok(Math.abs(r.point.t - step) <= 5e-4 * step, `${label}: step ${r.point.t}, published ${step}`);
        assert.equal(r.evals, evals, `${label}: evaluations`);
      });
    }
  });

  it('finds strong-Wolfe steps on random quadratics from any first step', () => {
    let seed = 11;
    const uniform = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let trial = 0; trial < 200; trial++) {
      // φ(t) = ½ a t² + b t + c with curvature spread over 12 orders of magnitude, φ'(0) = b < 0.
      const a = 10 ** (12 * uniform() - 6);
      const b = -(10 ** (6 * uniform() - 3));
      const c = 10 * uniform() - 5;
      const phi = line((t) => [0.5 * a * t * t + b * t + c, a * t + b]);
      const start = phi(0);
      const t0 = 10 ** (8 * uniform() - 4) * (-b / a);
      for (const [c1, c2] of [[1e-4, 0.9], [1e-3, 0.1], [0.1, 0.01]]) {
        const r = moreThuente(phi, start, t0, { c1, c2, maxEvals: 40 });
        const label = `a = ${a}, b = ${b}, t0/t* = ${t0 / (-b / a)}, c2 = ${c2}`;
        assert.ok(r.success, `${label}: ${r.message}`);
        assertStrongWolfe(r.point, start, c1, c2, label);
      }
    }
  });

  it('treats a non-finite trial as too long a step and never steps there again', () => {
    // (t − 1)² up to t = 2, then NaN value, an infinite value, or a finite value with NaN slope.
    const tails: [string, (t: number) => [number, number]][] = [
      ['NaN', () => [NaN, NaN]],
      ['Infinity', () => [Infinity, Infinity]],
      ['NaN slope', (t) => [(t - 1) ** 2, NaN]],
    ];
    for (const [label, tail] of tails) {
      const tried: number[] = [];
      const phi = line((t) => (t < 2 ? [(t - 1) ** 2, 2 * (t - 1)] : tail(t)), tried);
      const start = phi(0);
      tried.length = 0;
      const r = moreThuente(phi, start, 50, { c1: 1e-4, c2: 0.9 });
      assert.ok(r.success, `${label}: ${r.message}`);
      assert.ok(Number.isFinite(r.point.value) && Number.isFinite(r.point.slope) && r.point.t < 2, `${label}: t = ${r.point.t}`);
      assertStrongWolfe(r.point, start, 1e-4, 0.9, label);
      // Once a step is known bad, every later trial stays below the smallest bad step.
      let smallestBad = Infinity;
      for (const t of tried) {
        assert.ok(t < smallestBad, `${label}: tried ${t} after ${smallestBad} was non-finite`);
        if (t >= 2) smallestBad = Math.min(smallestBad, t);
      }
    }
  });

  it('fails without a NaN when every step is non-finite, returning the start', () => {
    const phi = line((t) => (t === 0 ? [1, -1] : [NaN, NaN]));
    const r = moreThuente(phi, phi(0), 1, { maxEvals: 30 });
    assert.ok(!r.success);
    assert.equal(r.point.t, 0);
    assert.equal(r.point.value, 1);
    assert.ok(r.evals <= 30);
  });

  it('returns the lowest sufficient-decrease point when it runs out of evaluations', () => {
    // One evaluation at a step far too short: sufficient decrease but not curvature.
    const phi = line((t) => [(t - 1) ** 2, 2 * (t - 1)]);
    const start = phi(0);
    const r = moreThuente(phi, start, 1e-3, { maxEvals: 1 });
    assert.ok(!r.success);
    assert.equal(r.evals, 1);
    assert.equal(r.point.t, 1e-3);
    assert.ok(r.point.value < start.value);
  });

  it('stops at stpMax on a function unbounded below, and refuses an ascent direction', () => {
    const phi = line((t) => [-t, -1]);
    const r = moreThuente(phi, phi(0), 1, { stpMax: 100 });
    assert.ok(r.success, r.message);
    assert.equal(r.point.t, 100);
    const up = line((t) => [t, 1]);
    const refused = moreThuente(up, up(0), 1);
    assert.ok(!refused.success);
    assert.equal(refused.evals, 0);
    assert.match(refused.message, /not a descent direction/);
  });

  it('accepts a step where φ is flat to rounding (approximate Wolfe) instead of failing', () => {
    // Near a minimizer the c1 decrease (~1e-20) is below φ's rounding noise (1e-14 here), so no
    // step can show it; the slope still says the step is good.
    const phi = line((t) => [t === 0 ? 1 : 1 + 1e-14 + 1e-16 * ((t - 1) ** 2 - 1), 2e-16 * (t - 1)]);
    const start = phi(0);
    const r = moreThuente(phi, start, 0.7, { c1: 1e-4, c2: 0.9 });
    assert.ok(r.success, r.message);
    assert.match(r.message, /approximate Wolfe/);
    assert.equal(r.evals, 1);
  });
});

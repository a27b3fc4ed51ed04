/**
 * The Moré–Garbow–Hillstrom problems against oracles: a second, loop-based plain-JavaScript
 * transcription of every residual function from the paper; published values of f at the
 * starting points; autodiff gradients and Hessian-vector products against finite differences
 * in float64; f(xStar) = fStar with a vanishing gradient where the minimizer is known exactly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { grad } from '../autodiff/vjp.js';
import { hvp } from '../autodiff/compose.js';
import { jvp } from '../autodiff/jvp.js';
import { MGH_PROBLEMS, mghProblem, type MghProblem } from './mgh.js';

const f64 = { dtype: 'float64' as const };
const rng = new Rng(1981);

// ---- the reference transcription: r(x) with plain loops, 1-based as in the paper --------------

type Residuals = (x: number[]) => number[];

const Y_BARD = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.1, 4.39];
const Y_GAUSS = [9e-4, 4.4e-3, 1.75e-2, 5.4e-2, 1.295e-1, 2.42e-1, 3.521e-1, 3.989e-1];
const Y_MEYER = [3.478e4, 2.861e4, 2.365e4, 1.963e4, 1.637e4, 1.372e4, 1.154e4, 9.744e3, 8.261e3, 7.03e3, 6.005e3, 5.147e3, 4.427e3, 3.82e3, 3.307e3, 2.872e3];
const Y_KOW = [1.957e-1, 1.947e-1, 1.735e-1, 1.6e-1, 8.44e-2, 6.27e-2, 4.56e-2, 3.42e-2, 3.23e-2, 2.35e-2, 2.46e-2];
const U_KOW = [4, 2, 1, 5e-1, 2.5e-1, 1.67e-1, 1.25e-1, 1e-1, 8.33e-2, 7.14e-2, 6.25e-2];
const Y_OSB1 = [
  8.44e-1, 9.08e-1, 9.32e-1, 9.36e-1, 9.25e-1, 9.08e-1, 8.81e-1, 8.5e-1, 8.18e-1, 7.84e-1, 7.51e-1, 7.18e-1, 6.85e-1,
  6.58e-1, 6.28e-1, 6.03e-1, 5.8e-1, 5.58e-1, 5.38e-1, 5.22e-1, 5.06e-1, 4.9e-1, 4.78e-1, 4.67e-1, 4.57e-1, 4.48e-1,
  4.38e-1, 4.31e-1, 4.24e-1, 4.2e-1, 4.14e-1, 4.11e-1, 4.06e-1,
];
const Y_OSB2 = [
  1.366, 1.191, 1.112, 1.013, 9.91e-1, 8.85e-1, 8.31e-1, 8.47e-1, 7.86e-1, 7.25e-1, 7.46e-1, 6.79e-1, 6.08e-1,
  6.55e-1, 6.16e-1, 6.06e-1, 6.02e-1, 6.26e-1, 6.51e-1, 7.24e-1, 6.49e-1, 6.49e-1, 6.94e-1, 6.44e-1, 6.24e-1,
  6.61e-1, 6.12e-1, 5.58e-1, 5.33e-1, 4.95e-1, 5e-1, 4.23e-1, 3.95e-1, 3.75e-1, 3.72e-1, 3.91e-1, 3.96e-1, 4.05e-1,
  4.28e-1, 4.29e-1, 5.23e-1, 5.62e-1, 6.07e-1, 6.53e-1, 6.72e-1, 7.08e-1, 6.33e-1, 6.68e-1, 6.45e-1, 6.32e-1,
  5.91e-1, 5.59e-1, 5.97e-1, 6.25e-1, 7.39e-1, 7.1e-1, 7.29e-1, 7.2e-1, 6.36e-1, 5.81e-1, 4.28e-1, 2.92e-1,
  1.62e-1, 9.8e-2, 5.4e-2,
];

/** x[j] for the paper's 1-based j. */
const X = (x: number[], j: number): number => x[j - 1];

function fill(m: number, ri: (i: number) => number): number[] {
  const r: number[] = [];
  for (let i = 1; i <= m; i++) r.push(ri(i));
  return r;
}

function watsonRef(n: number): Residuals {
  return (x) => {
    const r: number[] = [];
    for (let i = 1; i <= 29; i++) {
      const ti = i / 29;
      let s1 = 0;
      for (let j = 2; j <= n; j++) s1 += (j - 1) * X(x, j) * ti ** (j - 2);
      let s2 = 0;
      for (let j = 1; j <= n; j++) s2 += X(x, j) * ti ** (j - 1);
      r.push(s1 - s2 * s2 - 1);
    }
    r.push(x[0], x[1] - x[0] * x[0] - 1);
    return r;
  };
}

function chebyshevShifted(k: number, z: number): number {
  // T_k(2z - 1) by its recurrence
  const y = 2 * z - 1;
  let a = 1;
  let b = y;
  if (k === 0) return a;
  for (let i = 1; i < k; i++) [a, b] = [b, 2 * y * b - a];
  return b;
}

const REFERENCE: Record<string, Residuals> = {
  'rosenbrock': (x) => [10 * (x[1] - x[0] ** 2), 1 - x[0]],
  'freudenstein-roth': ([a, b]) => [-13 + a + ((5 - b) * b - 2) * b, -29 + a + ((b + 1) * b - 14) * b],
  'powell-badly-scaled': ([a, b]) => [1e4 * a * b - 1, Math.exp(-a) + Math.exp(-b) - 1.0001],
  'brown-badly-scaled': ([a, b]) => [a - 1e6, b - 2e-6, a * b - 2],
  'beale': ([a, b]) => [1.5, 2.25, 2.625].map((y, k) => y - a * (1 - b ** (k + 1))),
  'jennrich-sampson': ([a, b]) => fill(10, (i) => 2 + 2 * i - (Math.exp(i * a) + Math.exp(i * b))),
  'helical-valley': ([a, b, c]) => {
    // The paper's θ, as its Fortran writes it: sign(1/4, x2) on x1 = 0.
    let theta = b >= 0 ? 0.25 : -0.25;
    if (a > 0) theta = Math.atan(b / a) / (2 * Math.PI);
    if (a < 0) theta = Math.atan(b / a) / (2 * Math.PI) + 0.5;
    return [10 * (c - 10 * theta), 10 * (Math.sqrt(a * a + b * b) - 1), c];
  },
  'bard': ([a, b, c]) => fill(15, (i) => {
    const u = i;
    const v = 16 - i;
    const w = Math.min(u, v);
    return Y_BARD[i - 1] - (a + u / (v * b + w * c));
  }),
  'gaussian': ([a, b, c]) => fill(15, (i) => {
    const t = (8 - i) / 2;
    const y = Y_GAUSS[i <= 8 ? i - 1 : 15 - i];
    return a * Math.exp((-b * (t - c) ** 2) / 2) - y;
  }),
  'meyer': ([a, b, c]) => fill(16, (i) => a * Math.exp(b / (45 + 5 * i + c)) - Y_MEYER[i - 1]),
  'gulf-research-development': ([a, b, c]) => fill(99, (i) => {
    const t = i / 100;
    const y = 25 + (-50 * Math.log(t)) ** (2 / 3);
    return Math.exp(-(Math.abs(y - b) ** c) / a) - t;
  }),
  'box-3d': ([a, b, c]) => fill(10, (i) => {
    const t = 0.1 * i;
    return Math.exp(-t * a) - Math.exp(-t * b) - c * (Math.exp(-t) - Math.exp(-10 * t));
  }),
  'powell-singular': ([a, b, c, d]) => [a + 10 * b, Math.sqrt(5) * (c - d), (b - 2 * c) ** 2, Math.sqrt(10) * (a - d) ** 2],
  'wood': ([a, b, c, d]) => [
    10 * (b - a * a), 1 - a, Math.sqrt(90) * (d - c * c), 1 - c, Math.sqrt(10) * (b + d - 2), (b - d) / Math.sqrt(10),
  ],
  'kowalik-osborne': ([a, b, c, d]) => fill(11, (i) => {
    const u = U_KOW[i - 1];
    return Y_KOW[i - 1] - (a * (u * u + u * b)) / (u * u + u * c + d);
  }),
  'brown-dennis': ([a, b, c, d]) => fill(20, (i) => {
    const t = i / 5;
    return (a + t * b - Math.exp(t)) ** 2 + (c + d * Math.sin(t) - Math.cos(t)) ** 2;
  }),
  'osborne-1': (x) => fill(33, (i) => {
    const t = 10 * (i - 1);
    return Y_OSB1[i - 1] - (X(x, 1) + X(x, 2) * Math.exp(-t * X(x, 4)) + X(x, 3) * Math.exp(-t * X(x, 5)));
  }),
  'biggs-exp6': (x) => fill(13, (i) => {
    const t = 0.1 * i;
    const y = Math.exp(-t) - 5 * Math.exp(-10 * t) + 3 * Math.exp(-4 * t);
    return X(x, 3) * Math.exp(-t * X(x, 1)) - X(x, 4) * Math.exp(-t * X(x, 2)) + X(x, 6) * Math.exp(-t * X(x, 5)) - y;
  }),
  'osborne-2': (x) => fill(65, (i) => {
    const t = (i - 1) / 10;
    let model = X(x, 1) * Math.exp(-t * X(x, 5));
    for (let k = 0; k < 3; k++) model += X(x, 2 + k) * Math.exp(-((t - X(x, 9 + k)) ** 2) * X(x, 6 + k));
    return Y_OSB2[i - 1] - model;
  }),
  'watson-6': watsonRef(6),
  'watson-9': watsonRef(9),
  'watson-12': watsonRef(12),
  'extended-rosenbrock-10': (x) => fill(10, (i) => {
    const k = Math.ceil(i / 2);
    return i % 2 === 1 ? 10 * (X(x, 2 * k) - X(x, 2 * k - 1) ** 2) : 1 - X(x, 2 * k - 1);
  }),
  'extended-powell-singular-12': (x) => fill(12, (i) => {
    const b = 4 * Math.ceil(i / 4); // the last index of i's block
    switch (i % 4) {
      case 1: return X(x, b - 3) + 10 * X(x, b - 2);
      case 2: return Math.sqrt(5) * (X(x, b - 1) - X(x, b));
      case 3: return (X(x, b - 2) - 2 * X(x, b - 1)) ** 2;
      default: return Math.sqrt(10) * (X(x, b - 3) - X(x, b)) ** 2;
    }
  }),
  'penalty-1-4': penaltyIRef,
  'penalty-1-10': penaltyIRef,
  'penalty-2-4': penaltyIIRef,
  'penalty-2-10': penaltyIIRef,
  'variably-dimensioned-10': (x) => {
    const n = x.length;
    let s = 0;
    for (let j = 1; j <= n; j++) s += j * (X(x, j) - 1);
    return [...fill(n, (i) => X(x, i) - 1), s, s * s];
  },
  'trigonometric-10': (x) => {
    const n = x.length;
    let c = 0;
    for (let j = 1; j <= n; j++) c += Math.cos(X(x, j));
    return fill(n, (i) => n - c + i * (1 - Math.cos(X(x, i))) - Math.sin(X(x, i)));
  },
  'brown-almost-linear-10': (x) => {
    const n = x.length;
    let s = 0;
    let p = 1;
    for (let j = 1; j <= n; j++) {
      s += X(x, j);
      p *= X(x, j);
    }
    return fill(n, (i) => (i < n ? X(x, i) + s - (n + 1) : p - 1));
  },
  'discrete-boundary-value-10': (x) => {
    const n = x.length;
    const h = 1 / (n + 1);
    const xx = (j: number) => (j === 0 || j === n + 1 ? 0 : X(x, j));
    return fill(n, (i) => 2 * xx(i) - xx(i - 1) - xx(i + 1) + (h * h * (xx(i) + i * h + 1) ** 3) / 2);
  },
  'discrete-integral-equation-10': (x) => {
    const n = x.length;
    const h = 1 / (n + 1);
    const t = (j: number) => j * h;
    return fill(n, (i) => {
      let below = 0;
      for (let j = 1; j <= i; j++) below += t(j) * (X(x, j) + t(j) + 1) ** 3;
      let above = 0;
      for (let j = i + 1; j <= n; j++) above += (1 - t(j)) * (X(x, j) + t(j) + 1) ** 3;
      return X(x, i) + (h * ((1 - t(i)) * below + t(i) * above)) / 2;
    });
  },
  'broyden-tridiagonal-10': (x) => {
    const n = x.length;
    const xx = (j: number) => (j === 0 || j === n + 1 ? 0 : X(x, j));
    return fill(n, (i) => (3 - 2 * xx(i)) * xx(i) - xx(i - 1) - 2 * xx(i + 1) + 1);
  },
  'broyden-banded-10': (x) => {
    const n = x.length;
    return fill(n, (i) => {
      let s = 0;
      for (let j = Math.max(1, i - 5); j <= Math.min(n, i + 1); j++) if (j !== i) s += X(x, j) * (1 + X(x, j));
      return X(x, i) * (2 + 5 * X(x, i) ** 2) + 1 - s;
    });
  },
  'linear-full-rank-10': (x) => {
    const n = x.length;
    const m = 20;
    let s = 0;
    for (let j = 1; j <= n; j++) s += X(x, j);
    return fill(m, (i) => (i <= n ? X(x, i) : 0) - (2 / m) * s - 1);
  },
  'linear-rank-1-10': (x) => {
    let s = 0;
    for (let j = 1; j <= x.length; j++) s += j * X(x, j);
    return fill(20, (i) => i * s - 1);
  },
  'linear-rank-1-zero-10': (x) => {
    const n = x.length;
    const m = 20;
    let s = 0;
    for (let j = 2; j <= n - 1; j++) s += j * X(x, j);
    return fill(m, (i) => (i === 1 || i === m ? -1 : (i - 1) * s - 1));
  },
  'chebyquad-8': chebyquadRef,
  'chebyquad-10': chebyquadRef,
};

function penaltyIRef(x: number[]): number[] {
  const n = x.length;
  let s = 0;
  for (let j = 1; j <= n; j++) s += X(x, j) ** 2;
  return [...fill(n, (i) => Math.sqrt(1e-5) * (X(x, i) - 1)), s - 0.25];
}

function penaltyIIRef(x: number[]): number[] {
  const n = x.length;
  const a = Math.sqrt(1e-5);
  return fill(2 * n, (i) => {
    if (i === 1) return X(x, 1) - 0.2;
    if (i <= n) return a * (Math.exp(X(x, i) / 10) + Math.exp(X(x, i - 1) / 10) - (Math.exp(i / 10) + Math.exp((i - 1) / 10)));
    if (i < 2 * n) return a * (Math.exp(X(x, i - n + 1) / 10) - Math.exp(-1 / 10));
    let s = 0;
    for (let j = 1; j <= n; j++) s += (n - j + 1) * X(x, j) ** 2;
    return s - 1;
  });
}

function chebyquadRef(x: number[]): number[] {
  const n = x.length;
  return fill(n, (i) => {
    let s = 0;
    for (let j = 1; j <= n; j++) s += chebyshevShifted(i, X(x, j));
    return s / n - (i % 2 === 0 ? -1 / (i * i - 1) : 0);
  });
}

/**
 * Published values of f: at x0 (the starting values that Moré and Wild, "Benchmarking
 * derivative-free optimization algorithms", SIAM J. Optim. 20(1), 2009, tabulate for these
 * problems, and exact values derived by hand), and at their 10 x0 starting points, which
 * exercise Watson and Osborne 1 away from trivial points. `x: 'x0'` means the standard start.
 */
const PUBLISHED_F: readonly { id: string; x: 'x0' | number[]; value: number; rtol: number }[] = [
  { id: 'rosenbrock', x: 'x0', value: 24.2, rtol: 1e-14 },
  { id: 'rosenbrock', x: [-12, 10], value: 1.795769e6, rtol: 1e-6 },
  { id: 'freudenstein-roth', x: 'x0', value: 400.5, rtol: 1e-14 },
  { id: 'freudenstein-roth', x: [5, -20], value: 1.545754e8, rtol: 1e-6 },
  { id: 'powell-badly-scaled', x: 'x0', value: 1 + (Math.exp(-1) - 1e-4) ** 2, rtol: 1e-14 },
  { id: 'brown-badly-scaled', x: 'x0', value: (1 - 1e6) ** 2 + (1 - 2e-6) ** 2 + 1, rtol: 1e-14 },
  { id: 'beale', x: 'x0', value: 14.203125, rtol: 1e-14 },
  { id: 'jennrich-sampson', x: 'x0', value: 4171.306, rtol: 1e-6 },
  { id: 'helical-valley', x: 'x0', value: 2500, rtol: 1e-14 },
  { id: 'helical-valley', x: [-10, 0, 0], value: 10600, rtol: 1e-14 },
  { id: 'bard', x: 'x0', value: 41.68170, rtol: 1e-6 },
  { id: 'bard', x: [10, 10, 10], value: 1306.234, rtol: 1e-6 },
  { id: 'meyer', x: 'x0', value: 1.693608e9, rtol: 1e-6 },
  { id: 'box-3d', x: 'x0', value: 1031.154, rtol: 1e-6 },
  { id: 'powell-singular', x: 'x0', value: 215, rtol: 1e-14 },
  { id: 'powell-singular', x: [30, -10, 0, 10], value: 1.615400e6, rtol: 1e-6 },
  { id: 'wood', x: 'x0', value: 19192, rtol: 1e-14 },
  { id: 'kowalik-osborne', x: 'x0', value: 5.313172e-3, rtol: 1e-6 },
  { id: 'brown-dennis', x: 'x0', value: 7.926693e6, rtol: 1e-6 },
  { id: 'brown-dennis', x: [250, 50, -50, -10], value: 3.081064e11, rtol: 1e-6 },
  { id: 'osborne-1', x: [0.5, 1.5, 1, 0.01, 0.02], value: 16.17411, rtol: 1e-6 },
  { id: 'osborne-2', x: 'x0', value: 2.093420, rtol: 1e-6 },
  { id: 'osborne-2', x: [13, 6.5, 6.5, 7, 6, 30, 50, 70, 20, 45, 55], value: 199.6847, rtol: 1e-6 },
  { id: 'watson-6', x: 'x0', value: 30, rtol: 1e-14 },
  { id: 'watson-6', x: new Array<number>(6).fill(0.5), value: 16.43083, rtol: 1e-6 },
  { id: 'watson-6', x: new Array<number>(6).fill(5), value: 2.323367e6, rtol: 1e-6 },
  { id: 'watson-9', x: new Array<number>(9).fill(0.5), value: 26.90417, rtol: 1e-6 },
  { id: 'watson-12', x: new Array<number>(12).fill(0.5), value: 73.67821, rtol: 1e-6 },
  { id: 'extended-rosenbrock-10', x: 'x0', value: 5 * 24.2, rtol: 1e-14 },
  { id: 'extended-powell-singular-12', x: 'x0', value: 3 * 215, rtol: 1e-14 },
  { id: 'penalty-1-4', x: 'x0', value: 1e-5 * 14 + 29.75 ** 2, rtol: 1e-14 },
  { id: 'penalty-1-10', x: 'x0', value: 1e-5 * 285 + 384.75 ** 2, rtol: 1e-14 },
  { id: 'brown-almost-linear-10', x: 'x0', value: 273.2480, rtol: 1e-6 },
  { id: 'linear-full-rank-10', x: 'x0', value: 10 * 1 + 10 * 4, rtol: 1e-14 },
  { id: 'chebyquad-8', x: 'x0', value: 3.861770e-2, rtol: 1e-6 },
  { id: 'chebyquad-10', x: 'x0', value: 3.376327e-2, rtol: 1e-6 },
];

/**
 * Minimizers located for this suite (Levenberg-Marquardt or BFGS from x0, polished by
 * Gauss-Newton), rounded to 12 digits: f there must equal the minimum the paper publishes to
 * its 6 printed digits, which checks the data tables and constants against the paper.
 */
const LOCATED_MINIMA: readonly { id: string; x: number[]; published: number }[] = [
  { id: 'freudenstein-roth', x: [11.4127789922, -0.896805251706], published: 48.9842 },
  { id: 'jennrich-sampson', x: [0.257825213162, 0.257825214179], published: 124.362 },
  { id: 'bard', x: [0.0824105597515, 1.13303609209, 2.34369517859], published: 8.21487e-3 },
  { id: 'gaussian', x: [0.398956137839, 1.00001908449, 0], published: 1.12793e-8 },
  { id: 'meyer', x: [0.00560963647107, 6181.34634628, 345.223634624], published: 87.9458 },
  { id: 'kowalik-osborne', x: [0.19280693492, 0.191282321066, 0.123056505482, 0.136062327134], published: 3.07505e-4 },
  { id: 'brown-dennis', x: [-11.5944380272, 13.2036293482, -0.403439653529, 0.236778819803], published: 85822.2 },
  { id: 'osborne-1', x: [0.375410052107, 1.93584691271, -1.46468713661, 0.0128675346401, 0.0221226996617], published: 5.46489e-5 },
  { id: 'biggs-exp6', x: [1.71141599473, 17.6831981807, 1.16314366092, 5.18656155193, 1.71141599473, 1.16314366092], published: 5.65565e-3 },
  {
    id: 'osborne-2',
    x: [1.30997715463, 0.431553794601, 0.63366169896, 0.599430534784, 0.754183226322, 0.904288579878, 1.36581183523, 4.82369881724, 2.39868486613, 4.56887459767, 5.67534147058],
    published: 4.01377e-2,
  },
  { id: 'watson-6', x: [-0.015725086379, 1.01243486937, -0.232991625929, 1.26043008785, -1.51372892286, 0.992996432544], published: 2.28767e-3 },
  {
    id: 'watson-9',
    x: [-1.53070369089e-5, 0.999789703936, 0.0147639635055, 0.146342330142, 1.00082109514, -2.61773112317, 4.10440314377, -3.14361226586, 1.05262640487],
    published: 1.39976e-6,
  },
  {
    id: 'watson-12',
    x: [-6.63806076328e-9, 1.00000164412, -5.63932210578e-4, 0.347820540505, -0.156731504095, 1.0528151772, -3.24727115344, 7.28843489795, -10.2718482414, 9.07411364714, -4.54137546672, 1.01201188856],
    published: 4.72238e-10,
  },
  { id: 'penalty-1-4', x: [0.250007498395, 0.250007498395, 0.250007498395, 0.250007503165], published: 2.24997e-5 },
  { id: 'penalty-1-10', x: new Array<number>(10).fill(0.158122301113), published: 7.08765e-5 },
  { id: 'penalty-2-4', x: [0.19999933335, 0.191316683543, 0.480101489058, 0.518845416799], published: 9.37629e-6 },
  {
    id: 'penalty-2-10',
    x: [0.199983605202, 0.0103506416884, 0.0196049428017, 0.0320890798888, 0.0499326974197, 0.0765140281165, 0.118624133427, 0.192145042551, 0.347320111876, 0.369164864484],
    published: 2.93660e-4,
  },
  {
    id: 'trigonometric-10',
    x: [0.0551509040241, 0.0568406168537, 0.0587640018012, 0.0609906087005, 0.0636262137546, 0.0668431795067, 0.208161518398, 0.164363095973, 0.0850068957372, 0.0914314510251],
    published: 2.79506e-5,
  },
  {
    id: 'chebyquad-8',
    x: [0.0431527602011, 0.193090840434, 0.26632870688, 0.500000000088, 0.499999999912, 0.733671293120, 0.806909159566, 0.956847239799],
    published: 3.51687e-3,
  },
  {
    id: 'chebyquad-10',
    x: [0.05961990053, 0.1667082818, 0.2391706589, 0.3988842923, 0.3988842923, 0.6011157077, 0.6011157077, 0.7608293411, 0.8332917182, 0.9403800995],
    published: 6.50395e-3,
  },
  {
    id: 'chebyquad-10',
    x: [0.0747481663041, 0.171518176970, 0.286434152924, 0.359646450349, 0.470750523150, 0.616738334425, 0.616738335517, 0.799810801623, 0.844854642034, 0.967006626959],
    published: 4.77271e-3, // Moré and Wild (2009)
  },
];

// ---- helpers ---------------------------------------------------------------------------------

const t64 = (x: readonly number[]) => tensor(x as number[], [x.length], f64);
const sumSquares = (r: number[]) => r.reduce((a, v) => a + v * v, 0);
const refF = (id: string, x: number[]) => sumSquares(REFERENCE[id](x));
const maxAbs = (v: ArrayLike<number>) => Array.from(v).reduce((a, b) => Math.max(a, Math.abs(b)), 0);

/** x0 moved by up to 5% of each coordinate's size (at least 0.005), reproducibly. */
function nearby(p: MghProblem): number[] {
  return p.x0.map((v) => v + 0.05 * Math.max(Math.abs(v), 0.1) * (2 * rng.nextFloat() - 1));
}

/**
 * Fourth-order central difference of g along coordinate i, with the step chosen from a ladder
 * where successive estimates agree best (truncation and rounding balanced per coordinate).
 */
function centralDifference(g: (x: number[]) => number, x: number[], i: number): number {
  const scale = Math.max(Math.abs(x[i]), 1e-2);
  const at = (h: number) => {
    const y = x.slice();
    y[i] = x[i] + h;
    return g(y);
  };
  const estimate = (h: number) => (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h);
  const ladder = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5].map((s) => s * scale);
  const values = ladder.map(estimate);
  let best = 0;
  let bestGap = Infinity;
  for (let k = 0; k + 1 < values.length; k++) {
    const gap = Math.abs(values[k] - values[k + 1]);
    if (gap < bestGap) [best, bestGap] = [k + 1, gap];
  }
  return values[best];
}

function assertRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, msg: string): void {
  assert.equal(actual.length, expected.length, msg);
  const scale = Math.max(maxAbs(expected), 1e-300);
  for (let k = 0; k < actual.length; k++) {
    const err = Math.abs(actual[k] - expected[k]) / scale;
    assert.ok(err <= rtol, `${msg}: entry ${k} is ${actual[k]}, expected ${expected[k]} (error ${err.toExponential(2)} relative to the largest entry ${scale})`);
  }
}

// ---- tests ------------------------------------------------------------------------------------

describe('MGH test problems', () => {
  it('ids are unique kebab-case, every problem has a reference, and mghProblem finds each', () => {
    const ids = MGH_PROBLEMS.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'duplicate id');
    for (const p of MGH_PROBLEMS) {
      assert.match(p.id, /^[a-z0-9]+(-[a-z0-9]+)*$/, `id ${p.id}`);
      assert.equal(mghProblem(p.id), p);
      assert.ok(REFERENCE[p.id], `no reference transcription for ${p.id}`);
      assert.match(p.title, /\(MGH \d+\)$/, p.title);
    }
    assert.deepEqual(Object.keys(REFERENCE).sort(), ids.slice().sort());
    // every one of the paper's 35 problems is present
    const numbers = new Set(MGH_PROBLEMS.map((p) => Number(/\(MGH (\d+)\)/.exec(p.title)?.[1])));
    for (let k = 1; k <= 35; k++) assert.ok(numbers.has(k), `MGH ${k} missing`);
  });

  it('mghProblem throws on an unknown id, naming the valid ones', () => {
    assert.throws(() => mghProblem('nope'), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, /nope/);
      for (const id of ['rosenbrock', 'watson-6', 'penalty-1-10', 'osborne-2']) assert.ok(e.message.includes(id), id);
      return true;
    });
  });

  it('shapes: x0 has n entries, residuals have m, f is their sum of squares; a wrong-sized x is rejected', () => {
    for (const p of MGH_PROBLEMS) {
      assert.equal(p.x0.length, p.n, p.id);
      assert.ok(p.m >= p.n || p.id.startsWith('linear'), `${p.id}: m < n`);
      if (p.xStar) assert.equal(p.xStar.length, p.n, p.id);
      const r = p.residuals(t64(p.x0));
      assert.deepEqual(r.shape, [p.m], p.id);
      const f = p.f(t64(p.x0));
      assert.equal(f.size, 1, p.id);
      assert.ok(Math.abs(f.item() - sumSquares(r.toFlatArray())) <= 1e-14 * f.item(), p.id);
      assert.throws(() => p.f(t64(new Array<number>(p.n + 1).fill(0))), RangeError, p.id);
    }
  });

  it('residuals and f at x0 and at a nearby point equal the loop-based transcription', () => {
    for (const p of MGH_PROBLEMS) {
      for (const x of [p.x0.slice(), nearby(p)]) {
        const expected = REFERENCE[p.id](x);
        assertRelClose(p.residuals(t64(x)).data, expected, 1e-13, `${p.id} residuals at [${x.join(', ')}]`);
        const f = p.f(t64(x)).item();
        const fRef = sumSquares(expected);
        // Residuals that cancel (trigonometric: r ≈ 0.03 from terms ≈ 10) pass a backend's last-ulp
        // differences in exp/cos on to f with a factor of a few hundred.
        assert.ok(Math.abs(f - fRef) <= 1e-11 * fRef, `${p.id}: f = ${f}, reference ${fRef}`);
      }
    }
  });

  it('f equals published values at x0 and at other published points', () => {
    for (const { id, x, value, rtol } of PUBLISHED_F) {
      const p = mghProblem(id);
      const point = x === 'x0' ? p.x0 : x;
      const f = p.f(t64(point)).item();
      assert.ok(Math.abs(f - value) <= rtol * value, `${id}: f([${point.join(', ')}]) = ${f}, published ${value}`);
    }
  });

  it('at located minimizers f equals the published minimum, which is fStar or a listed alternative', () => {
    for (const { id, x, published } of LOCATED_MINIMA) {
      const p = mghProblem(id);
      const f = p.f(t64(x)).item();
      assert.ok(Math.abs(f - published) <= 5e-6 * published, `${id}: f = ${f}, published minimum ${published}`);
      assert.ok([p.fStar, ...(p.fStarAlternatives ?? [])].includes(published), `${id}: ${published} is not listed`);
    }
  });

  it('the autodiff gradient matches central differences at x0 and at a nearby point', () => {
    for (const p of MGH_PROBLEMS) {
      const g = grad(p.f);
      for (const x of [p.x0.slice(), nearby(p)]) {
        const gAd = g(t64(x)).data;
        const gFd = x.map((_, i) => centralDifference((y) => refF(p.id, y), x, i));
        assertRelClose(gAd, gFd, 1e-6, `${p.id} gradient at [${x.join(', ')}]`);
      }
    }
  });

  it('Hessian-vector products match differences of the gradient at x0', () => {
    for (const p of MGH_PROBLEMS) {
      const g = grad(p.f);
      const x = p.x0.slice();
      // a random direction, scaled to each coordinate's size
      const d = x.map((xi) => (2 * rng.nextFloat() - 1) * Math.max(Math.abs(xi), 1));
      const hv = hvp(p.f, t64(x), t64(d)).data;
      const along = (s: number) => g(t64(x.map((xi, i) => xi + s * d[i]))).data;
      const h = 1e-4;
      const [p1, m1, p2, m2] = [along(h), along(-h), along(2 * h), along(-2 * h)];
      const fd = Array.from(p1, (_, k) => (8 * (p1[k] - m1[k]) - (p2[k] - m2[k])) / (12 * h));
      assertRelClose(hv, fd, 1e-5, `${p.id} hvp at x0`);
    }
  });

  it('the helical valley angle, built without an arctangent op, has exact third derivatives too', () => {
    // d/ds H(x + s v) v at s = 0 by forward mode over hvp, against differences of hvp
    const p = mghProblem('helical-valley');
    for (const x of [[-0.7, 0.4, 0.3], [0.6, -0.9, 1.2], [0.5, 0.5, -0.5]]) {
      const v = t64([0.3, -0.8, 0.5]);
      const third = jvp((y: Tensor) => hvp(p.f, y, v), [t64(x)], [v])[1].data;
      const at = (s: number) => hvp(p.f, t64(x.map((xi, i) => xi + s * v.data[i])), v).data;
      const h = 1e-3;
      const [p1, m1, p2, m2] = [at(h), at(-h), at(2 * h), at(-2 * h)];
      const fd = Array.from(p1, (_, k) => (8 * (p1[k] - m1[k]) - (p2[k] - m2[k])) / (12 * h));
      assertRelClose(third, fd, 1e-7, `third derivative at [${x.join(', ')}]`);
    }
  });

  it('f(xStar) = fStar with a vanishing gradient where the minimizer is known exactly', () => {
    let checked = 0;
    for (const p of MGH_PROBLEMS) {
      if (!p.xStar) continue;
      checked++;
      const x = t64(p.xStar);
      const f = p.f(x).item();
      assert.ok(Math.abs(f - p.fStar) <= 1e-12 * Math.max(1, p.fStar), `${p.id}: f(xStar) = ${f}, fStar ${p.fStar}`);
      const g = grad(p.f)(x).data;
      assert.ok(maxAbs(g) <= 1e-8 * Math.max(1, p.fStar), `${p.id}: |grad f(xStar)| = ${maxAbs(g)}`);
    }
    assert.ok(checked >= 15, `only ${checked} problems with xStar`);
  });

  it('fStar lies below f(x0) and below every listed alternative local minimum', () => {
    for (const p of MGH_PROBLEMS) {
      assert.ok(p.fStar >= 0 && p.fStar < p.f(t64(p.x0)).item(), p.id);
      for (const a of p.fStarAlternatives ?? []) assert.ok(a > p.fStar, `${p.id}: alternative ${a}`);
    }
  });

  it('works in float32 too (constants follow the dtype of x)', () => {
    for (const p of MGH_PROBLEMS) {
      const f32 = p.f(tensor(p.x0, [p.n], { dtype: 'float32' }));
      assert.equal(f32.dtype, 'float32', p.id);
      const ref = refF(p.id, p.x0);
      assert.ok(Math.abs(f32.item() - ref) <= 1e-3 * ref, `${p.id}: float32 f(x0) = ${f32.item()}, reference ${ref}`);
    }
  });
});

/**
 * The Moré–Garbow–Hillstrom unconstrained test problems: J. J. Moré, B. S. Garbow and
 * K. E. Hillstrom, "Testing Unconstrained Optimization Software", ACM TOMS 7(1):17–41, 1981.
 *
 * All 35 problems of the paper, at the dimensions the paper reports results for. Each is a
 * sum of squares `f(x) = Σ_i r_i(x)²` whose residual vector `r(x)` is written with the
 * differentiable ops, so `grad`, `hvp`, `jacfwd` (the Jacobian for Gauss-Newton and
 * Levenberg-Marquardt) all see through it. Numbering, starting points and minima follow the
 * paper; where the paper has a misprint the corrected form is used and noted at the problem.
 */
import { Tensor, tensor } from '../tensor/tensor.js';
import { abs, add, concat, cos, div, exp, mul, neg, pow, reshape, sin, slice, sqrt, square, stack, sub, sum } from '../autodiff/ops.js';

export interface MghProblem {
  /** kebab-case, with the dimension appended for problems of variable size (`watson-6`). */
  readonly id: string;
  /** e.g. 'Rosenbrock (MGH 1)'. */
  readonly title: string;
  /** Number of variables. */
  readonly n: number;
  /** Number of residuals. */
  readonly m: number;
  /** The paper's standard starting point (frozen, like `xStar`: copy it to change it). */
  readonly x0: number[];
  /**
   * The lowest known minimum value: the paper's (its global one where it lists several), or a
   * lower one found since, as noted at the problem.
   */
  readonly fStar: number;
  /** Other local minima that good methods reach from `x0` (for example Freudenstein-Roth's 48.9842). */
  readonly fStarAlternatives?: number[];
  /** A minimizer with `f(xStar) = fStar`, when one is known exactly. */
  readonly xStar?: number[];
  /** The residual vector `r(x)`, shape `[m]`, for `x` of shape `[n]`; differentiable. */
  residuals(x: Tensor): Tensor;
  /** `f(x) = Σ r_i(x)²`, a scalar; differentiable. */
  f(x: Tensor): Tensor;
}

interface Spec {
  id: string;
  title: string;
  n: number;
  m: number;
  x0: number[];
  fStar: number;
  fStarAlternatives?: number[];
  xStar?: number[];
  residuals(x: Tensor): Tensor;
}

function define(spec: Spec): MghProblem {
  const { id, n, m } = spec;
  const residuals = (x: Tensor): Tensor => {
    if (!(x instanceof Tensor)) throw new TypeError(`mgh ${id}: x must be a Tensor`);
    if (x.ndim !== 1 || x.shape[0] !== n) throw new RangeError(`mgh ${id}: x must have shape [${n}], got [${x.shape.join(', ')}]`);
    const r = spec.residuals(x);
    if (r.ndim !== 1 || r.shape[0] !== m) throw new Error(`mgh ${id}: residuals have shape [${r.shape.join(', ')}], expected [${m}]`);
    return r;
  };
  const problem: MghProblem = {
    id,
    title: spec.title,
    n,
    m,
    x0: Object.freeze(spec.x0.slice()) as number[],
    fStar: spec.fStar,
    ...(spec.fStarAlternatives ? { fStarAlternatives: Object.freeze(spec.fStarAlternatives.slice()) as number[] } : {}),
    ...(spec.xStar ? { xStar: Object.freeze(spec.xStar.slice()) as number[] } : {}),
    residuals,
    f: (x: Tensor) => sum(square(residuals(x))),
  };
  return Object.freeze(problem);
}

// ---- building blocks -------------------------------------------------------------------------

/** `[f(1), ..., f(count)]` (1-based, as the paper indexes). */
function seq<T>(count: number, f: (i: number) => T): T[] {
  return Array.from({ length: count }, (_, k) => f(k + 1));
}

/** A constant vector in the dtype of `like`. */
function vec(values: readonly number[], like: Tensor): Tensor {
  return tensor(values as number[], [values.length], { dtype: like.dtype });
}

/** Entry `i` (0-based) of a vector, kept as shape [1] so that it broadcasts and concatenates. */
function at(x: Tensor, i: number): Tensor {
  return slice(x, [i], [i + 1]);
}

/** The entries of `x` as shape-[1] tensors. */
function entries(x: Tensor): Tensor[] {
  return seq(x.shape[0], (i) => at(x, i - 1));
}

/** `A x` for a constant dense matrix given by rows. */
function matvec(rows: readonly (readonly number[])[], x: Tensor): Tensor {
  const n = x.shape[0];
  const a = tensor(rows.flat(), [rows.length, n], { dtype: x.dtype });
  return sum(mul(a, reshape(x, [1, n])), 1);
}

function cubed(x: Tensor): Tensor {
  return mul(square(x), x);
}

/** The sum of a vector's entries, as a shape-[1] tensor. */
function total(x: Tensor): Tensor {
  return sum(x, 0, true);
}

// ---- 1–19: fixed dimensions ------------------------------------------------------------------

const rosenbrock = define({
  id: 'rosenbrock', title: 'Rosenbrock (MGH 1)', n: 2, m: 2,
  x0: [-1.2, 1], fStar: 0, xStar: [1, 1],
  residuals: (x) => {
    const [x1, x2] = entries(x);
    return concat([mul(10, sub(x2, square(x1))), sub(1, x1)]);
  },
});

const freudensteinRoth = define({
  id: 'freudenstein-roth', title: 'Freudenstein and Roth (MGH 2)', n: 2, m: 2,
  x0: [0.5, -2], fStar: 0, xStar: [5, 4],
  // The local minimum near (11.41, -0.8968).
  fStarAlternatives: [48.9842],
  residuals: (x) => {
    const [x1, x2] = entries(x);
    return concat([
      add(-13, add(x1, mul(sub(mul(sub(5, x2), x2), 2), x2))),
      add(-29, add(x1, mul(sub(mul(add(x2, 1), x2), 14), x2))),
    ]);
  },
});

const powellBadlyScaled = define({
  id: 'powell-badly-scaled', title: 'Powell badly scaled (MGH 3)', n: 2, m: 2,
  // Minimizer (1.098e-5, 9.106), not known exactly.
  x0: [0, 1], fStar: 0,
  residuals: (x) => {
    const [x1, x2] = entries(x);
    return concat([sub(mul(1e4, mul(x1, x2)), 1), sub(add(exp(neg(x1)), exp(neg(x2))), 1.0001)]);
  },
});

const brownBadlyScaled = define({
  id: 'brown-badly-scaled', title: 'Brown badly scaled (MGH 4)', n: 2, m: 3,
  x0: [1, 1], fStar: 0, xStar: [1e6, 2e-6],
  residuals: (x) => {
    const [x1, x2] = entries(x);
    return concat([sub(x1, 1e6), sub(x2, 2e-6), sub(mul(x1, x2), 2)]);
  },
});

const beale = define({
  id: 'beale', title: 'Beale (MGH 5)', n: 2, m: 3,
  x0: [1, 1], fStar: 0, xStar: [3, 0.5],
  residuals: (x) => {
    const [x1, x2] = entries(x);
    const x2Squared = square(x2);
    const powers = concat([x2, x2Squared, mul(x2Squared, x2)]); // x2^i, i = 1..3
    return sub(vec([1.5, 2.25, 2.625], x), mul(x1, sub(1, powers)));
  },
});

const jennrichSampson = define({
  id: 'jennrich-sampson', title: 'Jennrich and Sampson (MGH 6)', n: 2, m: 10,
  // At x1 = x2 = 0.2578 for m = 10.
  x0: [0.3, 0.4], fStar: 124.362,
  residuals: (x) => {
    const [x1, x2] = entries(x);
    const i = vec(seq(10, (k) => k), x);
    return sub(add(2, mul(2, i)), add(exp(mul(i, x1)), exp(mul(i, x2))));
  },
});

/**
 * θ(x1, x2) of the helical valley: atan(x2/x1)/(2π), plus 1/2 when x1 < 0 (±1/4 on x1 = 0,
 * with the sign of x2). The ops have no arctangent, so the angle α of the point being
 * evaluated is taken as a constant, (x1, x2) is rotated by −α to (v, u) with u = 0 at that
 * point, and atan(u/v) is added as its Taylor polynomial of degree 9 about 0. The value and
 * all derivatives up to order 10 are therefore exact at every point where θ is evaluated.
 */
function helicalTheta(x1: Tensor, x2: Tensor): Tensor {
  const a = x1.data[0];
  const b = x2.data[0];
  if (a === 0 && b === 0) return vec([0.25], x1); // not differentiable here; the paper's value
  const alpha = a > 0 ? Math.atan(b / a) : a < 0 ? Math.atan(b / a) + Math.PI : Math.sign(b) * (Math.PI / 2);
  const c = Math.cos(alpha);
  const s = Math.sin(alpha);
  const t = div(sub(mul(c, x2), mul(s, x1)), add(mul(c, x1), mul(s, x2)));
  const t2 = square(t);
  // atan(t) = t (1 - t²/3 + t⁴/5 - t⁶/7 + t⁸/9) + O(t¹¹), in Horner form.
  let p: Tensor = add(-1 / 7, mul(1 / 9, t2));
  p = add(1 / 5, mul(t2, p));
  p = add(-1 / 3, mul(t2, p));
  p = add(1, mul(t2, p));
  return mul(1 / (2 * Math.PI), add(alpha, mul(t, p)));
}

const helicalValley = define({
  id: 'helical-valley', title: 'Helical valley (MGH 7)', n: 3, m: 3,
  x0: [-1, 0, 0], fStar: 0, xStar: [1, 0, 0],
  residuals: (x) => {
    const [x1, x2, x3] = entries(x);
    const radius = sqrt(add(square(x1), square(x2)));
    return concat([mul(10, sub(x3, mul(10, helicalTheta(x1, x2)))), mul(10, sub(radius, 1)), x3]);
  },
});

const BARD_Y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39];

const bard = define({
  id: 'bard', title: 'Bard (MGH 8)', n: 3, m: 15,
  // The other minimum is at (0.8406, -∞, -∞).
  x0: [1, 1, 1], fStar: 8.21487e-3, fStarAlternatives: [17.4286],
  residuals: (x) => {
    const [x1, x2, x3] = entries(x);
    const u = vec(seq(15, (i) => i), x);
    const v = vec(seq(15, (i) => 16 - i), x);
    const w = vec(seq(15, (i) => Math.min(i, 16 - i)), x);
    return sub(vec(BARD_Y, x), add(x1, div(u, add(mul(v, x2), mul(w, x3)))));
  },
});

// Symmetric about the 8th observation.
const GAUSSIAN_Y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009];

const gaussian = define({
  id: 'gaussian', title: 'Gaussian (MGH 9)', n: 3, m: 15,
  x0: [0.4, 1, 0], fStar: 1.12793e-8,
  residuals: (x) => {
    const [x1, x2, x3] = entries(x);
    const t = vec(seq(15, (i) => (8 - i) / 2), x);
    return sub(mul(x1, exp(mul(-0.5, mul(x2, square(sub(t, x3)))))), vec(GAUSSIAN_Y, x));
  },
});

const MEYER_Y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427, 3820, 3307, 2872];

const meyer = define({
  id: 'meyer', title: 'Meyer (MGH 10)', n: 3, m: 16,
  x0: [0.02, 4000, 250], fStar: 87.9458,
  residuals: (x) => {
    const [x1, x2, x3] = entries(x);
    const t = vec(seq(16, (i) => 45 + 5 * i), x);
    return sub(mul(x1, exp(div(x2, add(t, x3)))), vec(MEYER_Y, x));
  },
});

const GULF_M = 99;

/**
 * The paper prints `|y_i m_i x_2|`, a misprint for `|y_i - x_2|` (the form that has its stated
 * minimum at (50, 25, 1.5)). The paper allows 3 ≤ m ≤ 100; m = 99 is the usual choice, and
 * avoids y_100 = 25, where |y - x2| = 0 at the minimizer.
 */
const gulf = define({
  id: 'gulf-research-development', title: 'Gulf research and development (MGH 11)', n: 3, m: GULF_M,
  x0: [5, 2.5, 0.15], fStar: 0, xStar: [50, 25, 1.5],
  residuals: (x) => {
    const [x1, x2, x3] = entries(x);
    const t = seq(GULF_M, (i) => i / 100);
    const y = vec(t.map((ti) => 25 + Math.pow(-50 * Math.log(ti), 2 / 3)), x);
    return sub(exp(div(neg(pow(abs(sub(y, x2)), x3)), x1)), vec(t, x));
  },
});

const box3d = define({
  id: 'box-3d', title: 'Box three-dimensional (MGH 12)', n: 3, m: 10,
  // Also zero at (10, 1, -1) and wherever x1 = x2, x3 = 0.
  x0: [0, 10, 20], fStar: 0, xStar: [1, 10, 1],
  residuals: (x) => {
    const [x1, x2, x3] = entries(x);
    const t = seq(10, (i) => 0.1 * i);
    const tv = vec(t, x);
    const c = vec(t.map((ti) => Math.exp(-ti) - Math.exp(-10 * ti)), x);
    return sub(sub(exp(neg(mul(tv, x1))), exp(neg(mul(tv, x2)))), mul(x3, c));
  },
});

const powellSingular = define({
  id: 'powell-singular', title: 'Powell singular (MGH 13)', n: 4, m: 4,
  x0: [3, -1, 0, 1], fStar: 0, xStar: [0, 0, 0, 0],
  residuals: (x) => {
    const [x1, x2, x3, x4] = entries(x);
    return concat([
      add(x1, mul(10, x2)),
      mul(Math.sqrt(5), sub(x3, x4)),
      square(sub(x2, mul(2, x3))),
      mul(Math.sqrt(10), square(sub(x1, x4))),
    ]);
  },
});

const wood = define({
  id: 'wood', title: 'Wood (MGH 14)', n: 4, m: 6,
  x0: [-3, -1, -3, -1], fStar: 0, xStar: [1, 1, 1, 1],
  residuals: (x) => {
    const [x1, x2, x3, x4] = entries(x);
    return concat([
      mul(10, sub(x2, square(x1))),
      sub(1, x1),
      mul(Math.sqrt(90), sub(x4, square(x3))),
      sub(1, x3),
      mul(Math.sqrt(10), sub(add(x2, x4), 2)),
      mul(1 / Math.sqrt(10), sub(x2, x4)),
    ]);
  },
});

const KOWALIK_OSBORNE_Y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246];
const KOWALIK_OSBORNE_U = [4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625];

const kowalikOsborne = define({
  id: 'kowalik-osborne', title: 'Kowalik and Osborne (MGH 15)', n: 4, m: 11,
  // The other minimum is at (+∞, -14.07, -∞, -∞).
  x0: [0.25, 0.39, 0.415, 0.39], fStar: 3.07505e-4, fStarAlternatives: [1.02734e-3],
  residuals: (x) => {
    const [x1, x2, x3, x4] = entries(x);
    const u = vec(KOWALIK_OSBORNE_U, x);
    const u2 = square(u);
    return sub(vec(KOWALIK_OSBORNE_Y, x), div(mul(x1, add(u2, mul(u, x2))), add(add(u2, mul(u, x3)), x4)));
  },
});

const brownDennis = define({
  id: 'brown-dennis', title: 'Brown and Dennis (MGH 16)', n: 4, m: 20,
  x0: [25, 5, -5, -1], fStar: 85822.2,
  residuals: (x) => {
    const [x1, x2, x3, x4] = entries(x);
    const t = seq(20, (i) => i / 5);
    const a = sub(add(x1, mul(vec(t, x), x2)), vec(t.map(Math.exp), x));
    const b = sub(add(x3, mul(vec(t.map(Math.sin), x), x4)), vec(t.map(Math.cos), x));
    return add(square(a), square(b));
  },
});

const OSBORNE_1_Y = [
  0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718, 0.685, 0.658, 0.628, 0.603, 0.580,
  0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406,
];

const osborne1 = define({
  id: 'osborne-1', title: 'Osborne 1 (MGH 17)', n: 5, m: 33,
  x0: [0.5, 1.5, -1, 0.01, 0.02], fStar: 5.46489e-5,
  residuals: (x) => {
    const [x1, x2, x3, x4, x5] = entries(x);
    const t = vec(seq(33, (i) => 10 * (i - 1)), x);
    const model = add(add(x1, mul(x2, exp(neg(mul(t, x4))))), mul(x3, exp(neg(mul(t, x5)))));
    return sub(vec(OSBORNE_1_Y, x), model);
  },
});

const biggsExp6 = define({
  id: 'biggs-exp6', title: 'Biggs EXP6 (MGH 18)', n: 6, m: 13,
  // 5.65565e-3 is the local minimum (for m = 13) that methods usually find from x0.
  x0: [1, 2, 1, 1, 1, 1], fStar: 0, fStarAlternatives: [5.65565e-3], xStar: [1, 10, 1, 5, 4, 3],
  residuals: (x) => {
    const [x1, x2, x3, x4, x5, x6] = entries(x);
    const t = seq(13, (i) => 0.1 * i);
    const tv = vec(t, x);
    const y = vec(t.map((ti) => Math.exp(-ti) - 5 * Math.exp(-10 * ti) + 3 * Math.exp(-4 * ti)), x);
    const e = (rate: Tensor) => exp(neg(mul(tv, rate)));
    return sub(add(sub(mul(x3, e(x1)), mul(x4, e(x2))), mul(x6, e(x5))), y);
  },
});

const OSBORNE_2_Y = [
  1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608, 0.655, 0.616, 0.606, 0.602,
  0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375,
  0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591,
  0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054,
];

const osborne2 = define({
  id: 'osborne-2', title: 'Osborne 2 (MGH 19)', n: 11, m: 65,
  x0: [1.3, 0.65, 0.65, 0.7, 0.6, 3, 5, 7, 2, 4.5, 5.5], fStar: 4.01377e-2,
  residuals: (x) => {
    const [x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11] = entries(x);
    const t = vec(seq(65, (i) => (i - 1) / 10), x);
    const bump = (height: Tensor, width: Tensor, centre: Tensor) => mul(height, exp(neg(mul(square(sub(t, centre)), width))));
    const model = add(add(add(mul(x1, exp(neg(mul(t, x5)))), bump(x2, x6, x9)), bump(x3, x7, x10)), bump(x4, x8, x11));
    return sub(vec(OSBORNE_2_Y, x), model);
  },
});

// ---- 20–35: variable dimensions --------------------------------------------------------------

/** Watson (MGH 20): m = 31, 2 ≤ n ≤ 31. */
function watson(n: number, fStar: number): MghProblem {
  const t = seq(29, (i) => i / 29);
  // s1 = Σ_{j=2..n} (j-1) x_j t^(j-2),  s2 = Σ_{j=1..n} x_j t^(j-1)
  const slopeRows = t.map((ti) => seq(n, (j) => (j === 1 ? 0 : (j - 1) * Math.pow(ti, j - 2))));
  const valueRows = t.map((ti) => seq(n, (j) => Math.pow(ti, j - 1)));
  return define({
    id: `watson-${n}`, title: `Watson, n = ${n} (MGH 20)`, n, m: 31,
    x0: new Array<number>(n).fill(0), fStar,
    residuals: (x) => {
      const x1 = at(x, 0);
      const x2 = at(x, 1);
      const fit = sub(sub(matvec(slopeRows, x), square(matvec(valueRows, x))), 1);
      return concat([fit, x1, sub(sub(x2, square(x1)), 1)]);
    },
  });
}

/** Extended Rosenbrock (MGH 21): n even, m = n; Rosenbrock on each pair. */
function extendedRosenbrock(n: number): MghProblem {
  return define({
    id: `extended-rosenbrock-${n}`, title: `Extended Rosenbrock, n = ${n} (MGH 21)`, n, m: n,
    x0: seq(n, (j) => (j % 2 === 1 ? -1.2 : 1)), fStar: 0, xStar: new Array<number>(n).fill(1),
    residuals: (x) => {
      const odd = slice(x, [0], [n], [2]);
      const even = slice(x, [1], [n], [2]);
      return reshape(stack([mul(10, sub(even, square(odd))), sub(1, odd)], 1), [n]);
    },
  });
}

/** Extended Powell singular (MGH 22): n a multiple of 4, m = n; Powell singular on each quadruple. */
function extendedPowellSingular(n: number): MghProblem {
  return define({
    id: `extended-powell-singular-${n}`, title: `Extended Powell singular, n = ${n} (MGH 22)`, n, m: n,
    x0: seq(n, (j) => [3, -1, 0, 1][(j - 1) % 4]), fStar: 0, xStar: new Array<number>(n).fill(0),
    residuals: (x) => {
      const k = n / 4;
      const blocks = reshape(x, [k, 4]);
      const col = (c: number) => slice(blocks, [0, c], [k, c + 1]);
      const [a, b, c, d] = [col(0), col(1), col(2), col(3)];
      const r = concat([
        add(a, mul(10, b)),
        mul(Math.sqrt(5), sub(c, d)),
        square(sub(b, mul(2, c))),
        mul(Math.sqrt(10), square(sub(a, d))),
      ], 1);
      return reshape(r, [n]);
    },
  });
}

const PENALTY_A = 1e-5;

/** Penalty I (MGH 23): m = n + 1. */
function penaltyI(n: number, fStar: number): MghProblem {
  return define({
    id: `penalty-1-${n}`, title: `Penalty I, n = ${n} (MGH 23)`, n, m: n + 1,
    x0: seq(n, (j) => j), fStar,
    residuals: (x) => concat([mul(Math.sqrt(PENALTY_A), sub(x, 1)), sub(total(square(x)), 0.25)]),
  });
}

/** Penalty II (MGH 24): m = 2n. */
function penaltyII(n: number, fStar: number): MghProblem {
  return define({
    id: `penalty-2-${n}`, title: `Penalty II, n = ${n} (MGH 24)`, n, m: 2 * n,
    x0: new Array<number>(n).fill(0.5), fStar,
    residuals: (x) => {
      const e = exp(mul(0.1, x)); // exp(x_j / 10)
      const tail = slice(e, [1]); // j = 2..n
      const head = slice(e, [0], [n - 1]); // j = 1..n-1
      const y = vec(seq(n - 1, (k) => Math.exp((k + 1) / 10) + Math.exp(k / 10)), x); // y_i, i = 2..n
      const weights = vec(seq(n, (j) => n - j + 1), x);
      return concat([
        sub(at(x, 0), 0.2),
        mul(Math.sqrt(PENALTY_A), sub(add(tail, head), y)),
        mul(Math.sqrt(PENALTY_A), sub(tail, Math.exp(-0.1))),
        sub(total(mul(weights, square(x))), 1),
      ]);
    },
  });
}

/** Variably dimensioned (MGH 25): m = n + 2. */
function variablyDimensioned(n: number): MghProblem {
  return define({
    id: `variably-dimensioned-${n}`, title: `Variably dimensioned, n = ${n} (MGH 25)`, n, m: n + 2,
    x0: seq(n, (j) => 1 - j / n), fStar: 0, xStar: new Array<number>(n).fill(1),
    residuals: (x) => {
      const shifted = sub(x, 1);
      const s = total(mul(vec(seq(n, (j) => j), x), shifted));
      return concat([shifted, s, square(s)]);
    },
  });
}

/** Trigonometric (MGH 26): m = n. */
function trigonometric(n: number, fStarAlternatives?: number[]): MghProblem {
  return define({
    id: `trigonometric-${n}`, title: `Trigonometric, n = ${n} (MGH 26)`, n, m: n,
    x0: new Array<number>(n).fill(1 / n), fStar: 0, ...(fStarAlternatives ? { fStarAlternatives } : {}),
    residuals: (x) => {
      const c = cos(x);
      const i = vec(seq(n, (k) => k), x);
      return sub(add(sub(n, total(c)), mul(i, sub(1, c))), sin(x));
    },
  });
}

/** Brown almost-linear (MGH 27): m = n. */
function brownAlmostLinear(n: number): MghProblem {
  return define({
    id: `brown-almost-linear-${n}`, title: `Brown almost-linear, n = ${n} (MGH 27)`, n, m: n,
    // Zero at (α, ..., α, α^(1-n)) for the roots α of nα^n - (n+1)α^(n-1) + 1 = 0, α = 1 among
    // them; the other minimum is f = 1 at (0, ..., 0, n+1).
    x0: new Array<number>(n).fill(0.5), fStar: 0, fStarAlternatives: [1], xStar: new Array<number>(n).fill(1),
    residuals: (x) => {
      const xs = entries(x);
      const product = xs.slice(1).reduce((p, xj) => mul(p, xj), xs[0]);
      const linear = sub(add(slice(x, [0], [n - 1]), total(x)), n + 1);
      return concat([linear, sub(product, 1)]);
    },
  });
}

/** Discrete boundary value (MGH 28): m = n, h = 1/(n+1), t_i = i h, x_0 = x_{n+1} = 0. */
function discreteBoundaryValue(n: number): MghProblem {
  const h = 1 / (n + 1);
  const t = seq(n, (i) => i * h);
  return define({
    id: `discrete-boundary-value-${n}`, title: `Discrete boundary value, n = ${n} (MGH 28)`, n, m: n,
    x0: t.map((ti) => ti * (ti - 1)), fStar: 0,
    residuals: (x) => {
      const zero = vec([0], x);
      const padded = concat([zero, x, zero]);
      const left = slice(padded, [0], [n]);
      const right = slice(padded, [2]);
      const cube = cubed(add(x, vec(t.map((ti) => ti + 1), x)));
      return add(sub(sub(mul(2, x), left), right), mul((h * h) / 2, cube));
    },
  });
}

/** Discrete integral equation (MGH 29): m = n, h = 1/(n+1), t_i = i h. */
function discreteIntegralEquation(n: number): MghProblem {
  const h = 1 / (n + 1);
  const t = seq(n, (i) => i * h);
  // r_i = x_i + h/2 [(1 - t_i) Σ_{j≤i} t_j c_j + t_i Σ_{j>i} (1 - t_j) c_j],  c_j = (x_j + t_j + 1)³
  const kernel = t.map((ti, i) => t.map((tj, j) => (j <= i ? (1 - ti) * tj : ti * (1 - tj))));
  return define({
    id: `discrete-integral-equation-${n}`, title: `Discrete integral equation, n = ${n} (MGH 29)`, n, m: n,
    x0: t.map((ti) => ti * (ti - 1)), fStar: 0,
    residuals: (x) => {
      const cube = cubed(add(x, vec(t.map((ti) => ti + 1), x)));
      return add(x, mul(h / 2, matvec(kernel, cube)));
    },
  });
}

/** Broyden tridiagonal (MGH 30): m = n, x_0 = x_{n+1} = 0. */
function broydenTridiagonal(n: number): MghProblem {
  return define({
    id: `broyden-tridiagonal-${n}`, title: `Broyden tridiagonal, n = ${n} (MGH 30)`, n, m: n,
    x0: new Array<number>(n).fill(-1), fStar: 0,
    residuals: (x) => {
      const zero = vec([0], x);
      const padded = concat([zero, x, zero]);
      const left = slice(padded, [0], [n]);
      const right = slice(padded, [2]);
      return add(sub(sub(mul(sub(3, mul(2, x)), x), left), mul(2, right)), 1);
    },
  });
}

/** Broyden banded (MGH 31): m = n, lower bandwidth 5, upper 1. */
function broydenBanded(n: number): MghProblem {
  const lower = 5;
  const upper = 1;
  const band = seq(n, (i) => seq(n, (j) => (j !== i && j >= Math.max(1, i - lower) && j <= Math.min(n, i + upper) ? 1 : 0)));
  return define({
    id: `broyden-banded-${n}`, title: `Broyden banded, n = ${n} (MGH 31)`, n, m: n,
    x0: new Array<number>(n).fill(-1), fStar: 0,
    residuals: (x) => {
      const diagonal = add(mul(x, add(2, mul(5, square(x)))), 1);
      return sub(diagonal, matvec(band, mul(x, add(1, x))));
    },
  });
}

/** Linear function, full rank (MGH 32): m ≥ n; minimum m - n at x = (-1, ..., -1). */
function linearFullRank(n: number, m: number): MghProblem {
  const rows = seq(m, (i) => seq(n, (j) => (i === j ? 1 : 0) - 2 / m));
  return define({
    id: `linear-full-rank-${n}`, title: `Linear function - full rank, n = ${n}, m = ${m} (MGH 32)`, n, m,
    x0: new Array<number>(n).fill(1), fStar: m - n, xStar: new Array<number>(n).fill(-1),
    residuals: (x) => sub(matvec(rows, x), 1),
  });
}

/** Linear function, rank 1 (MGH 33): m ≥ n; minimum m(m-1) / (2(2m+1)) on a hyperplane. */
function linearRank1(n: number, m: number): MghProblem {
  const rows = seq(m, (i) => seq(n, (j) => i * j));
  return define({
    id: `linear-rank-1-${n}`, title: `Linear function - rank 1, n = ${n}, m = ${m} (MGH 33)`, n, m,
    x0: new Array<number>(n).fill(1), fStar: (m * (m - 1)) / (2 * (2 * m + 1)),
    residuals: (x) => sub(matvec(rows, x), 1),
  });
}

/** Linear function, rank 1 with zero columns and rows (MGH 34): minimum (m² + 3m - 6) / (2(2m - 3)). */
function linearRank1ZeroColumnsRows(n: number, m: number): MghProblem {
  const rows = seq(m, (i) => seq(n, (j) => (i === 1 || i === m || j === 1 || j === n ? 0 : (i - 1) * j)));
  return define({
    id: `linear-rank-1-zero-${n}`, title: `Linear function - rank 1 with zero columns and rows, n = ${n}, m = ${m} (MGH 34)`, n, m,
    x0: new Array<number>(n).fill(1), fStar: (m * m + 3 * m - 6) / (2 * (2 * m - 3)),
    residuals: (x) => sub(matvec(rows, x), 1),
  });
}

/**
 * Chebyquad (MGH 35): r_i = (1/n) Σ_j T_i(x_j) - ∫₀¹ T_i, with T_i the Chebyshev polynomials
 * shifted to [0, 1]; the integral is 0 for odd i and -1/(i² - 1) for even i.
 */
function chebyquad(n: number, m: number, fStar: number, fStarAlternatives?: number[]): MghProblem {
  return define({
    id: `chebyquad-${n}`, title: `Chebyquad, n = ${n} (MGH 35)`, n, m,
    x0: seq(n, (j) => j / (n + 1)), fStar, ...(fStarAlternatives ? { fStarAlternatives } : {}),
    residuals: (x) => {
      const y = sub(mul(2, x), 1);
      const parts: Tensor[] = [];
      let previous: Tensor = vec(new Array<number>(n).fill(1), x);
      let current = y;
      for (let i = 1; i <= m; i++) {
        const integral = i % 2 === 0 ? -1 / (i * i - 1) : 0;
        parts.push(sub(mul(1 / n, total(current)), integral));
        [previous, current] = [current, sub(mul(mul(2, y), current), previous)];
      }
      return concat(parts);
    },
  });
}

/** The problems, in the paper's order, at the dimensions for which it reports minima. */
export const MGH_PROBLEMS: readonly MghProblem[] = Object.freeze([
  rosenbrock,
  freudensteinRoth,
  powellBadlyScaled,
  brownBadlyScaled,
  beale,
  jennrichSampson,
  helicalValley,
  bard,
  gaussian,
  meyer,
  gulf,
  box3d,
  powellSingular,
  wood,
  kowalikOsborne,
  brownDennis,
  osborne1,
  biggsExp6,
  osborne2,
  watson(6, 2.28767e-3),
  watson(9, 1.39976e-6),
  watson(12, 4.72238e-10),
  extendedRosenbrock(10),
  extendedPowellSingular(12),
  penaltyI(4, 2.24997e-5),
  penaltyI(10, 7.08765e-5),
  penaltyII(4, 9.37629e-6),
  penaltyII(10, 2.93660e-4),
  variablyDimensioned(10),
  trigonometric(10, [2.79506e-5]), // the local minimum BFGS reaches from x0
  brownAlmostLinear(10),
  discreteBoundaryValue(10),
  discreteIntegralEquation(10),
  broydenTridiagonal(10),
  broydenBanded(10),
  linearFullRank(10, 20),
  linearRank1(10, 20),
  linearRank1ZeroColumnsRows(10, 20),
  chebyquad(8, 8, 3.51687e-3),
  // The paper reports 6.50395e-3 (reached from x0 by BFGS and Levenberg-Marquardt); a lower
  // local minimum, 4.77271e-3, is in Moré and Wild's benchmark data (2009).
  chebyquad(10, 10, 4.77271e-3, [6.50395e-3]),
]);

const BY_ID = new Map(MGH_PROBLEMS.map((p) => [p.id, p]));

/** The problem with this id; throws a RangeError listing the valid ids when there is none. */
export function mghProblem(id: string): MghProblem {
  const p = BY_ID.get(id);
  if (p === undefined) {
    throw new RangeError(`mghProblem: unknown id ${JSON.stringify(id)}; valid ids: ${MGH_PROBLEMS.map((q) => q.id).join(', ')}`);
  }
  return p;
}

/**
 * L-BFGS-B: limited-memory BFGS for bound-constrained minimization, min f(x) s.t. l <= x <= u.
 *
 * Byrd, Lu, Nocedal, Zhu, "A limited memory algorithm for bound constrained optimization",
 * SIAM J. Sci. Comput. 16(5), 1995. Each iteration:
 *
 *  1. Compact quasi-Newton model B = θI − W M Wᵀ with W = [Y, θS] (n×2k) and
 *     M = [[−D, Lᵀ], [L, θ SᵀS]]⁻¹, where D = diag(sᵢᵀyᵢ) and L is the strictly lower part of SᵀY
 *     (paper eq. 3.2–3.4). M is applied through a Cholesky factor of θSᵀS + L D⁻¹ Lᵀ.
 *  2. Generalized Cauchy point x^c: the first local minimizer of the quadratic model along the
 *     projected steepest-descent path x(t) = P(x − t g), found segment by segment between the
 *     sorted breakpoints (paper Alg. CP, §4).
 *  3. Subspace minimization of the model over the variables still free at x^c, by the direct
 *     primal method with the Sherman–Morrison–Woodbury form of the reduced inverse (§5.1), then
 *     backtracked into the box so that x̄ stays feasible.
 *  4. A Moré–Thuente strong-Wolfe line search (`moreThuente` in ./line-search.ts; c1 = 1e-3,
 *     c2 = 0.9) along d = x̄ − x, with the step capped by the largest feasible step; the first step
 *     of a fresh memory is 1/‖d‖.
 *
 * The pair (s, y) is stored only when sᵀy > ε·yᵀy. A failed line search clears the memory and
 * retries from the projected gradient; a failure with empty memory ends the run. Non-finite f or g
 * at a trial point is a rejected trial (the step shrinks), never a result.
 *
 * Cost per iteration: O(n·m) for the model and the Cauchy search, O(t·m²) for the subspace step
 * (t free variables), O(n log n) to sort breakpoints; memory O(n·m).
 */
import { moreThuente, type LinePoint, type Phi } from './line-search.js';
import { Tensor, allocate } from '../../tensor/tensor.js';
import { stopGradient } from '../../autodiff/core.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { createOptimizer } from '../optimizer.js';
import { treeScale, treeSub } from '../../autodiff/tree-math.js';
import type { Optimizer, Transform, UpdateContext } from '../types.js';
import { checkKnownOptions, checkNumber } from '../validate.js';

export interface LbfgsbOptions {
  /** History size (pairs kept), default 10. */
  m?: number;
  /** Iteration limit, default 15000. */
  maxIter?: number;
  /** Limit on calls of fg, default 15000. */
  maxEvals?: number;
  /** Stop when ‖P(x − g) − x‖∞ <= pgtol, default 1e-5. */
  pgtol?: number;
  /** Stop when (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol; default 2.220446049250313e-9. */
  ftol?: number;
  /** Evaluations allowed per line search, default 20. */
  maxLineSearch?: number;
  /** Called after every iteration with the new iterate; return true to stop. */
  callback?: (x: Float64Array, f: number, iter: number) => boolean | void;
}

export type LbfgsbStatus =
  | 'converged-pgtol' | 'converged-ftol' | 'max-iter' | 'max-evals'
  | 'line-search-failed' | 'callback' | 'abnormal';

export interface LbfgsbResult {
  x: Float64Array;
  f: number;
  g: Float64Array;
  nit: number;
  nfev: number;
  success: boolean;
  status: LbfgsbStatus;
  message: string;
  warnings: string[];
}

export type LbfgsbObjective = (x: Float64Array) => [number, Float64Array];

const EPS = 2.220446049250313e-16;
const WOLFE_C1 = 1e-3;
const WOLFE_C2 = 0.9;
const LINE_SEARCH_XTOL = 0.1;
const MAX_STEP = 1e10;

function checkOption(name: string, value: number, min: number, integer: boolean): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min
    && (!integer || Number.isInteger(value));
  if (!ok) {
    throw new RangeError(`lbfgsb: option '${name}' must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(value)}`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Limited-memory model: S, Y (oldest first), SᵀY, SᵀS, θ and the factor used to apply M.
// ---------------------------------------------------------------------------------------------

interface Memory {
  readonly capacity: number;
  s: Float64Array[];
  y: Float64Array[];
  /** sy[i][j] = sᵢᵀyⱼ */
  sy: number[][];
  /** ss[i][j] = sᵢᵀsⱼ */
  ss: number[][];
  theta: number;
  /** Lower Cholesky factor of θSᵀS + L D⁻¹ Lᵀ (k×k). */
  chol: number[][];
}

function newMemory(capacity: number): Memory {
  return { capacity, s: [], y: [], sy: [], ss: [], theta: 1, chol: [] };
}

function clearMemory(mem: Memory): void {
  mem.s = []; mem.y = []; mem.sy = []; mem.ss = []; mem.theta = 1; mem.chol = [];
}

function dot(a: Float64Array, b: Float64Array): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i] * b[i];
  return acc;
}

/** In-place lower Cholesky of a small SPD matrix; false when it is not numerically SPD. */
function cholesky(a: number[][]): boolean {
  const k = a.length;
  for (let j = 0; j < k; j++) {
    let diag = a[j][j];
    for (let p = 0; p < j; p++) diag -= a[j][p] * a[j][p];
    if (!(diag > 0) || !Number.isFinite(diag)) return false;
    const root = Math.sqrt(diag);
    a[j][j] = root;
    for (let i = j + 1; i < k; i++) {
      let v = a[i][j];
      for (let p = 0; p < j; p++) v -= a[i][p] * a[j][p];
      a[i][j] = v / root;
    }
    for (let p = j + 1; p < k; p++) a[j][p] = 0;
  }
  return true;
}

/** Rebuilds the factor of θSᵀS + L D⁻¹ Lᵀ; false (memory unusable) when it is not SPD. */
function factorMemory(mem: Memory): boolean {
  const k = mem.s.length;
  const t: number[][] = [];
  for (let i = 0; i < k; i++) {
    t.push(new Array<number>(k).fill(0));
    for (let j = 0; j <= i; j++) {
      // (L D⁻¹ Lᵀ)_ij = Σ_{p < min(i,j)} L_ip L_jp / D_p with L_ip = s_iᵀy_p for i > p.
      let v = mem.theta * mem.ss[i][j];
      for (let p = 0; p < j; p++) v += (mem.sy[i][p] * mem.sy[j][p]) / mem.sy[p][p];
      t[i][j] = v;
      t[j][i] = v;
    }
  }
  if (!cholesky(t)) return false;
  mem.chol = t;
  return true;
}

/**
 * Stores (s, y) when sᵀy > ε·yᵀy (curvature condition; otherwise B would lose definiteness).
 * Returns 'skipped', 'stored', or 'reset' when the new memory could not be factored.
 */
function updateMemory(mem: Memory, s: Float64Array, y: Float64Array): 'skipped' | 'stored' | 'reset' {
  const sy = dot(s, y);
  const yy = dot(y, y);
  if (!(sy > EPS * yy) || !Number.isFinite(sy) || !Number.isFinite(yy)) return 'skipped';
  if (mem.s.length === mem.capacity) {
    mem.s.shift(); mem.y.shift();
    mem.sy.shift(); mem.ss.shift();
    for (const row of mem.sy) row.shift();
    for (const row of mem.ss) row.shift();
  }
  mem.s.push(s); mem.y.push(y);
  const k = mem.s.length;
  const syRow = new Array<number>(k);
  const ssRow = new Array<number>(k);
  for (let j = 0; j < k - 1; j++) {
    syRow[j] = dot(s, mem.y[j]);
    ssRow[j] = dot(s, mem.s[j]);
    mem.sy[j].push(dot(mem.s[j], y));
    mem.ss[j].push(ssRow[j]);
  }
  syRow[k - 1] = sy;
  ssRow[k - 1] = dot(s, s);
  mem.sy.push(syRow); mem.ss.push(ssRow);
  mem.theta = yy / sy;
  if (!factorMemory(mem)) {
    clearMemory(mem);
    return 'reset';
  }
  return 'stored';
}

/** M v for v of length 2k, by block elimination on M⁻¹ = [[−D, Lᵀ], [L, θSᵀS]]. */
function applyMiddle(mem: Memory, v: Float64Array): Float64Array {
  const k = mem.s.length;
  const out = new Float64Array(2 * k);
  // Second block: (θSᵀS + L D⁻¹ Lᵀ) p2 = v2 + L D⁻¹ v1.
  const rhs = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let acc = v[k + i];
    for (let p = 0; p < i; p++) acc += (mem.sy[i][p] * v[p]) / mem.sy[p][p];
    rhs[i] = acc;
  }
  const j = mem.chol;
  for (let i = 0; i < k; i++) {
    let acc = rhs[i];
    for (let p = 0; p < i; p++) acc -= j[i][p] * rhs[p];
    rhs[i] = acc / j[i][i];
  }
  for (let i = k - 1; i >= 0; i--) {
    let acc = rhs[i];
    for (let p = i + 1; p < k; p++) acc -= j[p][i] * rhs[p];
    rhs[i] = acc / j[i][i];
  }
  // First block: p1 = D⁻¹ (Lᵀ p2 − v1).
  for (let i = 0; i < k; i++) {
    let acc = -v[i];
    for (let p = i + 1; p < k; p++) acc += mem.sy[p][i] * rhs[p];
    out[i] = acc / mem.sy[i][i];
    out[k + i] = rhs[i];
  }
  return out;
}

/** Row i of W = [Y, θS]. */
function wRow(mem: Memory, i: number, out: Float64Array): Float64Array {
  const k = mem.s.length;
  for (let j = 0; j < k; j++) {
    out[j] = mem.y[j][i];
    out[k + j] = mem.theta * mem.s[j][i];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generalized Cauchy point (paper §4, Alg. CP).
// ---------------------------------------------------------------------------------------------

interface CauchyPoint {
  xc: Float64Array;
  /** c = Wᵀ(x^c − x), reused by the subspace step. */
  c: Float64Array;
}

function cauchyPoint(x: Float64Array, g: Float64Array, lower: Float64Array, upper: Float64Array, mem: Memory): CauchyPoint {
  const n = x.length;
  const k = mem.s.length;
  const theta = mem.theta;
  const xc = Float64Array.from(x);
  const d = new Float64Array(n);
  const tBreak = new Float64Array(n);
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = Infinity;
    if (g[i] < 0 && upper[i] < Infinity) t = (x[i] - upper[i]) / g[i];
    else if (g[i] > 0 && lower[i] > -Infinity) t = (x[i] - lower[i]) / g[i];
    tBreak[i] = t;
    if (t > 0) d[i] = -g[i];
    if (t > 0 && t < Infinity) order.push(i);
  }
  order.sort((a, b) => tBreak[a] - tBreak[b] || a - b);

  const p = new Float64Array(2 * k);
  for (let j = 0; j < k; j++) {
    p[j] = dot(mem.y[j], d);
    p[k + j] = theta * dot(mem.s[j], d);
  }
  const c = new Float64Array(2 * k);
  // f1, f2: first and second derivative of the model along the current segment.
  let f1 = -dot(d, d);
  if (f1 === 0) return { xc, c };
  let f2 = -theta * f1 - (k > 0 ? dot(p, applyMiddle(mem, p)) : 0);
  const f2Floor = EPS * Math.max(f2, -theta * f1); // keeps the curvature positive under rounding
  f2 = Math.max(f2, f2Floor);
  let dtMin = -f1 / f2;
  let tOld = 0;
  const wb = new Float64Array(2 * k);
  let next = 0;
  for (; next < order.length; next++) {
    const b = order[next];
    const dt = tBreak[b] - tOld;
    if (dtMin < dt) break;
    // Fix variable b at its bound and update the derivatives for the next segment.
    xc[b] = d[b] > 0 ? upper[b] : lower[b];
    const zb = xc[b] - x[b];
    const gb = g[b];
    for (let j = 0; j < 2 * k; j++) c[j] += dt * p[j];
    let wMc = 0, wMp = 0, wMw = 0;
    if (k > 0) {
      wRow(mem, b, wb);
      const mw = applyMiddle(mem, wb);
      wMc = dot(mw, c); wMp = dot(mw, p); wMw = dot(mw, wb);
    }
    f1 += dt * f2 + gb * gb + theta * gb * zb - gb * wMc;
    f2 -= theta * gb * gb + 2 * gb * wMp + gb * gb * wMw;
    f2 = Math.max(f2, f2Floor);
    for (let j = 0; j < 2 * k; j++) p[j] += gb * wb[j];
    d[b] = 0;
    dtMin = -f1 / f2;
    tOld = tBreak[b];
  }
  dtMin = Math.max(dtMin, 0);
  tOld += dtMin;
  for (let i = 0; i < n; i++) {
    if (d[i] !== 0) xc[i] = Math.min(upper[i], Math.max(lower[i], x[i] + tOld * d[i]));
  }
  for (let j = 0; j < 2 * k; j++) c[j] += dtMin * p[j];
  return { xc, c };
}

// ---------------------------------------------------------------------------------------------
// Subspace minimization (paper §5.1, direct primal method).
// ---------------------------------------------------------------------------------------------

/** Solves a small dense system in place by Gaussian elimination with partial pivoting. */
function solveDense(a: number[][], b: Float64Array): Float64Array | null {
  const n = b.length;
  const x = Float64Array.from(b);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) piv = r;
    if (!(Math.abs(a[piv][col]) > 0)) return null;
    [a[col], a[piv]] = [a[piv], a[col]];
    [x[col], x[piv]] = [x[piv], x[col]];
    for (let r = col + 1; r < n; r++) {
      const factor = a[r][col] / a[col][col];
      if (factor === 0) continue;
      for (let q = col; q < n; q++) a[r][q] -= factor * a[col][q];
      x[r] -= factor * x[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let acc = x[r];
    for (let q = r + 1; q < n; q++) acc -= a[r][q] * x[q];
    x[r] = acc / a[r][r];
  }
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) return null;
  return x;
}

/**
 * Minimizes the model over the variables free at x^c, with the others held at their bounds:
 * d^u = −B̂⁻¹ r^c, B̂⁻¹ = I/θ + Zᵀ W (I − M WᵀZZᵀW / θ)⁻¹ M WᵀZ / θ²,
 * r^c = Zᵀ(g + θ(x^c − x) − W M c); then x̄ = x^c + α* d^u with the largest α* <= 1 that keeps
 * x̄ in the box. Returns null when the small system is singular (the caller resets the memory).
 */
function subspaceStep(
  x: Float64Array, g: Float64Array, lower: Float64Array, upper: Float64Array, mem: Memory, cp: CauchyPoint,
): Float64Array | null {
  const k = mem.s.length;
  const xbar = Float64Array.from(cp.xc);
  if (k === 0) return xbar;
  const theta = mem.theta;
  const free: number[] = [];
  for (let i = 0; i < x.length; i++) if (cp.xc[i] > lower[i] && cp.xc[i] < upper[i]) free.push(i);
  if (free.length === 0) return xbar;

  const k2 = 2 * k;
  const mc = applyMiddle(mem, cp.c);
  const w = new Float64Array(k2);
  const r = new Float64Array(free.length);
  const wz = new Float64Array(k2); // Wᵀ Z r^c
  const a: number[][] = [];
  for (let i = 0; i < k2; i++) a.push(new Array<number>(k2).fill(0)); // WᵀZZᵀW
  for (let f = 0; f < free.length; f++) {
    const i = free[f];
    wRow(mem, i, w);
    const ri = g[i] + theta * (cp.xc[i] - x[i]) - dot(w, mc);
    r[f] = ri;
    for (let p = 0; p < k2; p++) {
      wz[p] += w[p] * ri;
      const ap = a[p];
      for (let q = 0; q <= p; q++) ap[q] += w[p] * w[q];
    }
  }
  for (let p = 0; p < k2; p++) for (let q = p + 1; q < k2; q++) a[p][q] = a[q][p];
  // N = I − M A / θ, column by column.
  const nMat: number[][] = [];
  for (let i = 0; i < k2; i++) nMat.push(new Array<number>(k2).fill(0));
  const col = new Float64Array(k2);
  for (let q = 0; q < k2; q++) {
    for (let p = 0; p < k2; p++) col[p] = a[p][q];
    const mcol = applyMiddle(mem, col);
    for (let p = 0; p < k2; p++) nMat[p][q] = (p === q ? 1 : 0) - mcol[p] / theta;
  }
  const v = solveDense(nMat, applyMiddle(mem, wz));
  if (v === null) return null;

  let alpha = 1;
  let hit = -1;
  const du = new Float64Array(free.length);
  for (let f = 0; f < free.length; f++) {
    const i = free[f];
    wRow(mem, i, w);
    const di = -r[f] / theta - dot(w, v) / (theta * theta);
    if (!Number.isFinite(di)) return null;
    du[f] = di;
    if (di === 0) continue;
    const reach = (di > 0 ? upper[i] - cp.xc[i] : lower[i] - cp.xc[i]) / di;
    if (reach < alpha) { alpha = reach; hit = i; }
  }
  alpha = Math.max(alpha, 0);
  for (let f = 0; f < free.length; f++) {
    const i = free[f];
    xbar[i] = Math.min(upper[i], Math.max(lower[i], cp.xc[i] + alpha * du[f]));
  }
  if (hit >= 0) xbar[hit] = du[free.indexOf(hit)] > 0 ? upper[hit] : lower[hit];
  return xbar;
}

// ---------------------------------------------------------------------------------------------
// Line search along d, projected onto the box (Moré–Thuente, from ./line-search.ts).
// ---------------------------------------------------------------------------------------------

/** A point on the search line with its gradient. */
interface BoxPoint {
  x: Float64Array;
  g: Float64Array;
}

interface LineSearchOutcome {
  /** 'ok': the search succeeded; 'failed' or 'evals' (out of evaluations) otherwise. */
  outcome: 'ok' | 'failed' | 'evals';
  /** The step taken: 0 when no step gave sufficient decrease. */
  stp: number;
  x: Float64Array;
  f: number;
  g: Float64Array;
  nfev: number;
}

function lineSearch(
  fg: LbfgsbObjective, x: Float64Array, f0: number, g0: Float64Array, d: Float64Array, xbar: Float64Array,
  lower: Float64Array, upper: Float64Array, stpMax: number, hitIndex: number, stpInit: number,
  maxTrials: number, evalsLeft: number,
): LineSearchOutcome {
  const n = x.length;
  const dg0 = dot(g0, d);
  const pointAt = (step: number): Float64Array => {
    if (step === 1) return Float64Array.from(xbar);
    const xt = new Float64Array(n);
    for (let i = 0; i < n; i++) xt[i] = Math.min(upper[i], Math.max(lower[i], x[i] + step * d[i]));
    if (step === stpMax && hitIndex >= 0) xt[hitIndex] = d[hitIndex] > 0 ? upper[hitIndex] : lower[hitIndex];
    return xt;
  };
  const phi: Phi<BoxPoint> = (t) => {
    const xt = pointAt(t);
    const [f, gRaw] = fg(Float64Array.from(xt));
    const g = Float64Array.from(gRaw);
    let finite = Number.isFinite(f) && g.length === n;
    for (let i = 0; i < n && finite; i++) finite = Number.isFinite(g[i]);
    return { t, value: finite ? f : NaN, slope: finite ? dot(g, d) : NaN, grad: { x: xt, g } };
  };
  const start: LinePoint<BoxPoint> = { t: 0, value: f0, slope: dg0, grad: { x, g: g0 } };
  const maxEvals = Math.min(maxTrials, evalsLeft);
  const r = moreThuente(phi, start, stpInit, {
    c1: WOLFE_C1, c2: WOLFE_C2, xtol: LINE_SEARCH_XTOL, maxEvals, stpMax,
  });
  const p = r.point;
  // Like L-BFGS-B, a search that stops early still takes its best sufficient-decrease step.
  const accepted = r.success || (p.t > 0 && p.value < f0 && p.value <= f0 + WOLFE_C1 * p.t * dg0);
  const outcome = r.success ? 'ok' : r.evals >= evalsLeft ? 'evals' : 'failed';
  return accepted
    ? { outcome, stp: p.t, x: p.grad.x, f: p.value, g: p.grad.g, nfev: r.evals }
    : { outcome: outcome === 'ok' ? 'failed' : outcome, stp: 0, x, f: f0, g: g0, nfev: r.evals };
}

// ---------------------------------------------------------------------------------------------
// Driver.
// ---------------------------------------------------------------------------------------------

function projectedGradientNorm(x: Float64Array, g: Float64Array, lower: Float64Array, upper: Float64Array): number {
  let norm = 0;
  for (let i = 0; i < x.length; i++) {
    let gi = g[i];
    if (gi < 0) gi = Math.max(x[i] - upper[i], gi);
    else gi = Math.min(x[i] - lower[i], gi);
    norm = Math.max(norm, Math.abs(gi));
  }
  return norm;
}

/** Largest α with l <= x + α d <= u (capped), and the index that blocks it (−1 if none). */
function maxFeasibleStep(x: Float64Array, d: Float64Array, lower: Float64Array, upper: Float64Array): [number, number] {
  let stp = MAX_STEP;
  let hit = -1;
  for (let i = 0; i < x.length; i++) {
    if (d[i] === 0) continue;
    const reach = (d[i] > 0 ? upper[i] - x[i] : lower[i] - x[i]) / d[i];
    if (reach < stp) { stp = Math.max(reach, 0); hit = i; }
  }
  return [stp, hit];
}

function validateInputs(x0: Float64Array, lower: Float64Array, upper: Float64Array): void {
  const n = x0.length;
  if (lower.length !== n || upper.length !== n) {
    throw new RangeError(`lbfgsb: x0, lower and upper must have the same length, got ${n}, ${lower.length}, ${upper.length}`);
  }
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(lower[i]) || Number.isNaN(upper[i])) throw new RangeError(`lbfgsb: bound at index ${i} is NaN`);
    if (lower[i] > upper[i]) throw new RangeError(`lbfgsb: lower[${i}] = ${lower[i]} > upper[${i}] = ${upper[i]}`);
    if (lower[i] === Infinity || upper[i] === -Infinity) throw new RangeError(`lbfgsb: bounds at index ${i} leave no finite value: [${lower[i]}, ${upper[i]}]`);
    if (!Number.isFinite(x0[i])) throw new RangeError(`lbfgsb: x0[${i}] = ${x0[i]} is not finite`);
  }
}

/** What one attempt at an L-BFGS-B iteration produced. */
export type LbfgsbIteration =
  /** A step was taken: the new point, and what happened to the memory. */
  | { kind: 'step'; x: Float64Array; f: number; g: Float64Array; nfev: number; memory: 'skipped' | 'stored' | 'reset'; outOfEvals: boolean }
  /** The memory was cleared without a step (singular subspace system, no descent, failed search); retry. */
  | { kind: 'restart'; reason: 'singular' | 'descent' | 'line-search'; message: string; nfev: number }
  /** No step is possible from here. */
  | { kind: 'stop'; status: 'abnormal' | 'line-search-failed' | 'max-evals'; message: string; nfev: number };

/**
 * One L-BFGS-B iteration from explicit state: the generalized Cauchy point, the subspace
 * minimization, the line search, and the memory update (which mutates `mem`; a restart clears
 * it). `justRestarted` only words the failure message; `iter` numbers the messages.
 */
function lbfgsbIterate(
  fg: LbfgsbObjective, x: Float64Array, f: number, g: Float64Array, lower: Float64Array, upper: Float64Array,
  mem: Memory, maxLineSearch: number, evalsLeft: number, justRestarted: boolean, iter: number,
): LbfgsbIteration {
  const n = x.length;
  const cp = cauchyPoint(x, g, lower, upper, mem);
  const xbar = subspaceStep(x, g, lower, upper, mem, cp);
  if (xbar === null) {
    clearMemory(mem);
    return { kind: 'restart', reason: 'singular', message: `iteration ${iter}: singular subspace system; memory cleared`, nfev: 0 };
  }
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = xbar[i] - x[i];
  const dg = dot(d, g);
  if (!(dg < 0)) {
    if (mem.s.length > 0) {
      clearMemory(mem);
      return { kind: 'restart', reason: 'descent', message: `iteration ${iter}: not a descent direction (gᵀd = ${dg}); memory cleared`, nfev: 0 };
    }
    return { kind: 'stop', status: 'abnormal', message: `the projected steepest-descent direction is not a descent direction (gᵀd = ${dg})`, nfev: 0 };
  }
  const [stpMax, hitIndex] = maxFeasibleStep(x, d, lower, upper);
  const dNorm = Math.sqrt(dot(d, d));
  const stpInit = mem.s.length === 0 ? Math.min(1 / dNorm, stpMax) : 1;
  const ls = lineSearch(fg, x, f, g, d, xbar, lower, upper, stpMax, hitIndex, stpInit, maxLineSearch, evalsLeft);
  if (ls.outcome !== 'ok' && ls.stp === 0) {
    if (ls.outcome === 'evals') return { kind: 'stop', status: 'max-evals', message: 'out of evaluations inside a line search', nfev: ls.nfev };
    // With an empty memory a restart would repeat the same search, so that failure is final.
    if (mem.s.length === 0) {
      return {
        kind: 'stop', status: 'line-search-failed', nfev: ls.nfev, message: justRestarted
          ? `the line search failed twice in a row (the second time after clearing the memory) at iteration ${iter}`
          : `the line search failed along the projected gradient at iteration ${iter}`,
      };
    }
    clearMemory(mem);
    return { kind: 'restart', reason: 'line-search', message: `iteration ${iter}: line search failed; memory cleared`, nfev: ls.nfev };
  }
  const s = new Float64Array(n);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) { s[i] = ls.x[i] - x[i]; y[i] = ls.g[i] - g[i]; }
  const memory = updateMemory(mem, s, y);
  return { kind: 'step', x: ls.x, f: ls.f, g: ls.g, nfev: ls.nfev, memory, outOfEvals: ls.outcome === 'evals' };
}

/**
 * Minimizes f subject to lower <= x <= upper with L-BFGS-B (see the file comment for the method).
 * `fg(x)` returns [f(x), ∇f(x)]; it receives a fresh copy of the point and may keep it.
 * x0 outside the box is projected onto it (reported in `warnings`).
 */
export function lbfgsb(
  fg: LbfgsbObjective, x0: Float64Array, lower: Float64Array, upper: Float64Array, options: LbfgsbOptions = {},
): LbfgsbResult {
  const m = checkOption('m', options.m ?? 10, 1, true);
  const maxIter = checkOption('maxIter', options.maxIter ?? 15000, 0, true);
  const maxEvals = checkOption('maxEvals', options.maxEvals ?? 15000, 1, true);
  const pgtol = checkOption('pgtol', options.pgtol ?? 1e-5, 0, false);
  const ftol = checkOption('ftol', options.ftol ?? 2.220446049250313e-9, 0, false);
  const maxLineSearch = checkOption('maxLineSearch', options.maxLineSearch ?? 20, 1, true);
  validateInputs(x0, lower, upper);
  const n = x0.length;
  const warnings: string[] = [];

  let x: Float64Array = Float64Array.from(x0);
  for (let i = 0; i < n; i++) {
    if (x[i] < lower[i] || x[i] > upper[i]) {
      const clipped = Math.min(upper[i], Math.max(lower[i], x[i]));
      warnings.push(`x0[${i}] = ${x[i]} was outside [${lower[i]}, ${upper[i]}]; projected to ${clipped}`);
      x[i] = clipped;
    }
  }
  const [fStart, gStart] = fg(Float64Array.from(x));
  if (!Number.isFinite(fStart)) throw new RangeError(`lbfgsb: f(x0) = ${fStart} is not finite`);
  if (gStart.length !== n) throw new RangeError(`lbfgsb: the gradient has length ${gStart.length}, expected ${n}`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(gStart[i])) throw new RangeError(`lbfgsb: the gradient at x0 has a non-finite entry at index ${i} (${gStart[i]})`);
  }
  let f = fStart;
  let g: Float64Array = Float64Array.from(gStart);
  let nfev = 1;
  let nit = 0;
  const mem = newMemory(m);
  let justRestarted = false;

  const done = (status: LbfgsbStatus, message: string): LbfgsbResult => ({
    x: Float64Array.from(x), f, g: Float64Array.from(g), nit, nfev,
    success: status === 'converged-pgtol' || status === 'converged-ftol', status, message, warnings,
  });

  if (projectedGradientNorm(x, g, lower, upper) <= pgtol) {
    return done('converged-pgtol', 'the projected gradient at x0 is already <= pgtol');
  }
  for (;;) {
    if (nit >= maxIter) return done('max-iter', `stopped after maxIter = ${maxIter} iterations`);
    if (nfev >= maxEvals) return done('max-evals', `stopped after maxEvals = ${maxEvals} evaluations`);

    const it = lbfgsbIterate(fg, x, f, g, lower, upper, mem, maxLineSearch, maxEvals - nfev, justRestarted, nit);
    nfev += it.nfev;
    if (it.kind === 'restart') {
      warnings.push(it.message);
      if (it.reason === 'line-search') justRestarted = true;
      continue;
    }
    if (it.kind === 'stop') {
      if (it.status === 'max-evals') return done('max-evals', `stopped after maxEvals = ${maxEvals} evaluations (inside a line search)`);
      return done(it.status, it.message);
    }
    justRestarted = false;
    const fOld = f;
    x = it.x; f = it.f; g = it.g;
    nit++;
    if (it.memory === 'reset') warnings.push(`iteration ${nit}: memory matrix not positive definite; memory cleared`);

    if (it.outOfEvals) return done('max-evals', `stopped after maxEvals = ${maxEvals} evaluations`);
    if (options.callback && options.callback(Float64Array.from(x), f, nit) === true) {
      return done('callback', `stopped by the callback at iteration ${nit}`);
    }
    if (projectedGradientNorm(x, g, lower, upper) <= pgtol) {
      return done('converged-pgtol', 'converged: the projected gradient norm is <= pgtol');
    }
    if (fOld - f <= ftol * Math.max(Math.abs(fOld), Math.abs(f), 1)) {
      return done('converged-ftol', 'converged: the relative reduction of f is <= ftol');
    }
  }
}


// ---------------------------------------------------------------------------------------------
// L-BFGS-B as an optimizer: one iteration per step on the flattened parameter tree.
// ---------------------------------------------------------------------------------------------

export interface LbfgsbTransformOptions {
  /** Pairs kept, default 10. */
  historySize?: number;
  /** Scalar bounds applied to every parameter, default −Infinity and +Infinity. */
  lower?: number;
  upper?: number;
  /** Evaluations allowed per line search, default 20. */
  maxLineSearch?: number;
}

export interface LbfgsbState {
  /** Stored pairs, oldest first, each a float64 Tensor of shape [n]. */
  readonly s: readonly Tensor[];
  readonly y: readonly Tensor[];
  /** θ of the compact model (1 with an empty memory). */
  readonly theta: number;
  /** Iterations taken (steps that moved). */
  readonly iterations: number;
  /** Consecutive steps that could not move (line search failed along the projected gradient). */
  readonly failures: number;
  /** 1 when the last attempt cleared the memory after a failed line search. */
  readonly justRestarted: number;
  [key: string]: PyTree;
}

function resolveTransformOptions(options: LbfgsbTransformOptions): Required<LbfgsbTransformOptions> {
  const owner = 'lbfgsb';
  checkKnownOptions(owner, options, ['historySize', 'lower', 'upper', 'maxLineSearch']);
  const lower = options.lower ?? -Infinity;
  const upper = options.upper ?? Infinity;
  if (typeof lower !== 'number' || Number.isNaN(lower) || lower === Infinity) throw new RangeError(`lbfgsb: option 'lower' must be a number < Infinity, got ${String(lower)}`);
  if (typeof upper !== 'number' || Number.isNaN(upper) || upper === -Infinity) throw new RangeError(`lbfgsb: option 'upper' must be a number > -Infinity, got ${String(upper)}`);
  if (lower > upper) throw new RangeError(`lbfgsb: option 'lower' (${lower}) exceeds 'upper' (${upper})`);
  return {
    historySize: checkNumber(owner, 'historySize', options.historySize ?? 10, { min: 1, integer: true }),
    lower,
    upper,
    maxLineSearch: checkNumber(owner, 'maxLineSearch', options.maxLineSearch ?? 20, { min: 1, integer: true }),
  };
}

function flattenTree(tree: PyTree): Float64Array {
  const leaves = treeLeaves(tree).map(stopGradient);
  const out = new Float64Array(leaves.reduce((a, l) => a + l.size, 0));
  let off = 0;
  for (const l of leaves) { out.set(l.data, off); off += l.size; }
  return out;
}

/** The tree `like` with its leaves replaced by the values of x, in the leaves' own dtypes and shapes. */
function unflattenLike<P extends PyTree>(like: P, x: Float64Array): P {
  let off = 0;
  return treeUnflatten(like, treeLeaves(like).map((l) => {
    const data = allocate(l.dtype, l.size);
    data.set(x.subarray(off, off + l.size));
    off += l.size;
    return new Tensor(data, l.shape);
  }));
}

/** Rebuilds the working memory from the state (SᵀY, SᵀS and the factor are recomputed exactly). */
function memoryFromState(state: LbfgsbState, capacity: number): Memory {
  const mem = newMemory(capacity);
  const s = state.s.map((t) => Float64Array.from(t.data));
  const y = state.y.map((t) => Float64Array.from(t.data));
  const k = s.length;
  mem.s = s; mem.y = y; mem.theta = k > 0 ? state.theta : 1;
  for (let i = 0; i < k; i++) {
    mem.sy.push(new Array<number>(k));
    mem.ss.push(new Array<number>(k));
  }
  // Same operand order as updateMemory: sy[i][j] = dot(s_i, y_j); ss[i][j] = dot(s_max, s_min).
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      mem.sy[i][j] = dot(s[i], y[j]);
      mem.ss[i][j] = i >= j ? dot(s[i], s[j]) : dot(s[j], s[i]);
    }
  }
  if (k > 0 && !factorMemory(mem)) clearMemory(mem);
  return mem;
}

function stateFromMemory(mem: Memory, iterations: number, failures: number, justRestarted: boolean): LbfgsbState {
  return {
    s: mem.s.map((v) => new Tensor(Float64Array.from(v), [v.length])),
    y: mem.y.map((v) => new Tensor(Float64Array.from(v), [v.length])),
    theta: mem.theta,
    iterations,
    failures,
    justRestarted: justRestarted ? 1 : 0,
  };
}

/**
 * One L-BFGS-B iteration per update, on all parameters flattened into one vector, with the scalar
 * bounds [lower, upper] applied to every parameter. Parameters outside the box are first
 * projected onto it (one extra evaluation). The iteration evaluates the objective along its line
 * search and hands the accepted point to the driver. A restart (memory cleared) retries within
 * the same step; a step that cannot move returns a zero update and counts a failure.
 */
export function lbfgsbTransform<P extends PyTree>(options: LbfgsbTransformOptions = {}): Transform<LbfgsbState, P> {
  const o = resolveTransformOptions(options);
  return {
    name: 'lbfgsb',
    init: () => ({ s: [], y: [], theta: 1, iterations: 0, failures: 0, justRestarted: 0 }),
    update: (grad, state, params, ctx: UpdateContext<P>) => {
      const x = flattenTree(params);
      let g = flattenTree(grad);
      let f = ctx.loss;
      const n = x.length;
      const lower = new Float64Array(n).fill(o.lower);
      const upper = new Float64Array(n).fill(o.upper);
      const fg: LbfgsbObjective = (xt) => {
        ctx.counters.evals++;
        const [value, gt] = ctx.objective.valueAndGrad(unflattenLike(params, xt));
        return [value, flattenTree(gt)];
      };
      let moved = false;
      for (let i = 0; i < n; i++) {
        const c = Math.min(o.upper, Math.max(o.lower, x[i]));
        if (c !== x[i]) { x[i] = c; moved = true; }
      }
      if (moved) {
        ctx.events.push('parameters projected onto the bounds');
        [f, g] = fg(x);
        let finite = Number.isFinite(f);
        for (let i = 0; i < n && finite; i++) finite = Number.isFinite(g[i]);
        const projected = unflattenLike(params, x);
        if (!finite) {
          ctx.rejected = 'non-finite loss or gradient at the projected parameters: step rejected';
          return [treeScale(0, grad), state];
        }
        if (projectedGradientNorm(x, g, lower, upper) === 0) {
          ctx.accepted = { params: projected, loss: f, grad: unflattenLike(grad, g) };
          return [treeSub(projected, params), state];
        }
      }
      if (projectedGradientNorm(x, g, lower, upper) === 0) {
        ctx.events.push('the projected gradient is zero; no step');
        ctx.converged = 'the projected gradient is zero';
        return [treeScale(0, grad), state];
      }
      const mem = memoryFromState(state, o.historySize);
      let justRestarted = state.justRestarted === 1;
      for (;;) {
        const it = lbfgsbIterate(fg, x, f, g, lower, upper, mem, o.maxLineSearch, Infinity, justRestarted, state.iterations);
        if (it.kind === 'restart') {
          ctx.events.push(it.message);
          if (it.reason === 'line-search') justRestarted = true;
          continue;
        }
        if (it.kind === 'stop') {
          ctx.events.push(it.message);
          // 'stop' is final: the next step would start from the same point and memory.
          ctx.converged = it.message;
          if (moved) {
            const projected = unflattenLike(params, x);
            ctx.accepted = { params: projected, loss: f, grad: unflattenLike(grad, g) };
            return [treeSub(projected, params), stateFromMemory(mem, state.iterations, state.failures + 1, justRestarted)];
          }
          return [treeScale(0, grad), stateFromMemory(mem, state.iterations, state.failures + 1, justRestarted)];
        }
        if (it.memory === 'skipped') ctx.events.push('curvature pair skipped (sᵀy too small)');
        if (it.memory === 'reset') ctx.events.push('memory matrix not positive definite; memory cleared');
        const next = unflattenLike(params, it.x);
        ctx.accepted = { params: next, loss: it.f, grad: unflattenLike(grad, it.g) };
        return [treeSub(next, params), stateFromMemory(mem, state.iterations + 1, 0, false)];
      }
    },
  };
}

/** L-BFGS-B as an optimizer for training loops (deterministic; one iteration per step). */
export function lbfgsbOptimizer<P extends PyTree = PyTree>(options: LbfgsbTransformOptions = {}): Optimizer<LbfgsbState, P> {
  const o = resolveTransformOptions(options);
  return createOptimizer('lbfgsb', lbfgsbTransform<P>(options), o);
}

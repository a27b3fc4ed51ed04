/**
 * L-BFGS (Nocedal & Wright, Algorithms 7.4 and 7.5) with a Moré–Thuente, strong-Wolfe or Armijo
 * line search.
 *
 * Each step: the two-loop recursion turns the gradient g into the direction d = -H g, with
 * H the limited-memory inverse-Hessian approximation built from the last `historySize` pairs
 * (s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k) and initial scaling γ = s^T y / y^T y of the newest
 * pair (N&W eq. 7.20); a line search along d finds the step; the new pair is stored.
 * The first trial step is lr/||d||_2 while the history is empty (d = -g is then not scaled to the
 * problem; SciPy's L-BFGS-B rule, capped at lr for the fixed step 'none') and lr otherwise, where
 * the quasi-Newton step t = 1 is the natural guess. The defaults (Moré–Thuente, lr = 1) mirror
 * SciPy's L-BFGS-B without bounds, whose c1 is 1e-3. Memory: 2·historySize copies of the parameters.
 *
 * Safety (PyTorch's L-BFGS has returned NaN since pytorch#5953): pairs with
 * s^T y <= curvatureEps·y^T y are skipped (H stays positive definite), a direction that is not
 * a descent direction resets the history to steepest descent, and a failed line search takes
 * the best point it saw (if any improved) and resets the history — each reported as an event.
 * Non-finite trial values count as too long a step.
 *
 * One optimizer step = one L-BFGS iteration (PyTorch runs up to max_iter per `step`).
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { armijo, moreThuente, strongWolfe, type LinePoint } from './line-search.js';
import { createOptimizer } from '../optimizer.js';
import { treeAxpby, treeScale, treeSub, treeVdot } from '../../autodiff/tree-math.js';
import type { Objective, Optimizer, Transform, UpdateContext } from '../types.js';
import { checkChoice, checkKnownOptions, checkNumber, checkSchedule, evalSchedule } from '../validate.js';
import type { Schedule } from '../types.js';

export interface LbfgsHistory<P extends PyTree> {
  readonly s: readonly P[];
  readonly y: readonly P[];
  readonly rho: readonly number[];
  [key: string]: PyTree;
}

/**
 * The two-loop recursion: returns H·q for the L-BFGS inverse Hessian H of `history` with
 * H0 = gamma·I. (N&W Algorithm 7.4: alpha_i = rho_i s_i^T q; q ← q - alpha_i y_i; r = γ q;
 * beta = rho_i y_i^T r; r ← r + (alpha_i - beta) s_i.)
 */
export function twoLoop<P extends PyTree>(history: LbfgsHistory<P>, q0: P, gamma: number): P {
  const k = history.s.length;
  const alpha = new Array<number>(k);
  let q = q0;
  for (let i = k - 1; i >= 0; i--) {
    alpha[i] = history.rho[i] * treeVdot(history.s[i], q);
    q = treeAxpby(1, q, -alpha[i], history.y[i]);
  }
  let r = treeScale(gamma, q);
  for (let i = 0; i < k; i++) {
    const beta = history.rho[i] * treeVdot(history.y[i], r);
    r = treeAxpby(1, r, alpha[i] - beta, history.s[i]);
  }
  return r;
}

/** Add a curvature pair unless s^T y <= eps·y^T y; keeps at most m pairs. Returns [history, skipped]. */
export function pushPair<P extends PyTree>(h: LbfgsHistory<P>, s: P, y: P, m: number, eps: number): [LbfgsHistory<P>, boolean] {
  const sy = treeVdot(s, y);
  const yy = treeVdot(y, y);
  if (!(sy > eps * yy) || !Number.isFinite(sy)) return [h, true];
  const keep = h.s.length >= m ? 1 : 0;
  return [{ s: [...h.s.slice(keep), s], y: [...h.y.slice(keep), y], rho: [...h.rho.slice(keep), 1 / sy] }, false];
}

export function emptyHistory<P extends PyTree>(): LbfgsHistory<P> {
  return { s: [], y: [], rho: [] };
}

/** γ = s^T y / y^T y of the newest pair (N&W eq. 7.20), 1 without history. */
export function historyScaling<P extends PyTree>(h: LbfgsHistory<P>): number {
  const k = h.s.length;
  if (k === 0) return 1;
  return 1 / (h.rho[k - 1] * treeVdot(h.y[k - 1], h.y[k - 1]));
}

export interface LbfgsOptions {
  /** Step scale: the line search starts at t = lr (with empty history at lr/||d||_2). Default 1. */
  lr?: Schedule;
  /** Pairs kept, default 10. */
  historySize?: number;
  /**
   * 'more-thuente' (default; Moré & Thuente 1994, as SciPy's L-BFGS-B), 'strong-wolfe'
   * (Nocedal & Wright Alg. 3.5/3.6, as PyTorch), 'armijo' (backtracking), or 'none' (fixed step).
   */
  lineSearch?: 'more-thuente' | 'strong-wolfe' | 'armijo' | 'none';
  /** Wolfe constants, defaults 1e-4 and 0.9. */
  c1?: number;
  c2?: number;
  /** Maximum objective evaluations per line search, default 25. */
  maxLineSearchEvals?: number;
  /**
   * Skip pairs with s^T y <= curvatureEps·y^T y; default machine epsilon (2.2e-16, L-BFGS-B's).
   * s^T y / y^T y is an inverse curvature, so a larger threshold rejects every pair of a
   * problem whose curvature exceeds 1/curvatureEps (Meyer's function reaches 1e10).
   */
  curvatureEps?: number;
}

export interface LbfgsState<P extends PyTree> {
  readonly history: LbfgsHistory<P>;
  /** Consecutive failed line searches (minimize stops at 2). */
  readonly failures: number;
  [key: string]: PyTree;
}

const KNOWN = ['lr', 'historySize', 'lineSearch', 'c1', 'c2', 'maxLineSearchEvals', 'curvatureEps'];

export function resolveLbfgsOptions(owner: string, options: LbfgsOptions): Required<LbfgsOptions> {
  checkKnownOptions(owner, options, KNOWN);
  const o = {
    lr: checkSchedule(owner, 'lr', options.lr ?? 1, { min: 0, minExclusive: true }),
    historySize: checkNumber(owner, 'historySize', options.historySize ?? 10, { min: 1, integer: true }),
    lineSearch: checkChoice(owner, 'lineSearch', options.lineSearch ?? 'more-thuente', ['more-thuente', 'strong-wolfe', 'armijo', 'none'] as const),
    c1: checkNumber(owner, 'c1', options.c1 ?? 1e-4, { min: 0, max: 1, minExclusive: true, maxExclusive: true }),
    c2: checkNumber(owner, 'c2', options.c2 ?? 0.9, { min: 0, max: 1, minExclusive: true, maxExclusive: true }),
    maxLineSearchEvals: checkNumber(owner, 'maxLineSearchEvals', options.maxLineSearchEvals ?? 25, { min: 1, integer: true }),
    curvatureEps: checkNumber(owner, 'curvatureEps', options.curvatureEps ?? 2.220446049250313e-16, { min: 0 }),
  };
  if (o.c2 <= o.c1) throw new RangeError(`${owner}: option 'c2' (${o.c2}) must exceed 'c1' (${o.c1})`);
  return o;
}

/**
 * Evaluate φ(t) = f(x + t d) through the objective, counting evaluations.
 */
export function linePhi<P extends PyTree>(obj: Objective<P>, x: P, d: P, counters: { evals: number }): (t: number) => LinePoint<P> & { x: P } {
  return (t) => {
    const xt = treeAxpby(1, x, t, d);
    counters.evals++;
    const [value, grad] = obj.valueAndGrad(xt);
    return { t, value, slope: treeVdot(grad, d), grad, x: xt };
  };
}

/** One L-BFGS iteration as a transform (it evaluates the objective itself along the line). */
export function lbfgsTransform<P extends PyTree>(options: LbfgsOptions = {}): Transform<LbfgsState<P>, P> {
  const o = resolveLbfgsOptions('lbfgs', options);
  return {
    name: 'lbfgs',
    init: () => ({ history: emptyHistory<P>(), failures: 0 }),
    update: (g, state, params, ctx: UpdateContext<P>) => {
      if (treeVdot(g, g) === 0) {
        ctx.converged = 'the gradient is zero';
        return [treeScale(0, g), state];
      }
      let history = state.history;
      let d = treeScale(-1, twoLoop(history, g, historyScaling(history)));
      let slope = treeVdot(g, d);
      if (!(slope < 0) || !Number.isFinite(slope)) {
        if (history.s.length > 0) ctx.events.push('L-BFGS direction is not a descent direction; history reset');
        history = emptyHistory<P>();
        d = treeScale(-1, g);
        slope = treeVdot(g, d);
      }
      const lr = evalSchedule('lr', o.lr, ctx.step);
      // Without history d = -g carries the gradient's units, so the first trial is a step of length
      // lr (SciPy's L-BFGS-B); a fixed step ('none') is never longer than lr·d.
      const inverseNorm = 1 / Math.max(Math.sqrt(treeVdot(d, d)), 1e-300);
      const t0 = history.s.length > 0 ? lr : lr * (o.lineSearch === 'none' ? Math.min(1, inverseNorm) : inverseNorm);
      const phi = linePhi(ctx.objective, params, d, ctx.counters);
      const start = { t: 0, value: ctx.loss, slope, grad: g, x: params };
      let point: LinePoint<P> & { x?: P };
      let ok = true;
      let message = '';
      if (o.lineSearch === 'none') {
        point = phi(t0);
        ok = Number.isFinite(point.value);
      } else {
        const search = { 'more-thuente': moreThuente, 'strong-wolfe': strongWolfe, armijo }[o.lineSearch];
        const r = search(phi, start, t0, { c1: o.c1, c2: o.c2, maxEvals: o.maxLineSearchEvals });
        point = r.point;
        ok = r.success;
        message = r.message;
      }
      const x = (point as { x?: P }).x;
      const improved = x !== undefined && point.value < ctx.loss;
      const acceptable = o.lineSearch === 'none' ? x !== undefined && ok : ok && improved;
      if (!acceptable || x === undefined) {
        ctx.events.push(`line search failed (${message || 'non-finite value'}); history reset${improved ? ', best point taken' : ''}`);
        // Along steepest descent with no history a retry from the same point repeats this search.
        if (!improved && history.s.length === 0) ctx.converged = 'no decrease found along steepest descent';
        if (improved) ctx.accepted = { params: x as P, loss: point.value, grad: point.grad };
        return [treeScale(0, g), { history: emptyHistory<P>(), failures: state.failures + 1 }];
      }
      const s = treeSub(x, params);
      const y = treeSub(point.grad, g);
      const [next, skipped] = pushPair(history, s, y, o.historySize, o.curvatureEps);
      if (skipped) ctx.events.push('curvature pair skipped (s^T y too small)');
      ctx.accepted = { params: x, loss: point.value, grad: point.grad };
      return [s, { history: next, failures: 0 }];
    },
  };
}

/** L-BFGS as an optimizer for training loops (deterministic; one iteration per step). */
export function lbfgs<P extends PyTree = PyTree>(options: LbfgsOptions = {}): Optimizer<LbfgsState<P>, P> {
  const o = resolveLbfgsOptions('lbfgs', options);
  return createOptimizer('lbfgs', lbfgsTransform<P>(options), o);
}

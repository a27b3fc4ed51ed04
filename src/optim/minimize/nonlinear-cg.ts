/**
 * Nonlinear conjugate gradient, Polak–Ribière+ (Nocedal & Wright, Algorithm 5.4 with
 * β = max(0, g_{k+1}^T (g_{k+1} - g_k) / g_k^T g_k), eq. 5.44–5.45), with a strong-Wolfe line
 * search (c2 = 0.1, so every direction is a descent direction; restarted on steepest descent
 * otherwise). Memory: three copies of x.
 */
import type { Tensor } from '../../tensor/tensor.js';
import { strongWolfe } from '../quasi-newton/line-search.js';
import { linePhi } from '../quasi-newton/lbfgs.js';
import { treeAxpby, treeMaxAbs, treeScale, treeVdot } from '../../autodiff/tree-math.js';
import type { MinimizerInput, MinimizerOutput } from './minimizer-types.js';

/** N&W eq. 3.60 / SciPy: first trial step from the last decrease, at most 1. */
export function initialStep(fPrev: number, f: number, slope: number): number {
  const t = (1.01 * 2 * (f - fPrev)) / slope;
  return Number.isFinite(t) && t > 0 ? Math.min(1, t) : 1;
}

export function nonlinearCg(input: MinimizerInput): MinimizerOutput {
  let x = input.x0;
  let fx = input.f0;
  let g = input.g0;
  let d = treeScale(-1, g);
  let fPrev = fx + Math.sqrt(treeVdot(g, g)) / 2; // SciPy's start: first step 1.01/||g||, capped at 1
  const counters = { evals: 1 };
  const done = (it: number, success: boolean, message: string): MinimizerOutput => ({ x, fun: fx, jac: g, nit: it, nfev: counters.evals, nhev: 0, success, message });
  for (let it = 1; it <= input.maxIter; it++) {
    let slope = treeVdot(g, d);
    if (!(slope < 0)) {
      d = treeScale(-1, g);
      slope = treeVdot(g, d);
    }
    const phi = linePhi<Tensor>(input.obj, x, d, counters);
    const r = strongWolfe(phi, { t: 0, value: fx, slope, grad: g }, initialStep(fPrev, fx, slope), { c1: 1e-4, c2: 0.1 });
    const p = r.point as ReturnType<typeof phi>;
    if (!r.success || p.t === 0) return done(it, false, `line search failed: ${r.message}`);
    const gNew = p.grad;
    const beta = Math.max(0, treeVdot(gNew, treeAxpby(1, gNew, -1, g)) / treeVdot(g, g));
    fPrev = fx;
    x = p.x;
    fx = p.value;
    g = gNew;
    d = treeAxpby(-1, g, beta, d);
    if (input.callback?.(x, fx, it)) return done(it, false, 'stopped by the callback');
    if (treeMaxAbs(g) <= input.gtol) return done(it, true, 'converged: gradient below gtol');
    if (counters.evals >= input.maxEvals) return done(it, false, 'maximum number of evaluations reached');
  }
  return done(input.maxIter, false, 'maximum number of iterations reached');
}

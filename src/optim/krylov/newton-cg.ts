/**
 * Line-search Newton-CG, a truncated Newton method (Nocedal & Wright, Algorithm 7.1): the
 * Newton system H p = −g is solved approximately by conjugate gradient on exact
 * Hessian-vector products (forward-over-reverse autodiff), stopping at the forcing tolerance
 * min(0.5, sqrt(||g||))·||g||, or at negative curvature (then the last iterate, or −g on the
 * first CG step); a strong-Wolfe line search from t = 1 follows.
 */
import type { Tensor } from '../../tensor/tensor.js';
import { strongWolfe } from '../quasi-newton/line-search.js';
import { linePhi } from '../quasi-newton/lbfgs.js';
import { treeMaxAbs, treeScale, treeVdot } from '../../autodiff/tree-math.js';
import { cg } from '../../curvature/cg.js';
import { fromObjective } from '../../curvature/operators/from-objective.js';
import type { MinimizerInput, MinimizerOutput } from '../minimize/minimizer-types.js';

export function newtonCg(input: MinimizerInput): MinimizerOutput {
  if (input.obj.hvp === undefined) throw new Error("minimize: method 'newton-cg' needs Hessian-vector products; give an f built from the library's ops (autodiff) instead of jac");
  let x = input.x0;
  let fx = input.f0;
  let g = input.g0;
  const counters = { evals: 1 };
  let nhev = 0;
  const maxCg = 20 * x.size;
  const done = (it: number, success: boolean, message: string): MinimizerOutput => ({ x, fun: fx, jac: g, nit: it, nfev: counters.evals, nhev, success, message });
  for (let it = 1; it <= input.maxIter; it++) {
    const gnorm = Math.sqrt(treeVdot(g, g));
    // The forcing tolerance ||r|| <= min(0.5, sqrt(||g||))·||g|| (relative to ||b|| = ||g||).
    const hessian = fromObjective(input.obj, x, 'hessian', { onMatvec: () => { nhev++; } });
    let solved: ReturnType<typeof cg<Tensor>>;
    try {
      solved = cg(hessian, treeScale(-1, g), { tol: Math.min(0.5, Math.sqrt(gnorm)), maxIter: maxCg, martens: false, storeGamma: 0 });
    } finally {
      hessian.dispose(); // the gradient's linearization, shared by CG's products
    }
    // CG stops at non-positive curvature with its last iterate; on the first step that is 0, no
    // descent direction, and the test below falls back to steepest descent.
    let p: Tensor = solved.x;
    let slope = treeVdot(g, p);
    if (!(slope < 0)) {
      p = treeScale(-1, g);
      slope = -treeVdot(g, g);
    }
    const phi = linePhi<Tensor>(input.obj, x, p, counters);
    const ls = strongWolfe(phi, { t: 0, value: fx, slope, grad: g }, 1);
    const pt = ls.point as ReturnType<typeof phi>;
    if (!ls.success || pt.t === 0) return done(it, false, `line search failed: ${ls.message}`);
    x = pt.x;
    fx = pt.value;
    g = pt.grad;
    if (input.callback?.(x, fx, it)) return done(it, false, 'stopped by the callback');
    if (treeMaxAbs(g) <= input.gtol) return done(it, true, 'converged: gradient below gtol');
    if (counters.evals >= input.maxEvals) return done(it, false, 'maximum number of evaluations reached');
  }
  return done(input.maxIter, false, 'maximum number of iterations reached');
}

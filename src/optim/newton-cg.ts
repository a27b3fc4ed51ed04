/**
 * Line-search Newton-CG, a truncated Newton method (Nocedal & Wright, Algorithm 7.1): the
 * Newton system H p = −g is solved approximately by conjugate gradient on exact
 * Hessian-vector products (forward-over-reverse autodiff), stopping at the forcing tolerance
 * min(0.5, sqrt(||g||))·||g||, or at negative curvature (then the last iterate, or −g on the
 * first CG step); a strong-Wolfe line search from t = 1 follows.
 */
import type { Tensor } from '../tensor/tensor.js';
import { strongWolfe } from './line-search.js';
import { linePhi } from './lbfgs.js';
import { treeAxpby, treeMaxAbs, treeScale, treeVdot, treeZerosLike } from '../autodiff/tree-math.js';
import type { MinimizerInput, MinimizerOutput } from './minimizer-types.js';

export function newtonCg(input: MinimizerInput): MinimizerOutput {
  const hvp = input.obj.hvp;
  if (hvp === undefined) throw new Error("minimize: method 'newton-cg' needs Hessian-vector products; give an f built from the library's ops (autodiff) instead of jac");
  let x = input.x0;
  let fx = input.f0;
  let g = input.g0;
  const counters = { evals: 1 };
  let nhev = 0;
  const maxCg = 20 * x.size;
  const done = (it: number, success: boolean, message: string): MinimizerOutput => ({ x, fun: fx, jac: g, nit: it, nfev: counters.evals, nhev, success, message });
  for (let it = 1; it <= input.maxIter; it++) {
    const gnorm = Math.sqrt(treeVdot(g, g));
    const eta = Math.min(0.5, Math.sqrt(gnorm)) * gnorm;
    let z = treeZerosLike(g);
    let r = g;
    let d = treeScale(-1, g);
    let rr = treeVdot(r, r);
    let p: Tensor = treeScale(-1, g);
    for (let j = 0; j < maxCg; j++) {
      const bd = hvp(x, d);
      nhev++;
      const dbd = treeVdot(d, bd);
      if (!(dbd > 0)) {
        p = j === 0 ? treeScale(-1, g) : z;
        break;
      }
      const alpha = rr / dbd;
      z = treeAxpby(1, z, alpha, d);
      r = treeAxpby(1, r, alpha, bd);
      const rrNew = treeVdot(r, r);
      p = z;
      if (Math.sqrt(rrNew) <= eta) break;
      d = treeAxpby(-1, r, rrNew / rr, d);
      rr = rrNew;
    }
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

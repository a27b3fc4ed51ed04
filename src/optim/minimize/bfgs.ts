/**
 * BFGS with a dense inverse-Hessian approximation (Nocedal & Wright, Algorithm 6.1):
 * H ← (I − ρ s y^T) H (I − ρ y s^T) + ρ s s^T with ρ = 1 / y^T s, H0 = I scaled by
 * y^T s / y^T y before the first update (eq. 6.20), strong-Wolfe line search. Memory: n².
 * For small problems; L-BFGS is the large-scale method.
 */
import { Tensor } from '../../tensor/tensor.js';
import { strongWolfe } from '../quasi-newton/line-search.js';
import { linePhi } from '../quasi-newton/lbfgs.js';
import { treeMaxAbs, treeVdot } from '../../autodiff/tree-math.js';
import { initialStep } from './nonlinear-cg.js';
import type { MinimizerInput, MinimizerOutput } from './minimizer-types.js';

export function bfgs(input: MinimizerInput): MinimizerOutput {
  const n = input.x0.size;
  const H = new Float64Array(n * n);
  for (let i = 0; i < n; i++) H[i * n + i] = 1;
  let x = input.x0;
  let fx = input.f0;
  let g = input.g0;
  let fPrev = fx + Math.sqrt(treeVdot(g, g)) / 2;
  let first = true;
  const counters = { evals: 1 };
  const done = (it: number, success: boolean, message: string): MinimizerOutput => ({ x, fun: fx, jac: g, nit: it, nfev: counters.evals, nhev: 0, success, message });
  const hy = new Float64Array(n);
  for (let it = 1; it <= input.maxIter; it++) {
    const dd = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s -= H[i * n + j] * g.data[j];
      dd[i] = s;
    }
    let slope = 0;
    for (let i = 0; i < n; i++) slope += dd[i] * g.data[i];
    if (!(slope < 0)) {
      // H lost positive definiteness numerically: restart from the identity.
      H.fill(0);
      for (let i = 0; i < n; i++) { H[i * n + i] = 1; dd[i] = -g.data[i]; }
      slope = -treeVdot(g, g);
      first = true;
    }
    const d = new Tensor(x.dtype === 'float32' ? Float32Array.from(dd) : dd, x.shape);
    const phi = linePhi<Tensor>(input.obj, x, d, counters);
    const r = strongWolfe(phi, { t: 0, value: fx, slope, grad: g }, initialStep(fPrev, fx, slope));
    const p = r.point as ReturnType<typeof phi>;
    if (!r.success || p.t === 0) return done(it, false, `line search failed: ${r.message}`);
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = p.x.data[i] - x.data[i]; y[i] = p.grad.data[i] - g.data[i]; }
    let ys = 0;
    let yy = 0;
    for (let i = 0; i < n; i++) { ys += y[i] * s[i]; yy += y[i] * y[i]; }
    if (ys > 1e-10 * yy) {
      if (first) {
        const scale = ys / yy;
        for (let i = 0; i < n * n; i++) H[i] *= scale;
        first = false;
      }
      const rho = 1 / ys;
      for (let i = 0; i < n; i++) {
        let v = 0;
        for (let j = 0; j < n; j++) v += H[i * n + j] * y[j];
        hy[i] = v;
      }
      let yhy = 0;
      for (let i = 0; i < n; i++) yhy += y[i] * hy[i];
      // H ← H − ρ (Hy s^T + s y^T H) + (ρ² y^T H y + ρ) s s^T  (H symmetric)
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          H[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
      }
    }
    fPrev = fx;
    x = p.x;
    fx = p.value;
    g = p.grad;
    if (input.callback?.(x, fx, it)) return done(it, false, 'stopped by the callback');
    if (treeMaxAbs(g) <= input.gtol) return done(it, true, 'converged: gradient below gtol');
    if (counters.evals >= input.maxEvals) return done(it, false, 'maximum number of evaluations reached');
  }
  return done(input.maxIter, false, 'maximum number of iterations reached');
}

/**
 * The top eigenvalue by power iteration, as PyHessian computes it (Yao et al. 2020): v ← Av/‖Av‖
 * with the Rayleigh quotient vᵀAv, stopping when it changes by less than tol relative. It
 * finds the eigenvalue of largest magnitude (which for a Hessian may be negative); Lanczos
 * converges faster for the same products and is the method to prefer, this one is here for
 * comparisons with PyHessian.
 */
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { applyFlat, checkInteger, checkOperator, checkSeed, dot, gaussianFlat, norm, scaleInPlace, fromFlat } from './flat.js';

export interface PowerIterationOptions {
  /** Products at most (default 100, PyHessian's maxIter). */
  iters?: number;
  /** Relative change of the Rayleigh quotient to stop at (default 1e-3, PyHessian's). */
  tol?: number;
  seed?: number;
}

export interface PowerIterationResult<P extends PyTree> {
  eigenvalue: number;
  eigenvector: P;
  iterations: number;
  converged: boolean;
}

export function powerIteration<P extends PyTree>(op: LinearOperator<P>, options: PowerIterationOptions = {}): PowerIterationResult<P> {
  const owner = 'powerIteration';
  checkOperator(owner, op);
  const iters = checkInteger(owner, 'iters', options.iters ?? 100, 1);
  const tol = options.tol ?? 1e-3;
  if (typeof tol !== 'number' || !(tol >= 0)) throw new RangeError(`${owner}: option 'tol' must be a number >= 0, got ${String(tol)}`);
  const rng = new Rng(checkSeed(owner, options.seed ?? 0));
  let v = gaussianFlat(rng, op.size);
  scaleInPlace(1 / norm(v), v);
  let lambda = NaN;
  let i = 0;
  let converged = false;
  while (i < iters) {
    const av = applyFlat(op, v);
    i++;
    const next = dot(v, av);
    const size = norm(av);
    if (!Number.isFinite(size)) throw new RangeError(`${owner}: the product with '${op.name}' is not finite`);
    const change = Math.abs(next - lambda) / (Math.abs(lambda) + 1e-6);
    lambda = next;
    if (size === 0) {
      converged = true; // v is in the null space: every eigenvalue seen is 0
      break;
    }
    v = scaleInPlace(1 / size, av);
    if (change < tol) {
      converged = true;
      break;
    }
  }
  return { eigenvalue: lambda, eigenvector: fromFlat(op, v), iterations: i, converged };
}

/**
 * What `minimize` returns and what each of its methods' loops receives and gives back: in a file
 * of their own so that the methods (bfgs.ts, nonlinear-cg.ts, newton-cg.ts) and minimize.ts, which
 * dispatches to them, do not import each other.
 */
import type { Tensor } from '../../tensor/tensor.js';
import type { Objective } from '../types.js';

export interface MinimizeResult {
  x: Tensor;
  fun: number;
  jac: Tensor;
  nit: number;
  /** Evaluations of f (each also computes the gradient, so njev = nfev). */
  nfev: number;
  njev: number;
  /** Hessian-vector products (newton-cg). */
  nhev: number;
  success: boolean;
  message: string;
  warnings: string[];
}

/** What each method's loop receives. */
export interface MinimizerInput {
  obj: Objective<Tensor>;
  x0: Tensor;
  f0: number;
  g0: Tensor;
  maxIter: number;
  maxEvals: number;
  gtol: number;
  ftol: number;
  historySize: number;
  callback?: (x: Tensor, f: number, iteration: number) => boolean | void;
}

export type MinimizerOutput = Omit<MinimizeResult, 'warnings' | 'njev'>;

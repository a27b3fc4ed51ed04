/**
 * The diagonal of A by Hutchinson's estimator (Bekas, Kokiopoulou & Saad 2007):
 * diag(A) ≈ (1/m) Σ zᵢ ⊙ A zᵢ over m Rademacher probes, unbiased, with per-entry variance
 * Σ_{j≠i} A_ij² / m. What AdaHessian and Sophia precondition with, and K-FAC's fallback when
 * an objective has no Kronecker statistics.
 */
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { applyFlat, checkInteger, checkOperator, checkSeed, rademacherFlat, fromFlat } from './flat.js';

export interface DiagonalOptions {
  /** Probes (default 1). */
  samples?: number;
  /** Seed of a fresh generator (default 0); ignored when `rng` is given. */
  seed?: number;
  /** Draw the probes from this generator instead (advances it; one 32-bit draw per entry). */
  rng?: Rng;
}

/** The estimate as a tree like `op.like` (the operator's dtypes). */
export function diagonal<P extends PyTree>(op: LinearOperator<P>, options: DiagonalOptions = {}): P {
  const owner = 'diagonal';
  checkOperator(owner, op);
  const samples = checkInteger(owner, 'samples', options.samples ?? 1, 1);
  if (options.rng !== undefined && !(options.rng instanceof Rng)) throw new TypeError(`${owner}: option 'rng' must be an Rng`);
  const rng = options.rng ?? new Rng(checkSeed(owner, options.seed ?? 0));
  const n = op.size;
  const sum = new Float64Array(n);
  for (let s = 0; s < samples; s++) {
    const z = rademacherFlat(rng, n);
    const az = applyFlat(op, z);
    for (let i = 0; i < n; i++) sum[i] += z[i] * az[i];
  }
  for (let i = 0; i < n; i++) sum[i] /= samples;
  return fromFlat(op, sum);
}

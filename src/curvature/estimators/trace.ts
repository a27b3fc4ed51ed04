/**
 * Stochastic trace estimators that use only products with A.
 *
 * - Hutchinson (1989): tr A ≈ (1/m) Σ zᵢᵀ A zᵢ over m Rademacher probes; variance
 *   2(‖A‖_F² − Σ A_ii²)/m.
 * - Hutch++ (Meyer, Musco, Musco & Woodruff, SOSA 2021): a third of the products sketch the top
 *   of the range (Q = orth(A S)), a third compute tr(QᵀAQ) exactly, and the last third run
 *   Hutchinson on the deflated (I − QQᵀ)A(I − QQᵀ). Unbiased as well; on a decaying spectrum the
 *   deflated remainder is small, so at equal products its variance is far lower.
 *
 * `stderr` is the sample standard deviation of the random part over the square root of its
 * probe count (an estimate of the estimator's standard deviation).
 */
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { applyFlat, checkInteger, checkOperator, checkSeed, dot, gaussianFlat, norm, orthogonalize, rademacherFlat, scaleInPlace } from './flat.js';

export type TraceMethod = 'hutchinson' | 'hutch++';

export interface TraceOptions {
  /** Default 'hutch++'. */
  method?: TraceMethod;
  /** Products with A in total (default 30; hutch++ needs at least 3). */
  matvecs?: number;
  seed?: number;
}

export interface TraceResult {
  estimate: number;
  stderr: number;
  matvecs: number;
}

function meanAndStderr(samples: readonly number[]): { mean: number; stderr: number } {
  const m = samples.length;
  const mean = samples.reduce((s, x) => s + x, 0) / m;
  if (m < 2) return { mean, stderr: NaN };
  const variance = samples.reduce((s, x) => s + (x - mean) ** 2, 0) / (m - 1);
  return { mean, stderr: Math.sqrt(variance / m) };
}

export function trace<P extends PyTree>(op: LinearOperator<P>, options: TraceOptions = {}): TraceResult {
  const owner = 'trace';
  checkOperator(owner, op);
  const method = options.method ?? 'hutch++';
  if (method !== 'hutchinson' && method !== 'hutch++') throw new RangeError(`${owner}: option 'method' must be 'hutchinson' or 'hutch++', got ${String(method)}`);
  const matvecs = checkInteger(owner, 'matvecs', options.matvecs ?? 30, method === 'hutch++' ? 3 : 1);
  const rng = new Rng(checkSeed(owner, options.seed ?? 0));
  const n = op.size;
  if (method === 'hutchinson') {
    const samples: number[] = [];
    for (let i = 0; i < matvecs; i++) {
      const z = rademacherFlat(rng, n);
      samples.push(dot(z, applyFlat(op, z)));
    }
    const { mean, stderr } = meanAndStderr(samples);
    return { estimate: mean, stderr, matvecs };
  }
  // Hutch++: sketch s = ⌊m/3⌋ columns (at most n), the rest split between Q's products and probes.
  const s = Math.min(Math.floor(matvecs / 3), n);
  const q: Float64Array[] = [];
  for (let i = 0; i < s; i++) {
    const y = applyFlat(op, gaussianFlat(rng, n)); // Gaussian: ±1 columns can coincide for small n
    orthogonalize(y, q);
    const len = norm(y);
    if (len > 1e-12 * Math.sqrt(n)) q.push(scaleInPlace(1 / len, y));
  }
  let exact = 0;
  for (const v of q) exact += dot(v, applyFlat(op, v));
  const probes = matvecs - s - q.length;
  const samples: number[] = [];
  for (let i = 0; i < probes; i++) {
    const z = rademacherFlat(rng, n);
    orthogonalize(z, q);
    samples.push(dot(z, applyFlat(op, z)));
  }
  if (samples.length === 0) return { estimate: exact, stderr: q.length === n ? 0 : NaN, matvecs: s + q.length };
  const { mean, stderr } = meanAndStderr(samples);
  return { estimate: exact + mean, stderr, matvecs: s + q.length + probes };
}

/**
 * Extreme eigenpairs of a symmetric operator by the Lanczos method with full
 * reorthogonalization (Golub & Van Loan, Matrix Computations, §10.1–10.3), optionally in blocks.
 *
 * Each iteration costs one product with A and O(m·n) for reorthogonalization against the m
 * vectors so far; memory is m vectors of n float64. The Ritz values of the projected matrix
 * are checked after every iteration and the method stops when each wanted pair has residual
 * ‖A y − θ y‖ <= tol·max|θ| (then |θ − λ| <= tol·‖A‖ for some eigenvalue λ).
 *
 * A single start vector sees one copy of a repeated eigenvalue until the Krylov space becomes
 * invariant; the basis then restarts from a random vector (so operators small enough to be
 * exhausted are solved exactly), and `blockSize` b >= the multiplicity finds every copy early.
 */
import { Tensor } from '../../tensor/tensor.js';
import { eigh } from '../../tensor/linalg.js';
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { KrylovBasis } from './krylov.js';
import { checkInteger, checkOperator, checkSeed, gaussianFlat, fromFlat } from './flat.js';

export type LanczosWhich = 'largest' | 'smallest' | 'both';

export interface LanczosOptions {
  /** Number of eigenpairs (1 <= k <= op.size). */
  k: number;
  /** 'largest' (default): the k largest, descending; 'smallest': the k smallest, ascending;
   * 'both': ⌊k/2⌋ smallest and ⌈k/2⌉ largest, ascending (SciPy's eigsh 'BE'). */
  which?: LanczosWhich;
  /** Seed of the random start vectors (default 0). */
  seed?: number;
  /** Products with A at most; default min(n, max(2k + 40, 100)). */
  maxIter?: number;
  /** Relative residual tolerance; default 1e-10 for float64 operators, 1e-5 for float32. */
  tol?: number;
  /** Start vectors per block (default 1); use at least the multiplicity of the wanted eigenvalues. */
  blockSize?: number;
}

export interface LanczosResult<P extends PyTree> {
  eigenvalues: number[];
  /** Unit eigenvectors as trees like `op.like`, in the order of `eigenvalues`. */
  eigenvectors: P[];
  /** ‖A y − θ y‖ of each pair. */
  residuals: number[];
  /** Products with A made. */
  iterations: number;
  /** True when every pair met the tolerance (false: stopped at maxIter). */
  converged: boolean;
}

/** Indices of the wanted Ritz values among m ascending ones, in output order. */
function wantedIndices(m: number, k: number, which: LanczosWhich): number[] {
  const kk = Math.min(k, m);
  if (which === 'smallest') return Array.from({ length: kk }, (_, i) => i);
  if (which === 'largest') return Array.from({ length: kk }, (_, i) => m - 1 - i);
  const nSmall = Math.floor(kk / 2);
  const small = Array.from({ length: nSmall }, (_, i) => i);
  const large = Array.from({ length: kk - nSmall }, (_, i) => m - (kk - nSmall) + i);
  return [...small, ...large];
}

interface Ritz {
  values: Float64Array;
  /** Column-major eigenvectors of the projected matrix: vectors[c*m + r] is entry r of vector c. */
  vectors: Float64Array;
  m: number;
}

function ritz(h: Float64Array, m: number): Ritz {
  const r = eigh(new Tensor(h, [m, m]));
  const v = r.eigenvectors.data;
  const cols = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let c = 0; c < m; c++) cols[c * m + i] = v[i * m + c];
  return { values: Float64Array.from(r.eigenvalues.data), vectors: cols, m };
}

export function lanczos<P extends PyTree>(op: LinearOperator<P>, options: LanczosOptions): LanczosResult<P> {
  const owner = 'lanczos';
  checkOperator(owner, op);
  if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options must be an object with k`);
  const n = op.size;
  if (typeof options.k === 'number' && Number.isInteger(options.k) && options.k > n) {
    throw new RangeError(`${owner}: k = ${options.k} exceeds the size of operator '${op.name}' (n = ${n})`);
  }
  const k = checkInteger(owner, 'k', options.k, 1, n, op.name);
  const which = options.which ?? 'largest';
  if (which !== 'largest' && which !== 'smallest' && which !== 'both') throw new RangeError(`${owner}: option 'which' must be 'largest', 'smallest' or 'both', got ${String(which)}`);
  const seed = checkSeed(owner, options.seed ?? 0);
  const maxIter = checkInteger(owner, 'maxIter', options.maxIter ?? Math.min(n, Math.max(2 * k + 40, 100)), k, Infinity);
  const tol = options.tol ?? (op.dtype === 'float64' ? 1e-10 : 1e-5);
  if (typeof tol !== 'number' || !(tol > 0 && tol < 1)) throw new RangeError(`${owner}: option 'tol' must be in (0, 1), got ${String(tol)}`);
  const blockSize = checkInteger(owner, 'blockSize', options.blockSize ?? 1, 1, n, op.name);
  if (!op.symmetric) throw new RangeError(`${owner}: operator '${op.name}' is declared non-symmetric; Lanczos needs a symmetric operator`);

  const rng = new Rng(seed);
  const starts = Array.from({ length: blockSize }, () => gaussianFlat(rng, n));
  const basis = new KrylovBasis(op, starts, rng);
  // Float32 products are symmetric to ~1e-6 relative; a gap far above rounding means A ≠ Aᵀ.
  const symTol = op.dtype === 'float64' ? 1e-6 : 1e-2;
  let result: { ritz: Ritz; idx: number[]; res: number[]; converged: boolean } | undefined;
  while (basis.processed < maxIter && basis.step()) {
    const m = basis.processed;
    if (m < k && m < n) continue;
    const asym = basis.asymmetry();
    if (asym > symTol * Math.max(basis.scale, 1e-300)) {
      throw new RangeError(`${owner}: operator '${op.name}' is not symmetric: q_iᵀAq_j and q_jᵀAq_i differ by ${asym.toExponential(2)} (scale ‖Aq‖ = ${basis.scale.toExponential(2)})`);
    }
    const r = ritz(basis.projected(), m);
    const idx = wantedIndices(m, k, which);
    const res = idx.map((c) => basis.residual(r.vectors.subarray(c * m, (c + 1) * m)));
    const scale = Math.max(Math.abs(r.values[0]), Math.abs(r.values[m - 1]));
    const converged = idx.length === k && res.every((x) => x <= tol * scale);
    result = { ritz: r, idx, res, converged };
    if (converged) break;
  }
  if (result === undefined) {
    // Only reachable when A is exhausted before k products (cannot happen for k <= n) or maxIter < k.
    throw new RangeError(`${owner}: no Ritz values after ${basis.processed} products with '${op.name}'`);
  }
  const { ritz: r, idx, res, converged } = result;
  const m = r.m;
  return {
    eigenvalues: idx.map((c) => r.values[c]),
    eigenvectors: idx.map((c) => fromFlat(op, basis.combine(r.vectors.subarray(c * m, (c + 1) * m)))),
    residuals: res,
    iterations: basis.processed,
    converged,
  };
}

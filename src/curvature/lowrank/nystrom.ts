/**
 * Randomized Nyström preconditioner for A + μI with A symmetric positive semi-definite
 * (Frangella, Tropp & Udell, SIAM J. Matrix Anal. Appl. 2023, Algorithms 2.1 and 5.1).
 *
 * A rank-ℓ sketch Â = U Λ̂ Uᵀ ≈ A from ℓ products A Ω (Ω orthonormal Gaussian, with the shift ν
 * that keeps the Cholesky factorization stable) gives
 *
 *   P⁻¹ = (λ̂_ℓ + μ) U (Λ̂ + μI)⁻¹ Uᵀ + (I − UUᵀ),
 *
 * which maps the top of the spectrum of A + μI onto λ̂_ℓ + μ: CG then converges at the rate of
 * the condition number (λ̂_ℓ + μ + tail)/μ instead of (λ₁ + μ)/μ. Cost: ℓ products once, then
 * O(nℓ) per application; memory ℓ vectors of n float64.
 */
import { Tensor } from '../../tensor/tensor.js';
import { cholesky, eigh } from '../../tensor/linalg.js';
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { applyFlat, axpy, checkInteger, fromFlat, toFlat, checkOperator, checkSeed, dot, gaussianFlat, norm, orthogonalize, scaleInPlace } from '../estimators/flat.js';

export interface NystromOptions {
  /** Sketch size ℓ (default 10, at most the operator's size). */
  rank?: number;
  seed?: number;
  /** The shift μ of the system (A + μI) x = b, e.g. the damping λ; default 0. */
  mu?: number;
}

export interface NystromPreconditioner<P extends PyTree> {
  /** r ↦ P⁻¹ r, for `conjugateGradient(apply, b, { preconditioner })`. */
  apply: (r: P) => P;
  applyFlat: (r: Float64Array) => Float64Array;
  /** Λ̂, descending (the kept directions only). */
  eigenvalues: number[];
  /** Products with A used by the sketch. */
  matvecs: number;
}

/** Inverse of a lower-triangular ℓ×ℓ matrix (row-major), by forward substitution. */
function invertLower(l: Float64Array, k: number): Float64Array {
  const inv = new Float64Array(k * k);
  for (let c = 0; c < k; c++) {
    for (let i = c; i < k; i++) {
      let s = i === c ? 1 : 0;
      for (let j = c; j < i; j++) s -= l[i * k + j] * inv[j * k + c];
      inv[i * k + c] = s / l[i * k + i];
    }
  }
  return inv;
}

export function nystromPreconditioner<P extends PyTree>(op: LinearOperator<P>, options: NystromOptions = {}): NystromPreconditioner<P> {
  const owner = 'nystromPreconditioner';
  checkOperator(owner, op);
  const n = op.size;
  const rank = checkInteger(owner, 'rank', options.rank ?? Math.min(10, n), 1, n, op.name);
  const mu = options.mu ?? 0;
  if (typeof mu !== 'number' || !Number.isFinite(mu) || mu < 0) throw new RangeError(`${owner}: option 'mu' must be a finite number >= 0, got ${String(mu)}`);
  const rng = new Rng(checkSeed(owner, options.seed ?? 0));
  const omega: Float64Array[] = [];
  while (omega.length < rank) {
    const v = gaussianFlat(rng, n);
    orthogonalize(v, omega);
    omega.push(scaleInPlace(1 / norm(v), v));
  }
  const y = omega.map((w) => applyFlat(op, w));
  let frob = 0;
  for (const c of y) frob += dot(c, c);
  // The shift ν of Algorithm 2.1: rounding level of ‖Y‖, so that ΩᵀY_ν is numerically PD.
  const nu = Math.sqrt(n) * 2.2e-16 * Math.sqrt(frob);
  y.forEach((c, j) => axpy(nu, omega[j], c));
  const m = new Float64Array(rank * rank);
  const g = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++) {
    for (let j = 0; j <= i; j++) {
      const a = 0.5 * (dot(omega[i], y[j]) + dot(omega[j], y[i]));
      m[i * rank + j] = a;
      m[j * rank + i] = a;
      const b = dot(y[i], y[j]);
      g[i * rank + j] = b;
      g[j * rank + i] = b;
    }
  }
  let l: Float64Array;
  try {
    l = Float64Array.from(cholesky(new Tensor(m, [rank, rank])).data);
  } catch {
    throw new RangeError(`${owner}: operator '${op.name}' is not positive semi-definite on the sketch (ΩᵀAΩ has a negative eigenvalue); Nyström needs a PSD operator such as the GGN, the Fisher or a sufficiently damped Hessian`);
  }
  const li = invertLower(l, rank);
  // K = L⁻¹ G L⁻ᵀ = BᵀB for B = Y_ν L⁻ᵀ; its eigenvalues are the squared singular values of B.
  const t = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++) for (let j = 0; j < rank; j++) {
    let s = 0;
    for (let q = 0; q <= i; q++) s += li[i * rank + q] * g[q * rank + j];
    t[i * rank + j] = s;
  }
  const k = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++) for (let j = 0; j < rank; j++) {
    let s = 0;
    for (let q = 0; q <= j; q++) s += t[i * rank + q] * li[j * rank + q];
    k[i * rank + j] = s;
  }
  const e = eigh(new Tensor(k, [rank, rank]));
  const sigma2 = e.eigenvalues.data;
  const v = e.eigenvectors.data;
  const top = sigma2[rank - 1];
  const u: Float64Array[] = [];
  const lambdas: number[] = [];
  for (let c = rank - 1; c >= 0; c--) {
    const lam = sigma2[c] - nu;
    if (!(sigma2[c] > 1e-12 * top) || !(lam > 0)) continue;
    // u = Y_ν L⁻ᵀ v / σ
    const coef = new Float64Array(rank);
    for (let q = 0; q < rank; q++) {
      let s = 0;
      for (let i = q; i < rank; i++) s += li[i * rank + q] * v[i * rank + c];
      coef[q] = s / Math.sqrt(sigma2[c]);
    }
    const col = new Float64Array(n);
    for (let q = 0; q < rank; q++) axpy(coef[q], y[q], col);
    orthogonalize(col, u); // keeps U orthonormal where B's small singular values lost accuracy
    const len = norm(col);
    if (!(len > 0.5)) continue;
    u.push(scaleInPlace(1 / len, col));
    lambdas.push(lam);
  }
  const smallest = lambdas.length > 0 ? lambdas[lambdas.length - 1] : 0;
  if (smallest + mu <= 0) throw new RangeError(`${owner}: the sketch of '${op.name}' is zero and mu is 0; P⁻¹ is undefined (give mu > 0)`);
  const applyFlatFn = (r: Float64Array): Float64Array => {
    const out = Float64Array.from(r);
    for (let c = 0; c < u.length; c++) {
      const d = dot(u[c], r);
      axpy(d * ((smallest + mu) / (lambdas[c] + mu) - 1), u[c], out);
    }
    return out;
  };
  return {
    apply: (r: P) => fromFlat(op, applyFlatFn(toFlat(op, r))),
    applyFlat: applyFlatFn,
    eigenvalues: lambdas,
    matvecs: rank,
  };
}

export type CgPreconditionerKind = 'none' | 'nystrom';

/**
 * The `preconditioner` option of Hessian-free and Newton-CG: 'nystrom' builds a Nyström
 * preconditioner of the curvature operator for the damped system (μ = damping) at each solve;
 * 'none' (or undefined) keeps the method's own default.
 */
export function cgPreconditioner<P extends PyTree>(
  kind: CgPreconditionerKind | undefined, op: LinearOperator<P>, options: { rank?: number; seed?: number; damping?: number } = {},
): ((r: P) => P) | undefined {
  if (kind === undefined || kind === 'none') return undefined;
  if (kind !== 'nystrom') throw new RangeError(`option 'preconditioner' must be 'none' or 'nystrom', got ${String(kind)}`);
  return nystromPreconditioner(op, { rank: options.rank, seed: options.seed, mu: options.damping ?? 0 }).apply;
}

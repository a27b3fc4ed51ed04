/**
 * Row-major float64 matrices for the Kronecker-factored optimizers (Shampoo, SOAP, Muon): the
 * statistics, roots and bases are small square matrices that must stay accurate whatever the
 * parameters' dtype (squares of float32 gradients overflow float32 at 1.8e19), so they are
 * computed here in float64 with the kernels' GEMM and eigh.
 */
import { allFinite } from '../../autodiff/tree-math.js';
import { kernels } from '../../kernels/index.js';

/** `op(A) · op(B)`: op(A) is m×k, op(B) is k×n; the result is a fresh m×n array. */
export function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number, transA = false, transB = false): Float64Array {
  const c = new Float64Array(m * n);
  if (m === 0 || n === 0) return c;
  kernels().gemm(transA, transB, m, n, k, 1, a, transA ? m : k, 0, b, transB ? k : n, 0, 0, c, n, 0, 1);
  return c;
}

/** `G Gᵀ` (m×m) for `side = 'left'`, `Gᵀ G` (n×n) for `'right'`; G is m×n. */
export function gram(g: Float64Array, m: number, n: number, side: 'left' | 'right'): Float64Array {
  return side === 'left' ? matmul(g, g, m, n, m, false, true) : matmul(g, g, n, m, n, true, false);
}

export function identity(n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}

export function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j];
  return out;
}

export function frobeniusNorm(a: ArrayLike<number>): number {
  // Scaled sum of squares, so entries near 1e200 do not overflow the norm.
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] / scale;
    s += x * x;
  }
  return scale * Math.sqrt(s);
}

/** Whether every entry is finite: the engine's `allFinite` (one kernel sum, an exact loop only when it is not finite). */
export const isFiniteArray = allFinite;

/** Eigendecomposition of symmetric A (n×n): eigenvalues ascending, eigenvectors as columns. */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  kernels().eigh(n, a, values, vectors);
  return { values, vectors };
}

/** `V diag(f) Vᵀ` for V with eigenvectors as columns. */
export function fromEigen(vectors: Float64Array, f: Float64Array, n: number): Float64Array {
  const scaled = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaled[i * n + j] = vectors[i * n + j] * f[j];
  return matmul(scaled, vectors, n, n, n, false, true);
}

/**
 * `A^(-1/p)` for symmetric positive semi-definite A by eigendecomposition, each eigenvalue raised
 * to at least `relativeFloor · λ_max` first, so that rank-deficient statistics give a finite root.
 * A is divided by its largest entry before the decomposition (statistics of gradients near 1e30
 * are near 1e60) and the root rescaled after. The zero matrix (no information) gives the identity.
 */
export function inverseRootEigen(a: Float64Array, n: number, p: number, relativeFloor: number): Float64Array {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(a[i]));
  if (s === 0) return identity(n);
  const scaled = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) scaled[i] = a[i] / s;
  const { values, vectors } = symmetricEigen(scaled, n);
  let lmax = 0;
  for (let i = 0; i < n; i++) lmax = Math.max(lmax, values[i]);
  if (!(lmax > 0)) return identity(n);
  const floor = Math.max(relativeFloor * lmax, Number.MIN_VALUE);
  const f = new Float64Array(n);
  const rescale = Math.pow(s, -1 / p);
  for (let i = 0; i < n; i++) f[i] = Math.pow(Math.max(values[i], floor), -1 / p) * rescale;
  return fromEigen(vectors, f, n);
}

export interface NewtonRootResult {
  root: Float64Array;
  iterations: number;
  /** max |M − I| at the end: the iteration's residual. */
  residual: number;
  converged: boolean;
}

/**
 * `(A + ε·‖A‖_F·I)^(-1/p)` by the coupled Newton iteration (Guo & Higham 2006; the form used by
 * Anil et al. 2020 for Shampoo): with z = (1+p) / (2‖A‖), X₀ = z^(1/p) I, M₀ = z A,
 * `T = ((p+1) I − M) / p`, `X ← X T`, `M ← T^p M` until M ≈ I; then X ≈ A^(-1/p). The ridge plays
 * the eigenvalue floor's part (it bounds the condition number by 1/ε). Matrix products only:
 * no eigendecomposition. The zero matrix gives the identity.
 */
export function inverseRootNewton(a: Float64Array, n: number, p: number, relativeRidge: number, options: { tolerance?: number; maxIterations?: number } = {}): NewtonRootResult {
  const tol = options.tolerance ?? 1e-10;
  const maxIter = options.maxIterations ?? 100;
  const norm = frobeniusNorm(a);
  if (norm === 0) return { root: identity(n), iterations: 0, residual: 0, converged: true };
  // Work on A/‖A‖_F + ε I: the iteration's start needs ‖·‖ ≥ λ_max, which the Frobenius norm is.
  const m0 = new Float64Array(n * n);
  for (let i = 0; i < m0.length; i++) m0[i] = a[i] / norm;
  for (let i = 0; i < n; i++) m0[i * n + i] += relativeRidge;
  const bound = 1 + relativeRidge;
  const z = (1 + p) / (2 * bound);
  let x: Float64Array = identity(n);
  const x0 = Math.pow(z, 1 / p);
  for (let i = 0; i < n; i++) x[i * n + i] = x0;
  let mm: Float64Array = m0.map((v) => v * z);
  let residual = maxAbsMinusIdentity(mm, n);
  let it = 0;
  while (residual > tol && it < maxIter) {
    const t = new Float64Array(n * n);
    for (let i = 0; i < t.length; i++) t[i] = -mm[i] / p;
    for (let i = 0; i < n; i++) t[i * n + i] += (p + 1) / p;
    x = matmul(x, t, n, n, n);
    let tp: Float64Array = t;
    for (let q = 1; q < p; q++) tp = matmul(tp, t, n, n, n);
    mm = matmul(tp, mm, n, n, n);
    residual = maxAbsMinusIdentity(mm, n);
    it++;
    if (!Number.isFinite(residual)) break;
  }
  const rescale = Math.pow(norm, -1 / p);
  for (let i = 0; i < x.length; i++) x[i] *= rescale;
  return { root: x, iterations: it, residual, converged: residual <= tol && isFiniteArray(x) };
}

function maxAbsMinusIdentity(m: Float64Array, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) e = Math.max(e, Math.abs(m[i * n + j] - (i === j ? 1 : 0)));
  return e;
}

/**
 * Q of the Householder QR factorization of square A (n×n): orthogonal for any input, also a
 * rank-deficient or zero one (a Gram–Schmidt step would divide by a zero column norm there).
 * Each column of Q has the sign that makes R's diagonal non-negative, so a matrix whose columns
 * are already orthonormal comes back unchanged.
 */
export function qrOrthogonal(a: Float64Array, n: number): Float64Array {
  const r = Float64Array.from(a);
  const vs: Float64Array[] = [];
  for (let k = 0; k < n; k++) {
    const v = new Float64Array(n);
    let norm = 0;
    for (let i = k; i < n; i++) norm = Math.hypot(norm, r[i * n + k]);
    if (norm === 0) {
      vs.push(v);
      continue;
    }
    const alpha = r[k * n + k] >= 0 ? -norm : norm;
    for (let i = k; i < n; i++) v[i] = r[i * n + k];
    v[k] -= alpha;
    const vn = frobeniusNorm(v);
    for (let i = k; i < n; i++) v[i] /= vn;
    for (let j = k; j < n; j++) {
      let d = 0;
      for (let i = k; i < n; i++) d += v[i] * r[i * n + j];
      for (let i = k; i < n; i++) r[i * n + j] -= 2 * v[i] * d;
    }
    vs.push(v);
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the identity, right to left.
  const q = identity(n);
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k];
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let i = k; i < n; i++) d += v[i] * q[i * n + j];
      if (d !== 0) for (let i = k; i < n; i++) q[i * n + j] -= 2 * v[i] * d;
    }
  }
  // Sign convention: R_kk ≥ 0, i.e. flip column k of Q where R_kk < 0.
  for (let k = 0; k < n; k++) {
    if (r[k * n + k] < 0) for (let i = 0; i < n; i++) q[i * n + k] = -q[i * n + k];
  }
  return q;
}

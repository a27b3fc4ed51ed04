/**
 * Dense linear algebra for the small and medium matrices of curvature methods (Kronecker
 * factors, Lanczos tridiagonals, Shampoo preconditioners). Leading axes are batch axes.
 * Non-finite input is rejected with an error; results never contain NaN for finite input.
 */
import { kernels } from '../kernels/index.js';
import { Tensor, allocate, assertFinite, checkSameDType, describe, fmtShape, shapeSize } from './tensor.js';

function checkSquare(op: string, a: unknown): { t: Tensor; n: number; batch: number } {
  if (!(a instanceof Tensor)) throw new TypeError(`${op}: input must be a Tensor, got ${describe(a)}`);
  if (a.ndim < 2 || a.shape[a.ndim - 1] !== a.shape[a.ndim - 2]) {
    throw new RangeError(`${op}: expected a square matrix (or a batch of them), got shape ${fmtShape(a.shape)}`);
  }
  assertFinite(op, a);
  const n = a.shape[a.ndim - 1];
  return { t: a, n, batch: shapeSize(a.shape.slice(0, -2)) };
}

/** Lower Cholesky factor L with `L L^T = A` (A symmetric positive definite; its lower triangle is read). */
export function cholesky(a: Tensor): Tensor {
  const { t, n, batch } = checkSquare('cholesky', a);
  const out = allocate(t.dtype, t.size);
  const k = kernels();
  for (let p = 0; p < batch; p++) {
    const ok = k.cholesky(n, t.data.subarray(p * n * n, (p + 1) * n * n), out.subarray(p * n * n, (p + 1) * n * n));
    if (!ok) {
      throw new RangeError(`cholesky: matrix ${batch > 1 ? `${p} of the batch ` : ''}is not positive definite (${n}x${n}); add damping to its diagonal`);
    }
  }
  return new Tensor(out, t.shape);
}

export interface EighResult {
  /** Ascending, shape `[..., n]`. */
  eigenvalues: Tensor;
  /** Orthonormal eigenvectors as columns, shape `[..., n, n]`. */
  eigenvectors: Tensor;
}

/**
 * Eigendecomposition of a symmetric matrix (the average of A and A^T is used), as NumPy's
 * `eigh`: eigenvalues ascending, eigenvectors as columns. Computed in float64 for either dtype.
 */
export function eigh(a: Tensor): EighResult {
  const { t, n, batch } = checkSquare('eigh', a);
  const w = allocate(t.dtype, batch * n);
  const v = allocate(t.dtype, t.size);
  const k = kernels();
  for (let p = 0; p < batch; p++) {
    k.eigh(n, t.data.subarray(p * n * n, (p + 1) * n * n), w.subarray(p * n, (p + 1) * n), v.subarray(p * n * n, (p + 1) * n * n));
  }
  return { eigenvalues: new Tensor(w, t.shape.slice(0, -1)), eigenvectors: new Tensor(v, t.shape) };
}

export interface SolveTriangularOptions {
  /** The triangle of `t` that holds the matrix (default true: lower). */
  lower?: boolean;
  /** Solve with T^T instead of T. */
  transpose?: boolean;
  /** Assume ones on the diagonal (it is not read). */
  unitDiagonal?: boolean;
}

/** X with `op(T) X = B`; B is `[n]` or `[n, m]` (batched along leading axes when T is). */
export function solveTriangular(t: Tensor, b: Tensor, options: SolveTriangularOptions = {}): Tensor {
  const op = 'solveTriangular';
  const { n, batch } = checkSquare(op, t);
  if (!(b instanceof Tensor)) throw new TypeError(`${op}: right-hand side must be a Tensor, got ${describe(b)}`);
  checkSameDType(op, t, b);
  assertFinite(op, b, 'right-hand side');
  const vec = b.ndim === t.ndim - 1;
  const m = vec ? 1 : b.shape[b.ndim - 1];
  const expected = vec ? [...t.shape.slice(0, -1)] : [...t.shape.slice(0, -1), m];
  if (fmtShape(b.shape) !== fmtShape(expected)) {
    throw new RangeError(`${op}: right-hand side ${fmtShape(b.shape)} does not match the ${n}x${n} matrix ${fmtShape(t.shape)} (expected ${fmtShape(expected)})`);
  }
  const out = allocate(b.dtype, b.size);
  const k = kernels();
  for (let p = 0; p < batch; p++) {
    k.solveTriangular(n, m, t.data.subarray(p * n * n, (p + 1) * n * n), b.data.subarray(p * n * m, (p + 1) * n * m),
      out.subarray(p * n * m, (p + 1) * n * m), options.lower ?? true, options.transpose ?? false, options.unitDiagonal ?? false);
  }
  return new Tensor(out, b.shape);
}

export interface InversePthRootOptions {
  /** Added to the diagonal before the root (Tikhonov damping). Default 0. */
  damping?: number;
  /**
   * Relative eigenvalue floor: eigenvalues below `eps * max|λ|` are raised to it, so singular
   * and slightly indefinite inputs give finite output. Default 1e-12 (float64) / 1e-6 (float32).
   */
  eps?: number;
}

/** Apply `f` to the eigenvalues of symmetric A: `V f(Λ) V^T`. */
export function matrixFunction(a: Tensor, f: (lambda: number, lambdaMax: number) => number): Tensor {
  const { t, n, batch } = checkSquare('matrixFunction', a);
  const { eigenvalues, eigenvectors } = eigh(t);
  const out = allocate(t.dtype, t.size);
  const scaled = new Float64Array(n * n);
  const fl = new Float64Array(n);
  for (let p = 0; p < batch; p++) {
    const w = eigenvalues.data.subarray(p * n, (p + 1) * n);
    const v = eigenvectors.data.subarray(p * n * n, (p + 1) * n * n);
    let lmax = 0;
    for (let i = 0; i < n; i++) lmax = Math.max(lmax, Math.abs(w[i]));
    for (let i = 0; i < n; i++) fl[i] = f(w[i], lmax);
    // out = V diag(f) V^T, accumulated in float64.
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaled[i * n + j] = v[i * n + j] * fl[j];
    const o = out.subarray(p * n * n, (p + 1) * n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        let s = 0;
        for (let q = 0; q < n; q++) s += scaled[i * n + q] * v[j * n + q];
        o[i * n + j] = s;
        o[j * n + i] = s;
      }
    }
  }
  return new Tensor(out, t.shape);
}

/**
 * `(A + damping·I)^(-1/p)` for symmetric positive semi-definite A (Shampoo's preconditioner),
 * through the eigendecomposition with a relative eigenvalue floor (see `eps`).
 */
export function inversePthRoot(a: Tensor, p: number, options: InversePthRootOptions = {}): Tensor {
  const op = 'inversePthRoot';
  if (typeof p !== 'number' || !(p > 0) || !Number.isFinite(p)) throw new RangeError(`${op}: p must be a positive number, got ${describe(p)}`);
  const damping = options.damping ?? 0;
  if (!(damping >= 0) || !Number.isFinite(damping)) throw new RangeError(`${op}: damping must be a finite number >= 0, got ${damping}`);
  const eps = options.eps ?? (a instanceof Tensor && a.dtype === 'float32' ? 1e-6 : 1e-12);
  if (!(eps > 0) || !Number.isFinite(eps)) throw new RangeError(`${op}: eps must be a finite number > 0, got ${eps}`);
  return matrixFunction(a, (lambda, lmax) => {
    const floor = Math.max(eps * (lmax + damping), Number.MIN_VALUE);
    return Math.pow(Math.max(lambda + damping, floor), -1 / p);
  });
}

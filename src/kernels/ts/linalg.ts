/**
 * Dense linear algebra for small and medium matrices in plain TypeScript: the reference that
 * every backend is tested against, and the implementation the `ts` backend uses.
 *
 * - `cholesky`: row-oriented (Cholesky–Banachiewicz) factorization in float64.
 * - `solveTriangular`: forward/backward substitution on row blocks of B, in float64.
 * - `eigh`: symmetric eigendecomposition: Householder reduction to tridiagonal form, then the
 *   implicit QL algorithm with Wilkinson shifts (the tred2/tql2 pair), accumulating the
 *   eigenvectors; cyclic Jacobi is the fallback should QL not converge. A matrix whose max-abs
 *   entry lies outside [2^-400, 2^400] is first scaled by a power of two near that entry (exact),
 *   so entries anywhere in the float64 range neither overflow nor underflow, and the eigenvalues
 *   are scaled back at the end; Householder columns are also normalized before their norms.
 * - `inversePthRoot` and `matrixFunctionSym`: `V f(Λ) V^T` built on the same decomposition.
 *
 * All matrices are row-major n×n in flat typed arrays (`Float32Array` or `Float64Array`); all
 * arithmetic is float64 whatever the dtype, and results are rounded once when stored.
 *
 * Performance notes: every hot loop runs over contiguous memory. The Householder reduction
 * keeps the upper triangle (row k holds the k-th reflector, contiguously); the orthogonal
 * factor is accumulated transposed (`zt`, eigenvectors as ROWS), so that each QL plane rotation
 * mixes two contiguous rows; the eigenvectors are transposed into columns once, at the end.
 */
import type { FloatArray } from '../types.js';

const EPS = 2.220446049250313e-16; // 2^-52
/** Off-diagonals below this are negligible outright (the matrix max-abs is >= 2^-400 here). */
const SMALL = 2.2250738585072014e-308 / EPS; // ~1e-292

/** `x * 2^k` for any integer k in [-2200, 2200] without spurious overflow of 2^k itself. */
function mulPow2(x: number, k: number): number {
  while (k > 1000) { x *= 2 ** 1000; k -= 1000; }
  while (k < -1000) { x *= 2 ** -1000; k += 1000; }
  return x * 2 ** k;
}

/** sqrt(a^2 + b^2) without destructive underflow or overflow. */
function pythag(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  if (x > y) { const r = y / x; return x * Math.sqrt(1 + r * r); }
  if (y === 0) return 0;
  const r = x / y;
  return y * Math.sqrt(1 + r * r);
}

// ---------------------------------------------------------------------------------------------
// Cholesky
// ---------------------------------------------------------------------------------------------

/**
 * Cholesky factor of the symmetric positive-definite n×n matrix `a`, reading only its lower
 * triangle (diagonal included): writes lower-triangular `l` with `l l^T = a` and the strict
 * upper part zeroed. Returns false (leaving `l` unspecified) as soon as a pivot is not positive
 * and finite; NaN or ±Inf anywhere in the lower triangle always reaches some pivot, so it also
 * returns false. Computed in float64; `l` may alias `a`.
 */
export function cholesky(n: number, a: FloatArray, l: FloatArray): boolean {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) L[ri + j] = a[ri + j];
  }
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      // s = a_ij - <L_i,0:j, L_j,0:j>, two accumulators to shorten the dependency chain.
      let s0 = L[ri + j];
      let s1 = 0;
      let k = 0;
      for (; k + 1 < j; k += 2) {
        s0 -= L[ri + k] * L[rj + k];
        s1 -= L[ri + k + 1] * L[rj + k + 1];
      }
      if (k < j) s0 -= L[ri + k] * L[rj + k];
      const s = s0 + s1;
      if (j < i) {
        L[ri + j] = s / L[rj + j];
      } else {
        if (!(s > 0) || s === Infinity) return false;
        L[ri + i] = Math.sqrt(s);
      }
    }
  }
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) l[ri + j] = L[ri + j];
    for (let j = i + 1; j < n; j++) l[ri + j] = 0;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Triangular solve
// ---------------------------------------------------------------------------------------------

/**
 * Solve `op(T) X = B` for X: T n×n triangular (`lower`, else upper; only that triangle is read,
 * and with `unitDiagonal` the diagonal is not read either and taken as 1), `op(T) = T^T` when
 * `transpose`; B and X n×m row-major (m may be 0). `x` may alias `b`. Computed in float64.
 * A zero pivot yields ±Inf/NaN in X, as in LAPACK's trsm (no check).
 */
export function solveTriangular(
  n: number, m: number, t: FloatArray, b: FloatArray, x: FloatArray,
  lower: boolean, transpose: boolean, unitDiagonal: boolean,
): void {
  const nm = n * m;
  if (nm === 0) return;
  const X = new Float64Array(nm);
  for (let i = 0; i < nm; i++) X[i] = b[i];
  const T = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) T[i] = t[i];
  // op(T)_{ik} = transpose ? T[k][i] : T[i][k]; op(T) is lower triangular iff lower != transpose.
  const rowStride = transpose ? 1 : n; // step of i in op(T)_{ik}
  const colStride = transpose ? n : 1; // step of k
  if (lower !== transpose) {
    for (let i = 0; i < n; i++) {
      const xi = i * m;
      for (let k = 0; k < i; k++) {
        const tik = T[i * rowStride + k * colStride];
        const xk = k * m;
        for (let j = 0; j < m; j++) X[xi + j] -= tik * X[xk + j];
      }
      if (!unitDiagonal) {
        const d = T[i * n + i];
        for (let j = 0; j < m; j++) X[xi + j] /= d;
      }
    }
  } else {
    for (let i = n - 1; i >= 0; i--) {
      const xi = i * m;
      for (let k = i + 1; k < n; k++) {
        const tik = T[i * rowStride + k * colStride];
        const xk = k * m;
        for (let j = 0; j < m; j++) X[xi + j] -= tik * X[xk + j];
      }
      if (!unitDiagonal) {
        const d = T[i * n + i];
        for (let j = 0; j < m; j++) X[xi + j] /= d;
      }
    }
  }
  for (let i = 0; i < nm; i++) x[i] = X[i];
}

// ---------------------------------------------------------------------------------------------
// Symmetric eigendecomposition
// ---------------------------------------------------------------------------------------------

/** Result of the float64 core: ascending eigenvalues and eigenvectors as ROWS of `vt`. */
interface SymEig {
  w: Float64Array;
  vt: Float64Array;
}

/**
 * Copy `(a + a^T)/2` into a float64 work matrix. When its max-abs entry is outside
 * [2^-400, 2^400], scale it by `2^-expo` with `2^expo` near the max-abs entry (exact scaling),
 * else `expo` = 0. Returns null on non-finite input.
 */
function loadScaled(n: number, a: FloatArray): { S: Float64Array; expo: number; maxAbs: number } | null {
  const S = new Float64Array(n * n);
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const x = a[i * n + j];
      const y = a[j * n + i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) return null;
      const s = 0.5 * x + 0.5 * y; // no overflow near the top of the range
      S[i * n + j] = s;
      S[j * n + i] = s;
      const m = Math.abs(s);
      if (m > maxAbs) maxAbs = m;
    }
  }
  // Like LAPACK's dsyev, scale only when the norm is outside a safe range, so that ordinary
  // matrices are decomposed exactly as given (no entries pushed into the subnormal range).
  if (maxAbs === 0 || (maxAbs > 2 ** -400 && maxAbs < 2 ** 400)) return { S, expo: 0, maxAbs };
  const expo = Math.floor(Math.log2(maxAbs));
  {
    // 2^-expo may itself overflow for subnormal maxAbs; split it.
    let k = -expo;
    while (k !== 0) {
      const step = Math.max(-1000, Math.min(1000, k));
      const f = 2 ** step;
      for (let i = 0; i < n * n; i++) S[i] *= f;
      k -= step;
    }
  }
  return { S, expo, maxAbs };
}

/**
 * Householder reduction of the symmetric matrix in `A` (upper triangle used, destroyed) to
 * tridiagonal `T = Q^T A Q` with diagonal `d` and off-diagonal `e` (`e[i]` couples i and i+1,
 * `e[n-1] = 0`). Row k of `A` keeps reflector k (entries k+1..n-1) and `beta[k]` its factor,
 * `H_k = I - beta_k v_k v_k^T`, `Q = H_0 H_1 ... H_{n-3}`.
 */
function tridiagonalize(
  n: number, A: Float64Array, d: Float64Array, e: Float64Array, beta: Float64Array,
): void {
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const rk = k * n;
    d[k] = A[rk + k];
    // The column below the diagonal is, by symmetry, row k right of the diagonal.
    let sc = 0;
    for (let j = k + 1; j < n; j++) {
      const t = Math.abs(A[rk + j]);
      if (t > sc) sc = t;
    }
    if (sc === 0) {
      e[k] = 0;
      beta[k] = 0;
      continue;
    }
    // Scale the column to max-abs 1 before forming its norm (no under/overflow); the
    // reflector only depends on its direction.
    let sigma = 0;
    for (let j = k + 1; j < n; j++) {
      const u = A[rk + j] / sc;
      A[rk + j] = u;
      sigma += u * u;
    }
    const norm = Math.sqrt(sigma);
    const u1 = A[rk + k + 1];
    const alpha = u1 >= 0 ? -norm : norm; // H x = alpha e_1, sign chosen against cancellation
    const bk = 1 / (norm * (norm + Math.abs(u1))); // 2 / (v^T v) for v = u - alpha e_1
    A[rk + k + 1] = u1 - alpha;
    e[k] = alpha * sc;
    beta[k] = bk;
    // p = beta * A22 v, A22 = rows/cols k+1.. read from the upper triangle.
    for (let j = k + 1; j < n; j++) p[j] = 0;
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const vi = A[rk + i];
      let s = A[ri + i] * vi;
      for (let j = i + 1; j < n; j++) {
        const aij = A[ri + j];
        s += aij * A[rk + j];
        p[j] += aij * vi;
      }
      p[i] += s;
    }
    let vp = 0;
    for (let j = k + 1; j < n; j++) {
      p[j] *= bk;
      vp += A[rk + j] * p[j];
    }
    // q = p - (beta/2)(v.p) v; A22 <- A22 - v q^T - q v^T (= H A22 H).
    const K = 0.5 * bk * vp;
    for (let j = k + 1; j < n; j++) p[j] -= K * A[rk + j];
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const vi = A[rk + i];
      const qi = p[i];
      for (let j = i; j < n; j++) A[ri + j] -= vi * p[j] + qi * A[rk + j];
    }
  }
  if (n >= 2) {
    d[n - 2] = A[(n - 2) * n + n - 2];
    e[n - 2] = A[(n - 2) * n + n - 1];
  }
  d[n - 1] = A[(n - 1) * n + n - 1];
  e[n - 1] = 0;
}

/**
 * Form `Q^T = H_{n-3} ... H_1 H_0` into `zt` by right-multiplying the identity with the
 * reflectors from last to first: at each step only the trailing block is non-trivial. Reflectors
 * are applied two at a time (one read and one write of each row per pair).
 */
function accumulateQt(n: number, A: Float64Array, beta: Float64Array, zt: Float64Array): void {
  zt.fill(0);
  for (let i = 0; i < n; i++) zt[i * n + i] = 1;
  let k = n - 3;
  for (; k >= 1; k -= 2) {
    // M <- M H_k1 H_k0 with k1 = k (first), k0 = k - 1; v1 lives on k1+1.., v0 on k1..
    const k1 = k;
    const b1 = beta[k1];
    const b0 = beta[k1 - 1];
    const r1 = k1 * n;
    const r0 = (k1 - 1) * n;
    let v10 = 0; // v1 . v0
    for (let j = k1 + 1; j < n; j++) v10 += A[r1 + j] * A[r0 + j];
    const v0k = A[r0 + k1];
    for (let i = k1 + 1; i < n; i++) {
      // Row i of M is zero in column k1 before this pair (block structure).
      const ri = i * n;
      let d1 = 0;
      let d0 = 0;
      for (let j = k1 + 1; j < n; j++) {
        const z = zt[ri + j];
        d1 += z * A[r1 + j];
        d0 += z * A[r0 + j];
      }
      const t1 = b1 * d1;
      const t0 = b0 * (d0 - t1 * v10);
      if (t1 === 0 && t0 === 0) continue;
      zt[ri + k1] = -t0 * v0k;
      for (let j = k1 + 1; j < n; j++) zt[ri + j] -= t1 * A[r1 + j] + t0 * A[r0 + j];
    }
    // Row k1 is still e_{k1}; only H_k0 touches it.
    if (b0 !== 0) {
      const t0 = b0 * v0k;
      for (let j = k1; j < n; j++) zt[r1 + j] -= t0 * A[r0 + j];
    }
  }
  if (k === 0 && beta[0] !== 0) {
    const b0 = beta[0];
    for (let i = 1; i < n; i++) {
      const ri = i * n;
      let t = 0;
      for (let j = 1; j < n; j++) t += zt[ri + j] * A[j];
      t *= b0;
      if (t === 0) continue;
      for (let j = 1; j < n; j++) zt[ri + j] -= t * A[j];
    }
  }
}

/**
 * Apply the rotations i = m-1 down to lo, in that order, where rotation i maps rows i, i+1 of zt
 * to `(c z_i - s z_{i+1}, s z_i + c z_{i+1})`. Row i+1 is final once rotation i is done, and the
 * new row i is only an input of rotation i-1, so it is carried in registers: each element is
 * loaded and stored once per sweep instead of twice. Eight columns at a time share the loads of
 * (c, s) and give the CPU independent chains.
 */
function applyRotationSweep(
  n: number, zt: Float64Array, lo: number, m: number, cs: Float64Array, ss: Float64Array,
): void {
  if (lo >= m) return;
  let k = 0;
  for (; k + 7 < n; k += 8) {
    const mb = m * n + k;
    let x0 = zt[mb], x1 = zt[mb + 1], x2 = zt[mb + 2], x3 = zt[mb + 3];
    let x4 = zt[mb + 4], x5 = zt[mb + 5], x6 = zt[mb + 6], x7 = zt[mb + 7];
    for (let i = m - 1; i >= lo; i--) {
      const s = ss[i];
      const c = cs[i];
      const q = i * n + k;
      const o = q + n;
      let z = zt[q]; zt[o] = s * z + c * x0; x0 = c * z - s * x0;
      z = zt[q + 1]; zt[o + 1] = s * z + c * x1; x1 = c * z - s * x1;
      z = zt[q + 2]; zt[o + 2] = s * z + c * x2; x2 = c * z - s * x2;
      z = zt[q + 3]; zt[o + 3] = s * z + c * x3; x3 = c * z - s * x3;
      z = zt[q + 4]; zt[o + 4] = s * z + c * x4; x4 = c * z - s * x4;
      z = zt[q + 5]; zt[o + 5] = s * z + c * x5; x5 = c * z - s * x5;
      z = zt[q + 6]; zt[o + 6] = s * z + c * x6; x6 = c * z - s * x6;
      z = zt[q + 7]; zt[o + 7] = s * z + c * x7; x7 = c * z - s * x7;
    }
    const b = lo * n + k;
    zt[b] = x0; zt[b + 1] = x1; zt[b + 2] = x2; zt[b + 3] = x3;
    zt[b + 4] = x4; zt[b + 5] = x5; zt[b + 6] = x6; zt[b + 7] = x7;
  }
  for (; k < n; k++) {
    let x = zt[m * n + k];
    for (let i = m - 1; i >= lo; i--) {
      const q = i * n + k;
      const z = zt[q];
      zt[q + n] = ss[i] * z + cs[i] * x;
      x = cs[i] * z - ss[i] * x;
    }
    zt[lo * n + k] = x;
  }
}

/**
 * Implicit QL iteration with Wilkinson shifts on the symmetric tridiagonal (d, e), applying every
 * plane rotation to the rows of `zt` (so the eigenvector of `d[i]` ends up as row i). Deflates
 * `e[m]` when it is below EPS times its neighbouring diagonal entries (or negligible outright).
 * Returns false when the total number of QL sweeps exceeds `30 n`.
 */
function tridiagonalQL(n: number, d: Float64Array, e: Float64Array, zt: Float64Array): boolean {
  let budget = 30 * Math.max(n, 1);
  const cs = new Float64Array(n);
  const ss = new Float64Array(n);
  for (let l = 0; l < n; l++) {
    for (;;) {
      // Find the first negligible off-diagonal at or after l: block l..m is unreduced.
      let m = l;
      for (; m < n - 1; m++) {
        const em = Math.abs(e[m]);
        if (em <= EPS * (Math.abs(d[m]) + Math.abs(d[m + 1])) || em <= SMALL) break;
      }
      if (m === l) break; // d[l] has converged
      if (--budget < 0) return false;
      // Wilkinson shift: the eigenvalue of the top 2×2 of the block closer to d[l].
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = pythag(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let restarted = false;
      // Chase the bulge from the bottom of the block up to l with Givens rotations; rotation i
      // (cs[i], ss[i]) mixes rows i and i+1 of zt and is applied after the sweep.
      let i = m - 1;
      for (; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = pythag(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // Underflow: the block split at i+1; undo the pending shift there and start over.
          d[i + 1] -= p;
          e[m] = 0;
          restarted = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        cs[i] = c;
        ss[i] = s;
      }
      applyRotationSweep(n, zt, i + 1, m, cs, ss);
      if (restarted) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return true;
}

/**
 * Cyclic Jacobi on the full symmetric matrix `S` (destroyed), eigenvectors accumulated as rows of
 * `zt`; eigenvalues (unsorted) into `d`. Slow (several O(n^3) sweeps with strided column access)
 * but unconditionally robust: the fallback when QL does not converge, and an independent oracle.
 */
function jacobiCore(n: number, S: Float64Array, d: Float64Array, zt: Float64Array): void {
  zt.fill(0);
  for (let i = 0; i < n; i++) zt[i * n + i] = 1;
  let fro2 = 0;
  for (let i = 0; i < n * n; i++) fro2 += S[i] * S[i];
  const absTol = EPS * EPS * Math.sqrt(fro2);
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = S[p * n + q];
        const app = S[p * n + p];
        const aqq = S[q * n + q];
        const aa = Math.abs(apq);
        if (aa <= absTol || aa <= 1e-3 * EPS * Math.sqrt(Math.abs(app)) * Math.sqrt(Math.abs(aqq))) {
          continue;
        }
        rotated = true;
        // Rotation angle that annihilates S[p][q] (the smaller of the two solutions).
        const theta = (aqq - app) / (2 * apq);
        const at = Math.abs(theta);
        let t = at > 1e150 ? 1 / (2 * at) : 1 / (at + Math.sqrt(theta * theta + 1));
        if (theta < 0) t = -t;
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < n; r++) {
          const rr = r * n;
          const srp = S[rr + p];
          const srq = S[rr + q];
          S[rr + p] = c * srp - s * srq;
          S[rr + q] = s * srp + c * srq;
        }
        const rp = p * n;
        const rq = q * n;
        for (let r = 0; r < n; r++) {
          const spr = S[rp + r];
          const sqr = S[rq + r];
          S[rp + r] = c * spr - s * sqr;
          S[rq + r] = s * spr + c * sqr;
        }
        S[rp + p] = app - t * apq;
        S[rq + q] = aqq + t * apq;
        S[rp + q] = 0;
        S[rq + p] = 0;
        for (let r = 0; r < n; r++) {
          const vp = zt[rp + r];
          const vq = zt[rq + r];
          zt[rp + r] = c * vp - s * vq;
          zt[rq + r] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  for (let i = 0; i < n; i++) d[i] = S[i * n + i];
}

function allFinite(x: Float64Array): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}

/** Sort (d, rows of zt) ascending by d and undo the power-of-two scaling of the eigenvalues. */
function sortAndUnscale(n: number, d: Float64Array, zt: Float64Array, expo: number): SymEig {
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => d[i] - d[j] || i - j);
  const w = new Float64Array(n);
  const vt = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const src = order[j];
    w[j] = mulPow2(d[src], expo);
    vt.set(zt.subarray(src * n, src * n + n), j * n);
  }
  return { w, vt };
}

/**
 * Float64 core of `eigh`: null on non-finite input. `method` forces Jacobi (for tests);
 * otherwise tridiagonal QL with Jacobi as the fallback.
 */
function symEig(n: number, a: FloatArray, method: 'ql' | 'jacobi'): SymEig | null {
  const loaded = loadScaled(n, a);
  if (loaded === null) return null;
  const { S, expo, maxAbs } = loaded;
  const d = new Float64Array(n);
  const zt = new Float64Array(n * n);
  if (maxAbs === 0) {
    for (let i = 0; i < n; i++) zt[i * n + i] = 1;
    return { w: d, vt: zt };
  }
  if (method === 'ql') {
    const A = Float64Array.from(S);
    const e = new Float64Array(n);
    const beta = new Float64Array(n);
    tridiagonalize(n, A, d, e, beta);
    accumulateQt(n, A, beta, zt);
    if (tridiagonalQL(n, d, e, zt) && allFinite(d) && allFinite(zt)) {
      return sortAndUnscale(n, d, zt, expo);
    }
  }
  jacobiCore(n, S, d, zt);
  return sortAndUnscale(n, d, zt, expo);
}

function writeEig(n: number, res: SymEig | null, w: FloatArray, v: FloatArray): void {
  if (res === null) {
    for (let i = 0; i < n; i++) w[i] = NaN;
    for (let i = 0; i < n * n; i++) v[i] = NaN;
    return;
  }
  for (let j = 0; j < n; j++) w[j] = res.w[j];
  const vt = res.vt;
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    for (let i = 0; i < n; i++) v[i * n + j] = vt[rj + i];
  }
}

/**
 * Symmetric eigendecomposition of the n×n matrix `a` (both triangles read, as their average):
 * ascending eigenvalues into `w` (length n) and orthonormal eigenvectors as the COLUMNS of `v`
 * (n×n row-major), as NumPy's `eigh`; the sign of each eigenvector is unspecified. Computed in
 * float64 whatever the dtype. Householder tridiagonalization + implicit QL with Wilkinson shifts
 * (at most 30 n sweeps, then cyclic Jacobi). Non-finite input fills `w` and `v` with NaN.
 * `v` may alias `a` (the input is copied first).
 */
export function eigh(n: number, a: FloatArray, w: FloatArray, v: FloatArray): void {
  writeEig(n, symEig(n, a, 'ql'), w, v);
}

/**
 * Same contract as `eigh`, by cyclic Jacobi rotations only. Slower (O(n^3) per sweep, a handful
 * of sweeps); exported as an independent oracle for tests and as the documented fallback.
 */
export function eighJacobi(n: number, a: FloatArray, w: FloatArray, v: FloatArray): void {
  writeEig(n, symEig(n, a, 'jacobi'), w, v);
}

/** out = V diag(f) V^T from eigenvectors as rows of vt; symmetric by construction. */
function assemble(n: number, vt: Float64Array, f: Float64Array, out: FloatArray): void {
  const acc = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const fk = f[k];
    if (fk === 0) continue;
    const rk = k * n;
    for (let i = 0; i < n; i++) {
      const c = fk * vt[rk + i];
      if (c === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) acc[ri + j] += c * vt[rk + j];
    }
  }
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const x = acc[ri + j];
      out[ri + j] = x;
      out[j * n + i] = x;
    }
    out[ri + i] = acc[ri + i];
  }
}

/**
 * `out = V f(Λ) V^T` for the symmetric n×n `a` (triangles averaged) with eigendecomposition
 * `V Λ V^T`: applies the scalar function `f` to each eigenvalue (in float64). The result is
 * exactly symmetric. Non-finite input fills `out` with NaN; `out` may alias `a`.
 */
export function matrixFunctionSym(
  n: number, a: FloatArray, f: (lambda: number) => number, out: FloatArray,
): void {
  const res = symEig(n, a, 'ql');
  if (res === null) {
    for (let i = 0; i < n * n; i++) out[i] = NaN;
    return;
  }
  const fw = new Float64Array(n);
  for (let k = 0; k < n; k++) fw[k] = f(res.w[k]);
  assemble(n, res.vt, fw, out);
}

/**
 * Below this magnitude the largest eigenvalue no longer sets the floor of `inversePthRoot`
 * (so that the zero matrix gives `(eps * INVERSE_ROOT_TINY)^(-1/p) I`, finite in float64).
 */
export const INVERSE_ROOT_TINY = 1e-30;

/**
 * Inverse p-th root `A^{-1/p}` of the symmetric positive semi-definite n×n matrix `a` (triangles
 * averaged), p > 0 (typically 1, 2 or 4 for Shampoo), via `eigh`:
 * `out = V diag(max(λ_i, floor)^(-1/p)) V^T` with the RELATIVE floor
 * `floor = eps * max(max_i |λ_i|, INVERSE_ROOT_TINY)`. Eigenvalues below the floor (zero, or
 * slightly negative from rounding) are raised to it, so rank-deficient input gives finite output
 * when eps > 0 (its null space is mapped with the gain `floor^(-1/p)`), and the result scales
 * exactly as `(cA)^{-1/p} = c^{-1/p} A^{-1/p}`. With eps = 0 a singular input gives ±Inf.
 * Non-finite input fills `out` with NaN; `out` may alias `a`. Throws a RangeError for p <= 0 or
 * eps < 0 (or NaN).
 */
export function inversePthRoot(n: number, a: FloatArray, p: number, out: FloatArray, eps: number): void {
  if (!(p > 0) || !Number.isFinite(p)) throw new RangeError(`inversePthRoot: p must be a positive number, got ${p}`);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`inversePthRoot: eps must be >= 0, got ${eps}`);
  const res = symEig(n, a, 'ql');
  if (res === null) {
    for (let i = 0; i < n * n; i++) out[i] = NaN;
    return;
  }
  let top = 0;
  for (let k = 0; k < n; k++) top = Math.max(top, Math.abs(res.w[k]));
  const floor = eps * Math.max(top, INVERSE_ROOT_TINY);
  const fw = new Float64Array(n);
  const e = -1 / p;
  for (let k = 0; k < n; k++) {
    const lam = Math.max(res.w[k], floor);
    fw[k] = p === 1 ? 1 / lam : p === 2 ? 1 / Math.sqrt(lam) : Math.pow(lam, e);
  }
  assemble(n, res.vt, fw, out);
}

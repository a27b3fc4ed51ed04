/**
 * The inverse of a symmetric positive definite Kronecker factor through its Cholesky factor,
 * blocked so that nearly all the work is GEMM: for M = [M11 M12; M21 M22] split in halves,
 *
 *   L11 = chol(M11),  L21 = M21 L11⁻ᵀ,  L22 = chol(M22 − L21 L21ᵀ),
 *   L⁻¹ = [L11⁻¹ 0; −L22⁻¹ L21 L11⁻¹  L22⁻¹],   M⁻¹ = L⁻ᵀ L⁻¹,
 *
 * recursing until blocks of at most `BASE` rows, factored by the kernel's Cholesky and inverted
 * by substitution. About (1/3 + 1/3 + 1)·n³ flops, all but O(BASE²·n) of them in GEMMs: a
 * 1001×1001 factor in tens of milliseconds where the unblocked factorization and an n-column
 * triangular solve took seconds (K-FAC refreshes every layer's two factors this way).
 */
import { kernels } from '../kernels/index.js';
import { Tensor, allocate, allocateUninit, type FloatArray } from '../tensor/tensor.js';

const BASE = 64;

/**
 * Scratch buffers from the engine's pool, handed back when the inverse is done: fresh arrays
 * of a 1001² factor cost ~3 ms/MiB of first-touch page faults here, which was most of the time
 * of a refresh.
 */
class Scratch {
  private readonly held: Tensor[] = [];
  constructor(private readonly dtype: 'float32' | 'float64') {}
  take(size: number, zero: boolean): FloatArray {
    const t = new Tensor(zero ? allocate(this.dtype, size) : allocateUninit(this.dtype, size), [size]);
    this.held.push(t);
    return t.data;
  }
  release(): void {
    for (const t of this.held) t.dispose();
    this.held.length = 0;
  }
}

/**
 * Factor the diagonal block at (off, off) of size n of `w` (row stride ld) in place: its lower
 * triangle becomes L; the same block of `v` becomes L⁻¹. False when the block is not positive
 * definite (in this precision).
 */
function factorBlock(w: FloatArray, v: FloatArray, ld: number, off: number, n: number, scratch: Scratch): boolean {
  const k = kernels();
  if (n <= BASE) {
    const blk = scratch.take(n * n, true);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) blk[i * n + j] = w[(off + i) * ld + off + j];
    const l = scratch.take(n * n, true);
    if (!k.cholesky(n, blk, l)) return false;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[(off + i) * ld + off + j] = j <= i ? l[i * n + j] : 0;
    // L⁻¹ column by column: forward substitution on the unit vectors.
    for (let c = 0; c < n; c++) {
      for (let i = c; i < n; i++) {
        let s = i === c ? 1 : 0;
        for (let j = c; j < i; j++) s -= l[i * n + j] * v[(off + j) * ld + off + c];
        v[(off + i) * ld + off + c] = s / l[i * n + i];
      }
    }
    return true;
  }
  const h = Math.ceil(n / 2 / 16) * 16;
  const r = n - h;
  if (!factorBlock(w, v, ld, off, h, scratch)) return false;
  const a21 = scratch.take(r * h, false);
  for (let i = 0; i < r; i++) for (let j = 0; j < h; j++) a21[i * h + j] = w[(off + h + i) * ld + off + j];
  const at = (row: number, col: number) => row * ld + col;
  // L21 = M21 L11⁻ᵀ, written over M21.
  k.gemm(false, true, r, h, h, 1, a21, h, 0, v.subarray(at(off, off)), ld, 0, 0, w.subarray(at(off + h, off)), ld, 0, 1);
  // M22 − L21 L21ᵀ, over M22.
  k.gemm(false, true, r, r, h, -1, w.subarray(at(off + h, off)), ld, 0, w.subarray(at(off + h, off)), ld, 0, 1, w.subarray(at(off + h, off + h)), ld, 0, 1);
  if (!factorBlock(w, v, ld, off + h, r, scratch)) return false;
  // (L⁻¹)21 = −L22⁻¹ (L21 L11⁻¹).
  const t = scratch.take(r * h, false);
  k.gemm(false, false, r, h, h, 1, w.subarray(at(off + h, off)), ld, 0, v.subarray(at(off, off)), ld, 0, 0, t, h, 0, 1);
  k.gemm(false, false, r, h, r, -1, v.subarray(at(off + h, off + h)), ld, 0, t, h, 0, 0, v.subarray(at(off + h, off)), ld, 0, 1);
  return true;
}

/** M⁻¹ for a symmetric positive definite `m` (its lower triangle is read), or null when it is not positive definite in its precision. */
export function spdInverse(m: Tensor): Tensor | null {
  const n = m.shape[0];
  const scratch = new Scratch(m.dtype);
  try {
    const w = scratch.take(n * n, false);
    w.set(m.data.subarray(0, n * n));
    const v = scratch.take(n * n, true); // its strict upper triangle stays zero: the final GEMM reads it
    if (!factorBlock(w, v, n, 0, n, scratch)) return null;
    const out = allocateUninit(m.dtype, n * n);
    kernels().gemm(true, false, n, n, n, 1, v, n, 0, v, n, 0, 0, out, n, 0, 1);
    return new Tensor(out, [n, n]);
  } finally {
    scratch.release();
  }
}

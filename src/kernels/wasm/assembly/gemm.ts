// GEMM for the wasm backend: C = alpha * op(A) * op(B) + beta * C, row-major, f32 and f64,
// batched with element strides. All pointers are byte addresses in this module's memory; the
// JS side copies the operands in, passes a scratch region for the packed panels, and copies C out.
//
// Structure (GotoBLAS/BLIS): loop over NC-wide column blocks of C; over KC-deep slices of k,
// packing op(B)[kc x nc] into NR-wide micro-panels; over MC-tall row blocks, packing
// op(A)[mc x kc] into MR-tall micro-panels; then an MR x NR register-blocked micro-kernel.
// Packing pads the edges with zeros, so the micro-kernel always runs the full tile; partial
// tiles are staged in TILE and written back element by element.
//
// Micro-kernel shape (measured with V8 on x86-64, where wasm SIMD gets xmm0-xmm14): V8 issues
// every load of one k-step before the arithmetic, so loads + accumulators + 1 product temp
// must fit in 15 registers. 4x8 (f32) / 4x4 (f64) is 2 B loads + 4 A loads + 8 accumulators
// + 1 = 15; wider tiles (5x8, 6x8, 4x12, 3x16) spill and run at half speed, and unrolling k
// spills for the same reason. Without FMA in wasm SIMD128, each step is 8 mul + 8 add, which
// saturates the 2 FMUL + 2 FADD pipes; broadcast loads (v128.load32_splat) would also take an
// FP-pipe slot, so packA stores every element of A already broadcast to a v128.
//
// The micro-kernels below are plain unrolled code (one accumulator per local).
//
// Cache blocking (Zen 5: 48 KB L1d, 1 MB L2): KC = 256 keeps one pre-broadcast A micro-panel
// (16 KB) and one B micro-panel (8 KB) in L1; MC = 64 keeps the packed A block (256 KB) in L2;
// the packed B panel (KC x NC) streams from L2/L3. Sweeping KC 128..512 and MC 32..120 moved
// f32 GEMM by less than the run-to-run noise (~±2 GFLOP/s).

const KC: i32 = 256;
const MC: i32 = 64; // multiple of MR32 and MR64
const NC: i32 = 4096; // multiple of NR32 and NR64

const MR32: i32 = 4;
const NR32: i32 = 8;
const MR64: i32 = 4;
const NR64: i32 = 4;

/** Staging area for partial tiles (max MR*NR elements of 8 bytes). */
const TILE: usize = memory.data(1024, 64);

@inline function imin(a: i32, b: i32): i32 { return a < b ? a : b; }
@inline function roundUp(x: i32, m: i32): i32 { return ((x + m - 1) / m) * m; }
@inline function align64(x: usize): usize { return (x + 63) & ~(<usize>63); }

/** Bytes of scratch `gemm_*` needs for these sizes (packed A block + packed B panel). */
export function gemmScratchBytes(m: i32, n: i32, k: i32, esize: i32): usize {
  const mr = esize == 4 ? MR32 : MR64;
  const nr = esize == 4 ? NR32 : NR64;
  const kc = <usize>imin(k, KC);
  const a = <usize>roundUp(imin(m, MC), mr) * kc * 16;
  const b = <usize>roundUp(imin(n, NC), nr) * kc * <usize>esize;
  const v = align64(<usize>k * <usize>esize) + align64(<usize>(m > n ? m : n) * <usize>esize); // gemv x, y
  return align64(a) + align64(b) + v + 64;
}

/** Write the staged partial tile back: C[r][j] = TILE[r][j] (already * alpha) + beta * C[r][j]. */
function storeEdge<T>(c: usize, ldc: usize, beta: T, mr: i32, nr: i32, NR: i32): void {
  const es = <usize>sizeof<T>();
  for (let r = 0; r < mr; r++) {
    const t = TILE + <usize>(r * NR) * es;
    const cr = c + <usize>r * ldc;
    if (beta == 0) {
      for (let j = 0; j < nr; j++) store<T>(cr + <usize>j * es, load<T>(t + <usize>j * es));
    } else {
      for (let j = 0; j < nr; j++) {
        const q = cr + <usize>j * es;
        store<T>(q, load<T>(t + <usize>j * es) + beta * load<T>(q));
      }
    }
  }
}

@inline function splatStore<T>(q: usize, v: T): void {
  if (sizeof<T>() == 4) v128.store(q, f32x4.splat(<f32>v));
  else v128.store(q, f64x2.splat(<f64>v));
}

/**
 * Pack rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-row micro-panels, each element
 * already broadcast to a full v128 (dst[panel][p][r] is 16 bytes), zero-padded to MR rows.
 * Pre-broadcasting trades 4x (f32) / 2x (f64) packed size for plain vector loads in the
 * micro-kernel: a broadcast load costs an FP-pipe slot on x86, which is the bottleneck.
 */
function packA<T>(tA: bool, a: usize, lda: usize, i0: i32, p0: i32, mc: i32, kc: i32, dst: usize, MR: i32): void {
  const es = <usize>sizeof<T>();
  const step = <usize>MR * 16;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = imin(MR, mc - ir);
    const d = dst + <usize>ir * <usize>kc * 16;
    if (!tA) {
      // op(A)(i, p) = A[i*lda + p]: read each row contiguously, scatter with stride MR
      for (let r = 0; r < mr; r++) {
        const src = a + (<usize>(i0 + ir + r) * lda + <usize>p0) * es;
        let q = d + <usize>r * 16;
        for (let p = 0; p < kc; p++) {
          splatStore<T>(q, load<T>(src + <usize>p * es));
          q += step;
        }
      }
      for (let r = mr; r < MR; r++) {
        let q = d + <usize>r * 16;
        for (let p = 0; p < kc; p++) {
          v128.store(q, i32x4.splat(0));
          q += step;
        }
      }
    } else {
      // op(A)(i, p) = A[p*lda + i]: MR consecutive elements per p
      for (let p = 0; p < kc; p++) {
        const src = a + (<usize>(p0 + p) * lda + <usize>(i0 + ir)) * es;
        const q = d + <usize>p * step;
        for (let r = 0; r < mr; r++) splatStore<T>(q + <usize>r * 16, load<T>(src + <usize>r * es));
        for (let r = mr; r < MR; r++) v128.store(q + <usize>r * 16, i32x4.splat(0));
      }
    }
  }
}

/**
 * Pack rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into NR-column micro-panels:
 * dst[panel][p][j], zero-padded to a multiple of NR columns.
 */
function packB<T>(tB: bool, b: usize, ldb: usize, p0: i32, j0: i32, kc: i32, nc: i32, dst: usize, NR: i32): void {
  const es = <usize>sizeof<T>();
  const rowBytes = <usize>NR * es;
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = imin(NR, nc - jr);
    const d = dst + <usize>jr * <usize>kc * es;
    if (!tB) {
      // op(B)(p, j) = B[p*ldb + j]: NR consecutive elements per p
      let src = b + (<usize>p0 * ldb + <usize>(j0 + jr)) * es;
      let q = d;
      if (nr == NR) {
        for (let p = 0; p < kc; p++) {
          for (let o: usize = 0; o < rowBytes; o += 16) v128.store(q + o, v128.load(src + o));
          src += ldb * es;
          q += rowBytes;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let j = 0; j < nr; j++) store<T>(q + <usize>j * es, load<T>(src + <usize>j * es));
          for (let j = nr; j < NR; j++) store<T>(q + <usize>j * es, 0);
          src += ldb * es;
          q += rowBytes;
        }
      }
    } else {
      // op(B)(p, j) = B[j*ldb + p]: read each stored row contiguously, scatter with stride NR
      for (let j = 0; j < nr; j++) {
        const src = b + (<usize>(j0 + jr + j) * ldb + <usize>p0) * es;
        let q = d + <usize>j * es;
        for (let p = 0; p < kc; p++) {
          store<T>(q, load<T>(src + <usize>p * es));
          q += rowBytes;
        }
      }
      for (let j = nr; j < NR; j++) {
        let q = d + <usize>j * es;
        for (let p = 0; p < kc; p++) {
          store<T>(q, 0);
          q += rowBytes;
        }
      }
    }
  }
}

/** C = beta * C (k == 0); beta == 0 writes zeros without reading C. */
function scaleC<T>(m: i32, n: i32, beta: T, c: usize, ldc: usize): void {
  const es = <usize>sizeof<T>();
  for (let i = 0; i < m; i++) {
    const cr = c + <usize>i * ldc;
    if (beta == 0) memory.fill(cr, 0, <usize>n * es);
    else for (let j = 0; j < n; j++) store<T>(cr + <usize>j * es, beta * load<T>(cr + <usize>j * es));
  }
}

// 4x8 f32 micro-kernel: 8 accumulators of f32x4
function kern32(kc: i32, pa: usize, pb: usize, c: usize, ldc: usize, alpha: f32, beta: f32, mr: i32, nr: i32): void {
  let c0_0 = f32x4.splat(0);
  let c0_1 = f32x4.splat(0);
  let c1_0 = f32x4.splat(0);
  let c1_1 = f32x4.splat(0);
  let c2_0 = f32x4.splat(0);
  let c2_1 = f32x4.splat(0);
  let c3_0 = f32x4.splat(0);
  let c3_1 = f32x4.splat(0);
  let p = 0;
  for (; p < kc; p++) {
    const b0_0 = v128.load(pb, 0);
    const b1_0 = v128.load(pb, 16);
    const a0_0 = v128.load(pa, 0);
    c0_0 = f32x4.add(c0_0, f32x4.mul(a0_0, b0_0));
    c0_1 = f32x4.add(c0_1, f32x4.mul(a0_0, b1_0));
    const a1_0 = v128.load(pa, 16);
    c1_0 = f32x4.add(c1_0, f32x4.mul(a1_0, b0_0));
    c1_1 = f32x4.add(c1_1, f32x4.mul(a1_0, b1_0));
    const a2_0 = v128.load(pa, 32);
    c2_0 = f32x4.add(c2_0, f32x4.mul(a2_0, b0_0));
    c2_1 = f32x4.add(c2_1, f32x4.mul(a2_0, b1_0));
    const a3_0 = v128.load(pa, 48);
    c3_0 = f32x4.add(c3_0, f32x4.mul(a3_0, b0_0));
    c3_1 = f32x4.add(c3_1, f32x4.mul(a3_0, b1_0));
    pa += 64; pb += 32;
  }
  const va = f32x4.splat(alpha);
  if (mr == 4 && nr == 8) {
    if (beta == 0) {
      v128.store(c, f32x4.mul(va, c0_0), 0);
      v128.store(c, f32x4.mul(va, c0_1), 16);
      c += ldc;
      v128.store(c, f32x4.mul(va, c1_0), 0);
      v128.store(c, f32x4.mul(va, c1_1), 16);
      c += ldc;
      v128.store(c, f32x4.mul(va, c2_0), 0);
      v128.store(c, f32x4.mul(va, c2_1), 16);
      c += ldc;
      v128.store(c, f32x4.mul(va, c3_0), 0);
      v128.store(c, f32x4.mul(va, c3_1), 16);
    } else {
      const vb = f32x4.splat(beta);
      v128.store(c, f32x4.add(f32x4.mul(va, c0_0), f32x4.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f32x4.add(f32x4.mul(va, c0_1), f32x4.mul(vb, v128.load(c, 16))), 16);
      c += ldc;
      v128.store(c, f32x4.add(f32x4.mul(va, c1_0), f32x4.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f32x4.add(f32x4.mul(va, c1_1), f32x4.mul(vb, v128.load(c, 16))), 16);
      c += ldc;
      v128.store(c, f32x4.add(f32x4.mul(va, c2_0), f32x4.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f32x4.add(f32x4.mul(va, c2_1), f32x4.mul(vb, v128.load(c, 16))), 16);
      c += ldc;
      v128.store(c, f32x4.add(f32x4.mul(va, c3_0), f32x4.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f32x4.add(f32x4.mul(va, c3_1), f32x4.mul(vb, v128.load(c, 16))), 16);
    }
  } else {
    v128.store(TILE, f32x4.mul(va, c0_0), 0);
    v128.store(TILE, f32x4.mul(va, c0_1), 16);
    v128.store(TILE, f32x4.mul(va, c1_0), 32);
    v128.store(TILE, f32x4.mul(va, c1_1), 48);
    v128.store(TILE, f32x4.mul(va, c2_0), 64);
    v128.store(TILE, f32x4.mul(va, c2_1), 80);
    v128.store(TILE, f32x4.mul(va, c3_0), 96);
    v128.store(TILE, f32x4.mul(va, c3_1), 112);
    storeEdge<f32>(c, ldc, beta, mr, nr, 8);
  }
}

// 4x4 f64 micro-kernel: 8 accumulators of f64x2
function kern64(kc: i32, pa: usize, pb: usize, c: usize, ldc: usize, alpha: f64, beta: f64, mr: i32, nr: i32): void {
  let c0_0 = f64x2.splat(0);
  let c0_1 = f64x2.splat(0);
  let c1_0 = f64x2.splat(0);
  let c1_1 = f64x2.splat(0);
  let c2_0 = f64x2.splat(0);
  let c2_1 = f64x2.splat(0);
  let c3_0 = f64x2.splat(0);
  let c3_1 = f64x2.splat(0);
  let p = 0;
  for (; p < kc; p++) {
    const b0_0 = v128.load(pb, 0);
    const b1_0 = v128.load(pb, 16);
    const a0_0 = v128.load(pa, 0);
    c0_0 = f64x2.add(c0_0, f64x2.mul(a0_0, b0_0));
    c0_1 = f64x2.add(c0_1, f64x2.mul(a0_0, b1_0));
    const a1_0 = v128.load(pa, 16);
    c1_0 = f64x2.add(c1_0, f64x2.mul(a1_0, b0_0));
    c1_1 = f64x2.add(c1_1, f64x2.mul(a1_0, b1_0));
    const a2_0 = v128.load(pa, 32);
    c2_0 = f64x2.add(c2_0, f64x2.mul(a2_0, b0_0));
    c2_1 = f64x2.add(c2_1, f64x2.mul(a2_0, b1_0));
    const a3_0 = v128.load(pa, 48);
    c3_0 = f64x2.add(c3_0, f64x2.mul(a3_0, b0_0));
    c3_1 = f64x2.add(c3_1, f64x2.mul(a3_0, b1_0));
    pa += 64; pb += 32;
  }
  const va = f64x2.splat(alpha);
  if (mr == 4 && nr == 4) {
    if (beta == 0) {
      v128.store(c, f64x2.mul(va, c0_0), 0);
      v128.store(c, f64x2.mul(va, c0_1), 16);
      c += ldc;
      v128.store(c, f64x2.mul(va, c1_0), 0);
      v128.store(c, f64x2.mul(va, c1_1), 16);
      c += ldc;
      v128.store(c, f64x2.mul(va, c2_0), 0);
      v128.store(c, f64x2.mul(va, c2_1), 16);
      c += ldc;
      v128.store(c, f64x2.mul(va, c3_0), 0);
      v128.store(c, f64x2.mul(va, c3_1), 16);
    } else {
      const vb = f64x2.splat(beta);
      v128.store(c, f64x2.add(f64x2.mul(va, c0_0), f64x2.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f64x2.add(f64x2.mul(va, c0_1), f64x2.mul(vb, v128.load(c, 16))), 16);
      c += ldc;
      v128.store(c, f64x2.add(f64x2.mul(va, c1_0), f64x2.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f64x2.add(f64x2.mul(va, c1_1), f64x2.mul(vb, v128.load(c, 16))), 16);
      c += ldc;
      v128.store(c, f64x2.add(f64x2.mul(va, c2_0), f64x2.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f64x2.add(f64x2.mul(va, c2_1), f64x2.mul(vb, v128.load(c, 16))), 16);
      c += ldc;
      v128.store(c, f64x2.add(f64x2.mul(va, c3_0), f64x2.mul(vb, v128.load(c, 0))), 0);
      v128.store(c, f64x2.add(f64x2.mul(va, c3_1), f64x2.mul(vb, v128.load(c, 16))), 16);
    }
  } else {
    v128.store(TILE, f64x2.mul(va, c0_0), 0);
    v128.store(TILE, f64x2.mul(va, c0_1), 16);
    v128.store(TILE, f64x2.mul(va, c1_0), 32);
    v128.store(TILE, f64x2.mul(va, c1_1), 48);
    v128.store(TILE, f64x2.mul(va, c2_0), 64);
    v128.store(TILE, f64x2.mul(va, c2_1), 80);
    v128.store(TILE, f64x2.mul(va, c3_0), 96);
    v128.store(TILE, f64x2.mul(va, c3_1), 112);
    storeEdge<f64>(c, ldc, beta, mr, nr, 4);
  }
}


// ---- matrix-vector products (m == 1 or n == 1): no packing, no padding to MR/NR ----

/** y[i] = sum_p M[i*ld + p] * x[p] for i < rows (rows of M contiguous; dots). */
function gemvRows<T>(rows: i32, cols: i32, mat: usize, ld: usize, x: usize, y: usize): void {
  const es = <usize>sizeof<T>();
  const L = 16 / <i32>es;
  for (let i = 0; i < rows; i++) {
    const r = mat + <usize>i * ld * es;
    let s0 = v128.splat<i32>(0);
    let s1 = v128.splat<i32>(0);
    let p = 0;
    for (; p + 2 * L <= cols; p += 2 * L) {
      const o = <usize>p * es;
      if (sizeof<T>() == 4) {
        s0 = f32x4.add(s0, f32x4.mul(v128.load(r + o), v128.load(x + o)));
        s1 = f32x4.add(s1, f32x4.mul(v128.load(r + o, 16), v128.load(x + o, 16)));
      } else {
        s0 = f64x2.add(s0, f64x2.mul(v128.load(r + o), v128.load(x + o)));
        s1 = f64x2.add(s1, f64x2.mul(v128.load(r + o, 16), v128.load(x + o, 16)));
      }
    }
    let s: T;
    if (sizeof<T>() == 4) {
      const v = f32x4.add(s0, s1);
      s = <T>(f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
    } else {
      const v = f64x2.add(s0, s1);
      s = <T>(f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1));
    }
    for (; p < cols; p++) s += load<T>(r + <usize>p * es) * load<T>(x + <usize>p * es);
    store<T>(y + <usize>i * es, s);
  }
}

/** y[j] = sum_p x[p] * M[p*ld + j] for j < cols (axpy over rows of M, four rows at a time). */
function gemvCols<T>(rows: i32, cols: i32, mat: usize, ld: usize, x: usize, y: usize): void {
  const es = <usize>sizeof<T>();
  const L = 16 / <i32>es;
  memory.fill(y, 0, <usize>cols * es);
  const rb = ld * es;
  let p = 0;
  for (; p + 4 <= rows; p += 4) {
    const r0 = mat + <usize>p * rb;
    const x0 = load<T>(x + <usize>p * es);
    const x1 = load<T>(x + <usize>(p + 1) * es);
    const x2 = load<T>(x + <usize>(p + 2) * es);
    const x3 = load<T>(x + <usize>(p + 3) * es);
    let j = 0;
    if (sizeof<T>() == 4) {
      const v0 = f32x4.splat(<f32>x0); const v1 = f32x4.splat(<f32>x1);
      const v2 = f32x4.splat(<f32>x2); const v3 = f32x4.splat(<f32>x3);
      for (; j + L <= cols; j += L) {
        const o = <usize>j * es;
        const acc = f32x4.add(
          f32x4.add(f32x4.mul(v0, v128.load(r0 + o)), f32x4.mul(v1, v128.load(r0 + rb + o))),
          f32x4.add(f32x4.mul(v2, v128.load(r0 + 2 * rb + o)), f32x4.mul(v3, v128.load(r0 + 3 * rb + o))));
        v128.store(y + o, f32x4.add(v128.load(y + o), acc));
      }
    } else {
      const v0 = f64x2.splat(<f64>x0); const v1 = f64x2.splat(<f64>x1);
      const v2 = f64x2.splat(<f64>x2); const v3 = f64x2.splat(<f64>x3);
      for (; j + L <= cols; j += L) {
        const o = <usize>j * es;
        const acc = f64x2.add(
          f64x2.add(f64x2.mul(v0, v128.load(r0 + o)), f64x2.mul(v1, v128.load(r0 + rb + o))),
          f64x2.add(f64x2.mul(v2, v128.load(r0 + 2 * rb + o)), f64x2.mul(v3, v128.load(r0 + 3 * rb + o))));
        v128.store(y + o, f64x2.add(v128.load(y + o), acc));
      }
    }
    for (; j < cols; j++) {
      const o = <usize>j * es;
      store<T>(y + o, load<T>(y + o) + (x0 * load<T>(r0 + o) + x1 * load<T>(r0 + rb + o))
        + (x2 * load<T>(r0 + 2 * rb + o) + x3 * load<T>(r0 + 3 * rb + o)));
    }
  }
  for (; p < rows; p++) {
    const r = mat + <usize>p * rb;
    const xp = load<T>(x + <usize>p * es);
    for (let j = 0; j < cols; j++) {
      const o = <usize>j * es;
      store<T>(y + o, load<T>(y + o) + xp * load<T>(r + o));
    }
  }
}

/** Gather v[p] = src[p * step] for p < len into contiguous dst. */
function gather<T>(src: usize, step: usize, len: i32, dst: usize): void {
  const es = <usize>sizeof<T>();
  if (step == 1) { memory.copy(dst, src, <usize>len * es); return; }
  for (let p = 0; p < len; p++) store<T>(dst + <usize>p * es, load<T>(src + <usize>p * step * es));
}

/** C[i * cstep] = alpha * y[i] + beta * C[i * cstep] (beta == 0: C not read). */
function writeVec<T>(y: usize, len: i32, alpha: T, beta: T, c: usize, cstep: usize): void {
  const es = <usize>sizeof<T>();
  for (let i = 0; i < len; i++) {
    const q = c + <usize>i * cstep * es;
    const v = alpha * load<T>(y + <usize>i * es);
    store<T>(q, beta == 0 ? v : v + beta * load<T>(q));
  }
}

/** m == 1 or n == 1 (k >= 1): C = alpha * op(A) op(B) + beta C without packing. */
function gemv1<T>(
  tA: bool, tB: bool, m: i32, n: i32, k: i32, alpha: T, a: usize, lda: usize,
  b: usize, ldb: usize, beta: T, c: usize, ldc: usize, scratch: usize,
): void {
  const es = <usize>sizeof<T>();
  const x = align64(scratch);
  const y = align64(x + <usize>k * es);
  if (n == 1) {
    // x = op(B)[:, 0]; y = op(A) x; C[:, 0] has stride ldc
    gather<T>(b, tB ? 1 : ldb, k, x);
    if (!tA) gemvRows<T>(m, k, a, lda, x, y); // op(A) rows are rows of A
    else gemvCols<T>(k, m, a, lda, x, y);     // A is k x m: y = sum_p x[p] A[p, :]
    writeVec<T>(y, m, alpha, beta, c, ldc);
  } else {
    // m == 1: x = op(A)[0, :]; y = x op(B); C[0, :] contiguous
    gather<T>(a, tA ? lda : 1, k, x);
    if (!tB) gemvCols<T>(k, n, b, ldb, x, y); // B is k x n
    else gemvRows<T>(n, k, b, ldb, x, y);     // B is n x k: y[j] = dot(B[j, :], x)
    writeVec<T>(y, n, alpha, beta, c, 1);
  }
}

function gemm1<T>(
  tA: bool, tB: bool, m: i32, n: i32, k: i32, alpha: T, a: usize, lda: usize,
  b: usize, ldb: usize, beta: T, c: usize, ldc: usize, scratch: usize,
): void {
  const es = <usize>sizeof<T>();
  const MR = sizeof<T>() == 4 ? MR32 : MR64;
  const NR = sizeof<T>() == 4 ? NR32 : NR64;
  if (k == 0) { scaleC<T>(m, n, beta, c, ldc * es); return; }
  if (m == 1 || n == 1) { gemv1<T>(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch); return; }
  const pA = align64(scratch);
  const pB = align64(pA + <usize>roundUp(imin(m, MC), MR) * <usize>imin(k, KC) * 16);
  const ldcB = ldc * es;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = imin(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = imin(KC, k - pc);
      packB<T>(tB, b, ldb, pc, jc, kc, nc, pB, NR);
      const betaE: T = pc == 0 ? beta : <T>1;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = imin(MC, m - ic);
        packA<T>(tA, a, lda, ic, pc, mc, kc, pA, MR);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = imin(NR, nc - jr);
          const pb = pB + <usize>jr * <usize>kc * es;
          let cp = c + (<usize>ic * ldc + <usize>(jc + jr)) * es;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = imin(MR, mc - ir);
            const pa = pA + <usize>ir * <usize>kc * 16;
            if (sizeof<T>() == 4) kern32(kc, pa, pb, cp, ldcB, <f32>alpha, <f32>betaE, mr, nr);
            else kern64(kc, pa, pb, cp, ldcB, <f64>alpha, <f64>betaE, mr, nr);
            cp += <usize>MR * ldcB;
          }
        }
      }
    }
  }
}

function gemmBatch<T>(
  tA: i32, tB: i32, m: i32, n: i32, k: i32, alpha: T, a: usize, lda: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, beta: T, c: usize, ldc: i32, strideC: i32,
  batch: i32, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  const es = <usize>sizeof<T>();
  for (let q = 0; q < batch; q++) {
    gemm1<T>(
      tA != 0, tB != 0, m, n, k, alpha,
      a + <usize>q * <usize>strideA * es, <usize>lda,
      b + <usize>q * <usize>strideB * es, <usize>ldb,
      beta, c + <usize>q * <usize>strideC * es, <usize>ldc, scratch,
    );
  }
}

export function gemm_f32(
  tA: i32, tB: i32, m: i32, n: i32, k: i32, alpha: f64, a: usize, lda: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, beta: f64, c: usize, ldc: i32, strideC: i32,
  batch: i32, scratch: usize,
): void {
  gemmBatch<f32>(tA, tB, m, n, k, <f32>alpha, a, lda, strideA, b, ldb, strideB, <f32>beta, c, ldc, strideC, batch, scratch);
}

export function gemm_f64(
  tA: i32, tB: i32, m: i32, n: i32, k: i32, alpha: f64, a: usize, lda: i32, strideA: i32,
  b: usize, ldb: i32, strideB: i32, beta: f64, c: usize, ldc: i32, strideC: i32,
  batch: i32, scratch: usize,
): void {
  gemmBatch<f64>(tA, tB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch, scratch);
}

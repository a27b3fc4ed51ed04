// im2col / col2im for one NCHW image (see src/kernels/types.ts). Pointers are byte addresses.
// The valid output-column range of each kernel tap is computed once per (c, i, j), so the
// inner loop is a straight copy (memory.copy when strideW == 1) with zero fill at the edges.

@inline function ceilDiv(a: i32, b: i32): i32 {
  // b > 0
  return a <= 0 ? -((-a) / b) : (a + b - 1) / b;
}
@inline function clamp(x: i32, lo: i32, hi: i32): i32 { return x < lo ? lo : x > hi ? hi : x; }

function im2colT<T>(
  x: usize, C: i32, H: i32, W: i32, kh: i32, kw: i32, sH: i32, sW: i32, pH: i32, pW: i32,
  dH: i32, dW: i32, outH: i32, outW: i32, cols: usize,
): void {
  const es = <usize>sizeof<T>();
  const L = <usize>outH * <usize>outW;
  const rowBytes = <usize>outW * es;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = cols + <usize>((c * kh + i) * kw + j) * L * es;
        const off = j * dW - pW; // xx = ox*sW + off
        const ox0 = clamp(ceilDiv(-off, sW), 0, outW);
        const ox1 = clamp(ceilDiv(W - off, sW), ox0, outW);
        for (let oy = 0; oy < outH; oy++) {
          const y = oy * sH - pH + i * dH;
          const dst = row + <usize>oy * rowBytes;
          if (y < 0 || y >= H) {
            memory.fill(dst, 0, rowBytes);
            continue;
          }
          if (ox0 > 0) memory.fill(dst, 0, <usize>ox0 * es);
          if (ox1 < outW) memory.fill(dst + <usize>ox1 * es, 0, <usize>(outW - ox1) * es);
          const src = x + (<usize>(c * H + y) * <usize>W + <usize>(ox0 * sW + off)) * es;
          const d = dst + <usize>ox0 * es;
          const cnt = ox1 - ox0;
          if (sW == 1) {
            memory.copy(d, src, <usize>cnt * es);
          } else {
            const sstep = <usize>sW * es;
            for (let t = 0; t < cnt; t++) store<T>(d + <usize>t * es, load<T>(src + <usize>t * sstep));
          }
        }
      }
    }
  }
}

/** dst[t] += src[t] for t < cnt, vectorized. */
@inline function addInto<T>(dst: usize, src: usize, cnt: i32): void {
  const es = <usize>sizeof<T>();
  const lanes = 16 / <i32>es;
  let t = 0;
  for (; t + lanes <= cnt; t += lanes) {
    const q = dst + <usize>t * es;
    const s = src + <usize>t * es;
    if (sizeof<T>() == 4) v128.store(q, f32x4.add(v128.load(q), v128.load(s)));
    else v128.store(q, f64x2.add(v128.load(q), v128.load(s)));
  }
  for (; t < cnt; t++) {
    const q = dst + <usize>t * es;
    store<T>(q, load<T>(q) + load<T>(src + <usize>t * es));
  }
}

function col2imT<T>(
  cols: usize, C: i32, H: i32, W: i32, kh: i32, kw: i32, sH: i32, sW: i32, pH: i32, pW: i32,
  dH: i32, dW: i32, outH: i32, outW: i32, x: usize,
): void {
  const es = <usize>sizeof<T>();
  const L = <usize>outH * <usize>outW;
  const rowBytes = <usize>outW * es;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = cols + <usize>((c * kh + i) * kw + j) * L * es;
        const off = j * dW - pW;
        const ox0 = clamp(ceilDiv(-off, sW), 0, outW);
        const ox1 = clamp(ceilDiv(W - off, sW), ox0, outW);
        const cnt = ox1 - ox0;
        if (cnt == 0) continue;
        for (let oy = 0; oy < outH; oy++) {
          const y = oy * sH - pH + i * dH;
          if (y < 0 || y >= H) continue;
          const s = row + <usize>oy * rowBytes + <usize>ox0 * es;
          const d = x + (<usize>(c * H + y) * <usize>W + <usize>(ox0 * sW + off)) * es;
          if (sW == 1) {
            addInto<T>(d, s, cnt);
          } else {
            const dstep = <usize>sW * es;
            for (let t = 0; t < cnt; t++) {
              const q = d + <usize>t * dstep;
              store<T>(q, load<T>(q) + load<T>(s + <usize>t * es));
            }
          }
        }
      }
    }
  }
}

export function im2col_f32(
  x: usize, C: i32, H: i32, W: i32, kh: i32, kw: i32, sH: i32, sW: i32, pH: i32, pW: i32,
  dH: i32, dW: i32, outH: i32, outW: i32, cols: usize,
): void {
  im2colT<f32>(x, C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, outH, outW, cols);
}

export function im2col_f64(
  x: usize, C: i32, H: i32, W: i32, kh: i32, kw: i32, sH: i32, sW: i32, pH: i32, pW: i32,
  dH: i32, dW: i32, outH: i32, outW: i32, cols: usize,
): void {
  im2colT<f64>(x, C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, outH, outW, cols);
}

export function col2im_f32(
  cols: usize, C: i32, H: i32, W: i32, kh: i32, kw: i32, sH: i32, sW: i32, pH: i32, pW: i32,
  dH: i32, dW: i32, outH: i32, outW: i32, x: usize,
): void {
  col2imT<f32>(cols, C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, outH, outW, x);
}

export function col2im_f64(
  cols: usize, C: i32, H: i32, W: i32, kh: i32, kw: i32, sH: i32, sW: i32, pH: i32, pW: i32,
  dH: i32, dW: i32, outH: i32, outW: i32, x: usize,
): void {
  col2imT<f64>(cols, C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, outH, outW, x);
}

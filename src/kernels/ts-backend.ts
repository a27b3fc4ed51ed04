/**
 * The reference backend: plain TypeScript, float32 and float64, single-threaded.
 * Every other backend is tested against this one, so clarity wins over speed here,
 * except in `gemm`, which keeps a cache-friendly loop order so that the test suite
 * stays fast when `HESSIAN_BACKEND=ts`.
 */
import type { BinaryOp, FloatArray, Kernels, ReduceOp, UnaryGradOp, UnaryOp } from './types.js';
import { cholesky, eigh, solveTriangular } from './ts/linalg.js';

// Abramowitz–Stegun 7.1.26 is too coarse for a reference; use a series/continued fraction.
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  if (ax > 6) return x < 0 ? -1 : 1;
  // erfc by Lentz's continued fraction: erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  let f = ax;
  let c = ax;
  let d = 0;
  for (let i = 1; i < 300; i++) {
    const an = i / 2;
    d = ax + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = ax + an / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  const r = 1 - erfc;
  return x < 0 ? -r : r;
}

/** Numerically stable log(1 + e^x). */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** Sigmoid that never overflows. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const UNARY_FNS: Readonly<Record<UnaryOp, (x: number) => number>> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), // keeps 0, -0 and NaN
  step: (x) => (x > 0 ? 1 : Number.isNaN(x) ? NaN : 0),
  exp: Math.exp,
  expm1: Math.expm1,
  log: Math.log,
  log1p: Math.log1p,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  tanh: Math.tanh,
  sigmoid,
  relu: (x) => (x > 0 ? x : Number.isNaN(x) ? NaN : 0),
  softplus,
  sin: Math.sin,
  cos: Math.cos,
  erf,
};

export const BINARY_FNS: Readonly<Record<BinaryOp, (a: number, b: number) => number>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  // NaN propagates, as NumPy's maximum/minimum
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
};

function gemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  alpha: number, a: FloatArray, lda: number, strideA: number,
  b: FloatArray, ldb: number, strideB: number,
  beta: number, c: FloatArray, ldc: number, strideC: number,
  batch: number,
): void {
  // Accumulate one row of C at a time in float64, in i-p-j order so the inner loop is contiguous in B (when !transB).
  const row = new Float64Array(n);
  for (let p = 0; p < batch; p++) {
    const a0 = p * strideA;
    const b0 = p * strideB;
    const c0 = p * strideC;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let q = 0; q < k; q++) {
        const aiq = transA ? a[a0 + q * lda + i] : a[a0 + i * lda + q];
        if (transB) {
          for (let j = 0; j < n; j++) row[j] += aiq * b[b0 + j * ldb + q];
        } else {
          const bq = b0 + q * ldb;
          for (let j = 0; j < n; j++) row[j] += aiq * b[bq + j];
        }
      }
      const ci = c0 + i * ldc;
      if (beta === 0) {
        for (let j = 0; j < n; j++) c[ci + j] = alpha * row[j];
      } else {
        for (let j = 0; j < n; j++) c[ci + j] = alpha * row[j] + beta * c[ci + j];
      }
    }
  }
}

function unary(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  const f = UNARY_FNS[op];
  for (let i = 0; i < out.length; i++) out[i] = f(x[i]);
}

/** Derivative times cotangent, in the composed rules' order of operations (float64, rounded once). */
export const UNARY_GRAD_FNS: Readonly<Record<UnaryGradOp, (v: number, g: number) => number>> = {
  sigmoid: (y, g) => g * (y * (1 - y)),
  tanh: (y, g) => g * (1 - y * y),
  softplus: (x, g) => g * sigmoid(x),
  relu: (x, g) => g * (x > 0 ? 1 : 0),
  exp: (y, g) => g * y,
};

function unaryGrad(op: UnaryGradOp, v: FloatArray, g: FloatArray, out: FloatArray): void {
  const f = UNARY_GRAD_FNS[op];
  for (let i = 0; i < out.length; i++) out[i] = f(v[i], g[i]);
}

function binary(
  op: BinaryOp, a: FloatArray, aStrides: readonly number[],
  b: FloatArray, bStrides: readonly number[], out: FloatArray, shape: readonly number[],
): void {
  const f = BINARY_FNS[op];
  const nd = shape.length;
  const total = out.length;
  if (total === 0) return;
  if (nd === 0) { out[0] = f(a[0], b[0]); return; }
  const last = shape[nd - 1];
  const as = aStrides[nd - 1];
  const bs = bStrides[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let ao = 0;
  let bo = 0;
  for (let o = 0; o < total; o += last) {
    for (let j = 0; j < last; j++) out[o + j] = f(a[ao + j * as], b[bo + j * bs]);
    // advance the multi-index over all but the last axis
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      ao += aStrides[d];
      bo += bStrides[d];
      if (idx[d] < shape[d]) break;
      ao -= aStrides[d] * shape[d];
      bo -= bStrides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

function axpby(alpha: number, x: FloatArray, beta: number, y: FloatArray, out: FloatArray): void {
  for (let i = 0; i < out.length; i++) out[i] = alpha * x[i] + beta * y[i];
}

function dot(x: FloatArray, y: FloatArray): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

function reduce(op: ReduceOp, x: FloatArray, outer: number, n: number, inner: number, out: FloatArray): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let r: number;
      switch (op) {
        case 'sum': {
          r = 0;
          for (let j = 0; j < n; j++) r += x[base + j * inner];
          break;
        }
        case 'max':
        case 'min': {
          r = x[base];
          for (let j = 1; j < n; j++) {
            const v = x[base + j * inner];
            if (Number.isNaN(v) || (op === 'max' ? v > r : v < r)) r = v;
            if (Number.isNaN(r)) break;
          }
          break;
        }
        case 'argmax':
        case 'argmin': {
          let best = x[base];
          r = 0;
          for (let j = 1; j < n && !Number.isNaN(best); j++) {
            const v = x[base + j * inner];
            if (Number.isNaN(v) || (op === 'argmax' ? v > best : v < best)) { best = v; r = j; }
          }
          break;
        }
        case 'logsumexp': {
          let m = -Infinity;
          for (let j = 0; j < n; j++) {
            const v = x[base + j * inner];
            if (v > m || Number.isNaN(v)) m = v;
          }
          if (Number.isNaN(m)) { r = NaN; break; }
          if (m === -Infinity || m === Infinity) { r = m; break; }
          let s = 0;
          for (let j = 0; j < n; j++) s += Math.exp(x[base + j * inner] - m);
          r = m + Math.log(s);
          break;
        }
      }
      out[o * inner + i] = r;
    }
  }
}

function softmax(x: FloatArray, outer: number, n: number, inner: number, out: FloatArray, log: boolean): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let m = -Infinity;
      for (let j = 0; j < n; j++) {
        const v = x[base + j * inner];
        if (v > m || Number.isNaN(v)) m = v;
      }
      if (m === -Infinity || m === Infinity) m = 0; // all -inf row -> NaN like NumPy; +inf -> NaN
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(x[base + j * inner] - m);
      if (log) {
        const ls = Math.log(s);
        for (let j = 0; j < n; j++) out[base + j * inner] = x[base + j * inner] - m - ls;
      } else {
        for (let j = 0; j < n; j++) out[base + j * inner] = Math.exp(x[base + j * inner] - m) / s;
      }
    }
  }
}

function copyStrided(x: FloatArray, strides: readonly number[], shape: readonly number[], out: FloatArray): void {
  const nd = shape.length;
  const total = out.length;
  if (total === 0) return;
  if (nd === 0) { out[0] = x[0]; return; }
  const last = shape[nd - 1];
  const ls = strides[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let xo = 0;
  for (let o = 0; o < total; o += last) {
    for (let j = 0; j < last; j++) out[o + j] = x[xo + j * ls];
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      xo += strides[d];
      if (idx[d] < shape[d]) break;
      xo -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

function im2col(
  x: FloatArray, C: number, H: number, W: number, kh: number, kw: number,
  strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
  outH: number, outW: number, cols: FloatArray,
): void {
  const L = outH * outW;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = ((c * kh + i) * kw + j) * L;
        for (let oy = 0; oy < outH; oy++) {
          const y = oy * strideH - padH + i * dilH;
          for (let ox = 0; ox < outW; ox++) {
            const xx = ox * strideW - padW + j * dilW;
            cols[row + oy * outW + ox] = y >= 0 && y < H && xx >= 0 && xx < W ? x[(c * H + y) * W + xx] : 0;
          }
        }
      }
    }
  }
}

function col2im(
  cols: FloatArray, C: number, H: number, W: number, kh: number, kw: number,
  strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
  outH: number, outW: number, x: FloatArray,
): void {
  const L = outH * outW;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = ((c * kh + i) * kw + j) * L;
        for (let oy = 0; oy < outH; oy++) {
          const y = oy * strideH - padH + i * dilH;
          if (y < 0 || y >= H) continue;
          for (let ox = 0; ox < outW; ox++) {
            const xx = ox * strideW - padW + j * dilW;
            if (xx >= 0 && xx < W) x[(c * H + y) * W + xx] += cols[row + oy * outW + ox];
          }
        }
      }
    }
  }
}

function maxPool2d(
  x: FloatArray, planes: number, H: number, W: number, kh: number, kw: number,
  strideH: number, strideW: number, padH: number, padW: number,
  outH: number, outW: number, out: FloatArray, argmax: Int32Array,
): void {
  for (let p = 0; p < planes; p++) {
    const xp = p * H * W;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let best = -Infinity;
        let arg = -1;
        for (let i = 0; i < kh; i++) {
          const y = oy * strideH - padH + i;
          if (y < 0 || y >= H) continue;
          for (let j = 0; j < kw; j++) {
            const xx = ox * strideW - padW + j;
            if (xx < 0 || xx >= W) continue;
            const v = x[xp + y * W + xx];
            if (arg < 0 || v > best || (Number.isNaN(v) && !Number.isNaN(best))) { best = v; arg = y * W + xx; }
          }
        }
        const o = (p * outH + oy) * outW + ox;
        out[o] = best;
        argmax[o] = arg;
      }
    }
  }
}

function avgPool2d(
  x: FloatArray, planes: number, H: number, W: number, kh: number, kw: number,
  strideH: number, strideW: number, padH: number, padW: number,
  outH: number, outW: number, countIncludePad: boolean, out: FloatArray,
): void {
  for (let p = 0; p < planes; p++) {
    const xp = p * H * W;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let s = 0;
        let cnt = 0;
        for (let i = 0; i < kh; i++) {
          const y = oy * strideH - padH + i;
          if (y < 0 || y >= H) continue;
          for (let j = 0; j < kw; j++) {
            const xx = ox * strideW - padW + j;
            if (xx < 0 || xx >= W) continue;
            s += x[xp + y * W + xx];
            cnt++;
          }
        }
        const div = countIncludePad ? kh * kw : cnt;
        out[(p * outH + oy) * outW + ox] = div > 0 ? s / div : 0;
      }
    }
  }
}

function avgPool2dBackward(
  gy: FloatArray, planes: number, H: number, W: number, kh: number, kw: number,
  strideH: number, strideW: number, padH: number, padW: number,
  outH: number, outW: number, countIncludePad: boolean, gx: FloatArray,
): void {
  for (let p = 0; p < planes; p++) {
    const xp = p * H * W;
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let cnt = 0;
        if (!countIncludePad) {
          for (let i = 0; i < kh; i++) {
            const y = oy * strideH - padH + i;
            if (y < 0 || y >= H) continue;
            for (let j = 0; j < kw; j++) {
              const xx = ox * strideW - padW + j;
              if (xx >= 0 && xx < W) cnt++;
            }
          }
        }
        const div = countIncludePad ? kh * kw : cnt;
        if (div === 0) continue;
        const g = gy[(p * outH + oy) * outW + ox] / div;
        for (let i = 0; i < kh; i++) {
          const y = oy * strideH - padH + i;
          if (y < 0 || y >= H) continue;
          for (let j = 0; j < kw; j++) {
            const xx = ox * strideW - padW + j;
            if (xx >= 0 && xx < W) gx[xp + y * W + xx] += g;
          }
        }
      }
    }
  }
}

export const tsKernels: Kernels = {
  name: 'ts',
  threads: 1,
  simd: 'scalar',
  setThreads: () => undefined,
  gemm,
  unary,
  unaryGrad,
  binary,
  axpby,
  dot,
  reduce,
  softmax,
  copyStrided,
  im2col,
  col2im,
  maxPool2d,
  avgPool2d,
  avgPool2dBackward,
  cholesky,
  solveTriangular,
  eigh,
};

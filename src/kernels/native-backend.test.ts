// The native (C++ N-API) backend against the TypeScript reference, plus argument validation
// and a fuzz test of every native entry point. Skips when build/native/hessian.node is not
// built (run `npm run build:native`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BinaryOp, FloatArray, Kernels, ReduceOp, UnaryOp } from './types.js';
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS } from './types.js';
import { tsKernels } from './ts-backend.js';
import { loadNativeAddon, loadNativeKernels, nativeLoadError } from './native-backend.js';
import { uniformSource as mulberry32 } from '../testing/helpers.js';

const loaded = loadNativeKernels();
const skip = loaded === null ? `native backend unavailable: ${nativeLoadError() ?? 'unknown'}` : false;
const nat = loaded as Kernels;

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const DTYPES: readonly [string, Ctor, number][] = [
  ['float32', Float32Array, 2 ** -23],
  ['float64', Float64Array, 2 ** -52],
];


const randInt = (rnd: () => number, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];

function randArray(C: Ctor, n: number, rnd: () => number, scale = 1): FloatArray {
  const a = new C(n);
  for (let i = 0; i < n; i++) a[i] = (rnd() * 2 - 1) * scale;
  return a;
}

const same = (x: number, y: number): boolean => x === y || (Number.isNaN(x) && Number.isNaN(y));

/** Elementwise |got - want| <= tol(i) (NaN matches NaN, infinities must be equal). */
function assertClose(got: FloatArray, want: FloatArray, tol: (i: number) => number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const g = got[i];
    const w = want[i];
    if (same(g, w)) continue;
    if (!Number.isFinite(g) || !Number.isFinite(w) || Math.abs(g - w) > tol(i)) {
      assert.fail(`${what}: element ${i}: native ${g}, reference ${w}`);
    }
  }
}

const relTol = (want: FloatArray, rel: number, abs = 0) => (i: number): number => rel * Math.abs(want[i]) + abs;

function withThreads<T>(n: number, fn: () => T): T {
  const prev = nat.threads;
  nat.setThreads(n);
  try {
    return fn();
  } finally {
    nat.setThreads(prev);
  }
}

// ---------------------------------------------------------------------------------------------
interface GemmCase {
  tA: boolean; tB: boolean; m: number; n: number; k: number; alpha: number; beta: number;
  lda: number; ldb: number; ldc: number; sA: number; sB: number; sC: number; batch: number;
}

function gemmLengths(g: GemmCase): [number, number, number] {
  const { tA, tB, m, n, k, lda, ldb, ldc, sA, sB, sC, batch } = g;
  const ext = (rows: number, cols: number, ld: number, s: number): number =>
    batch === 0 || rows === 0 || cols === 0 ? 0 : (batch - 1) * s + (rows - 1) * ld + cols;
  return [ext(tA ? k : m, tA ? m : k, lda, sA), ext(tB ? n : k, tB ? k : n, ldb, sB), ext(m, n, ldc, sC)];
}

/** Run one GEMM on both backends; C starts as NaN garbage where beta == 0, sentinels elsewhere. */
function checkGemm(C: Ctor, eps: number, g: GemmCase, rnd: () => number, label: string): void {
  const { tA, tB, m, n, k, alpha, beta, lda, ldb, ldc, sA, sB, sC, batch } = g;
  const [lenA, lenB, lenCmin] = gemmLengths(g);
  const a = randArray(C, lenA, rnd);
  const b = randArray(C, lenB, rnd);
  const lenC = lenCmin + 3;
  const c0 = randArray(C, lenC, rnd);
  for (let i = 0; i < lenC; i++) c0[i] += 10 + Math.floor(rnd() * 1000);
  if (beta === 0) {
    for (let p = 0; p < batch; p++) {
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c0[p * sC + i * ldc + j] = NaN;
    }
  }
  const cN = c0.slice();
  const cT = c0.slice();
  nat.gemm(tA, tB, m, n, k, alpha, a, lda, sA, b, ldb, sB, beta, cN, ldc, sC, batch);
  tsKernels.gemm(tA, tB, m, n, k, alpha, a, lda, sA, b, ldb, sB, beta, cT, ldc, sC, batch);
  const accum = sC === 0 && batch > 1 ? batch : 1; // C accumulates over the batch
  const tol = eps * 8 * (k + 2) * Math.sqrt(k + 1) * (Math.abs(alpha) + 1) * accum;
  assertClose(cN, cT, (i) => tol + eps * 4 * Math.abs(cT[i]) * (Math.abs(beta) + 1) * accum, `gemm ${label} ${JSON.stringify(g)}`);
}

const SIZES = [0, 1, 2, 3, 5, 7, 8, 13, 15, 16, 17, 24, 31, 32, 33, 40, 63, 65, 127, 129];

describe('native backend', { skip }, () => {
  test('reports its instruction set and threads; setThreads clamps', () => {
    assert.equal(nat.name, 'native');
    assert.ok(['avx512', 'avx2', 'scalar'].includes(nat.simd), nat.simd);
    const addon = loadNativeAddon();
    assert.ok(addon !== null);
    const max = addon.maxThreads();
    assert.ok(max >= 1);
    withThreads(1, () => {
      assert.equal(nat.threads, 1);
      nat.setThreads(0);
      assert.equal(nat.threads, 1);
      nat.setThreads(1e9);
      assert.equal(nat.threads, max);
      nat.setThreads(Infinity);
      assert.equal(nat.threads, max);
      assert.throws(() => nat.setThreads(NaN), RangeError);
      assert.throws(() => nat.setThreads('2' as unknown as number), TypeError);
    });
  });

  for (const [dname, C, eps] of DTYPES) {
    test(`gemm ${dname}: sizes, transposes, ld, alpha/beta, batches vs ts`, () => {
      const rnd = mulberry32(dname === 'float32' ? 1 : 2);
      for (let it = 0; it < 150; it++) {
        const m = pick(rnd, SIZES);
        const n = pick(rnd, SIZES);
        const k = pick(rnd, SIZES);
        const tA = rnd() < 0.5;
        const tB = rnd() < 0.5;
        const [alpha, beta] = pick(rnd, [[1, 0], [1, 1], [0.5, -1.5], [-2, 0], [1.25, 0.75]] as const);
        const batch = pick(rnd, [1, 1, 1, 2, 3]);
        const lda = (tA ? m : k) + pick(rnd, [0, 0, 1, 5]);
        const ldb = (tB ? k : n) + pick(rnd, [0, 0, 3]);
        const ldc = n + pick(rnd, [0, 0, 2]);
        const sizeA = (tA ? k : m) * lda;
        const sizeB = (tB ? n : k) * ldb;
        const sA = pick(rnd, [0, sizeA, sizeA + 7]);
        const sB = pick(rnd, [0, sizeB, sizeB + 1]);
        const sC = pick(rnd, [m * ldc, m * ldc + 4]);
        const threads = pick(rnd, [1, 2]);
        withThreads(threads, () =>
          checkGemm(C, eps, { tA, tB, m, n, k, alpha, beta, lda, ldb, ldc, sA, sB, sC, batch }, rnd, `t=${threads}`),
        );
      }
    });

    test(`gemm ${dname}: packed and threaded paths (larger, odd sizes)`, () => {
      const rnd = mulberry32(dname === 'float32' ? 3 : 4);
      const cases: [number, number, number][] = [[257, 129, 65], [100, 300, 130], [33, 520, 70], [520, 17, 90], [130, 130, 400], [48, 4100, 5], [60, 70, 1100]];
      for (const [m, n, k] of cases) {
        for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          for (const threads of [1, 2]) {
            const beta = rnd() < 0.5 ? 0 : 0.5;
            withThreads(threads, () => checkGemm(C, eps, {
              tA, tB, m, n, k, alpha: 0.75, beta, lda: (tA ? m : k) + 1, ldb: tB ? k : n, ldc: n + 3,
              sA: 0, sB: 0, sC: 0, batch: 1,
            }, rnd, `t=${threads}`));
          }
        }
      }
      // many small products (parallel over the batch), broadcast A, and C accumulated (strideC 0)
      withThreads(2, () => {
        checkGemm(C, eps, { tA: false, tB: true, m: 48, n: 40, k: 50, alpha: 1, beta: 0, lda: 50, ldb: 50, ldc: 40, sA: 0, sB: 2000, sC: 1920, batch: 24 }, rnd, 'batched');
        checkGemm(C, eps, { tA: false, tB: false, m: 20, n: 20, k: 20, alpha: 1, beta: 0, lda: 20, ldb: 20, ldc: 20, sA: 400, sB: 400, sC: 400, batch: 200 }, rnd, 'batched-direct');
        checkGemm(C, eps, { tA: true, tB: false, m: 100, n: 100, k: 100, alpha: 1, beta: 1, lda: 100, ldb: 100, ldc: 100, sA: 10000, sB: 10000, sC: 0, batch: 3 }, rnd, 'accumulate');
        checkGemm(C, eps, { tA: false, tB: false, m: 10, n: 10, k: 10, alpha: 1, beta: 1, lda: 10, ldb: 10, ldc: 10, sA: 100, sB: 100, sC: 0, batch: 50 }, rnd, 'accumulate-small');
      });
    });

    test(`unary ${dname}: every op, special values, in place, large`, () => {
      const rnd = mulberry32(5);
      const specials = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e-30, -1e-30, 30, -30, 100, -100, 0.5, 3, -7.25, 1e-4, -2e-4, 2.44140625e-4, 0.01, 9.9, 10.1, -20];
      const rel = dname === 'float32' ? 1e-5 : 1e-12;
      for (const op of UNARY_OPS) {
        for (const len of [0, 1, 7, 63, 65, 300, 70001]) {
          const x = randArray(C, len, rnd, 4);
          for (let i = 0; i < Math.min(len, specials.length); i++) x[i] = specials[i];
          const want = new C(len);
          tsKernels.unary(op, x, want);
          const got = new C(len);
          nat.unary(op, x, got);
          assertClose(got, want, relTol(want, rel, 1e-300), `unary ${op} len ${len}`);
          if (len === 65) {
            const inPlace = x.slice();
            nat.unary(op, inPlace, inPlace);
            assertClose(inPlace, want, relTol(want, rel, 1e-300), `unary ${op} in place`);
          }
        }
      }
    });

    test(`binary ${dname}: every op, broadcasting and permuted strides`, () => {
      const rnd = mulberry32(6);
      for (let it = 0; it < 120; it++) {
        const nd = randInt(rnd, 0, 4);
        const shape = Array.from({ length: nd }, () => pick(rnd, [1, 2, 3, 5, 8, 17]));
        if (it === 0) shape.splice(0, nd, 300, 257); // parallel path
        const operand = (): [FloatArray, number[]] => {
          // a contiguous array of a (possibly broadcast) shape, read through a random axis permutation
          const dims = shape.map((s) => (rnd() < 0.25 ? 1 : s));
          const perm = dims.map((_, i) => i).sort(() => rnd() - 0.5);
          const strides = new Array<number>(dims.length).fill(0);
          let acc = 1;
          for (let q = perm.length - 1; q >= 0; q--) {
            strides[perm[q]] = acc;
            acc *= dims[perm[q]];
          }
          const data = randArray(C, acc + randInt(rnd, 0, 2), rnd, 3);
          for (let i = 0; i < data.length; i++) if (rnd() < 0.1) data[i] = Math.round(data[i]); // ties for comparisons
          if (data.length > 2 && rnd() < 0.3) data[1] = NaN;
          return [data, dims.map((d, i) => (d === 1 ? 0 : strides[i]))];
        };
        const [a, as] = operand();
        const [b, bs] = operand();
        const total = shape.reduce((p, s) => p * s, 1);
        for (const op of BINARY_OPS) {
          const want = new C(total);
          const got = new C(total);
          tsKernels.binary(op, a, as, b, bs, want, shape);
          nat.binary(op, a, as, b, bs, got, shape);
          const rel = op === 'pow' ? (dname === 'float32' ? 1e-6 : 1e-14) : 0;
          assertClose(got, want, relTol(want, rel), `binary ${op} shape ${JSON.stringify(shape)}`);
        }
      }
      // out aliasing a (same contiguous strides), large
      const shape = [513, 200];
      const a = randArray(C, 513 * 200, rnd);
      const b = randArray(C, 200, rnd);
      const want = new C(a.length);
      tsKernels.binary('mul', a, [200, 1], b, [0, 1], want, shape);
      nat.binary('mul', a, [200, 1], b, [0, 1], a, shape);
      assertClose(a, want, () => 0, 'binary in place');
      // special pow cases where C pow and JS Math.pow differ
      const pa = C.from([1, -1, 1, 2, 0, NaN, -8]);
      const pb = C.from([NaN, Infinity, -Infinity, 0.5, -1, 0, 1 / 3]);
      const pw = new C(7);
      const pn = new C(7);
      tsKernels.binary('pow', pa, [1], pb, [1], pw, [7]);
      nat.binary('pow', pa, [1], pb, [1], pn, [7]);
      assertClose(pn, pw, relTol(pw, 1e-6), 'pow specials');
    });

    test(`axpby and dot ${dname}`, () => {
      const rnd = mulberry32(7);
      for (const len of [0, 1, 9, 64, 1000, 100003]) {
        const x = randArray(C, len, rnd);
        const y = randArray(C, len + 2, rnd);
        const want = new C(len);
        const got = new C(len);
        tsKernels.axpby(0.3, x, -1.7, y, want);
        nat.axpby(0.3, x, -1.7, y, got);
        assertClose(got, want, () => 0, `axpby ${len}`);
        const yy = y.slice(0, len);
        nat.axpby(2, x, 0.5, yy, yy); // in place
        assertClose(yy, (() => { const w = new C(len); tsKernels.axpby(2, x, 0.5, y.subarray(0, len), w); return w; })(), () => 0, 'axpby in place');
        const dn = nat.dot(x, y);
        const dt = tsKernels.dot(x, y);
        let absSum = 0;
        for (let i = 0; i < len; i++) absSum += Math.abs(x[i] * y[i]);
        assert.ok(Math.abs(dn - dt) <= 1e-14 * absSum + 1e-300, `dot ${len}: ${dn} vs ${dt}`);
      }
    });

    test(`reduce ${dname}: every op, inner 1 and > 1, NaN, ties`, () => {
      const rnd = mulberry32(8);
      const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 1], [2, 7, 3], [1, 65, 17], [5, 1, 4], [4, 33, 2], [0, 3, 2], [2, 0, 2], [600, 150, 1], [3, 100, 400]];
      for (const [outer, n, inner] of shapes) {
        for (const op of REDUCE_OPS as readonly ReduceOp[]) {
          if (n === 0 && op !== 'sum') continue;
          for (const nan of [false, true]) {
            const x = randArray(C, outer * n * inner, rnd, 2);
            for (let i = 0; i < x.length; i++) if (rnd() < 0.3) x[i] = Math.round(x[i]); // ties
            if (nan && x.length > 4) { x[3] = NaN; x[x.length - 1] = -Infinity; }
            const want = new C(outer * inner);
            const got = new C(outer * inner);
            tsKernels.reduce(op, x, outer, n, inner, want);
            nat.reduce(op, x, outer, n, inner, got);
            const rel = op === 'sum' || op === 'logsumexp' ? (dname === 'float32' ? 1e-6 : 1e-12) : 0;
            assertClose(got, want, relTol(want, rel, rel * n), `reduce ${op} [${outer},${n},${inner}] nan=${nan}`);
          }
        }
      }
    });

    test(`softmax ${dname}: log and not, inner > 1, -inf rows, NaN, in place`, () => {
      const rnd = mulberry32(9);
      const shapes: [number, number, number][] = [[1, 1, 1], [4, 10, 1], [2, 9, 5], [3, 65, 1], [0, 4, 4], [300, 300, 1], [2, 50, 300]];
      for (const [outer, n, inner] of shapes) {
        for (const log of [false, true]) {
          const x = randArray(C, outer * n * inner, rnd, 20);
          if (x.length > 10 && n > 1) {
            for (let j = 0; j < n; j++) x[j * inner] = -Infinity; // the first column is all -inf
            x[inner * n + (inner > 1 ? 1 : 0)] = NaN;
            x[x.length - 1] = Infinity;
          }
          const want = new C(x.length);
          const got = new C(x.length);
          tsKernels.softmax(x, outer, n, inner, want, log);
          nat.softmax(x, outer, n, inner, got, log);
          const rel = dname === 'float32' ? 1e-6 : 1e-13;
          assertClose(got, want, relTol(want, rel, rel), `softmax [${outer},${n},${inner}] log=${log}`);
          const y = x.slice();
          nat.softmax(y, outer, n, inner, y, log);
          assertClose(y, want, relTol(want, rel, rel), 'softmax in place');
        }
      }
    });

    test(`copyStrided ${dname}: permutations, broadcasts, sliced views`, () => {
      const rnd = mulberry32(10);
      for (let it = 0; it < 80; it++) {
        const nd = randInt(rnd, 0, 5);
        const shape = Array.from({ length: nd }, () => pick(rnd, [1, 2, 3, 4, 7, 16]));
        if (it === 0) shape.splice(0, nd, 400, 300);
        const strides = shape.map(() => pick(rnd, [0, 1, 2, 5, 40, 1000]));
        if (it === 1 || it === 2) {
          // plain transposes (the tiled path): [a, b, c] read as [c, b, a] / [a, c, b]
          shape.splice(0, shape.length, 3, 37, 70);
          strides.splice(0, strides.length, ...(it === 1 ? [1, 3, 111] : [37 * 70, 1, 37]));
        }
        let extent = 1;
        for (let d = 0; d < shape.length; d++) extent += (shape[d] - 1) * strides[d];
        const x = randArray(C, extent + randInt(rnd, 0, 3), rnd);
        const total = shape.reduce((p, s) => p * s, 1);
        const want = new C(total);
        const got = new C(total);
        tsKernels.copyStrided(x, strides, shape, want);
        nat.copyStrided(x, strides, shape, got);
        assertClose(got, want, () => 0, `copyStrided ${JSON.stringify(shape)} ${JSON.stringify(strides)}`);
      }
    });

    test(`im2col and col2im ${dname}: padding, stride, dilation`, () => {
      const rnd = mulberry32(11);
      for (let it = 0; it < 60; it++) {
        const Cc = randInt(rnd, 1, 4);
        const H = randInt(rnd, 1, 12);
        const W = randInt(rnd, 1, 12);
        const kh = randInt(rnd, 1, 4);
        const kw = randInt(rnd, 1, 4);
        const sH = randInt(rnd, 1, 3);
        const sW = randInt(rnd, 1, 3);
        const pH = randInt(rnd, 0, 2);
        const pW = randInt(rnd, 0, 2);
        const dH = randInt(rnd, 1, 2);
        const dW = randInt(rnd, 1, 2);
        const oH = Math.floor((H + 2 * pH - dH * (kh - 1) - 1) / sH) + 1;
        const oW = Math.floor((W + 2 * pW - dW * (kw - 1) - 1) / sW) + 1;
        if (oH <= 0 || oW <= 0) continue;
        const x = randArray(C, Cc * H * W, rnd);
        const L = Cc * kh * kw * oH * oW;
        const want = new C(L);
        const got = new C(L);
        tsKernels.im2col(x, Cc, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, want);
        nat.im2col(x, Cc, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, got);
        assertClose(got, want, () => 0, 'im2col');
        const cols = randArray(C, L, rnd);
        const xw = randArray(C, Cc * H * W, rnd);
        const xg = xw.slice();
        tsKernels.col2im(cols, Cc, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, xw);
        nat.col2im(cols, Cc, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, xg);
        assertClose(xg, xw, relTol(xw, 4 * eps, 8 * eps), 'col2im');
      }
      // a large one (parallel path)
      const x = randArray(C, 16 * 64 * 64, rnd);
      const want = new C(16 * 9 * 64 * 64);
      const got = new C(want.length);
      tsKernels.im2col(x, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 64, 64, want);
      nat.im2col(x, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 64, 64, got);
      assertClose(got, want, () => 0, 'im2col large');
      const xw = new C(x.length);
      const xg = new C(x.length);
      tsKernels.col2im(want, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 64, 64, xw);
      nat.col2im(want, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 64, 64, xg);
      assertClose(xg, xw, relTol(xw, 4 * eps, 8 * eps), 'col2im large');
    });
  }

  test('gemm with B transposed equals gemm with that transpose materialized, bit for bit: every ISA, panel and tile edges, strided B, 1 and 2 threads', () => {
    // Packing B only moves data (op(B) into NR-column slivers, transposed rows through register
    // tiles); the products that follow are the same, so NT must reproduce NN exactly.
    const addon = loadNativeAddon();
    assert.ok(addon !== null);
    const rnd = mulberry32(33);
    try {
      for (const isa of ['avx512', 'avx2', 'scalar']) {
        if (!addon.selectIsa(isa)) continue;
        for (const [dname, C] of DTYPES) {
          for (const [m, n, k] of [[7, 150, 45], [64, 200, 531], [33, 259, 1030], [100, 131, 9], [13, 300, 257]]) {
            const ldb = k + pick(rnd, [0, 3, 8]);
            const a = randArray(C, m * k, rnd);
            const bt = randArray(C, n * ldb, rnd); // n x k, rows ldb apart
            const b = new C(k * n);
            for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) b[p * n + j] = bt[j * ldb + p];
            for (const threads of [1, 2]) {
              const cT = new C(m * n);
              const cN = new C(m * n);
              withThreads(threads, () => {
                nat.gemm(false, true, m, n, k, 1, a, k, 0, bt, ldb, 0, 0, cT, n, 0, 1);
                nat.gemm(false, false, m, n, k, 1, a, k, 0, b, n, 0, 0, cN, n, 0, 1);
              });
              for (let i = 0; i < cN.length; i++) {
                if (!Object.is(cT[i], cN[i])) assert.fail(`${isa} ${dname} m=${m} n=${n} k=${k} ldb=${ldb} t=${threads}: element ${i}: NT ${cT[i]}, NN ${cN[i]}`);
              }
            }
          }
        }
      }
    } finally {
      addon.selectIsa('auto');
    }
  });

  test('gemm narrow products (n within one tile, run unpacked): every n to 65, transposes, k across panels, every ISA, vs ts; thread count does not change the bits', () => {
    const addon = loadNativeAddon();
    assert.ok(addon !== null);
    const rnd = mulberry32(21);
    try {
      for (const isa of ['avx512', 'avx2', 'scalar']) {
        if (!addon.selectIsa(isa)) continue;
        for (const [, C, eps] of DTYPES) {
          for (let n = 1; n <= 65; n += rnd() < 0.5 ? 1 : 3) {
            const m = pick(rnd, [9, 40, 131]);
            const k = pick(rnd, [3, 20, 255, 257, 600]);
            const tA = rnd() < 0.5;
            const tB = rnd() < 0.5;
            checkGemm(C, eps, {
              tA, tB, m, n, k, alpha: pick(rnd, [1, 0.75]), beta: pick(rnd, [0, 0.5, 1]), lda: (tA ? m : k) + pick(rnd, [0, 2]),
              ldb: (tB ? k : n) + pick(rnd, [0, 1]), ldc: n + pick(rnd, [0, 3]), sA: 0, sB: 0, sC: 0, batch: 1,
            }, rnd, `${isa} narrow`);
          }
          // Large enough to be split over threads (rows): each row's arithmetic is the same either way.
          const [m, n, k] = [5000, 20, 24];
          const a = randArray(C, m * k, rnd);
          const b = randArray(C, k * n, rnd);
          const c1 = new C(m * n);
          const c2 = new C(m * n);
          withThreads(1, () => nat.gemm(false, false, m, n, k, 1, a, k, 0, b, n, 0, 0, c1, n, m * n, 1));
          withThreads(2, () => nat.gemm(false, false, m, n, k, 1, a, k, 0, b, n, 0, 0, c2, n, m * n, 1));
          for (let i = 0; i < c1.length; i++) assert.ok(Object.is(c1[i], c2[i]), `${isa} ${C.name}: element ${i} differs between 1 and 2 threads`);
        }
      }
    } finally {
      addon.selectIsa('auto');
    }
  });

  test('gemm on every instruction set this CPU runs (avx512, avx2, scalar)', () => {
    const addon = loadNativeAddon();
    assert.ok(addon !== null);
    const rnd = mulberry32(13);
    let tested = 0;
    try {
      for (const isa of ['avx512', 'avx2', 'scalar']) {
        if (!addon.selectIsa(isa)) continue;
        tested++;
        for (const [, C, eps] of DTYPES) {
          for (let it = 0; it < 12; it++) {
            const m = pick(rnd, [1, 5, 17, 40, 130]);
            const n = pick(rnd, [1, 3, 33, 70, 129]);
            const k = pick(rnd, [0, 2, 31, 65, 300]);
            const tA = rnd() < 0.5;
            const tB = rnd() < 0.5;
            withThreads(pick(rnd, [1, 2]), () => checkGemm(C, eps, {
              tA, tB, m, n, k, alpha: 1.5, beta: pick(rnd, [0, 0.5]), lda: (tA ? m : k) + 1, ldb: tB ? k : n,
              ldc: n + 2, sA: 0, sB: 0, sC: 0, batch: 1,
            }, rnd, isa));
          }
        }
      }
    } finally {
      addon.selectIsa('auto');
    }
    assert.ok(tested >= 1);
    assert.equal(addon.selectIsa('sse9'), false);
  });

  test('delegated kernels (pooling) still work; cholesky is native', () => {
    const x = Float64Array.from([1, 5, 2, 4]);
    const out = new Float64Array(1);
    const arg = new Int32Array(1);
    nat.maxPool2d(x, 1, 2, 2, 2, 2, 1, 1, 0, 0, 1, 1, out, arg);
    assert.equal(out[0], 5);
    assert.equal(arg[0], 1);
    const l = new Float64Array(4);
    assert.equal(nat.cholesky(2, Float64Array.from([4, 2, 2, 3]), l), true);
    assert.equal(l[0], 2);
  });

  // -------------------------------------------------------------------------------------------
  // Dense linear algebra (native linalg.cc, a port of ts/linalg.ts)

  /** Frobenius norm, scaled by the max-abs entry so that 1e±300 entries neither over- nor underflow. */
  function fro(x: ArrayLike<number>): number {
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
    if (m === 0) return 0;
    let s = 0;
    for (let i = 0; i < x.length; i++) s += (x[i] / m) ** 2;
    return m * Math.sqrt(s);
  }

  /** ||A V - V diag(w)||_F / ||A||_F and ||V^T V - I||_F for eigenvectors as the columns of v. */
  function eigResiduals(n: number, a: FloatArray, w: FloatArray, v: FloatArray): [number, number] {
    const r = new Float64Array(n * n);
    const o = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += a[i * n + k] * v[k * n + j];
        r[i * n + j] = s - v[i * n + j] * w[j];
        let t = 0;
        for (let k = 0; k < n; k++) t += v[k * n + i] * v[k * n + j];
        o[i * n + j] = t - (i === j ? 1 : 0);
      }
    }
    const na = fro(a);
    return [na === 0 ? fro(r) : fro(r) / na, fro(o)];
  }

  function symmetric(C: Ctor, n: number, rnd: () => number, scale = 1): FloatArray {
    const a = new C(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const x = (rnd() * 2 - 1) * scale;
        a[i * n + j] = x;
        a[j * n + i] = x;
      }
    }
    return a;
  }

  function spdMatrix(C: Ctor, n: number, rnd: () => number): FloatArray {
    const g = randArray(Float64Array, n * n, rnd);
    const a = new C(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = i === j ? n : 0;
        for (let k = 0; k < n; k++) s += g[i * n + k] * g[j * n + k];
        a[i * n + j] = s;
      }
    }
    return a;
  }

  test('eigh: residuals, orthonormality and eigenvalues vs ts (random, rank-1, identity, 1e-300, 1e300)', () => {
    const rnd = mulberry32(2024);
    const addon = loadNativeAddon();
    assert.ok(addon !== null);
    for (const n of [0, 1, 2, 7, 64, 200]) {
      const u = randArray(Float64Array, n, rnd);
      const rank1 = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) rank1[i * n + j] = u[i] * u[j];
      const identity = new Float64Array(n * n);
      for (let i = 0; i < n; i++) identity[i * n + i] = 1;
      const base = symmetric(Float64Array, n, rnd);
      const cases: [string, FloatArray][] = [
        ['random', base],
        ['rank-1', rank1],
        ['identity', identity],
        ['x1e-300', base.map((x) => x * 1e-300)],
        ['x1e300', base.map((x) => x * 1e300)],
      ];
      for (const [what, a] of cases) {
        const w = new Float64Array(n);
        const v = new Float64Array(n * n);
        nat.eigh(n, a, w, v);
        const [res, orth] = eigResiduals(n, a, w, v);
        assert.ok(res < 1e-12, `eigh ${what} n=${n}: residual ${res}`);
        assert.ok(orth < 1e-12, `eigh ${what} n=${n}: orthonormality ${orth}`);
        for (let i = 1; i < n; i++) assert.ok(w[i - 1] <= w[i], `eigh ${what} n=${n}: not ascending at ${i}`);
        const w0 = new Float64Array(n);
        tsKernels.eigh(n, a, w0, new Float64Array(n * n));
        const top = Math.max(0, ...Array.from(w0, Math.abs));
        assertClose(w, w0, () => 1e-12 * top, `eigh ${what} n=${n} eigenvalues`);
        if (n > 0 && n <= 64) {
          // The Jacobi fallback on its own meets the same bounds.
          const wj = new Float64Array(n);
          const vj = new Float64Array(n * n);
          addon.eighJacobi(n, a, wj, vj);
          const [rj, oj] = eigResiduals(n, a, wj, vj);
          assert.ok(rj < 1e-12 && oj < 1e-12, `eighJacobi ${what} n=${n}: ${rj}, ${oj}`);
          assertClose(wj, w0, () => 1e-12 * top, `eighJacobi ${what} n=${n} eigenvalues`);
        }
      }
    }
    // float32 in and out, float64 inside.
    const a32 = symmetric(Float32Array, 64, rnd);
    const w32 = new Float32Array(64);
    const v32 = new Float32Array(64 * 64);
    nat.eigh(64, a32, w32, v32);
    const [r32, o32] = eigResiduals(64, a32, w32, v32);
    assert.ok(r32 < 1e-5 && o32 < 1e-5, `float32: ${r32}, ${o32}`);
    // Non-finite input: all NaN. v may alias a.
    const bad = symmetric(Float64Array, 5, rnd);
    bad[7] = Infinity;
    const wb = new Float64Array(5);
    const vb = new Float64Array(25);
    nat.eigh(5, bad, wb, vb);
    assert.ok([...wb, ...vb].every(Number.isNaN));
    const al = symmetric(Float64Array, 9, rnd);
    const copy = al.slice();
    const wa = new Float64Array(9);
    nat.eigh(9, al, wa, al);
    const [ra, oa] = eigResiduals(9, copy, wa, al);
    assert.ok(ra < 1e-12 && oa < 1e-12, `aliased: ${ra}, ${oa}`);
    // Zero matrix: zero eigenvalues, identity eigenvectors.
    const wz = new Float64Array(3);
    const vz = new Float64Array(9);
    nat.eigh(3, new Float64Array(9), wz, vz);
    assert.deepEqual([...wz, ...vz], [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  test('eigh results do not depend on the thread count', () => {
    const a = symmetric(Float64Array, 300, mulberry32(5));
    const run = (t: number): FloatArray[] => withThreads(t, () => {
      const w = new Float64Array(300);
      const v = new Float64Array(300 * 300);
      nat.eigh(300, a, w, v);
      return [w, v];
    });
    const [w1, v1] = run(1);
    const [w2, v2] = run(nat.threads > 1 ? nat.threads : 2);
    assert.deepEqual(w2, w1);
    assert.deepEqual(v2, v1);
  });

  test('cholesky and solveTriangular agree exactly with ts (all flags, aliasing)', () => {
    const rnd = mulberry32(77);
    for (const [dt, C] of DTYPES) {
      for (const n of [0, 1, 2, 3, 8, 17, 40]) {
        const a = spdMatrix(C, n, rnd);
        const l0 = new C(n * n);
        const l1 = new C(n * n);
        assert.equal(nat.cholesky(n, a, l1), tsKernels.cholesky(n, a, l0));
        assert.deepEqual(l1, l0, `cholesky ${dt} n=${n}`);
        const al = a.slice();
        assert.equal(nat.cholesky(n, al, al), true); // l aliases a
        assert.deepEqual(al, l0, `cholesky aliased ${dt} n=${n}`);
        for (const m of [0, 1, 5]) {
          const t = randArray(C, n * n, rnd);
          for (let i = 0; i < n; i++) t[i * n + i] = 2 + rnd();
          const b = randArray(C, n * m, rnd);
          for (let f = 0; f < 8; f++) {
            const [lower, transpose, unit] = [(f & 1) !== 0, (f & 2) !== 0, (f & 4) !== 0];
            const x0 = new C(n * m);
            const x1 = new C(n * m);
            tsKernels.solveTriangular(n, m, t, b, x0, lower, transpose, unit);
            nat.solveTriangular(n, m, t, b, x1, lower, transpose, unit);
            assert.deepEqual(x1, x0, `solveTriangular ${dt} n=${n} m=${m} flags=${f}`);
            const xb = b.slice();
            nat.solveTriangular(n, m, t, xb, xb, lower, transpose, unit); // x aliases b
            assert.deepEqual(xb, x0, `solveTriangular aliased ${dt} n=${n} m=${m} flags=${f}`);
          }
        }
      }
      // Not positive definite, or non-finite: false, like ts.
      const l = new C(4);
      assert.equal(nat.cholesky(2, C.from([1, 2, 2, 1]), l), false);
      assert.equal(nat.cholesky(2, C.from([0, 0, 0, 1]), l), false);
      assert.equal(nat.cholesky(2, C.from([NaN, 0, 0, 1]), l), false);
      assert.equal(nat.cholesky(2, C.from([4, 0, Infinity, 1]), l), false);
      assert.equal(nat.cholesky(1, C.from([Infinity]), new C(1)), false);
      assert.equal(nat.cholesky(2, C.from([4, NaN, 2, 3]), l), true); // upper triangle not read
    }
  });

  test('linear algebra argument validation', () => {
    const f = new Float32Array(16);
    const d = new Float64Array(16);
    const ch = (...args: unknown[]): unknown => (nat.cholesky as (...a: unknown[]) => unknown)(...args);
    const st = (...args: unknown[]): void => (nat.solveTriangular as (...a: unknown[]) => void)(...args);
    const eg = (...args: unknown[]): void => (nat.eigh as (...a: unknown[]) => void)(...args);
    assert.throws(() => ch(4, d), { name: 'TypeError', message: /cholesky: expected 3 arguments/ });
    assert.throws(() => ch(4, d, f), { name: 'TypeError', message: /cholesky: mixed dtypes/ });
    assert.throws(() => ch(5, d, new Float64Array(25)), { name: 'RangeError', message: /cholesky: a has 16 elements/ });
    assert.throws(() => ch(4, d, new Float64Array(15)), { name: 'RangeError', message: /cholesky: l has 15 elements/ });
    assert.throws(() => ch(-1, d, d), { name: 'RangeError', message: /cholesky: n must be/ });
    assert.throws(() => ch(1.5, d, d), RangeError);
    assert.throws(() => ch('4', d, d), TypeError);
    assert.throws(() => ch(4, new Int32Array(16), new Int32Array(16)), TypeError);
    assert.throws(() => ch(2 ** 40, d, d), { name: 'RangeError', message: /a has 16 elements/ });
    assert.equal(ch(0, new Float64Array(0), new Float64Array(0)), true);

    assert.throws(() => st(4, 4, d, d, d, true, false), { name: 'TypeError', message: /solveTriangular: expected 8 arguments/ });
    assert.throws(() => st(4, 4, d, d, f, true, false, false), { name: 'TypeError', message: /solveTriangular: mixed dtypes/ });
    assert.throws(() => st(4, 4, new Float64Array(15), d, d, true, false, false), { name: 'RangeError', message: /t has 15 elements/ });
    assert.throws(() => st(4, 5, d, d, new Float64Array(20), true, false, false), { name: 'RangeError', message: /b has 16 elements/ });
    assert.throws(() => st(4, 5, d, new Float64Array(20), d, true, false, false), { name: 'RangeError', message: /x has 16 elements/ });
    assert.throws(() => st(4, 4, d, d, d, 1, false, false), { name: 'TypeError', message: /lower must be a boolean/ });
    assert.throws(() => st(4, 4, d, d, d, true, false, 'no'), { name: 'TypeError', message: /unitDiagonal must be a boolean/ });
    assert.throws(() => st(4, -4, d, d, d, true, false, false), { name: 'RangeError', message: /m must be/ });
    st(4, 0, new Float64Array(0), new Float64Array(0), new Float64Array(0), true, false, false); // touches nothing

    assert.throws(() => eg(4, d, new Float64Array(4)), { name: 'TypeError', message: /eigh: expected 4 arguments/ });
    assert.throws(() => eg(4, d, new Float32Array(4), d), { name: 'TypeError', message: /eigh: mixed dtypes/ });
    assert.throws(() => eg(4, d, new Float64Array(3), d), { name: 'RangeError', message: /eigh: w has 3 elements/ });
    assert.throws(() => eg(4, d, new Float64Array(4), new Float64Array(15)), { name: 'RangeError', message: /eigh: v has 15 elements/ });
    assert.throws(() => eg(5, d, new Float64Array(5), new Float64Array(25)), { name: 'RangeError', message: /eigh: a has 16 elements/ });
    assert.throws(() => eg(NaN, d, d, d), RangeError);
    assert.throws(() => eg(4, [1, 2], d, d), TypeError);
    eg(0, new Float64Array(0), new Float64Array(0), new Float64Array(0));
  });

  test('argument validation: clear TypeError/RangeError, never out of bounds', () => {
    const f = new Float32Array(16);
    const d = new Float64Array(16);
    const g = (...args: unknown[]): void => (nat.gemm as (...a: unknown[]) => void)(...args);
    // a valid call for reference: 4x4 @ 4x4
    g(false, false, 4, 4, 4, 1, f, 4, 0, f.slice(), 4, 0, 0, new Float32Array(16), 4, 0, 1);
    assert.throws(() => g(false, false, 4, 4, 4), /gemm: expected 17 arguments/);
    assert.throws(() => g(0, false, 4, 4, 4, 1, f, 4, 0, f, 4, 0, 0, f, 4, 0, 1), { name: 'TypeError', message: /gemm: transA must be a boolean/ });
    assert.throws(() => g(false, false, -1, 4, 4, 1, f, 4, 0, f, 4, 0, 0, f, 4, 0, 1), { name: 'RangeError', message: /gemm: m must be/ });
    assert.throws(() => g(false, false, 2.5, 4, 4, 1, f, 4, 0, f, 4, 0, 0, f, 4, 0, 1), RangeError);
    assert.throws(() => g(false, false, NaN, 4, 4, 1, f, 4, 0, f, 4, 0, 0, f, 4, 0, 1), RangeError);
    assert.throws(() => g(false, false, 4, 4, 4, 1, f, 3, 0, f, 4, 0, 0, f, 4, 0, 1), { name: 'RangeError', message: /lda/ });
    assert.throws(() => g(false, false, 4, 4, 4, 1, f, 4, 0, f, 4, 0, 0, f, 3, 0, 1), { name: 'RangeError', message: /ldc/ });
    assert.throws(() => g(false, false, 4, 4, 4, 1, f, 4, 0, f, 4, 0, 0, new Float32Array(15), 4, 0, 1), { name: 'RangeError', message: /c has 15 elements/ });
    assert.throws(() => g(false, false, 4, 4, 4, 1, f, 4, 1, f, 4, 0, 0, new Float32Array(32), 4, 16, 2), { name: 'RangeError', message: /a has 16 elements/ });
    g(false, false, 4, 4, 4, 1, f, 4, 0, f, 4, 0, 0, new Float32Array(32), 4, 16, 2); // stride 0 broadcast
    assert.throws(() => g(false, false, 4, 4, 4, 1, f, 4, 0, d, 4, 0, 0, f, 4, 0, 1), { name: 'TypeError', message: /mixed dtypes/ });
    assert.throws(() => g(false, false, 4, 4, 4, 1, new Int32Array(16), 4, 0, f, 4, 0, 0, f, 4, 0, 1), TypeError);
    assert.throws(() => g(false, false, 4, 4, 4, '1', f, 4, 0, f, 4, 0, 0, f, 4, 0, 1), TypeError);
    assert.throws(() => g(false, false, 4, 4, 4, 1, f, 4, -16, f, 4, 0, 0, f, 4, 0, 1), RangeError);
    // k = 0 does not touch A or B; m = 0 touches nothing
    const c = Float32Array.from({ length: 16 }, () => 2);
    g(false, false, 4, 4, 0, 1, new Float32Array(0), 0, 0, new Float32Array(0), 4, 0, 0.5, c, 4, 0, 1);
    assert.deepEqual([...c], new Array(16).fill(1));
    g(false, false, 0, 4, 4, 1, new Float32Array(0), 4, 0, f, 4, 0, 0, new Float32Array(0), 4, 0, 1);

    const u = (...args: unknown[]): void => (nat.unary as (...a: unknown[]) => void)(...args);
    assert.throws(() => u('nope', f, f), { name: 'RangeError', message: /unary: unknown op 'nope'/ });
    assert.throws(() => u('exp', new Float32Array(3), new Float32Array(4)), { name: 'RangeError', message: /x has 3 elements/ });
    assert.throws(() => u('exp', f, d), TypeError);
    const b = (...args: unknown[]): void => (nat.binary as (...a: unknown[]) => void)(...args);
    assert.throws(() => b('add', f, [1], f, [1], new Float32Array(17), [17]), { name: 'RangeError', message: /a has 16 elements/ });
    assert.throws(() => b('add', f, [1], f, [1], new Float32Array(5), [4]), { name: 'RangeError', message: /out has 5 elements/ });
    assert.throws(() => b('add', f, [1, 1], f, [1], new Float32Array(4), [4]), RangeError);
    assert.throws(() => b('add', f, [-1], f, [1], new Float32Array(4), [4]), { name: 'RangeError', message: /before its first element/ });
    assert.throws(() => b('add', f, [1.5], f, [1], new Float32Array(4), [4]), RangeError);
    assert.throws(() => b('add', f, 1, f, [1], new Float32Array(4), [4]), TypeError);
    assert.throws(() => b('add', Float64Array.of(1), [], Float64Array.of(2), [], new Float32Array(1), []), { name: 'TypeError', message: /mixed dtypes/ });
    const cs = (...args: unknown[]): void => (nat.copyStrided as (...a: unknown[]) => void)(...args);
    assert.throws(() => cs(f, [4, 2], [4, 4], new Float32Array(16)), { name: 'RangeError', message: /x has 16 elements/ });
    assert.throws(() => nat.reduce('max', f, 2, 0, 2, new Float32Array(4)), { name: 'RangeError', message: /n must be >= 1/ });
    assert.throws(() => nat.reduce('sum', f, 2, 5, 2, new Float32Array(4)), RangeError);
    assert.throws(() => nat.softmax(f, 2, 5, 2, new Float32Array(20), false), RangeError);
    assert.throws(() => nat.dot(f, new Float32Array(15)), RangeError);
    assert.throws(() => nat.axpby(1, f, 1, new Float32Array(15), new Float32Array(16)), RangeError);
    assert.throws(() => nat.im2col(f, 1, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1, 4, 5, new Float32Array(180)), { name: 'RangeError', message: /im2col: x has 16 elements/ });
    assert.throws(() => nat.im2col(f, 1, 4, 4, 3, 3, 0, 1, 1, 1, 1, 1, 4, 4, new Float32Array(144)), { name: 'RangeError', message: /strideH/ });
    assert.throws(() => nat.col2im(new Float32Array(143), 1, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 4, f), { name: 'RangeError', message: /col2im: cols has 143/ });
  });

  test('fuzz: random valid and invalid argument sets for every entry point', () => {
    const rnd = mulberry32(12345);
    // corrupt(): occasionally replace a value by something invalid; returns [value, corrupted]
    let bad = false;
    const num = (v: number): unknown => {
      if (rnd() >= 0.04) return v;
      bad = true;
      return pick(rnd, [NaN, 0.5, Infinity, '3', undefined, null, -1e300, 2 ** 60]);
    };
    const arr = (C: Ctor, needed: number): FloatArray => {
      const need = Math.max(0, needed); // a corrupted (negative) leading dimension gives a meaningless length
      const r = rnd();
      if (r < 0.05 && need > 0) { bad = true; return new C(need - 1); }
      return randArray(C, need + (r < 0.3 ? randInt(rnd, 1, 3) : 0), rnd);
    };
    let result: unknown;
    const call = (fn: (...a: unknown[]) => unknown, args: unknown[]): boolean => {
      try {
        result = fn(...args);
        return true;
      } catch (e) {
        assert.ok(e instanceof TypeError || e instanceof RangeError, `unexpected error ${String(e)}`);
        return false;
      }
    };
    const N = nat as unknown as Record<string, (...a: unknown[]) => unknown>;
    const T = tsKernels as unknown as Record<string, (...a: unknown[]) => unknown>;
    let valid = 0;
    let invalid = 0;
    for (let it = 0; it < 400; it++) {
      bad = false;
      const [, C, eps] = pick(rnd, DTYPES);
      const kind = pick(rnd, ['gemm', 'unary', 'binary', 'axpby', 'dot', 'reduce', 'softmax', 'copyStrided', 'im2col', 'col2im']);
      let args: unknown[];
      let outIdx: number;
      let tol = 0;
      switch (kind) {
        case 'gemm': {
          const m = randInt(rnd, 0, 20); const n = randInt(rnd, 0, 20); const k = randInt(rnd, 0, 20);
          const tA = rnd() < 0.5; const tB = rnd() < 0.5; const batch = randInt(rnd, 0, 3);
          let lda = (tA ? m : k) + randInt(rnd, 0, 2); let ldb = (tB ? k : n) + randInt(rnd, 0, 2); const ldc = n + randInt(rnd, 0, 2);
          if (rnd() < 0.04 && (tA ? m : k) > 0 && m > 0 && n > 0) { lda = (tA ? m : k) - 1; bad = true; }
          if (rnd() < 0.02 && (tB ? k : n) > 0 && m > 0 && n > 0) { ldb = -1; bad = true; }
          const sA = pick(rnd, [0, (tA ? k : m) * lda]); const sB = pick(rnd, [0, (tB ? n : k) * ldb]); const sC = m * ldc;
          const live = m > 0 && n > 0 && batch > 0; // otherwise no array is touched
          const [la, lb, lc] = live ? gemmLengths({ tA, tB, m, n, k, alpha: 1, beta: 0, lda, ldb, ldc, sA, sB, sC, batch }) : [0, 0, 0];
          const a = arr(C, la); const b = arr(C, lb); const c = arr(C, lc);
          args = [tA, tB, num(m), num(n), num(k), 1.5, a, num(lda), num(sA), b, num(ldb), num(sB), pick(rnd, [0, 1, -0.5]), c, num(ldc), num(sC), num(batch)];
          outIdx = 13;
          tol = eps * 64 * (k + 1);
          break;
        }
        case 'unary': {
          const n = randInt(rnd, 0, 50);
          args = [pick(rnd, UNARY_OPS) as UnaryOp, arr(C, n), new C(n)];
          outIdx = 2;
          tol = eps === 2 ** -23 ? 1e-5 : 1e-12;
          break;
        }
        case 'binary': {
          const shape = Array.from({ length: randInt(rnd, 0, 3) }, () => randInt(rnd, 1, 4));
          const total = shape.reduce((p, s) => p * s, 1);
          const strides = shape.map((_, d) => shape.slice(d + 1).reduce((p, s) => p * s, 1));
          const bs = strides.map((s) => (rnd() < 0.3 ? 0 : s));
          const bExtent = total === 0 ? 0 : 1 + shape.reduce((p, s, d) => p + (s - 1) * bs[d], 0);
          args = [pick(rnd, BINARY_OPS) as BinaryOp, arr(C, total), strides.map(num), arr(C, bExtent), bs, new C(total), shape.map(num)];
          outIdx = 5;
          tol = 1e-5;
          break;
        }
        case 'axpby': {
          const n = randInt(rnd, 0, 50);
          args = [0.5, arr(C, n), 2, arr(C, n), new C(n)];
          outIdx = 4;
          break;
        }
        case 'dot': {
          const n = randInt(rnd, 0, 50);
          const x = randArray(C, n, rnd);
          args = [x, arr(C, n)];
          outIdx = -1;
          break;
        }
        case 'reduce':
        case 'softmax': {
          const outer = randInt(rnd, 0, 4); const n = randInt(rnd, 1, 6); const inner = randInt(rnd, 1, 4);
          const x = arr(C, outer * n * inner);
          if (kind === 'reduce') {
            args = [pick(rnd, REDUCE_OPS) as ReduceOp, x, num(outer), num(n), num(inner), new C(outer * inner)];
            outIdx = 5;
          } else {
            args = [x, num(outer), num(n), num(inner), new C(outer * n * inner), rnd() < 0.5];
            outIdx = 4;
          }
          tol = 1e-5;
          break;
        }
        case 'copyStrided': {
          const shape = Array.from({ length: randInt(rnd, 0, 3) }, () => randInt(rnd, 1, 4));
          const strides = shape.map(() => randInt(rnd, 0, 5));
          const extent = 1 + shape.reduce((p, s, d) => p + (s - 1) * strides[d], 0);
          const total = shape.reduce((p, s) => p * s, 1);
          args = [arr(C, extent), strides.map(num), shape.map(num), new C(total)];
          outIdx = 3;
          break;
        }
        default: {
          const Cc = randInt(rnd, 1, 3); const H = randInt(rnd, 1, 6); const W = randInt(rnd, 1, 6);
          const kh = randInt(rnd, 1, 3); const kw = randInt(rnd, 1, 3); const p = randInt(rnd, 0, 1);
          const oH = H + 2 * p - kh + 1; const oW = W + 2 * p - kw + 1;
          if (oH <= 0 || oW <= 0) continue;
          const img = Cc * H * W; const cols = Cc * kh * kw * oH * oW;
          const sizes = [num(Cc), num(H), num(W), num(kh), num(kw), num(1), num(1), num(p), num(p), num(1), num(1), num(oH), num(oW)];
          args = kind === 'im2col' ? [arr(C, img), ...sizes, new C(cols)] : [arr(C, cols), ...sizes, randArray(C, img, rnd)];
          outIdx = 14;
          tol = 1e-5;
          break;
        }
      }
      if (rnd() < 0.02) { args = args.slice(0, -1); bad = true; }
      const argsT = args.map((a) => (ArrayBuffer.isView(a) ? (a as FloatArray).slice() : a));
      const ok = call(N[kind], args);
      if (!bad) {
        assert.ok(ok, `${kind}: a valid call threw`);
      }
      if (ok && !bad) {
        valid++;
        const want = T[kind](...argsT);
        if (outIdx < 0) {
          assert.ok(Math.abs((want as number) - (result as number)) <= 1e-12 * 50, `fuzz dot ${String(result)} vs ${String(want)}`);
        } else {
          const got = args[outIdx] as FloatArray;
          const w = argsT[outIdx] as FloatArray;
          assertClose(got, w, relTol(w, tol, tol), `fuzz ${kind}`);
        }
      } else if (!ok) {
        invalid++;
      }
    }
    assert.ok(valid > 100 && invalid > 20, `valid ${valid}, invalid ${invalid}`);
  });
});

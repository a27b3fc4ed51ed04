// The wasm backend against the TypeScript reference. Skips when build/wasm/kernels.wasm is not
// built (run `npm run build:wasm`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloatArray, Kernels } from './types.js';
import { tsKernels } from './ts-backend.js';
import { createWasmKernels, loadWasmKernels, wasmLoadError, wasmMemoryBytes } from './wasm-backend.js';
import { uniformSource as mulberry32 } from '../testing/helpers.js';

const loaded = loadWasmKernels();
const skip = loaded === null ? `wasm backend unavailable: ${wasmLoadError() ?? 'unknown'}` : false;
const wasm = loaded as Kernels;

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const DTYPES: readonly [string, Ctor, number][] = [
  ['float32', Float32Array, 2 ** -23],
  ['float64', Float64Array, 2 ** -52],
];


function randArray(C: Ctor, n: number, rnd: () => number): FloatArray {
  const a = new C(n);
  for (let i = 0; i < n; i++) a[i] = rnd() * 2 - 1;
  return a;
}

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];

const same = (x: number, y: number): boolean => x === y || (Number.isNaN(x) && Number.isNaN(y));

interface GemmCase {
  tA: boolean; tB: boolean; m: number; n: number; k: number; alpha: number; beta: number;
  lda: number; ldb: number; ldc: number; sA: number; sB: number; sC: number; batch: number;
}

/** Run one GEMM case on both backends and compare; C starts as NaN where beta == 0. */
function checkGemm(C: Ctor, eps: number, g: GemmCase, rnd: () => number): void {
  const { tA, tB, m, n, k, alpha, beta, lda, ldb, ldc, sA, sB, sC, batch } = g;
  const rowsA = tA ? k : m;
  const rowsB = tB ? n : k;
  const lenA = batch === 0 ? 0 : (batch - 1) * sA + rowsA * lda;
  const lenB = batch === 0 ? 0 : (batch - 1) * sB + rowsB * ldb;
  const lenC = batch === 0 ? 0 : (batch - 1) * sC + m * ldc + 3; // 3 trailing sentinels
  const a = randArray(C, lenA, rnd);
  const b = randArray(C, lenB, rnd);
  // Entries outside every C_p window are fresh random values (so that stale wasm memory cannot
  // match them by chance); inside, NaN garbage when beta == 0.
  const c0 = randArray(C, lenC, rnd);
  for (let i = 0; i < lenC; i++) c0[i] += 10 + Math.floor(rnd() * 1e6);
  if (beta === 0) {
    for (let p = 0; p < batch; p++) {
      for (let i = 0; i < m; i++) c0.fill(NaN, p * sC + i * ldc, p * sC + i * ldc + n);
    }
  }
  const ref = c0.slice();
  const got = c0.slice();
  tsKernels.gemm(tA, tB, m, n, k, alpha, a, lda, sA, b, ldb, sB, beta, ref, ldc, sC, batch);
  wasm.gemm(tA, tB, m, n, k, alpha, a, lda, sA, b, ldb, sB, beta, got, ldc, sC, batch);
  // Error bound: the same product on absolute values.
  const abs = (x: FloatArray): Float64Array => Float64Array.from(x, Math.abs);
  const bound = Float64Array.from(c0, (v) => (Number.isNaN(v) ? 0 : Math.abs(v)));
  tsKernels.gemm(tA, tB, m, n, k, Math.abs(alpha), abs(a), lda, sA, abs(b), ldb, sB, Math.abs(beta), bound, ldc, sC, batch);
  const tol = 4 * (k + 2) * eps * Math.max(1, batch);
  for (let i = 0; i < lenC; i++) {
    if (same(got[i], ref[i])) continue;
    const err = Math.abs(got[i] - ref[i]);
    assert.ok(
      err <= tol * bound[i] + 1e-300,
      `gemm ${JSON.stringify(g)}: C[${i}] = ${got[i]}, reference ${ref[i]} (bound ${tol * bound[i]})`,
    );
  }
}

const SIZES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 23, 31, 32, 33, 40, 63, 65, 127, 129];
const SMALL = Array.from({ length: 40 }, (_, i) => i + 1);

describe('wasm backend', { skip }, () => {
  test('identity and delegation', () => {
    assert.equal(wasm.name, 'wasm');
    assert.equal(wasm.threads, 1);
    assert.equal(wasm.simd, 'wasm-simd128');
    wasm.setThreads(4);
    assert.equal(wasm.threads, 1);
    assert.equal(wasm.unary, tsKernels.unary);
    assert.equal(wasm.eigh, tsKernels.eigh);
  });

  test('createWasmKernels rejects bytes that are not the kernel module', () => {
    assert.throws(() => createWasmKernels(new Uint8Array([0, 1, 2, 3])));
    // a valid but empty module: no exports
    assert.throws(() => createWasmKernels(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])), /lacks export/);
  });

  for (const [dt, C, eps] of DTYPES) {
    test(`gemm ${dt}: square sizes x transpose flags`, () => {
      const rnd = mulberry32(dt === 'float32' ? 1 : 2);
      for (const s of SIZES) {
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            const lda = (tA ? s : s) + (s % 3);
            checkGemm(C, eps, {
              tA, tB, m: s, n: s, k: s, alpha: 1, beta: 0,
              lda, ldb: s + (s % 2), ldc: s, sA: 0, sB: 0, sC: 0, batch: 1,
            }, rnd);
          }
        }
      }
    });

    test(`gemm ${dt}: random shapes, leading dimensions, batch strides, alpha/beta`, () => {
      const rnd = mulberry32(dt === 'float32' ? 11 : 12);
      const dims = [...SMALL, 0, 63, 65, 127, 129];
      for (let it = 0; it < 400; it++) {
        const big = rnd() < 0.15;
        const dim = (): number => (big ? pick(rnd, dims) : pick(rnd, SMALL.slice(0, 20)));
        const m = rnd() < 0.05 ? 0 : dim();
        const n = rnd() < 0.05 ? 0 : dim();
        const k = rnd() < 0.05 ? 0 : dim();
        const tA = rnd() < 0.5;
        const tB = rnd() < 0.5;
        const lda = (tA ? m : k) + (rnd() < 0.5 ? 0 : Math.floor(rnd() * 5));
        const ldb = (tB ? k : n) + (rnd() < 0.5 ? 0 : Math.floor(rnd() * 5));
        const ldc = n + (rnd() < 0.5 ? 0 : Math.floor(rnd() * 5));
        const batch = big ? pick(rnd, [1, 2]) : pick(rnd, [0, 1, 1, 2, 3, 5]);
        const sizeA = (tA ? k : m) * lda;
        const sizeB = (tB ? n : k) * ldb;
        const sizeC = m * ldc;
        const stride = (size: number): number => (rnd() < 0.2 ? 0 : size + (rnd() < 0.5 ? 0 : Math.floor(rnd() * 7)));
        const sA = stride(sizeA);
        const sB = stride(sizeB);
        const sC = rnd() < 0.05 ? 0 : sizeC + (rnd() < 0.5 ? 0 : Math.floor(rnd() * 7));
        const alpha = pick(rnd, [1, 1, -0.5, 2.5, 0]);
        const beta = pick(rnd, [0, 0, 1, -1.5, 0.25]);
        checkGemm(C, eps, { tA, tB, m, n, k, alpha, beta, lda, ldb, ldc, sA, sB, sC, batch }, rnd);
      }
    });

    test(`gemm ${dt}: matrix-vector shapes (m == 1 or n == 1)`, () => {
      const rnd = mulberry32(dt === 'float32' ? 15 : 16);
      for (const k of [1, 2, 3, 5, 8, 9, 17, 63, 65, 129]) {
        for (const other of [1, 2, 7, 33, 130]) {
          for (const [m, n] of [[1, other], [other, 1]]) {
            for (const tA of [false, true]) {
              for (const tB of [false, true]) {
                const lda = (tA ? m : k) + pick(rnd, [0, 3]);
                const ldb = (tB ? k : n) + pick(rnd, [0, 2]);
                const ldc = n + pick(rnd, [0, 5]);
                const beta = pick(rnd, [0, 0.5]);
                checkGemm(C, eps, {
                  tA, tB, m, n, k, alpha: -1.25, beta, lda, ldb, ldc,
                  sA: 0, sB: 0, sC: m * ldc, batch: pick(rnd, [1, 2]),
                }, rnd);
              }
            }
          }
        }
      }
    });

    test(`gemm ${dt}: one matrix as both operands (A^T A), blocks larger than the cache tiles`, () => {
      const rnd = mulberry32(dt === 'float32' ? 21 : 22);
      const m = 70;
      const k = 300; // > KC: several k-slices, beta applied only once
      const a = randArray(C, k * m, rnd);
      const ref = randArray(C, m * m, rnd);
      const got = ref.slice();
      tsKernels.gemm(true, false, m, m, k, 0.5, a, m, 0, a, m, 0, 2, ref, m, 0, 1);
      wasm.gemm(true, false, m, m, k, 0.5, a, m, 0, a, m, 0, 2, got, m, 0, 1);
      for (let i = 0; i < m * m; i++) assert.ok(Math.abs(got[i] - ref[i]) <= 4 * (k + 2) * eps * 200, `C[${i}]`);
      checkGemm(C, eps, {
        tA: false, tB: true, m: 133, n: 4100, k: 3, alpha: 1, beta: 0.5,
        lda: 3, ldb: 3, ldc: 4100, sA: 0, sB: 0, sC: 0, batch: 1,
      }, rnd); // n > NC
    });

    test(`im2col / col2im ${dt}: stride, padding, dilation`, () => {
      const rnd = mulberry32(dt === 'float32' ? 31 : 32);
      let cases = 0;
      for (let it = 0; it < 300; it++) {
        const Cn = pick(rnd, [0, 1, 2, 3]);
        const H = 1 + Math.floor(rnd() * 12);
        const W = 1 + Math.floor(rnd() * 12);
        const kh = 1 + Math.floor(rnd() * 4);
        const kw = 1 + Math.floor(rnd() * 4);
        const sH = 1 + Math.floor(rnd() * 3);
        const sW = pick(rnd, [1, 1, 2, 3]);
        const pH = Math.floor(rnd() * 3);
        const pW = Math.floor(rnd() * 3);
        const dH = 1 + Math.floor(rnd() * 2);
        const dW = 1 + Math.floor(rnd() * 2);
        const outH = Math.floor((H + 2 * pH - dH * (kh - 1) - 1) / sH) + 1;
        const outW = Math.floor((W + 2 * pW - dW * (kw - 1) - 1) / sW) + 1;
        if (outH <= 0 || outW <= 0) continue;
        cases++;
        const x = randArray(C, Cn * H * W, rnd);
        const ncols = Cn * kh * kw * outH * outW;
        const colsRef = new C(ncols + 2).fill(7);
        const colsGot = new C(ncols + 2).fill(7);
        const args = [Cn, H, W, kh, kw, sH, sW, pH, pW, dH, dW, outH, outW] as const;
        tsKernels.im2col(x, ...args, colsRef);
        wasm.im2col(x, ...args, colsGot);
        assert.deepEqual(colsGot, colsRef, `im2col ${JSON.stringify(args)}`);

        const cols = randArray(C, ncols, rnd);
        const xRef = randArray(C, Cn * H * W, rnd);
        const xGot = xRef.slice();
        tsKernels.col2im(cols, ...args, xRef);
        wasm.col2im(cols, ...args, xGot);
        assert.deepEqual(xGot, xRef, `col2im ${JSON.stringify(args)}`);
      }
      assert.ok(cases > 100);
    });

    test(`dot ${dt}`, () => {
      const rnd = mulberry32(dt === 'float32' ? 41 : 42);
      for (const n of [0, 1, 7, 63, 64, 65, 255, 1000, 4099]) {
        const x = randArray(C, n, rnd);
        const y = randArray(C, n, rnd);
        let bound = 0;
        for (let i = 0; i < n; i++) bound += Math.abs(x[i] * y[i]);
        const err = Math.abs(wasm.dot(x, y) - tsKernels.dot(x, y));
        assert.ok(err <= 2 * (n + 1) * 2 ** -52 * bound, `dot n=${n}: error ${err}`);
      }
    });
  }

  test('memory stays at its high-water mark over repeated large calls', () => {
    const rnd = mulberry32(51);
    const n = 300;
    const a = randArray(Float64Array, n * n, rnd);
    const b = randArray(Float64Array, n * n, rnd);
    const c = new Float64Array(n * n);
    const x = randArray(Float32Array, 16 * 64 * 64, rnd);
    const cols = new Float32Array(16 * 9 * 64 * 64);
    const round = (): void => {
      wasm.gemm(false, true, n, n, n, 1, a, n, 0, b, n, 0, 0, c, n, 0, 1);
      wasm.gemm(true, false, n / 2, n / 2, n, 1, a, n / 2, 0, b, n / 2, 0, 1, c, n / 2, 0, 2);
      wasm.im2col(x, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 64, 64, cols);
      wasm.col2im(cols, 16, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 64, 64, x);
      wasm.dot(a, b);
    };
    round();
    const bytes = wasmMemoryBytes(wasm);
    assert.ok(bytes !== undefined && bytes > 3 * n * n * 8);
    for (let i = 0; i < 20; i++) round();
    assert.equal(wasmMemoryBytes(wasm), bytes);
  });
});

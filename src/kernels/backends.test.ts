/**
 * Conformance: every kernel of every backend that loads here agrees with the `ts` reference,
 * on random shapes including 0-size, 1, odd sizes, non-multiples of SIMD widths, transposed,
 * strided and broadcast cases, in both dtypes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableBackends, backend, tsKernels } from './index.js';
import { BINARY_OPS, REDUCE_OPS, UNARY_OPS, type DType, type FloatArray, type Kernels } from './types.js';
import { Rng } from '../tensor/random.js';
import { assertClose, randomArray, tol } from '../testing/helpers.js';

const DTYPES: DType[] = ['float32', 'float64'];
const SIZES = [0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 65];

function alloc(dtype: DType, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

function contiguous(shape: number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

const others = availableBackends().filter((b) => b !== 'ts');

describe('kernel backends agree with the ts reference', () => {
  it('at least the ts backend is available, and native or wasm loads on this machine', () => {
    assert.ok(availableBackends().includes('ts'));
    assert.ok(others.length > 0, `only ts loaded: ${availableBackends().join(', ')}`);
  });

  for (const name of others) {
    const k: Kernels = backend(name);
    describe(`backend ${name}`, () => {
      it('gemm: all transpose flags, odd sizes, padded leading dimensions, batch strides', () => {
        const rng = new Rng(11);
        for (const dtype of DTYPES) {
          for (let trial = 0; trial < 60; trial++) {
            const pick = () => SIZES[rng.nextInt(SIZES.length)];
            const m = pick(); const n = pick(); const kk = pick();
            const transA = rng.nextFloat() < 0.5; const transB = rng.nextFloat() < 0.5;
            const batch = 1 + rng.nextInt(3);
            const lda = (transA ? m : kk) + rng.nextInt(3);
            const ldb = (transB ? kk : n) + rng.nextInt(3);
            const ldc = n + rng.nextInt(3);
            const aRows = transA ? kk : m; const bRows = transB ? n : kk;
            const broadcastA = rng.nextFloat() < 0.3;
            const strideA = broadcastA ? 0 : aRows * lda;
            const strideB = bRows * ldb;
            const strideC = m * ldc;
            const a = randomArray(rng, Math.max(strideA, aRows * lda) * (broadcastA ? 1 : batch), dtype);
            const b = randomArray(rng, strideB * batch, dtype);
            const alpha = [1, -0.5, 2][rng.nextInt(3)];
            const beta = [0, 1, 0.25][rng.nextInt(3)];
            const c0 = randomArray(rng, strideC * batch, dtype);
            if (beta === 0) c0.fill(NaN); // beta = 0 must overwrite, not propagate NaN
            const cRef = c0.slice(); const cOut = c0.slice();
            tsKernels.gemm(transA, transB, m, n, kk, alpha, a, lda, strideA, b, ldb, strideB, beta, cRef, ldc, strideC, batch);
            k.gemm(transA, transB, m, n, kk, alpha, a, lda, strideA, b, ldb, strideB, beta, cOut, ldc, strideC, batch);
            // Padding columns (j >= n) of C are not part of the result: compare only real entries.
            const pick2 = (c: FloatArray) => {
              const r: number[] = [];
              for (let p = 0; p < batch; p++) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) r.push(c[p * strideC + i * ldc + j]);
              return r;
            };
            assertClose(pick2(cOut), pick2(cRef), { ...tol(dtype, Math.sqrt(kk + 1)), msg: `${dtype} ${m}x${n}x${kk} tA=${transA} tB=${transB} batch=${batch}` });
          }
        }
      });

      it('gemm: a large product crossing cache blocks and threads', () => {
        const rng = new Rng(12);
        for (const dtype of DTYPES) {
          const m = 301; const n = 257; const kk = 520;
          const a = randomArray(rng, m * kk, dtype); const b = randomArray(rng, kk * n, dtype);
          const cRef = alloc(dtype, m * n); const cOut = alloc(dtype, m * n);
          tsKernels.gemm(false, true, m, n, kk, 1, a, kk, 0, b, kk, 0, 0, cRef, n, 0, 1);
          k.gemm(false, true, m, n, kk, 1, a, kk, 0, b, kk, 0, 0, cOut, n, 0, 1);
          assertClose(cOut, cRef, tol(dtype, 30));
        }
      });

      it('unary: every op, including edge values', () => {
        const rng = new Rng(13);
        const specials = [0, -0, 1, -1, 1e-8, -1e-8, 30, -30, 100, -100, 700, -700, Infinity, -Infinity, NaN];
        for (const dtype of DTYPES) {
          for (const op of UNARY_OPS) {
            for (const n of [0, 1, 5, 16, 33, 1000]) {
              const x = randomArray(rng, n, dtype, 4);
              const ref = alloc(dtype, n); const out = alloc(dtype, n);
              tsKernels.unary(op, x, ref); k.unary(op, x, out);
              assertClose(out, ref, { ...tol(dtype, 10), msg: `${op} ${dtype} n=${n}` });
            }
            const x = alloc(dtype, specials.length); x.set(specials);
            const ref = alloc(dtype, x.length); const out = alloc(dtype, x.length);
            tsKernels.unary(op, x, ref); k.unary(op, x, out);
            assertClose(out, ref, { ...tol(dtype, 10), msg: `${op} ${dtype} special values` });
          }
        }
      });

      it('binary: every op with broadcasting strides', () => {
        const rng = new Rng(14);
        for (const dtype of DTYPES) {
          for (const op of BINARY_OPS) {
            for (let trial = 0; trial < 8; trial++) {
              const nd = rng.nextInt(4);
              const shape = Array.from({ length: nd }, () => [0, 1, 2, 3, 5, 17][rng.nextInt(6)]);
              const sa = shape.map((d) => (rng.nextFloat() < 0.3 ? 1 : d));
              const sb = shape.map((d) => (rng.nextFloat() < 0.3 ? 1 : d));
              const size = (s: number[]) => s.reduce((p, d) => p * d, 1);
              const strides = (s: number[]) => contiguous(s).map((st, i) => (s[i] === 1 ? 0 : st));
              const a = randomArray(rng, size(sa), dtype, 3);
              const b = randomArray(rng, size(sb), dtype, 3);
              if (op === 'pow') for (let i = 0; i < a.length; i++) a[i] = Math.abs(a[i]);
              if (['eq', 'ne', 'ge', 'le'].includes(op) && a.length > 0 && b.length > 0) b[0] = a[0];
              const ref = alloc(dtype, size(shape)); const out = alloc(dtype, size(shape));
              tsKernels.binary(op, a, strides(sa), b, strides(sb), ref, shape);
              k.binary(op, a, strides(sa), b, strides(sb), out, shape);
              assertClose(out, ref, { ...tol(dtype, 10), msg: `${op} ${dtype} [${shape}] a[${sa}] b[${sb}]` });
            }
          }
        }
      });

      it('axpby and dot', () => {
        const rng = new Rng(15);
        for (const dtype of DTYPES) {
          for (const n of [0, 1, 7, 64, 1001, 70000]) {
            const x = randomArray(rng, n, dtype); const y = randomArray(rng, n, dtype);
            const ref = alloc(dtype, n); const out = alloc(dtype, n);
            tsKernels.axpby(0.3, x, -1.7, y, ref); k.axpby(0.3, x, -1.7, y, out);
            assertClose(out, ref, tol(dtype));
            const d0 = tsKernels.dot(x, y); const d1 = k.dot(x, y);
            assert.ok(Math.abs(d0 - d1) <= 1e-9 * (1 + Math.abs(d0)) * Math.sqrt(n + 1), `dot ${dtype} n=${n}: ${d1} vs ${d0}`);
          }
        }
      });

      it('reduce and softmax over [outer, n, inner] views', () => {
        const rng = new Rng(16);
        for (const dtype of DTYPES) {
          for (const op of REDUCE_OPS) {
            for (const [outer, n, inner] of [[1, 1, 1], [3, 7, 1], [2, 33, 5], [1, 1000, 1], [4, 1, 9], [0, 3, 2], [5, 17, 1]]) {
              const x = randomArray(rng, outer * n * inner, dtype, 5);
              const ref = alloc(dtype, outer * inner); const out = alloc(dtype, outer * inner);
              tsKernels.reduce(op, x, outer, n, inner, ref); k.reduce(op, x, outer, n, inner, out);
              assertClose(out, ref, { ...tol(dtype, n), msg: `${op} ${dtype} [${outer},${n},${inner}]` });
            }
          }
          for (const log of [false, true]) {
            for (const [outer, n, inner] of [[1, 1, 1], [3, 10, 1], [2, 33, 5], [1, 1000, 1]]) {
              const x = randomArray(rng, outer * n * inner, dtype, 20);
              const ref = alloc(dtype, x.length); const out = alloc(dtype, x.length);
              tsKernels.softmax(x, outer, n, inner, ref, log); k.softmax(x, outer, n, inner, out, log);
              assertClose(out, ref, { ...tol(dtype, 10), msg: `softmax log=${log} ${dtype}` });
            }
          }
        }
      });

      it('copyStrided: transposes and broadcasts', () => {
        const rng = new Rng(17);
        for (const dtype of DTYPES) {
          for (let trial = 0; trial < 20; trial++) {
            const nd = 1 + rng.nextInt(4);
            const shape = Array.from({ length: nd }, () => [1, 2, 3, 8, 17][rng.nextInt(5)]);
            const perm = rng.permutation(nd);
            const src = contiguous(shape);
            const outShape = perm.map((p) => shape[p]);
            const strides = perm.map((p) => (rng.nextFloat() < 0.2 ? 0 : src[p]));
            const x = randomArray(rng, shape.reduce((p, d) => p * d, 1), dtype);
            const ref = alloc(dtype, x.length); const out = alloc(dtype, x.length);
            tsKernels.copyStrided(x, strides, outShape, ref); k.copyStrided(x, strides, outShape, out);
            assert.deepEqual(Array.from(out), Array.from(ref));
          }
        }
      });

      it('im2col / col2im with stride, padding and dilation', () => {
        const rng = new Rng(18);
        for (const dtype of DTYPES) {
          for (const [C, H, W, kh, kw, sh, sw, ph, pw, dh, dw] of [
            [1, 5, 5, 3, 3, 1, 1, 0, 0, 1, 1], [3, 8, 7, 3, 2, 2, 1, 1, 0, 1, 2], [2, 9, 9, 5, 5, 2, 2, 2, 2, 1, 1], [4, 6, 6, 1, 1, 1, 1, 0, 0, 1, 1], [2, 7, 11, 3, 3, 3, 2, 1, 2, 2, 1],
          ]) {
            const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
            const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
            const x = randomArray(rng, C * H * W, dtype);
            const ref = alloc(dtype, C * kh * kw * oh * ow); const out = alloc(dtype, ref.length);
            tsKernels.im2col(x, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, ref);
            k.im2col(x, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, out);
            assert.deepEqual(Array.from(out), Array.from(ref));
            const gx0 = randomArray(rng, x.length, dtype); const gx1 = gx0.slice();
            tsKernels.col2im(ref, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, gx0);
            k.col2im(ref, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, gx1);
            assertClose(gx1, gx0, tol(dtype));
          }
        }
      });

      it('pooling kernels', () => {
        const rng = new Rng(19);
        for (const dtype of DTYPES) {
          const planes = 3; const H = 7; const W = 6;
          for (const [kh, kw, sh, sw, ph, pw] of [[2, 2, 2, 2, 0, 0], [3, 3, 2, 2, 1, 1], [3, 2, 1, 2, 1, 0]]) {
            const oh = Math.floor((H + 2 * ph - kh) / sh) + 1; const ow = Math.floor((W + 2 * pw - kw) / sw) + 1;
            const x = randomArray(rng, planes * H * W, dtype);
            const r0 = alloc(dtype, planes * oh * ow); const r1 = alloc(dtype, r0.length);
            const i0 = new Int32Array(r0.length); const i1 = new Int32Array(r0.length);
            tsKernels.maxPool2d(x, planes, H, W, kh, kw, sh, sw, ph, pw, oh, ow, r0, i0);
            k.maxPool2d(x, planes, H, W, kh, kw, sh, sw, ph, pw, oh, ow, r1, i1);
            assert.deepEqual(Array.from(r1), Array.from(r0));
            assert.deepEqual(Array.from(i1), Array.from(i0));
            for (const cip of [true, false]) {
              tsKernels.avgPool2d(x, planes, H, W, kh, kw, sh, sw, ph, pw, oh, ow, cip, r0);
              k.avgPool2d(x, planes, H, W, kh, kw, sh, sw, ph, pw, oh, ow, cip, r1);
              assertClose(r1, r0, tol(dtype));
              const g0 = alloc(dtype, x.length); const g1 = alloc(dtype, x.length);
              tsKernels.avgPool2dBackward(r0, planes, H, W, kh, kw, sh, sw, ph, pw, oh, ow, cip, g0);
              k.avgPool2dBackward(r0, planes, H, W, kh, kw, sh, sw, ph, pw, oh, ow, cip, g1);
              assertClose(g1, g0, tol(dtype));
            }
          }
        }
      });

      it('cholesky, solveTriangular and eigh', () => {
        const rng = new Rng(20);
        for (const dtype of DTYPES) {
          for (const n of [0, 1, 2, 5, 17, 40]) {
            const g = randomArray(rng, n * n, 'float64');
            const spd = alloc(dtype, n * n);
            for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
              let s = i === j ? n : 0;
              for (let q = 0; q < n; q++) s += g[i * n + q] * g[j * n + q];
              spd[i * n + j] = s;
            }
            const l0 = alloc(dtype, n * n); const l1 = alloc(dtype, n * n);
            assert.equal(k.cholesky(n, spd, l1), tsKernels.cholesky(n, spd, l0));
            assertClose(l1, l0, tol(dtype, 100));
            const b = randomArray(rng, n * 3, dtype);
            for (const lower of [true, false]) for (const transpose of [true, false]) for (const unit of [true, false]) {
              const x0 = alloc(dtype, n * 3); const x1 = alloc(dtype, n * 3);
              const t = lower ? l0 : (() => { const u = alloc(dtype, n * n); for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) u[i * n + j] = l0[j * n + i]; return u; })();
              tsKernels.solveTriangular(n, 3, t, b, x0, lower, transpose, unit);
              k.solveTriangular(n, 3, t, b, x1, lower, transpose, unit);
              assertClose(x1, x0, tol(dtype, 1e4));
            }
            const w0 = alloc(dtype, n); const w1 = alloc(dtype, n);
            const v0 = alloc(dtype, n * n); const v1 = alloc(dtype, n * n);
            tsKernels.eigh(n, spd, w0, v0); k.eigh(n, spd, w1, v1);
            assertClose(w1, w0, tol(dtype, 100 * n));
          }
        }
      });
    });
  }
});

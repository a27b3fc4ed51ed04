// The native eigh's divide-and-conquer path (eigh_dc.cc, taken for n > 32) on the matrices
// that exercise its deflation and secular-equation solve: exactly repeated and clustered
// eigenvalues, Wilkinson and glued Wilkinson matrices, graded and block-diagonal matrices.
// Oracles: the residual ||AV - VΛ|| and ||VᵀV - I|| (products in float64 by the native GEMM,
// itself tested against the ts reference), known eigenvalues, and the old QL path (eighQl).
// Skips when build/native/hessian.node is not built.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloatArray, Kernels } from './types.js';
import { loadNativeAddon, loadNativeKernels, nativeLoadError } from './native-backend.js';
import { uniformSource as mulberry32 } from '../testing/helpers.js';

const loaded = loadNativeKernels();
const skip = loaded === null ? `native backend unavailable: ${nativeLoadError() ?? 'unknown'}` : false;
const nat = loaded as Kernels;
const LEAF = 32;

/** Merges the divide and conquer performs for order n: one per split above the leaf size. */
function expectedMerges(n: number): number {
  if (n <= LEAF) return 0;
  const m = Math.floor(n / 2);
  return 1 + expectedMerges(m) + expectedMerges(n - m);
}

function fro(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** [||AV - V diag(w)||_F / ||A||_F, ||VᵀV - I||_F] for eigenvectors as the columns of v. */
function residuals(n: number, a: Float64Array, w: Float64Array, v: Float64Array): [number, number] {
  const av = new Float64Array(n * n);
  nat.gemm(false, false, n, n, n, 1, a, n, 0, v, n, 0, 0, av, n, 0, 1);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) av[i * n + j] -= v[i * n + j] * w[j];
  const g = new Float64Array(n * n);
  nat.gemm(true, false, n, n, n, 1, v, n, 0, v, n, 0, 0, g, n, 0, 1);
  for (let i = 0; i < n; i++) g[i * n + i] -= 1;
  const na = fro(a);
  return [na === 0 ? fro(av) : fro(av) / na, fro(g)];
}

function randomSymmetric(n: number, rnd: () => number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = rnd() * 2 - 1;
      a[i * n + j] = x;
      a[j * n + i] = x;
    }
  }
  return a;
}

/** I + sum of k random rank-one terms: eigenvalue 1 exactly n - k times. */
function identityPlusLowRank(n: number, k: number, rnd: () => number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  for (let r = 0; r < k; r++) {
    const u = Array.from({ length: n }, () => rnd() * 2 - 1);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += u[i] * u[j];
  }
  return a;
}

/** H diag(values) H for a random Householder reflection H: a dense matrix with these eigenvalues. */
function reflectedDiagonal(values: number[], rnd: () => number): Float64Array {
  const n = values.length;
  const u = Array.from({ length: n }, () => rnd() * 2 - 1);
  const nu = Math.sqrt(u.reduce((s, x) => s + x * x, 0));
  for (let i = 0; i < n; i++) u[i] /= nu;
  // (I - 2uuᵀ) D (I - 2uuᵀ) = D - 2 u (Du)ᵀ - 2 (Du) uᵀ + 4 (uᵀDu) uuᵀ
  const du = u.map((x, i) => values[i] * x);
  const udu = u.reduce((s, x, i) => s + x * du[i], 0);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) a[i * n + j] = (i === j ? values[i] : 0) - 2 * u[i] * du[j] - 2 * du[i] * u[j] + 4 * udu * u[i] * u[j];
  }
  return a;
}

/** Tridiagonal with diagonal d and constant off-diagonal e. */
function tridiagonal(d: number[], e: (i: number) => number): Float64Array {
  const n = d.length;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    a[i * n + i] = d[i];
    if (i + 1 < n) {
      a[i * n + i + 1] = e(i);
      a[(i + 1) * n + i] = e(i);
    }
  }
  return a;
}

/** Wilkinson's W_m^+: diagonal |i - (m-1)/2|, off-diagonal 1 (pairs of nearly equal eigenvalues). */
const wilkinsonDiagonal = (m: number): number[] => Array.from({ length: m }, (_, i) => Math.abs(i - (m - 1) / 2));

/** `blocks` copies of W21+ glued by off-diagonal `glue`: clusters of `blocks` close eigenvalues. */
function gluedWilkinson(blocks: number, glue: number): Float64Array {
  const d = Array.from({ length: blocks }, () => wilkinsonDiagonal(21)).flat();
  return tridiagonal(d, (i) => ((i + 1) % 21 === 0 ? glue : 1));
}

/** Entries scaled by 10^(-8 (i + j) / n): eigenvalues spread over eight orders of magnitude. */
function graded(n: number, rnd: () => number): Float64Array {
  const a = randomSymmetric(n, rnd);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] *= 10 ** ((-8 * (i + j)) / n);
  return a;
}

/** Two random blocks with no coupling (a zero entry where the divide step splits). */
function blockDiagonal(n: number, rnd: () => number): Float64Array {
  const a = new Float64Array(n * n);
  const m = Math.floor(n / 2);
  const b1 = randomSymmetric(m, rnd);
  const b2 = randomSymmetric(n - m, rnd);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) a[i * n + j] = b1[i * m + j];
  for (let i = 0; i < n - m; i++) for (let j = 0; j < n - m; j++) a[(m + i) * n + m + j] = b2[i * (n - m) + j];
  return a;
}

interface Eig { w: Float64Array; v: Float64Array }

function eigh(n: number, a: Float64Array, ql = false): Eig {
  const w = new Float64Array(n);
  const v = new Float64Array(n * n);
  const addon = loadNativeAddon();
  assert.ok(addon !== null);
  if (ql) addon.eighQl(n, a, w, v);
  else nat.eigh(n, a, w, v);
  return { w, v };
}

/** Residual and orthogonality within 1e-14 n (relative to ||A||_F), ascending order, and (unless
 * `compareQl` is false: the QL path is slow) the same eigenvalues as the QL path within
 * 1e-12 max|λ|. Returns the eigenvalues. */
function checkEigh(what: string, n: number, a: Float64Array, compareQl = true): Float64Array {
  const addon = loadNativeAddon();
  assert.ok(addon !== null);
  const before = addon.eighMerges();
  const { w, v } = eigh(n, a);
  assert.equal(addon.eighMerges() - before, expectedMerges(n), `${what} n=${n}: divide-and-conquer merges`);
  const [res, orth] = residuals(n, a, w, v);
  assert.ok(res <= 1e-14 * n, `${what} n=${n}: residual ${res}`);
  assert.ok(orth <= 1e-14 * n, `${what} n=${n}: orthogonality ${orth}`);
  for (let i = 1; i < n; i++) assert.ok(w[i - 1] <= w[i], `${what} n=${n}: not ascending at ${i}`);
  if (!compareQl) return w;
  const ql = eigh(n, a, true).w;
  const top = Math.max(...Array.from(ql, Math.abs));
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(w[i] - ql[i]) <= 1e-12 * top, `${what} n=${n}: eigenvalue ${i}: ${w[i]} vs QL ${ql[i]}`);
  }
  return w;
}

describe('native eigh, divide and conquer', { skip }, () => {
  test('random symmetric matrices: residual, orthogonality, eigenvalues of the QL path (n = 33 .. 1000)', () => {
    const rnd = mulberry32(31);
    for (const n of [33, 65, 200, 513, 1000]) checkEigh('random', n, randomSymmetric(n, rnd));
  });

  test('exactly repeated eigenvalues deflate: I + rank-3 has eigenvalue 1 with multiplicity n - 3', () => {
    const rnd = mulberry32(32);
    for (const n of [65, 200, 513]) {
      const w = checkEigh('I+rank-3', n, identityPlusLowRank(n, 3, rnd));
      const ones = Array.from(w).filter((x) => Math.abs(x - 1) <= 1e-12 * w[n - 1]).length;
      assert.equal(ones, n - 3, `I+rank-3 n=${n}: multiplicity of 1`);
    }
  });

  test('a reflected diagonal with duplicates returns its diagonal, sorted', () => {
    const rnd = mulberry32(33);
    for (const n of [65, 200]) {
      const values = Array.from({ length: n }, (_, i) => (i * 7) % 5 - 2);
      const w = checkEigh('reflected diagonal', n, reflectedDiagonal(values, rnd));
      const want = values.slice().sort((x, y) => x - y);
      for (let i = 0; i < n; i++) assert.ok(Math.abs(w[i] - want[i]) <= 1e-13, `eigenvalue ${i}: ${w[i]} vs ${want[i]}`);
    }
  });

  test('Wilkinson, glued Wilkinson, graded and block-diagonal matrices', () => {
    const rnd = mulberry32(34);
    for (const m of [65, 201]) checkEigh('Wilkinson W+', m, tridiagonal(wilkinsonDiagonal(m), () => 1));
    for (const [blocks, glue] of [[10, 1e-10], [25, 1e-14], [48, 1e-10]] as const) {
      checkEigh(`glued Wilkinson x${blocks} (${glue})`, 21 * blocks, gluedWilkinson(blocks, glue), blocks < 40);
    }
    for (const n of [65, 200, 513]) checkEigh('graded', n, graded(n, rnd));
    checkEigh('block diagonal', 200, blockDiagonal(200, rnd));
  });

  test('diagonal input (nothing to rotate) and the zero matrix', () => {
    const n = 100;
    const d = Array.from({ length: n }, (_, i) => (i % 4) - (i % 7));
    const w = checkEigh('diagonal', n, tridiagonal(d, () => 0));
    assert.deepEqual(Array.from(w), d.slice().sort((x, y) => x - y));
    const { w: wz, v: vz } = eigh(n, new Float64Array(n * n));
    assert.ok(wz.every((x) => x === 0));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.equal(vz[i * n + j], i === j ? 1 : 0);
  });

  test('scaled by 1e-300 and 1e300 the eigenvalues scale and the vectors stay orthonormal', () => {
    const n = 100;
    const a = randomSymmetric(n, mulberry32(35));
    const { w } = eigh(n, a);
    for (const s of [1e-300, 1e300]) {
      const { w: ws, v: vs } = eigh(n, a.map((x) => x * s));
      for (let i = 0; i < n; i++) assert.ok(Math.abs(ws[i] / s - w[i]) <= 1e-12 * Math.abs(w[n - 1]) + 1e-12 * Math.abs(w[0]), `x${s}: eigenvalue ${i}`);
      const [, orth] = residuals(n, new Float64Array(n * n), ws, vs);
      assert.ok(orth <= 1e-14 * n, `x${s}: orthogonality ${orth}`);
    }
  });

  test('NaN or infinite input gives all-NaN results; float32 in and out stays accurate; v may alias a', () => {
    const n = 100;
    const rnd = mulberry32(36);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const a = randomSymmetric(n, rnd);
      a[3 * n + 50] = bad;
      const { w, v } = eigh(n, a);
      assert.ok(w.every(Number.isNaN) && v.every(Number.isNaN), `${bad}: all NaN`);
    }
    const a64 = randomSymmetric(n, rnd);
    const a32 = Float32Array.from(a64);
    const w32 = new Float32Array(n);
    const v32 = new Float32Array(n * n);
    nat.eigh(n, a32, w32, v32);
    const [r32, o32] = residuals(n, Float64Array.from(a32), Float64Array.from(w32), Float64Array.from(v32));
    assert.ok(r32 < 1e-5 && o32 < 1e-5, `float32: ${r32}, ${o32}`);
    const alias: FloatArray = a64.slice();
    const wa = new Float64Array(n);
    nat.eigh(n, alias, wa, alias);
    const [ra, oa] = residuals(n, a64, wa, alias as Float64Array);
    assert.ok(ra <= 1e-14 * n && oa <= 1e-14 * n, `aliased: ${ra}, ${oa}`);
  });

  test('the QL path and n <= 32 take no divide-and-conquer merge', () => {
    const addon = loadNativeAddon();
    assert.ok(addon !== null);
    const rnd = mulberry32(37);
    const before = addon.eighMerges();
    eigh(200, randomSymmetric(200, rnd), true);
    eigh(32, randomSymmetric(32, rnd));
    assert.equal(addon.eighMerges(), before);
  });
});

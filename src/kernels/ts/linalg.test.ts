import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cholesky, eigh, eighJacobi, inversePthRoot, INVERSE_ROOT_TINY, matrixFunctionSym, solveTriangular,
} from './linalg.js';
import type { FloatArray } from '../types.js';
import { uniformSource as mulberry32 } from '../../testing/helpers.js';

// ---------------------------------------------------------------------------------------------
// Seeded random data: mulberry32 + Box–Muller.
// ---------------------------------------------------------------------------------------------


class Rng {
  private readonly u: () => number;
  private spare: number | null = null;
  constructor(seed: number) { this.u = mulberry32(seed); }
  uniform(): number { return this.u(); }
  normal(): number {
    if (this.spare !== null) { const s = this.spare; this.spare = null; return s; }
    let u1 = this.u();
    while (u1 === 0) u1 = this.u();
    const r = Math.sqrt(-2 * Math.log(u1));
    const th = 2 * Math.PI * this.u();
    this.spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
  normals(len: number): Float64Array {
    const x = new Float64Array(len);
    for (let i = 0; i < len; i++) x[i] = this.normal();
    return x;
  }
}

// ---------------------------------------------------------------------------------------------
// Dense helpers (float64, naive, row-major).
// ---------------------------------------------------------------------------------------------

function matmul(n: number, k: number, m: number, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      for (let j = 0; j < m; j++) c[i * m + j] += aip * b[p * m + j];
    }
  }
  return c;
}

function transpose(r: number, c: number, a: ArrayLike<number>): Float64Array {
  const t = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = a[i * c + j];
  return t;
}

/** Frobenius norm, scaled so that entries up to 1e308 do not overflow. */
function fro(x: ArrayLike<number>): number {
  let mx = 0;
  for (let i = 0; i < x.length; i++) mx = Math.max(mx, Math.abs(x[i]));
  if (mx === 0 || !Number.isFinite(mx)) return mx;
  let s = 0;
  for (let i = 0; i < x.length; i++) { const t = x[i] / mx; s += t * t; }
  return mx * Math.sqrt(s);
}

function sub(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const c = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) c[i] = a[i] - b[i];
  return c;
}

function eye(n: number): Float64Array {
  const I = new Float64Array(n * n);
  for (let i = 0; i < n; i++) I[i * n + i] = 1;
  return I;
}

function randomSym(n: number, rng: Rng): Float64Array {
  const g = rng.normals(n * n);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = 0.5 * (g[i * n + j] + g[j * n + i]);
  return a;
}

/** Random orthogonal matrix: the product of n Householder reflections with Gaussian vectors. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  let Q = eye(n);
  for (let r = 0; r < n; r++) {
    const v = rng.normals(n);
    let vv = 0;
    for (let i = 0; i < n; i++) vv += v[i] * v[i];
    const H = eye(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H[i * n + j] -= (2 * v[i] * v[j]) / vv;
    Q = matmul(n, n, n, Q, H);
  }
  return Q;
}

/** Q diag(lambda) Q^T, exactly symmetrized. */
function withSpectrum(Q: Float64Array, lambda: ArrayLike<number>): Float64Array {
  const n = lambda.length;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += Q[i * n + k] * lambda[k] * Q[j * n + k];
      a[i * n + j] = s;
      a[j * n + i] = s;
    }
  }
  return a;
}

interface EigCheck { residual: number; orth: number }

/** ||A V - V Λ||_F / ||A||_F (absolute if A = 0) and ||V^T V - I||_F; asserts ascending w. */
function checkEig(n: number, a: ArrayLike<number>, w: ArrayLike<number>, v: ArrayLike<number>): EigCheck {
  for (let i = 0; i < n; i++) assert.ok(Number.isFinite(w[i]), `w[${i}] = ${w[i]}`);
  for (let i = 0; i < n * n; i++) assert.ok(Number.isFinite(v[i]), `v[${i}] = ${v[i]}`);
  for (let i = 1; i < n; i++) assert.ok(w[i - 1] <= w[i], `eigenvalues not ascending at ${i}`);
  // Scale A and Λ together so that the residual of huge matrices does not overflow.
  let mx = 0;
  for (let i = 0; i < n * n; i++) mx = Math.max(mx, Math.abs(a[i]));
  const sc = mx > 0 ? mx : 1;
  const as = Float64Array.from(a as ArrayLike<number>, (x) => x / sc);
  const av = matmul(n, n, n, as, v);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) av[i * n + j] -= v[i * n + j] * (w[j] / sc);
  const an = fro(as);
  const residual = an > 0 ? fro(av) / an : fro(av);
  const vtv = matmul(n, n, n, transpose(n, n, v), v);
  const orth = fro(sub(vtv, eye(n)));
  return { residual, orth };
}

function runEigh(n: number, a: FloatArray, jacobi = false): { w: Float64Array; v: Float64Array } {
  const w = new Float64Array(n);
  const v = new Float64Array(n * n);
  (jacobi ? eighJacobi : eigh)(n, a, w, v);
  return { w, v };
}

function assertClose(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tol ${tol})`);
}

// ---------------------------------------------------------------------------------------------
// eigh
// ---------------------------------------------------------------------------------------------

describe('eigh', () => {
  it('random symmetric matrices: residual and orthogonality < 1e-12', () => {
    const rng = new Rng(1);
    for (const n of [0, 1, 2, 3, 7, 16, 64, 200]) {
      const a = randomSym(n, rng);
      const { w, v } = runEigh(n, a);
      const { residual, orth } = checkEig(n, a, w, v);
      assert.ok(residual < 1e-12, `n=${n} residual ${residual}`);
      assert.ok(orth < 1e-12, `n=${n} orth ${orth}`);
      // trace is preserved
      let tr = 0;
      let sw = 0;
      for (let i = 0; i < n; i++) { tr += a[i * n + i]; sw += w[i]; }
      assertClose(sw, tr, 1e-12 * Math.max(1, n), `n=${n} trace`);
    }
  });

  it('0×0 is a no-op and 1×1 is exact', () => {
    eigh(0, new Float64Array(0), new Float64Array(0), new Float64Array(0));
    for (const x of [-3.5, 0, 2e-300, 7e300]) {
      const { w, v } = runEigh(1, Float64Array.of(x));
      assert.equal(w[0], x);
      assert.equal(Math.abs(v[0]), 1);
    }
  });

  it('recovers a known spectrum Q diag(λ) Q^T', () => {
    const rng = new Rng(2);
    for (const n of [5, 30, 80]) {
      const Q = randomOrthogonal(n, rng);
      const lam = Array.from({ length: n }, () => 10 * rng.normal()).sort((x, y) => x - y);
      const a = withSpectrum(Q, lam);
      const { w, v } = runEigh(n, a);
      const lmax = Math.max(...lam.map(Math.abs));
      for (let i = 0; i < n; i++) assertClose(w[i], lam[i], 1e-13 * lmax * n, `n=${n} λ${i}`);
      const { residual, orth } = checkEig(n, a, w, v);
      assert.ok(residual < 1e-12 && orth < 1e-12, `n=${n} ${residual} ${orth}`);
      // eigenvectors match Q's columns up to sign (distinct eigenvalues)
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += v[i * n + j] * Q[i * n + j];
        assertClose(Math.abs(dot), 1, 1e-10, `n=${n} vector ${j}`);
      }
    }
  });

  it('diagonal matrices (with repeats and negatives)', () => {
    const diag = [3, -1, 0, 3, 1e-300, -7e10, 2, 2];
    const n = diag.length;
    const a = new Float64Array(n * n);
    diag.forEach((x, i) => { a[i * n + i] = x; });
    const { w, v } = runEigh(n, a);
    const sorted = [...diag].sort((x, y) => x - y);
    for (let i = 0; i < n; i++) assert.equal(w[i], sorted[i]);
    const { residual, orth } = checkEig(n, a, w, v);
    assert.ok(residual === 0 && orth === 0, `${residual} ${orth}`);
  });

  it('zero matrix and identity', () => {
    for (const n of [1, 5, 33]) {
      const z = runEigh(n, new Float64Array(n * n));
      assert.ok(z.w.every((x) => x === 0));
      assert.ok(checkEig(n, new Float64Array(n * n), z.w, z.v).orth === 0);
      const I = eye(n);
      const r = runEigh(n, I);
      assert.ok(r.w.every((x) => x === 1));
      const c = checkEig(n, I, r.w, r.v);
      assert.ok(c.residual === 0 && c.orth === 0);
    }
  });

  it('clustered eigenvalues 1 ± 1e-14 stay orthonormal', () => {
    const rng = new Rng(3);
    const n = 40;
    const Q = randomOrthogonal(n, rng);
    const lam = Array.from({ length: n }, (_, i) => 1 + (i - n / 2) * 1e-14 / (n / 2)).sort((x, y) => x - y);
    const a = withSpectrum(Q, lam);
    const { w, v } = runEigh(n, a);
    const { residual, orth } = checkEig(n, a, w, v);
    assert.ok(residual < 1e-13, `residual ${residual}`);
    assert.ok(orth < 1e-12, `orth ${orth}`);
    for (let i = 0; i < n; i++) assertClose(w[i], lam[i], 1e-14, `λ${i}`);
  });

  it('rank-1 outer products up to n = 200', () => {
    const rng = new Rng(4);
    for (const n of [2, 10, 200]) {
      const u = rng.normals(n);
      const a = new Float64Array(n * n);
      let uu = 0;
      for (let i = 0; i < n; i++) {
        uu += u[i] * u[i];
        for (let j = 0; j < n; j++) a[i * n + j] = u[i] * u[j];
      }
      const { w, v } = runEigh(n, a);
      const { residual, orth } = checkEig(n, a, w, v);
      assert.ok(residual < 1e-12 && orth < 1e-12, `n=${n} ${residual} ${orth}`);
      assertClose(w[n - 1], uu, 1e-13 * uu, `n=${n} top`);
      for (let i = 0; i < n - 1; i++) assert.ok(Math.abs(w[i]) < 1e-13 * uu, `n=${n} w${i} = ${w[i]}`);
      // low-rank PSD: rank 5 as well
      const b = new Float64Array(n * n);
      for (let r = 0; r < Math.min(5, n); r++) {
        const x = rng.normals(n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i * n + j] += x[i] * x[j];
      }
      const e = runEigh(n, b);
      const cb = checkEig(n, b, e.w, e.v);
      assert.ok(cb.residual < 1e-12 && cb.orth < 1e-12, `rank5 n=${n} ${cb.residual} ${cb.orth}`);
    }
  });

  it('badly scaled entries from 1e-150 to 1e150', () => {
    const rng = new Rng(5);
    for (const n of [4, 16, 50]) {
      // (a) graded: D M D with D spanning 1e-75..1e75
      const m = randomSym(n, rng);
      const d = Array.from({ length: n }, (_, i) => 10 ** (-75 + (150 * i) / Math.max(1, n - 1)));
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = d[i] * m[i * n + j] * d[j];
      let r = runEigh(n, a);
      let c = checkEig(n, a, r.w, r.v);
      assert.ok(c.residual < 1e-12 && c.orth < 1e-12, `graded n=${n} ${c.residual} ${c.orth}`);
      // (b) random magnitudes 10^U(-150, 150)
      const b = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++) {
          const x = (rng.uniform() < 0.5 ? -1 : 1) * 10 ** (-150 + 300 * rng.uniform());
          b[i * n + j] = x;
          b[j * n + i] = x;
        }
      }
      r = runEigh(n, b);
      c = checkEig(n, b, r.w, r.v);
      assert.ok(c.residual < 1e-12 && c.orth < 1e-12, `random-scale n=${n} ${c.residual} ${c.orth}`);
    }
  });

  it('scale invariance: c·A for c from 1e-310 to 1e300', () => {
    const rng = new Rng(6);
    const n = 12;
    const a = randomSym(n, rng);
    const base = runEigh(n, a);
    for (const c of [1e300, 1e-300, 1e-310, 2 ** 600]) {
      const ca = Float64Array.from(a, (x) => x * c);
      const r = runEigh(n, ca);
      const cr = checkEig(n, ca, r.w, r.v);
      const tol = c < 1e-300 ? 1e-8 : 1e-12; // subnormal inputs have lost digits already
      assert.ok(cr.residual < tol && cr.orth < 1e-12, `c=${c} ${cr.residual} ${cr.orth}`);
      for (let i = 0; i < n; i++) {
        assertClose(r.w[i] / c, base.w[i], tol * 10, `c=${c} λ${i}`);
      }
    }
    // entries near the top of the float64 range do not overflow
    const big = Float64Array.of(1.5e308, -1e307, -1e307, 1.2e308); // eigenvalues ~1.53e308
    const rb = runEigh(2, big);
    const cb = checkEig(2, big, rb.w, rb.v);
    assert.ok(cb.residual < 1e-14 && cb.orth < 1e-14, `big ${cb.residual}`);
  });

  it('condition number 1e16', () => {
    const rng = new Rng(7);
    const n = 50;
    const Q = randomOrthogonal(n, rng);
    const lam = Array.from({ length: n }, (_, i) => 10 ** (-16 + (16 * i) / (n - 1)));
    const a = withSpectrum(Q, lam);
    const { w, v } = runEigh(n, a);
    const { residual, orth } = checkEig(n, a, w, v);
    assert.ok(residual < 1e-13 && orth < 1e-12, `${residual} ${orth}`);
    for (let i = 0; i < n; i++) assertClose(w[i], lam[i], 1e-14, `λ${i}`);
  });

  it('reads both triangles as their average', () => {
    const rng = new Rng(8);
    const n = 9;
    const g = rng.normals(n * n);
    const s = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s[i * n + j] = 0.5 * (g[i * n + j] + g[j * n + i]);
    const r1 = runEigh(n, g);
    const r2 = runEigh(n, s);
    for (let i = 0; i < n; i++) assertClose(r1.w[i], r2.w[i], 1e-13, `λ${i}`);
  });

  it('non-finite input gives NaN, promptly', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const n = 6;
      const a = randomSym(n, new Rng(9));
      a[2 * n + 4] = bad;
      const { w, v } = runEigh(n, a);
      assert.ok(w.every(Number.isNaN) && v.every(Number.isNaN));
      const out = new Float64Array(n * n);
      inversePthRoot(n, a, 2, out, 1e-6);
      assert.ok(out.every(Number.isNaN));
    }
  });

  it('float32 input and output (tolerance ~1e-5)', () => {
    const rng = new Rng(10);
    for (const n of [1, 8, 64]) {
      const a = Float32Array.from(randomSym(n, rng));
      const w = new Float32Array(n);
      const v = new Float32Array(n * n);
      eigh(n, a, w, v);
      const { residual, orth } = checkEig(n, a, w, v);
      assert.ok(residual < 1e-5 && orth < 1e-5, `n=${n} ${residual} ${orth}`);
      // same eigenvalues as the float64 path on the same (f32-representable) data
      const r = runEigh(n, Float64Array.from(a));
      for (let i = 0; i < n; i++) assert.equal(w[i], Math.fround(r.w[i]));
    }
  });

  it('agrees with the Jacobi fallback, which is accurate on its own', () => {
    const rng = new Rng(11);
    for (const n of [1, 2, 5, 30]) {
      const a = randomSym(n, rng);
      const j = runEigh(n, a, true);
      const q = runEigh(n, a);
      const cj = checkEig(n, a, j.w, j.v);
      assert.ok(cj.residual < 1e-12 && cj.orth < 1e-12, `jacobi n=${n} ${cj.residual} ${cj.orth}`);
      for (let i = 0; i < n; i++) assertClose(j.w[i], q.w[i], 1e-12 * n, `n=${n} λ${i}`);
    }
    // and on the hard cases
    const n = 20;
    const Q = randomOrthogonal(n, rng);
    for (const lam of [
      Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 - 1e-14 : 1 + 1e-14)),
      Array.from({ length: n }, (_, i) => (i === n - 1 ? 5 : 0)),
      Array.from({ length: n }, (_, i) => 10 ** (-16 + (16 * i) / (n - 1))),
    ]) {
      const a = withSpectrum(Q, lam);
      const j = runEigh(n, a, true);
      const cj = checkEig(n, a, j.w, j.v);
      assert.ok(cj.residual < 1e-12 && cj.orth < 1e-12, `jacobi hard ${cj.residual} ${cj.orth}`);
    }
    const z = runEigh(4, new Float64Array(16), true);
    assert.ok(z.w.every((x) => x === 0) && checkEig(4, new Float64Array(16), z.w, z.v).orth === 0);
    const nan = runEigh(3, Float64Array.of(1, 2, 3, 4, NaN, 6, 7, 8, 9), true);
    assert.ok(nan.w.every(Number.isNaN));
  });

  it('n = 300 stays fast', () => {
    const n = 300;
    const a = randomSym(n, new Rng(12));
    const t0 = performance.now();
    const { w, v } = runEigh(n, a);
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `eigh n=300 took ${ms} ms`); // generous: ~100 ms expected
    assert.ok(w.every(Number.isFinite) && v.every(Number.isFinite));
  });
});

// ---------------------------------------------------------------------------------------------
// cholesky
// ---------------------------------------------------------------------------------------------

function randomSpd(n: number, rng: Rng): Float64Array {
  const g = rng.normals(n * n);
  const a = matmul(n, n, n, g, transpose(n, n, g));
  for (let i = 0; i < n; i++) a[i * n + i] += n;
  return a;
}

describe('cholesky', () => {
  it('L L^T = A, L lower triangular, upper triangle of A not read', () => {
    const rng = new Rng(20);
    for (const n of [0, 1, 2, 5, 64, 200]) {
      const a = randomSpd(n, rng);
      const input = Float64Array.from(a);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) input[i * n + j] = NaN;
      const l = new Float64Array(n * n).fill(7);
      assert.equal(cholesky(n, input, l), true);
      for (let i = 0; i < n; i++) {
        assert.ok(l[i * n + i] > 0);
        for (let j = i + 1; j < n; j++) assert.equal(l[i * n + j], 0);
      }
      const llt = matmul(n, n, n, l, transpose(n, n, l));
      const err = n === 0 ? 0 : fro(sub(llt, a)) / fro(a);
      assert.ok(err < 1e-14, `n=${n} err ${err}`);
    }
  });

  it('in place (l aliases a) and float32', () => {
    const rng = new Rng(21);
    const n = 10;
    const a = randomSpd(n, rng);
    const b = Float64Array.from(a);
    assert.equal(cholesky(n, b, b), true);
    const err = fro(sub(matmul(n, n, n, b, transpose(n, n, b)), a)) / fro(a);
    assert.ok(err < 1e-14);
    const a32 = Float32Array.from(a);
    const l32 = new Float32Array(n * n);
    assert.equal(cholesky(n, a32, l32), true);
    const err32 = fro(sub(matmul(n, n, n, l32, transpose(n, n, l32)), a32)) / fro(a32);
    assert.ok(err32 < 1e-6, `f32 err ${err32}`);
  });

  it('returns false on indefinite, singular and non-finite input', () => {
    assert.equal(cholesky(2, Float64Array.of(1, 0, 0, -1), new Float64Array(4)), false);
    assert.equal(cholesky(2, Float64Array.of(1, 2, 2, 1), new Float64Array(4)), false);
    assert.equal(cholesky(3, new Float64Array(9), new Float64Array(9)), false);
    assert.equal(cholesky(1, Float64Array.of(-0), new Float64Array(1)), false);
    const rng = new Rng(22);
    const n = 6;
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const [i, j] of [[0, 0], [3, 1], [5, 4], [5, 5]]) {
        const a = randomSpd(n, rng);
        a[i * n + j] = bad;
        assert.equal(cholesky(n, a, new Float64Array(n * n)), false, `${bad} at ${i},${j}`);
      }
    }
    // a rank-deficient PSD matrix
    const u = rng.normals(n);
    const r1 = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) r1[i * n + j] = u[i] * u[j];
    assert.equal(cholesky(n, r1, new Float64Array(n * n)), false);
  });
});

// ---------------------------------------------------------------------------------------------
// solveTriangular
// ---------------------------------------------------------------------------------------------

describe('solveTriangular', () => {
  it('op(T) X = B for all 8 flag combinations, sizes and aliasing', () => {
    const rng = new Rng(30);
    for (const lower of [true, false]) {
      for (const trans of [false, true]) {
        for (const unit of [false, true]) {
          for (const n of [0, 1, 5, 17]) {
            for (const m of [0, 1, 3]) {
              // T: the used triangle is well conditioned; the unused part (and the diagonal
              // when unit) holds NaN to prove it is not read.
              const t = new Float64Array(n * n).fill(NaN);
              const tref = new Float64Array(n * n); // effective T with zeros/ones
              for (let i = 0; i < n; i++) {
                for (let j = 0; j < n; j++) {
                  const inTri = lower ? j < i : j > i;
                  if (inTri) {
                    const x = rng.normal() / Math.sqrt(n);
                    t[i * n + j] = x;
                    tref[i * n + j] = x;
                  } else if (i === j) {
                    const dgl = (rng.uniform() < 0.5 ? -1 : 1) * (1 + rng.uniform());
                    if (!unit) t[i * n + i] = dgl;
                    tref[i * n + i] = unit ? 1 : dgl;
                  }
                }
              }
              const opT = trans ? transpose(n, n, tref) : tref;
              const xTrue = rng.normals(n * m);
              const b = matmul(n, n, m, opT, xTrue);
              const tag = `lower=${lower} trans=${trans} unit=${unit} n=${n} m=${m}`;
              const x = new Float64Array(n * m);
              solveTriangular(n, m, t, b, x, lower, trans, unit);
              const scale = Math.max(1, fro(xTrue));
              assert.ok(fro(sub(x, xTrue)) / scale < 1e-12, `${tag}: ${fro(sub(x, xTrue))}`);
              // aliasing: x = b
              const bb = Float64Array.from(b);
              solveTriangular(n, m, t, bb, bb, lower, trans, unit);
              assert.ok(fro(sub(bb, xTrue)) / scale < 1e-12, `${tag} (aliased)`);
              // float32
              const t32 = Float32Array.from(t);
              const b32 = Float32Array.from(b);
              const x32 = new Float32Array(n * m);
              solveTriangular(n, m, t32, b32, x32, lower, trans, unit);
              const x64 = new Float64Array(n * m);
              solveTriangular(n, m, Float64Array.from(t32), Float64Array.from(b32), x64, lower, trans, unit);
              for (let i = 0; i < n * m; i++) assert.equal(x32[i], Math.fround(x64[i]), tag);
            }
          }
        }
      }
    }
  });

  it('solves with a Cholesky factor: A X = B via L and L^T', () => {
    const rng = new Rng(31);
    const n = 40;
    const m = 4;
    const a = randomSpd(n, rng);
    const l = new Float64Array(n * n);
    assert.ok(cholesky(n, a, l));
    const xTrue = rng.normals(n * m);
    const b = matmul(n, n, m, a, xTrue);
    solveTriangular(n, m, l, b, b, true, false, false);
    solveTriangular(n, m, l, b, b, true, true, false);
    assert.ok(fro(sub(b, xTrue)) / fro(xTrue) < 1e-12);
  });
});

// ---------------------------------------------------------------------------------------------
// inversePthRoot / matrixFunctionSym
// ---------------------------------------------------------------------------------------------

function matPow(n: number, r: Float64Array, p: number): Float64Array {
  let out = eye(n);
  for (let i = 0; i < p; i++) out = matmul(n, n, n, out, r);
  return out;
}

describe('inversePthRoot', () => {
  it('(A^{-1/p})^p A = I for SPD A, p = 1, 2, 4', () => {
    const rng = new Rng(40);
    for (const n of [1, 3, 20, 60]) {
      const Q = randomOrthogonal(n, rng);
      const lam = Array.from({ length: n }, () => 0.01 + 4 * rng.uniform());
      const a = withSpectrum(Q, lam);
      for (const p of [1, 2, 4]) {
        const r = new Float64Array(n * n);
        inversePthRoot(n, a, p, r, 1e-12);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.equal(r[i * n + j], r[j * n + i]);
        const prod = matmul(n, n, n, matPow(n, r, p), a);
        const err = fro(sub(prod, eye(n)));
        assert.ok(err < 1e-10, `n=${n} p=${p} err ${err}`);
        // and matches Q diag(λ^{-1/p}) Q^T
        const ref = withSpectrum(Q, lam.map((x) => x ** (-1 / p)));
        assert.ok(fro(sub(r, ref)) / fro(ref) < 1e-12, `n=${n} p=${p} vs reference`);
      }
    }
  });

  it('rank-deficient PSD input: finite, floored relative to λ_max', () => {
    const rng = new Rng(41);
    const n = 8;
    const Q = randomOrthogonal(n, rng);
    const lam = [0, 0, 0, 0, 0, 1, 2, 4];
    const a = withSpectrum(Q, lam);
    const eps = 1e-6;
    for (const p of [1, 2, 4]) {
      const r = new Float64Array(n * n);
      inversePthRoot(n, a, p, r, eps);
      assert.ok(r.every(Number.isFinite), `p=${p}`);
      const floor = eps * 4;
      const ref = withSpectrum(Q, lam.map((x) => Math.max(x, floor) ** (-1 / p)));
      assert.ok(fro(sub(r, ref)) / fro(ref) < 1e-9, `p=${p}: ${fro(sub(r, ref)) / fro(ref)}`);
    }
    // zero matrix: the floor falls back to eps * INVERSE_ROOT_TINY
    const z = new Float64Array(9);
    inversePthRoot(3, z, 2, z, 1e-6);
    const g = (1e-6 * INVERSE_ROOT_TINY) ** -0.5;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assertClose(z[i * 3 + j], i === j ? g : 0, 1e-12 * g, 'zero');
    // float32 rank-deficient input stays finite in f32
    const a32 = Float32Array.from(a);
    const r32 = new Float32Array(n * n);
    inversePthRoot(n, a32, 4, r32, 1e-6);
    assert.ok(r32.every(Number.isFinite));
  });

  it('rejects bad p and eps', () => {
    const a = eye(2);
    assert.throws(() => inversePthRoot(2, a, 0, new Float64Array(4), 1e-6), RangeError);
    assert.throws(() => inversePthRoot(2, a, 2, new Float64Array(4), -1), RangeError);
    assert.throws(() => inversePthRoot(2, a, NaN, new Float64Array(4), 1e-6), RangeError);
  });
});

describe('matrixFunctionSym', () => {
  it('f(x) = x reproduces A, x^2 gives A·A, exp of a diagonal', () => {
    const rng = new Rng(50);
    const n = 15;
    const a = randomSym(n, rng);
    const out = new Float64Array(n * n);
    matrixFunctionSym(n, a, (x) => x, out);
    assert.ok(fro(sub(out, a)) / fro(a) < 1e-13);
    matrixFunctionSym(n, a, (x) => x * x, out);
    const a2 = matmul(n, n, n, a, a);
    assert.ok(fro(sub(out, a2)) / fro(a2) < 1e-13);
    const d = Float64Array.of(1, 0, 0, 0, -2, 0, 0, 0, 0.5);
    matrixFunctionSym(3, d, Math.exp, d); // in place
    const expect = [Math.E, 0, 0, 0, Math.exp(-2), 0, 0, 0, Math.exp(0.5)];
    for (let i = 0; i < 9; i++) assertClose(d[i], expect[i], 1e-15, `exp ${i}`);
    matrixFunctionSym(0, new Float64Array(0), Math.exp, new Float64Array(0));
  });
});

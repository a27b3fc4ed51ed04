/**
 * The float64 matrix pieces of Shampoo/SOAP/Muon against identities: a root raised to its power
 * inverts the matrix, Newton's roots agree with the eigendecomposition's, QR's Q is orthogonal
 * and triangularizes its input, whatever the input's rank.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../tensor/random.js';
import { gram, identity, inverseRootEigen, inverseRootNewton, matmul, qrOrthogonal, transpose } from './dense.js';

function randomMatrix(rng: Rng, m: number, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: m * n }, () => scale * rng.nextNormal());
}
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
function power(x: Float64Array, n: number, p: number): Float64Array {
  let out = identity(n);
  for (let i = 0; i < p; i++) out = matmul(out, x, n, n, n);
  return out;
}

describe('inverse roots', () => {
  const rng = new Rng(3);
  const n = 6;
  // A well-conditioned SPD matrix: G Gᵀ + I.
  const g = randomMatrix(rng, n, 2 * n);
  const a = gram(g, n, 2 * n, 'left');
  for (let i = 0; i < n; i++) a[i * n + i] += 1;

  for (const p of [2, 4, 6]) {
    it(`eigh root: X^${p} · A = I for an SPD matrix`, () => {
      const x = inverseRootEigen(a, n, p, 1e-12);
      assert.ok(maxDiff(matmul(power(x, n, p), a, n, n, n), identity(n)) < 1e-9);
    });
    it(`Newton root agrees with the eigh root (p = ${p})`, () => {
      const r = inverseRootNewton(a, n, p, 1e-12);
      assert.ok(r.converged, `residual ${r.residual}`);
      const e = inverseRootEigen(a, n, p, 1e-12);
      assert.ok(maxDiff(r.root, e) < 1e-8 * Math.max(...e.map(Math.abs)), `differ by ${maxDiff(r.root, e)}`);
    });
  }

  it('rank-1 and zero statistics give finite roots; the range direction gets λ^(-1/p) and the floor bounds the rest', () => {
    const v = randomMatrix(rng, n, 1);
    const a1 = gram(v, n, 1, 'left');
    const lambda = v.reduce((s, x) => s + x * x, 0);
    const x = inverseRootEigen(a1, n, 4, 1e-6);
    assert.ok(x.every(Number.isFinite));
    const xv = matmul(x, v, n, n, 1);
    assert.ok(maxDiff(xv, v.map((t) => t * Math.pow(lambda, -0.25))) < 1e-9 * Math.pow(lambda, -0.25) * 10);
    // Largest eigenvalue of the root is (ε λ)^(-1/4): its norm is bounded by that times √n.
    const fro = Math.sqrt(x.reduce((s, t) => s + t * t, 0));
    assert.ok(fro <= Math.pow(1e-6 * lambda, -0.25) * Math.sqrt(n) * (1 + 1e-9));
    assert.deepEqual(Array.from(inverseRootEigen(new Float64Array(n * n), n, 4, 1e-6)), Array.from(identity(n)));
    const nr = inverseRootNewton(a1, n, 4, 1e-6);
    assert.ok(nr.converged && nr.root.every(Number.isFinite));
    assert.deepEqual(Array.from(inverseRootNewton(new Float64Array(n * n), n, 4, 1e-6).root), Array.from(identity(n)));
  });

  it('statistics near 1e60 and 1e-60 give the same root up to the scale s^(-1/p)', () => {
    for (const s of [1e60, 1e-60]) {
      const big = a.map((t) => t * s);
      const x = inverseRootEigen(big, n, 4, 1e-12);
      const ref = inverseRootEigen(a, n, 4, 1e-12).map((t) => t * Math.pow(s, -0.25));
      assert.ok(maxDiff(x, ref) < 1e-9 * Math.max(...ref.map(Math.abs)));
    }
  });
});

describe('Householder QR', () => {
  const rng = new Rng(5);
  const n = 5;
  const orthogonal = (q: Float64Array) => maxDiff(matmul(q, q, n, n, n, true, false), identity(n)) < 1e-12;

  it('Q is orthogonal and Qᵀ A is upper triangular with a non-negative diagonal', () => {
    const a = randomMatrix(rng, n, n);
    const q = qrOrthogonal(a, n);
    assert.ok(orthogonal(q));
    const r = matmul(q, a, n, n, n, true, false);
    for (let i = 0; i < n; i++) {
      assert.ok(r[i * n + i] >= -1e-12);
      for (let j = 0; j < i; j++) assert.ok(Math.abs(r[i * n + j]) < 1e-12);
    }
  });

  it('stays orthogonal for rank-deficient and zero input', () => {
    const v = randomMatrix(rng, n, 1);
    const rank1 = matmul(v, randomMatrix(rng, 1, n), n, 1, n);
    assert.ok(orthogonal(qrOrthogonal(rank1, n)));
    assert.ok(orthogonal(qrOrthogonal(new Float64Array(n * n), n)));
  });

  it('returns an orthogonal matrix with R = I unchanged', () => {
    const q0 = qrOrthogonal(randomMatrix(rng, n, n), n);
    assert.ok(maxDiff(qrOrthogonal(q0, n), q0) < 1e-12);
    assert.ok(maxDiff(transpose(transpose(q0, n, n), n, n), q0) === 0);
  });
});

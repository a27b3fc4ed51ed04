import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { RNN } from '../nn/recurrent.js';
import { SPARSE_FAN_IN, sparseMatrix, sparseRecurrentInit, spectralRadius } from './rnn-init.js';

/** Q diag(λ) Qᵀ with Q a Householder reflection: a dense symmetric matrix with eigenvalues λ. */
function symmetricWithEigenvalues(lambda: number[], rng: Rng): Tensor {
  const n = lambda.length;
  const v = Array.from({ length: n }, () => rng.nextNormal());
  const vv = v.reduce((s, x) => s + x * x, 0);
  const q = (i: number, j: number) => (i === j ? 1 : 0) - (2 * v[i] * v[j]) / vv;
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) d[i * n + j] += q(i, k) * lambda[k] * q(j, k);
  return new Tensor(d, [n, n]);
}

describe('the sparse initialization of Martens & Sutskever (2011)', () => {
  it('each row has min(15, columns) non-zero entries at distinct columns; one seed one matrix', () => {
    for (const [rows, cols] of [[32, 32], [8, 2], [20, 100]]) {
      const w = sparseMatrix(new Rng(1), rows, cols, 'float64');
      for (let r = 0; r < rows; r++) {
        let nonZero = 0;
        for (let c = 0; c < cols; c++) if (w.data[r * cols + c] !== 0) nonZero++;
        assert.equal(nonZero, Math.min(SPARSE_FAN_IN, cols), `[${rows}, ${cols}] row ${r}`);
      }
      assert.deepEqual(sparseMatrix(new Rng(1), rows, cols, 'float64').toFlatArray(), w.toFlatArray());
    }
  });

  it('spectralRadius finds the largest |eigenvalue|: symmetric with known spectrum, a scaled rotation (complex pair), a triangular matrix', () => {
    const rng = new Rng(2);
    assert.ok(Math.abs(spectralRadius(symmetricWithEigenvalues([0.3, -1.7, 1.2, 0.5, -0.1], rng)) - 1.7) < 1e-3);
    const r = 0.9;
    const c = Math.cos(0.7);
    const s = Math.sin(0.7);
    // The complex pair r·e^{±0.7i} dominates the real eigenvalue 0.5.
    const rot = new Tensor(Float64Array.from([r * c, -r * s, 0, r * s, r * c, 0, 0, 0, 0.5]), [3, 3]);
    assert.ok(Math.abs(spectralRadius(rot) - r) < 1e-3, `${spectralRadius(rot)}`);
    const tri = new Tensor(Float64Array.from([0.5, 3, 1, 0, -1.1, 2, 0, 0, 0.2]), [3, 3]);
    assert.ok(Math.abs(spectralRadius(tri) - 1.1) < 1e-2, `${spectralRadius(tri)}`);
    assert.throws(() => spectralRadius(new Tensor(new Float64Array(6), [2, 3])), /needs a square matrix, got \[2, 3\]/);
  });

  it('sparseRecurrentInit: the recurrent matrix at the radius asked for, sparse input weights, zero biases, the layer\'s shapes', () => {
    const layer = new RNN(3, 40);
    const p = sparseRecurrentInit(new Rng(3), layer.init(new Rng(4)), 1.1);
    assert.deepEqual(p.weight_hh.shape, [40, 40]);
    assert.deepEqual(p.weight_ih.shape, [40, 3]);
    assert.ok(Math.abs(spectralRadius(p.weight_hh) - 1.1) < 0.02, `radius ${spectralRadius(p.weight_hh)}`);
    assert.ok(p.bias_ih !== undefined && p.bias_hh !== undefined && [...p.bias_ih.data, ...p.bias_hh.data].every((v) => v === 0));
    assert.ok(p.weight_ih.data.every((v) => v !== 0), 'three inputs: all of them connected');
    assert.throws(() => sparseRecurrentInit(new Rng(3), layer.init(new Rng(4)), 0), /radius must be positive, got 0/);
  });
});

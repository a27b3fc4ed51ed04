/**
 * The blocked Cholesky inverse of Kronecker factors: M·M⁻¹ = I on sizes that exercise the
 * recursion (odd splits, several levels), in float64 and float32, equal to the inverse from
 * the eigendecomposition, and null (not a wrong answer) for a matrix that is not positive definite.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { matmul } from '../tensor/matmul.js';
import { eigh } from '../tensor/linalg.js';
import { assertClose } from '../testing/helpers.js';
import { spdInverse } from './kronecker-inverse.js';

function spd(rng: Rng, n: number, dtype: 'float32' | 'float64'): Tensor {
  const x = rng.normal([n, n + 5], { dtype: 'float64' });
  const m = matmul(x, x, { transposeB: true });
  for (let i = 0; i < n; i++) m.data[i * n + i] += 1;
  return m.astype(dtype);
}

describe('blocked Cholesky inverse', () => {
  for (const n of [1, 7, 64, 65, 150, 301]) {
    it(`M·M⁻¹ = I and M⁻¹ equals the eigendecomposition's inverse (n = ${n}, float64)`, () => {
      const m = spd(new Rng(n), n, 'float64');
      const inv = spdInverse(m);
      assert.ok(inv !== null);
      const eye = new Float64Array(n * n);
      for (let i = 0; i < n; i++) eye[i * n + i] = 1;
      assertClose(matmul(m, inv).data, eye, { rtol: 0, atol: 1e-9 });
      const { eigenvalues: d, eigenvectors: u } = eigh(m);
      const scaledU = u.clone();
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaledU.data[i * n + j] /= d.data[j];
      assertClose(inv.data, matmul(scaledU, u, { transposeB: true }).data, { rtol: 1e-8, atol: 1e-12 });
    });
  }

  it('float32 factors stay float32 and accurate to float32 precision (n = 200)', () => {
    const m = spd(new Rng(3), 200, 'float32');
    const inv = spdInverse(m);
    assert.ok(inv !== null && inv.dtype === 'float32');
    const prod = matmul(m, inv);
    for (let i = 0; i < 200; i++) for (let j = 0; j < 200; j++) assert.ok(Math.abs(prod.data[i * 200 + j] - (i === j ? 1 : 0)) < 2e-3, `(${i}, ${j})`);
  });

  it('a matrix that is not positive definite gives null, in the base case and after the first split', () => {
    for (const n of [5, 130]) {
      const m = spd(new Rng(1), n, 'float64');
      m.data[(n - 1) * n + n - 1] = -1e6; // the last pivot goes negative
      assert.equal(spdInverse(m), null);
    }
  });
});

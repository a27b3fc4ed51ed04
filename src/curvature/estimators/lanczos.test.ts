import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { eigh } from '../../tensor/linalg.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { linearOperator } from '../operators/linear-operator.js';
import { lanczos, type LanczosWhich } from './lanczos.js';
import { denseOperator, matrixWithSpectrum, tinyNetworkHessian } from './fixtures.js';

function denseEigenvalues(m: Tensor): number[] {
  return Array.from(eigh(m).eigenvalues.data);
}

function expected(sorted: number[], k: number, which: LanczosWhich): number[] {
  const n = sorted.length;
  if (which === 'smallest') return sorted.slice(0, k);
  if (which === 'largest') return sorted.slice(n - k).reverse();
  const s = Math.floor(k / 2);
  return [...sorted.slice(0, s), ...sorted.slice(n - (k - s))];
}

function assertEigenvaluesClose(got: number[], want: number[], scale: number, rel = 1e-8): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= rel * scale, `eigenvalue ${i}: ${g} vs ${want[i]} (|diff| ${Math.abs(g - want[i])}, scale ${scale})`));
}

function flat(tree: PyTree): number[] {
  return treeLeaves(tree).flatMap((l) => Array.from(l.data));
}

test('top, bottom and both-ends eigenvalues of a tiny network Hessian equal eigh of the dense Hessian to 1e-8', () => {
  const { op } = tinyNetworkHessian();
  const dense = op.toDense();
  const all = denseEigenvalues(dense);
  const scale = Math.max(Math.abs(all[0]), Math.abs(all[all.length - 1]));
  for (const which of ['largest', 'smallest', 'both'] as const) {
    const r = lanczos(op, { k: 5, which, seed: 1 });
    assertEigenvaluesClose(r.eigenvalues, expected(all, 5, which), scale);
    // Each returned vector is a unit eigenvector: ‖Hy − θy‖ small against the dense matrix.
    r.eigenvectors.forEach((v, i) => {
      const y = flat(v);
      const n = y.length;
      let nn = 0;
      let res = 0;
      for (let a = 0; a < n; a++) {
        let hy = 0;
        for (let b = 0; b < n; b++) hy += dense.data[a * n + b] * y[b];
        res += (hy - r.eigenvalues[i] * y[a]) ** 2;
        nn += y[a] * y[a];
      }
      assert.ok(Math.abs(nn - 1) < 1e-10, `eigenvector ${i} not unit: ${nn}`);
      assert.ok(Math.sqrt(res) < 1e-6 * scale, `eigenvector ${i} residual ${Math.sqrt(res)}`);
    });
  }
});

test('clustered eigenvalues (gaps of 1e-6) are resolved to 1e-8 relative', () => {
  const eigs = [10, 10 + 1e-6, 10 + 2e-6, 9.5, ...Array.from({ length: 36 }, (_, i) => -3 + (i * 6) / 36)];
  const op = denseOperator(matrixWithSpectrum(eigs, 7), eigs.length, 'clustered');
  const sorted = [...eigs].sort((a, b) => a - b);
  const r = lanczos(op, { k: 4, seed: 2 });
  assert.ok(r.converged);
  assertEigenvaluesClose(r.eigenvalues, expected(sorted, 4, 'largest'), 10);
});

test('a repeated eigenvalue is found with its multiplicity: by blocks, and by restarts when the operator is exhausted', () => {
  const eigs = [7, 7, 7, 4, ...Array.from({ length: 26 }, (_, i) => 3 - i * 0.2)];
  const sorted = [...eigs].sort((a, b) => a - b);
  const op = denseOperator(matrixWithSpectrum(eigs, 11), eigs.length, 'repeated');
  const block = lanczos(op, { k: 4, seed: 3, blockSize: 3 });
  assertEigenvaluesClose(block.eigenvalues, [7, 7, 7, 4], 7);
  // A single start vector sees one copy of 7 until its Krylov space is invariant; the restart
  // afterwards finds the other copies, so the whole spectrum comes out exactly.
  const full = lanczos(op, { k: eigs.length, seed: 3, which: 'smallest' });
  assertEigenvaluesClose(full.eigenvalues, sorted, 7);
});

test('a Ritz vector set of the wanted size is orthonormal', () => {
  const { op } = tinyNetworkHessian(5);
  const r = lanczos(op, { k: 6, which: 'both', seed: 4 });
  const ys = r.eigenvectors.map(flat);
  for (let i = 0; i < ys.length; i++) {
    for (let j = 0; j < ys.length; j++) {
      const d = ys[i].reduce((s, x, t) => s + x * ys[j][t], 0);
      assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-8, `<y${i}, y${j}> = ${d}`);
    }
  }
});

test('the same seed gives the same result; a float32 operator converges at its own tolerance', () => {
  const eigs = Array.from({ length: 20 }, (_, i) => 1 / (i + 1));
  const m = matrixWithSpectrum(eigs, 5);
  const a = lanczos(denseOperator(m, 20), { k: 3, seed: 9 });
  const b = lanczos(denseOperator(m, 20), { k: 3, seed: 9 });
  assert.deepEqual(a.eigenvalues, b.eigenvalues);
  const f32 = lanczos(denseOperator(m, 20, 'dense32', 'float32'), { k: 3, seed: 9 });
  assertEigenvaluesClose(f32.eigenvalues, [1, 0.5, 1 / 3], 1, 1e-5);
});

test('k larger than the operator, bad options and a non-symmetric operator are errors naming the operator', () => {
  const op = denseOperator(matrixWithSpectrum([1, 2, 3, 4, 5, 6], 1), 6, 'small-op');
  assert.throws(() => lanczos(op, { k: 7 }), /k = 7 exceeds the size of operator 'small-op' \(n = 6\)/);
  assert.throws(() => lanczos(op, { k: 0 }), /option 'k'/);
  assert.throws(() => lanczos(op, { k: 2, which: 'middle' as LanczosWhich }), /'which'/);
  assert.throws(() => lanczos(op, { k: 2, tol: 0 }), /'tol'/);
  const skew = new Float64Array(36);
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) skew[i * 6 + j] = i === j ? i + 1 : (i < j ? 0.5 : -0.5) * (i + j);
  assert.throws(() => lanczos(denseOperator(skew, 6, 'skewed'), { k: 2 }), /operator 'skewed' is not symmetric/);
  const declared = linearOperator('declared', op.like, (v) => op.matvec(v), { symmetric: false });
  assert.throws(() => lanczos(declared, { k: 2 }), /'declared' is declared non-symmetric/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../tensor/random.js';
import { treeData, treeMapValues } from '../../autodiff/tree-math.js';
import { treeLeaves, treeUnflatten } from '../../autodiff/pytree.js';
import { diagonal } from './diagonal.js';
import { denseOperator, matrixWithSpectrum, tinyNetworkHessian } from './fixtures.js';

const flat = (t: unknown) => treeLeaves(t).flatMap((l) => Array.from(l.data));

test('one probe is exact on a diagonal matrix (z ⊙ Dz = D for ±1 entries)', () => {
  const d = [3, -2, 0.5, 7, 1e-3];
  const m = new Float64Array(25);
  d.forEach((x, i) => { m[i * 5 + i] = x; });
  assert.deepEqual(flat(diagonal(denseOperator(m, 5), { seed: 3 })), d);
});

test('the average over many probes converges to the true diagonal of a tiny network Hessian', () => {
  const { op } = tinyNetworkHessian(2);
  const dense = op.toDense().data;
  const n = op.size;
  const est = flat(diagonal(op, { samples: 400, seed: 1 }));
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let j = 0; j < n; j++) if (j !== i) off += dense[i * n + j] ** 2;
    // Per-entry standard deviation sqrt(Σ_{j≠i} A_ij² / samples); 5 of them.
    assert.ok(Math.abs(est[i] - dense[i * n + i]) <= 5 * Math.sqrt(off / 400) + 1e-12, `entry ${i}: ${est[i]} vs ${dense[i * n + i]}`);
  }
});

test('with an Rng it draws the probes K-FAC drew leaf by leaf (same stream, same estimate)', () => {
  const op = denseOperator(matrixWithSpectrum([1, 2, 3, 4, 5, 6, 7], 3), 7);
  const got = diagonal(op, { rng: new Rng(42) });
  const rng = new Rng(42);
  const v = treeUnflatten(op.like, treeLeaves(op.like).map((l) => rng.rademacher(l.shape, { dtype: l.dtype })));
  const av = treeData(op.matvec(v));
  const want = treeMapValues(v, (x, i, leaf) => x * av[leaf][i]);
  assert.deepEqual(flat(got), flat(want));
});

test('bad samples are an error naming the option', () => {
  const op = denseOperator(matrixWithSpectrum([1, 2, 3], 3), 3);
  assert.throws(() => diagonal(op, { samples: 0 }), /option 'samples'/);
});

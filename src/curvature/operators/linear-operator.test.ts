import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { treeLeaves } from '../../autodiff/pytree.js';
import { LinearOperator, linearOperator } from './linear-operator.js';

// A dense symmetric matrix acting on the tree {a: [2], b: {c: [3]}} (n = 5).
function denseOperator(seed = 1): { op: LinearOperator<{ a: Tensor; b: { c: Tensor } }>; m: Float64Array } {
  const n = 5;
  const rng = new Rng(seed);
  const r = new Float64Array(n * n);
  r.set(rng.normal([n * n], { dtype: 'float64' }).data);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = r[i * n + j] + r[j * n + i];
  const like = { a: tensor([0, 0], [2], { dtype: 'float64' }), b: { c: tensor([0, 0, 0], [3], { dtype: 'float64' }) } };
  const op = linearOperator('dense', like, (v) => {
    const x = [...v.a.data, ...v.b.c.data];
    const y = x.map((_, i) => x.reduce((s, xj, j) => s + m[i * n + j] * xj, 0));
    return { a: tensor(y.slice(0, 2), [2], { dtype: 'float64' }), b: { c: tensor(y.slice(2), [3], { dtype: 'float64' }) } };
  });
  return { op, m };
}

test('toDense reproduces the matrix behind matvec', () => {
  const { op, m } = denseOperator();
  assert.equal(op.size, 5);
  assert.deepEqual(Array.from(op.toDense().data), Array.from(m));
});

test('plus, scale and damped combine matrices entrywise', () => {
  const { op, m } = denseOperator(1);
  const { op: op2, m: m2 } = denseOperator(2);
  const d = op.plus(op2).scale(-2).damped(0.5).toDense().data;
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 5; j++) {
      const want = -2 * (m[i * 5 + j] + m2[i * 5 + j]) + (i === j ? 0.5 : 0);
      assert.ok(Math.abs(d[i * 5 + j] - want) < 1e-12);
    }
  }
});

test('block(path) is the dense sub-block of that path', () => {
  const { op, m } = denseOperator();
  const b = op.block('b');
  assert.equal(b.size, 3);
  const d = b.toDense().data;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.equal(d[i * 3 + j], m[(i + 2) * 5 + j + 2]);
  assert.equal(op.block('b.c').size, 3);
  assert.equal(op.damped(1).block('a').toDense().data[0], m[0] + 1);
});

test('flatten and unflatten are inverse and keep dtypes', () => {
  const { op } = denseOperator();
  const x = [1, 2, 3, 4, 5];
  const t = op.unflatten(x);
  assert.equal(treeLeaves(t)[1].dtype, 'float64');
  assert.deepEqual(Array.from(op.flatten(t)), x);
});

test('a vector of the wrong tree, an unknown block and a huge toDense fail naming the operator', () => {
  const { op } = denseOperator();
  assert.throws(() => op.matvec({ a: tensor([1, 2, 3], [3], { dtype: 'float64' }), b: { c: tensor([0, 0, 0], [3], { dtype: 'float64' }) } }), /dense: .*'a' is float64 \[3\], expected float64 \[2\]/);
  assert.throws(() => op.matvec({ a: tensor([1, 2], [2], { dtype: 'float64' }) } as never), /dense: the vector has 1 tensors/);
  assert.throws(() => op.matvec({ a: tensor([1, 2], [2]), b: { c: tensor([0, 0, 0], [3], { dtype: 'float64' }) } }), /expected float64/);
  assert.throws(() => op.block('z'), /no parameter at path 'z'; known paths: a, b.c/);
  assert.throws(() => op.scale(NaN), /alpha must be finite/);
  const big = linearOperator('big', new Tensor(new Float64Array(5000), [5000]), (v) => v);
  assert.throws(() => big.toDense(), /big.toDense: size 5000 exceeds/);
});

test('gram gives vᵢᵀ A vⱼ, through plus, scale and damped alike', () => {
  const { op, m } = denseOperator(3);
  const { op: op2, m: m2 } = denseOperator(4);
  const rng = new Rng(5);
  const vs = [0, 1, 2].map(() => ({ a: rng.normal([2], { dtype: 'float64' }), b: { c: rng.normal([3], { dtype: 'float64' }) } }));
  const flat = vs.map((v) => [...v.a.data, ...v.b.c.data]);
  const combined = op.plus(op2).scale(-2).damped(0.5);
  const g = combined.gram(vs);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    let want = 0;
    for (let r = 0; r < 5; r++) for (let c = 0; c < 5; c++) want += flat[i][r] * (-2 * (m[r * 5 + c] + m2[r * 5 + c]) + (r === c ? 0.5 : 0)) * flat[j][c];
    assert.ok(Math.abs(g[i][j] - want) < 1e-12 * Math.max(1, Math.abs(want)), `[${i}][${j}] ${g[i][j]} vs ${want}`);
  }
  assert.throws(() => op.gram([vs[0], { a: vs[0].a }] as never), /dense: the vector 1 has 1 tensors, the operator acts on trees of 2/);
});

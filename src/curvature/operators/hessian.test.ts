/**
 * The Hessian operator against a finite-difference Hessian of the gradient in float64 on a tiny
 * tanh network: equal entrywise, symmetric, indefinite (the Hessian is not PSD in general),
 * `block` equal to the dense sub-block; bad input fails with the operator's name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { eigh } from '../../tensor/linalg.js';
import { grad } from '../../autodiff/vjp.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { mse } from '../../nn/losses.js';
import { hessian } from './hessian.js';

const f64 = { dtype: 'float64' as const };
const net = new Sequential([new Linear(2, 3), new Tanh(), new Linear(3, 2)]);
const params = net.init(new Rng(4), f64);
const x = new Rng(5).normal([4, 2], f64);
const y = new Rng(6).normal([4, 2], f64);
const f = (p: PyTree[]) => mse().value(net.apply(p, x), y);

function flatGrad(p: PyTree[]): Float64Array {
  return Float64Array.from(treeLeaves(grad(f)(p)).flatMap((l) => Array.from(l.data)));
}

/** Central differences of the gradient, column by column (float64, h = 1e-5). */
function fdHessian(): Float64Array {
  const leaves = treeLeaves(params);
  const n = leaves.reduce((s, l) => s + l.size, 0);
  const out = new Float64Array(n * n);
  const h = 1e-5;
  let j = 0;
  leaves.forEach((l, li) => {
    for (let k = 0; k < l.size; k++, j++) {
      const shifted = (s: number) => treeUnflatten(params, leaves.map((m, mi) => {
        const d = Float64Array.from(m.data);
        if (mi === li) d[k] += s;
        return new Tensor(d, m.shape);
      })) as PyTree[];
      const gp = flatGrad(shifted(h));
      const gm = flatGrad(shifted(-h));
      for (let i = 0; i < n; i++) out[i * n + j] = (gp[i] - gm[i]) / (2 * h);
    }
  });
  return out;
}

test('the hessian operator equals the finite-difference Hessian of a tiny network, and is symmetric', () => {
  const op = hessian(f, params);
  const dense = op.toDense();
  const n = op.size;
  assert.equal(n, 17);
  const fd = fdHessian();
  let scale = 0;
  for (const v of fd) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(dense.data[i] - fd[i]) < 1e-7 * scale, `entry ${i}: ${dense.data[i]} vs ${fd[i]}`);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(dense.data[i * n + j] - dense.data[j * n + i]) < 1e-12 * scale);
});

test('the Hessian of a network loss is indefinite and the operator does not claim PSD', () => {
  const op = hessian(f, params);
  assert.equal(op.psd, false);
  const w = eigh(op.toDense()).eigenvalues.data;
  assert.ok(w[0] < -1e-6 && w[w.length - 1] > 1e-6, `eigenvalues from ${w[0]} to ${w[w.length - 1]}`);
});

test('block of a layer and of one parameter equal the dense sub-blocks', () => {
  const op = hessian(f, params);
  const dense = op.toDense();
  const n = op.size;
  // Leaf order: 0.weight (6), 0.bias (3), 2.weight (6), 2.bias (2).
  for (const [path, start, len] of [['0', 0, 9], ['2.weight', 9, 6], ['2.bias', 15, 2]] as const) {
    const b = op.block(path);
    assert.equal(b.size, len);
    const bd = b.toDense();
    for (let i = 0; i < len; i++) for (let j = 0; j < len; j++) {
      assert.ok(Math.abs(bd.data[i * len + j] - dense.data[(start + i) * n + start + j]) < 1e-12, `${path} at ${i},${j}`);
    }
  }
});

test('bad input names the hessian operator, what it expected and what it got', () => {
  assert.throws(() => hessian((p: PyTree[]) => net.apply(p, x), params), /hessian: f must return a scalar, got a tensor of shape \[4, 2\]/);
  assert.throws(() => hessian(42 as unknown as (p: PyTree[]) => Tensor, params), /hessian: f must be a function/);
  const op = hessian(f, params);
  assert.throws(() => op.block('1'), /hessian\.block: no parameter at path '1'; known paths: 0\.weight, 0\.bias, 2\.weight, 2\.bias/);
  const wrong = treeUnflatten(params, treeLeaves(params).map((l, i) => (i === 2 ? new Tensor(new Float64Array(4), [2, 2]) : l))) as PyTree[];
  assert.throws(() => op.matvec(wrong), /hessian: the vector's tensor '2\.weight' is float64 \[2, 2\], expected float64 \[2, 3\]/);
  assert.throws(() => op.matvec([] as unknown as PyTree[]), /hessian: the vector has 0 tensors, the operator acts on trees of 4/);
});

/**
 * The GGN operator against Jᵀ H_L J assembled densely from a finite-difference Jacobian of the
 * network outputs and the loss's analytic output Hessian (float64, tiny tanh network): equal,
 * symmetric, PSD for convex losses; equal to the Hessian for a linear model with squared loss;
 * its forward-mode Gram matrix equals the one from products; `block` = the dense sub-block.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { eigh } from '../../tensor/linalg.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { sum } from '../../autodiff/ops.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { mse, softmaxCrossEntropy, type Loss } from '../../nn/losses.js';
import { ggn } from './ggn.js';
import { hessian } from './hessian.js';

const f64 = { dtype: 'float64' as const };
const N = 4;
const D = 3;
const net = new Sequential([new Linear(2, 3), new Tanh(), new Linear(3, D)]);
const params = net.init(new Rng(7), f64);
const x = new Rng(8).normal([N, 2], f64);

/** d outputs / d params by central differences: [N·D, n]. */
function fdJacobian(): { J: Float64Array; n: number } {
  const leaves = treeLeaves(params);
  const n = leaves.reduce((s, l) => s + l.size, 0);
  const m = N * D;
  const J = new Float64Array(m * n);
  const h = 1e-6;
  let j = 0;
  leaves.forEach((l, li) => {
    for (let k = 0; k < l.size; k++, j++) {
      const out = (s: number) => net.apply(treeUnflatten(params, leaves.map((q, qi) => {
        const d = Float64Array.from(q.data);
        if (qi === li) d[k] += s;
        return new Tensor(d, q.shape);
      })) as PyTree[], x).data;
      const zp = out(h);
      const zm = out(-h);
      for (let i = 0; i < m; i++) J[i * n + j] = (zp[i] - zm[i]) / (2 * h);
    }
  });
  return { J, n };
}

/** Jᵀ H J for a block-diagonal H given per example as D×D. */
function jthj(J: Float64Array, n: number, hOf: (i: number) => number[][]): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < N; i++) {
    const H = hOf(i);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) {
      let s = 0;
      for (let r = 0; r < D; r++) for (let c = 0; c < D; c++) s += J[(i * D + r) * n + a] * H[r][c] * J[(i * D + c) * n + b];
      out[a * n + b] += s;
    }
  }
  return out;
}

const z = net.apply(params, x).data;
const cases: [string, Loss, Tensor, (i: number) => number[][]][] = [
  ['mse', mse(), new Rng(9).normal([N, D], f64), () => [0, 1, 2].map((r) => [0, 1, 2].map((c) => (r === c ? 2 / (N * D) : 0)))],
  ['softmax cross-entropy', softmaxCrossEntropy(), new Tensor(Float64Array.from([0, 2, 1, 1]), [N]), (i) => {
    const row = [0, 1, 2].map((c) => z[i * D + c]);
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const p = e.map((v) => v / e.reduce((s, w) => s + w, 0));
    return p.map((pr, r) => p.map((pc, c) => ((r === c ? pr : 0) - pr * pc) / N));
  }],
];

for (const [name, loss, y, hOf] of cases) {
  test(`the ggn operator equals Jᵀ H_L J from a finite-difference Jacobian, symmetric PSD (${name})`, () => {
    const op = ggn(net, loss, params, { x, y });
    assert.equal(op.psd, true);
    const dense = op.toDense();
    const { J, n } = fdJacobian();
    const want = jthj(J, n, hOf);
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < n * n; i++) assert.ok(Math.abs(dense.data[i] - want[i]) < 1e-7 * scale, `entry ${i}: ${dense.data[i]} vs ${want[i]}`);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(dense.data[i * n + j] - dense.data[j * n + i]) < 1e-13 * scale);
    assert.ok(eigh(dense).eigenvalues.data[0] > -1e-12 * scale);
  });
}

test('GGN equals the Hessian for a linear model with squared loss', () => {
  const lin = new Linear(3, 2);
  const p = lin.init(new Rng(1), f64);
  const batch = { x: new Rng(2).normal([5, 3], f64), y: new Rng(3).normal([5, 2], f64) };
  const G = ggn(lin, mse(), p, batch).toDense().data;
  const H = hessian((q: typeof p) => mse().value(lin.apply(q, batch.x), batch.y), p).toDense().data;
  for (let i = 0; i < G.length; i++) assert.ok(Math.abs(G[i] - H[i]) < 1e-13, `entry ${i}`);
});

test('the forward-mode Gram matrix equals vᵢᵀ G vⱼ from products, also when damped', () => {
  const op = ggn(net, softmaxCrossEntropy(), params, { x, y: cases[1][2] });
  const rng = new Rng(10);
  const vs = [0, 1, 2].map(() => treeUnflatten(params, treeLeaves(params).map((l) => rng.normal(l.shape, f64))) as PyTree[]);
  const dense = op.toDense();
  const n = op.size;
  const flat = vs.map((v) => op.flatten(v));
  const quad = (a: Float64Array, b: Float64Array, lambda: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s += a[i] * (dense.data[i * n + j] + (i === j ? lambda : 0)) * b[j];
    return s;
  };
  for (const lambda of [0, 0.3]) {
    const g = (lambda === 0 ? op : op.damped(lambda)).gram(vs);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      const want = quad(flat[i], flat[j], lambda);
      assert.ok(Math.abs(g[i][j] - want) < 1e-12 * Math.max(1, Math.abs(want)), `λ=${lambda} [${i}][${j}] ${g[i][j]} vs ${want}`);
    }
  }
});

test('block of a layer and of one parameter equal the dense sub-blocks', () => {
  const op = ggn(net, mse(), params, { x, y: cases[0][2] });
  const dense = op.toDense();
  const n = op.size;
  for (const [path, start, len] of [['2', 9, 12], ['0.bias', 6, 3]] as const) {
    const bd = op.block(path).toDense();
    for (let i = 0; i < len; i++) for (let j = 0; j < len; j++) assert.ok(Math.abs(bd.data[i * len + j] - dense.data[(start + i) * n + start + j]) < 1e-14);
  }
});

test('bad input names the ggn operator, what it expected and what it got', () => {
  const y = cases[0][2];
  assert.throws(() => ggn(net, mse(), params, { x, y: new Rng(1).normal([3, D], f64) }), /ggn: batch inputs \[4, 2\] and targets \[3, 3\] must share their first \(batch\) axis/);
  assert.throws(() => ggn(net, mse(), params, { x } as unknown as { x: Tensor; y: Tensor }), /ggn: batch must be \{x: Tensor, y: Tensor\}/);
  const perExample: Loss = { ...mse(), value: (zz: Tensor, yy: Tensor) => mse().perExample(zz, yy) };
  assert.throws(() => ggn(net, perExample, params, { x, y }), /ggn: the loss must be a scalar, got a float64 tensor of shape \[4\]/);
  assert.throws(() => ggn(net, {} as Loss, params, { x, y }), /ggn: loss must be a Loss/);
  assert.throws(() => ggn((p: PyTree[], xx: Tensor) => sum(net.apply(p, xx), [0]), mse(), params, { x, y }), /ggn: the model's outputs \[3\] must keep the batch axis of the inputs \[4, 2\]/);
  assert.throws(() => ggn(net, mse(), [] as PyTree[], { x, y }), /ggn: params must hold at least one tensor/);
});

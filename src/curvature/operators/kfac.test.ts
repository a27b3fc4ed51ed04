/**
 * The K-FAC operator: exact (= the GGN) on a linear layer with squared loss and exact factors,
 * for K-FAC and EKFAC alike (theory); on an MLP, block diagonal with each layer's block G ⊗ A
 * built by hand from layer inputs and per-example output gradients; symmetric PSD; a diagonal
 * block for an untapped parameter; `block` = the dense sub-block; bad input named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { eigh } from '../../tensor/linalg.js';
import { grad } from '../../autodiff/vjp.js';
import { add, matmul, slice, sum, tanh, transpose } from '../../autodiff/ops.js';
import type { PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential, childContext, type ApplyContext } from '../../nn/module.js';
import { mse, softmaxCrossEntropy } from '../../nn/losses.js';
import { layoutBlocks, updateEstimator, kfacStatistics } from '../kronecker-estimator.js';
import { kfac, kfacOperator } from './kfac.js';
import { ggn } from './ggn.js';

const f64 = { dtype: 'float64' as const };

function assertSymmetricPsd(d: Tensor, what: string): void {
  const n = d.shape[0];
  let scale = 0;
  for (const v of d.data) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(d.data[i * n + j] - d.data[j * n + i]) <= 1e-13 * scale, `${what} asymmetric at ${i},${j}`);
  assert.ok(eigh(d).eigenvalues.data[0] >= -1e-12 * scale, `${what} has a negative eigenvalue`);
}

for (const approximation of ['kronecker', 'ekfac'] as const) {
  test(`${approximation} with exact GGN factors equals the GGN of a linear layer with squared loss`, () => {
    const lin = new Linear(3, 2);
    const p = lin.init(new Rng(21), f64);
    const batch = { x: new Rng(22).normal([6, 3], f64), y: new Rng(23).normal([6, 2], f64) };
    const K = kfac(lin, mse(), p, batch, { mode: 'ggn', approximation }).toDense().data;
    const G = ggn(lin, mse(), p, batch).toDense().data;
    for (let i = 0; i < G.length; i++) assert.ok(Math.abs(K[i] - G[i]) < 1e-12, `entry ${i}: ${K[i]} vs ${G[i]}`);
  });
}

// Two tanh layers, softmax cross-entropy, empirical mode: the oracle is built by hand.
const N = 5;
const net = new Sequential([new Linear(2, 3), new Tanh(), new Linear(3, 3)]);
const params = net.init(new Rng(31), f64) as [{ weight: Tensor; bias: Tensor }, Record<string, never>, { weight: Tensor; bias: Tensor }];
const x = new Rng(32).normal([N, 2], f64);
const y = new Tensor(Float64Array.from([0, 2, 1, 1, 0]), [N]);
const loss = softmaxCrossEntropy();

/** G ⊗ A of one dense layer in the leaf order [weight (out×in) row-major, bias]. */
function kroneckerBlock(inputs: number[][], deltas: number[][]): Float64Array {
  const inn = inputs[0].length;
  const out = deltas[0].length;
  const A = (c: number, d: number) => inputs.reduce((s, a) => s + (c === inn ? 1 : a[c]) * (d === inn ? 1 : a[d]), 0) / N;
  const G = (o: number, q: number) => deltas.reduce((s, g) => s + g[o] * g[q], 0) / N; // w Σ δδᵀ, w = 1/N
  const m = out * (inn + 1);
  const pos = (o: number, c: number) => (c === inn ? out * inn + o : o * inn + c);
  const B = new Float64Array(m * m);
  for (let o = 0; o < out; o++) for (let c = 0; c <= inn; c++) for (let q = 0; q < out; q++) for (let d = 0; d <= inn; d++) {
    B[pos(o, c) * m + pos(q, d)] = G(o, q) * A(c, d);
  }
  return B;
}

test('K-FAC on an MLP is block diagonal with each layer block G ⊗ A from its inputs and per-example output gradients', () => {
  const op = kfac(net, loss, params, { x, y }, { mode: 'empirical' });
  const dense = op.toDense();
  const n = op.size;
  assert.equal(n, 9 + 12);
  // Layer inputs, and δ_i = ∂L_i/∂s_i = each example's bias gradient.
  const h = tanh(add(matmul(x, transpose(params[0].weight)), params[0].bias));
  const rows = (t: Tensor) => Array.from({ length: N }, (_, i) => Array.from(t.data.slice(i * t.shape[1], (i + 1) * t.shape[1])));
  const deltas: number[][][] = [[], []];
  for (let i = 0; i < N; i++) {
    const g = grad((p: PyTree[]) => loss.value(net.apply(p, slice(x, [i], [i + 1])), slice(y, [i], [i + 1])))(params) as typeof params;
    deltas[0].push(Array.from(g[0].bias.data));
    deltas[1].push(Array.from(g[2].bias.data));
  }
  const blocks = [kroneckerBlock(rows(x), deltas[0]), kroneckerBlock(rows(h), deltas[1])];
  const starts = [0, 9];
  const sizes = [9, 12];
  const which = (i: number) => (i < 9 ? 0 : 1);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const b = which(i);
    const want = b === which(j) ? blocks[b][(i - starts[b]) * sizes[b] + (j - starts[b])] : 0;
    assert.ok(Math.abs(dense.data[i * n + j] - want) < 1e-13, `entry ${i},${j}: ${dense.data[i * n + j]} vs ${want}`);
  }
  assertSymmetricPsd(dense, 'K-FAC');
  assertSymmetricPsd(kfac(net, loss, params, { x, y }, { approximation: 'ekfac', seed: 2 }).toDense(), 'EKFAC');
});

test('block of a layer and of one parameter equal the dense sub-blocks', () => {
  const op = kfac(net, loss, params, { x, y }, { seed: 1 });
  const dense = op.toDense();
  const n = op.size;
  for (const [path, start, len] of [['2', 9, 12], ['0.weight', 0, 6], ['2.bias', 18, 3]] as const) {
    const b = op.block(path);
    assert.equal(b.name, `kfac[${path}]`);
    const bd = b.toDense();
    for (let i = 0; i < len; i++) for (let j = 0; j < len; j++) assert.ok(Math.abs(bd.data[i * len + j] - dense.data[(start + i) * n + start + j]) < 1e-15, `${path} ${i},${j}`);
  }
});

test('a parameter no tap covers gets a diagonal block', () => {
  const inner = new Sequential([new Linear(2, 2)]);
  const p = { net: inner.init(new Rng(41), f64), extra: new Rng(42).normal([3], f64) };
  const model = (q: typeof p, xx: Tensor, ctx: ApplyContext) => add(inner.apply(q.net, xx, childContext(ctx, 'net')), sum(q.extra));
  const op = kfac(model, mse(), p, { x: new Rng(43).normal([4, 2], f64), y: new Rng(44).normal([4, 2], f64) }, { mode: 'empirical' });
  const d = op.block('extra').toDense();
  assert.ok(d.data[0] > 0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (i !== j) assert.equal(d.data[i * 3 + j], 0);
  const full = op.toDense();
  for (let i = 0; i < 6; i++) for (let j = 6; j < 9; j++) assert.equal(full.data[i * 9 + j], 0);
});

test('bad input names the kfac operator, what it expected and what it got', () => {
  assert.throws(() => kfac(net, loss, params, { x, y }, { mode: 'exact' as 'ggn' }), /kfac: option 'mode' must be 'true', 'empirical' or 'ggn', got "exact"/);
  assert.throws(() => kfac(net, loss, params, { x, y }, { damping: 1 } as object), /kfac: unknown option 'damping'/);
  assert.throws(() => kfac(net, loss, params, { x: slice(x, [0], [2]), y }), /kfac: batch inputs \[2, 2\] and targets \[5\] must share their first \(batch\) axis/);
  const lin = new Linear(2, 3);
  const other = lin.init(new Rng(1), f64);
  const stats = kfacStatistics(lin, loss, { x, y }, other, { mode: 'empirical', rng: new Rng(0) });
  const { state } = updateEstimator(layoutBlocks(other, stats.layers, 'kronecker').state, other, stats, { decay: 0, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 });
  assert.throws(() => kfacOperator(state, params), /kfac: the curvature state has a block for 'weight', which the parameters lack \(they have 0\.weight, 0\.bias, 2\.weight, 2\.bias\)/);
  assert.throws(() => kfacOperator({ blocks: [] }, params), /kfac: expected an estimator state with blocks/);
  const op = kfacOperator(state, other);
  assert.throws(() => op.block('nope'), /kfac\.block: no parameter at path 'nope'/);
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { matmul } from '../tensor/matmul.js';
import { cholesky, eigh, solveTriangular } from '../tensor/linalg.js';
import * as O from '../autodiff/ops.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { Conv2d, Linear, Tanh } from '../nn/layers.js';
import { Sequential, childContext, type ApplyContext } from '../nn/module.js';
import { mse, softmaxCrossEntropy } from '../nn/losses.js';
import { assertClose } from '../testing/helpers.js';
import { ggnvp, perExampleGrads } from './products.js';
import {
  Conv2dEkfac, Conv2dKronecker, DenseEkfac, DenseKronecker, DiagonalBlock, dampedInverse, factoredDamping, kron, piCorrection, safeEigh,
  type EigenInverse, type KroneckerState,
} from './kronecker.js';
import { kfacStatistics, layoutBlocks, preconditionTree, updateEstimator } from './kronecker-estimator.js';

const f64 = { dtype: 'float64' as const };
const opts = { decay: 0.95, recomputeInverse: true, inverseMethod: 'eigen' as const, damping: 1e-3 };

/** Dense matrix of a linear map on a parameter tree, columns = map(e_j), in treeLeaves order. */
function materialize<P extends PyTree>(params: P, apply: (v: P) => P): number[][] {
  const leaves = treeLeaves(params);
  const n = leaves.reduce((s, l) => s + l.size, 0);
  const cols: number[][] = [];
  for (let j = 0; j < n; j++) {
    let k = j;
    const v = leaves.map((l) => {
      const t = new Tensor(new Float64Array(l.size), l.shape);
      if (k >= 0 && k < l.size) t.data[k] = 1;
      k -= l.size;
      return t;
    });
    let idx = 0;
    const tree = JSON.parse(JSON.stringify(params, (_, x) => (x instanceof Tensor ? null : x)), (_, x) => (x === null ? v[idx++] : x)) as P;
    cols.push(treeLeaves(apply(tree)).flatMap((l) => Array.from(l.data)));
  }
  return cols[0].map((_, i) => cols.map((c) => c[i]));
}

/** Index in the flat [weight, bias] parameter vector of entry (o, c) of [W | b] (c = fan-in: the bias). */
function flatIndex(o: number, c: number, out: number, fan: number): number {
  return c < fan ? o * fan + c : out * fan + o;
}

function randomPsd(rng: Rng, n: number, rank = n): Tensor {
  const x = rng.normal([n, rank], f64);
  return matmul(x, x, { transposeB: true });
}

function blockWith(block: DenseKronecker, A: Tensor, G: Tensor, method: 'eigen' | 'cholesky', damping: number): KroneckerState {
  const s = { ...block.init('float64'), A, G, count: 1 };
  return block.update(s, undefined, { ...opts, inverseMethod: method, damping }).state;
}

/** x with (M) x = b by Cholesky of the dense SPD matrix M (the oracle, independent of the eigenbasis). */
function denseSolve(m: Tensor, b: Float64Array): Float64Array {
  const L = cholesky(m);
  const y = solveTriangular(L, new Tensor(b, [b.length]), { lower: true });
  return solveTriangular(L, y, { lower: true, transpose: true }).data as Float64Array;
}

describe('Kronecker curvature blocks', () => {
  it('K-FAC equals the exact Fisher (= GGN) of a single linear layer with squared loss', () => {
    const rng = new Rng(11);
    const layer = new Linear(3, 2);
    const params = layer.init(rng, f64);
    const batch = { x: rng.normal([5, 3], f64), y: rng.normal([5, 2], f64) };
    const loss = mse();
    const stats = kfacStatistics(layer, loss, batch, params, { mode: 'ggn', rng: new Rng(0) });
    const { state } = layoutBlocks(params, stats.layers, 'kronecker');
    const block = new DenseKronecker('', ['weight', 'bias'], [2, 3]);
    const s = updateEstimator(state, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state.blocks[0] as KroneckerState;
    const kf = block.materialize(s);
    const exact = materialize(params, (v) => ggnvp(layer, loss, params, batch, v));
    for (let o = 0; o < 2; o++) for (let c = 0; c < 4; c++) for (let p = 0; p < 2; p++) for (let d = 0; d < 4; d++) {
      const got = kf.data[(o * 4 + c) * 8 + p * 4 + d];
      const want = exact[flatIndex(o, c, 2, 3)][flatIndex(p, d, 2, 3)];
      assert.ok(Math.abs(got - want) < 1e-12 * (1 + Math.abs(want)), `(${o},${c}),(${p},${d}): ${got} vs ${want}`);
    }
    // The sampled (true) Fisher's G factor matches the GGN's in expectation.
    const G = new Float64Array(4);
    const draws = 300;
    const srng = new Rng(5);
    for (let k = 0; k < draws; k++) {
      const st = kfacStatistics(layer, loss, batch, params, { mode: 'true', rng: srng });
      const g = st.layers[0].g[0];
      const gg = matmul(g, g, { transposeA: true });
      for (let i = 0; i < 4; i++) G[i] += gg.data[i] / draws;
    }
    const rel = Math.hypot(...G.map((v, i) => v - s.G.data[i])) / Math.hypot(...s.G.data);
    assert.ok(rel < 0.15, `sampled G deviates from the exact G by ${rel}`);
  });

  it('dense factors built from taps equal brute-force sums, and G ⊗ A the Kronecker product of them', () => {
    const rng = new Rng(12);
    const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 3)]);
    type Dense = { weight: Tensor; bias: Tensor };
    const params = net.init(rng, f64) as PyTree[];
    const l0 = params[0] as Dense;
    const n = 6;
    const batch = { x: rng.normal([n, 3], f64), y: tensor([0, 2, 1, 1, 0, 2], undefined, f64) };
    const loss = softmaxCrossEntropy();
    const stats = kfacStatistics(net, loss, batch, params, { mode: 'empirical', rng: new Rng(0) });
    const st = updateEstimator(layoutBlocks(params, stats.layers, 'kronecker').state, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state;
    assert.deepEqual(st.blocks.map((b) => b.kind), ['dense', 'dense']);
    // Brute force: layer inputs by hand, output gradients as per-example bias gradients (∂L_i/∂s_i).
    const h = O.tanh(O.add(O.matmul(batch.x, l0.weight, { transposeB: true }), l0.bias));
    const per = perExampleGrads(net, loss, params, batch) as [Dense, PyTree, Dense];
    const w = loss.batchWeight(n);
    const check = (blockState: KroneckerState, inputs: Tensor, biasGrads: Tensor, fan: number, out: number) => {
      const A = new Float64Array((fan + 1) ** 2);
      const G = new Float64Array(out * out);
      for (let i = 0; i < n; i++) {
        const a = [...Array.from(inputs.data.slice(i * fan, (i + 1) * fan)), 1];
        for (let c = 0; c <= fan; c++) for (let d = 0; d <= fan; d++) A[c * (fan + 1) + d] += a[c] * a[d] / n;
        for (let o = 0; o < out; o++) for (let p = 0; p < out; p++) G[o * out + p] += w * biasGrads.data[i * out + o] * biasGrads.data[i * out + p];
      }
      assertClose(blockState.A.data, A, { rtol: 1e-12, atol: 1e-14 });
      assertClose(blockState.G.data, G, { rtol: 1e-12, atol: 1e-14 });
      const kf = new DenseKronecker('', ['w', 'b'], [out, fan]).materialize(blockState);
      const d = fan + 1;
      for (let o = 0; o < out; o++) for (let c = 0; c < d; c++) for (let p = 0; p < out; p++) for (let e = 0; e < d; e++) {
        assert.ok(Math.abs(kf.data[(o * d + c) * out * d + p * d + e] - G[o * out + p] * A[c * d + e]) < 1e-13);
      }
    };
    check(st.blocks[0] as KroneckerState, batch.x, per[0].bias, 3, 4);
    check(st.blocks[1] as KroneckerState, h, per[2].bias, 4, 3);
  });

  it('for one example K-FAC is exact: G ⊗ A = n·w·∇∇ᵀ of the per-example gradient', () => {
    const rng = new Rng(13);
    const net = new Sequential([new Linear(2, 3), new Tanh(), new Linear(3, 2)]);
    const params = net.init(rng, f64);
    const batch = { x: rng.normal([1, 2], f64), y: rng.normal([1, 2], f64) };
    const stats = kfacStatistics(net, mse(), batch, params, { mode: 'empirical', rng: new Rng(0) });
    const st = updateEstimator(layoutBlocks(params, stats.layers, 'kronecker').state, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state;
    const [, grads] = valueAndGrad((p: PyTree) => mse().value(net.apply(p as never, batch.x), batch.y))(params) as [Tensor, { weight: Tensor; bias: Tensor }[]];
    ([[0, 3, 2], [2, 2, 3]] as const).forEach(([layer, out, fan], b) => {
      const g = grads[layer];
      const vec: number[] = [];
      for (let o = 0; o < out; o++) vec.push(...Array.from(g.weight.data.slice(o * fan, (o + 1) * fan)), g.bias.data[o]);
      const kf = new DenseKronecker('', ['w', 'b'], [out, fan]).materialize(st.blocks[b] as KroneckerState);
      const m = vec.length;
      // F = w Σ_i ∇L_i ∇L_iᵀ with w = 1 for one example.
      for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) assert.ok(Math.abs(kf.data[i * m + j] - vec[i] * vec[j]) < 1e-12, `${i},${j}`);
    });
  });

  it('Kronecker eigenvalues are the products of the factor eigenvalues', () => {
    const rng = new Rng(14);
    const block = new DenseKronecker('', ['w', 'b'], [3, 3]);
    const s = blockWith(block, randomPsd(rng, 4), randomPsd(rng, 3), 'eigen', 1);
    const inv = s.inverse as EigenInverse;
    const products = Array.from(inv.dG.data).flatMap((g) => Array.from(inv.dA.data).map((a) => g * a)).sort((a, b) => a - b);
    const dense = Array.from(eigh(block.materialize(s)).eigenvalues.data);
    assertClose(dense, products, { rtol: 1e-10, atol: 1e-10 });
  });

  it('conv2d factors match an unfolded computation (stride, padding, dilation), and patches line up with the weight layout', () => {
    for (const geom of [{ stride: 2, padding: 1 }, { stride: [1, 2] as [number, number], padding: [0, 1] as [number, number], dilation: 2 }]) {
      const rng = new Rng(15);
      const conv = new Conv2d(2, 3, [3, 2], geom);
      const params = conv.init(rng, f64);
      const N = 2;
      const H = 5;
      const W = 6;
      const x = rng.normal([N, 2, H, W], f64);
      const z0 = conv.apply(params, x);
      const batch = { x, y: rng.normal(z0.shape, f64) };
      const loss = mse({ reduction: 'sum' });
      const stats = kfacStatistics(conv, loss, batch, params, { mode: 'empirical', rng: new Rng(0) });
      const sample = stats.layers[0];
      const block = new Conv2dKronecker('', ['weight', 'bias'], [3, 2, 3, 2], [3, 2, ...pairOf(geom.stride), ...pairOf(geom.padding), ...pairOf(geom.dilation ?? 1)]);
      const est = block.factorEstimates(sample);
      // Unfold by hand: patch (c, i, j) at output (y, x) reads input (y·sh − ph + i·dh, x·sw − pw + j·dw).
      const [sh, sw] = pairOf(geom.stride);
      const [ph, pw] = pairOf(geom.padding);
      const [dh, dw] = pairOf(geom.dilation ?? 1);
      const oh = z0.shape[2];
      const ow = z0.shape[3];
      const T = oh * ow;
      const K = 2 * 3 * 2 + 1;
      const A = new Float64Array(K * K);
      const G = new Float64Array(9);
      const gW = new Float64Array(3 * K);
      const g = sample.g[0];
      for (let n = 0; n < N; n++) for (let yy = 0; yy < oh; yy++) for (let xx = 0; xx < ow; xx++) {
        const a: number[] = [];
        for (let c = 0; c < 2; c++) for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) {
          const r = yy * sh - ph + i * dh;
          const q = xx * sw - pw + j * dw;
          a.push(r >= 0 && r < H && q >= 0 && q < W ? x.data[((n * 2 + c) * H + r) * W + q] : 0);
        }
        a.push(1);
        const gv = [0, 1, 2].map((o) => g.data[((n * 3 + o) * oh + yy) * ow + xx]);
        for (let c = 0; c < K; c++) for (let d = 0; d < K; d++) A[c * K + d] += a[c] * a[d] / N;
        for (let o = 0; o < 3; o++) for (let p = 0; p < 3; p++) G[o * 3 + p] += gv[o] * gv[p] / T;
        for (let o = 0; o < 3; o++) for (let c = 0; c < K; c++) gW[o * K + c] += gv[o] * a[c];
      }
      assertClose(est.A.data, A, { rtol: 1e-12, atol: 1e-12 });
      assertClose(est.G.data, G, { rtol: 1e-12, atol: 1e-12 });
      // Σ ĝ āᵀ is the (scaled, w = 1 here) weight gradient in [W | b] layout: the unfolding matches the weights.
      const [, grads] = valueAndGrad((p: typeof params) => loss.value(conv.apply(p, x), batch.y))(params) as [Tensor, typeof params];
      assertClose(gW, block.combine([grads.weight, grads.bias as Tensor]).data, { rtol: 1e-10, atol: 1e-10 });
    }
  });

  it('the damped inverse applied to a vector equals a dense solve (eigen, Cholesky, EKFAC)', () => {
    const rng = new Rng(16);
    const A = randomPsd(rng, 4, 2); // rank deficient
    const G = randomPsd(rng, 3);
    const lambda = 0.05;
    const v = rng.normal([3, 4], f64);
    const grads = [new Tensor(new Float64Array([...v.data].filter((_, i) => i % 4 !== 3)), [3, 3]), new Tensor(new Float64Array([0, 1, 2].map((o) => v.data[o * 4 + 3])), [3])];
    const pi = piCorrection(trace(A), 4, trace(G), 3);
    const [gA, gG] = factoredDamping(lambda, pi);
    assert.ok(Math.abs(gA * gG - lambda) < 1e-15 && Math.abs(gA / gG - pi * pi) < 1e-12);
    const dense = kron(addDiag(G, gG), addDiag(A, gA));
    const want = denseSolve(dense, v.data as Float64Array);
    const block = new DenseKronecker('', ['w', 'b'], [3, 3]);
    for (const method of ['eigen', 'cholesky'] as const) {
      const s = blockWith(block, A, G, method, lambda);
      const got = block.combine(block.precondition(s, grads, lambda)).data;
      assertClose(got, want, { rtol: 1e-9, atol: 1e-11, msg: method });
    }
    // EKFAC: (U diag(s + λ) Uᵀ)⁻¹ with U = U_G ⊗ U_A.
    const ek = new DenseEkfac('', ['w', 'b'], [3, 3]);
    let s = blockWith(ek, A, G, 'eigen', lambda);
    s = { ...s, scaling: rng.uniform([3, 4], { ...f64, low: 0, high: 2 }) };
    const denseEk = ek.materialize(s);
    const got = ek.combine(ek.precondition(s, grads, lambda)).data;
    assertClose(got, denseSolve(addDiag(denseEk, lambda), v.data as Float64Array), { rtol: 1e-9, atol: 1e-11, msg: 'ekfac' });
  });

  it('EKFAC moments are the diagonal of the per-example Fisher in the Kronecker eigenbasis (dense, dense over a sequence, conv)', () => {
    const rng = new Rng(17);
    const cases: [string, Conv2d | Linear, Tensor][] = [
      ['dense', new Linear(3, 2), rng.normal([5, 3], f64)],
      ['dense over a sequence', new Linear(3, 2), rng.normal([4, 3, 3], f64)],
      ['conv', new Conv2d(1, 2, 2, { stride: 1 }), rng.normal([3, 1, 3, 3], f64)],
    ];
    for (const [name, layer, x] of cases) {
      const params = layer.init(rng, f64);
      const y = rng.normal(layer.apply(params, x).shape, f64);
      const loss = mse();
      const stats = kfacStatistics(layer, loss, { x, y }, params, { mode: 'empirical', rng: new Rng(0) });
      const st = updateEstimator(layoutBlocks(params, stats.layers, 'ekfac').state, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state;
      const s = st.blocks[0] as KroneckerState;
      assert.equal(s.approximation, 'ekfac');
      const block = name.startsWith('dense') ? new DenseEkfac('', ['weight', 'bias'], params.weight.shape) : new Conv2dEkfac('', ['weight', 'bias'], params.weight.shape, [2, 2, 1, 1, 0, 0, 1, 1]);
      // Brute force: F = w Σ_i vec(∇W̄_i) vec(∇W̄_i)ᵀ, its diagonal in the basis U_G ⊗ U_A.
      const per = perExampleGrads(layer, loss, params, { x, y }) as typeof params;
      const n = x.shape[0];
      const w = loss.batchWeight(n);
      const inv = s.inverse as EigenInverse;
      const want = new Float64Array((s.scaling as Tensor).size);
      for (let i = 0; i < n; i++) {
        const gi = [per.weight, per.bias as Tensor].map((t) => new Tensor(t.data.slice(i * t.size / n, (i + 1) * t.size / n), t.shape.slice(1)));
        const m = block.combine(gi);
        const rot = matmul(matmul(inv.UG, m, { transposeA: true }), inv.UA);
        for (let k = 0; k < want.length; k++) want[k] += w * rot.data[k] ** 2;
      }
      assertClose((s.scaling as Tensor).data, want, { rtol: 1e-10, atol: 1e-13, msg: name });
    }
  });

  it('rank-deficient, zero and overflowing factors never yield NaN (eigenvalue floor, float64 retry)', () => {
    const block = new DenseKronecker('', ['w', 'b'], [2, 2]);
    const zero = (n: number, dtype: 'float32' | 'float64' = 'float64') => new Tensor(dtype === 'float32' ? new Float32Array(n * n) : new Float64Array(n * n), [n, n]);
    const grads = [tensor([[1, -2], [3, 4]], undefined, f64), tensor([0.5, -1], undefined, f64)];
    for (const method of ['eigen', 'cholesky'] as const) {
      for (const [A, G] of [[zero(3), zero(2)], [randomPsd(new Rng(1), 3, 1), zero(2)]]) {
        const s = blockWith(block, A, G, method, 1e-8);
        const out = block.precondition(s, grads, 1e-8);
        assert.ok(out.every((t) => t.toFlatArray().every(Number.isFinite)), method);
      }
    }
    // float32 factors whose eigenvalues overflow float32: the float64 retry keeps them finite.
    const big = new Tensor(new Float32Array([3e38, 3e38, 3e38, 3e38]), [2, 2]);
    const r = safeEigh(big);
    assert.ok(r.retried);
    assert.ok(r.values.toFlatArray().every(Number.isFinite) && r.vectors.toFlatArray().every(Number.isFinite));
    assert.ok(dampedInverse(big, 1e-4).toFlatArray().every(Number.isFinite));
    const b32 = new DenseKronecker('', ['w'], [2, 2]);
    const s32 = b32.update({ ...b32.init('float32'), A: big, G: big, count: 1 }, undefined, opts);
    assert.ok(s32.retried);
    const out = b32.precondition(s32.state, [new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2])], 1e-3);
    assert.ok(out[0].toFlatArray().every(Number.isFinite));
    assert.equal(piCorrection(0, 3, 1, 2), 1);
    assert.equal(piCorrection(1, 3, Infinity, 2), 1);
  });

  it('the EMA replaces the zero initialization at the first update and then decays by ε = min(1 − 1/k, decay)', () => {
    const d = new DiagonalBlock('p', [2]);
    let s = d.init('float64');
    s = d.update(s, tensor([4, 8], undefined, f64), 0.9).state;
    assert.deepEqual(s.d.toFlatArray(), [4, 8]);
    s = d.update(s, tensor([0, 0], undefined, f64), 0.9).state; // k = 2: ε = 1/2
    assert.deepEqual(s.d.toFlatArray(), [2, 4]);
    s = d.update(s, tensor([0, 0], undefined, f64), 0.1).state; // k = 3: ε = min(2/3, 0.1)
    assertClose(s.d.data, [0.2, 0.4], { rtol: 1e-14 });
    assert.equal(d.update(s, tensor([NaN, 1], undefined, f64), 0.9).skipped, true);
    assertClose(d.precondition(s, [tensor([1, 1], undefined, f64)], 0.8)[0].data, [1, 1 / 1.2], { rtol: 1e-15 });
  });

  it('untapped parameters get diagonal blocks and the tree is preconditioned block by block', () => {
    const rng = new Rng(18);
    const net = new Sequential([new Linear(2, 2), new Tanh()]);
    const params = { net: net.init(rng, f64), extra: rng.normal([3], f64) };
    // Any differentiable function that passes ctx to its tapped layers is a model.
    const model = (p: typeof params, x: Tensor, ctx: ApplyContext) => O.add(net.apply(p.net, x, childContext(ctx, 'net')), O.sum(p.extra));
    const batch = { x: rng.normal([4, 2], f64), y: rng.normal([4, 2], f64) };
    const stats = kfacStatistics(model, mse(), batch, params, { mode: 'empirical', rng: new Rng(0) });
    const laid = layoutBlocks(params, stats.layers, 'kronecker');
    assert.deepEqual(laid.state.blocks.map((b) => b.kind), ['dense', 'diagonal']);
    assert.deepEqual(laid.state.blocks.map((b) => b.paths), [['net.0.weight', 'net.0.bias'], ['extra']]);
    const st = updateEstimator(laid.state, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state;
    const out = preconditionTree(st, params, 0.1);
    const diag = st.blocks[1].d as Tensor;
    assertClose(out.extra.data, params.extra.toFlatArray().map((v, i) => v / (diag.data[i] + 0.1)), { rtol: 1e-14 });
  });
});

function pairOf(v: number | readonly number[] | undefined): [number, number] {
  return v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function trace(m: Tensor): number {
  let s = 0;
  for (let i = 0; i < m.shape[0]; i++) s += m.data[i * m.shape[0] + i];
  return s;
}

function addDiag(m: Tensor, d: number): Tensor {
  const c = m.clone();
  for (let i = 0; i < m.shape[0]; i++) c.data[i * m.shape[0] + i] += d;
  return c;
}


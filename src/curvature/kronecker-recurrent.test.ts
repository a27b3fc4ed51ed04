/**
 * K-FAC for recurrent layers (Martens, Ba & Johnson 2018, independence approximation) on a tiny
 * Elman RNN written here from raw ops, which records its per-time-step taps: the factors against
 * a brute-force computation (plain loops, output gradients by central differences in float64),
 * the tap contract against autodiff's gradient, and tied biases moving as one bias would.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as O from '../autodiff/ops.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { Linear } from '../nn/layers.js';
import { TapRecorder, childContext, type ApplyContext } from '../nn/module.js';
import { mse } from '../nn/losses.js';
import { assertClose } from '../testing/helpers.js';
import { kfacStatistics, layoutBlocks, preconditionTree, updateEstimator } from './kronecker-estimator.js';
import { RecurrentKronecker, recurrentStatistics, withRecurrentApproximation, type KroneckerState, type LayerSample } from './kronecker.js';
import { RNN, type RecurrentParams } from '../nn/recurrent.js';
import { deserializeTree, serializeTree } from '../nn/checkpoint.js';

const f64 = { dtype: 'float64' as const };
const [N, T, I, H, Out] = [3, 4, 2, 3, 2];

/** rnn: weightIh, weightHh, biasIh, biasHh; out: weight, bias. */
type RnnParams = Record<'rnn' | 'out', Record<string, Tensor>>;

const readout = new Linear(H, Out);

/** h_t = tanh(W_ih x_t + W_hh h_{t−1} + b_ih + b_hh), output W_o h_T + b_o; taps: one recurrent, one dense. */
function rnn(p: RnnParams, x: Tensor, ctx?: ApplyContext): Tensor {
  let h: Tensor = new Tensor(new Float64Array(N * H), [N, H]);
  const inputs: Tensor[] = [];
  const outputs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const xt = O.reshape(O.slice(x, [0, t, 0], [N, t + 1, I]), [N, I]);
    const s = O.add(O.add(O.matmul(xt, p.rnn.weightIh, { transposeB: true }), O.matmul(h, p.rnn.weightHh, { transposeB: true })), O.add(p.rnn.biasIh, p.rnn.biasHh));
    inputs.push(O.concat([xt, h], 1));
    outputs.push(s);
    h = O.tanh(s);
  }
  ctx?.taps?.recordSequence('rnn', 'recurrent', inputs, outputs, { bias: true, weights: ['weightIh', 'weightHh'], biases: ['biasIh', 'biasHh'] });
  return readout.apply({ weight: p.out.weight, bias: p.out.bias }, h, childContext(ctx, 'out'));
}

function setup() {
  const rng = new Rng(7);
  const params: RnnParams = {
    rnn: { weightIh: rng.normal([H, I], f64), weightHh: rng.normal([H, H], f64), biasIh: rng.normal([H], f64), biasHh: rng.normal([H], f64) },
    out: readout.init(rng, f64) as Record<string, Tensor>,
  };
  return { params, x: rng.normal([N, T, I], f64), y: rng.normal([N, Out], f64) };
}

/** The same RNN in plain loops, with δ added to the pre-activation s_{i,t}[j]; returns the loss and every ā_{i,t}. */
function bruteForce(p: RnnParams, x: Tensor, y: Tensor, delta?: { i: number; t: number; j: number; d: number }) {
  const rows: number[][] = [];
  const z = new Float64Array(N * Out);
  const d = p.rnn;
  for (let i = 0; i < N; i++) {
    let h = new Array<number>(H).fill(0);
    for (let t = 0; t < T; t++) {
      const xt = [0, 1].map((k) => x.data[(i * T + t) * I + k]);
      rows.push([...xt, ...h, 1]);
      const next: number[] = [];
      for (let j = 0; j < H; j++) {
        let s = d.biasIh.data[j] + d.biasHh.data[j];
        for (let k = 0; k < I; k++) s += d.weightIh.data[j * I + k] * xt[k];
        for (let k = 0; k < H; k++) s += d.weightHh.data[j * H + k] * h[k];
        if (delta !== undefined && delta.i === i && delta.t === t && delta.j === j) s += delta.d;
        next.push(Math.tanh(s));
      }
      h = next;
    }
    for (let o = 0; o < Out; o++) {
      let s = p.out.bias.data[o];
      for (let k = 0; k < H; k++) s += p.out.weight.data[o * H + k] * h[k];
      z[i * Out + o] = s;
    }
  }
  return { loss: mse().value(new Tensor(z, [N, Out]), y).data[0], rows };
}

describe('K-FAC for recurrent layers', () => {
  it('the recurrent factors equal A = (1/N) Σ_i Σ_t ā ā^T and G = (1/T) Σ_i Σ_t ĝ ĝ^T computed by brute force', () => {
    const { params, x, y } = setup();
    const loss = mse();
    const stats = kfacStatistics(rnn, loss, { x, y }, params, { mode: 'empirical', rng: new Rng(0) });
    assert.deepEqual(stats.layers.map((l) => `${l.kind} ${l.scope}`), ['recurrent rnn', 'dense out']);
    const laid = layoutBlocks(params, stats.layers, 'kronecker');
    assert.deepEqual(laid.events, []);
    const st = updateEstimator(laid.state, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state;
    const block = st.blocks[0] as KroneckerState;
    assert.equal(block.kind, 'recurrent');
    assert.deepEqual(block.paths, ['rnn.weightIh', 'rnn.weightHh', 'rnn.biasIh', 'rnn.biasHh']);

    const { rows } = bruteForce(params, x, y);
    const D = I + H + 1;
    const A = new Float64Array(D * D);
    for (const r of rows) for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) A[a * D + b] += (r[a] * r[b]) / N;
    assertClose(block.A.data, A, { rtol: 1e-12, atol: 1e-12, msg: 'A' });

    // ĝ_{i,t} = (∂ loss / ∂ s_{i,t}) / √w, by central differences.
    const w = loss.batchWeight(N);
    const G = new Float64Array(H * H);
    const eps = 1e-5;
    for (let i = 0; i < N; i++) for (let t = 0; t < T; t++) {
      const g = Array.from({ length: H }, (_, j) => (bruteForce(params, x, y, { i, t, j, d: eps }).loss - bruteForce(params, x, y, { i, t, j, d: -eps }).loss) / (2 * eps) / Math.sqrt(w));
      for (let a = 0; a < H; a++) for (let b = 0; b < H; b++) G[a * H + b] += (g[a] * g[b]) / T;
    }
    assertClose(block.G.data, G, { rtol: 1e-6, atol: 1e-10, msg: 'G' });
  });

  it('the tap carries the gradient of the shared weights: Σ_t ĝ_t ā_tᵀ √w = [∇W_ih | ∇W_hh | ∇b], with ∇b_ih = ∇b_hh = ∇b', () => {
    const { params, x, y } = setup();
    const loss = mse();
    const taps = new TapRecorder();
    const [, g] = valueAndGrad((p: RnnParams) => loss.value(rnn(p, x, { taps }), y))(params) as [Tensor, RnnParams];
    const tap = taps.get('rnn');
    assert.ok(tap !== undefined && tap.kind === 'recurrent' && tap.output.grad !== null);
    assert.deepEqual(tap.a.shape, [N, T, I + H]);
    assert.deepEqual(tap.output.grad.shape, [N, T, H]);
    const block = new RecurrentKronecker('rnn', ['rnn.weightIh', 'rnn.weightHh', 'rnn.biasIh', 'rnn.biasHh'], [H, I + H], [I, H]);
    const r = block.rows({ scope: 'rnn', kind: 'recurrent', a: tap.a, g: [tap.output.grad], info: tap.info });
    const fromTap = O.matmul(r.g[0], r.a, { transposeA: true });
    const want = block.combineGradient([g.rnn.weightIh, g.rnn.weightHh, g.rnn.biasIh, g.rnn.biasHh]);
    assertClose(fromTap.data, want.data, { rtol: 1e-12, atol: 1e-14 });
    assertClose(g.rnn.biasIh.data, g.rnn.biasHh.data, { rtol: 0, atol: 0, msg: 'tied biases' });
  });

  it('tied biases move as one bias would: each takes half of the single-bias block’s step, the weights the same step', () => {
    const rng = new Rng(3);
    const tied = new RecurrentKronecker('r', ['r.wi', 'r.wh', 'r.bi', 'r.bh'], [H, I + H], [I, H]);
    const single = new RecurrentKronecker('r', ['r.wi', 'r.wh', 'r.b'], [H, I + H], [I, H]);
    const x = rng.normal([5, I + H + 1], f64);
    const gm = rng.normal([5, H], f64);
    const A = O.matmul(x, x, { transposeA: true });
    const G = O.matmul(gm, gm, { transposeA: true });
    const opts = { decay: 0.95, recomputeInverse: true, inverseMethod: 'eigen' as const, damping: 1e-2 };
    const st = (b: RecurrentKronecker) => b.update({ ...b.init('float64'), A, G, count: 1 }, undefined, opts).state;
    const [wi, wh, b] = [rng.normal([H, I], f64), rng.normal([H, H], f64), rng.normal([H], f64)];
    const t = tied.precondition(st(tied), [wi, wh, b, b], 1e-2);
    const s = single.precondition(st(single), [wi, wh, b], 1e-2);
    assertClose(t[0].data, s[0].data, { rtol: 1e-12, atol: 1e-14, msg: 'W_ih' });
    assertClose(t[1].data, s[1].data, { rtol: 1e-12, atol: 1e-14, msg: 'W_hh' });
    for (const k of [2, 3]) assertClose(t[k].data, s[2].data.map((v) => v / 2), { rtol: 1e-12, atol: 1e-14, msg: `bias ${k}` });
  });

  it('a recurrent tap whose parameters are missing falls back to diagonal blocks, and the whole tree is still preconditioned', () => {
    const { params, x, y } = setup();
    const stats = kfacStatistics(rnn, mse(), { x, y }, params, { mode: 'empirical', rng: new Rng(0) });
    const renamed = { ...params, rnn: { weightIh: params.rnn.weightIh, weightHh: params.rnn.weightHh, bIh: params.rnn.biasIh, bHh: params.rnn.biasHh } };
    const laid = layoutBlocks(renamed, stats.layers, 'ekfac');
    assert.match(laid.events.join('\n'), /tap 'rnn' has no matching parameters 'rnn.biasIh', 'rnn.biasHh'; diagonal blocks used/);
    const st = updateEstimator(laid.state, renamed, { layers: stats.layers, diagonal: renamed }, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state;
    const u = preconditionTree(st, renamed, 1e-2);
    assert.deepEqual(Object.keys(u.rnn), ['weightIh', 'weightHh', 'bIh', 'bHh']);
  });

  it('padded steps stay out of every recurrent factor: A, G, A_1, G_1 and c_d equal brute-force loops over the unpadded sequences', () => {
    const rng = new Rng(5);
    const [n, t, inF, out] = [3, 5, 2, 2];
    const lengths = [5, 2, 3];
    // Garbage at padded steps, in the inputs AND the output gradients: none of it may leak in.
    const a = rng.normal([n, t, inF], f64);
    const g = rng.normal([n, t, out], f64);
    const mask = new Tensor(Float64Array.from({ length: n * t }, (_, k) => ((k % t) < lengths[Math.floor(k / t)] ? 1 : 0)), [n, t]);
    const sample: LayerSample = { scope: 'r', kind: 'recurrent', a, g: [g], info: { bias: true, weights: ['w'], biases: ['b'], mask } };
    const block = new RecurrentKronecker('r', ['r.w', 'r.b'], [out, inF], [inF]);
    const st = recurrentStatistics(block, sample);
    const D = inF + 1;
    const row = (i: number, s: number) => [...Array.from(a.data.subarray((i * t + s) * inF, (i * t + s + 1) * inF)), 1];
    const grow = (i: number, s: number) => Array.from(g.data.subarray((i * t + s) * out, (i * t + s + 1) * out));
    const nv = lengths.reduce((x, y) => x + y, 0);
    const np = lengths.reduce((x, y) => x + y - 1, 0);
    const tbar = nv / n;
    const [A, G, A1, G1] = [new Float64Array(D * D), new Float64Array(out * out), new Float64Array(D * D), new Float64Array(out * out)];
    lengths.forEach((len, i) => {
      for (let s = 0; s < len; s++) {
        const [x, y] = [row(i, s), grow(i, s)];
        for (let p = 0; p < D; p++) for (let q = 0; q < D; q++) A[p * D + q] += (x[p] * x[q]) / n;
        for (let p = 0; p < out; p++) for (let q = 0; q < out; q++) G[p * out + q] += (y[p] * y[q]) / tbar;
        if (s + 1 < len) {
          const [x1, y1] = [row(i, s + 1), grow(i, s + 1)];
          for (let p = 0; p < D; p++) for (let q = 0; q < D; q++) A1[p * D + q] += ((nv / np) * x1[p] * x[q]) / n;
          for (let p = 0; p < out; p++) for (let q = 0; q < out; q++) G1[p * out + q] += ((nv / np) * y1[p] * y[q]) / tbar;
        }
      }
    });
    assertClose(st.A.data, A, { rtol: 1e-12, atol: 1e-14, msg: 'A' });
    assertClose(st.G.data, G, { rtol: 1e-12, atol: 1e-14, msg: 'G' });
    assertClose(st.A1.data, A1, { rtol: 1e-12, atol: 1e-14, msg: 'A_1' });
    assertClose(st.G1.data, G1, { rtol: 1e-12, atol: 1e-14, msg: 'G_1' });
    assertClose(st.lags.data, [5, 4, 3, 2, 1].map((_, d) => lengths.reduce((c, len) => c + Math.max(0, len - d), 0) / n), { rtol: 1e-14, atol: 0, msg: 'c_d' });
    // The independent block folds the same A and G; EKFAC's per-example rows have zero ĝ at padded steps.
    const ind = block.update(block.init('float64'), sample, { decay: 0.95, recomputeInverse: true, inverseMethod: 'eigen', damping: 1 }).state;
    assertClose(ind.A.data, A, { rtol: 1e-12, atol: 1e-14, msg: 'independent A' });
    assertClose(ind.G.data, G, { rtol: 1e-12, atol: 1e-14, msg: 'independent G' });
    const rows = block.rows(sample);
    for (let i = 0; i < n; i++) for (let s = lengths[i]; s < t; s++) assert.deepEqual(Array.from(rows.g[0].data.subarray((i * t + s) * out, (i * t + s + 1) * out)), [0, 0]);
    // A chain state folds the same A and G as the independent one.
    const chain = block.update(withRecurrentApproximation(block.init('float64'), 'chain1'), sample, { decay: 0.95, recomputeInverse: true, inverseMethod: 'eigen', damping: 1 }).state;
    assertClose(chain.A.data, A, { rtol: 1e-12, atol: 1e-14, msg: 'chain A' });
    // A chain state is plain data: it round-trips through a checkpoint and preconditions the same.
    const loaded = deserializeTree(serializeTree({ chain })).tree as { chain: KroneckerState };
    const grads = [rng.normal([out, inF], f64), rng.normal([out], f64)];
    const [p1, p2] = [block.precondition(chain, grads, 1), block.precondition(loaded.chain, grads, 1)];
    p1.forEach((x, k) => assert.deepEqual(Array.from(p2[k].data), Array.from(x.data)));
  });

  it('through nn.RNN with a mask, A equals (1/N) Σ ā āᵀ over the unpadded sequences run alone, and G averages over real steps only', () => {
    const [n, t, inF, hid] = [3, 4, 2, 3];
    const lengths = [4, 1, 3];
    const layer = new RNN(inF, hid);
    const rng = new Rng(8);
    const params = { rnn: layer.init(rng, f64) as RecurrentParams };
    const x = rng.normal([n, t, inF], f64);
    const y = rng.normal([n, hid], f64);
    const mask = new Tensor(Float64Array.from({ length: n * t }, (_, k) => ((k % t) < lengths[Math.floor(k / t)] ? 1 : 0)), [n, t]);
    const model = (p: { rnn: RecurrentParams }, xx: Tensor, ctx?: ApplyContext) => layer.forward(p.rnn, xx, { mask }, childContext(ctx, 'rnn')).h;
    const stats = kfacStatistics(model, mse(), { x, y }, params, { mode: 'empirical', rng: new Rng(0) });
    const laid = layoutBlocks(params, stats.layers, 'kronecker');
    const block = updateEstimator(laid.state, params, stats, { decay: 0.95, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 }).state.blocks[0] as KroneckerState;
    const D = inF + hid + 1;
    const A = new Float64Array(D * D);
    lengths.forEach((len, i) => {
      const taps = new TapRecorder();
      const xi = O.slice(x, [i, 0, 0], [i + 1, len, inF]);
      layer.forward(params.rnn, xi, {}, { taps, scope: 'rnn' });
      const tap = taps.get('rnn');
      assert.ok(tap !== undefined);
      for (let s = 0; s < len; s++) {
        const r = [...Array.from(tap.a.data.subarray(s * (inF + hid), (s + 1) * (inF + hid))), 1];
        for (let p = 0; p < D; p++) for (let q = 0; q < D; q++) A[p * D + q] += (r[p] * r[q]) / n;
      }
    });
    assertClose(block.A.data, A, { rtol: 1e-12, atol: 1e-14, msg: 'A' });
    const g = stats.layers[0].g[0];
    const tbar = lengths.reduce((c, l) => c + l, 0) / n;
    const G = new Float64Array(hid * hid);
    lengths.forEach((len, i) => {
      for (let s = 0; s < len; s++) {
        const r = Array.from(g.data.subarray((i * t + s) * hid, (i * t + s + 1) * hid));
        for (let p = 0; p < hid; p++) for (let q = 0; q < hid; q++) G[p * hid + q] += (r[p] * r[q]) / tbar;
      }
    });
    assertClose(block.G.data, G, { rtol: 1e-12, atol: 1e-14, msg: 'G' });
  });
});

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
import { RecurrentKronecker, type KroneckerState } from './kronecker.js';

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
});

/**
 * RNN and LSTM record K-FAC's recurrent tap (the affine map [x_t; h_{t−1}] → s_t shared across
 * time, Martens, Ba & Johnson 2018): its inputs are the layer's own [x_t; h_{t−1}], and its
 * per-step output gradients reproduce autodiff's gradient of the shared weights and tied biases.
 * GRU records none (its candidate gate is not one affine map of [x_t; h_{t−1}]).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as O from '../autodiff/ops.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { TapRecorder } from './module.js';
import { GRU, LSTM, RNN, type RecurrentParams } from './recurrent.js';
import { mse } from './losses.js';
import { RecurrentKronecker } from '../curvature/kronecker.js';
import { runOne } from '../bench/runner.js';
import { assertClose } from '../testing/helpers.js';

const f64 = { dtype: 'float64' as const };
const [N, T, I, H] = [3, 5, 2, 3];

for (const [name, make, gates] of [['RNN', () => new RNN(I, H), 1], ['LSTM', () => new LSTM(I, H), 4]] as const) {
  describe(`${name} records K-FAC's recurrent tap`, () => {
    const layer = make();
    const rng = new Rng(11);
    const params = layer.init(rng, f64);
    const x = rng.normal([N, T, I], f64);
    const y = rng.normal([N, T, H], f64);
    const mask = new Tensor(Float64Array.from({ length: N * T }, (_, k) => (k % T < T - (k / T | 0) ? 1 : 0)), [N, T]);

    it('the tap input at step t is [x_t; h_{t−1}] of the forward pass', () => {
      const taps = new TapRecorder();
      const r = layer.forward(params, x, { mask }, { taps, scope: 'rnn' });
      const tap = taps.get('rnn');
      assert.ok(tap !== undefined && tap.kind === 'recurrent');
      assert.deepEqual(tap.a.shape, [N, T, I + H]);
      for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) {
        const row: number[] = Array.from(tap.a.data.subarray((n * T + t) * (I + H), (n * T + t + 1) * (I + H)));
        const xt: number[] = Array.from(x.data.subarray((n * T + t) * I, (n * T + t + 1) * I));
        const hPrev: number[] = t === 0 ? new Array<number>(H).fill(0) : Array.from(r.states[t - 1].data.subarray(n * H, (n + 1) * H));
        assert.deepEqual(row, [...xt, ...hPrev], `example ${n}, step ${t}`);
      }
    });

    it('Σ_t ĝ_t ā_tᵀ over the tap equals autodiff\'s [∇W_ih | ∇W_hh | ∇b] (with a mask), tied biases equal', () => {
      const taps = new TapRecorder();
      const loss = mse();
      const [, g] = valueAndGrad((p: RecurrentParams) => loss.value(layer.forward(p, x, { mask }, { taps, scope: 'rnn' }).output, y))(params) as [Tensor, RecurrentParams];
      const tap = taps.get('rnn');
      assert.ok(tap !== undefined && tap.kind === 'recurrent' && tap.output.grad !== null);
      assert.deepEqual(tap.output.grad.shape, [N, T, gates * H]);
      const { mask: tapMask, ...info } = tap.info;
      assert.deepEqual(info, { bias: true, weights: ['weight_ih', 'weight_hh'], biases: ['bias_ih', 'bias_hh'] });
      assert.deepEqual(Array.from(tapMask?.data ?? []), Array.from(mask.data), 'the tap carries the mask: padded steps stay out of the factors');
      const block = new RecurrentKronecker('rnn', ['rnn.weight_ih', 'rnn.weight_hh', 'rnn.bias_ih', 'rnn.bias_hh'], [gates * H, I + H], [I, H]);
      const rows = block.rows({ scope: 'rnn', kind: 'recurrent', a: tap.a, g: [tap.output.grad], info: tap.info });
      const fromTap = O.matmul(rows.g[0], rows.a, { transposeA: true });
      const want = block.combineGradient([g.weight_ih, g.weight_hh, g.bias_ih as Tensor, g.bias_hh as Tensor]);
      assertClose(fromTap.data, want.data, { rtol: 1e-12, atol: 1e-14 });
      assertClose((g.bias_ih as Tensor).data, (g.bias_hh as Tensor).data, { rtol: 0, atol: 0, msg: 'tied biases' });
    });
  });
}

describe('GRU and K-FAC', () => {
  it('GRU records no tap (its parameters get diagonal blocks)', () => {
    const gru = new GRU(I, H);
    const p = gru.init(new Rng(1), f64);
    const taps = new TapRecorder();
    gru.apply(p, new Rng(2).normal([N, T, I], f64), { taps, scope: 'g' });
    assert.equal(taps.taps.length, 0);
  });
  it('K-FAC and EKFAC train the tanh RNN of rnn-addition through its recurrent tap (the loss falls)', () => {
    for (const opt of ['kfac', 'ekfac']) {
      const { record } = runOne('rnn-addition', opt, 0, { steps: 8 }, { size: 'tiny', seqLength: 12 });
      const first = record.curve[0].trainLoss;
      const last = record.final.trainLoss;
      assert.ok(Number.isFinite(last) && last < first, `${opt}: ${first} -> ${last}`);
      assert.equal(record.final.rejectedSteps, 0);
    }
  });
});

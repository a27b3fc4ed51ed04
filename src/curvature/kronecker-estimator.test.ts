/**
 * K-FAC statistics in the gradient's own pass: `kfacValueGradAndStatistics` (one forward pass)
 * against the separate passes it replaces — `valueAndGrad` of the loss and `kfacStatistics` —
 * in float64, for every estimation mode, on dense and conv layers, with dropout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { Conv2d, Dropout, Flatten, Linear, Tanh } from '../nn/layers.js';
import { Sequential, type ApplyContext } from '../nn/module.js';
import { mse, softmaxCrossEntropy, type Loss } from '../nn/losses.js';
import { assertClose } from '../testing/helpers.js';
import { kfacStatistics, kfacValueGradAndStatistics, type EstimationMode } from './kronecker-estimator.js';

const f64 = { dtype: 'float64' as const };

function cases(): { name: string; net: Sequential; params: PyTree[]; x: Tensor; y: Tensor; loss: Loss; dropoutSeed?: number }[] {
  const rng = new Rng(5);
  const mlp = new Sequential([new Linear(4, 6), new Tanh(), new Dropout(0.3), new Linear(6, 3)]);
  const cnn = new Sequential([new Conv2d(1, 2, 3, { padding: 1 }), new Tanh(), new Flatten(), new Linear(2 * 4 * 4, 3)]);
  const labels = new Tensor(Float64Array.from([0, 2, 1, 1, 0]), [5]);
  return [
    { name: 'mlp, squared loss, dropout', net: mlp, params: mlp.init(rng, f64), x: rng.normal([5, 4], f64), y: rng.normal([5, 3], f64), loss: mse(), dropoutSeed: 9 },
    { name: 'cnn, cross-entropy', net: cnn, params: cnn.init(rng, f64), x: rng.normal([5, 1, 4, 4], f64), y: labels, loss: softmaxCrossEntropy() },
  ];
}

describe('K-FAC statistics in the gradient pass', () => {
  for (const c of cases()) {
    for (const mode of ['empirical', 'true', 'ggn'] as EstimationMode[]) {
      it(`equal the separate passes to 1e-12, and the gradient equals valueAndGrad's (${c.name}, ${mode})`, () => {
        const batch = { x: c.x, y: c.y };
        const options = { mode, rng: new Rng(3), dropoutSeed: c.dropoutSeed };
        const joint = kfacValueGradAndStatistics(c.net, c.loss, batch, c.params, options);
        const ctx = (): ApplyContext => (c.dropoutSeed === undefined ? {} : { training: true, rng: new Rng(c.dropoutSeed) });
        const [v, g] = valueAndGrad((p: PyTree[]) => c.loss.value(c.net.apply(p, c.x, ctx()), c.y))(c.params) as [Tensor, PyTree[]];
        assertClose([joint.loss], [v.data[0]], { rtol: 1e-12, atol: 0, msg: 'loss' });
        treeLeaves(joint.grad).forEach((l, i) => assertClose(l.data, treeLeaves(g)[i].data, { rtol: 1e-12, atol: 1e-14, msg: `grad ${i}` }));
        const separate = kfacStatistics(c.net, c.loss, batch, c.params, { ...options, rng: new Rng(3) });
        assert.equal(joint.statistics.layers.length, separate.layers.length);
        joint.statistics.layers.forEach((l, j) => {
          const s = separate.layers[j];
          assert.equal(`${l.kind} ${l.scope}`, `${s.kind} ${s.scope}`);
          assertClose(l.a.data, s.a.data, { rtol: 0, atol: 0, msg: `a ${j}` });
          assert.equal(l.g.length, s.g.length);
          l.g.forEach((t, k) => assertClose(t.data, s.g[k].data, { rtol: 1e-12, atol: 1e-15, msg: `g ${j}.${k}` }));
        });
        treeLeaves(joint.statistics.diagonal).forEach((l, i) => assertClose(l.data, treeLeaves(separate.diagonal)[i].data, { rtol: 1e-12, atol: 1e-16, msg: `diagonal ${i}` }));
      });
    }
  }
});

describe('K-FAC statistics on chosen diagonal leaves (diagonalLeaves)', () => {
  for (const c of cases()) {
    for (const mode of ['empirical', 'true', 'ggn'] as EstimationMode[]) {
      it(`equal the full statistics on the wanted leaves, zeros elsewhere, the same layer samples (${c.name}, ${mode})`, () => {
        const batch = { x: c.x, y: c.y };
        const n = treeLeaves(c.params).length;
        const full = kfacStatistics(c.net, c.loss, batch, c.params, { mode, rng: new Rng(3), dropoutSeed: c.dropoutSeed });
        for (const wanted of [new Array<boolean>(n).fill(false), Array.from({ length: n }, (_, i) => i % 2 === 1)]) {
          for (const joint of [false, true]) {
            const options = { mode, rng: new Rng(3), dropoutSeed: c.dropoutSeed, diagonalLeaves: wanted };
            const s = joint ? kfacValueGradAndStatistics(c.net, c.loss, batch, c.params, options).statistics : kfacStatistics(c.net, c.loss, batch, c.params, options);
            s.layers.forEach((l, j) => l.g.forEach((t, k) => assertClose(t.data, full.layers[j].g[k].data, { rtol: 1e-12, atol: 1e-15, msg: `g ${j}.${k}` })));
            treeLeaves(s.diagonal).forEach((l, i) => {
              const want = wanted[i] ? treeLeaves(full.diagonal)[i].data : new Float64Array(l.size);
              assertClose(l.data, want, { rtol: 1e-12, atol: 1e-16, msg: `diagonal ${i} (${wanted[i] ? 'wanted' : 'not wanted'})` });
            });
          }
        }
      });
    }
  }

  it('refuses a flag list that does not match the parameters', () => {
    const c = cases()[0];
    assert.throws(() => kfacStatistics(c.net, c.loss, { x: c.x, y: c.y }, c.params, { mode: 'true', rng: new Rng(1), diagonalLeaves: [true] }),
      /kfac: diagonalLeaves has 1 flags, the parameters have 4 leaves/);
  });
});

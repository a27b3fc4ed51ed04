import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as T from '../tensor/ops.js';
import { add, sum } from '../autodiff/ops.js';
import { grad } from '../autodiff/vjp.js';
import { AvgPool2d, Conv2d, Dropout, Flatten, GELU, LayerNorm, Linear, MaxPool2d, ReLU, Sigmoid, Softmax, Softplus, Tanh, gelu } from './layers.js';
import { Residual, Sequential } from './module.js';
import { glorotUniform, heNormal, sparseInit } from './init.js';
import { mse, sigmoidBinaryCrossEntropy, softmaxCrossEntropy } from './losses.js';

const f64 = { dtype: 'float64' as const };

describe('nn modules', () => {
  it('a CNN classifier runs end to end with named parameters', () => {
    const net = new Sequential([
      new Conv2d(1, 4, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
      new Conv2d(4, 8, 3, { padding: 1 }), new Softplus(), new AvgPool2d(2),
      new Flatten(), new Linear(8 * 2 * 2, 10), new Softmax(),
    ]);
    const params = net.init(new Rng(0));
    const y = net.apply(params, new Rng(1).normal([3, 1, 8, 8]));
    assert.deepEqual(y.shape, [3, 10]);
    T.sum(y, 1).toFlatArray().forEach((v) => assert.ok(Math.abs(v - 1) < 1e-5));
    assert.deepEqual((params[0] as { weight: Tensor }).weight.shape, [4, 1, 3, 3]);
    assert.ok(net.toString().includes('Conv2d(1 -> 4, kernel 3x3)'));
  });

  it('same seed, same parameters; float64 on request', () => {
    const net = new Sequential([new Linear(3, 5), new Tanh(), new Linear(5, 1)]);
    const a = net.init(new Rng(7), f64);
    const b = net.init(new Rng(7), f64);
    assert.deepEqual((a[0] as { weight: Tensor }).weight.toFlatArray(), (b[0] as { weight: Tensor }).weight.toFlatArray());
    assert.equal((a[0] as { weight: Tensor }).weight.dtype, 'float64');
  });

  it('residual connections and free composition are differentiable', () => {
    const block = new Residual(new Sequential([new Linear(4, 4), new GELU(), new Linear(4, 4)]));
    const params = block.init(new Rng(2), f64);
    const x = new Rng(3).normal([2, 4], f64);
    const g = grad((p: typeof params) => sum(add(block.apply(p, x), 1)))(params);
    assert.equal(g.body.length, 3);
    assert.ok(((g.body[0] as { weight: Tensor }).weight).toFlatArray().some((v) => v !== 0));
  });

  it('wrong input shapes get errors naming the layer and the shapes', () => {
    const lin = new Linear(3, 2);
    const p = lin.init(new Rng(0));
    assert.throws(() => lin.apply(p, new Rng(0).normal([4, 5])), /Linear\(3 -> 2\): input has shape \[4, 5\], expected \[\.\.\., 3\]/);
    const conv = new Conv2d(3, 2, 3);
    assert.throws(() => conv.apply(conv.init(new Rng(0)), new Rng(0).normal([1, 2, 5, 5])), /Conv2d\(3 -> 2, kernel 3x3\): input has shape \[1, 2, 5, 5\], expected \[N, 3, H, W\]/);
    assert.throws(() => new Linear(0, 2), /inFeatures must be a positive integer/);
    assert.throws(() => new Sequential([lin]).apply([], new Rng(0).normal([1, 3])), /expected parameters for 1 layers, got 0/);
    assert.throws(() => new Linear(2, 2, { init: 'nope' as never }), /unknown initializer 'nope'/);
  });

  it('dropout: identity in eval mode, seeded masks with inverted scaling in training', () => {
    const d = new Dropout(0.5);
    const x = new Tensor(new Float64Array(10000).fill(1), [10000]);
    assert.equal(d.apply({}, x), x);
    const y1 = d.apply({}, x, { training: true, rng: new Rng(4) });
    const y2 = d.apply({}, x, { training: true, rng: new Rng(4) });
    assert.deepEqual(y1.toFlatArray(), y2.toFlatArray());
    assert.ok(y1.toFlatArray().every((v) => v === 0 || v === 2));
    const m = T.mean(y1).item();
    assert.ok(Math.abs(m - 1) < 0.05, `mean ${m}`);
    assert.throws(() => d.apply({}, x, { training: true }), /needs ctx.rng/);
    assert.throws(() => new Dropout(1), /p must be in \[0, 1\)/);
  });

  it('LayerNorm, GELU and Sigmoid match their formulas', () => {
    const x = new Rng(5).normal([2, 3], f64);
    const ln = new LayerNorm(3, { elementwiseAffine: false });
    const y = ln.apply({}, x);
    for (let r = 0; r < 2; r++) {
      const row = x.toFlatArray().slice(3 * r, 3 * r + 3);
      const mu = row.reduce((a, b) => a + b) / 3;
      const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / 3;
      row.forEach((xi, j) => assert.ok(Math.abs(y.data[3 * r + j] - (xi - mu) / Math.sqrt(v + 1e-5)) < 1e-12));
    }
    assert.ok(Math.abs(gelu(new Tensor(Float64Array.of(1), [1])).item() - 0.8413447460685429) < 1e-12);
    assert.ok(Math.abs(new Sigmoid().apply({}, new Tensor(Float64Array.of(0), [1])).item() - 0.5) < 1e-15);
  });
});

describe('initializers', () => {
  it('Glorot and He have the documented variances; sparse init has 15 nonzeros per unit', () => {
    const rng = new Rng(1);
    const w = glorotUniform(rng, [200, 300], 'float64');
    const varG = T.mean(T.square(w)).item();
    assert.ok(Math.abs(varG - 2 / 500) < 2e-4, `glorot variance ${varG}`);
    const h = heNormal(rng, [100, 50, 3, 3], 'float64');
    assert.ok(Math.abs(T.mean(T.square(h)).item() - 2 / 450) < 3e-4);
    const s = sparseInit(15)(rng, [40, 100], 'float64');
    for (let u = 0; u < 40; u++) assert.equal(s.toFlatArray().slice(u * 100, (u + 1) * 100).filter((v) => v !== 0).length, 15);
    const small = sparseInit(15)(rng, [3, 4], 'float64');
    assert.equal(small.toFlatArray().filter((v) => v !== 0).length, 12);
  });
});

describe('losses', () => {
  const z = new Rng(8).normal([4, 3], f64);
  it('values match their formulas; bad targets are named', () => {
    const t = new Rng(9).normal([4, 3], f64);
    const mseRef = z.toFlatArray().reduce((a, v, i) => a + (v - t.data[i]) ** 2, 0) / 12;
    assert.ok(Math.abs(mse().value(z, t).item() - mseRef) < 1e-14);
    const labels = new Tensor(Float64Array.from([0, 2, 1, 2]), [4]);
    let ce = 0;
    for (let i = 0; i < 4; i++) {
      const row = z.toFlatArray().slice(3 * i, 3 * i + 3);
      const lse = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      ce += lse - row[labels.data[i]];
    }
    assert.ok(Math.abs(softmaxCrossEntropy().value(z, labels).item() - ce / 4) < 1e-14);
    const probs = new Tensor(Float64Array.from([1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]), [4, 3]);
    assert.ok(Math.abs(softmaxCrossEntropy().value(z, probs).item() - ce / 4) < 1e-14);
    const b = new Tensor(Float64Array.from(z.toFlatArray().map((v) => (v > 0 ? 1 : 0))), [4, 3]);
    const bceRef = z.toFlatArray().reduce((a, v, i) => a + Math.log1p(Math.exp(v)) - b.data[i] * v, 0) / 12;
    assert.ok(Math.abs(sigmoidBinaryCrossEntropy().value(z, b).item() - bceRef) < 1e-14);
    assert.throws(() => softmaxCrossEntropy().value(z, new Tensor(Float64Array.from([0, 3, 1, 1]), [4])), /target 3 at position 1 is not a class index in \[0, 3\)/);
    assert.throws(() => mse().value(z, t.astype('float32')), /outputs are float64 but targets are float32/);
    assert.throws(() => mse({ reduction: 'avg' as never }), /reduction must be 'mean', 'batchmean' or 'sum'/);
  });

  it('output-space Hessian products equal the autodiff Hessian of the loss', () => {
    const v = new Rng(10).normal([4, 3], f64);
    const cases = [
      [mse(), new Rng(11).normal([4, 3], f64)],
      [mse({ reduction: 'sum' }), new Rng(11).normal([4, 3], f64)],
      [mse({ reduction: 'batchmean' }), new Rng(11).normal([4, 3], f64)],
      [sigmoidBinaryCrossEntropy({ reduction: 'batchmean' }), new Rng(12).uniform([4, 3], f64)],
      [softmaxCrossEntropy(), new Tensor(Float64Array.from([0, 2, 1, 2]), [4])],
      [sigmoidBinaryCrossEntropy(), new Rng(12).uniform([4, 3], f64)],
    ] as const;
    for (const [loss, t] of cases) {
      const h = 1e-5;
      const g = grad((zz: Tensor) => loss.value(zz, t));
      const fd = T.mul(T.sub(g(T.axpby(h, v, 1, z)), g(T.axpby(-h, v, 1, z))), 1 / (2 * h));
      const hv = loss.outputHvp(z, t, v);
      hv.toFlatArray().forEach((x, i) => assert.ok(Math.abs(x - fd.data[i]) < 1e-7, `${loss.name} ${i}: ${x} vs ${fd.data[i]}`));
      const per = loss.perExample(z, t);
      assert.ok(Math.abs(T.sum(per).item() * loss.batchWeight(4) - loss.value(z, t).item()) < 1e-13);
    }
  });

  it('sampled targets follow the predictive distribution', () => {
    const logits = new Tensor(Float64Array.from([Math.log(0.2), Math.log(0.8)]), [1, 2]);
    const rng = new Rng(3);
    let ones = 0;
    for (let i = 0; i < 4000; i++) ones += softmaxCrossEntropy().sampleTargets(logits, rng).item();
    assert.ok(Math.abs(ones / 4000 - 0.8) < 0.03);
    const s = sigmoidBinaryCrossEntropy().sampleTargets(new Tensor(Float64Array.from(new Array(4000).fill(0)), [4000, 1]), rng);
    assert.ok(Math.abs(T.mean(s).item() - 0.5) < 0.03);
  });
});

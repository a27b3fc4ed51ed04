import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import * as O from '../../autodiff/ops.js';
import { Rng } from '../../tensor/random.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { mse, softmaxCrossEntropy } from '../../nn/losses.js';
import { linearOperator } from '../../curvature/operators/linear-operator.js';
import { hvp } from '../../autodiff/compose.js';
import { ggnvp } from '../../curvature/products.js';
import { modelObjective, objective, withL2 } from '../objective.js';
import type { Objective, UpdateContext } from '../types.js';
import { estimateDiagonal, spatialAverage } from './curvature-estimate.js';

const flat = (t: unknown) => treeLeaves(t).flatMap((l) => Array.from(l.data));

function ctxFor<P extends PyTree>(obj: Objective<P>, step = 0): UpdateContext<P> {
  return { step, loss: 0, objective: obj, counters: { evals: 0, curvatureProducts: 0 }, events: [] };
}

/** A 3-4-2 tanh network's squared loss on 6 examples, float64 (26 parameters). */
function tinyRegression() {
  const rng = new Rng(5);
  const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 2)]);
  const params = net.init(rng, { dtype: 'float64' });
  const x = rng.normal([6, 3], { dtype: 'float64' });
  const y = rng.normal([6, 2], { dtype: 'float64' });
  const loss = (p: PyTree[]) => mse().value(net.apply(p, x), y);
  return { params, loss };
}

describe('Hutchinson estimate of the Hessian diagonal', () => {
  it('converges to the dense Hessian diagonal of a tiny network, the error shrinking like 1/sqrt(probes)', () => {
    const { params, loss } = tinyRegression();
    const dense = linearOperator('hessian', params, (v) => hvp(loss, params, v)).toDense().data;
    const n = Math.round(Math.sqrt(dense.length));
    // Per-entry variance of one Rademacher probe: the squared off-diagonal row sum.
    const offRow = Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let j = 0; j < n; j++) if (j !== i) s += dense[i * n + j] ** 2;
      return s;
    });
    const obj = objective(loss);
    const rms: number[] = [];
    for (const probes of [4, 32, 256]) {
      const ctx = ctxFor(obj, 3);
      const est = flat(estimateDiagonal('test', 'hutchinson', params, ctx, { seed: 11, probes }));
      assert.equal(ctx.counters.curvatureProducts, probes);
      let err2 = 0;
      let var2 = 0;
      for (let i = 0; i < n; i++) {
        err2 += (est[i] - dense[i * n + i]) ** 2;
        var2 += offRow[i] / probes;
      }
      // Σ err² / Σ variance has mean 1 over 26 entries; far outside [0.15, 4] only for a wrong estimator.
      const ratio = err2 / var2;
      assert.ok(ratio > 0.15 && ratio < 4, `probes ${probes}: squared error ${err2} vs its expectation ${var2}`);
      rms.push(Math.sqrt(err2));
    }
    assert.ok(rms[2] < rms[1] && rms[1] < rms[0], `error does not shrink with probes: ${rms.join(', ')}`);
  });

  it('is exact with one probe where the Hessian is diagonal (z ⊙ Dz = D for ±1 entries)', () => {
    const a = [2, -0.5, 4];
    const half = new Tensor(Float64Array.from(a.map((v) => v / 2)), [3]);
    const obj = objective((p: { x: Tensor }) => O.sum(O.mul(half, O.square(p.x))));
    const p = { x: new Tensor(Float64Array.from([1, -2, 0.5]), [3]) };
    assert.deepEqual(flat(estimateDiagonal('test', 'hutchinson', p, ctxFor(obj, 7), { seed: 0, probes: 1 })), a);
  });

  it('draws its probes from the seed and the step alone: same (seed, step), same estimate; another step, another', () => {
    const { params, loss } = tinyRegression();
    const obj = objective(loss);
    const at = (seed: number, step: number) => flat(estimateDiagonal('test', 'hutchinson', params, ctxFor(obj, step), { seed, probes: 1 }));
    assert.deepEqual(at(4, 9), at(4, 9));
    assert.notDeepEqual(at(4, 9), at(4, 10));
    assert.notDeepEqual(at(4, 9), at(5, 9));
  });

  it('an objective without hvp is an error naming hvp', () => {
    const obj: Objective<PyTree> = { valueAndGrad: (p) => [0, p] };
    assert.throws(() => estimateDiagonal('adahessian', 'hutchinson', { x: new Tensor(new Float64Array(2), [2]) }, ctxFor(obj), { seed: 0, probes: 1 }), /adahessian: .*needs an objective with hvp/);
  });
});


describe('Gauss-Newton-Bartlett estimate (Sophia-G)', () => {
  /** A 2-3 tanh softmax net on 2 examples with 3 classes: 3² label draws to enumerate. */
  function tinySoftmax() {
    const rng = new Rng(8);
    const net = new Sequential([new Linear(2, 3), new Tanh(), new Linear(3, 3)]);
    const params = net.init(rng, { dtype: 'float64' });
    const x = rng.normal([2, 2], { dtype: 'float64' });
    const y = new Tensor(Float64Array.from([0, 2]), [2]);
    return { net, params, x, y, loss: softmaxCrossEntropy() };
  }

  it('in expectation over the sampled labels equals the Gauss-Newton diagonal (all 9 label pairs enumerated)', () => {
    const { net, params, x, y, loss } = tinySoftmax();
    const z = net.apply(params, x).toFlatArray();
    const probs = [0, 1].map((i) => {
      const row = z.slice(3 * i, 3 * i + 3);
      const mx = Math.max(...row);
      const e = row.map((v) => Math.exp(v - mx));
      const s = e.reduce((u, v) => u + v, 0);
      return e.map((v) => v / s);
    });
    const n = flat(params).length;
    const expected = new Float64Array(n);
    for (let y0 = 0; y0 < 3; y0++) {
      for (let y1 = 0; y1 < 3; y1++) {
        const labels = new Tensor(Float64Array.from([y0, y1]), [2]);
        const g = flat(modelObjective(net, loss, { x, y: labels }).valueAndGrad(params)[1]);
        // B·g² with B = 2 examples (a mean over examples).
        for (let i = 0; i < n; i++) expected[i] += probs[0][y0] * probs[1][y1] * 2 * g[i] * g[i];
      }
    }
    // The Gauss-Newton diagonal from dense products on unit vectors.
    const like = params as PyTree;
    const ggnDiag = linearOperator('ggn', like, (v) => ggnvp(net, loss, params, { x, y }, v as typeof params)).toDense();
    for (let i = 0; i < n; i++) assert.ok(Math.abs(expected[i] - ggnDiag.data[i * n + i]) <= 1e-12 * (1 + Math.abs(expected[i])), `entry ${i}: ${expected[i]} vs ${ggnDiag.data[i * n + i]}`);

    // And the objective's estimator samples those labels: its mean over seeds converges to it.
    const obj = modelObjective(net, loss, { x, y });
    const draws = 500;
    const sum = new Float64Array(n);
    const sumSq = new Float64Array(n);
    for (let s = 0; s < draws; s++) {
      const e = flat(obj.gnbDiagonal(params, s));
      for (let i = 0; i < n; i++) { sum[i] += e[i]; sumSq[i] += e[i] * e[i]; }
    }
    for (let i = 0; i < n; i++) {
      const mean = sum[i] / draws;
      const sd = Math.sqrt(Math.max(sumSq[i] / draws - mean * mean, 0) / draws);
      assert.ok(Math.abs(mean - expected[i]) <= 5 * sd + 1e-12, `entry ${i}: mean ${mean} vs ${expected[i]} (sd of the mean ${sd})`);
    }
  });

  it('is one of the enumerated values: the squared gradient at labels drawn from the seed, times the batch size', () => {
    const { net, params, x, y, loss } = tinySoftmax();
    const obj = modelObjective(net, loss, { x, y });
    const z = net.apply(params, x);
    const labels = loss.sampleTargets(z, new Rng(42));
    const g = flat(modelObjective(net, loss, { x, y: labels }).valueAndGrad(params)[1]);
    const got = flat(obj.gnbDiagonal(params, 42));
    g.forEach((gi, i) => assert.ok(Math.abs(got[i] - 2 * gi * gi) <= 1e-14 * (1 + got[i])));
    assert.deepEqual(flat(obj.gnbDiagonal(params, 42)), got, 'same seed, same estimate');
  });

  it('withL2 adds the regularizer\'s curvature λ to the estimate, on penalized entries only', () => {
    const { net, params, x, y, loss } = tinySoftmax();
    const base = modelObjective(net, loss, { x, y });
    const reg = withL2(base, 0.3, { exclude: 'biases' });
    const b = flat(base.gnbDiagonal(params, 3));
    const r = flat(reg.gnbDiagonal?.(params, 3));
    const isWeight = treeLeaves(params).flatMap((l) => new Array<boolean>(l.size).fill(l.ndim >= 2));
    r.forEach((v, i) => assert.ok(Math.abs(v - b[i] - (isWeight[i] ? 0.3 : 0)) < 1e-14));
  });

  it('an objective without gnbDiagonal is an error that says to build a modelObjective', () => {
    const obj: Objective<PyTree> = { valueAndGrad: (p) => [0, p], hvp: (_p, v) => v };
    assert.throws(() => estimateDiagonal('sophia-g', 'gnb', { x: new Tensor(new Float64Array(2), [2]) }, ctxFor(obj), { seed: 0, probes: 1 }), /sophia-g: .*gnbDiagonal.*modelObjective/);
  });
});

describe('spatial averaging (AdaHessian)', () => {
  const naive = (d: number[], rowLength: number, block: number) => d.map((_, i) => {
    const row = Math.floor(i / rowLength) * rowLength;
    const start = row + Math.floor((i - row) / block) * block;
    const end = Math.min(start + block, row + rowLength);
    let s = 0;
    for (let j = start; j < end; j++) s += Math.abs(d[j]);
    return s / (end - start);
  });

  it('averages |d| over a conv kernel\'s spatial axes and over blocks along the last axis of other leaves', () => {
    const rng = new Rng(1);
    const conv = rng.normal([2, 3, 2, 2], { dtype: 'float64' });
    const dense = rng.normal([2, 5], { dtype: 'float64' });
    const bias = rng.normal([5], { dtype: 'float64' });
    const out = spatialAverage({ conv, dense, bias }, { blockSize: 2, spatial: true });
    assert.deepEqual(out.conv.toFlatArray(), naive(conv.toFlatArray(), 4, 4));
    assert.deepEqual(out.dense.toFlatArray(), naive(dense.toFlatArray(), 5, 2));
    assert.deepEqual(out.bias.toFlatArray(), naive(bias.toFlatArray(), 5, 2));
    assert.deepEqual(out.conv.shape, [2, 3, 2, 2]);
  });

  it('with block size 1 and spatial averaging off it is |d|', () => {
    const conv = new Rng(2).normal([2, 1, 3, 3], { dtype: 'float64' });
    const out = spatialAverage({ conv }, { blockSize: 1, spatial: false });
    assert.deepEqual(out.conv.toFlatArray(), conv.toFlatArray().map(Math.abs));
  });
});

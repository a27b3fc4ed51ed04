/**
 * Curvature products against dense oracles on tiny networks: hvp vs finite differences of the
 * gradient and vs the dense Hessian; GGN = Hessian for a linear model with squared loss; GGN
 * and Fisher symmetric positive semi-definite; the empirical Fisher equals the outer products
 * of per-example gradients; the true Fisher's expectation is the GGN; taps reproduce weight
 * gradients.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, zeros } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as T from '../tensor/ops.js';
import { eigh } from '../tensor/linalg.js';
import { matmul as matmulC } from '../tensor/matmul.js';
import { conv2dBackwardFilter } from '../tensor/conv.js';
import {
  add, conv2d, div, exp, logsumexp, matmul, mean, mul, reshape, sigmoid, slice, softplus, square, sum, tanh, avgPool2d,
} from '../autodiff/ops.js';
import { grad, valueAndGrad } from '../autodiff/vjp.js';
import { hessian, hvp } from '../autodiff/compose.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { Conv2d, Flatten, LayerNorm, Linear, Tanh, layerNorm } from '../nn/layers.js';
import { Sequential, TapRecorder } from '../nn/module.js';
import { mse, sigmoidBinaryCrossEntropy, softmaxCrossEntropy, type Loss } from '../nn/losses.js';
import { fisherOperatorFn, fisherVp, ggnOperatorFn, ggnvp, perExampleGrads, type Batch } from './products.js';
import { jvp } from '../autodiff/jvp.js';
import { vjp } from '../autodiff/vjp.js';

const rng = new Rng(99);
const f64 = { dtype: 'float64' as const };

function relErr(a: Tensor, b: Tensor): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.size; i++) { num += (a.data[i] - b.data[i]) ** 2; den += b.data[i] ** 2; }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
}

/** Flatten a tree into one vector, and back. */
function flat(tree: PyTree): Tensor {
  const leaves = treeLeaves(tree);
  const n = leaves.reduce((a, l) => a + l.size, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const l of leaves) { out.set(l.data, o); o += l.size; }
  return new Tensor(out, [n]);
}
/** Differentiable: slices of v reshaped like the leaves of `like`. */
function unflat<P extends PyTree>(like: P, v: Tensor): P {
  let o = 0;
  return treeUnflatten(like, treeLeaves(like).map((l) => { const t = reshape(slice(v, [o], [o + l.size]), l.shape); o += l.size; return t; }));
}

/** Dense matrix of a linear operator on parameter trees. */
function materialize<P extends PyTree>(params: P, apply: (v: P) => P): number[][] {
  const n = flat(params).size;
  const cols: number[][] = [];
  for (let j = 0; j < n; j++) {
    const e = zeros([n], f64);
    e.data[j] = 1;
    cols.push(Array.from(flat(apply(unflat(params, e))).data));
  }
  return cols[0].map((_, i) => cols.map((c) => c[i])); // rows
}

function assertSymmetricPsd(m: number[][], what: string): void {
  const n = m.length;
  let scale = 0;
  for (const row of m) for (const v of row) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(m[i][j] - m[j][i]) <= 1e-10 * scale, `${what} not symmetric at ${i},${j}`);
  const w = eigh(new Tensor(Float64Array.from(m.flat()), [n, n])).eigenvalues.toFlatArray();
  assert.ok(w[0] >= -1e-10 * scale, `${what} has a negative eigenvalue ${w[0]}`);
}

describe('hvp', () => {
  it('matches the dense Hessian and finite differences on a tiny net with tanh, sigmoid, softplus, exp, logsumexp, division, conv and LayerNorm', () => {
    const x = rng.normal([2, 1, 4, 4], f64);
    const params = {
      conv: rng.normal([2, 1, 3, 3], { ...f64, std: 0.5 }),
      w: rng.normal([8, 3], { ...f64, std: 0.5 }),
      g: rng.uniform([3], { ...f64, low: 0.5, high: 1.5 }),
      b: rng.normal([3], f64),
    };
    type P = typeof params;
    const f = (p: P) => {
      const h = tanh(conv2d(x, p.conv));             // [2, 2, 2, 2]
      const z = reshape(avgPool2d(sigmoid(h), 1), [2, 8]);
      const a = layerNorm(matmul(z, p.w), p.g, p.b); // [2, 3]
      const q = div(softplus(a), add(exp(mul(a, 0.3)), 1));
      return sum(logsumexp(q, 1));
    };
    const v = { conv: rng.normal([2, 1, 3, 3], f64), w: rng.normal([8, 3], f64), g: rng.normal([3], f64), b: rng.normal([3], f64) };
    const hv = flat(hvp(f, params, v));
    const h = 1e-5;
    const shift = (s: number) => treeUnflatten(params, treeLeaves(params).map((l, i) => T.axpby(s, treeLeaves(v)[i], 1, l)));
    const fd = T.mul(T.sub(flat(grad(f)(shift(h))), flat(grad(f)(shift(-h)))), 1 / (2 * h));
    assert.ok(relErr(hv, fd) < 1e-7, `hvp vs FD ${relErr(hv, fd)}`);
    // dense Hessian of the flattened function
    const x0 = flat(params);
    const H = hessian((z: Tensor) => f(unflat(params, z)), x0);
    const hvDense = matmulC(H, flat(v));
    assert.ok(relErr(hv, hvDense) < 1e-10, `hvp vs dense Hessian ${relErr(hv, hvDense)}`);
    assertSymmetricPsdOrSymmetric(H);
  });
});

function assertSymmetricPsdOrSymmetric(H: Tensor): void {
  const n = H.shape[0];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(H.data[i * n + j] - H.data[j * n + i]) < 1e-9);
}

describe('Gauss-Newton and Fisher products', () => {
  const x = rng.normal([5, 3], f64);
  it('ggnvp equals hvp for a linear model with squared loss', () => {
    const model = new Linear(3, 2);
    const params = model.init(rng, f64);
    const loss = mse();
    const batch: Batch = { x, y: rng.normal([5, 2], f64) };
    const v = { weight: rng.normal([2, 3], f64), bias: rng.normal([2], f64) };
    const g = ggnvp(model, loss, params, batch, v);
    const h = hvp((p: typeof params) => loss.value(model.apply(p, x), batch.y), params, v);
    assert.ok(relErr(flat(g), flat(h)) < 1e-12);
  });

  const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 3)]);
  const params = net.init(new Rng(5), f64);
  const losses: [string, Loss, Tensor][] = [
    ['mse', mse(), rng.normal([5, 3], f64)],
    ['softmax cross-entropy', softmaxCrossEntropy(), new Tensor(Float64Array.from([0, 2, 1, 1, 0]), [5])],
    ['sigmoid BCE', sigmoidBinaryCrossEntropy(), rng.uniform([5, 3], f64)],
  ];
  for (const [name, loss, y] of losses) {
    it(`${name}: GGN and Fisher are symmetric PSD; empirical Fisher = mean of per-example gradient outer products`, () => {
      const batch = { x, y };
      const G = materialize(params, (v) => ggnvp(net, loss, params, batch, v));
      assertSymmetricPsd(G, 'GGN');
      const Fe = materialize(params, (v) => fisherVp(net, loss, params, batch, v, { kind: 'empirical' }));
      assertSymmetricPsd(Fe, 'empirical Fisher');
      const Ft = materialize(params, (v) => fisherVp(net, loss, params, batch, v, { kind: 'true', rng: new Rng(3) }));
      assertSymmetricPsd(Ft, 'true Fisher');
      // oracle: per-example gradients (N backward passes) and their outer products
      const pg = perExampleGrads(net, loss, params, batch);
      const n = 5;
      const rows = Array.from({ length: n }, (_, i) => flat(treeUnflatten(pg, treeLeaves(pg).map((l) => new Tensor(l.data.slice(i * (l.size / n), (i + 1) * (l.size / n)), l.shape.slice(1))))).toFlatArray());
      const w = loss.batchWeight(n);
      const m = rows[0].length;
      for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
        const ref = w * rows.reduce((s, r) => s + r[a] * r[b], 0);
        assert.ok(Math.abs(Fe[a][b] - ref) <= 1e-10 * (1 + Math.abs(ref)), `F[${a}][${b}] ${Fe[a][b]} vs ${ref}`);
      }
      // per-example gradients sum (with the batch weight) to the batch gradient
      const gBatch = flat(grad((p: typeof params) => loss.value(net.apply(p, x), y))(params)).toFlatArray();
      for (let a = 0; a < m; a++) assert.ok(Math.abs(w * rows.reduce((s, r) => s + r[a], 0) - gBatch[a]) < 1e-10);
    });
  }

  it('the true Fisher averages to the GGN over sampled targets (softmax cross-entropy)', () => {
    const loss = softmaxCrossEntropy();
    const batch = { x, y: new Tensor(Float64Array.from([0, 2, 1, 1, 0]), [5]) };
    const v = treeUnflatten(params, treeLeaves(params).map((l) => rng.normal(l.shape.slice(), f64)));
    const g = flat(ggnvp(net, loss, params, batch, v));
    const sampler = new Rng(11);
    let acc = zeros(g.shape, f64);
    const S = 3000;
    for (let s = 0; s < S; s++) acc = T.add(acc, flat(fisherVp(net, loss, params, batch, v, { rng: sampler })));
    const avg = T.mul(acc, 1 / S);
    assert.ok(relErr(avg, g) < 0.06, `Monte-Carlo Fisher vs GGN relative error ${relErr(avg, g)}`);
  });

  it('rejects a direction whose shapes differ from the parameters', () => {
    const loss = mse();
    const bad = treeUnflatten(params, treeLeaves(params).map((l, i) => (i === 0 ? zeros([1], f64) : l)));
    assert.throws(() => ggnvp(net, loss, params, { x, y: rng.normal([5, 3], f64) }, bad), /ggnvp: v tensor 0 is Tensor\(float64, \[1\]\), expected/);
  });
});

describe('operators built once at a point (linearized)', () => {
  const x = rng.normal([6, 3], f64);
  const net = new Sequential([new Linear(3, 5), new Tanh(), new Linear(5, 4)]);
  const params = net.init(new Rng(8), f64);
  type P = typeof params;
  const f = (p: P) => net.apply(p, x);
  const dir = () => treeUnflatten(params, treeLeaves(params).map((l) => rng.normal(l.shape.slice(), f64)));
  // The two-mode oracle: J v by forward mode, J^T u by reverse mode with its own forward pass.
  const jOf = (v: P) => jvp(f, [params], [v])[1];
  const jtOf = (u: Tensor) => vjp(f, params)[1](u)[0];
  const losses: [string, Loss, Tensor][] = [
    ['mse', mse(), rng.normal([6, 4], f64)],
    ['softmax cross-entropy', softmaxCrossEntropy(), new Tensor(Float64Array.from([0, 3, 1, 2, 0, 1]), [6])],
    ['sigmoid BCE', sigmoidBinaryCrossEntropy(), rng.uniform([6, 4], f64)],
  ];
  for (const [name, loss, y] of losses) {
    it(`${name}: every apply of ggnOperatorFn equals J^T H_L J v from jvp and vjp to 1e-12`, () => {
      const op = ggnOperatorFn(net, loss, params, { x, y });
      const z = f(params);
      for (let k = 0; k < 3; k++) {
        const v = dir();
        const ref = jtOf(loss.outputHvp(z, y, jOf(v)));
        assert.ok(relErr(flat(op.apply(v)), flat(ref)) < 1e-12, `apply ${k}: ${relErr(flat(op.apply(v)), flat(ref))}`);
      }
      op.dispose();
    });
    it(`${name}: every apply of fisherOperatorFn (empirical and sampled) equals J^T (w r (r · J v)) from jvp and vjp to 1e-12`, () => {
      const z = f(params);
      for (const kind of ['empirical', 'true'] as const) {
        const op = fisherOperatorFn(net, loss, params, { x, y }, { kind, rng: new Rng(21) });
        const targets = kind === 'empirical' ? y : loss.sampleTargets(z, new Rng(21));
        const r = grad((zz: Tensor) => sum(loss.perExample(zz, targets)))(z);
        for (let k = 0; k < 2; k++) {
          const v = dir();
          const s = T.sum(T.mul(r, jOf(v)), [1], true);
          const ref = jtOf(T.mul(T.mul(r, s), loss.batchWeight(6)));
          assert.ok(relErr(flat(op.apply(v)), flat(ref)) < 1e-12, `${kind} apply ${k}`);
        }
        op.dispose();
      }
    });
  }

  it('an operator rejects a direction of the wrong shape and any use after dispose', () => {
    const op = ggnOperatorFn(net, mse(), params, { x, y: rng.normal([6, 4], f64) });
    const bad = treeUnflatten(params, treeLeaves(params).map((l, i) => (i === 1 ? zeros([2], f64) : l)));
    assert.throws(() => op.apply(bad), /ggnOperatorFn: v tensor 1 is Tensor\(float64, \[2\]\), expected/);
    op.dispose();
    assert.ok(op.disposed);
    assert.throws(() => op.apply(dir()), /ggnOperatorFn: apply on a disposed operator/);
    assert.throws(() => op.dispose(), /already disposed/);
    assert.throws(() => fisherOperatorFn(net, mse(), params, { x, y: rng.normal([6, 4], f64) }, { kind: 'sampled' as 'true' }), /kind must be 'true' or 'empirical'/);
  });
});

describe('taps', () => {
  it('dense taps reproduce the weight gradient: g^T a = dW, and g sums to db', () => {
    const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 2)]);
    const params = net.init(new Rng(1), f64);
    const x = rng.normal([6, 3], f64);
    const y = rng.normal([6, 2], f64);
    const taps = new TapRecorder();
    const [, g] = valueAndGrad((p: typeof params) => mse().value(net.apply(p, x, { taps }), y))(params) as [Tensor, typeof params];
    assert.deepEqual(taps.taps.map((t) => t.scope), ['0', '2']);
    for (const [i, tap] of taps.taps.entries()) {
      const gOut = tap.output.grad as Tensor;
      const dW = matmulC(gOut, tap.a, { transposeA: true });
      const layerGrad = (g as unknown as { weight: Tensor; bias: Tensor }[])[i === 0 ? 0 : 2];
      assert.ok(relErr(dW, layerGrad.weight) < 1e-12);
      assert.ok(relErr(T.sum(gOut, 0), layerGrad.bias) < 1e-12);
    }
  });

  it('conv taps reproduce the filter gradient', () => {
    const net = new Sequential([new Conv2d(2, 3, 3, { padding: 1, stride: 2 }), new Tanh(), new Flatten(), new Linear(12, 2)]);
    const params = net.init(new Rng(2), f64);
    const x = rng.normal([2, 2, 4, 4], f64);
    const taps = new TapRecorder();
    const [, g] = valueAndGrad((p: typeof params) => mean(square(net.apply(p, x, { taps }))))(params) as [Tensor, typeof params];
    const tap = taps.get('0');
    assert.ok(tap !== undefined && tap.kind === 'conv2d');
    const dW = conv2dBackwardFilter(tap.a, tap.output.grad as Tensor, [3, 2, 3, 3], { padding: 1, stride: 2 });
    assert.ok(relErr(dW, (g[0] as { weight: Tensor }).weight) < 1e-12);
  });
});

describe('modules', () => {
  it('LayerNorm module normalizes the last axis', () => {
    const ln = new LayerNorm(4);
    const p = ln.init(rng, f64);
    const y = ln.apply(p, rng.normal([3, 4], { ...f64, mean: 5, std: 3 }));
    const m = T.mean(y, 1).toFlatArray();
    m.forEach((v) => assert.ok(Math.abs(v) < 1e-12));
  });
});

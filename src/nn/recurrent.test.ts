import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { add, mul, slice, sum } from '../autodiff/ops.js';
import { grad } from '../autodiff/vjp.js';
import { jvp } from '../autodiff/jvp.js';
import { hvp } from '../autodiff/compose.js';
import { linearize } from '../autodiff/linearize.js';
import { treeAxpby } from '../autodiff/tree-math.js';
import { treeLeaves } from '../autodiff/pytree.js';
import { assertClose } from '../testing/helpers.js';
import { GRU, LSTM, RNN, type RecurrentParams } from './recurrent.js';

const f64 = { dtype: 'float64' as const };
const N = 2;
const F = 3;
const H = 4;
const STEPS = 30;

function makeLayers() {
  return [new RNN(F, H), new RNN(F, H, { nonlinearity: 'relu' }), new LSTM(F, H), new GRU(F, H)];
}

/** Variable lengths: sequence 0 runs all steps, sequence 1 stops after 21 (then padding). */
function lengthMask(steps: number, lengths: number[]): Tensor {
  const d = new Float64Array(lengths.length * steps);
  lengths.forEach((len, i) => { for (let t = 0; t < len; t++) d[i * steps + t] = 1; });
  return new Tensor(d, [lengths.length, steps]);
}

function flat(tree: object): number[] {
  return treeLeaves(tree as RecurrentParams).flatMap((l) => Array.from(l.data));
}

function randomLike(p: RecurrentParams, rng: Rng): RecurrentParams {
  const out: RecurrentParams = { ...p };
  for (const k of Object.keys(p)) if (p[k] !== undefined) out[k] = rng.normal((p[k] as Tensor).shape, f64);
  return out;
}

describe('recurrent layers through 30 steps with masks (float64 finite differences)', () => {
  const rng = new Rng(11);
  const x = rng.normal([N, STEPS, F], { ...f64, std: 0.8 });
  const h0 = rng.normal([N, H], { ...f64, std: 0.5 });
  const mask = lengthMask(STEPS, [STEPS, 21]);
  const wOut = rng.normal([N, STEPS, H], f64);
  const wLast = rng.normal([N, H], f64);

  for (const layer of makeLayers()) {
    const name = layer.toString();
    const params = layer.init(new Rng(3), f64);
    // A scalar reading every output and the last state: all of the forward pass is checked.
    const outputsOf = (p: RecurrentParams) => {
      const r = layer.forward(p, x, { h0, mask, c0: layer instanceof LSTM ? h0 : undefined });
      return r.c === undefined ? mul(r.output, wOut) : add(mul(r.output, wOut), sum(mul(r.c, wLast)));
    };
    const f = (p: RecurrentParams) => {
      const r = layer.forward(p, x, { h0, mask, c0: layer instanceof LSTM ? h0 : undefined });
      let s = add(sum(mul(r.output, wOut)), sum(mul(r.h, wLast)));
      if (r.c !== undefined) s = add(s, sum(mul(mul(r.c, r.c), wLast)));
      return s;
    };
    const fd = (g: (p: RecurrentParams) => number[], v: RecurrentParams, eps = 1e-5) => {
      const a = g(treeAxpby(1, params, eps, v));
      const b = g(treeAxpby(1, params, -eps, v));
      return a.map((ai, i) => (ai - b[i]) / (2 * eps));
    };
    const dirs = [0, 1, 2].map((k) => randomLike(params, new Rng(100 + k)));

    it(`${name}: the gradient matches central differences along random directions`, () => {
      const g = grad(f)(params);
      for (const v of dirs) {
        const analytic = flat(g).reduce((s, gi, i) => s + gi * flat(v)[i], 0);
        const [numeric] = fd((p) => [f(p).item()], v);
        assertClose([analytic], [numeric], { rtol: 1e-6, atol: 1e-7, msg: name });
      }
    });

    it(`${name}: jvp of all outputs matches central differences`, () => {
      for (const v of dirs.slice(0, 2)) {
        const [, tangent] = jvp(outputsOf, [params], [v]);
        assertClose(tangent.toFlatArray(), fd((p) => outputsOf(p).toFlatArray(), v), { rtol: 1e-6, atol: 1e-7, msg: name });
      }
    });

    it(`${name}: hvp matches central differences of the gradient`, () => {
      const v = dirs[0];
      const hv = hvp(f, params, v);
      const numeric = fd((p) => flat(grad(f)(p)), v);
      assertClose(flat(hv), numeric, { rtol: 1e-5, atol: 1e-6, msg: name });
    });

    it(`${name}: linearize gives the jvp`, () => {
      const [, lin] = linearize(outputsOf, params);
      const [, tangent] = jvp(outputsOf, [params], [dirs[1]]);
      assertClose(lin(dirs[1]).toFlatArray(), tangent.toFlatArray(), { rtol: 1e-10, atol: 1e-12, msg: name });
      lin.dispose();
    });
  }
});

const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** W v + b for row-major W `[rows, cols]`, rows [r0, r0 + H). */
function affine(w: Tensor, v: ArrayLike<number>, b: Tensor | undefined, r0: number, rows: number): number[] {
  const cols = w.shape[1];
  return Array.from({ length: rows }, (_, r) => {
    let s = b === undefined ? 0 : b.data[r0 + r];
    for (let c = 0; c < cols; c++) s += w.data[(r0 + r) * cols + c] * v[c];
    return s;
  });
}

describe('one step of each layer equals the hand-written cell equations (PyTorch gate order)', () => {
  const rng = new Rng(5);
  const x = rng.normal([1, 1, F], f64);
  const h0 = rng.normal([1, H], f64);
  const c0 = rng.normal([1, H], f64);
  const xs = Array.from(x.data);
  const hs = Array.from(h0.data);
  const gate = (p: RecurrentParams, k: number) => {
    const a = affine(p.weight_ih, xs, p.bias_ih, k * H, H);
    const b = affine(p.weight_hh, hs, p.bias_hh, k * H, H);
    return { a, b, sum: a.map((v, i) => v + b[i]) };
  };

  it('RNN: h = tanh(W_ih x + b_ih + W_hh h + b_hh), and relu', () => {
    for (const nl of ['tanh', 'relu'] as const) {
      const layer = new RNN(F, H, { nonlinearity: nl });
      const p = layer.init(new Rng(1), f64);
      const expected = gate(p, 0).sum.map((v) => (nl === 'tanh' ? Math.tanh(v) : Math.max(0, v)));
      const r = layer.forward(p, x, { h0 });
      assertClose(r.h.toFlatArray(), expected, { rtol: 1e-12, atol: 1e-14 });
      assertClose(r.output.toFlatArray(), expected, { rtol: 1e-12, atol: 1e-14 });
    }
  });

  it('LSTM: gates i, f, g, o; c = f c0 + i g; h = o tanh(c)', () => {
    const layer = new LSTM(F, H);
    const p = layer.init(new Rng(2), f64);
    const [i, f, g, o] = [0, 1, 2, 3].map((k) => gate(p, k).sum);
    const c = i.map((_, j) => sig(f[j]) * c0.data[j] + sig(i[j]) * Math.tanh(g[j]));
    const h = c.map((cj, j) => sig(o[j]) * Math.tanh(cj));
    const r = layer.forward(p, x, { h0, c0 });
    assertClose((r.c as Tensor).toFlatArray(), c, { rtol: 1e-12, atol: 1e-14 });
    assertClose(r.h.toFlatArray(), h, { rtol: 1e-12, atol: 1e-14 });
  });

  it('GRU: gates r, z, n with r applied to W_hn h + b_hn; h = (1 - z) n + z h0', () => {
    const layer = new GRU(F, H);
    const p = layer.init(new Rng(3), f64);
    const r = gate(p, 0).sum.map(sig);
    const z = gate(p, 1).sum.map(sig);
    const { a, b } = gate(p, 2);
    const n = a.map((aj, j) => Math.tanh(aj + r[j] * b[j]));
    const h = n.map((nj, j) => (1 - z[j]) * nj + z[j] * hs[j]);
    assertClose(layer.forward(p, x, { h0 }).h.toFlatArray(), h, { rtol: 1e-12, atol: 1e-14 });
  });
});

describe('masks and truncation', () => {
  it('a masked tail holds the state and zeroes the outputs: the last state is the unpadded sequence\'s', () => {
    for (const layer of makeLayers()) {
      const p = layer.init(new Rng(4), f64);
      const x = new Rng(6).normal([2, 12, F], f64);
      const r = layer.forward(p, x, { mask: lengthMask(12, [12, 7]) });
      const short = layer.forward(p, slice(x, [1, 0, 0], [2, 7, F]));
      assertClose(slice(r.h, [1, 0], [2, H]).toFlatArray(), short.h.toFlatArray(), { rtol: 1e-12, atol: 1e-14, msg: layer.toString() });
      if (r.c !== undefined) assertClose(slice(r.c, [1, 0], [2, H]).toFlatArray(), (short.c as Tensor).toFlatArray(), { rtol: 1e-12, atol: 1e-14 });
      assert.ok(slice(r.output, [1, 7, 0], [2, 12, H]).toFlatArray().every((v) => v === 0), `${layer.toString()}: padded outputs are zero`);
      // The full-length sequence is unaffected by the other's mask.
      const full = layer.forward(p, slice(x, [0, 0, 0], [1, 12, F]));
      assertClose(slice(r.h, [0, 0], [1, H]).toFlatArray(), full.h.toFlatArray(), { rtol: 1e-12, atol: 1e-14 });
    }
  });

  it('truncate: k cuts gradient flow: the last output has zero gradient w.r.t. inputs more than k steps back', () => {
    const steps = 20;
    const k = 6;
    for (const make of [(o: { truncate?: number }) => new RNN(F, H, o), (o: { truncate?: number }) => new LSTM(F, H, o), (o: { truncate?: number }) => new GRU(F, H, o)]) {
      const layer = make({ truncate: k });
      const full = make({});
      const p = layer.init(new Rng(8), f64);
      const x0 = new Rng(9).normal([N, steps, F], f64);
      const lastOf = (l: RNN | LSTM | GRU) => (x: Tensor) => sum(l.forward(p, x).h);
      const gx = grad(lastOf(layer))(x0);
      const gFull = grad(lastOf(full))(x0);
      // The state entering step 18 (a multiple of 6) is cut: steps 18 and 19 alone get gradient.
      const boundary = Math.floor((steps - 1) / k) * k;
      for (let t = 0; t < steps; t++) {
        const gt = slice(gx, [0, t, 0], [N, t + 1, F]).toFlatArray();
        const ft = slice(gFull, [0, t, 0], [N, t + 1, F]).toFlatArray();
        if (t < boundary) assert.ok(gt.every((v) => v === 0), `${layer.toString()}: step ${t} must get no gradient`);
        else assertClose(gt, ft, { rtol: 1e-12, atol: 1e-14, msg: `${layer.toString()} step ${t}` });
        if (t < steps - k) assert.ok(gt.every((v) => v === 0));
      }
      assert.ok(slice(gFull, [0, 0, 0], [N, 1, F]).toFlatArray().some((v) => v !== 0), 'untruncated: the first step gets gradient');
      // The forward pass is the same with or without truncation.
      assertClose(layer.forward(p, x0).h.toFlatArray(), full.forward(p, x0).h.toFlatArray(), { rtol: 0, atol: 0 });
    }
  });
});

describe('recurrent layers: initialization and bad input', () => {
  it('parameters are U(-1/sqrt(H), 1/sqrt(H)) with PyTorch shapes, and the same seed gives the same values', () => {
    const layer = new LSTM(5, 16);
    const p = layer.init(new Rng(1), f64);
    assert.deepEqual(p.weight_ih.shape, [64, 5]);
    assert.deepEqual(p.weight_hh.shape, [64, 16]);
    assert.deepEqual((p.bias_ih as Tensor).shape, [64]);
    const all = flat(p);
    assert.ok(all.every((v) => Math.abs(v) <= 0.25));
    assert.ok(Math.max(...all.map(Math.abs)) > 0.24, 'the bounds are reached, not a narrower range');
    assert.deepEqual(flat(layer.init(new Rng(1), f64)), all);
    assert.deepEqual(Object.keys(new GRU(2, 3, { bias: false }).init(new Rng(0))), ['weight_ih', 'weight_hh']);
  });

  it('wrong rank, feature size, state shape, T = 0 and masks of the wrong shape get errors naming the layer and shapes', () => {
    const layer = new LSTM(3, 4);
    const p = layer.init(new Rng(0), f64);
    const x = new Rng(0).normal([2, 5, 3], f64);
    assert.throws(() => layer.forward(p, new Rng(0).normal([2, 3], f64)), /LSTM\(3 -> 4\): input has shape \[2, 3\], expected \[N, T, 3\]/);
    assert.throws(() => layer.forward(p, new Rng(0).normal([2, 5, 2], f64)), /LSTM\(3 -> 4\): input has shape \[2, 5, 2\], expected \[N, T, 3\]/);
    assert.throws(() => layer.forward(p, new Tensor(new Float64Array(0), [2, 0, 3])), /LSTM\(3 -> 4\): input has shape \[2, 0, 3\].*T = 0/);
    assert.throws(() => layer.forward(p, x, { h0: new Rng(0).normal([2, 5], f64) }), /LSTM\(3 -> 4\): initial state h0 has shape \[2, 5\], expected \[2, 4\]/);
    assert.throws(() => layer.forward(p, x, { c0: new Rng(0).normal([4], f64) }), /cell state c0 has shape \[4\], expected \[2, 4\]/);
    assert.throws(() => layer.forward(p, x, { mask: lengthMask(4, [4, 2]) }), /LSTM\(3 -> 4\): mask has shape \[2, 4\], expected \[2, 5\] for input \[2, 5, 3\]/);
    assert.throws(() => layer.forward(p, x, { mask: new Tensor(new Float64Array(10).fill(0.5), [2, 5]) }), /mask entries must be 0 or 1/);
    assert.throws(() => new RNN(3, 4).forward(new RNN(3, 4).init(new Rng(0), f64), x, { c0: x }), /c0/);
    assert.throws(() => layer.forward(new GRU(3, 4).init(new Rng(0), f64), x), /LSTM\(3 -> 4\): parameter 'weight_ih' has shape \[12, 3\], expected \[16, 3\]/);
    assert.throws(() => new RNN(3, 4, { nonlinearity: 'sigmoid' as never }), /nonlinearity must be 'tanh' or 'relu'/);
    assert.throws(() => new GRU(3, 0), /GRU: hiddenSize must be a positive integer/);
    assert.throws(() => new GRU(3, 2, { truncate: 0 }), /GRU: truncate must be a positive integer/);
  });
});

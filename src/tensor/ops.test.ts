import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, zeros, type Tensor } from './tensor.js';
import { randn } from './random.js';
import {
  add, argmax, argmin, broadcastShapes, clip, div, exp, log, logSoftmax, logsumexp, max, maximum, mean, min, mul, pow, sigmoid,
  softmax, softplus, sub, sum, tanh, equal, greater, erf, vdot, axpby,
} from './ops.js';
import { broadcastTo, concat, expandDims, gather, oneHot, reshape, slice, squeeze, stack, takeAlongAxis, transpose, where } from './shape-ops.js';
import { assertClose } from '../testing/helpers.js';

function at(t: Tensor, idx: number[]): number {
  let off = 0;
  let stride = 1;
  for (let d = t.ndim - 1; d >= 0; d--) {
    off += idx[d] * stride;
    stride *= t.shape[d];
  }
  return t.data[off];
}

function forEachIndex(shape: readonly number[], f: (idx: number[]) => void): void {
  const total = shape.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    const idx: number[] = [];
    let r = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r = Math.floor(r / shape[d]);
    }
    f(idx);
  }
}

describe('elementwise ops', () => {
  it('broadcast like NumPy against a naive index computation', () => {
    const cases: [number[], number[]][] = [[[3, 1, 4], [2, 1]], [[1], [5]], [[2, 3], [3]], [[4, 1, 1, 3], [5, 1]], [[], [2, 2]], [[0, 3], [1, 3]]];
    for (const [sa, sb] of cases) {
      const a = randn(sa, { seed: 1, dtype: 'float64' });
      const b = randn(sb, { seed: 2, dtype: 'float64' });
      const out = sub(a, b);
      const shape = broadcastShapes('test', sa, sb);
      assert.deepEqual(out.shape, shape);
      forEachIndex(shape, (idx) => {
        const ia = idx.slice(idx.length - sa.length).map((v, i) => (sa[i] === 1 ? 0 : v));
        const ib = idx.slice(idx.length - sb.length).map((v, i) => (sb[i] === 1 ? 0 : v));
        assert.equal(at(out, idx), at(a, ia) - at(b, ib));
      });
    }
  });

  it('mixes tensors and numbers; rejects incompatible shapes and mixed dtypes with the op named', () => {
    assert.deepEqual(add(tensor([1, 2]), 1).toFlatArray(), [2, 3]);
    assert.deepEqual(div(1, tensor([2, 4])).toFlatArray(), [0.5, 0.25]);
    assert.deepEqual(pow(tensor([2, 3]), 2).toFlatArray(), [4, 9]);
    assert.throws(() => add(zeros([2, 3]), zeros([3, 2])), /add: shapes \[2, 3\] and \[3, 2\] do not broadcast/);
    assert.throws(() => mul(zeros([2]), zeros([2], { dtype: 'float64' })), /mul: dtype mismatch/);
    assert.throws(() => add('x' as never, zeros([1])), /add: first operand must be a Tensor or a number/);
  });

  it('unary functions are accurate and stable at the extremes', () => {
    const x = tensor([-800, -30, -1, 0, 1, 30, 800], undefined, { dtype: 'float64' });
    const s = sigmoid(x).toFlatArray();
    assert.ok(s.every(Number.isFinite));
    assert.equal(s[0], 0);
    assert.equal(s[6], 1);
    const sp = softplus(x).toFlatArray();
    assert.equal(sp[6], 800);
    assertClose([sp[3]], [Math.log(2)], { rtol: 1e-15 });
    assertClose(tanh(tensor([0.5], undefined, { dtype: 'float64' })).toFlatArray(), [Math.tanh(0.5)], { rtol: 1e-15 });
    assertClose(erf(tensor([0.1, 1, 2, 3, -0.5], undefined, { dtype: 'float64' })).toFlatArray(),
      [0.1124629160182849, 0.8427007929497149, 0.9953222650189527, 0.9999779095030014, -0.5204998778130465], { rtol: 1e-14 });
    assert.deepEqual(greater(tensor([1, 2, 3]), 2).toFlatArray(), [0, 0, 1]);
    assert.deepEqual(equal(tensor([1, 2]), tensor([1, 3])).toFlatArray(), [1, 0]);
    assert.deepEqual(clip(tensor([-2, 0.5, 7]), 0, 1).toFlatArray(), [0, 0.5, 1]);
    assert.ok(Number.isNaN(maximum(tensor([NaN]), 1).item()));
    assertClose(log(exp(tensor([0.3, -2], undefined, { dtype: 'float64' }))).toFlatArray(), [0.3, -2], { rtol: 1e-15 });
  });

  it('vdot and axpby', () => {
    const x = tensor([1, 2, 3], undefined, { dtype: 'float64' });
    const y = tensor([4, 5, 6], undefined, { dtype: 'float64' });
    assert.equal(vdot(x, y), 32);
    assert.deepEqual(axpby(2, x, -1, y).toFlatArray(), [-2, -1, 0]);
    assert.throws(() => vdot(x, zeros([2], { dtype: 'float64' })), /vdot: shapes \[3\] and \[2\] differ/);
  });
});

describe('reductions', () => {
  const x = randn([3, 4, 5], { seed: 7, dtype: 'float64' });
  const naive = (axes: number[], f: (vals: number[]) => number) => {
    const keptShape = x.shape.filter((_, i) => !axes.includes(i));
    const out: number[] = [];
    forEachIndex(keptShape, (kidx) => {
      const vals: number[] = [];
      forEachIndex(x.shape, (idx) => {
        const k = idx.filter((_, i) => !axes.includes(i));
        if (k.every((v, i) => v === kidx[i])) vals.push(at(x, idx));
      });
      out.push(f(vals));
    });
    return out;
  };
  const fsum = (v: number[]) => v.reduce((a, b) => a + b, 0);

  it('sum, mean, max, min, logsumexp over single, multiple, non-adjacent and all axes', () => {
    for (const axes of [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]]) {
      assertClose(sum(x, axes).toFlatArray(), naive(axes, fsum), { rtol: 1e-12 });
      assertClose(mean(x, axes).toFlatArray(), naive(axes, (v) => fsum(v) / v.length), { rtol: 1e-12 });
      assertClose(max(x, axes).toFlatArray(), naive(axes, (v) => Math.max(...v)), { rtol: 0 });
      assertClose(min(x, axes).toFlatArray(), naive(axes, (v) => Math.min(...v)), { rtol: 0 });
      assertClose(logsumexp(x, axes).toFlatArray(), naive(axes, (v) => Math.log(fsum(v.map(Math.exp)))), { rtol: 1e-12 });
    }
    assert.deepEqual(sum(x, -1, true).shape, [3, 4, 1]);
    assert.deepEqual(sum(x).shape, []);
    assert.throws(() => sum(x, 3), /sum: axis 3 is out of range/);
    assert.throws(() => max(zeros([2, 0]), 1), /cannot reduce over an empty axis/);
    assert.equal(sum(zeros([0])).item(), 0);
  });

  it('argmax / argmin return first indices on ties', () => {
    const t = tensor([[1, 3, 3], [2, 0, 0]]);
    assert.deepEqual(argmax(t, 1).toFlatArray(), [1, 0]);
    assert.deepEqual(argmin(t, 1).toFlatArray(), [0, 1]);
    assert.equal(argmax(t).item(), 1);
  });

  it('logsumexp and softmax stay finite for large inputs', () => {
    const t = tensor([[1000, 1000], [-1000, 0]], undefined, { dtype: 'float64' });
    assertClose(logsumexp(t, 1).toFlatArray(), [1000 + Math.log(2), 0], { rtol: 1e-15 });
    assertClose(softmax(t).toFlatArray(), [0.5, 0.5, 0, 1], { atol: 1e-300 });
    const ls = logSoftmax(t).toFlatArray();
    assertClose(ls, [-Math.log(2), -Math.log(2), -1000, 0], { rtol: 1e-15 });
    const s = softmax(x, 1);
    assertClose(sum(s, 1).toFlatArray(), new Array(15).fill(1), { rtol: 1e-14 });
  });
});

describe('shape ops', () => {
  const x = randn([2, 3, 4], { seed: 3, dtype: 'float64' });

  it('reshape is a view; transpose permutes like the index oracle', () => {
    const r = reshape(x, [6, -1]);
    assert.deepEqual(r.shape, [6, 4]);
    assert.equal(r.data, x.data);
    assert.throws(() => reshape(x, [5, -1]), /cannot reshape \[2, 3, 4\]/);
    const t = transpose(x, [2, 0, 1]);
    assert.deepEqual(t.shape, [4, 2, 3]);
    forEachIndex(t.shape, ([i, j, k]) => assert.equal(at(t, [i, j, k]), at(x, [j, k, i])));
    assert.deepEqual(transpose(tensor([[1, 2], [3, 4]])).toArray(), [[1, 3], [2, 4]]);
    assert.throws(() => transpose(x, [0, 0, 1]), /not a permutation/);
    assert.deepEqual(squeeze(expandDims(x, 1)).shape, [2, 3, 4]);
  });

  it('slice with negative bounds and steps, concat, stack', () => {
    const s = slice(x, [1, -2], [2, 3], [1, 1, 2]);
    assert.deepEqual(s.shape, [1, 2, 2]);
    forEachIndex(s.shape, ([i, j, k]) => assert.equal(at(s, [i, j, k]), at(x, [1 + i, 1 + j, 2 * k])));
    const c = concat([x, x], 1);
    assert.deepEqual(c.shape, [2, 6, 4]);
    forEachIndex(c.shape, ([i, j, k]) => assert.equal(at(c, [i, j, k]), at(x, [i, j % 3, k])));
    assert.deepEqual(stack([x, x], 3).shape, [2, 3, 4, 2]);
    assert.throws(() => concat([x, zeros([2, 3, 5], { dtype: 'float64' })], 1), /does not match/);
  });

  it('gather, takeAlongAxis, oneHot, broadcastTo, where', () => {
    const g = gather(x, [2, 0, -1], 1);
    assert.deepEqual(g.shape, [2, 3, 4]);
    forEachIndex(g.shape, ([i, j, k]) => assert.equal(at(g, [i, j, k]), at(x, [i, [2, 0, 2][j], k])));
    assert.throws(() => gather(x, [3], 1), /index 3 at position 0 is out of range/);
    const m = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(takeAlongAxis(m, [2, 0], 1).toFlatArray(), [3, 4]);
    assert.deepEqual(oneHot([0, 2], 3).toArray(), [[1, 0, 0], [0, 0, 1]]);
    assert.throws(() => oneHot([3], 3), /out of range/);
    assert.deepEqual(broadcastTo(tensor([1, 2]), [2, 2]).toArray(), [[1, 2], [1, 2]]);
    assert.deepEqual(where(tensor([1, 0]), tensor([5, 5]), tensor([7, 7])).toFlatArray(), [5, 7]);
  });
});

describe('number-only operands', () => {
  it('two numbers give a float32 0-d tensor on every backend', () => {
    const t = add(2, 3);
    assert.deepEqual(t.shape, []);
    assert.equal(t.dtype, 'float32');
    assert.equal(t.item(), 5);
  });
});

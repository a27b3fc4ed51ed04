import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, arange, eye, full, linspace, ones, tensor, zeros } from './tensor.js';
import { Rng, bernoulli, manualSeed, rademacher, rand, randn } from './random.js';
import { availableBackends, withBackend } from '../kernels/index.js';

describe('tensor creation', () => {
  it('infers shapes from nested arrays and reads flat arrays with a shape', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
    const f = tensor([1, 2, 3, 4, 5, 6], [3, 2], { dtype: 'float64' });
    assert.equal(f.dtype, 'float64');
    assert.ok(f.data instanceof Float64Array);
    assert.deepEqual(f.toArray(), [[1, 2], [3, 4], [5, 6]]);
    assert.deepEqual(tensor(7).shape, []);
    assert.equal(tensor(7).toArray(), 7);
    assert.equal(tensor(new Float64Array([1, 2])).dtype, 'float64');
    assert.deepEqual(tensor([]).shape, [0]);
  });

  it('rejects ragged arrays, wrong sizes and bad dtypes with messages naming the problem', () => {
    assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
    assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
    assert.throws(() => tensor([1, 2], undefined, { dtype: 'int32' as never }), /dtype must be 'float32' or 'float64'/);
    assert.throws(() => tensor('abc' as never), /expected a number, an array or a typed array/);
    assert.throws(() => zeros([2, -1]), /non-negative integers/);
    assert.throws(() => tensor([1, 'a' as never]), /element \[1\] is 'a', expected a number/);
  });

  it('zeros, ones, full, arange, linspace, eye', () => {
    assert.deepEqual(zeros([2, 2]).toFlatArray(), [0, 0, 0, 0]);
    assert.deepEqual(ones([3]).toFlatArray(), [1, 1, 1]);
    assert.deepEqual(full([2], 2.5, { dtype: 'float64' }).toFlatArray(), [2.5, 2.5]);
    assert.deepEqual(arange(4).toFlatArray(), [0, 1, 2, 3]);
    assert.deepEqual(arange(1, 2, 0.25).toFlatArray(), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(arange(3, 0, -1).toFlatArray(), [3, 2, 1]);
    assert.deepEqual(linspace(0, 1, 3).toFlatArray(), [0, 0.5, 1]);
    assert.deepEqual(eye(2, 3).toArray(), [[1, 0, 0], [0, 1, 0]]);
    assert.throws(() => arange(0, 1, 0), /step must not be 0/);
    assert.equal(zeros([0, 3]).size, 0);
  });

  it('a size the runtime cannot hold is an error naming the op, the shape and the size', () => {
    assert.throws(() => zeros([1e6, 1e6]), /^RangeError: zeros: cannot allocate a float32 tensor of shape \[1000000, 1000000\]: 1000000000000 elements/);
    assert.throws(() => full([1e6, 1e6], 1, { dtype: 'float64' }), /^RangeError: full: cannot allocate a float64 tensor of shape \[1000000, 1000000\]/);
    assert.throws(() => ones([2 ** 40]), /^RangeError: full: cannot allocate/);
    assert.throws(() => eye(1e6), /^RangeError: eye: cannot allocate/);
  });

  it('item, astype and clone', () => {
    assert.equal(tensor([[3]]).item(), 3);
    assert.throws(() => tensor([1, 2]).item(), /2 elements, expected 1/);
    const t = tensor([1.1], [1], { dtype: 'float64' });
    assert.equal(t.astype('float32').data[0], Math.fround(1.1));
    const c = t.clone();
    c.data[0] = 5;
    assert.equal(t.data[0], 1.1);
    assert.throws(() => new Tensor(new Float32Array(3), [2, 2]), /3 elements but shape \[2, 2\] needs 4/);
  });
});

describe('random numbers', () => {
  it('same seed, same numbers; different seeds differ', () => {
    assert.deepEqual(randn([5], { seed: 3 }).toFlatArray(), randn([5], { seed: 3 }).toFlatArray());
    assert.notDeepEqual(randn([5], { seed: 3 }).toFlatArray(), randn([5], { seed: 4 }).toFlatArray());
    manualSeed(9);
    const a = rand([4]).toFlatArray();
    manualSeed(9);
    assert.deepEqual(rand([4]).toFlatArray(), a);
  });

  it('same numbers on every backend', () => {
    const draws = availableBackends().map((b) => withBackend(b, () => randn([8], { seed: 1, dtype: 'float64' }).toFlatArray()));
    assert.ok(draws.length >= 2, 'at least two backends load here');
    for (const d of draws) assert.deepEqual(d, draws[0]);
  });

  it('moments of normal, uniform, bernoulli and rademacher draws match their distributions', () => {
    const n = 200000;
    const stats = (x: number[]) => {
      const m = x.reduce((a, b) => a + b, 0) / x.length;
      const v = x.reduce((a, b) => a + (b - m) ** 2, 0) / x.length;
      return { m, v };
    };
    const z = stats(randn([n], { seed: 1, dtype: 'float64' }).toFlatArray());
    assert.ok(Math.abs(z.m) < 0.01 && Math.abs(z.v - 1) < 0.01, JSON.stringify(z));
    const u = stats(rand([n], { seed: 2, dtype: 'float64', low: -1, high: 3 }).toFlatArray());
    assert.ok(Math.abs(u.m - 1) < 0.02 && Math.abs(u.v - 16 / 12) < 0.02, JSON.stringify(u));
    const b = stats(bernoulli([n], 0.3, { seed: 3 }).toFlatArray());
    assert.ok(Math.abs(b.m - 0.3) < 0.01, JSON.stringify(b));
    const r = rademacher([n], { seed: 4 }).toFlatArray();
    assert.ok(r.every((v) => v === 1 || v === -1));
    assert.ok(Math.abs(stats(r).m) < 0.01);
    const rng = new Rng(5);
    const p = rng.permutation(10);
    assert.deepEqual([...p].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('generator state round-trips', () => {
    const rng = new Rng(42);
    rng.nextNormal();
    const s = rng.getState();
    const a = [rng.nextNormal(), rng.nextFloat()];
    const r2 = new Rng(0);
    r2.setState(s);
    assert.deepEqual([r2.nextNormal(), r2.nextFloat()], a);
    assert.throws(() => bernoulli([2], 1.5), /p must be in \[0, 1\]/);
  });
});

test('tensor(values, { dtype }) takes options second, as tensor(values, shape, options) takes them third', () => {
  const a = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
  assert.equal(a.dtype, 'float64');
  assert.deepEqual(a.shape, [2, 2]);
  assert.deepEqual(Array.from(a.data), [1, 2, 3, 4]);
  assert.equal(tensor([1, 2, 3, 4], [2, 2], { dtype: 'float64' }).dtype, 'float64');
  assert.equal(tensor(5, {}).dtype, 'float32');
  assert.throws(() => tensor([1], { dtype: 'float64' } as never, {}), /the second argument is an options object; give the shape first/);
  assert.throws(() => tensor([1], { dtype: 'int8' as never }), /dtype must be 'float32' or 'float64', got 'int8'/);
});

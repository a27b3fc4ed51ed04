import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../../tensor/tensor.js';
import { fromArrays, split, shuffle, batches } from './dataset.js';

const ds = () => fromArrays(Array.from({ length: 10 }, (_, i) => [i, 10 * i]), Array.from({ length: 10 }, (_, i) => i % 3), { classes: 3 });

test('fromArrays keeps rows paired and takes the dtype asked for', () => {
  const d = fromArrays([[1, 2], [3, 4]], [0, 1], { dtype: 'float64' });
  assert.deepEqual(d.x.shape, [2, 2]);
  assert.equal(d.y.dtype, 'float64');
  assert.equal(fromArrays(tensor([1, 2, 3], [3, 1]), [0, 0, 1]).x.dtype, 'float32');
});

test('split is seeded, disjoint and covers every example once', () => {
  const { train, test: te } = split(ds(), { test: 0.3, seed: 4 });
  assert.equal(train.x.shape[0], 7);
  assert.equal(te.x.shape[0], 3);
  const ids = [...train.x.data.filter((_, i) => i % 2 === 0), ...te.x.data.filter((_, i) => i % 2 === 0)].sort((a, b) => a - b);
  assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const part of [train, te]) for (let r = 0; r < part.x.shape[0]; r++) assert.equal(part.y.data[r], part.x.data[2 * r] % 3);
  assert.deepEqual(Array.from(split(ds(), { test: 0.3, seed: 4 }).test.x.data), Array.from(te.x.data));
  assert.notDeepEqual(Array.from(split(ds(), { test: 0.3, seed: 5 }).test.x.data), Array.from(te.x.data));
  assert.equal(split(ds(), { test: 2, shuffle: false }).test.x.data[0], 8);
});

test('shuffle permutes rows with their labels; batches cover an epoch', () => {
  const s = shuffle(ds(), 1);
  for (let r = 0; r < 10; r++) assert.equal(s.y.data[r], s.x.data[2 * r] % 3);
  const seen: number[] = [];
  const sizes: number[] = [];
  for (const b of batches(ds(), 4, { seed: 2 })) {
    sizes.push(b.x.shape[0]);
    for (let r = 0; r < b.x.shape[0]; r++) seen.push(b.x.data[2 * r]);
  }
  assert.deepEqual(sizes, [4, 4, 2]);
  assert.deepEqual(seen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal([...batches(ds(), 4, { dropLast: true })].length, 2);
});

test('bad arrays fail naming the problem', () => {
  assert.throws(() => fromArrays([[1, 2], [3]], [0, 1]), /fromArrays: x is not a rectangular numeric array/);
  assert.throws(() => fromArrays([[1], [2]], [0]), /x has 2 examples, y has 1/);
  assert.throws(() => fromArrays([[1], [NaN]], [0, 1]), /x has a non-finite value \(NaN\) in example 1/);
  assert.throws(() => fromArrays([[1], [2]], [0, 3], { classes: 3 }), /y: example 1 has label 3, expected an integer in 0..2/);
  assert.throws(() => fromArrays([[1], [2]], [0, 0.5], { classes: 3 }), /example 1 has label 0.5/);
  assert.throws(() => fromArrays('x', [0]), /x must be a Tensor/);
  assert.throws(() => split(ds(), { test: 10 }), /test must be a fraction in \(0, 1\) or a count in 1..9/);
  assert.throws(() => [...batches(ds(), 0)], /batchSize must be a positive integer/);
  assert.throws(() => [...batches(ds(), 11)], /batchSize 11 exceeds the 10 examples/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Tensor } from '../tensor/tensor.js';
import { shardBatch, shardRange } from './shard.js';

test('the shards of every rank, in rank order, are the batch: contiguous, disjoint, sizes within one', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 64 }), (n, size) => {
    let next = 0;
    const sizes: number[] = [];
    for (let r = 0; r < size; r++) {
      const [a, b] = shardRange(n, r, size);
      assert.equal(a, next);
      assert.ok(b >= a);
      sizes.push(b - a);
      next = b;
    }
    assert.equal(next, n);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  }), { seed: 18 });
});

test('shardBatch takes the rows of its range from x and y together', () => {
  const x = new Tensor(Float64Array.from({ length: 14 }, (_, i) => i), [7, 2]);
  const y = new Tensor(Float64Array.from({ length: 7 }, (_, i) => 100 + i), [7]);
  const s = shardBatch({ x, y }, { rank: 1, size: 3 });
  assert.deepEqual(s.x.shape, [2, 2]);
  assert.deepEqual(Array.from(s.x.data), [4, 5, 6, 7]);
  assert.deepEqual(Array.from(s.y.data), [102, 103]);
});

test('shardBatch refuses a batch smaller than the number of ranks, and a rank outside the world', () => {
  const t = new Tensor(new Float64Array(2), [2]);
  assert.throws(() => shardBatch({ x: t, y: t }, { rank: 0, size: 3 }), /a batch of 2 examples cannot give each of 3 ranks at least one/);
  assert.throws(() => shardRange(10, 3, 3), /rank 3 is not a rank of a world of 3/);
});

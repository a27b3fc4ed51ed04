/**
 * Sharding a batch over ranks: rank r of K takes the contiguous rows
 * [⌊rN/K⌋, ⌊(r+1)N/K⌋), so the shards in rank order are the batch itself, and K-FAC's samples
 * gathered in rank order are the single-process samples.
 */
import { Tensor } from '../tensor/tensor.js';
import type { Communicator } from './communicator.js';

/** Rows [start, end) of a batch of `n` that rank `rank` of `size` takes. */
export function shardRange(n: number, rank: number, size: number): [number, number] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`shardRange: n must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(size) || size < 1 || !Number.isSafeInteger(rank) || rank < 0 || rank >= size) throw new RangeError(`shardRange: rank ${rank} is not a rank of a world of ${size}`);
  return [Math.floor((rank * n) / size), Math.floor(((rank + 1) * n) / size)];
}

/** This rank's shard of `batch` (every rank needs at least one example). */
export function shardBatch<B extends { x: Tensor; y: Tensor }>(batch: B, comm: Pick<Communicator, 'rank' | 'size'>): { x: Tensor; y: Tensor } {
  const n = batch.x.shape[0];
  if (batch.y.shape[0] !== n) throw new RangeError(`shardBatch: batch.x has ${n} examples, batch.y has ${batch.y.shape[0]}`);
  if (n < comm.size) throw new RangeError(`shardBatch: a batch of ${n} examples cannot give each of ${comm.size} ranks at least one (use a larger batch or fewer ranks)`);
  if (comm.size === 1) return { x: batch.x, y: batch.y };
  const [a, b] = shardRange(n, comm.rank, comm.size);
  return { x: rows(batch.x, a, b), y: rows(batch.y, a, b) };
}

function rows(t: Tensor, a: number, b: number): Tensor {
  const row = t.shape.slice(1).reduce((p, d) => p * d, 1);
  return new Tensor(t.data.slice(a * row, b * row), [b - a, ...t.shape.slice(1)]);
}

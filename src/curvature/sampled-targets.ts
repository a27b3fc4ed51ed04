/**
 * Sampled targets keyed by the example's index in the batch: example i's targets are drawn from
 * its own generator, seeded by (the statistics' stream key, i). A data-parallel shard that starts
 * at global index `offset` therefore draws exactly what one process draws for the same examples
 * on the combined batch, whatever the shard sizes (`distributed/objective.ts`), so K-FAC's
 * default sampled Fisher equals the single process's, not just in expectation.
 */
import { Tensor, allocate } from '../tensor/tensor.js';
import type { FloatArray } from '../kernels/types.js';
import { Rng } from '../tensor/random.js';
import type { Loss } from '../nn/losses.js';

/** A well-mixed 32-bit seed from (key, index): murmur3's finalizer, so neighbours' streams are unrelated. */
export function exampleSeed(key: number, index: number): number {
  let h = (key ^ Math.imul(index + 1, 0x9e3779b1)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  // A second round over the index's high bits keeps indices ≥ 2³² (never reached in practice) distinct.
  return (h ^ Math.imul(Math.floor(index / 4294967296), 0x27d4eb2f)) >>> 0;
}

/**
 * `loss.sampleTargets` example by example: row i of `z` (axis 0) with `new Rng(exampleSeed(key, offset + i))`.
 * The rows' targets are concatenated along axis 0, so the result is shaped as the loss's own.
 */
export function sampleTargetsByExample(loss: Loss, z: Tensor, key: number, offset: number): Tensor {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`sampleTargetsByExample: offset must be a non-negative integer (the batch's first global example index), got ${offset}`);
  const n = z.shape[0];
  if (z.ndim < 1 || n === 0) return loss.sampleTargets(z, new Rng(key));
  const row = z.size / n;
  const data = z.data;
  let out: FloatArray | undefined;
  let rowShape: readonly number[] = [];
  let per = 0;
  for (let i = 0; i < n; i++) {
    const zi = new Tensor(data.slice(i * row, (i + 1) * row), [1, ...z.shape.slice(1)]);
    const ti = loss.sampleTargets(zi, new Rng(exampleSeed(key, offset + i)));
    if (out === undefined) {
      per = ti.size;
      rowShape = ti.shape.slice(1);
      out = allocate(ti.dtype, per * n);
    }
    if (ti.size !== per || ti.shape[0] !== 1) throw new RangeError(`sampleTargetsByExample: ${loss.name}.sampleTargets gave example ${i} targets of shape [${ti.shape.join(', ')}]; expected one row of ${per} values`);
    out.set(ti.data, i * per);
  }
  return new Tensor(out as FloatArray, [n, ...rowShape]);
}

/**
 * Helpers shared by the test files: seeded random data and closeness assertions.
 * Not exported from the package root.
 */
import assert from 'node:assert/strict';
import { Rng } from '../tensor/random.js';
import type { DType, FloatArray } from '../kernels/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { getMemoryOptions, setMemoryOptions } from '../tensor/memory.js';

export function randomArray(rng: Rng, n: number, dtype: DType, scale = 1): FloatArray {
  const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (2 * rng.nextFloat() - 1);
  return a;
}

/** Max |a - b| / (atol + rtol |b|) must stay <= 1 elementwise; NaN must match NaN. */
export function assertClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, opts: { rtol?: number; atol?: number; msg?: string } = {},
): void {
  const { rtol = 1e-5, atol = 1e-6, msg = '' } = opts;
  assert.equal(actual.length, expected.length, `${msg} length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      assert.ok(Number.isNaN(a) && Number.isNaN(e), `${msg} index ${i}: got ${a}, expected ${e}`);
      continue;
    }
    if (!Number.isFinite(e)) {
      assert.equal(a, e, `${msg} index ${i}`);
      continue;
    }
    const err = Math.abs(a - e);
    assert.ok(err <= atol + rtol * Math.abs(e), `${msg} index ${i}: got ${a}, expected ${e} (|diff| ${err})`);
  }
}

/** Tolerances for comparing two implementations of one computation in a dtype. */
export function tol(dtype: DType, scale = 1): { rtol: number; atol: number } {
  return dtype === 'float32' ? { rtol: 2e-5 * scale, atol: 2e-6 * scale } : { rtol: 1e-12 * scale, atol: 1e-13 * scale };
}

/** A seeded source of uniform numbers in [0, 1) (the tests' shared PRNG: our Rng). */
export function uniformSource(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.nextFloat();
}

/** ‖a − b‖₂ / max(‖b‖₂, floor): one relative error for a whole tensor. */
export function relErr(a: Tensor, b: Tensor, floor = 1e-8): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.size; i++) {
    num += (a.data[i] - b.data[i]) ** 2;
    den += b.data[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), floor);
}

/** Runs `fn` with the pool's cap set to `bytes` (0: pooling off), restoring the cap after. */
export function withPoolBytes<T>(bytes: number, fn: () => T): T {
  const before = getMemoryOptions().poolBytes;
  setMemoryOptions({ poolBytes: bytes });
  try {
    return fn();
  } finally {
    setMemoryOptions({ poolBytes: before });
  }
}

/** Whether two trees of the same structure hold the same numbers bit for bit (−0 ≠ 0, NaN = NaN). */
export function sameBits(a: PyTree, b: PyTree): boolean {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  return la.length === lb.length && la.every((t, i) => t.size === lb[i].size && t.data.every((v, j) => Object.is(v, lb[i].data[j])));
}

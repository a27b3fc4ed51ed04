/**
 * Large buffers from the native backend's huge-page mappings: zero-filled, exactly as long as
 * asked, independent of each other, used by the tensor pool for fresh buffers of 1 MiB and
 * more, and refused with a clear error for sizes that are not byte counts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeKernels } from './native-backend.js';
import { kernels } from './index.js';
import { LARGE_BYTES, emptyPool } from '../tensor/memory.js';
import { zeros, full } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';

const native = loadNativeKernels();
const skip = native === null || native.allocateLarge === undefined ? 'native backend unavailable' : false;

describe('allocateLarge (native)', { skip }, () => {
  it('returns zero-filled, independent buffers of exactly the size asked', () => {
    const alloc = (native?.allocateLarge as (b: number) => ArrayBuffer | null);
    for (const bytes of [1, 4096, 3 << 20, (2 << 20) + 8]) {
      const a = alloc(bytes);
      const b = alloc(bytes);
      assert.ok(a !== null && b !== null);
      assert.equal(a.byteLength, bytes);
      const va = new Uint8Array(a);
      const vb = new Uint8Array(b);
      assert.ok(va.every((v) => v === 0), `fresh mapping of ${bytes} bytes is zero`);
      va.fill(7);
      assert.ok(vb.every((v) => v === 0), 'writing one buffer leaves the other untouched');
    }
  });

  it('refuses sizes that are not positive integer byte counts, naming the argument', () => {
    const alloc = (native?.allocateLarge as (b: number) => ArrayBuffer | null);
    for (const bad of [0, -1, 1.5, NaN, Infinity]) assert.throws(() => alloc(bad), /allocateLarge.*bytes/);
  });

  it('the pool takes fresh buffers of LARGE_BYTES and more from it (and only those), with the right values', { skip: kernels().name !== 'native' && 'default backend is not native' }, () => {
    const k = kernels();
    const own = k.allocateLarge as (b: number) => ArrayBuffer | null;
    const asked: number[] = [];
    Object.assign(k, { allocateLarge: (b: number) => { asked.push(b); return own(b); } });
    try {
      emptyPool();
      const n = LARGE_BYTES / 4 + 3; // a size no earlier test made, just over the threshold in float32
      const big = tidy(() => full([n], 2.5));
      assert.deepEqual(asked, [n * 4], 'one mapping for the fresh large buffer');
      assert.ok(big.data.every((v) => v === 2.5));
      const z = zeros([n + 1]);
      assert.ok(z.data.every((v) => v === 0));
      assert.equal(asked.length, 2);
      zeros([LARGE_BYTES / 4 - 1]);
      assert.equal(asked.length, 2, 'buffers under the threshold are ordinary typed arrays');
    } finally {
      Object.assign(k, { allocateLarge: own });
    }
  });
});

/**
 * A pool miss for a slab-sized buffer is served by cutting a longer pooled buffer: the new buffer
 * and the rest never overlap, a zero-filled request reads zeros although the memory held values,
 * buffers with a mapping of their own are not cut, and values computed in cut buffers equal
 * those computed in fresh ones.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LARGE_BYTES, SLAB_MIN_BYTES, emptyPool, memory, openScope, popScope, releaseBuffer, retainBuffer, takeBuffer } from './memory.js';
import { randn } from './random.js';
import { add, tanh } from './ops.js';
import { tidy } from './scope.js';

const F32 = 4;

/** A buffer handed out inside a scope and given back at once (it waits in the pool). */
function pooled(size: number, fill: number): Float32Array {
  const s = openScope(false);
  const b = takeBuffer('float32', size, false) as Float32Array;
  popScope(s);
  b.fill(fill);
  retainBuffer(b);
  releaseBuffer(b);
  return b;
}

describe('cutting pooled buffers on a miss', () => {
  it('a shorter request takes the front of a longer pooled buffer; the rest is pooled and disjoint', () => {
    emptyPool();
    const long = (3 * SLAB_MIN_BYTES) / F32;
    const old = pooled(long, 7);
    const before = memory();
    const s = openScope(false);
    const a = takeBuffer('float32', SLAB_MIN_BYTES / F32, true);
    const restLength = long - SLAB_MIN_BYTES / F32;
    const b = takeBuffer('float32', restLength, false);
    popScope(s);
    const after = memory();
    assert.equal(after.poolMisses - before.poolMisses, 0, 'both served from the pooled buffer');
    assert.equal(after.poolHits - before.poolHits, 2);
    assert.equal(a.buffer, old.buffer);
    assert.equal(b.buffer, old.buffer);
    assert.equal(a.byteOffset, old.byteOffset);
    assert.ok(b.byteOffset >= a.byteOffset + a.byteLength, 'the rest starts after the front');
    assert.ok(b.byteOffset + b.byteLength <= old.byteOffset + old.byteLength, 'and ends inside the old buffer');
    assert.ok(a.every((v) => v === 0), 'a zero-filled request reads zeros, not the old values');
    a.fill(1);
    assert.ok(b.every((v) => v === 7), 'writing the front leaves the rest alone');
  });

  it('a short remainder is not pooled, and a request shorter than SLAB_MIN_BYTES never cuts', () => {
    emptyPool();
    const old = pooled(SLAB_MIN_BYTES / F32 + 100, 1);
    const before = memory();
    const s = openScope(false);
    const small = takeBuffer('float32', 1000, false);
    const a = takeBuffer('float32', SLAB_MIN_BYTES / F32, false);
    popScope(s);
    assert.notEqual(small.buffer, old.buffer);
    assert.equal(a.buffer, old.buffer);
    assert.equal(memory().pooledBuffers, before.pooledBuffers - 1, 'the 100-element tail is left to the collector');
  });

  it('a buffer with a mapping of its own (LARGE_BYTES on) is not cut', () => {
    emptyPool();
    const old = pooled((2 * LARGE_BYTES) / F32, 1);
    const s = openScope(false);
    const a = takeBuffer('float32', SLAB_MIN_BYTES / F32, false);
    popScope(s);
    assert.notEqual(a.buffer, old.buffer);
  });

  it('values computed in cut buffers equal those in fresh ones, bit for bit', () => {
    const x = randn([300, 250], { seed: 4 });
    const y = randn([300, 250], { seed: 5 });
    const run = () => tidy(() => Array.from(tanh(add(x, y)).data));
    emptyPool();
    const fresh = run();
    // A longer buffer full of other values waits in the pool, and the shapes differ: the run cuts it.
    emptyPool();
    pooled(2 * 300 * 250 + 5000, Number.NaN);
    const before = memory();
    const cut = run();
    assert.equal(memory().poolMisses - before.poolMisses, 0, 'no fresh buffer: the pooled one was cut');
    assert.deepEqual(cut, fresh);
  });
});

/**
 * Large buffers from the native backend's huge-page mappings: zero-filled, exactly as long as
 * asked, independent of each other, used by the tensor pool for fresh buffers of 1 MiB and
 * more (one mapping each) and, carved from shared slabs, for fresh buffers from SLAB_MIN_BYTES
 * up; refused with a clear error for sizes that are not byte counts.
 */
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadNativeAddon, loadNativeKernels } from './native-backend.js';
import { kernels } from './index.js';
import { LARGE_BYTES, MAPPED_SLACK_BYTES, SLAB_BYTES, SLAB_MIN_BYTES, emptyPool, memory } from '../tensor/memory.js';
import { zeros, full } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import { randn } from '../tensor/random.js';
import { matmul } from '../tensor/matmul.js';
import { mul, tanh } from '../tensor/ops.js';

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

  it('the pool takes fresh buffers of LARGE_BYTES and more from it, one mapping each, with the right values', { skip: kernels().name !== 'native' && 'default backend is not native' }, () => {
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
      const z = tidy(() => zeros([n + 1]));
      assert.ok(z.data.every((v) => v === 0));
      assert.equal(asked.length, 2);
      tidy(() => { zeros([SLAB_MIN_BYTES / 4 - 1]); });
      assert.equal(asked.length, 2, 'buffers under SLAB_MIN_BYTES are ordinary typed arrays');
    } finally {
      Object.assign(k, { allocateLarge: own });
    }
  });

  it('mid-size fresh buffers are carved from shared slabs: zero, disjoint, aligned, and a slab serves several', { skip: kernels().name !== 'native' && 'default backend is not native' }, () => {
    const k = kernels();
    const own = k.allocateLarge as (b: number) => ArrayBuffer | null;
    const asked: number[] = [];
    Object.assign(k, { allocateLarge: (b: number) => { asked.push(b); return own(b); } });
    try {
      emptyPool(); // also drops the slab being carved, so the first carve opens a new one
      const n = SLAB_MIN_BYTES / 8 + 5; // float64, odd length: the next carve must realign
      const count = Math.floor(SLAB_BYTES / (n * 8)) + 1; // one more than a slab holds
      const ts = Array.from({ length: count }, () => zeros([n], { dtype: 'float64' }));
      assert.ok(ts.every((t) => t.data.every((v) => v === 0)), 'fresh carves are zero');
      ts.forEach((t, i) => t.data.fill(i));
      assert.deepEqual(asked, [SLAB_BYTES, SLAB_BYTES], `${count} buffers of ${n * 8} bytes take two slabs`);
      assert.equal(ts[0].data.buffer, ts[count - 2].data.buffer, 'the buffers before the last share one slab');
      assert.notEqual(ts[0].data.buffer, ts[count - 1].data.buffer);
      ts.forEach((t, i) => {
        assert.equal(t.data.byteOffset % 64, 0, 'each carve starts on a cache line');
        assert.ok(t.data.every((v) => v === i), `buffer ${i} holds its own values (no overlap)`);
      });
      // disjoint: byte ranges of carves in one slab never intersect
      const spans = ts.filter((t) => t.data.buffer === ts[0].data.buffer).map((t) => [t.data.byteOffset, t.data.byteOffset + t.data.byteLength]).sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1]);
    } finally {
      Object.assign(k, { allocateLarge: own });
    }
  });

  it('carving does not change results: a chain of mid-size ops is bit-identical with ordinary arrays', { skip: kernels().name !== 'native' && 'default backend is not native' }, () => {
    const k = kernels();
    const own = k.allocateLarge;
    const x = randn([64, 600], { seed: 1 });
    const w = randn([600, 700], { seed: 2 });
    const run = () => tidy(() => {
      const h = tanh(matmul(x, w)); // 64 x 700 float32: 175 KiB, carved
      return Float32Array.from(mul(h, h).data);
    });
    try {
      emptyPool();
      const carved = run();
      Object.assign(k, { allocateLarge: undefined });
      emptyPool();
      const plain = run();
      assert.deepEqual(carved, plain);
    } finally {
      Object.assign(k, { allocateLarge: own });
    }
  });

  it('releaseFreeMemory returns free pages inside the C heap: resident memory falls after freeing every other small array', { skip: process.platform !== 'linux' && 'glibc-specific' }, () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const release = native?.releaseFreeMemory;
    assert.equal(typeof release, 'function');
    // 32 KiB arrays come from the C heap (under its mmap threshold); keeping every 8th alive
    // leaves the freed ones in the middle of the heap, where free() alone cannot give them back.
    let arrays: (Float64Array | null)[] = Array.from({ length: 2048 }, () => new Float64Array(4096).fill(1));
    const kept = arrays.filter((_, i) => i % 8 === 0);
    arrays = [];
    gc();
    gc();
    const before = process.memoryUsage().rss;
    assert.equal(release?.(), true);
    const after = process.memoryUsage().rss;
    const freed = 2048 * 7 / 8 * 32768;
    assert.ok(before - after > 0.5 * freed, `resident memory fell by ${((before - after) / 2 ** 20).toFixed(1)} MiB of ${(freed / 2 ** 20).toFixed(1)} MiB freed`);
    assert.equal(kept.length, 256);
  });

  const glibc = process.platform === 'linux' && (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime !== undefined;
  const ownChoice = ['MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'GLIBC_TUNABLES'].some((k) => process.env[k] !== undefined);

  it('loading the addon fixes glibc\'s mmap and trim thresholds (mallopt accepted both)', { skip: (!glibc || ownChoice) && 'glibc with its default thresholds only' }, () => {
    assert.equal(loadNativeAddon()?.mallocTuned, true);
  });

  it('a process that set its own malloc thresholds keeps them', { skip: !glibc && 'glibc only' }, () => {
    const url = new URL('./native-backend.js', import.meta.url).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { loadNativeAddon } from '${url}'; console.log(JSON.stringify(loadNativeAddon()?.mallocTuned ?? null));`], {
      env: { ...process.env, MALLOC_TRIM_THRESHOLD_: String(1 << 20) },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'false');
  });

  it('a synchronous loop that leaves large results to the collector holds at most MAPPED_SLACK_BYTES of mappings', { skip: kernels().name !== 'native' && 'default backend is not native' }, () => {
    // Node releases a dead mapping only from the event loop: without the bound, every result of
    // this loop stays mapped until it ends (the count grows by 4 MiB a call).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    emptyPool();
    const n = 1 << 20; // 4 MiB of float32 each, never touched here past the check below
    const start = memory().mappedBytes;
    let most = 0;
    // Results made inside a scope (a mapping each) that escape it to the collector.
    let last = tidy(() => zeros([n], { dtype: 'float32' }));
    for (let i = 0; i < (MAPPED_SLACK_BYTES >> 22) + 40; i++) {
      last = tidy(() => zeros([n], { dtype: 'float32' }));
      if (i % 16 === 0) gc();
      most = Math.max(most, memory().mappedBytes - start);
    }
    assert.ok(most <= MAPPED_SLACK_BYTES + (8 << 20), `mappings grew by ${most / 2 ** 20} MiB within one synchronous loop`);
    assert.ok(most >= MAPPED_SLACK_BYTES / 2, 'the mappings were used until the bound');
    assert.equal(last.data.length, n);
    assert.ok(last.data.every((v) => v === 0), 'a fresh buffer past the bound is an ordinary zero-filled array');
  });

  it('large buffers made outside every scope come from V8\'s allocator: zero, no mapping, and a loop leaving them to the collector stays flat', { skip: kernels().name !== 'native' && 'default backend is not native' }, () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const k = kernels();
    assert.equal(typeof k.allocateHeap, 'function');
    const heap = k.allocateHeap as (b: number) => ArrayBuffer | null;
    for (const bytes of [1, (2 << 20) + 12, 5 << 20]) {
      const ab = heap(bytes);
      assert.ok(ab !== null && ab.byteLength === bytes);
      assert.ok(new Uint8Array(ab).every((v) => v === 0), `${bytes} bytes zero-filled`);
    }
    for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => heap(bad), /allocateHeap.*bytes/);
    const own = k.allocateLarge as (b: number) => ArrayBuffer | null;
    const asked: number[] = [];
    Object.assign(k, { allocateLarge: (b: number) => { asked.push(b); return own(b); } });
    try {
      emptyPool();
      const n = 1 << 20; // 4 MiB of float32
      const a = randn([512, 512], { dtype: 'float32' });
      const b = randn([512, 512], { dtype: 'float32' });
      const want = tidy(() => matmul(a, b)); // a mapping, escaping its scope
      assert.deepEqual(asked, [512 * 512 * 4]);
      const start = memory().mappedBytes;
      let most = 0;
      for (let i = 0; i < 200; i++) {
        const z = zeros([n], { dtype: 'float32' });
        assert.equal(z.data[n - 1], 0);
        z.data[i] = 1; // touched, as a result would be
        const c = matmul(a, b);
        if (i % 50 === 0) assert.deepEqual(Array.from(c.data.subarray(0, 64)), Array.from(want.data.subarray(0, 64)));
        if (i % 32 === 0) gc();
        most = Math.max(most, memory().mappedBytes - start);
      }
      assert.equal(asked.length, 1, 'no mapping was asked for outside scopes');
      assert.equal(most, 0, 'the mappings did not grow');
    } finally {
      Object.assign(k, { allocateLarge: own });
    }
  });
});

/**
 * Buffers are reused, not leaked: 10,000 iterations of a training-sized op sequence
 * (a dense layer forward and backward) keep resident memory flat; sizes left unused for
 * `poolIdleScopes` outermost scopes leave the pool.
 */
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randn } from './random.js';
import { matmul } from './matmul.js';
import { add, mul, sub, sum, tanh } from './ops.js';
import { emptyPool, getMemoryOptions, memory, releaseFreeMemoryDue, setMemoryOptions, TRIM_INTERVAL_MS } from './memory.js';
import { tidy } from './scope.js';
import { zeros } from './tensor.js';
import { kernels } from '../kernels/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

it('10,000 iterations of a dense-layer step keep resident memory flat', async () => {
  const x = randn([32, 64], { seed: 1 });
  let w = randn([64, 64], { seed: 2 });
  const b = randn([64], { seed: 3 });
  const step = () => {
    const h = tanh(add(matmul(x, w), b));
    const gh = mul(sub(1, mul(h, h)), h); // d/dz of 0.5*|tanh z|^2
    const gw = matmul(x, gh, { transposeA: true });
    w = sub(w, mul(gw, 1e-4));
    return sum(h).item();
  };
  // Resident memory of live data: the native addon raises glibc's trim threshold to 64 MiB
  // (addon.cc, TuneMalloc), so free heap pages may stay mapped between the pool's returns;
  // returning them before each reading measures what is held, not what the allocator caches.
  // V8 frees dead array buffers' memory after a collection, on its sweeper's schedule: one tick
  // and a second collection let it finish, so that buffers still being swept do not read as held.
  const resident = async () => {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    gc();
    kernels().releaseFreeMemory?.();
    return process.memoryUsage();
  };
  for (let i = 0; i < 1000; i++) step();
  const before = await resident();
  let last = 0;
  for (let i = 0; i < 10000; i++) last = step();
  const after = await resident();
  const grown = (after.rss - before.rss) / 2 ** 20;
  // the leak this guards against directly: typed-array memory still held after collection
  const buffers = (after.arrayBuffers - before.arrayBuffers) / 2 ** 20;
  assert.ok(buffers < 1, `array buffers grew by ${buffers.toFixed(1)} MiB over 10,000 iterations`);
  assert.ok(Number.isFinite(last));
  assert.ok(grown < 16, `resident memory grew by ${grown.toFixed(1)} MiB over 10,000 iterations`);
});

describe('idle pooled buffers', () => {
  const pooledOf = (n: number) => {
    // Buffers of n float64 elements waiting in the pool: ask for them back and count.
    const before = memory().poolHits;
    tidy(() => { for (let i = 0; i < 4; i++) zeros([n], { dtype: 'float64' }); });
    return memory().poolHits - before;
  };

  it('a size unused for poolIdleScopes outermost scopes leaves the pool; a size used every scope stays', () => {
    const prev = getMemoryOptions().poolIdleScopes;
    setMemoryOptions({ poolIdleScopes: 8 });
    try {
      emptyPool();
      const once = 12_345;
      const every = 6_789;
      tidy(() => { zeros([once], { dtype: 'float64' }); zeros([once], { dtype: 'float64' }); });
      const bytesOnce = 2 * once * 8;
      assert.ok(memory().pooledBytes >= bytesOnce, 'released buffers are pooled');
      for (let i = 0; i < 7; i++) tidy(() => { zeros([every], { dtype: 'float64' }); });
      assert.ok(memory().pooledBytes >= bytesOnce, 'within the window the idle size is still pooled');
      for (let i = 0; i < 8; i++) tidy(() => { zeros([every], { dtype: 'float64' }); });
      assert.equal(memory().pooledBytes, every * 8, 'only the size used every scope remains');
      assert.equal(pooledOf(once), 0);
      assert.equal(pooledOf(every), 1);
    } finally {
      setMemoryOptions({ poolIdleScopes: prev });
    }
  });

  it('a peak of many buffers of one size in a rare scope shrinks back to what later scopes use', () => {
    const prev = getMemoryOptions().poolIdleScopes;
    setMemoryOptions({ poolIdleScopes: 8 });
    try {
      emptyPool();
      const n = 23_456;
      tidy(() => { for (let i = 0; i < 5; i++) zeros([n], { dtype: 'float32' }); });
      assert.equal(memory().pooledBytes, 5 * n * 4);
      for (let i = 0; i < 40; i++) tidy(() => { zeros([n], { dtype: 'float32' }); zeros([n], { dtype: 'float32' }); });
      assert.equal(memory().pooledBytes, 2 * n * 4, 'the two buffers each scope uses stay pooled, the three idle ones left');
      const hits = memory().poolHits;
      tidy(() => { zeros([n], { dtype: 'float32' }); zeros([n], { dtype: 'float32' }); });
      assert.equal(memory().poolHits - hits, 2);
    } finally {
      setMemoryOptions({ poolIdleScopes: prev });
    }
  });

  it('poolIdleScopes: Infinity keeps every size; bad values are rejected naming the option', () => {
    const prev = getMemoryOptions().poolIdleScopes;
    setMemoryOptions({ poolIdleScopes: Infinity });
    try {
      emptyPool();
      tidy(() => { zeros([4_321], { dtype: 'float32' }); });
      for (let i = 0; i < 300; i++) tidy(() => { zeros([10], { dtype: 'float32' }); });
      assert.ok(memory().pooledBytes >= 4_321 * 4);
    } finally {
      setMemoryOptions({ poolIdleScopes: prev });
    }
    for (const bad of [0, -1, 2.5, NaN, '8' as unknown as number]) {
      assert.throws(() => setMemoryOptions({ poolIdleScopes: bad }), /poolIdleScopes must be an integer >= 1 or Infinity/);
    }
    assert.equal(getMemoryOptions().poolIdleScopes, prev);
  });

  it('a window end asks the backend to return the C heap\'s free pages only after pooled megabytes were dropped', () => {
    const k = kernels();
    const own = k.releaseFreeMemory;
    const prev = getMemoryOptions().poolIdleScopes;
    let calls = 0;
    Object.assign(k, { releaseFreeMemory: () => { calls++; return true; } });
    try {
      setMemoryOptions({ poolIdleScopes: 4 });
      // Spend any pending returns (an earlier drop, or the interval since the last return).
      for (let i = 0; i < 4 * 8; i++) tidy(() => zeros([10]));
      let start = calls;
      for (let i = 0; i < 4 * 8; i++) tidy(() => { tidy(() => zeros([10])); });
      assert.equal(calls - start, 0, 'nothing dropped, interval not passed: no return (a return per window made small-op loops fault)');
      // A 2 MiB buffer pooled once and idle for a window is dropped: the next windows return pages.
      tidy(() => { zeros([1 << 18], { dtype: 'float64' }); });
      start = calls;
      for (let i = 0; i < 4 * 8; i++) tidy(() => { tidy(() => zeros([10])); }); // inner scopes are not epochs
      const after = calls - start;
      assert.ok(after >= 1 && after <= 4, `after a 2 MiB drop: 1..${4} returns, got ${after}`);
      // Small drops do not trigger one.
      tidy(() => { zeros([1000], { dtype: 'float64' }); });
      start = calls;
      for (let i = 0; i < 4 * 8; i++) tidy(() => zeros([10]));
      assert.equal(calls - start, 0, 'an 8 KB drop: no return');
      setMemoryOptions({ poolIdleScopes: Infinity });
      tidy(() => { zeros([1 << 18], { dtype: 'float64' }); });
      start = calls;
      for (let i = 0; i < 12; i++) tidy(() => zeros([10]));
      assert.equal(calls - start, 0, 'no window, no call');
    } finally {
      Object.assign(k, { releaseFreeMemory: own });
      setMemoryOptions({ poolIdleScopes: prev });
    }
  });

  it('outside scopes, the slab allocator returns free pages once the interval passed, and not before', () => {
    const k = kernels();
    const own = k.releaseFreeMemory;
    let calls = 0;
    Object.assign(k, { releaseFreeMemory: () => { calls++; return true; } });
    mock.timers.enable({ apis: ['Date'], now: Date.now() + 10 * TRIM_INTERVAL_MS });
    try {
      releaseFreeMemoryDue(); // the last return is now
      assert.equal(calls, 1);
      releaseFreeMemoryDue();
      assert.equal(calls, 1, 'within the interval: no return');
      releaseFreeMemoryDue(true);
      assert.equal(calls, 2, 'forced (a window after a drop): a return');
      // 16,384 arrays of 4 KiB outside every scope fill 1,024 slabs: one check, interval not passed.
      const keep: unknown[] = [];
      for (let i = 0; i < 16_400; i++) keep.push(zeros([512]));
      assert.equal(calls, 2, 'the slab allocator checked before the interval passed: no return');
      mock.timers.tick(TRIM_INTERVAL_MS);
      for (let i = 0; i < 16_400; i++) keep[i] = zeros([512]);
      assert.equal(calls, 3, 'the next 1,024 slabs after the interval: one return');
      for (let i = 0; i < 16_400; i++) keep[i] = zeros([512]);
      assert.equal(calls, 3, 'and not again until the interval passes once more');
    } finally {
      mock.timers.reset();
      Object.assign(k, { releaseFreeMemory: own });
    }
  });
});

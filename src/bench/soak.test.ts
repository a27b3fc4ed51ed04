/**
 * The soak's short CI version: a few optimizers through `runOne` (the CLI path) for a few
 * hundred to 3,000 steps after a warm-up (kfac runs longest: its heap settles slowly after the JIT warms up, so a short window reads noise as growth); the JS heap after a full GC must not grow with the
 * step count (the long version is `npm run bench:soak`).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { band, slope, soakRun } from './soak.js';
import { poolSoakRun } from './soak-pool.js';
import { getMemoryOptions, setMemoryOptions } from '../tensor/memory.js';

it('least-squares slope recovers a known line and ignores an offset', () => {
  const xs = [1, 2, 3, 5, 8];
  assert.ok(Math.abs(slope(xs, xs.map((x) => 3 - 0.25 * x)) + 0.25) < 1e-12);
  assert.ok(Number.isNaN(slope([2, 2], [1, 5])));
});

it('the RSS band is max/min - 1 in percent, whatever the order', () => {
  assert.ok(Math.abs(band([100, 104, 101, 96]) - (100 * 104) / 96 + 100) < 1e-9);
  assert.equal(band([7, 7]), 0);
  assert.ok(Number.isNaN(band([])));
});

// Keeping one epoch order per epoch (the leak this guards against) grew the heap by 4 KiB per
// epoch of mlp-spirals: 1 MiB per 1,000 steps at batch 128, 2 MiB at batch 256.
const BOUND_MIB_PER_1000 = 0.4;

for (const [optimizer, steps, warmup] of [['sgd', 2000, 400], ['adam', 1200, 300], ['kfac', 3000, 1000]] as const) {
  it(`${optimizer}: ${steps} steps on mlp-spirals keep the heap flat (< ${BOUND_MIB_PER_1000} MiB per 1,000 steps after warm-up)`, { timeout: 120_000 }, () => {
    const r = soakRun('mlp-spirals', optimizer, steps, { seed: 0, warmupSteps: warmup });
    assert.equal(r.steps, steps, `stopped early: ${r.stopped}`);
    assert.ok(r.samples.length >= 4, `only ${r.samples.length} memory samples`);
    assert.ok(Number.isFinite(r.finalLoss));
    assert.ok(r.heapPer1000 < BOUND_MIB_PER_1000, `heap grew by ${r.heapPer1000.toFixed(3)} MiB per 1,000 steps (samples: ${r.samples.map((s) => `${s.step}:${s.heap.toFixed(2)}`).join(' ')})`);
    // held: RSS after the C heap returned its free pages, read just after rss; never more (1 MiB of slack for stacks and code)
    for (const s of r.samples) assert.ok(s.held <= s.rss + 1, `held ${s.held.toFixed(1)} MiB > rss ${s.rss.toFixed(1)} MiB at step ${s.step}`);
  });
}

// Hessian-free needs a different number of buffers every step (its CG runs 3-50 iterations, and
// a rare long run needs several times the usual pool), the case where a pool that only grows
// would creep towards its cap: what scopes hold must not grow, and with short idle windows a
// peak must have left the pool again by the end (the last sample within 1.25x the median).
it('hessian-free: 300 steps on mlp-spirals keep live bytes constant and pooled bytes back at their usual level', { timeout: 240_000 }, () => {
  const prev = getMemoryOptions().poolIdleScopes;
  setMemoryOptions({ poolIdleScopes: 16 });
  try {
    const r = poolSoakRun('mlp-spirals', 'hessian-free', 300, { seed: 0, warmupSteps: 30 });
    assert.equal(r.steps, 300);
    assert.ok(r.samples.length >= 5, `samples: ${r.samples.map((s) => s.step).join(' ')}`);
    const live = new Set(r.samples.map((s) => s.liveBytes));
    assert.equal(live.size, 1, `live bytes changed: ${r.samples.map((s) => `${s.step}:${s.liveBytes}`).join(' ')}`);
    const pooled = r.samples.map((s) => s.pooledBytes).sort((a, b) => a - b);
    const median = pooled[pooled.length >> 1];
    const last = r.samples[r.samples.length - 1].pooledBytes;
    assert.ok(last <= 1.25 * median, `pooled bytes ended at ${last}, median ${median} (${r.samples.map((s) => `${s.step}:${s.pooledBytes}`).join(' ')})`);
  } finally {
    setMemoryOptions({ poolIdleScopes: prev });
  }
});

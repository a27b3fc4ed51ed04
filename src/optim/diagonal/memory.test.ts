/**
 * No autodiff graph outlives a step (the memory growth users report with AdaHessian and Sophia,
 * graphs kept alive for double backward): 300 steps through the benchmark runner's loop, whose
 * carried scope counts what steps leave behind. A tape residual or probe kept past its step would
 * show as live bytes growing from one curve point to the next, and as fresh allocations (pool
 * misses) every step. The long version is `node dist/bench/soak-pool.js` (10,000 steps).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { memory } from '../../tensor/memory.js';
import { runOne } from '../../bench/runner.js';

const STEPS = 300;
const WARMUP = 60;

for (const id of ['adahessian', 'sophia-h', 'sophia-g']) {
  it(`${id}: ${STEPS} steps on mlp-spirals keep live bytes and buffers flat, and steady-state buffers come from the pool`, { timeout: 120_000 }, () => {
    const samples: { step: number; live: number; buffers: number; misses: number; pooled: number }[] = [];
    const { record } = runOne('mlp-spirals', id, 0, { steps: STEPS }, {
      onPoint: (p) => {
        const m = memory();
        samples.push({ step: p.step, live: m.liveBytes, buffers: m.liveBuffers, misses: m.poolMisses, pooled: m.pooledBuffers });
      },
    });
    assert.equal(record.final.step, STEPS, `stopped early: ${record.final.stopped}`);
    const late = samples.filter((s) => s.step >= WARMUP);
    assert.ok(late.length >= 4, `points at steps ${samples.map((s) => s.step).join(', ')}`);
    const lives = late.map((s) => s.live);
    assert.equal(Math.max(...lives), Math.min(...lives), `live bytes from step ${WARMUP}: ${lives.join(', ')}`);
    const buffers = late.map((s) => s.buffers);
    assert.equal(Math.max(...buffers), Math.min(...buffers), `live buffers from step ${WARMUP}: ${buffers.join(', ')}`);
    const first = late[0];
    const last = late[late.length - 1];
    const perStep = (last.misses - first.misses) / (last.step - first.step);
    assert.ok(perStep < 0.5, `fresh allocations per step after warm-up: ${perStep}`);
    assert.ok(last.pooled <= first.pooled + 16, `pooled buffers grew from ${first.pooled} to ${last.pooled}`);
  });
}

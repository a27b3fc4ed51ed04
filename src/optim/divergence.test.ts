import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniformSource } from '../testing/helpers.js';
import { divergenceMonitor } from './divergence.js';

function feed(losses: readonly number[], options = {}) {
  const m = divergenceMonitor('train loss', options);
  const fired = losses.map((l, i) => m.observe(i, l)).filter((e) => e !== undefined);
  return { m, fired };
}

describe('divergence monitor', () => {
  it('fires once, at the third consecutive evaluation above twice the best, on a diverging sequence', () => {
    // Falls to 0.1 at evaluation 5, then grows 1.5x per evaluation: 0.15 0.225 0.3375 0.506 ...
    const losses = Array.from({ length: 20 }, (_, i) => (i <= 5 ? 1 / (1 + 1.8 * i) : 0.1 * 1.5 ** (i - 5)));
    const { m, fired } = feed(losses);
    assert.equal(fired.length, 1);
    // Rises (> 0.2 = 2x best): evaluations 7 (0.225), 8, 9 -> fires at 9.
    assert.equal(fired[0].step, 9);
    assert.equal(fired[0].bestStep, 5);
    assert.ok(Math.abs(fired[0].best - 0.1) < 1e-12);
    assert.equal(m.event, fired[0]);
    assert.match(fired[0].message, /divergence at step 9: train loss .* above 2× its best/);
  });

  it('stays silent on noisy decreasing curves, down to float32 rounding noise on tiny losses', () => {
    const u = uniformSource(11);
    for (let trial = 0; trial < 50; trial++) {
      // Multiplicative noise of ±40% around an exponential decay, then an absolute jitter of 1e-7
      // (float32 cross-entropy near zero) once the loss is below 1e-6.
      const losses = Array.from({ length: 300 }, (_, i) => 2.3 * Math.exp(-0.08 * i) * (1 + 0.8 * (u() - 0.5)) + 1e-7 * u());
      const { fired } = feed(losses);
      assert.equal(fired.length, 0, `trial ${trial}: ${fired[0]?.message}`);
    }
  });

  it('ignores a spike shorter than the patience, and counts rises again from zero after it', () => {
    const { fired } = feed([1, 0.5, 0.4, 5, 6, 0.39, 7, 8, 0.38, 0.37]);
    assert.equal(fired.length, 0);
    assert.equal(feed([1, 0.5, 0.4, 5, 6, 0.39, 7, 8, 9]).fired[0]?.step, 8);
  });

  it('fires at once on a non-finite loss', () => {
    const { fired } = feed([1, 0.5, NaN, 0.4]);
    assert.equal(fired.length, 1);
    assert.equal(fired[0].step, 2);
    assert.match(fired[0].message, /train loss is NaN/);
  });

  it('compares the rise with the magnitude of the best loss when losses are negative', () => {
    // Around -10 with ±1 noise: no rise (a rise must exceed (factor-1)·|best| = 10); a climb above 0 rises.
    assert.equal(feed([-10, -9.2, -10.5, -9.7, -10.1, -9.4]).fired.length, 0);
    assert.equal(feed([-10, -10.5, 1, 2, 3]).fired[0]?.step, 4);
  });

  it('rejects options it cannot use, naming them', () => {
    assert.throws(() => divergenceMonitor('x', { factor: 1 }), /factor/);
    assert.throws(() => divergenceMonitor('x', { patience: 0 }), /patience/);
    assert.throws(() => divergenceMonitor('x', { floor: -1 }), /floor/);
    assert.throws(() => divergenceMonitor('x', { window: 3 } as never), /window/);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniformSource } from '../testing/helpers.js';
import { boostAfterAcceptance, boostAfterRejection, faultBoostOf } from './fault-damping.js';

describe('fault damping boost', () => {
  it('compounds within a streak of rejections, capped at factor³ and so that damping·boost stays at most maxDamping', () => {
    let b = 1;
    const seen: number[] = [];
    for (let k = 0; k < 5; k++) seen.push((b = boostAfterRejection(b, 10, 1e-3, 1e8)));
    assert.deepEqual(seen.map((x) => +x.toPrecision(12)), [10, 100, 1000, 1000, 1000]);
    b = 1;
    for (let k = 0; k < 5; k++) b = boostAfterRejection(b, 10, 1e-3, 0.05);
    assert.ok(Math.abs(b - 50) < 1e-9);
  });

  it('is undone by accepted steps, √factor at a time, and never drops below 1', () => {
    let b = boostAfterRejection(1, 10, 1, 1e8);
    b = boostAfterAcceptance(b, 10);
    assert.ok(Math.abs(b - Math.sqrt(10)) < 1e-12);
    b = boostAfterAcceptance(b, 10);
    assert.equal(b, 1);
    assert.equal(boostAfterAcceptance(b, 10), 1);
  });

  it('under sporadic faults (5-20% of steps) the damping is raised on a few steps per fault, never by more than factor³', () => {
    for (const rate of [0.05, 0.1, 0.2]) {
      const u = uniformSource(Math.round(rate * 1000));
      let b = 1;
      let worst = 1;
      let raised = 0;
      let faults = 0;
      for (let k = 0; k < 20000; k++) {
        const fault = u() < rate;
        if (fault) faults++;
        b = fault ? boostAfterRejection(b, 10, 1e-4, 1e8) : boostAfterAcceptance(b, 10);
        worst = Math.max(worst, b);
        if (!fault && b > 1) raised++;
      }
      assert.ok(worst <= 1000, `rate ${rate}: boost reached ${worst}`);
      // An isolated fault raises the next accepted step's damping (√10); streaks a few more.
      assert.ok(raised <= 1.6 * faults, `rate ${rate}: ${raised} accepted steps at raised damping for ${faults} faults`);
    }
  });

  it('reads a missing or corrupt stored boost (a state saved before it existed) as 1', () => {
    assert.equal(faultBoostOf(undefined), 1);
    assert.equal(faultBoostOf(NaN), 1);
    assert.equal(faultBoostOf(0.5), 1);
    assert.equal(faultBoostOf(30), 30);
  });
});

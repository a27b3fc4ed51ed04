/**
 * Stopping rules: each rule fires on the sequence it is meant for and not on its near misses
 * (synthetic step reports), and in the runner a full-batch method stops as converged within a
 * few steps of reaching a test function's minimum (the oracle: the same method's loss sequence
 * stepped by hand), a blown-up run stops as diverged, and a transient overshoot does not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stoppingRule, resolveStopping } from './stopping.js';
import { runOne } from './runner.js';
import { hyperFor } from './hyper.js';
import { problemById } from './problems.js';
import { OPTIMIZERS, optimizerEntry } from '../optim/registry.js';
import type { StepInfo } from '../optim/types.js';
import type { PyTree } from '../autodiff/pytree.js';

const info = (loss: number, gradNorm: number, extra: Partial<StepInfo> = {}): StepInfo => ({ loss, gradNorm, evals: 1, curvatureProducts: 0, accepted: true, events: [], ...extra });

describe('stopping rules on synthetic step reports', () => {
  it('no decrease over `patience` steps stops at exactly that step, a slow steady decrease never does', () => {
    const flat = stoppingRule({ patience: 5 });
    const stops = [10, 9, 8, 8, 8, 8, 8, 8, 8].map((l, i) => flat.afterStep(i + 1, info(l, 1), true));
    // The best (8) was reached at step 2 (the loss at a step's start is after step − 1 steps): step 2 + 5 = 7.
    assert.equal(stops.findIndex((s) => s !== undefined), 7);
    assert.equal(stops[7]?.kind, 'converged');
    assert.match(stops[7]?.reason ?? '', /no decrease/);
    const slow = stoppingRule({ patience: 5 });
    for (let k = 1; k <= 200; k++) assert.equal(slow.afterStep(k, info(100 * 0.999 ** k, 1), true), undefined);
  });

  it('the gradient rule is relative to the first step and reads full-batch steps only', () => {
    const r = stoppingRule({ gradientTolerance: 1e-6 });
    assert.equal(r.afterStep(1, info(5, 300), true), undefined);
    assert.equal(r.afterStep(2, info(4, 3e-4 * 1.01), true), undefined);
    assert.equal(r.afterStep(3, info(3, 2.9e-4), true)?.kind, 'converged');
    const batch = stoppingRule({ gradientTolerance: 1e-6 });
    batch.afterStep(1, info(5, 300), false);
    assert.equal(batch.afterStep(2, info(4, 0), false), undefined);
  });

  it('the loss floor is judged relative to the start gap, on steps and on curve points', () => {
    const r = stoppingRule({ lossFloor: 2, lossTolerance: 1e-3 });
    assert.equal(r.afterPoint(0, 12), undefined);
    assert.equal(r.afterPoint(5, 2.011), undefined);
    assert.equal(r.afterPoint(9, 2.009)?.kind, 'converged');
    const s = stoppingRule({ lossFloor: 0, lossTolerance: 1e-3 });
    s.afterPoint(0, 1);
    assert.equal(s.afterStep(1, info(1, 1, { newLoss: 5e-4 }), true)?.kind, 'converged', 'the line search loss after the step counts');
    const none = stoppingRule({});
    none.afterPoint(0, 1);
    assert.equal(none.afterPoint(1, -1e9), undefined, 'no floor, no floor rule');
  });

  it("the optimizer's own verdict ends a full-batch run only", () => {
    const r = stoppingRule();
    assert.match(r.afterStep(1, info(1, 1, { converged: 'the gradient is zero' }), true)?.reason ?? '', /optimizer stopped: the gradient is zero/);
    assert.equal(stoppingRule().afterStep(1, info(1, 1, { converged: 'x' }), false), undefined);
  });

  it('a persistent rise above the start is divergence, an overshoot below the start is not', () => {
    const up = stoppingRule();
    const losses = [10, 5, 30, 40, 50];
    const stops = losses.map((l, i) => up.afterPoint(i, l));
    assert.equal(stops.findIndex((s) => s !== undefined), 4);
    assert.equal(stops[4]?.kind, 'diverged');
    const overshoot = stoppingRule();
    for (const [i, l] of [10, 2, 5, 7, 9, 6, 1].entries()) assert.equal(overshoot.afterPoint(i, l), undefined);
    assert.equal(stoppingRule().afterPoint(0, NaN)?.kind, 'diverged');
  });

  it('bad options get an error naming the option', () => {
    assert.throws(() => resolveStopping({ patience: 0 }), /patience/);
    assert.throws(() => resolveStopping({ gradientTolerance: -1 }), /gradientTolerance/);
    assert.throws(() => resolveStopping({ lossFloor: NaN }), /lossFloor/);
    assert.throws(() => resolveStopping({ patients: 3 } as never), /patients/);
  });
});

/** The loss at the start of each step (index k: after k steps) of a method stepped by hand. */
function lossSequence(problem: string, optimizer: string, steps: number): number[] {
  const p = problemById(problem);
  const inst = p.build(0);
  const opt = optimizerEntry(optimizer).create(hyperFor(problem, p.kind, optimizer).options);
  let params: PyTree = inst.params;
  let state = opt.init(params);
  const out: number[] = [];
  for (let k = 0; k < steps; k++) {
    const r = opt.step(params, state, inst.full);
    out.push(r.info.loss);
    params = r.params;
    state = r.state;
  }
  return out;
}

// Every method the registry calls full-batch, and Newton-CG, which runs full-batch on functions.
const FULL_BATCH = [...new Set([...[...OPTIMIZERS.values()].filter((e) => !e.stochastic).map((e) => e.id), 'newton-cg'])];

describe('runner stopping on test functions', () => {
  for (const problem of ['mgh/rosenbrock', 'mgh/beale', 'mgh/helical-valley', 'mgh/brown-dennis']) {
    it(`every full-batch method stops as converged within a few steps of the minimum of ${problem}`, () => {
      const fStar = problemById(problem).fStar as number;
      for (const o of FULL_BATCH) {
        const { record } = runOne(problem, o, 0, { steps: 3000 }, { stopping: true });
        assert.equal(record.final.stopped, 'converged', `${o}: ${record.final.stopReason}`);
        const seq = lossSequence(problem, o, record.final.step + 1);
        const gap0 = seq[0] - fStar;
        // The minimum is reached when the loss is within 1e-6 of the start's gap (f* is known to ~6 digits).
        const reached = seq.findIndex((l) => l - fStar <= 1e-6 * gap0);
        assert.ok(reached >= 0 && record.final.step >= reached, `${o}: stopped at ${record.final.step} before reaching the minimum (${record.final.stopReason})`);
        assert.ok(record.final.step <= reached + 8, `${o}: reached the minimum at step ${reached}, stopped at ${record.final.step}`);
        assert.equal(record.curve[record.curve.length - 1].step, record.final.step, 'the curve ends at the stop');
      }
    });
  }

  it('a run whose loss blows up stops as diverged, on a rise while the loss is still finite', () => {
    for (const lr of [0.05, 3e-3]) {
      const hyper = { options: { lr }, batchSize: 'full' as const };
      const { record } = runOne('mgh/rosenbrock', 'sgd', 0, { steps: 500 }, { stopping: true, hyper });
      assert.equal(record.final.stopped, 'diverged', record.final.stopReason);
      assert.ok(record.final.step < 20, `stopped at ${record.final.step}`);
      if (lr === 3e-3) assert.match(record.final.stopReason, /stayed above 2× its best/);
    }
  });

  it('a momentum overshoot that comes back is not divergence, and a run that does not converge ends on its budget', () => {
    const { record } = runOne('mgh/rosenbrock', 'momentum', 0, { steps: 300 }, { stopping: true });
    assert.equal(record.final.stopped, 'budget', record.final.stopReason);
    assert.equal(record.final.step, 300);
    assert.match(record.final.stopReason, /300 steps/);
    assert.ok((record.divergence ?? []).length > 0, 'the warning signal still fires on the overshoot');
  });
});

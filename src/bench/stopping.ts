/**
 * Stopping rules of a benchmark run: a run ends as soon as it has converged or diverged, so the
 * budget is spent on runs that still move, and `final.stopped` says which ended it.
 *
 * Converged (any of):
 * - the gradient norm fell to `gradientTolerance` × its norm at the run's first step;
 * - the loss reached its floor: loss − floor ≤ `lossTolerance` × (L₀ − floor), where the floor is
 *   a known lower bound (a test function's f*, 0 for the non-negative losses of the models);
 * - no decrease: the best loss improved by no more than `decreaseTolerance` × |best| in the last
 *   `patience` steps;
 * - the optimizer says so itself (StepInfo.converged: a zero gradient, or a failed search along
 *   steepest descent that a retry would repeat).
 * The first, third and fourth read every step's loss and gradient, which are the full objective's
 * only in a full-batch run: a mini-batch gradient never vanishes, a mini-batch method's full
 * loss is measured sparsely and its plateaus (deep autoencoders) are not convergence, and a
 * failed search on one batch says nothing of the next. Mini-batch runs therefore stop as
 * converged only at the floor, judged on the curve's full-data losses.
 * Diverged: a non-finite full training loss, a persistent rise of it above its starting value
 * (the rule of optim/divergence.ts on the curve's points, counting only rises that lost all the
 * progress: momentum methods overshoot to twice their best and come back), or most steps
 * rejected (the runner's check). Budget: the seconds or steps ran out.
 */
import { divergenceMonitor, type DivergenceOptions } from '../optim/divergence.js';
import { checkKnownOptions, checkNumber } from '../optim/validate.js';
import type { StepInfo } from '../optim/types.js';

export type StopKind = 'converged' | 'diverged' | 'budget';

export const STOP_KINDS: readonly StopKind[] = ['converged', 'diverged', 'budget'];

export interface Stop {
  kind: StopKind;
  /** One line for people, e.g. 'gradient norm 2.1e-7 ≤ 1e-8 × its start 2.3e+1'. */
  reason: string;
}

export interface StoppingOptions {
  /** Relative gradient-norm tolerance (full-batch runs). Default 1e-8. */
  gradientTolerance?: number;
  /** A known lower bound of the loss; undefined: no floor rule. */
  lossFloor?: number;
  /** Relative distance to the floor that counts as reached. Default 1e-10. */
  lossTolerance?: number;
  /** Steps without a decrease before the run counts as converged (full-batch runs). Default 50. */
  patience?: number;
  /** Relative improvement of the best loss that counts as a decrease. Default 1e-9. */
  decreaseTolerance?: number;
  /** The persistent-rise rule's options (optim/divergence.ts). */
  divergence?: DivergenceOptions;
}

export type ResolvedStopping = Required<Omit<StoppingOptions, 'lossFloor' | 'divergence'>> & { lossFloor?: number; divergence: DivergenceOptions };

export function resolveStopping(options: StoppingOptions = {}): ResolvedStopping {
  const owner = 'stopping';
  checkKnownOptions(owner, options, ['gradientTolerance', 'lossFloor', 'lossTolerance', 'patience', 'decreaseTolerance', 'divergence']);
  const o: ResolvedStopping = {
    gradientTolerance: checkNumber(owner, 'gradientTolerance', options.gradientTolerance ?? 1e-8, { min: 0 }),
    lossTolerance: checkNumber(owner, 'lossTolerance', options.lossTolerance ?? 1e-10, { min: 0 }),
    patience: checkNumber(owner, 'patience', options.patience ?? 50, { min: 1, integer: true }),
    decreaseTolerance: checkNumber(owner, 'decreaseTolerance', options.decreaseTolerance ?? 1e-9, { min: 0 }),
    divergence: options.divergence ?? {},
  };
  if (options.lossFloor !== undefined) {
    if (typeof options.lossFloor !== 'number' || !Number.isFinite(options.lossFloor)) throw new RangeError(`stopping: option 'lossFloor' must be a finite number, got ${String(options.lossFloor)}`);
    o.lossFloor = options.lossFloor;
  }
  return o;
}

export interface StoppingRule {
  /**
   * After step `step` (1-based count of steps done) with its report; `fullBatch` says whether the
   * step's objective was the whole training set.
   */
  afterStep(step: number, info: StepInfo, fullBatch: boolean): Stop | undefined;
  /** After each curve point: the full-data training loss at `step`. */
  afterPoint(step: number, trainLoss: number): Stop | undefined;
}

const fmt = (x: number): string => x.toPrecision(3);

/** The rules of the module comment, with their state (one rule per run). */
export function stoppingRule(options: StoppingOptions = {}): StoppingRule {
  const o = resolveStopping(options);
  const rise = divergenceMonitor('full-data training loss', o.divergence);
  let pointBest = Infinity;
  let firstLoss: number | undefined;
  let firstGrad: number | undefined;
  let best = Infinity;
  let bestStep = 0;
  const atFloor = (step: number, loss: number): Stop | undefined => {
    if (firstLoss === undefined && Number.isFinite(loss)) firstLoss = loss;
    if (o.lossFloor === undefined || firstLoss === undefined || !Number.isFinite(loss)) return undefined;
    const gap = loss - o.lossFloor;
    if (gap <= o.lossTolerance * Math.max(0, firstLoss - o.lossFloor)) {
      return { kind: 'converged', reason: `loss ${fmt(loss)} at step ${step} reached the floor ${o.lossFloor} (within ${o.lossTolerance} of the start's gap)` };
    }
    return undefined;
  };
  // `loss` is the loss at the parameters after `step` steps.
  const decrease = (step: number, loss: number): Stop | undefined => {
    if (!Number.isFinite(loss)) return undefined;
    if (loss < best - o.decreaseTolerance * Math.abs(best) || best === Infinity) bestStep = step;
    best = Math.min(best, loss);
    if (step - bestStep >= o.patience) {
      return { kind: 'converged', reason: `no decrease of the loss (best ${fmt(best)} at step ${bestStep}) over ${o.patience} steps` };
    }
    return undefined;
  };
  return {
    afterStep(step, info, fullBatch) {
      if (!fullBatch) return undefined;
      if (info.converged !== undefined) return { kind: 'converged', reason: `the optimizer stopped: ${info.converged}` };
      // info.loss and gradNorm are at the step's start, the parameters after step − 1 steps.
      const start = step - 1;
      const stop = atFloor(start, info.loss) ?? decrease(start, info.loss);
      if (stop !== undefined) return stop;
      if (info.newLoss !== undefined) {
        const after = atFloor(step, info.newLoss) ?? decrease(step, info.newLoss);
        if (after !== undefined) return after;
      }
      if (Number.isFinite(info.gradNorm)) {
        if (firstGrad === undefined) firstGrad = info.gradNorm;
        if (info.gradNorm <= o.gradientTolerance * firstGrad) {
          return { kind: 'converged', reason: `gradient norm ${fmt(info.gradNorm)} at step ${start} fell to ${o.gradientTolerance} × its start ${fmt(firstGrad)}` };
        }
      }
      return undefined;
    },
    afterPoint(step, trainLoss) {
      if (!Number.isFinite(trainLoss)) return { kind: 'diverged', reason: `the full training loss is ${trainLoss} at step ${step}` };
      // Below the start a loss counts as no rise (its best so far), so only rises that lost all
      // the progress add up.
      const start = firstLoss ?? trainLoss;
      const event = rise.observe(step, trainLoss <= start ? Math.min(trainLoss, pointBest) : trainLoss);
      pointBest = Math.min(pointBest, trainLoss);
      if (event !== undefined) return { kind: 'diverged', reason: `${event.message}, above its start ${fmt(start)}` };
      return atFloor(step, trainLoss);
    },
  };
}

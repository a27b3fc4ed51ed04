/**
 * The runner: one optimizer on one problem with one seed, under a budget of seconds and/or
 * steps, recording a curve of (step, seconds, evaluations, curvature products, training loss,
 * test loss / accuracy). Seconds count optimizer work only: the evaluations that draw the curve
 * are excluded, so methods are compared on what they would cost in training.
 */
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { CheckpointError } from '../nn/checkpoint.js';
import { closeScope, detachedScope, keep, runInScope, sweepScope, tidy } from '../tensor/scope.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Objective, Optimizer, OptimizerState } from '../optim/types.js';
import { curvatureSampler } from '../curvature/diagnostics.js';
import type { CurvePointBase } from '../train/train.js';
import { divergenceMonitor, type DivergenceEvent } from '../optim/divergence.js';
import { batchSizeAt, checkBatchGrowth, checkBatchSize, hyperFor, resolveBatchSize, type Hyper, type ResolvedHyper } from './hyper.js';
import { stoppingRule, type Stop, type StopKind, type StoppingOptions } from './stopping.js';
import { problemById, type DataSize, type Evaluation, type ProblemInstance } from './problems.js';
import { MAX_STEPS, resumedParams, resumedSeqLength, resumedState, validateRunMetadata, type Checkpoint } from './resume.js';
import type { Communicator } from '../distributed/communicator.js';
import { checkRanksAgree, distributedInstance, fromRankZero } from './distributed-instance.js';

export { MAX_STEPS, validateRunMetadata } from './resume.js';

export interface CurvePoint extends CurvePointBase {
  trainReconstructionError?: number;
  /** Sequence tasks (`rnn-*`): fraction of fresh test sequences answered wrongly. */
  testError?: number;
  /** With `curvatureEvery`: the Hessian's top eigenvalue (power iteration) and Hutchinson trace ± stderr on the full training objective. */
  topEigenvalue?: number;
  hessianTrace?: number;
  hessianTraceStderr?: number;
  /** Problems with an exact solution (PINNs): relative L2 error of the model against it on a grid. */
  relL2?: number;
}

export interface RunRecord {
  problem: string;
  optimizer: string;
  seed: number;
  hyper: Hyper;
  curve: CurvePoint[];
  /** The last point, with what ended the run ('converged', 'diverged' or 'budget') and why. */
  final: CurvePoint & { stopped: StopKind; stopReason: string; rejectedSteps: number };
  /** Divergence signals (a persistent rise of the full-data training or the test loss; see optim/divergence.ts). */
  divergence?: DivergenceEvent[];
}

export interface Budget {
  seconds?: number;
  steps?: number;
}

/** A batch size the user asked for is larger than the problem's training set. */
export class BatchSizeError extends RangeError {
  constructor(readonly batchSize: number, readonly trainSize: number, problemId: string) {
    super(`batch size ${batchSize} exceeds the ${trainSize} training examples of '${problemId}': give at most ${trainSize}, or 'full'`);
    this.name = 'BatchSizeError';
  }
}

export interface RunOptions {
  size?: DataSize;
  /** Sequence length T of the `rnn-*` problems (default 30; other problems ignore it). */
  seqLength?: number;
  /**
   * Sample the top Hessian eigenvalue and trace at the curve points of every N-th step (outside
   * the timed work; curvatureSampler in curvature/diagnostics.ts).
   */
  curvatureEvery?: number;
  /** Replace the table's hyper-parameters. */
  hyper?: Hyper;
  /**
   * A numeric `hyper.batchSize` above the instance's training examples is an error
   * (`BatchSizeError`) instead of a batch of the whole set. Set by the command line when the
   * user gave the batch size; the table's sizes are capped at the data (the tiny data sizes).
   */
  strictBatchSize?: boolean;
  /**
   * What a step's seconds are: 'wall' (default, elapsed time) or 'cpu' (user + system time of
   * this process, all its threads). On a shared machine another process's load stretches wall
   * time, and stretches a method that waits on two threads more than one that mostly uses one;
   * CPU time counts the work instead (both threads of a parallel GEMM: no credit for using
   * them). Every budget and 'seconds' of the record is then in CPU seconds.
   */
  clock?: 'wall' | 'cpu';
  /** Called after each curve point (progress bars). */
  onPoint?: (p: CurvePoint, budget: Budget) => void;
  /** Resume from a saved run: parameters, optimizer state and counters. */
  resume?: Checkpoint;
  /**
   * End the run when it converges or diverges (bench/stopping.ts), not only at the budget:
   * true for the default rules, or the rules' options. The loss floor defaults to the problem's
   * known minimum (test functions) or 0 (the models' losses are non-negative). Off by default:
   * a run then makes exactly the steps of its budget unless its loss becomes non-finite.
   * The rules' state starts afresh on resume.
   */
  stopping?: boolean | StoppingOptions;
  /**
   * Data parallelism: every rank of `distributed` runs this same call on its shard of every
   * batch, with all-reduced objectives (bench/distributed-instance.ts); the record and
   * checkpoints are the same on every rank (the caller lets rank 0 print and save them).
   */
  distributed?: Communicator;
}

export type { Checkpoint, RunMetadata } from './resume.js';

/** What `runSteps` yields after each step: the step count and the run's state as a checkpoint. */
export interface RunProgress {
  step: number;
  seconds: number;
  checkpoint: () => Checkpoint;
}

/** Parse `60s`, `2m`, `500steps`, `500` (steps) into a budget. */
export function parseBudget(text: string): Budget {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds|m|min|steps?)?\s*$/i.exec(text);
  if (m === null) throw new RangeError(`cannot parse budget '${text}': use e.g. 60s, 2m or 500steps`);
  const v = Number(m[1]);
  const unit = (m[2] ?? 'steps').toLowerCase();
  if (!(v > 0)) throw new RangeError(`budget '${text}' must be positive`);
  if (unit.startsWith('m')) return { seconds: v * 60 };
  if (unit.startsWith('s') && !unit.startsWith('step')) return { seconds: v };
  if (!Number.isInteger(v)) throw new RangeError(`budget '${text}': a step count must be an integer`);
  if (v > MAX_STEPS) throw new RangeError(`budget '${text}': at most ${MAX_STEPS} steps`);
  return { steps: v };
}

function stepObjective(inst: ProblemInstance, hyper: ResolvedHyper, step: number, wantsFull = false): Objective {
  // A hybrid's full-batch phase (L-BFGS after Adam) gets the full objective on a mini-batch run.
  const size = batchSizeAt(hyper, step);
  return size === 'full' || wantsFull ? inst.full : inst.batch(step, size);
}

export function runOne(problemId: string, optimizerId: string, seed: number, budget: Budget, options: RunOptions = {}): { record: RunRecord; checkpoint: Checkpoint } {
  const run = runSteps(problemId, optimizerId, seed, budget, options);
  for (;;) {
    const r = run.next();
    if (r.done === true) return r.value;
  }
}

/**
 * `runOne` one step at a time: yields after every step (so that a caller can save checkpoints
 * or handle signals between steps) and returns the record and final checkpoint.
 */
export function* runSteps(problemId: string, optimizerId: string, seed: number, budget: Budget, options: RunOptions = {}): Generator<RunProgress, { record: RunRecord; checkpoint: Checkpoint }, void> {
  const problem = problemById(problemId);
  const entry = optimizerEntry(optimizerId);
  if (budget.seconds === undefined && budget.steps === undefined) throw new RangeError('runOne: the budget needs seconds or steps');
  const row = options.hyper ?? hyperFor(problemId, problem.kind, optimizerId);
  checkBatchSize(row.batchSize);
  if (typeof row.batchSize !== 'object') checkBatchGrowth(row);
  const r = options.resume;
  if (r !== undefined) validateRunMetadata(r);
  const seqLength = resumedSeqLength(problemId, options.seqLength, r);
  const built = problem.build(seed, { size: options.size ?? 'small', seqLength });
  const comm = options.distributed;
  const inst = comm === undefined ? built : distributedInstance(problemId, built, comm);
  // A share of the training set becomes a count here; the record and checkpoints hold the count.
  const hyper = resolveBatchSize(row, built.trainSize);
  checkBatchGrowth(hyper);
  if (options.strictBatchSize === true && typeof hyper.batchSize === 'number' && hyper.batchSize > built.trainSize) {
    throw new BatchSizeError(hyper.batchSize, built.trainSize, problemId);
  }
  const opt: Optimizer = entry.create(hyper.options);
  if (r !== undefined && (r.problem !== problemId || r.optimizer !== optimizerId || r.seed !== seed)) {
    throw new RangeError(`cannot resume: the checkpoint is for problem '${r.problem}', optimizer '${r.optimizer}', seed ${r.seed}`);
  }
  if (r !== undefined && JSON.stringify(r.hyper) !== JSON.stringify(hyper)) {
    throw new CheckpointError(`the checkpoint was made with hyper-parameters ${JSON.stringify(r.hyper)}, this run uses ${JSON.stringify(hyper)}; it would not continue the same run`);
  }
  // Resumed trees are checked against a fresh instance (shapes, dtypes, finite values), so a
  // bad file fails here naming the tensor, not inside a kernel or silently with fresh weights.
  let params: PyTree = r !== undefined ? resumedParams(r.params, inst.params) : inst.params;
  let state: OptimizerState = r !== undefined ? resumedState(r.state, opt.init(inst.params)) : opt.init(params);
  if (comm !== undefined) checkRanksAgree(params, state, comm);
  const lengthField = seqLength === undefined ? {} : { seqLength };
  let step = r?.step ?? 0;
  let seconds = r?.seconds ?? 0;
  let evals = r?.evals ?? 0;
  let curvatureProducts = r?.curvatureProducts ?? 0;
  let rejected = 0;
  // Tracks what the steps return (parameters, state), so that each step frees the one before.
  const carried = detachedScope();
  const curve: CurvePoint[] = [];
  // Divergence monitors read the curve's full-data losses, never the mini-batch loss.
  const divergence: DivergenceEvent[] = [];
  const monitors = { train: divergenceMonitor('full-data training loss'), test: divergenceMonitor('test loss') };
  const watch = (p: CurvePoint): void => {
    const fired = [monitors.train.observe(p.step, p.trainLoss), p.testLoss === undefined ? undefined : monitors.test.observe(p.step, p.testLoss)];
    for (const e of fired) if (e !== undefined) divergence.push(e);
  };
  const every = options.curvatureEvery;
  if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) throw new RangeError(`runOne: curvatureEvery must be a positive integer, got ${every}`);
  const sampler = every === undefined ? undefined : curvatureSampler(inst.full, 1, { seed });
  // Curve points fall at geometrically spaced steps: sample at the first point of each new
  // multiple of `every` (and at step 0), so a sample is at most one curve point late.
  let sampledBlock = -1;
  const sampleCurvature = sampler === undefined || every === undefined ? undefined : (k: number, p: PyTree) => {
    const block = Math.floor(k / every);
    if (block === sampledBlock) return undefined;
    sampledBlock = block;
    return sampler(k, p);
  };
  const evalPoint = (): CurvePoint => {
    const e: Evaluation = tidy(() => inst.evaluate(params));
    const p: CurvePoint = { step, seconds, evals, curvatureProducts, trainLoss: e.trainLoss };
    if (e.testLoss !== undefined) p.testLoss = e.testLoss;
    if (e.testAccuracy !== undefined) p.testAccuracy = e.testAccuracy;
    if (e.trainReconstructionError !== undefined) p.trainReconstructionError = e.trainReconstructionError;
    if (e.relL2 !== undefined) p.relL2 = e.relL2;
    if (e.testError !== undefined) p.testError = e.testError;
    const c = sampleCurvature?.(step, params);
    if (c !== undefined) Object.assign(p, { topEigenvalue: c.topEigenvalue, hessianTrace: c.trace, hessianTraceStderr: c.traceStderr });
    curve.push(p);
    watch(p);
    options.onPoint?.(p, budget);
    return p;
  };
  evalPoint();
  let nextEvalStep = step + 1;
  let lastEvalSeconds = seconds;
  const evalInterval = budget.seconds !== undefined ? budget.seconds / 50 : Infinity;
  let stop: Stop | undefined;
  const rule = options.stopping === undefined || options.stopping === false ? undefined
    : stoppingRule({ lossFloor: problem.fStar ?? (problem.kind === 'function' ? undefined : 0), ...(options.stopping === true ? {} : options.stopping) });
  const fullBatch = hyper.batchSize === 'full';
  if (options.clock !== undefined && options.clock !== 'wall' && options.clock !== 'cpu') throw new RangeError(`runOne: option 'clock' must be 'wall' or 'cpu', got ${JSON.stringify(options.clock)}`);
  const cpuClock = options.clock === 'cpu';
  if (rule !== undefined) stop = rule.afterPoint(curve[0].step, curve[0].trainLoss);
  while (stop === undefined) {
    if (budget.steps !== undefined && step >= budget.steps) break;
    if (budget.seconds !== undefined && seconds >= budget.seconds) break;
    const t0 = cpuClock ? 0n : process.hrtime.bigint();
    const c0 = cpuClock ? process.cpuUsage() : undefined;
    const res = runInScope(carried, () => opt.step(params, state, stepObjective(inst, hyper, step, opt.fullBatch?.(state) === true)));
    let dt: number;
    if (c0 !== undefined) {
      const c = process.cpuUsage(c0);
      dt = (c.user + c.system) / 1e6;
    } else {
      dt = Number(process.hrtime.bigint() - t0) / 1e9;
    }
    seconds += fromRankZero(comm, dt);
    params = res.params;
    state = res.state;
    // The previous step's parameters and state go back to the pool (the initial ones are not ours).
    sweepScope(carried, [params, state]);
    step++;
    evals += res.info.evals;
    curvatureProducts += res.info.curvatureProducts;
    if (!res.info.accepted) rejected++;
    stop = rule?.afterStep(step, res.info, fullBatch);
    const due = step >= nextEvalStep || seconds - lastEvalSeconds >= evalInterval;
    const last = (budget.steps !== undefined && step >= budget.steps) || (budget.seconds !== undefined && seconds >= budget.seconds);
    if (due || last || stop !== undefined) {
      const p = evalPoint();
      lastEvalSeconds = seconds;
      nextEvalStep = Math.max(step + 1, Math.ceil(step * 1.15));
      if (!Number.isFinite(p.trainLoss)) stop = { kind: 'diverged', reason: `the full training loss is ${p.trainLoss} at step ${step}` };
      else stop = rule?.afterPoint(step, p.trainLoss) ?? stop;
    }
    if (stop === undefined && rejected > 20 && rejected > step / 2) stop = { kind: 'diverged', reason: `${rejected} of ${step} steps rejected (non-finite values)` };
    if (stop !== undefined) break;
    // A checkpoint the caller takes may be held past the next step: its tensors leave the
    // runner's scope (kept), so sweeping the next step cannot release them under the caller.
    yield {
      step, seconds, checkpoint: () => {
        for (const t of treeLeaves([params, state])) keep(t);
        return { problem: problemId, optimizer: optimizerId, seed, step, seconds, evals, curvatureProducts, params, state, hyper, ...lengthField };
      },
    };
  }
  // What the steps made and the result keeps moves to the caller's scope, if any.
  closeScope(carried, [params, state]);
  if (curve[curve.length - 1].step !== step) evalPoint();
  stop ??= { kind: 'budget', reason: budget.steps !== undefined && step >= budget.steps ? `the budget of ${budget.steps} steps ran out` : `the budget of ${budget.seconds ?? 0} s ran out` };
  const final = { ...curve[curve.length - 1], stopped: stop.kind, stopReason: stop.reason, rejectedSteps: rejected };
  return {
    record: { problem: problemId, optimizer: optimizerId, seed, hyper, curve, final, divergence },
    checkpoint: { problem: problemId, optimizer: optimizerId, seed, step, seconds, evals, curvatureProducts, params, state, hyper, ...lengthField },
  };
}

/** The CLI's one warning line for a run whose losses rose persistently (undefined when none did). */
export function divergenceWarning(record: RunRecord): string | undefined {
  const events = record.divergence ?? [];
  if (events.length === 0) return undefined;
  return `warning: ${record.optimizer} on ${record.problem} (seed ${record.seed}): ${events.map((e) => e.message).join('; ')}`;
}

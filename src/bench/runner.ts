/**
 * The runner: one optimizer on one problem with one seed, under a budget of seconds and/or
 * steps, recording a curve of (step, seconds, evaluations, curvature products, training loss,
 * test loss / accuracy). Seconds count optimizer work only: the evaluations that draw the curve
 * are excluded, so methods are compared on what they would cost in training.
 */
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { CheckpointError } from '../nn/checkpoint.js';
import type { Tensor } from '../tensor/tensor.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Objective, Optimizer, OptimizerState } from '../optim/types.js';
import { hyperFor, type Hyper } from './hyper.js';
import { problemById, type DataSize, type Evaluation, type ProblemInstance } from './problems.js';

export interface CurvePoint {
  step: number;
  seconds: number;
  evals: number;
  curvatureProducts: number;
  trainLoss: number;
  testLoss?: number;
  testAccuracy?: number;
  trainReconstructionError?: number;
}

export interface RunRecord {
  problem: string;
  optimizer: string;
  seed: number;
  hyper: Hyper;
  curve: CurvePoint[];
  final: CurvePoint & { stopped: string; rejectedSteps: number };
}

export interface Budget {
  seconds?: number;
  steps?: number;
}

export interface RunOptions {
  size?: DataSize;
  /** Replace the table's hyper-parameters. */
  hyper?: Hyper;
  /** Called after each curve point (progress bars). */
  onPoint?: (p: CurvePoint, budget: Budget) => void;
  /** Resume from a saved run: parameters, optimizer state and counters. */
  resume?: Checkpoint;
}

export interface Checkpoint {
  problem: string;
  optimizer: string;
  seed: number;
  step: number;
  seconds: number;
  evals: number;
  curvatureProducts: number;
  params: PyTree;
  state: OptimizerState;
  hyper: Hyper;
}

/** A checkpoint's identity and counters: everything but the trees. */
export type RunMetadata = Omit<Checkpoint, 'params' | 'state'>;

/** What `runSteps` yields after each step: the step count and the run's state as a checkpoint. */
export interface RunProgress {
  step: number;
  seconds: number;
  checkpoint: () => Checkpoint;
}

/**
 * The most steps a run may take: one billion (days of the cheapest step on the smallest
 * problem). A larger count is an error, not a run that never ends; above 2^53 a step counter
 * would stop counting.
 */
export const MAX_STEPS = 1_000_000_000;

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

function stepObjective(inst: ProblemInstance, hyper: Hyper, step: number): Objective {
  return hyper.batchSize === 'full' ? inst.full : inst.batch(step, hyper.batchSize);
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
  const hyper = options.hyper ?? hyperFor(problemId, problem.kind, optimizerId);
  const inst = problem.build(seed, { size: options.size ?? 'small' });
  const opt: Optimizer = entry.create(hyper.options);
  const r = options.resume;
  if (r !== undefined) validateRunMetadata(r);
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
  let step = r?.step ?? 0;
  let seconds = r?.seconds ?? 0;
  let evals = r?.evals ?? 0;
  let curvatureProducts = r?.curvatureProducts ?? 0;
  let rejected = 0;
  const curve: CurvePoint[] = [];
  const evalPoint = (): CurvePoint => {
    const e: Evaluation = inst.evaluate(params);
    const p: CurvePoint = { step, seconds, evals, curvatureProducts, trainLoss: e.trainLoss };
    if (e.testLoss !== undefined) p.testLoss = e.testLoss;
    if (e.testAccuracy !== undefined) p.testAccuracy = e.testAccuracy;
    if (e.trainReconstructionError !== undefined) p.trainReconstructionError = e.trainReconstructionError;
    curve.push(p);
    options.onPoint?.(p, budget);
    return p;
  };
  evalPoint();
  let nextEvalStep = step + 1;
  let lastEvalSeconds = seconds;
  const evalInterval = budget.seconds !== undefined ? budget.seconds / 50 : Infinity;
  let stopped = 'budget';
  while (true) {
    if (budget.steps !== undefined && step >= budget.steps) break;
    if (budget.seconds !== undefined && seconds >= budget.seconds) break;
    const obj = stepObjective(inst, hyper, step);
    const t0 = process.hrtime.bigint();
    const res = opt.step(params, state, obj);
    seconds += Number(process.hrtime.bigint() - t0) / 1e9;
    params = res.params;
    state = res.state;
    step++;
    evals += res.info.evals;
    curvatureProducts += res.info.curvatureProducts;
    if (!res.info.accepted) rejected++;
    const due = step >= nextEvalStep || seconds - lastEvalSeconds >= evalInterval;
    const last = (budget.steps !== undefined && step >= budget.steps) || (budget.seconds !== undefined && seconds >= budget.seconds);
    if (due || last) {
      const p = evalPoint();
      lastEvalSeconds = seconds;
      nextEvalStep = Math.max(step + 1, Math.ceil(step * 1.15));
      if (!Number.isFinite(p.trainLoss)) {
        stopped = 'diverged';
        break;
      }
    }
    if (rejected > 20 && rejected > step / 2) {
      stopped = 'most steps rejected';
      break;
    }
    yield { step, seconds, checkpoint: () => ({ problem: problemId, optimizer: optimizerId, seed, step, seconds, evals, curvatureProducts, params, state, hyper }) };
  }
  if (curve[curve.length - 1].step !== step) evalPoint();
  const final = { ...curve[curve.length - 1], stopped, rejectedSteps: rejected };
  return {
    record: { problem: problemId, optimizer: optimizerId, seed, hyper, curve, final },
    checkpoint: { problem: problemId, optimizer: optimizerId, seed, step, seconds, evals, curvatureProducts, params, state, hyper },
  };
}

const COUNTERS = ['seed', 'step', 'evals', 'curvatureProducts'] as const;
const FIELDS = new Set(['problem', 'optimizer', 'seed', 'step', 'seconds', 'evals', 'curvatureProducts', 'hyper', 'params', 'state']);

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null);
}

/**
 * Checks every field of a checkpoint's run metadata (identity, counters, hyper-parameters):
 * a `CheckpointError` names the first bad field and its value. A non-numeric or negative step
 * would otherwise make the step loop never end.
 */
export function validateRunMetadata(m: unknown): RunMetadata {
  const bad = (field: string, why: string, v: unknown): never => {
    const text = JSON.stringify(v) ?? String(v);
    throw new CheckpointError(`run metadata field '${field}' ${why}, got ${text.length > 80 ? `${text.slice(0, 80)}...` : text}`);
  };
  if (!isPlainObject(m)) return bad('(root)', 'must be an object', m);
  for (const k of Object.keys(m)) if (!FIELDS.has(k)) bad(k, 'is not a field of a run checkpoint', m[k]);
  for (const k of ['problem', 'optimizer'] as const) {
    if (typeof m[k] !== 'string') bad(k, 'must be a string', m[k]);
  }
  try {
    problemById(m.problem as string);
  } catch (e) {
    bad('problem', `is not a known problem (${e instanceof Error ? e.message : String(e)})`, m.problem);
  }
  try {
    optimizerEntry(m.optimizer as string);
  } catch (e) {
    bad('optimizer', `is not a known optimizer (${e instanceof Error ? e.message : String(e)})`, m.optimizer);
  }
  for (const k of COUNTERS) {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(k, 'must be a non-negative integer', v);
  }
  if ((m.step as number) > MAX_STEPS) bad('step', `must be at most ${MAX_STEPS}`, m.step);
  if (typeof m.seconds !== 'number' || !Number.isFinite(m.seconds) || m.seconds < 0) bad('seconds', 'must be a finite number >= 0', m.seconds);
  const h = m.hyper;
  if (!isPlainObject(h)) return bad('hyper', 'must be an object { options, batchSize }', h);
  for (const k of Object.keys(h)) if (k !== 'options' && k !== 'batchSize') bad(`hyper.${k}`, 'is not a field of hyper', h[k]);
  if (!isPlainObject(h.options)) bad('hyper.options', 'must be an object', h.options);
  const b = h.batchSize;
  if (b !== 'full' && (typeof b !== 'number' || !Number.isSafeInteger(b) || b < 1)) bad('hyper.batchSize', "must be 'full' or a positive integer", b);
  return m as unknown as RunMetadata;
}

function checkFinite(where: string, leaves: readonly Tensor[], paths: readonly string[]): void {
  leaves.forEach((t, i) => {
    const j = t.data.findIndex((v) => !Number.isFinite(v));
    if (j >= 0) throw new CheckpointError(`tensor '${where}.${paths[i]}' holds a non-finite value (${t.data[j]} at flat index ${j}); refusing to resume from it`);
  });
}

/** The saved parameters in the fresh instance's structure, after checking paths, shapes, dtypes and values. */
function resumedParams(saved: unknown, fresh: PyTree): PyTree {
  if (saved === undefined || saved === null || typeof saved !== 'object') {
    throw new CheckpointError(`the checkpoint holds no parameter tree (got ${String(saved)})`);
  }
  const want = treePaths(fresh);
  const have = treePaths(saved);
  const missing = want.filter((p) => !have.includes(p));
  const extra = have.filter((p) => !want.includes(p));
  if (missing.length > 0 || extra.length > 0 || want.length !== have.length) {
    throw new CheckpointError(`the parameter tree does not match the problem's model: ${missing.length > 0 ? `missing ${missing.map((p) => `'params.${p}'`).join(', ')}` : ''}${missing.length > 0 && extra.length > 0 ? '; ' : ''}${extra.length > 0 ? `unexpected ${extra.map((p) => `'params.${p}'`).join(', ')}` : ''}`);
  }
  const byPath = new Map(treeLeaves(saved).map((t, i) => [have[i], t]));
  const leaves = treeLeaves(fresh).map((f, i) => {
    const t = byPath.get(want[i]);
    if (t === undefined) throw new CheckpointError(`tensor 'params.${want[i]}' is missing`);
    if (t.shape.length !== f.shape.length || t.shape.some((d, k) => d !== f.shape[k])) {
      throw new CheckpointError(`tensor 'params.${want[i]}' has shape [${t.shape.join(', ')}], the model needs [${f.shape.join(', ')}]`);
    }
    if (t.dtype !== f.dtype) throw new CheckpointError(`tensor 'params.${want[i]}' is ${t.dtype}, the model needs ${f.dtype}`);
    return t;
  });
  checkFinite('params', leaves, want);
  return treeUnflatten(fresh, leaves);
}

/** The saved optimizer state, after checking its values and the tensors it shares with a fresh state. */
function resumedState(saved: unknown, fresh: OptimizerState): OptimizerState {
  if (saved === undefined || saved === null || typeof saved !== 'object') {
    throw new CheckpointError(`the checkpoint holds no optimizer state (got ${String(saved)})`);
  }
  const freshPaths = treePaths(fresh);
  const freshByPath = new Map(treeLeaves(fresh).map((t, i) => [freshPaths[i], t]));
  const paths = treePaths(saved);
  const leaves = treeLeaves(saved);
  leaves.forEach((t, i) => {
    const f = freshByPath.get(paths[i]);
    if (f === undefined) return; // state that grows with the run (histories) has no fresh twin
    if (t.shape.length !== f.shape.length || t.shape.some((d, k) => d !== f.shape[k])) {
      throw new CheckpointError(`tensor 'state.${paths[i]}' has shape [${t.shape.join(', ')}], the optimizer needs [${f.shape.join(', ')}]`);
    }
    if (t.dtype !== f.dtype) throw new CheckpointError(`tensor 'state.${paths[i]}' is ${t.dtype}, the optimizer needs ${f.dtype}`);
  });
  checkFinite('state', leaves, paths);
  return saved as OptimizerState;
}

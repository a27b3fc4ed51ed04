/**
 * Checks for resuming a run from a checkpoint: every field of the run metadata, and the saved
 * parameter and optimizer-state trees against a fresh instance (paths, shapes, dtypes, finite
 * values). Errors are `CheckpointError`s naming the field or the tensor; the CLI adds the file.
 */
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { CheckpointError } from '../nn/checkpoint.js';
import { optimizerEntry } from '../optim/registry.js';
import type { OptimizerState } from '../optim/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { problemById } from './problems.js';
import { DEFAULT_SEQ_LENGTH } from './rnn-problems.js';
import type { Hyper } from './hyper.js';

/** A run's state on disk: identity, counters, parameters and optimizer state. */
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
  /**
   * Sequence length T of an `rnn-*` run (absent for other problems): a resumed run continues on
   * sequences of this length, and asking for another is refused.
   */
  seqLength?: number;
}

/** A checkpoint's identity and counters: everything but the trees. */
export type RunMetadata = Omit<Checkpoint, 'params' | 'state'>;

/**
 * The most steps a run may take: one billion (days of the cheapest step on the smallest
 * problem). A larger count is an error, not a run that never ends; above 2^53 a step counter
 * would stop counting.
 */
export const MAX_STEPS = 1_000_000_000;

const COUNTERS = ['seed', 'step', 'evals', 'curvatureProducts'] as const;
const FIELDS = new Set(['problem', 'optimizer', 'seed', 'step', 'seconds', 'evals', 'curvatureProducts', 'hyper', 'seqLength', 'params', 'state']);

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
  if (m.seqLength !== undefined) {
    const t = m.seqLength;
    if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 1) bad('seqLength', 'must be a positive integer', t);
    if (!(m.problem as string).startsWith('rnn-')) bad('seqLength', `applies to the rnn-* problems, not to '${m.problem as string}'`, t);
  }
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
export function resumedParams(saved: unknown, fresh: PyTree): PyTree {
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
export function resumedState(saved: unknown, fresh: OptimizerState): OptimizerState {
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

/**
 * The sequence length a run of `problemId` uses: the one asked for, else the checkpoint's, else
 * the `rnn-*` default. A checkpoint of another length is refused naming the field: its
 * parameters would fit, but it would not continue the same run.
 */
export function resumedSeqLength(problemId: string, asked: number | undefined, resume: RunMetadata | undefined): number | undefined {
  if (!problemId.startsWith('rnn-')) return asked;
  const saved = resume?.seqLength;
  if (saved !== undefined && asked !== undefined && saved !== asked) {
    throw new CheckpointError(`run metadata field 'seqLength' is ${saved}: the checkpoint was made on sequences of length ${saved}, this run asks for --seq-length ${asked}; it would not continue the same run`);
  }
  return asked ?? saved ?? DEFAULT_SEQ_LENGTH;
}

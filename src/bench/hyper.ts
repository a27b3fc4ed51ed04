/**
 * Hyper-parameters per (problem, optimizer): the documented table the benchmark suite uses, and
 * the small grids `--tune` searches. A row says the optimizer's options and its batch size
 * ('full' = the whole training set every step, as deterministic methods expect).
 *
 * How the table was set: learning rates of the first-order baselines were picked on the grids
 * below by `hessian bench --tune` on the `small` data sizes (seed 0); second-order methods use
 * their papers' defaults. Test functions (mgh/*) run every method full-batch.
 */
import type { ProblemKind } from './problems.js';
import { SEQUENCE_TASKS } from '../data/sequence-tasks.js';

export interface Hyper {
  options: Record<string, unknown>;
  /**
   * Examples per step: a positive integer, 'full', or `{ fraction }`, a share of the training
   * set, ⌊fraction · n⌉ examples (at least one) on the instance's n training examples (the runner
   * resolves it before the first step; its records and checkpoints hold the number). A step's
   * progress on a mini-batch method such as Hessian-free can scale with that share (the README's
   * MNIST rounds, under "What one step costs"), so one share holds across data sizes where one
   * count does not.
   */
  batchSize: BatchSize;
  /**
   * Grow the batch over training (Martens & Sutskever 2012; Byrd et al. 2012's dynamic
   * sampling): step k draws ⌊from · (batchSize/from)^(k/steps)⌉ examples (geometric growth),
   * `batchSize` from step `steps` on. Cheap steps on small batches early, when they are worth as
   * much as large ones. Needs a numeric batchSize.
   */
  batchGrowth?: BatchGrowth;
}

export type BatchSize = number | 'full' | BatchFraction;

/** A row whose batch size is a count (or 'full'): what the runner steps with. */
export type ResolvedHyper = Hyper & { batchSize: number | 'full' };

/** A batch as a share of the training set (0 < fraction ≤ 1). */
export interface BatchFraction {
  fraction: number;
}

/** Checks a row's batch size: an error names the value and what it may be. */
export function checkBatchSize(b: unknown): asserts b is BatchSize {
  if (b === 'full') return;
  if (typeof b === 'number') {
    if (!Number.isSafeInteger(b) || b < 1) throw new RangeError(`hyper: 'batchSize' must be a positive integer, 'full' or {fraction}, got ${b}`);
    return;
  }
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw new RangeError(`hyper: 'batchSize' must be a positive integer, 'full' or {fraction}, got ${JSON.stringify(b)}`);
  const unknown = Object.keys(b).filter((k) => k !== 'fraction');
  if (unknown.length > 0) throw new RangeError(`hyper: 'batchSize' as a share takes only 'fraction', got unknown ${unknown.map((k) => `'${k}'`).join(', ')}`);
  const f = (b as { fraction?: unknown }).fraction;
  if (typeof f !== 'number' || !(f > 0 && f <= 1)) throw new RangeError(`hyper: 'batchSize.fraction' must be a number in (0, 1], got ${JSON.stringify(f)}`);
}

/**
 * The row with a share of the training set (`{ fraction }`) turned into a count of examples
 * for `trainSize` examples: ⌊fraction · n⌉, at least one. Other batch sizes are kept as they are.
 */
export function resolveBatchSize(h: Hyper, trainSize: number): ResolvedHyper {
  checkBatchSize(h.batchSize);
  const b = h.batchSize;
  if (typeof b !== 'object') return { ...h, batchSize: b };
  return { ...h, batchSize: Math.max(1, Math.round(b.fraction * trainSize)) };
}

/** A batch size as the command line and reports print it: 500, full, 25% of the training set. */
export function batchSizeText(b: BatchSize): string {
  return typeof b === 'object' ? `${+(b.fraction * 100).toPrecision(12)}% of the training set` : String(b);
}

export interface BatchGrowth {
  /** The batch size at step 0 (a positive integer, at most batchSize). */
  from: number;
  /** The step from which the batch size is `batchSize` (a positive integer). */
  steps: number;
}

/**
 * Options that say one thing two ways: a layer that gives one of a group drops the others that
 * the layers below it gave (the autoencoders' `curvatureExamples` over the base row's
 * `curvatureFraction`, or `--set curvatureFraction=0.1` over a row's `curvatureExamples`), where
 * keeping both would be refused by the optimizer.
 */
const ALTERNATIVES: readonly (readonly string[])[] = [['curvatureFraction', 'curvatureExamples']];

/** `over`'s options on top of `base`'s, a given option replacing its alternatives (ALTERNATIVES). */
export function mergeOptions(base: Record<string, unknown>, over: Record<string, unknown> | undefined): Record<string, unknown> {
  const out = { ...base };
  if (over === undefined) return out;
  for (const group of ALTERNATIVES) {
    if (group.some((k) => k in over)) for (const k of group) if (!(k in over)) delete out[k];
  }
  return Object.assign(out, over);
}

/** Checks a row's batch growth: an error names the field and the value. */
export function checkBatchGrowth(h: Hyper): void {
  const g = h.batchGrowth;
  if (g === undefined) return;
  if (g === null || typeof g !== 'object') throw new RangeError(`hyper: 'batchGrowth' must be {from, steps}, got ${JSON.stringify(g)}`);
  const unknown = Object.keys(g).filter((k) => k !== 'from' && k !== 'steps');
  if (unknown.length > 0) throw new RangeError(`hyper: 'batchGrowth' takes 'from' and 'steps', got unknown ${unknown.map((k) => `'${k}'`).join(', ')}`);
  if (typeof h.batchSize !== 'number') throw new RangeError(`hyper: 'batchGrowth' grows the batch up to a numeric batchSize, got batchSize ${JSON.stringify(h.batchSize)}`);
  if (typeof g.from !== 'number' || !Number.isSafeInteger(g.from) || g.from < 1 || g.from > h.batchSize) throw new RangeError(`hyper: 'batchGrowth.from' must be an integer in [1, batchSize = ${h.batchSize}], got ${JSON.stringify(g.from)}`);
  if (typeof g.steps !== 'number' || !Number.isSafeInteger(g.steps) || g.steps < 1) throw new RangeError(`hyper: 'batchGrowth.steps' must be a positive integer, got ${JSON.stringify(g.steps)}`);
}

/** The batch size of step k (0-based) under a row's batch size and growth. */
export function batchSizeAt(h: ResolvedHyper, k: number): number | 'full' {
  const g = h.batchGrowth;
  if (g === undefined || typeof h.batchSize !== 'number' || k >= g.steps) return h.batchSize;
  return Math.min(h.batchSize, Math.max(g.from, Math.round(g.from * Math.pow(h.batchSize / g.from, k / g.steps))));
}

const BASE: Record<string, Hyper> = {
  sgd: { options: { lr: 0.05 }, batchSize: 128 },
  momentum: { options: { lr: 0.01, momentum: 0.9 }, batchSize: 128 },
  adam: { options: { lr: 1e-3 }, batchSize: 128 },
  adamw: { options: { lr: 1e-3, weightDecay: 1e-4 }, batchSize: 128 },
  rmsprop: { options: { lr: 1e-3 }, batchSize: 128 },
  adagrad: { options: { lr: 0.05 }, batchSize: 128 },
  lbfgs: { options: {}, batchSize: 'full' },
  olbfgs: { options: { lr: 0.1 }, batchSize: 256 },
  'hessian-free': { options: { damping: 1, curvatureFraction: 0.25, cgMaxIter: 100 }, batchSize: 'full' },
  'newton-cg': { options: { curvatureFraction: 0.1 }, batchSize: 'full' },
  kfac: { options: {}, batchSize: 256 },
  ekfac: { options: {}, batchSize: 256 },
  // Kronecker-family first-order-cost methods: their papers' defaults, Adam's batch size.
  shampoo: { options: {}, batchSize: 128 },
  soap: { options: {}, batchSize: 128 },
  muon: { options: {}, batchSize: 128 },
  adahessian: { options: {}, batchSize: 128 },
  // Sophia's paper tunes its rate per model (its code defaults to 1e-4): 0.01 was the best of
  // 1e-3, 3e-3, 0.01 on mlp-spirals (400 steps, seed 0) for both estimators.
  'sophia-h': { options: { lr: 0.01 }, batchSize: 128 },
  'sophia-g': { options: { lr: 0.01 }, batchSize: 128 },
  // Adam's phase on mini-batches like adam; the L-BFGS phase asks the runner for the full batch.
  'adam-lbfgs': { options: {}, batchSize: 128 },
};

/** Overrides by problem kind, then by problem id (later wins). */
const BY_KIND: Partial<Record<ProblemKind, Record<string, Partial<Hyper>>>> = {
  function: {
    sgd: { options: { lr: 1e-4 }, batchSize: 'full' },
    momentum: { options: { lr: 1e-4, momentum: 0.9 }, batchSize: 'full' },
    adam: { options: { lr: 0.01 }, batchSize: 'full' },
    adamw: { options: { lr: 0.01, weightDecay: 0 }, batchSize: 'full' },
    rmsprop: { options: { lr: 1e-3 }, batchSize: 'full' },
    adagrad: { options: { lr: 0.1 }, batchSize: 'full' },
    olbfgs: { options: { lr: 0.5 }, batchSize: 'full' },
    'hessian-free': { options: { curvature: 'hessian', damping: 1 }, batchSize: 'full' },
    'newton-cg': { options: { curvatureFraction: 1 }, batchSize: 'full' },
  },
  autoencoder: {
    sgd: { options: { lr: 0.01 } },
    momentum: { options: { lr: 2e-3, momentum: 0.9 } },
    // Mini-batch HF (Martens & Sutskever 2012; Kiros 2013): gradient on 500 examples, curvature
    // on 100 of them, 8 CG iterations warm-started from 0.95 × the previous solution; the step is
    // judged (ρ, CG backtracking, an Armijo line search) on another 100 of the batch, disjoint from
    // the curvature's (evaluateOn 'held-out'): a step is never taken on the word of the data it
    // was fitted to, and the line search catches steps that would wreck the net (without it,
    // steps at small λ sent CURVES to a dead plateau at 158 or to losses of 8000). λ starts at
    // 45 (Martens 2010) and is floored at 0.3. Batch, curvature share and CG limit picked on CURVES
    // by the loss after 120 s of optimizer time, candidates interleaved in one process (seed 0):
    // 83.8 against 88.6 for batch 500 with curvature on 50, 97.1 with 12 CG iterations and 111
    // with 3; batch 250, curvature on 50, 5 iterations (the previous row) 103 against 96.0 for
    // batch 500, curvature on 50, 8 iterations in another round; checked on MNIST. CG solves
    // against the bias-corrected average of the steps' gradients with decay 0.2 (gradientDecay):
    // on CURVES, 120 s interleaved, seed 0, 40.6 against 42.3 (0.3), 124.6 (0.45, stuck on the
    // plateau) and Adam's 44.4; in the round before, 0.3 ended at 42.5, 0.6 at 72.4 and the row
    // without it at 56.3 (Adam 42.3). Checked on CURVES seed 1 (40.4 against 57.8 without, Adam
    // 42.8), on MNIST (59.7 against 60.6, Adam 48.3) and on CURVES at paper size, where it cost
    // a little (62.4 against 60.6, Adam 63.5).
    'hessian-free': { options: { damping: 45, minDamping: 0.3, curvatureExamples: 100, cgMaxIter: 8, evaluateOn: 'held-out', lineSearch: true, gradientDecay: 0.2 }, batchSize: 500 },
  },
};

// Physics-informed problems train on all collocation points every step (Raissi et al. 2019);
// the switch comes earlier than adam-lbfgs's default 1000 so that the suite's budgets reach it.
const PINN: Record<string, Partial<Hyper>> = {
  adam: { options: { lr: 1e-3 }, batchSize: 'full' },
  'adam-lbfgs': { options: { after: 200 }, batchSize: 'full' },
};

const BY_PROBLEM: Record<string, Record<string, Partial<Hyper>>> = {
  'pinn-poisson-1d': PINN,
  'pinn-heat-1d': PINN,
  // The MNIST autoencoder's Hessian-free floors λ at 0.03, not the autoencoder row's 0.3 (which
  // CURVES needs: at 0.03 it stalled at 104.3 against 41.2), runs 16 CG iterations from the
  // default warm start (0.95 × the previous solution), and steps on a quarter of the training
  // set (500 of the suite's 2,000 images, 2,000 of the paper size's 8,000), curvature on 100 of
  // them (the autoencoder row's curvatureExamples). Why a share: a late step barely lowers the
  // loss outside its batch (measured on the next step's held-out slice, README), so the training
  // loss falls by the step's effect on its batch times the batch's share of the data. At a fixed
  // 500, the 0.95 warm start met issue #13's target on the suite's data and broke down on the
  // paper size (the step's norm growing from 3–6 to 12–16 while the loss rose); the previous row
  // (batch 500 from 0.8) met it on the paper size only (55.8 against Adam's 56.9 and 55.0
  // against 55.6, seeds 0 and 1) and missed it on the suite's data (50.5 and 51.5 against 48.2
  // and 48.4); 0.85 and 0.9 each missed one size or seed, and batches of 1,000 from 0.95 only
  // tied Adam on the suite's data (48.6 against 48.8). This row, 300 s, interleaved with Adam
  // (`npm run bench:hf -- --problems=autoencoder-mnist --optimizers=hessian-free,adam
  // --interleave [--seed=1] [--size=paper]`): the suite's data 46.9 and 47.2 against Adam's 49.1
  // (Adam's loss in 0.59× and 0.57× its time, seeds 0 and 1); the paper size 53.9 against 55.7
  // (0.62×, seed 0) and 54.0 against 55.9 (0.59×, seed 1).
  'autoencoder-mnist': {
    'hessian-free': { options: { minDamping: 0.03, cgMaxIter: 16 }, batchSize: { fraction: 0.25 } },
  },
  'mlp-iris': {
    sgd: { options: { lr: 0.5 }, batchSize: 'full' },
    momentum: { options: { lr: 0.1, momentum: 0.9 }, batchSize: 'full' },
    adam: { options: { lr: 0.01 }, batchSize: 'full' },
  },
  // The recurrent tasks, as `npm run bench:rnn` runs them (bench/rnn-bench.ts): Hessian-free
  // with structural damping, μ = λ/30 (Martens & Sutskever 2011), on 1000 fresh sequences per
  // step (on the fixed training set it overfits), without the diagonal preconditioner (the
  // empirical Fisher's diagonal takes one backward pass per sequence: 20 s a step at 1000
  // sequences); the baselines on fresh mini-batches of 100 sequences.
  ...Object.fromEntries(SEQUENCE_TASKS.map((t) => [`rnn-${t}`, {
    'hessian-free': { options: { damping: 1, curvatureFraction: 0.25, cgMaxIter: 100, structuralDamping: { weight: 1 / 30 }, preconditioner: false }, batchSize: 1000 },
    sgd: { options: { lr: 0.05 }, batchSize: 100 },
    momentum: { options: { lr: 0.01, momentum: 0.9 }, batchSize: 100 },
    adam: { options: { lr: 3e-3 }, batchSize: 100 },
  } satisfies Record<string, Partial<Hyper>>])),
};

/** The grid `--tune` tries for an optimizer's learning rate (optimizers without `lr` are not tuned). */
export const TUNE_GRID: Record<string, number[]> = {
  sgd: [0.3, 0.1, 0.03, 0.01, 3e-3],
  momentum: [0.03, 0.01, 3e-3, 1e-3],
  adam: [3e-3, 1e-3, 3e-4],
  adamw: [3e-3, 1e-3, 3e-4],
  rmsprop: [3e-3, 1e-3, 3e-4],
  adagrad: [0.1, 0.03, 0.01],
  olbfgs: [0.3, 0.1, 0.03],
  adahessian: [0.3, 0.15, 0.05],
  'sophia-h': [0.03, 0.01, 3e-3, 1e-3],
  'sophia-g': [0.03, 0.01, 3e-3, 1e-3],
};

export function hyperFor(problemId: string, kind: ProblemKind, optimizerId: string): Hyper {
  const base = BASE[optimizerId] ?? { options: {}, batchSize: 'full' };
  const layers = [BY_KIND[kind]?.[optimizerId], BY_PROBLEM[problemId]?.[optimizerId]];
  let h: Hyper = { options: { ...base.options }, batchSize: base.batchSize };
  for (const l of layers) {
    if (l === undefined) continue;
    const batchGrowth = l.batchGrowth ?? h.batchGrowth;
    h = { options: mergeOptions(h.options, l.options), batchSize: l.batchSize ?? h.batchSize, ...(batchGrowth === undefined ? {} : { batchGrowth }) };
  }
  if (kind === 'function') {
    h.batchSize = 'full';
    delete h.batchGrowth;
  }
  return h;
}

/**
 * `train(model, loss, data, options)`: the training loop a user of the library would otherwise
 * write by hand — any registered optimizer (or an optimizer object), mini-batches in a seeded
 * order per epoch, a budget of steps, epochs and/or seconds, a curve of evaluations whose time
 * is left out of `seconds`, optional callbacks, checkpoints and a progress bar on a terminal.
 *
 * Every step's objective is `withL2(modelObjective(model, loss, batch), l2, {exclude})`, which
 * carries every product any optimizer here needs, so Hessian-free, K-FAC and L-BFGS are trained
 * through the same call as Adam. Each step runs in a memory scope: the previous step's
 * parameters and state go back to the pool.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { Tensor, describe } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { argmax } from '../tensor/ops.js';
import { closeScope, detachedScope, runInScope, sweepScope, tidy } from '../tensor/scope.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { Module } from '../nn/module.js';
import type { Loss } from '../nn/losses.js';
import { serializeTree } from '../nn/checkpoint.js';
import type { ModelFn } from '../curvature/products.js';
import { modelObjective, withL2, type L2Exclude } from '../optim/objective.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Objective, Optimizer, OptimizerState, StepInfo } from '../optim/types.js';
import { takeRows, type Dataset } from '../data/files/dataset.js';
import { init as initDistributed, type Communicator } from '../distributed/communicator.js';
import { shardRange } from '../distributed/shard.js';
import { distributedObjective } from '../distributed/objective.js';
import { checkSameTree } from '../distributed/tree-check.js';

/** The fields every training curve point has (here and in the benchmark runner's curves). */
export interface CurvePointBase {
  step: number;
  /** Optimizer time only: evaluations for the curve are not counted. */
  seconds: number;
  evals: number;
  curvatureProducts: number;
  /** Loss on the whole training set (with the L2 term when `l2` > 0). */
  trainLoss: number;
  testLoss?: number;
  /** Fraction of test examples whose argmax output equals the label (classifiers: 1-D integer labels). */
  testAccuracy?: number;
}

/** One point of a `train` curve. */
export interface TrainPoint extends CurvePointBase {
  epoch: number;
}

export interface TrainCallbacks<P extends PyTree> {
  /** After each step; return false to stop training. */
  onStep?: (step: number, info: StepInfo, params: P) => boolean | void;
  /** After each curve point; return false to stop training. */
  onEvaluate?: (point: TrainPoint) => boolean | void;
}

export interface TrainOptions<P extends PyTree> {
  /** A registered optimizer's id ('adam', 'kfac', 'hessian-free', ...) or an optimizer object. */
  optimizer: string | Optimizer<PyTree, P>;
  /** Options for a registered optimizer (e.g. { lr: 1e-3 }). */
  optimizerOptions?: Record<string, unknown>;
  /** Initial parameters; default `model.init(new Rng(seed), { dtype })` (a Module is then required). */
  params?: P;
  /** dtype of freshly initialized parameters (default: the data's). */
  dtype?: 'float32' | 'float64';
  /** Budget: stop at whichever comes first. At least one is required. */
  steps?: number;
  epochs?: number;
  seconds?: number;
  /** Examples per step, or 'full' (default: 'full' for full-batch methods, else min(128, N)). */
  batchSize?: number | 'full';
  /** Seeds initialization and the batch order (default 0). */
  seed?: number;
  /** Coupled L2 (see `withL2`) and which parameters it leaves out. */
  l2?: number;
  l2Exclude?: L2Exclude;
  /** Held-out data for test loss and accuracy at each curve point. */
  test?: Dataset;
  /** Evaluate every N steps (default: at geometrically spaced steps, 15% apart, and at the end). */
  evaluateEvery?: number;
  callbacks?: TrainCallbacks<P>;
  /** Write params and optimizer state to `path` every `every` steps and at the end (atomic rename). */
  checkpoint?: { path: string; every?: number };
  /** A progress line on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  /**
   * Data parallelism over MPI: true (the world `mpirun` started, see `distributed.init`) or a
   * communicator. Every rank runs the same call; each takes its shard of every batch, the
   * objective is all-reduced (so the result equals one process on the whole batch), rank 0
   * alone writes checkpoints and progress. Callbacks run on every rank and must agree on
   * stopping. Default: one process.
   */
  distributed?: boolean | Communicator;
  /**
   * Evaluate loss and gradient through `jit` (default false; see `ModelObjectiveOptions.jit`):
   * the plans are shared by every batch of one shape, bit-identical to eager evaluation.
   */
  jit?: boolean;
}

export interface TrainResult<P extends PyTree> {
  params: P;
  state: OptimizerState;
  curve: TrainPoint[];
  final: TrainPoint & { stopped: 'steps' | 'epochs' | 'seconds' | 'callback' | 'diverged'; rejectedSteps: number };
}

function positiveInt(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new RangeError(`train: option '${name}' must be a positive integer, got ${describe(v)}`);
  return v;
}

function checkData(data: Dataset, what: string): number {
  if (data === null || typeof data !== 'object' || !(data.x instanceof Tensor) || !(data.y instanceof Tensor)) {
    throw new TypeError(`train: ${what} must be a dataset {x: Tensor, y: Tensor} (see data.fromArrays), got ${describe(data)}`);
  }
  if (data.x.ndim < 1 || data.y.ndim < 1 || data.x.shape[0] !== data.y.shape[0]) {
    throw new RangeError(`train: ${what}.x has ${data.x.shape[0]} examples, ${what}.y has ${data.y.shape[0]}`);
  }
  if (data.x.shape[0] === 0) throw new RangeError(`train: ${what} has no examples`);
  return data.x.shape[0];
}

/** Test accuracy when the outputs are class scores [N, C] and the labels integers [N]. */
function accuracy(z: Tensor, y: Tensor): number | undefined {
  if (z.ndim !== 2 || y.ndim !== 1 || z.shape[1] < 2) return undefined;
  const pred = argmax(z, 1).data;
  let right = 0;
  for (let i = 0; i < pred.length; i++) {
    if (!Number.isInteger(y.data[i])) return undefined;
    if (pred[i] === y.data[i]) right++;
  }
  return right / pred.length;
}

function distributedOption(d: TrainOptions<PyTree>['distributed']): Communicator | undefined {
  if (d === undefined || d === false) return undefined;
  if (d === true) return initDistributed();
  if (d !== null && typeof d === 'object' && typeof d.allReduce === 'function' && Number.isInteger(d.rank) && Number.isInteger(d.size)) return d;
  throw new TypeError(`train: option 'distributed' must be true, false or a communicator, got ${describe(d)}`);
}

/** Rank 0's step time on every rank: a `seconds` budget then stops every rank at the same step. */
function elapsedOnRankZero(comm: Communicator | undefined, seconds: number): number {
  if (comm === undefined || comm.size === 1) return seconds;
  const t = new Tensor(new Float64Array([seconds]), [1]);
  comm.broadcast(t, 0);
  return t.data[0];
}

/** Train `model` on `data`; see the module comment. */
export function train<P extends PyTree>(model: Module<P> | ModelFn<P>, loss: Loss, data: Dataset, options: TrainOptions<P>): TrainResult<P> {
  if (options === null || typeof options !== 'object') throw new TypeError(`train: options must be an object, got ${describe(options)}`);
  if (!(model instanceof Module) && typeof model !== 'function') throw new TypeError(`train: model must be an nn Module or a function (params, x) => outputs, got ${describe(model)}`);
  if (loss === null || typeof loss !== 'object' || typeof loss.value !== 'function') throw new TypeError(`train: loss must be an nn loss (e.g. nn.mse()), got ${describe(loss)}`);
  const n = checkData(data, 'data');
  if (options.test !== undefined) checkData(options.test, 'test');
  const steps = positiveInt('steps', options.steps);
  const epochs = positiveInt('epochs', options.epochs);
  const evaluateEvery = positiveInt('evaluateEvery', options.evaluateEvery);
  const seconds = options.seconds;
  if (seconds !== undefined && !(typeof seconds === 'number' && seconds > 0 && Number.isFinite(seconds))) throw new RangeError(`train: option 'seconds' must be a positive number, got ${describe(seconds)}`);
  if (steps === undefined && epochs === undefined && seconds === undefined) throw new RangeError('train: give a budget: steps, epochs and/or seconds');
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`train: option 'seed' must be an integer, got ${describe(seed)}`);
  if (options.jit !== undefined && typeof options.jit !== 'boolean') throw new TypeError(`train: option 'jit' must be a boolean, got ${describe(options.jit)}`);

  let opt: Optimizer<PyTree, P>;
  let stochastic = true;
  if (typeof options.optimizer === 'string') {
    const entry = optimizerEntry(options.optimizer);
    opt = entry.create(options.optimizerOptions ?? {}) as unknown as Optimizer<PyTree, P>;
    stochastic = entry.stochastic;
  } else if (options.optimizer !== null && typeof options.optimizer === 'object' && typeof options.optimizer.step === 'function') {
    if (options.optimizerOptions !== undefined) throw new RangeError('train: optimizerOptions apply to a registered optimizer id; this optimizer object already has its options');
    opt = options.optimizer;
  } else throw new TypeError(`train: option 'optimizer' must be a registered id or an optimizer object, got ${describe(options.optimizer)}`);

  const bsOpt = options.batchSize ?? (stochastic ? Math.min(128, n) : 'full');
  if (bsOpt !== 'full') {
    positiveInt('batchSize', bsOpt);
    if (bsOpt > n) throw new RangeError(`train: option 'batchSize' (${bsOpt}) exceeds the ${n} training examples`);
  }
  const batchSize = bsOpt === 'full' ? n : bsOpt;
  const perEpoch = Math.floor(n / batchSize);

  let params: P;
  if (options.params !== undefined) params = options.params;
  else if (model instanceof Module) params = model.init(new Rng(seed), { dtype: options.dtype ?? data.x.dtype });
  else throw new RangeError('train: a model given as a function needs initial parameters (option params)');
  if (treeLeaves(params).length === 0) throw new RangeError('train: the parameters have no tensors');

  const comm = distributedOption(options.distributed);
  if (comm !== undefined && batchSize < comm.size) throw new RangeError(`train: option 'batchSize' (${batchSize}) is smaller than the ${comm.size} ranks (each needs one example per step)`);
  const l2 = options.l2 ?? 0;
  // With ranks, each builds its shard's objective and the distributed wrapper sums them; the L2
  // term goes outside, once.
  const objectiveOf = (rows: ArrayLike<number> | null): Objective<P> => {
    let idx = rows;
    const total = idx === null ? n : idx.length;
    if (comm !== undefined) {
      const [a, b] = shardRange(total, comm.rank, comm.size);
      idx = idx === null ? Array.from({ length: b - a }, (_, i) => a + i) : Array.prototype.slice.call(idx, a, b) as number[];
    }
    const batch = idx === null ? data : { x: takeRows(data.x, idx), y: takeRows(data.y, idx) };
    const shard = modelObjective(model, loss, batch, options.jit === undefined ? {} : { jit: options.jit });
    const obj = comm === undefined ? shard : distributedObjective(shard, { communicator: comm, examples: batch.x.shape[0], total, batchWeight: loss.batchWeight });
    return withL2(obj, l2, { exclude: options.l2Exclude });
  };
  const full = objectiveOf(null);
  // One seeded permutation per epoch; batches of the last incomplete part are skipped, as
  // PyTorch's DataLoader(drop_last=True) does, so every step sees batchSize examples.
  let order: number[] = [];
  let orderEpoch = -1;
  const batchAt = (k: number): Objective<P> => {
    if (batchSize === n) return full;
    const e = Math.floor(k / perEpoch);
    if (e !== orderEpoch) {
      order = new Rng(seed + 1 + e * 7919).permutation(n);
      orderEpoch = e;
    }
    const j = k % perEpoch;
    return objectiveOf(order.slice(j * batchSize, (j + 1) * batchSize));
  };

  const apply = (p: P, x: Tensor) => (model instanceof Module ? model.apply(p, x) : model(p, x));
  let state = opt.init(params);
  if (comm !== undefined) {
    // A rank with another model or optimizer would sum unrelated numbers or wait forever.
    checkSameTree(params, comm, 'parameters');
    checkSameTree(state, comm, 'optimizer states');
  }
  const leader = comm === undefined || comm.rank === 0;
  let step = 0;
  let time = 0;
  let evals = 0;
  let curvatureProducts = 0;
  let rejected = 0;
  const curve: TrainPoint[] = [];
  const tty = leader && (options.progress ?? process.stderr.isTTY === true);
  const evaluate = (): TrainPoint => {
    const p: TrainPoint = tidy(() => {
      const pt: TrainPoint = { step, epoch: step / perEpoch, seconds: time, evals, curvatureProducts, trainLoss: full.value ? full.value(params) : full.valueAndGrad(params)[0] };
      if (options.test !== undefined) {
        const z = apply(params, options.test.x);
        pt.testLoss = loss.value(z, options.test.y).item();
        const acc = accuracy(z, options.test.y);
        if (acc !== undefined) pt.testAccuracy = acc;
      }
      return pt;
    });
    curve.push(p);
    if (tty) process.stderr.write(`\r${opt.name}: step ${step} epoch ${p.epoch.toFixed(2)} loss ${p.trainLoss.toPrecision(5)}${p.testLoss === undefined ? '' : ` test ${p.testLoss.toPrecision(5)}`} ${time.toFixed(1)}s   `);
    return p;
  };
  const save = (): void => {
    const c = options.checkpoint;
    if (c === undefined || !leader) return;
    const bytes = serializeTree({ params, state } as unknown as PyTree, { 'hessian.train': JSON.stringify({ optimizer: opt.name, step, seed, seconds: time }) });
    writeFileSync(`${c.path}.tmp`, bytes);
    renameSync(`${c.path}.tmp`, c.path);
  };
  const checkpointEvery = positiveInt('checkpoint.every', options.checkpoint?.every);
  if (options.checkpoint !== undefined && (typeof options.checkpoint.path !== 'string' || options.checkpoint.path === '')) throw new TypeError('train: checkpoint.path must be a file path');

  evaluate();
  let nextEval = 1;
  let stopped: TrainResult<P>['final']['stopped'] = 'steps';
  const carried = detachedScope();
  try {
    for (;;) {
      if (steps !== undefined && step >= steps) { stopped = 'steps'; break; }
      if (epochs !== undefined && step >= epochs * perEpoch) { stopped = 'epochs'; break; }
      if (seconds !== undefined && time >= seconds) { stopped = 'seconds'; break; }
      const t0 = process.hrtime.bigint();
      const res = runInScope(carried, () => opt.step(params, state, opt.fullBatch?.(state) === true ? full : batchAt(step)));
      time += elapsedOnRankZero(comm, Number(process.hrtime.bigint() - t0) / 1e9);
      params = res.params;
      state = res.state;
      sweepScope(carried, [params, state]);
      step++;
      evals += res.info.evals;
      curvatureProducts += res.info.curvatureProducts;
      if (!res.info.accepted) rejected++;
      if (options.callbacks?.onStep?.(step, res.info, params) === false) { stopped = 'callback'; break; }
      if (checkpointEvery !== undefined && step % checkpointEvery === 0) save();
      const due = evaluateEvery !== undefined ? step % evaluateEvery === 0 : step >= nextEval;
      if (due) {
        nextEval = Math.max(step + 1, Math.ceil(step * 1.15));
        const p = evaluate();
        if (!Number.isFinite(p.trainLoss)) { stopped = 'diverged'; break; }
        if (options.callbacks?.onEvaluate?.(p) === false) { stopped = 'callback'; break; }
      }
    }
  } finally {
    closeScope(carried, [params, state]);
  }
  if (curve[curve.length - 1].step !== step) evaluate();
  if (tty) process.stderr.write('\n');
  save();
  return { params, state, curve, final: { ...curve[curve.length - 1], stopped, rejectedSteps: rejected } };
}

/**
 * The curvature estimator of K-FAC / EKFAC (kfac-jax's `curvature_estimator`): collects layer
 * statistics from one forward pass with taps and one or more backward passes, lays out one
 * curvature block per layer (a diagonal block for every parameter no tap covers), folds
 * statistics into the blocks, and preconditions a whole parameter tree.
 *
 * Estimation modes (what the backward passes propagate from the network output z; w is the
 * loss's batch weight, the objective being w·Σ_i L_i):
 * - 'true' (default): the gradient of the loss at targets sampled from the model's predictive
 *   distribution, scaled by 1/√w — the true Fisher, whose expectation is the GGN. Cost: one
 *   forward and one backward pass besides the optimizer's own gradient.
 * - 'empirical': the same at the batch targets (the empirical Fisher; biased, same cost).
 * - 'ggn': the exact GGN factors — one backward pass per output dimension D, propagating the
 *   columns of C_i with C_i C_iᵀ = ∂²loss/∂z_i² (per-example output Hessian from `outputHvp`,
 *   factored by `eigh`). Cheap only for small D; refused above `maxGgnOutputs`.
 * Diagonal blocks take Σ_k (∂/∂θ of pass k)²: with sampled targets an unbiased estimate of the
 * Fisher's diagonal (cross-example terms vanish in expectation); kfac-jax's "naive diagonal".
 */
import { Tensor, allocate, zeros } from '../tensor/tensor.js';
import type { FloatArray } from '../kernels/types.js';
import { Rng } from '../tensor/random.js';
import { gather } from '../tensor/shape-ops.js';
import { eigh } from '../tensor/linalg.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { grad, valueAndGrad, vjp, type VjpFn } from '../autodiff/vjp.js';
import { Module, TapRecorder, type ApplyContext } from '../nn/module.js';
import type { Loss } from '../nn/losses.js';
import type { Batch } from './products.js';
import { sampleTargetsByExample } from './sampled-targets.js';
import {
  DiagonalBlock, blockOf, ekfacScalingEstimate, foldEkfacScaling, kroneckerBlock, layoutOf,
  type Approximation, type BlockState, type DiagonalState, type EigenInverse, type InverseMethod, type KroneckerState, type LayerSample,
} from './kronecker.js';
import { withRecurrentApproximation } from './kronecker-recurrent.js';
import type { RecurrentApproximation } from './kronecker-recurrent-chain.js';

export type EstimationMode = 'true' | 'empirical' | 'ggn';

/** A model that records taps: a Module, or `(params, x, ctx) => outputs` passing ctx to its layers. */
export type TappedModel<P extends PyTree> = Module<P> | ((params: P, x: Tensor, ctx: ApplyContext) => Tensor);

/** What K-FAC's curvature estimate needs from one batch. */
export interface KfacStatistics<P extends PyTree = PyTree> {
  /** One sample per tapped layer application, in forward order. */
  readonly layers: readonly LayerSample[];
  /** Estimate of the curvature's diagonal for every parameter, Σ_k (pass-k gradient)². */
  readonly diagonal: P;
  /** True when the statistics came with the gradient's evaluation (no passes of their own). */
  readonly fromGradientPass?: boolean;
  /** With `diagonalPasses`: per backward pass, its scaled parameter gradient leaves (null where not wanted); `diagonal` = Σ_pass leaf². */
  readonly diagonalPasses?: readonly (readonly (Tensor | null)[])[];
  /**
   * Set by a data-parallel objective: these statistics are one shard's, and `updateEstimator`
   * sums every block's factor estimates over the shards (one collective) before folding them in.
   */
  readonly shard?: ShardReduction;
}

/**
 * How one shard's factor estimates combine into the combined batch's (data parallelism). The
 * layer samples' output gradients come already scaled by √c (the shard's weight in the loss), so
 * G and EKFAC's moments are plain sums; A, a mean over examples, is weighted by `exampleWeight`
 * = n_shard / N. The diagonal estimate comes weighted already.
 */
export interface ShardReduction {
  readonly exampleWeight: number;
  /** Replaces `values` by its sum over the shards, in place (a collective: every shard calls it with the same length). */
  reduce(values: FloatArray): void;
}

export interface KfacStatisticsOptions {
  mode: EstimationMode;
  /**
   * Randomness for sampled targets ('true'): one number is drawn from it as the stream key, and
   * example i's targets come from a generator seeded by (key, exampleOffset + i)
   * (`sampleTargetsByExample`), so they do not depend on how the batch is split.
   */
  rng: Rng;
  /** Global index of this batch's first example (a data-parallel shard's offset; default 0). */
  exampleOffset?: number;
  /** Dropout masks from this seed (training mode), as the objective's own evaluations. */
  dropoutSeed?: number;
  /** Largest output dimension per example for 'ggn' (default 64). */
  maxGgnOutputs?: number;
  /**
   * Which parameter leaves (flattened order) need the diagonal estimate: K-FAC passes the leaves
   * of its diagonal blocks once the blocks are laid out. The others get zeros, and the extra
   * backward passes skip the weight gradients that only they would need (a dense layer's
   * backward then costs one matmul instead of two). Default: every leaf.
   */
  diagonalLeaves?: readonly boolean[];
  /**
   * Also return each backward pass's scaled gradients of the wanted leaves
   * (`KfacStatistics.diagonalPasses`): a data-parallel run sums them over the shards and squares
   * the sums, which gives the combined batch's diagonal exactly (a sum of the shards' squares
   * would miss the cross terms).
   */
  diagonalPasses?: boolean;
  /**
   * Statistics on a random sub-batch (K-FAC's `statisticsFraction`; Martens & Grosse sec. 5 use a
   * subset of the mini-batch for the statistics): round(fraction·N) examples (at least 1), drawn
   * without replacement by `Rng(seed)`, run through the forward and backward passes. A, a mean
   * over examples, needs no correction; the output gradients are scaled by √r with
   * r = (w_N·N) / (w_k·k) (w the loss's batch weight: r = 1 for a mean, N/k for a sum), so G, the
   * EKFAC moments and the diagonal estimate have the full batch's expectation. A fraction that
   * rounds to the whole batch runs the plain path, bit for bit.
   */
  subset?: { readonly fraction: number; readonly seed: number };
}

/** The sub-batch of `subset`: sorted example indices, or null when it is the whole batch. */
export function statisticsSubset(n: number, subset: { readonly fraction: number; readonly seed: number }): number[] | null {
  if (!(subset.fraction > 0 && subset.fraction <= 1)) throw new RangeError(`kfac: option 'statisticsFraction' must lie in (0, 1], got ${subset.fraction}`);
  const k = Math.max(1, Math.round(subset.fraction * n));
  if (k >= n) return null;
  return new Rng(subset.seed).permutation(n).slice(0, k).sort((a, b) => a - b);
}

function scaledBy(t: Tensor, s: number): Tensor {
  return new Tensor(t.data.map((v) => v * s), t.shape);
}

/** Cotangents u_k, k < D, with Σ_k u_k[i] u_k[i]ᵀ = ∂²loss/∂z_i² for every example i. */
function ggnCotangents(loss: Loss, z: Tensor, y: Tensor, maxOutputs: number): Tensor[] {
  const n = z.shape[0];
  const D = n === 0 ? 0 : z.size / n;
  if (D > maxOutputs) {
    throw new RangeError(`kfac: estimation mode 'ggn' needs one backward pass per output dimension (${D} > maxGgnOutputs ${maxOutputs}); use 'true' (sampled Fisher) instead`);
  }
  // H[i] column j = outputHvp with the j-th unit vector in every example (H is block diagonal).
  const H = new Float64Array(n * D * D);
  for (let j = 0; j < D; j++) {
    const e = new Tensor(allocate(z.dtype, z.size), z.shape);
    for (let i = 0; i < n; i++) e.data[i * D + j] = 1;
    const col = loss.outputHvp(z, y, e);
    for (let i = 0; i < n; i++) for (let r = 0; r < D; r++) H[(i * D + r) * D + j] = col.data[i * D + r];
  }
  const { eigenvalues, eigenvectors } = eigh(new Tensor(H, [n, D, D]));
  const us: Tensor[] = [];
  for (let k = 0; k < D; k++) {
    const u = new Tensor(allocate(z.dtype, z.size), z.shape);
    const root = new Float64Array(n);
    for (let i = 0; i < n; i++) root[i] = Math.sqrt(Math.max(0, eigenvalues.data[i * D + k]));
    for (let i = 0; i < n; i++) for (let r = 0; r < D; r++) u.data[i * D + r] = eigenvectors.data[(i * D + r) * D + k] * root[i];
    us.push(u);
  }
  return us;
}

/** The forward pass with taps, kept for one or more backward passes. */
function tappedForward<P extends PyTree>(model: TappedModel<P>, batch: Batch, params: P, dropoutSeed: number | undefined) {
  const taps = new TapRecorder();
  const ctx: ApplyContext = dropoutSeed === undefined ? { taps } : { taps, training: true, rng: new Rng(dropoutSeed) };
  const apply = model instanceof Module ? (p: P) => model.apply(p, batch.x, ctx) : (p: P) => model(p, batch.x, ctx);
  const [z, back] = vjp(apply, params);
  return { taps, z, back };
}

/** Accumulates layer samples (each tap's output gradient per pass) and Σ_k (pass-k gradient)² on the wanted leaves. */
class SampleCollector<P extends PyTree> {
  private readonly g: Tensor[][];
  private readonly diag: (Float64Array | null)[];
  readonly wanted: readonly boolean[];

  private readonly passes: (Tensor | null)[][] | undefined;

  constructor(private readonly taps: TapRecorder, private readonly params: P, wanted: readonly boolean[] | undefined, keepPasses = false) {
    this.passes = keepPasses ? [] : undefined;
    const leaves = treeLeaves(params);
    if (wanted !== undefined && wanted.length !== leaves.length) {
      throw new RangeError(`kfac: diagonalLeaves has ${wanted.length} flags, the parameters have ${leaves.length} leaves`);
    }
    this.wanted = wanted ?? leaves.map(() => true);
    this.g = taps.taps.map(() => []);
    this.diag = leaves.map((l, j) => (this.wanted[j] ? new Float64Array(l.size) : null));
  }

  /** Every leaf wanted: a full backward pass costs nothing extra. */
  get wantsAll(): boolean {
    return this.wanted.every((w) => w);
  }

  /** Read the taps' output gradients and the parameter gradient leaves of the pass just run (null: not computed), both scaled by `scale`. */
  add(paramGrad: readonly (Tensor | null)[], scale = 1): void {
    this.taps.taps.forEach((t, j) => {
      const grad = t.output.grad ?? new Tensor(allocate(t.output.value.dtype, t.output.value.size), t.output.value.shape);
      this.g[j].push(scale === 1 ? grad : scaledBy(grad, scale));
    });
    const s2 = scale * scale;
    if (this.passes !== undefined) this.passes.push(paramGrad.map((l, j) => (l === null || this.diag[j] === null ? null : scale === 1 ? l : scaledBy(l, scale))));
    paramGrad.forEach((l, j) => {
      const d = this.diag[j];
      if (d === null || l === null) return;
      const x = l.data;
      for (let i = 0; i < l.size; i++) d[i] += s2 * x[i] * x[i];
    });
  }

  result(): KfacStatistics<P> {
    const layers = this.taps.taps.map((t, j) => ({ scope: t.scope, kind: t.kind, a: t.a, g: this.g[j], info: t.info }) as LayerSample);
    const leaves = treeLeaves(this.params);
    const diagonal = treeUnflatten(this.params, leaves.map((l, j) => {
      const d = this.diag[j];
      if (d === null) return zeros(l.shape, { dtype: l.dtype });
      return new Tensor(l.dtype === 'float64' ? d : Float32Array.from(d), l.shape);
    }));
    return this.passes === undefined ? { layers, diagonal } : { layers, diagonal, diagonalPasses: this.passes };
  }
}

/** One statistics backward pass: only the parameter gradients the diagonal estimate needs (all, or a partial pass). */
function passLeaves<P extends PyTree>(back: VjpFn<Tensor, [P]>, u: Tensor, collect: SampleCollector<P>): (Tensor | null)[] {
  return collect.wantsAll ? treeLeaves(back(u)[0]) : back.partial(u, collect.wanted);
}

/** The cotangents of the estimation mode's backward passes at output z (see the module comment). */
function statisticsCotangents(loss: Loss, z: Tensor, y: Tensor, options: KfacStatisticsOptions, rescale = 1): Tensor[] {
  if (options.mode === 'ggn') {
    const us = ggnCotangents(loss, z, y, options.maxGgnOutputs ?? 64);
    return rescale === 1 ? us : us.map((u) => scaledBy(u, Math.sqrt(rescale)));
  }
  const targets = options.mode === 'empirical' ? y : sampleTargetsByExample(loss, z, options.rng.nextUint32(), options.exampleOffset ?? 0);
  const u = grad((zz: Tensor) => loss.value(zz, targets))(z);
  const w = loss.batchWeight(z.shape[0]);
  return [scaledBy(u, rescale === 1 ? 1 / Math.sqrt(w) : Math.sqrt(rescale / w))];
}

/**
 * One forward pass with taps, then one backward pass per cotangent of the chosen estimation
 * mode (see the module comment); returns the layer samples and the diagonal estimate. With
 * `subset`, on a random sub-batch, rescaled (see `KfacStatisticsOptions.subset`).
 */
export function kfacStatistics<P extends PyTree>(model: TappedModel<P>, loss: Loss, batch: Batch, params: P, options: KfacStatisticsOptions): KfacStatistics<P> {
  let rescale = 1;
  const n = batch.x.shape[0];
  const idx = options.subset === undefined ? null : statisticsSubset(n, options.subset);
  if (idx !== null) {
    rescale = (loss.batchWeight(n) * n) / (loss.batchWeight(idx.length) * idx.length);
    batch = { x: gather(batch.x, idx, 0), y: gather(batch.y, idx, 0) };
  }
  const { taps, z, back } = tappedForward(model, batch, params, options.dropoutSeed);
  try {
    const collect = new SampleCollector(taps, params, options.diagonalLeaves, options.diagonalPasses === true);
    for (const u of statisticsCotangents(loss, z, batch.y, options, rescale)) collect.add(passLeaves(back, u, collect));
    return collect.result();
  } finally {
    back.dispose(); // its residuals go back to the pool now, not when the collector finds the function
  }
}

/** The loss, its gradient and K-FAC's statistics from one forward pass (`kfacValueGradAndStatistics`). */
export interface KfacEvaluation<P extends PyTree = PyTree> {
  readonly loss: number;
  readonly grad: P;
  readonly statistics: KfacStatistics<P>;
}

/**
 * Loss, gradient and K-FAC statistics at the price of the gradient (Martens & Grosse sec. 5;
 * kfac-jax computes them in the gradient's pass too): ONE forward pass with taps, whose residuals
 * serve every backward pass.
 * - 'empirical': the statistics ARE the gradient's backward pass (ĝ = the taps' output gradients
 *   / √w, the diagonal (∇/√w)²): no extra pass at all.
 * - 'true': the gradient's backward pass, then the sampled-target backward pass on the same
 *   forward's residuals — one forward and the work of one double-width backward (the engine
 *   has no batched cotangents, so the two cotangents run one after the other, not stacked).
 * - 'ggn': the gradient's backward pass and one per output dimension.
 * The results equal `valueAndGrad` of the loss and `kfacStatistics` with the same options.
 */
export function kfacValueGradAndStatistics<P extends PyTree>(model: TappedModel<P>, loss: Loss, batch: Batch, params: P, options: KfacStatisticsOptions): KfacEvaluation<P> {
  if (options.subset !== undefined && statisticsSubset(batch.x.shape[0], options.subset) !== null) {
    throw new RangeError('kfac: statistics on a sub-batch (statisticsFraction < 1) come from a pass of their own, not the gradient\'s pass');
  }
  const { taps, z, back } = tappedForward(model, batch, params, options.dropoutSeed);
  try {
    const [value, u] = valueAndGrad((zz: Tensor) => loss.value(zz, batch.y))(z) as [Tensor, Tensor];
    const [g] = back(u);
    const collect = new SampleCollector(taps, params, options.diagonalLeaves, options.diagonalPasses === true);
    if (options.mode === 'empirical') collect.add(treeLeaves(g), 1 / Math.sqrt(loss.batchWeight(z.shape[0])));
    else for (const c of statisticsCotangents(loss, z, batch.y, options)) collect.add(passLeaves(back, c, collect));
    return { loss: value.data[0], grad: g, statistics: collect.result() };
  } finally {
    back.dispose();
  }
}

/** All blocks' states, in the order they were laid out. */
export interface EstimatorState {
  readonly blocks: readonly BlockState[];
  [key: string]: PyTree;
}

/**
 * One block per tapped layer (Kronecker, or EKFAC with `approximation: 'ekfac'`; recurrent
 * layers across time by `recurrentApproximation`, default 'independent') and a
 * `DiagonalBlock` for every other parameter leaf. A layer applied more than once (shared
 * weights), or whose tap does not match its parameters, falls back to diagonal blocks; `events`
 * says so.
 */
export function layoutBlocks<P extends PyTree>(
  params: P, layers: readonly LayerSample[], approximation: Approximation, options: { recurrentApproximation?: RecurrentApproximation } = {},
): { state: EstimatorState; events: string[] } {
  const leaves = treeLeaves(params);
  const paths = treePaths(params);
  const index = new Map(paths.map((p, i) => [p, i]));
  const uses = new Map<string, number>();
  for (const l of layers) uses.set(l.scope, (uses.get(l.scope) ?? 0) + 1);
  const events: string[] = [];
  const covered = new Set<string>();
  const blocks: BlockState[] = [];
  const done = new Set<string>();
  for (const l of layers) {
    if (done.has(l.scope)) continue;
    done.add(l.scope);
    if ((uses.get(l.scope) ?? 0) > 1) {
      events.push(`kfac: layer '${l.scope}' is applied ${uses.get(l.scope)} times; its parameters get diagonal blocks`);
      continue;
    }
    const laid = layoutOf(l, (p) => { const i = index.get(p); return i === undefined ? undefined : leaves[i].shape; });
    if (typeof laid === 'string') {
      events.push(laid);
      continue;
    }
    const block = kroneckerBlock(l.kind, approximation, l.scope, laid);
    const init = block.init(leaves[index.get(laid.paths[0]) as number].dtype);
    blocks.push(withRecurrentApproximation(init, options.recurrentApproximation ?? 'independent'));
    laid.paths.forEach((p) => covered.add(p));
  }
  paths.forEach((p, i) => {
    if (!covered.has(p)) blocks.push(new DiagonalBlock(p, leaves[i].shape).init(leaves[i].dtype));
  });
  return { state: { blocks }, events };
}

export interface EstimatorUpdateOptions {
  decay: number;
  recomputeInverses: boolean;
  inverseMethod: InverseMethod;
  damping: number;
  /** Keep Cholesky and chain inverses of another λ until the next `recomputeInverses` (see `BlockUpdateOptions.holdDamping`). */
  holdDamping?: boolean;
  /**
   * How the blocks are mapped (default `blocks.map(f)`). A data-parallel run passes a map that
   * computes each block on one rank and broadcasts it (`distributed.mapRoundRobin`), so the
   * inverses are shared out across ranks; every rank ends with the same blocks.
   */
  mapBlocks?: (blocks: readonly BlockState[], f: (s: BlockState) => BlockState) => BlockState[];
}

/**
 * Fold this step's statistics into every block (a layer sample for Kronecker blocks, the
 * diagonal estimate for diagonal blocks; `undefined` statistics only refresh inverses).
 */
export function updateEstimator<P extends PyTree>(
  state: EstimatorState, params: P,
  stats: { layers: readonly LayerSample[]; diagonal: P | undefined; shard?: ShardReduction; diagonalPasses?: readonly (readonly (Tensor | null)[])[] } | undefined,
  o: EstimatorUpdateOptions,
): { state: EstimatorState; events: string[] } {
  const events: string[] = [];
  const byScope = new Map<string, LayerSample>();
  for (const l of stats?.layers ?? []) byScope.set(l.scope, l);
  const paths = treePaths(params);
  const localDiag = stats?.diagonal === undefined ? undefined : treeLeaves(stats.diagonal);
  const index = new Map(paths.map((p, i) => [p, i]));
  const mapBlocks = o.mapBlocks ?? ((b: readonly BlockState[], f: (s: BlockState) => BlockState) => b.map((x) => f(x)));
  // Data parallel: every block's factor estimates (and the diagonal) from this shard, summed over
  // the shards in one collective BEFORE the EMA, so every rank folds the same numbers in.
  const shard = stats?.shard;
  // Only the diagonal blocks' leaves travel: the others are not estimated (`diagonalLeaves`).
  const diagIndices = state.blocks.flatMap((s) => (s.kind === 'diagonal' ? s.paths.map((p) => index.get(p)).filter((i): i is number => i !== undefined) : []));
  const estimates = shard === undefined ? undefined : reduceShardEstimates(state.blocks, byScope, localDiag, diagIndices, shard, stats?.diagonalPasses);
  const diag = estimates !== undefined && localDiag !== undefined ? estimates.diagonal : localDiag;
  const blocks = mapBlocks(state.blocks, (s): BlockState => {
    const block = blockOf(s);
    if (block instanceof DiagonalBlock) {
      const i = index.get(block.path);
      const r = block.update(s as DiagonalState, diag === undefined || i === undefined ? undefined : diag[i], o.decay);
      if (r.skipped) events.push(`kfac: non-finite diagonal statistics for '${block.path}' skipped`);
      return r.state;
    }
    const sample = stats === undefined ? undefined : byScope.get(block.scope);
    const r = block.update(s as KroneckerState, sample, {
      decay: o.decay, recomputeInverse: o.recomputeInverses, inverseMethod: o.inverseMethod, damping: o.damping, holdDamping: o.holdDamping,
      estimate: estimates?.factors.get(block.scope), deferScaling: shard !== undefined,
    });
    if (r.skipped) events.push(`kfac: non-finite statistics for layer '${block.scope}' skipped`);
    if (r.retried) events.push(`kfac: eigendecomposition of layer '${block.scope}' retried in float64`);
    return r.state;
  });
  if (shard !== undefined) reduceEkfacScaling(state.blocks, blocks, byScope, shard, o.decay);
  return { state: { blocks }, events };
}

/**
 * Values of several tensors in one buffer (one collective instead of one per tensor), in float32
 * when every tensor is float32 (half the bytes), else float64. `symmetric[i]`: tensor i is a
 * symmetric matrix and only its upper triangle travels (about half again).
 */
function packed(ts: readonly Tensor[], symmetric: readonly boolean[]): FloatArray {
  const size = (t: Tensor, i: number) => (symmetric[i] ? (t.shape[0] * (t.shape[0] + 1)) / 2 : t.size);
  const out: FloatArray = ts.every((t) => t.dtype === 'float32') ? new Float32Array(ts.reduce((n, t, i) => n + size(t, i), 0)) : new Float64Array(ts.reduce((n, t, i) => n + size(t, i), 0));
  let at = 0;
  ts.forEach((t, i) => {
    if (!symmetric[i]) { out.set(t.data, at); at += t.size; return; }
    const n = t.shape[0];
    for (let r = 0; r < n; r++) { out.set(t.data.subarray(r * n + r, (r + 1) * n), at); at += n - r; }
  });
  return out;
}

function unpacked(flat: FloatArray, like: readonly Tensor[], symmetric: readonly boolean[]): Tensor[] {
  let at = 0;
  return like.map((t, i) => {
    const d = allocate(t.dtype, t.size);
    if (!symmetric[i]) {
      d.set(flat.subarray(at, at + t.size));
      at += t.size;
    } else {
      const n = t.shape[0];
      for (let r = 0; r < n; r++) for (let c = r; c < n; c++) { d[r * n + c] = flat[at]; d[c * n + r] = flat[at]; at++; }
    }
    return new Tensor(d, t.shape);
  });
}

/**
 * This shard's A (weighted by n_shard / N) and G for every Kronecker block with a sample, and the
 * diagonal estimate, summed over the shards: the combined batch's estimates.
 */
function reduceShardEstimates(
  states: readonly BlockState[], byScope: Map<string, LayerSample>, diag: Tensor[] | undefined, diagIndices: readonly number[], shard: ShardReduction,
  passes: readonly (readonly (Tensor | null)[])[] | undefined,
) {
  const scopes: string[] = [];
  const local: Tensor[] = [];
  for (const s of states) {
    const block = blockOf(s);
    if (block instanceof DiagonalBlock) continue;
    const sample = byScope.get(block.scope);
    if (sample === undefined) continue;
    const est = block.factorEstimates(sample);
    scopes.push(block.scope);
    local.push(scaledBy(est.A, shard.exampleWeight), est.G);
  }
  // The diagonal: each pass's gradients summed over the shards, then squared (exact: the
  // combined batch's), when the shards kept them; else the shards' squares summed.
  const exact = diag !== undefined && passes !== undefined && diagIndices.every((i) => passes.every((pass) => pass[i] !== null && pass[i] !== undefined));
  const diagLocal = diag === undefined ? [] : exact ? passes.flatMap((pass) => diagIndices.map((i) => pass[i] as Tensor)) : diagIndices.map((i) => diag[i]);
  const all = [...local, ...diagLocal];
  const symmetric = all.map((_, i) => i < local.length);
  const flat = packed(all, symmetric);
  shard.reduce(flat);
  const sums = unpacked(flat, all, symmetric);
  const factors = new Map<string, { A: Tensor; G: Tensor }>();
  scopes.forEach((scope, i) => factors.set(scope, { A: sums[2 * i], G: sums[2 * i + 1] }));
  const diagonal = diag === undefined ? undefined : diag.slice();
  if (diagonal !== undefined) {
    diagIndices.forEach((i, k) => {
      if (!exact) { diagonal[i] = sums[local.length + k]; return; }
      const d = new Float64Array(diag[i].size);
      (passes as readonly unknown[]).forEach((_, p) => {
        const x = sums[local.length + p * diagIndices.length + k].data;
        for (let e = 0; e < d.length; e++) d[e] += x[e] * x[e];
      });
      diagonal[i] = new Tensor(diag[i].dtype === 'float64' ? d : Float32Array.from(d), diag[i].shape);
    });
  }
  return { factors, diagonal };
}

/**
 * EKFAC's moments in the (new, shared) eigenbasis: each shard's Σ_i (U_Gᵀ ∇_i U_A)², summed over
 * the shards and folded in — after the bases, which one rank may have computed (round-robin).
 */
function reduceEkfacScaling(before: readonly BlockState[], after: BlockState[], byScope: Map<string, LayerSample>, shard: ShardReduction, decay: number): void {
  const which: number[] = [];
  const local: Tensor[] = [];
  after.forEach((s, j) => {
    const block = blockOf(s);
    if (block instanceof DiagonalBlock || block.approximation !== 'ekfac') return;
    const k = s as KroneckerState;
    const sample = byScope.get(block.scope);
    // Folded this step (finite reduced factors): the same decision on every rank.
    if (sample === undefined || k.count !== (before[j] as KroneckerState).count + 1) return;
    which.push(j);
    local.push(ekfacScalingEstimate(block.rows(sample), k.inverse as EigenInverse));
  });
  if (which.length === 0) return;
  const flat = packed(local, local.map(() => false));
  shard.reduce(flat);
  const sums = unpacked(flat, local, local.map(() => false));
  which.forEach((j, i) => { after[j] = foldEkfacScaling(after[j] as KroneckerState, sums[i], decay); });
}

/** The preconditioned gradient tree, P⁻¹g, block by block with damping λ. */
export function preconditionTree<P extends PyTree>(state: EstimatorState, grads: P, damping: number): P {
  const leaves = treeLeaves(grads);
  const index = new Map(treePaths(grads).map((p, i) => [p, i]));
  const out: (Tensor | null)[] = leaves.map(() => null);
  for (const s of state.blocks) {
    const block = blockOf(s);
    const idx = block.paths.map((p) => {
      const i = index.get(p);
      if (i === undefined) throw new RangeError(`kfac: the gradient has no parameter '${p}' (the curvature state was laid out for other parameters)`);
      return i;
    });
    const res = block instanceof DiagonalBlock
      ? block.precondition(s as DiagonalState, idx.map((i) => leaves[i]), damping)
      : block.precondition(s as KroneckerState, idx.map((i) => leaves[i]), damping);
    idx.forEach((i, j) => { out[i] = res[j]; });
  }
  return treeUnflatten(grads, out.map((t, i) => {
    if (t === null) throw new RangeError(`kfac: no curvature block for parameter ${i} (the curvature state was laid out for other parameters)`);
    return t;
  }));
}

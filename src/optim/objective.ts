/**
 * Objectives: what optimizers minimize. `objective(f)` wraps a scalar function of the
 * parameters (gradient and Hessian-vector products by autodiff); `modelObjective` wraps a
 * model, a loss and a batch and carries everything any optimizer here needs (Gauss-Newton and
 * Fisher products, the empirical Fisher's diagonal, sub-sampling, K-FAC's layer statistics and
 * Gram products); `withL2` adds coupled L2 regularization to the value, the gradient AND every
 * curvature product, keeping all of it.
 */
import { Tensor } from '../tensor/tensor.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { grad as gradOf, valueAndGrad } from '../autodiff/vjp.js';
import { hvp as hvpOf, hvpOperatorFn } from '../autodiff/compose.js';
import { jvp } from '../autodiff/jvp.js';
import { jit } from '../autodiff/jit.js';
import { linearize } from '../autodiff/linearize.js';
import { vdot } from '../tensor/ops.js';
import { Rng } from '../tensor/random.js';
import type { Loss } from '../nn/losses.js';
import { Module } from '../nn/module.js';
import { fisherVp, ggnOperatorFn, ggnvp, type Batch, type ModelFn } from '../curvature/products.js';
import { diagEmpiricalFisher } from '../curvature/diag-fisher.js';
import { gather } from '../tensor/shape-ops.js';
import { treeAxpby, treeMapValues, treeVdot } from '../autodiff/tree-math.js';
import { kfacStatistics, kfacValueGradAndStatistics, type EstimationMode, type KfacStatistics, type TappedModel } from '../curvature/kronecker-estimator.js';
import type { Objective } from './types.js';
import { checkNumber } from './validate.js';

function scalar(op: string, t: Tensor): number {
  if (t.size !== 1) throw new RangeError(`${op}: the function must return a scalar, got ${t.size} values`);
  return t.data[0];
}

export interface ObjectiveOptions {
  /**
   * Replay value, gradient and Hessian-vector products through `jit` (default false): an
   * optimizer calls them many times on parameters of one structure (line searches, CG
   * iterations, every step of a full-batch method), and after two tracing calls each is one
   * recorded plan, bit-identical to eager evaluation. `f` must depend only on its argument
   * (jit's contract: an f that branches on tensor values falls back to eager with a warning).
   */
  jit?: boolean;
}

function checkJitOption(where: string, jitOpt: unknown): boolean {
  if (jitOpt !== undefined && typeof jitOpt !== 'boolean') throw new TypeError(`${where}: jit must be a boolean, got ${typeof jitOpt}`);
  return jitOpt === true;
}

/** An objective from a scalar function of the parameters. */
export function objective<P extends PyTree>(f: (params: P) => Tensor, options: ObjectiveOptions = {}): Objective<P> {
  if (typeof f !== 'function') throw new TypeError('objective: expects a function (params) => scalar Tensor');
  if (options === null || typeof options !== 'object') throw new TypeError('objective: options must be an object');
  const useJit = checkJitOption('objective', options.jit);
  const name = f.name !== '' ? f.name : 'objective';
  const vg = useJit ? jit(valueAndGrad(f), { name: `${name} valueAndGrad` }) : valueAndGrad(f);
  const value = useJit ? jit(f, { name }) : f;
  const hvp = useJit ? jit((p: P, v: P) => hvpOf(f, p, v), { name: `${name} hvp` }) : (p: P, v: P) => hvpOf(f, p, v);
  return {
    valueAndGrad: (p) => {
      const [v, g] = vg(p) as [Tensor, P];
      return [scalar('objective', v), g];
    },
    value: (p) => scalar('objective', value(p)),
    hvp: (p, v) => hvp(p, v) as P,
    hvpOperator: (p) => hvpOperatorFn(f, p),
  };
}

/**
 * An objective built from a model, a loss and a batch: an `Objective` with every curvature
 * product, plus what K-FAC and EKFAC read (layer statistics from taps, Gauss-Newton Gram
 * products) and the coupled L2 strength already included.
 */
export interface ModelObjective<P extends PyTree = PyTree> extends Objective<P> {
  /**
   * Layer statistics for the curvature blocks at `params`, on this objective's batch: one
   * forward pass with taps and the backward passes of the chosen estimation mode (see
   * `curvature/kronecker-estimator.ts`). A model that records no taps (a plain function that
   * ignores its third argument) gives no layers.
   */
  kfacStatistics(params: P, options: { mode: EstimationMode; rng: Rng; diagonalLeaves?: readonly boolean[]; subset?: { readonly fraction: number; readonly seed: number } }): KfacStatistics<P>;
  /**
   * Ask that the next `valueAndGrad` at exactly `params` (the same object) compute K-FAC's
   * statistics in the gradient's own pass (`kfacValueGradAndStatistics`: one forward pass); the
   * next `kfacStatistics` at `params` with the same `options` object then returns them
   * (`fromGradientPass: true`) instead of running passes of its own. One-shot.
   */
  requestKfacStatistics?(params: P, options: { mode: EstimationMode; rng: Rng; diagonalLeaves?: readonly boolean[]; subset?: { readonly fraction: number; readonly seed: number } }): void;
  /**
   * The Gram matrix [vᵢᵀ(G + ηI)vⱼ] of the Gauss-Newton matrix (plus the coupled L2) on a few
   * vectors, by forward mode only: (J vᵢ)ᵀ H_L (J vⱼ) from one jvp per vector — what K-FAC's
   * 2-D quadratic model needs, at about half the cost of one `ggnvp` per vector.
   */
  ggnGram(params: P, vectors: readonly P[]): number[][];
  /** The Gauss-Newton-Bartlett diagonal (see `Objective.gnbDiagonal`): every model objective has one. */
  gnbDiagonal(params: P, seed: number): P;
  /** Coupled L2 strength already in the value, gradient and products (0 when none). */
  readonly l2: number;
}

export interface ModelObjectiveOptions {
  /** Which Fisher `fisherVp` uses (default 'true': targets sampled from the model), and its randomness. */
  fisher?: 'true' | 'empirical';
  rng?: Rng;
  /** Dropout masks from this seed at every evaluation (gradient, curvature, statistics). */
  dropoutSeed?: number;
  /** Largest output dimension per example for K-FAC's 'ggn' estimation mode (default 64). */
  maxGgnOutputs?: number;
  /**
   * Replay the loss and its gradient through `jit` (default false). The plans are shared by
   * every objective of the same model and loss, with the batch as an argument, so a training
   * loop that builds one objective per mini-batch replays from its third batch on (batches of
   * one shape; another shape is another plan). Bit-identical to eager evaluation. Not with
   * `dropoutSeed`.
   */
  jit?: boolean;
}

/** Per model and loss: value and gradient of the loss on a batch, through jit (see `ModelObjectiveOptions.jit`). */
const jitted = new WeakMap<object, WeakMap<Loss, { vg: (p: PyTree, x: Tensor, y: Tensor) => unknown; value: (p: PyTree, x: Tensor, y: Tensor) => unknown }>>();

function jittedModelObjective<P extends PyTree>(model: object, f: ModelFn<P>, loss: Loss, batch: Batch, lossOf: (p: P) => Tensor): Objective<P> {
  let perLoss = jitted.get(model);
  if (perLoss === undefined) {
    perLoss = new WeakMap();
    jitted.set(model, perLoss);
  }
  let fns = perLoss.get(loss);
  if (fns === undefined) {
    fns = {
      vg: jit((p: PyTree, x: Tensor, y: Tensor) => valueAndGrad((q: P) => loss.value(f(q, x), y))(p as P), { name: 'modelObjective valueAndGrad' }),
      value: jit((p: PyTree, x: Tensor, y: Tensor) => loss.value(f(p as P, x), y), { name: 'modelObjective value' }),
    };
    perLoss.set(loss, fns);
  }
  const { vg, value } = fns;
  const eager = objective(lossOf);
  return {
    ...eager,
    valueAndGrad: (p) => {
      const [v, g] = vg(p, batch.x, batch.y) as [Tensor, P];
      return [scalar('modelObjective', v), g];
    },
    value: (p) => scalar('modelObjective', value(p, batch.x, batch.y) as Tensor),
  };
}

/**
 * The loss of `model` on `batch`, with Gauss-Newton and Fisher products, the diagonal of the
 * empirical Fisher, sub-sampling and K-FAC's statistics, so that every optimizer works with
 * it. `model` is an `nn` Module or a function `(params, x, ctx?) => outputs`; a function that
 * passes `ctx` on to its `nn` layers gets K-FAC's Kronecker blocks, one that ignores it still
 * works with every other method. `fisherVp` samples targets from the model (true Fisher) with
 * `rng`, whose state advances per call; pass `fisher: 'empirical'` for the empirical Fisher.
 * `dropoutSeed` runs the model in training mode with dropout masks drawn from that seed at every
 * evaluation, so gradient and curvature use the same masks (build one objective per step with a
 * new seed for fresh masks).
 */
export function modelObjective<P extends PyTree>(
  model: ModelFn<P> | TappedModel<P>, loss: Loss, batch: Batch, options: ModelObjectiveOptions = {},
): ModelObjective<P> {
  if (!(model instanceof Module) && typeof model !== 'function') throw new TypeError('modelObjective: model must be an nn Module or a function (params, x) => outputs');
  if (loss === null || typeof loss !== 'object' || typeof loss.value !== 'function') throw new TypeError('modelObjective: loss must be a loss from nn (e.g. nn.mse(), nn.crossEntropy())');
  if (batch === null || typeof batch !== 'object' || !(batch.x instanceof Tensor) || !(batch.y instanceof Tensor)) throw new TypeError('modelObjective: batch must be {x: Tensor, y: Tensor}');
  const { dropoutSeed: seed, maxGgnOutputs } = options;
  const ctxOf = () => (seed === undefined ? {} : { training: true, rng: new Rng(seed) });
  // With a dropout seed every evaluation (gradient, curvature, line search) sees the same masks.
  const f: ModelFn<P> = model instanceof Module
    ? (p, x) => model.apply(p, x, seed === undefined ? undefined : ctxOf())
    : (p, x) => (model as (p: P, x: Tensor, ctx: object) => Tensor)(p, x, ctxOf());
  const lossOf = (p: P) => loss.value(f(p, batch.x), batch.y);
  const useJit = checkJitOption('modelObjective', options.jit);
  if (useJit && seed !== undefined) {
    throw new RangeError('modelObjective: jit cannot be combined with dropoutSeed (every seed would be a plan of its own); use one or the other');
  }
  const base = useJit ? jittedModelObjective(model, f, loss, batch, lossOf) : objective(lossOf);
  const rng = options.rng ?? new Rng(0);
  type StatsOptions = { mode: EstimationMode; rng: Rng; diagonalLeaves?: readonly boolean[]; subset?: { readonly fraction: number; readonly seed: number } };
  let requested: { params: P; options: StatsOptions } | undefined;
  let ready: { params: P; options: StatsOptions; stats: KfacStatistics<P> } | undefined;
  const statsOptions = (o: StatsOptions) => ({ ...o, dropoutSeed: seed, maxGgnOutputs });
  // The loss at the point of the last Gram matrix, from that Gram's own forward pass: K-FAC's
  // guard ('modelBatch') asks for h there right after the Gram, and gets it without a pass.
  let gramValue: { params: P; value: number } | undefined;
  const value = base.value as (p: P) => number;
  return {
    ...base,
    examples: batch.x.shape[0],
    value: (p) => (gramValue !== undefined && gramValue.params === p ? gramValue.value : value(p)),
    valueAndGrad: (p) => {
      if (requested === undefined || requested.params !== p) return base.valueAndGrad(p);
      const o = requested.options;
      requested = undefined;
      const r = kfacValueGradAndStatistics(model as TappedModel<P>, loss, batch, p, statsOptions(o));
      ready = { params: p, options: o, stats: { ...r.statistics, fromGradientPass: true } };
      return [r.loss, r.grad];
    },
    requestKfacStatistics: (p, o) => {
      requested = { params: p, options: o };
      ready = undefined; // statistics of an earlier request nobody took (a rejected step) go
    },
    l2: 0,
    ggnvp: (p, v) => ggnvp(f, loss, p, batch, v),
    ggnOperator: (p) => ggnOperatorFn(f, loss, p, batch),
    fisherVp: (p, v) => fisherVp(f, loss, p, batch, v, { kind: options.fisher ?? 'true', rng }),
    diagEmpiricalFisher: (p) => diagEmpiricalFisher(seed === undefined && model instanceof Module ? model : f, loss, p, batch),
    gnbDiagonal: (p, sampleSeed) => {
      const w = loss.batchWeight(batch.x.shape[0]);
      // One pass: the targets are drawn from the detached outputs of the forward being differentiated.
      const g = gradOf((q: P) => {
        const z = f(q, batch.x);
        return loss.value(z, loss.sampleTargets(z, new Rng(sampleSeed)));
      })(p);
      return treeMapValues(g, (x) => (x * x) / w);
    },
    ggnGram: (params, vectors) => {
      // Several vectors: one forward pass linearized, then one linear pass per vector (a jvp
      // per vector would repeat the forward pass for each).
      let outs: [Tensor, Tensor][];
      if (vectors.length > 1) {
        const [z, lin] = linearize((p: P) => f(p, batch.x), params);
        try {
          outs = vectors.map((v) => [z, lin(v)]);
        } finally {
          lin.dispose();
        }
      } else {
        outs = vectors.map((v) => jvp((p: P) => f(p, batch.x), [params], [v]));
      }
      const z = outs[0]?.[0];
      if (z !== undefined) gramValue = { params, value: scalar('modelObjective', loss.value(z, batch.y)) };
      const hj = outs.map(([, jv]) => loss.outputHvp(z, batch.y, jv));
      return vectors.map((_, i) => vectors.map((__, j) => vdot(outs[i][1], hj[j])));
    },
    kfacStatistics: (params, o) => {
      if (ready !== undefined && ready.params === params && ready.options === o) {
        const stats = ready.stats;
        ready = undefined;
        return stats;
      }
      return kfacStatistics(model as TappedModel<P>, loss, batch, params, statsOptions(o));
    },
    subsample: (fraction, subSeed, block = 0) => {
      checkNumber('subsample', 'fraction', fraction, { min: 0, max: 1, minExclusive: true });
      checkNumber('subsample', 'block', block, { min: 0, integer: true });
      const n = batch.x.shape[0];
      const k = Math.max(1, Math.round(fraction * n));
      // The last block may be short (n = 5, fraction 0.5: blocks of 3 and 2); an empty one is an error.
      if (block * k >= n) throw new RangeError(`subsample: block ${block} of ${k} examples starts at example ${block * k}, the batch has ${n}`);
      if (k >= n) return modelObjective(model, loss, batch, options);
      const idx = new Rng(subSeed).permutation(n).slice(block * k, Math.min(n, (block + 1) * k)).sort((a, b) => a - b);
      return modelObjective(model, loss, { x: gather(batch.x, idx, 0), y: gather(batch.y, idx, 0) }, options);
    },
  };
}

/** Which parameters the L2 term leaves out. */
export type L2Exclude = 'none' | 'biases' | ((path: string, leaf: Tensor) => boolean);

export interface L2Options {
  /**
   * 'none' (default): every parameter, as PyTorch's `weight_decay`; 'biases': leave out
   * biases and other vectors (leaves named `bias` or with fewer than two axes — the
   * scikit-learn/Keras convention of penalizing weights only); or a predicate on the leaf's
   * path (`layers.0.bias`) and tensor that returns true to leave it out.
   */
  exclude?: L2Exclude;
}

function l2Mask(exclude: L2Exclude, params: PyTree): boolean[] {
  const leaves = treeLeaves(params);
  const paths = treePaths(params);
  if (exclude === 'none') return leaves.map(() => true);
  if (exclude === 'biases') return leaves.map((l, i) => !(l.ndim < 2 || /(^|\.)bias$/.test(paths[i])));
  return leaves.map((l, i) => {
    const out = exclude(paths[i], l);
    if (typeof out !== 'boolean') throw new TypeError(`withL2: exclude must return true or false, got ${typeof out} for '${paths[i]}'`);
    return !out;
  });
}

/**
 * Coupled L2: `f(θ) + (λ/2)||θ||²` over the penalized parameters. The term enters the gradient
 * (`+λθ`) and every curvature product (`+λv`), as Hessian-free and K-FAC need; PyTorch's
 * `weight_decay` for SGD/Adam is the gradient part alone (see `addL2Gradient`). Everything the
 * wrapped objective offers is kept: K-FAC's statistics (the regularizer's curvature λI enters
 * its damping, Martens & Grosse sec. 6.1), its Gram products and sub-sampling.
 */
export function withL2<P extends PyTree, O extends Objective<P>>(obj: O, l2: number, options: L2Options = {}): O {
  checkNumber('withL2', 'l2', l2, { min: 0 });
  if (obj === null || typeof obj !== 'object' || typeof obj.valueAndGrad !== 'function') throw new TypeError('withL2: expected an objective (from objective(...) or modelObjective(...))');
  const exclude = options.exclude ?? 'none';
  if (exclude !== 'none' && exclude !== 'biases' && typeof exclude !== 'function') throw new RangeError(`withL2: exclude must be 'none', 'biases' or a function (path, leaf) => boolean, got ${JSON.stringify(exclude)}`);
  if (l2 === 0) return obj;
  let maskCache: { tree: P; mask: boolean[] } | undefined;
  const masked = (p: P): P => {
    if (exclude === 'none') return p;
    if (maskCache === undefined || maskCache.tree !== p) maskCache = { tree: p, mask: l2Mask(exclude, p) };
    const mask = maskCache.mask;
    return treeUnflatten(p, treeLeaves(p).map((l, i) => (mask[i] ? l : new Tensor(l.dtype === 'float64' ? new Float64Array(l.size) : new Float32Array(l.size), l.shape))));
  };
  // The mask depends on the tree's structure only: compute it from the parameters, apply it to v.
  const maskLike = (p: P, v: P): P => {
    if (exclude === 'none') return v;
    const mask = l2Mask(exclude, p);
    return treeUnflatten(v, treeLeaves(v).map((l, i) => (mask[i] ? l : new Tensor(l.dtype === 'float64' ? new Float64Array(l.size) : new Float32Array(l.size), l.shape))));
  };
  const penalty = (p: P) => { const m = masked(p); return 0.5 * l2 * treeVdot(m, m); };
  const out: Objective<P> & Record<string, unknown> = {
    ...(obj as Objective<P>),
    valueAndGrad: (p) => {
      const [v, g] = obj.valueAndGrad(p);
      return [v + penalty(p), treeAxpby(1, g, l2, masked(p))];
    },
  };
  const value = obj.value;
  out.value = value ? (p) => value.call(obj, p) + penalty(p) : (p) => obj.valueAndGrad(p)[0] + penalty(p);
  for (const k of ['hvp', 'ggnvp', 'fisherVp'] as const) {
    const prod = obj[k];
    if (prod) out[k] = (p, v) => treeAxpby(1, prod.call(obj, p, v), l2, maskLike(p, v));
  }
  for (const k of ['ggnOperator', 'hvpOperator'] as const) {
    const make = obj[k];
    if (make) {
      out[k] = (p) => {
        const op = make.call(obj, p);
        return { apply: (v) => treeAxpby(1, op.apply(v), l2, maskLike(p, v)), dispose: () => op.dispose() };
      };
    }
  }
  // diagEmpiricalFisher is kept as it is: the regularizer's curvature is added as damping, not as Fisher.
  // The GNB diagonal estimates curvature: the regularizer adds its own, λ on each penalized entry.
  const gnb = obj.gnbDiagonal;
  if (gnb) out.gnbDiagonal = (p, s) => treeAxpby(1, gnb.call(obj, p, s), l2, maskLike(p, treeMapValues(p, () => 1)));
  const sub = obj.subsample;
  if (sub) out.subsample = (fraction, seed, block) => withL2(sub.call(obj, fraction, seed, block), l2, options);
  const m = obj as Partial<ModelObjective<P>>;
  if (typeof m.ggnGram === 'function') {
    const gram = m.ggnGram;
    out.ggnGram = (p: P, vs: readonly P[]) => {
      const g = gram.call(obj, p, vs);
      const mv = vs.map((v) => maskLike(p, v));
      return g.map((row, i) => row.map((x, j) => x + l2 * treeVdot(mv[i], mv[j])));
    };
  }
  if (typeof m.kfacStatistics === 'function') out.l2 = (m.l2 ?? 0) + l2;
  return out as unknown as O;
}

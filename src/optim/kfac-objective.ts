/**
 * Objectives that K-FAC and EKFAC can read layer statistics from. `kfacObjective(model, loss,
 * batch)` is `modelObjective(model, loss, batch)` (loss, gradient, Gauss-Newton and Fisher
 * products, sub-sampling) plus `kfacStatistics(params, {mode, rng})`: one forward pass with taps
 * and the backward passes of the chosen estimation mode (see `curvature/kronecker-estimator.ts`),
 * so the curvature costs one extra forward and backward pass per statistics update ('true' and
 * 'empirical'), or one forward and D backward passes ('ggn', D outputs per example).
 *
 * Coupled L2 (`{l2: η}`) is applied as `withL2` does — to the value, the gradient and every
 * curvature product — and announced as `l2`, which K-FAC adds to the damping of its factored
 * inverse (Martens & Grosse sec. 6.1: the regularizer's curvature ηI is not in the factors).
 * Note that `withL2(kfacObjective(...), η)` would drop `kfacStatistics` (withL2 copies only the
 * products it knows), so pass `l2` here.
 */
import type { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import type { PyTree } from '../autodiff/pytree.js';
import { Module } from '../nn/module.js';
import type { Loss } from '../nn/losses.js';
import { gather } from '../tensor/shape-ops.js';
import type { Batch } from '../curvature/products.js';
import { kfacStatistics, type EstimationMode, type KfacStatistics, type TappedModel } from '../curvature/kronecker-estimator.js';
import { jvp } from '../autodiff/jvp.js';
import { vdot } from '../tensor/ops.js';
import { modelObjective, withL2 } from './objective.js';
import { treeVdot } from '../autodiff/tree-math.js';
import type { Objective } from './types.js';
import { checkNumber } from './validate.js';

export interface KfacObjective<P extends PyTree = PyTree> extends Objective<P> {
  /** Layer statistics for the curvature blocks at `params`, on this objective's batch. */
  kfacStatistics(params: P, options: { mode: EstimationMode; rng: Rng }): KfacStatistics<P>;
  /**
   * The Gram matrix [vᵢᵀ(G + ηI)vⱼ] of the Gauss-Newton matrix (plus the coupled L2) on a few
   * vectors, by forward mode only: (J vᵢ)ᵀ H_L (J vⱼ) from one jvp per vector — what K-FAC's
   * 2-D quadratic model needs, at about half the cost of one `ggnvp` per vector.
   */
  ggnGram(params: P, vectors: readonly P[]): number[][];
  /** Coupled L2 strength already in the value, gradient and products (0 when none). */
  readonly l2: number;
}

export interface KfacObjectiveOptions {
  /** Coupled L2 regularization η (default 0), as `withL2`. */
  l2?: number;
  /** Dropout masks from this seed for every evaluation, statistics included (see modelObjective). */
  dropoutSeed?: number;
  /** Which Fisher `fisherVp` uses (default 'true'), and its randomness. */
  fisher?: 'true' | 'empirical';
  rng?: Rng;
  /** Largest output dimension per example for the 'ggn' estimation mode (default 64). */
  maxGgnOutputs?: number;
}

/** Does `obj` provide K-FAC statistics? */
export function hasKfacStatistics<P extends PyTree>(obj: Objective<P>): obj is KfacObjective<P> {
  return typeof (obj as Partial<KfacObjective<P>>).kfacStatistics === 'function';
}

/**
 * The loss of `model` (a Module, or `(params, x, ctx) => outputs` that passes ctx to its
 * layers) on `batch`, with everything `modelObjective` gives and the statistics K-FAC needs.
 */
export function kfacObjective<P extends PyTree>(model: TappedModel<P>, loss: Loss, batch: Batch, options: KfacObjectiveOptions = {}): KfacObjective<P> {
  const l2 = checkNumber('kfacObjective', 'l2', options.l2 ?? 0, { min: 0 });
  const { dropoutSeed, fisher, rng, maxGgnOutputs } = options;
  const plain = model instanceof Module ? model : (p: P, x: Tensor) => model(p, x, dropoutSeed === undefined ? {} : { training: true, rng: new Rng(dropoutSeed) });
  const base = withL2(modelObjective(plain, loss, batch, { dropoutSeed, fisher, rng }), l2);
  // The network as modelObjective evaluates it (same dropout masks at every call).
  const f = (p: P): Tensor => {
    const ctx = dropoutSeed === undefined ? {} : { training: true, rng: new Rng(dropoutSeed) };
    return model instanceof Module ? model.apply(p, batch.x, ctx) : model(p, batch.x, ctx);
  };
  return {
    ...base,
    l2,
    ggnGram: (params, vectors) => {
      const outs = vectors.map((v) => jvp(f, [params], [v]));
      const z = outs[0]?.[0];
      const hj = outs.map(([, jv]) => loss.outputHvp(z, batch.y, jv));
      return vectors.map((vi, i) => vectors.map((vj, j) => vdot(outs[i][1], hj[j]) + (l2 > 0 ? l2 * treeVdot(vi, vj) : 0)));
    },
    kfacStatistics: (params, o) => kfacStatistics(model, loss, batch, params, { ...o, dropoutSeed, maxGgnOutputs }),
    subsample: (fraction, seed) => {
      checkNumber('subsample', 'fraction', fraction, { min: 0, max: 1, minExclusive: true });
      const n = batch.x.shape[0];
      const k = Math.max(1, Math.round(fraction * n));
      if (k >= n) return kfacObjective(model, loss, batch, options);
      const idx = new Rng(seed).permutation(n).slice(0, k).sort((a, b) => a - b);
      return kfacObjective(model, loss, { x: gather(batch.x, idx, 0), y: gather(batch.y, idx, 0) }, options);
    },
  };
}

/**
 * K-FAC as a linear operator: the block-diagonal Kronecker-factored approximation F̆ of the
 * Fisher / GGN (Martens & Grosse 2015; KFC for convolutions, Grosse & Martens 2016), one block
 * G ⊗ A per tapped layer (EKFAC: U diag(s) Uᵀ in the Kronecker eigenbasis, George et al. 2018)
 * and a diagonal block for every other parameter (see `kronecker.ts`). Symmetric PSD.
 *
 * - `kfac(model, loss, params, batch, { mode, seed, approximation })` estimates the factors from
 *   one batch (one forward pass with taps and the backward passes of `mode`);
 * - `kfacOperator(state, params)` wraps the estimator state an optimizer already holds.
 *
 * A product costs two small GEMMs per layer; `block(path)` touches only the blocks under
 * `path` (a layer's block is its own G ⊗ A), so per-layer diagnostics are cheap.
 */
import { Tensor, allocate } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { Module } from '../../nn/module.js';
import type { Loss } from '../../nn/losses.js';
import type { Batch } from '../products.js';
import { DiagonalBlock, blockOf, type Approximation, type DiagonalState, type KroneckerState } from '../kronecker.js';
import {
  kfacStatistics, layoutBlocks, updateEstimator, type EstimationMode, type EstimatorState, type TappedModel,
} from '../kronecker-estimator.js';
import { LinearOperator } from './linear-operator.js';
import { checkBatch, checkForward, checkLoss, checkOptions, checkParams } from './inputs.js';

export interface KfacOperatorOptions {
  /** 'true' (Fisher at sampled targets, default), 'empirical' (batch targets) or 'ggn' (exact factors, one pass per output). */
  mode?: EstimationMode;
  /** Seed of the sampled targets, default 0. */
  seed?: number;
  /** 'kronecker' (K-FAC, default) or 'ekfac'. */
  approximation?: Approximation;
}

function zerosOf(t: Tensor): Tensor {
  return new Tensor(allocate(t.dtype, t.size), t.shape);
}

/** The operator of an estimator state laid out for `params` (K-FAC's or EKFAC's). */
export function kfacOperator<P extends PyTree>(state: EstimatorState, params: P, name = 'kfac'): LinearOperator<P> {
  checkParams(name, params);
  if (state === null || typeof state !== 'object' || !Array.isArray(state.blocks) || state.blocks.length === 0) {
    throw new TypeError(`${name}: expected an estimator state with blocks (laid out by the first K-FAC step), got ${state === null ? 'null' : typeof state}`);
  }
  const paths = treePaths(params);
  const index = new Map(paths.map((p, i) => [p, i]));
  const owner: number[] = paths.map(() => -1);
  const blocks = state.blocks.map((s, b) => {
    const block = blockOf(s);
    const idx = block.paths.map((p) => {
      const i = index.get(p);
      if (i === undefined) throw new RangeError(`${name}: the curvature state has a block for '${p}', which the parameters lack (they have ${paths.join(', ')})`);
      if (owner[i] >= 0) throw new RangeError(`${name}: parameter '${p}' belongs to two curvature blocks`);
      owner[i] = b;
      return i;
    });
    return { block, state: s, idx };
  });
  const missing = paths.filter((_, i) => owner[i] < 0);
  if (missing.length > 0) throw new RangeError(`${name}: no curvature block for ${missing.map((p) => `'${p}'`).join(', ')} (the state was laid out for other parameters)`);
  const multiply = (b: (typeof blocks)[number], inputs: Tensor[]): Tensor[] => (b.block instanceof DiagonalBlock
    ? b.block.multiply(b.state as DiagonalState, inputs)
    : b.block.multiply(b.state as KroneckerState, inputs));
  // Products of the blocks touching `leaves`: the other leaves of such a block enter as zeros.
  const applyOn = (leaves: number[], v: Tensor[]): Tensor[] => {
    const all = treeLeaves(params);
    const pos = new Map(leaves.map((i, j) => [i, j]));
    const out: Tensor[] = new Array(leaves.length);
    for (const b of blocks) {
      if (!b.idx.some((i) => pos.has(i))) continue;
      const res = multiply(b, b.idx.map((i) => (pos.has(i) ? v[pos.get(i) as number] : zerosOf(all[i]))));
      b.idx.forEach((i, k) => { if (pos.has(i)) out[pos.get(i) as number] = res[k]; });
    }
    return out;
  };
  const everything = paths.map((_, i) => i);
  return new LinearOperator<P>({
    name,
    like: params,
    apply: (v) => treeUnflatten(params, applyOn(everything, treeLeaves(v))),
    symmetric: true,
    psd: true,
    block: (path, leaves) => {
      const all = treeLeaves(params);
      return new LinearOperator<PyTree>({
        name: `${name}[${path}]`,
        like: leaves.map((i) => all[i]),
        apply: (v) => applyOn(leaves, treeLeaves(v)),
        symmetric: true,
        psd: true,
      });
    },
  });
}

/**
 * K-FAC (or EKFAC) estimated on one batch. `model` must record taps (a Module, or a function
 * `(params, x, ctx)` passing ctx to its layers); parameters no tap covers get diagonal blocks.
 */
export function kfac<P extends PyTree>(model: TappedModel<P>, loss: Loss, params: P, batch: Batch, options: KfacOperatorOptions = {}): LinearOperator<P> {
  if (!(model instanceof Module) && typeof model !== 'function') {
    throw new TypeError(`kfac: model must be a Module or a function (params, x, ctx) => outputs, got ${model === null ? 'null' : typeof model}`);
  }
  checkLoss('kfac', loss);
  checkParams('kfac', params);
  checkBatch('kfac', batch);
  checkOptions('kfac', options, ['mode', 'seed', 'approximation']);
  const mode = options.mode ?? 'true';
  if (!['true', 'empirical', 'ggn'].includes(mode)) throw new RangeError(`kfac: option 'mode' must be 'true', 'empirical' or 'ggn', got ${JSON.stringify(mode)}`);
  const approximation = options.approximation ?? 'kronecker';
  if (approximation !== 'kronecker' && approximation !== 'ekfac') throw new RangeError(`kfac: option 'approximation' must be 'kronecker' or 'ekfac', got ${JSON.stringify(approximation)}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new RangeError(`kfac: option 'seed' must be an integer, got ${seed}`);
  checkForward('kfac', model instanceof Module ? (p: P, x: Tensor) => model.apply(p, x) : (p: P, x: Tensor) => model(p, x, {}), loss, params, batch);
  const stats = kfacStatistics(model, loss, batch, params, { mode, rng: new Rng(seed) });
  const laid = layoutBlocks(params, stats.layers, approximation);
  // One statistics update (the first replaces the zero factors whatever the decay) and the
  // eigenbasis EKFAC needs; the damping argument only matters to Cholesky inverses.
  const { state } = updateEstimator(laid.state, params, stats, { decay: 0, recomputeInverses: true, inverseMethod: 'eigen', damping: 1 });
  return kfacOperator(state, params, approximation === 'ekfac' ? 'ekfac' : 'kfac');
}

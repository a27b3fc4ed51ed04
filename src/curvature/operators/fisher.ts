/**
 * `fisher(model, loss, params, batch, { kind, seed })`: the Fisher information of the model's
 * predictive distribution on a batch as a linear operator, F = w Σ_i ∇L_i ∇L_iᵀ (w the loss's
 * batch weight). 'empirical' takes L_i at the batch targets; 'true' (default) at targets sampled
 * from the model, drawn from `seed` alike for every product, so that the operator is one fixed
 * symmetric PSD matrix (a Monte Carlo estimate whose expectation over seeds is the GGN).
 * Each product: one forward-mode and one reverse-mode pass (`fisherVp`).
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { Rng } from '../../tensor/random.js';
import type { Loss } from '../../nn/losses.js';
import type { Module } from '../../nn/module.js';
import { fisherVp, type Batch, type ModelFn } from '../products.js';
import { LinearOperator } from './linear-operator.js';
import { checkBatch, checkForward, checkLoss, checkOptions, checkParams, modelFn } from './inputs.js';

export interface FisherOperatorOptions {
  /** 'true' (targets sampled from the model, default) or 'empirical' (the batch targets). */
  kind?: 'true' | 'empirical';
  /** Seed of the sampled targets ('true'), default 0. */
  seed?: number;
}

export function fisher<P extends PyTree>(model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch, options: FisherOperatorOptions = {}): LinearOperator<P> {
  const f = modelFn('fisher', model);
  checkLoss('fisher', loss);
  checkParams('fisher', params);
  checkBatch('fisher', batch);
  checkOptions('fisher', options, ['kind', 'seed']);
  const kind = options.kind ?? 'true';
  if (kind !== 'true' && kind !== 'empirical') throw new RangeError(`fisher: option 'kind' must be 'true' or 'empirical', got ${JSON.stringify(kind)}`);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new RangeError(`fisher: option 'seed' must be an integer, got ${seed}`);
  checkForward('fisher', f, loss, params, batch);
  return new LinearOperator<P>({
    name: kind === 'true' ? 'fisher' : 'empirical fisher',
    like: params,
    // A fresh generator per product: the same sampled targets every time, hence one matrix.
    apply: (v) => fisherVp(f, loss, params, batch, v, { kind, rng: new Rng(seed) }),
    symmetric: true,
    psd: true,
  });
}

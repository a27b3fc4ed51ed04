/**
 * K-FAC's view of an objective. Every `modelObjective` now carries the layer statistics and
 * Gram products K-FAC and EKFAC need (and `withL2` keeps them), so `kfacObjective` is kept as
 * a name for existing code: `modelObjective` with the coupled L2 given as an option.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import type { Loss } from '../../nn/losses.js';
import type { Batch } from '../../curvature/products.js';
import type { TappedModel } from '../../curvature/kronecker-estimator.js';
import { modelObjective, withL2, type ModelObjective, type ModelObjectiveOptions } from '../objective.js';
import type { Objective } from '../types.js';
import { checkNumber } from '../validate.js';

/** An objective K-FAC can read layer statistics from (every `modelObjective` is one). */
export type KfacObjective<P extends PyTree = PyTree> = ModelObjective<P>;

export interface KfacObjectiveOptions extends ModelObjectiveOptions {
  /** Coupled L2 regularization η (default 0), as `withL2`. */
  l2?: number;
}

/** Does `obj` provide K-FAC statistics? */
export function hasKfacStatistics<P extends PyTree>(obj: Objective<P>): obj is KfacObjective<P> {
  return typeof (obj as Partial<KfacObjective<P>>).kfacStatistics === 'function';
}

/** `withL2(modelObjective(model, loss, batch, options), options.l2)`. */
export function kfacObjective<P extends PyTree>(model: TappedModel<P>, loss: Loss, batch: Batch, options: KfacObjectiveOptions = {}): KfacObjective<P> {
  const l2 = checkNumber('kfacObjective', 'l2', options.l2 ?? 0, { min: 0 });
  return withL2(modelObjective(model, loss, batch, options), l2);
}

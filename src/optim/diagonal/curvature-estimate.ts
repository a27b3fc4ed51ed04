/**
 * The diagonal curvature estimates AdaHessian and Sophia precondition with, drawn inside the
 * optimizer's step (whose scope releases every probe, product and autodiff graph when the step
 * returns), and AdaHessian's spatial averaging.
 *
 * - Hutchinson: diag(H) ≈ (1/m) Σ zᵢ ⊙ H zᵢ over m Rademacher probes (one Hessian-vector
 *   product each, forward-over-reverse), unbiased for the Hessian's diagonal.
 * - Gauss-Newton-Bartlett: (1/w)(∇L(θ; ŷ))² with targets ŷ sampled from the model, unbiased for
 *   the Gauss-Newton (true Fisher) diagonal; one forward and one backward pass.
 *
 * Probes and targets come from `seed` and the step number alone, so a run resumed from a
 * checkpoint draws what the uninterrupted run drew.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { treeLeaves, treeUnflatten } from '../../autodiff/pytree.js';
import { diagonal as hutchinsonDiagonal } from '../../curvature/estimators/diagonal.js';
import { fromObjective } from '../../curvature/operators/from-objective.js';
import { Rng } from '../../tensor/random.js';
import { Tensor, allocate } from '../../tensor/tensor.js';
import type { UpdateContext } from '../types.js';

/** The estimators: Hutchinson's (Hessian) or Gauss-Newton-Bartlett (GGN, from sampled targets). */
export type DiagonalEstimator = 'hutchinson' | 'gnb';

/** Probes per estimate: each is a Hessian-vector product, so a step's cost is bounded here. */
export const PROBES_RANGE = { min: 1, max: 1000, integer: true } as const;

/** Seeds whose per-step seeds stay exact integers (a seed near 1e308 would overflow to Infinity). */
export const SEED_RANGE = { min: -(2 ** 31), max: 2 ** 31, integer: true } as const;

/** A seed for step `step`'s draws, distinct per step (as K-FAC derives its own). */
export function stepSeed(seed: number, step: number): number {
  return seed * 65537 + step + 1;
}

/**
 * The estimate at `params` for this step, counted in `ctx.counters`. Throws, naming the method
 * and the missing product, when the objective cannot give it.
 */
export function estimateDiagonal<P extends PyTree>(
  owner: string, estimator: DiagonalEstimator, params: P, ctx: UpdateContext<P>, options: { seed: number; probes: number },
): P {
  const obj = ctx.objective;
  const seed = stepSeed(options.seed, ctx.step);
  if (estimator === 'gnb') {
    if (typeof obj.gnbDiagonal !== 'function') {
      throw new TypeError(`${owner}: the Gauss-Newton-Bartlett estimator needs an objective with gnbDiagonal (targets sampled from the model): build it with modelObjective(model, loss, batch); a plain objective(f) has no model to sample from (use the Hutchinson estimator, sophia-h)`);
    }
    ctx.counters.evals++;
    return obj.gnbDiagonal(params, seed);
  }
  if (typeof obj.hvp !== 'function') {
    throw new TypeError(`${owner}: the Hutchinson estimator needs an objective with hvp (Hessian-vector products): build it with objective(f) or modelObjective(model, loss, batch)`);
  }
  // One probe: a linearization would cost more than it saves; several reuse one.
  const op = fromObjective(obj, params, 'hessian', { linearize: options.probes > 1, onMatvec: () => { ctx.counters.curvatureProducts++; } });
  try {
    return hutchinsonDiagonal(op, { samples: options.probes, rng: new Rng(seed) });
  } finally {
    op.dispose();
  }
}

/**
 * AdaHessian's spatial averaging (Yao et al. 2021, eq. 10) of |d|: a leaf with three or more
 * axes (a convolution kernel [out, in, ...spatial]) is averaged over its spatial axes, one
 * value per (out, in) pair, when `spatial` is set; other leaves over contiguous blocks of
 * `blockSize` entries along their last axis (a row's last block may be shorter). The absolute
 * value is taken first, as the authors' code does, so that entries of opposite sign in a block
 * do not cancel; the second moment squares it anyway.
 */
export function spatialAverage<P extends PyTree>(d: P, options: { blockSize: number; spatial: boolean }): P {
  return treeUnflatten(d, treeLeaves(d).map((leaf) => {
    const src = leaf.data;
    const out = allocate(leaf.dtype, leaf.size);
    const conv = options.spatial && leaf.ndim >= 3;
    const rowLength = conv ? leaf.shape.slice(2).reduce((a, b) => a * b, 1) : leaf.ndim === 0 ? 1 : leaf.shape[leaf.ndim - 1];
    const block = conv ? rowLength : Math.min(options.blockSize, rowLength);
    if (block <= 1 || rowLength === 0) {
      for (let i = 0; i < src.length; i++) out[i] = Math.abs(src[i]);
      return new Tensor(out, leaf.shape);
    }
    for (let row = 0; row < src.length; row += rowLength) {
      for (let start = row; start < row + rowLength; start += block) {
        const end = Math.min(start + block, row + rowLength);
        let s = 0;
        for (let i = start; i < end; i++) s += Math.abs(src[i]);
        const mean = s / (end - start);
        for (let i = start; i < end; i++) out[i] = mean;
      }
    }
    return new Tensor(out, leaf.shape);
  }));
}

/**
 * Grafting (Agarwal, Anil, Hazan, Koren & Zhang 2020, "Disentangling adaptive gradient methods
 * from learning rates"): take the direction of one method and the step size of another, per
 * tensor. Shampoo uses it with Adam's magnitude (as Distributed Shampoo does), so that its
 * learning rate is Adam's and its steps before the first roots are Adam's steps.
 */
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { Tensor, allocate } from '../tensor/tensor.js';
import type { Transform } from './types.js';

/**
 * A direction transform may leave some tensors without a direction of its own (Shampoo before
 * its first roots, or for 1-D tensors): `preconditions(state, leaf)` false says so, and `graft`
 * then takes the magnitude transform's update for that tensor as it is.
 */
export interface DirectionTransform<S extends PyTree = PyTree, P extends PyTree = PyTree> extends Transform<S, P> {
  /** Whether the update for leaf `leaf` (in `treeLeaves` order), given the state after the update, is this transform's own. */
  preconditions?(state: S, leaf: number): boolean;
}

/** The state of `graft`: each transform's own. */
export interface GraftState<D extends PyTree = PyTree, M extends PyTree = PyTree> {
  readonly direction: D;
  readonly magnitude: M;
  [key: string]: PyTree;
}

/** Euclidean norm with a scaled sum of squares (gradients near 1e30 have squares beyond float32). */
function norm(x: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] / scale;
    s += v * v;
  }
  return scale * Math.sqrt(s);
}

/**
 * `graft(direction, magnitude)`: per tensor, `u = (‖m‖ / ‖d‖) · d` with d the direction
 * transform's update and m the magnitude transform's (both fed the same incoming updates).
 * A zero direction gives a zero update (it has no direction to scale); a tensor the direction
 * does not precondition (see `DirectionTransform`) gets m unchanged. Magnitudes: `scaleByAdam`,
 * `scaleByRms`, `scaleByAdagrad`, or the identity `scale(1)` for SGD's.
 * Memory: the two transforms' states.
 */
export function graft<D extends PyTree, M extends PyTree, P extends PyTree>(
  direction: DirectionTransform<D, P>, magnitude: Transform<M, P>,
): Transform<GraftState<D, M>, P> {
  for (const [what, t] of [['direction', direction], ['magnitude', magnitude]] as const) {
    if (t === null || typeof t !== 'object' || typeof t.update !== 'function' || typeof t.init !== 'function') throw new TypeError(`graft: ${what} is not a transform`);
  }
  return {
    name: `graft(${direction.name}, ${magnitude.name})`,
    init: (params) => ({ direction: direction.init(params), magnitude: magnitude.init(params) }),
    update: (updates, state, params, ctx) => {
      const [d, ds] = direction.update(updates, state.direction, params, ctx);
      const [m, ms] = magnitude.update(updates, state.magnitude, params, ctx);
      const dl = treeLeaves(d);
      const ml = treeLeaves(m);
      if (dl.length !== ml.length) throw new RangeError(`graft: the direction has ${dl.length} tensors and the magnitude ${ml.length}`);
      const out = dl.map((dt, i) => {
        const mt = ml[i];
        if (dt.size !== mt.size) throw new RangeError(`graft: tensor ${i} has ${dt.size} entries in the direction and ${mt.size} in the magnitude`);
        if (direction.preconditions !== undefined && !direction.preconditions(ds, i)) return mt;
        const dn = norm(dt.data);
        const o = allocate(mt.dtype, mt.size);
        // A zero or non-finite direction has nothing to scale: zero, never 0·Inf = NaN.
        if (dn > 0 && Number.isFinite(dn)) {
          const mn = norm(mt.data);
          // (d/‖d‖)·‖m‖, in that order: ‖m‖/‖d‖ alone overflows when ‖d‖ is subnormal.
          for (let j = 0; j < o.length; j++) o[j] = (dt.data[j] / dn) * mn;
        }
        return new Tensor(o, mt.shape);
      });
      return [treeUnflatten(m, out), { direction: ds, magnitude: ms }];
    },
  };
}

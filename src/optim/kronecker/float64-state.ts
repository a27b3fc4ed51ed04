/**
 * Run a transform in float64 whatever the parameters' dtype: its state (statistics, moments) is
 * kept in float64 and only the final update is cast back. Shampoo and SOAP accumulate squares of
 * gradients, which overflow float32 for gradients beyond 1.8e19 (and underflow below 1e-23);
 * in float64 gradients up to 1e154 keep finite statistics.
 */
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import type { Transform } from '../types.js';

function toFloat64<P extends PyTree>(tree: P): P {
  return treeUnflatten(tree, treeLeaves(tree).map((t) => t.astype('float64')));
}

export function inFloat64<S extends PyTree, P extends PyTree>(inner: Transform<S, P>): Transform<S, P> {
  return {
    name: inner.name,
    init: (params) => inner.init(toFloat64(params)),
    update: (updates, state, params, ctx) => {
      const [u, s] = inner.update(toFloat64(updates), state, toFloat64(params), ctx);
      const dtypes = treeLeaves(updates).map((t) => t.dtype);
      return [treeUnflatten(u, treeLeaves(u).map((t, i) => t.astype(dtypes[i]))), s];
    },
  };
}

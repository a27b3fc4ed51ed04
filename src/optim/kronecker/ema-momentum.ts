/**
 * Momentum as an exponential moving average, `m ← μ m + (1 − μ) g`, returning m, or with
 * Nesterov's look-ahead `(1 − μ) g + μ m` (the form of Muon's reference code and of Distributed
 * Shampoo's β₁ filter). Unlike PyTorch's heavy ball (`m ← μ m + g`), it keeps the update on the
 * scale of g, so a grafted or orthogonalized step keeps the learning rate's meaning.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { treeAxpby, treeZerosLike } from '../../autodiff/tree-math.js';
import type { Transform } from '../types.js';

/** The momentum buffer of `emaMomentum`. */
export interface EmaMomentumState<P extends PyTree = PyTree> {
  readonly trace: P;
  [key: string]: PyTree;
}

export function emaMomentum<P extends PyTree>(momentum: number, nesterov: boolean): Transform<EmaMomentumState<P>, P> {
  return {
    name: nesterov ? 'emaNesterov' : 'emaMomentum',
    init: (params) => ({ trace: treeZerosLike(params) }),
    update: (g, s) => {
      if (momentum === 0) return [g, s];
      const trace = treeAxpby(momentum, s.trace, 1 - momentum, g);
      return [nesterov ? treeAxpby(1 - momentum, g, momentum, trace) : trace, { trace }];
    },
  };
}

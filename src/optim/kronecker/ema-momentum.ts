/**
 * Momentum as an exponential moving average, `m ← μ m + (1 − μ) g`, returning m, or with
 * Nesterov's look-ahead `(1 − μ) g + μ m` (the form of Muon's reference code and of Distributed
 * Shampoo's β₁ filter). Unlike PyTorch's heavy ball (`m ← μ m + g`), it keeps the update on the
 * scale of g, so a grafted step keeps the learning rate's meaning. With `biasCorrection`, m is
 * divided by 1 − μᵗ as Adam's first moment, so the first steps are not μ-times shorter.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { treeAxpby, treeScale, treeZerosLike } from '../../autodiff/tree-math.js';
import type { Transform } from '../types.js';

/** The momentum buffer of `emaMomentum` and the steps it has seen. */
export interface EmaMomentumState<P extends PyTree = PyTree> {
  readonly count: number;
  readonly trace: P;
  [key: string]: PyTree;
}

export function emaMomentum<P extends PyTree>(momentum: number, nesterov: boolean, biasCorrection = false): Transform<EmaMomentumState<P>, P> {
  return {
    name: nesterov ? 'emaNesterov' : 'emaMomentum',
    init: (params) => ({ count: 0, trace: treeZerosLike(params) }),
    update: (g, s) => {
      if (momentum === 0) return [g, s];
      const count = s.count + 1;
      const trace = treeAxpby(momentum, s.trace, 1 - momentum, g);
      const m = biasCorrection ? treeScale(1 / (1 - Math.pow(momentum, count)), trace) : trace;
      return [nesterov ? treeAxpby(1 - momentum, g, momentum, m) : m, { count, trace }];
    },
  };
}

/**
 * `hessian(f, params)`: the Hessian of a scalar function of a parameter tree as a linear
 * operator. Each product is exact, forward-over-reverse (one gradient pass differentiated by
 * forward mode), at the cost of about two gradient evaluations. Symmetric, and indefinite in
 * general (a neural network's loss has saddles): `psd` is false.
 */
import { Tensor, fmtShape } from '../../tensor/tensor.js';
import { tidy } from '../../tensor/scope.js';
import type { PyTree } from '../../autodiff/pytree.js';
import { hvp } from '../../autodiff/compose.js';
import { LinearOperator } from './linear-operator.js';
import { checkParams } from './inputs.js';

export function hessian<P extends PyTree>(f: (params: P) => Tensor, params: P): LinearOperator<P> {
  if (typeof f !== 'function') throw new TypeError(`hessian: f must be a function (params) => scalar Tensor, got ${typeof f}`);
  checkParams('hessian', params);
  // One evaluation at construction: a non-scalar f fails here, not inside the first product.
  tidy(() => {
    const y = f(params);
    if (!(y instanceof Tensor)) throw new TypeError(`hessian: f must return a scalar Tensor built from the library's ops, got ${typeof y}`);
    if (y.size !== 1) throw new RangeError(`hessian: f must return a scalar, got a tensor of shape ${fmtShape(y.shape)}`);
    return null;
  });
  return new LinearOperator<P>({ name: 'hessian', like: params, apply: (v) => hvp(f, params, v), symmetric: true, psd: false });
}

/**
 * Derivatives of a network's output with respect to its inputs, per point, inside a loss
 * (physics-informed networks: residuals such as u_t − α u_xx). Built by composing forward-mode
 * transformations: ∂u/∂x_i is the jvp along the i-th input direction, ∂²u/∂x_i² the jvp of that
 * jvp (forward-over-forward). Everything is traced, so `grad`, `hvp` and `jvp` with respect to
 * the parameters of a loss built from the results are exact.
 */
import { Tensor, describe, zeros } from '../tensor/tensor.js';
import { jvp } from '../autodiff/jvp.js';
import type { PyTree } from '../autodiff/pytree.js';
import { Module } from './module.js';

/** A model as a module or a plain function `(params, x) => outputs`. */
export type PointModel<P extends PyTree> = Module<P> | ((params: P, x: Tensor) => Tensor);

export interface InputDerivativesOptions {
  /** 1: values and first derivatives; 2 (default): also the pure second derivatives ∂²u/∂x_i². */
  order?: 1 | 2;
  /** Input coordinates to differentiate along (default all of x's columns). */
  dims?: readonly number[];
}

export interface InputDerivatives {
  /** The model's output at each point, as the model returns it (first axis: the points). */
  u: Tensor;
  /** `du[k]` = ∂u/∂x_{dims[k]} at each point, shaped as `u`. */
  du: Tensor[];
  /** `d2u[k]` = ∂²u/∂x_{dims[k]}² at each point, shaped as `u` (empty at order 1). */
  d2u: Tensor[];
}

/** A tangent for all points at once: 1 in column `i`, 0 elsewhere. */
function direction(x: Tensor, i: number): Tensor {
  const e = zeros(x.shape, { dtype: x.dtype });
  const [n, d] = x.shape;
  for (let r = 0; r < n; r++) e.data[r * d + i] = 1;
  return e;
}

/**
 * `inputDerivatives(model, params, x, { order: 2 })` for points `x` of shape [N, d]: the outputs
 * u, and per point ∂u/∂x_i and ∂²u/∂x_i² for the chosen coordinates i.
 *
 * The model must treat points independently (an MLP; not batch normalization): one jvp along
 * column i gives every point's own derivative at once because point n's output does not depend
 * on point m's input. Cost: per coordinate, about 2 forward passes at order 1, 4 at order 2.
 */
export function inputDerivatives<P extends PyTree>(model: PointModel<P>, params: P, x: Tensor, options: InputDerivativesOptions = {}): InputDerivatives {
  const owner = 'inputDerivatives';
  if (!(model instanceof Module) && typeof model !== 'function') throw new TypeError(`${owner}: model must be an nn Module or a function (params, x) => outputs, got ${describe(model)}`);
  if (!(x instanceof Tensor) || x.ndim !== 2) throw new RangeError(`${owner}: x must be a Tensor of points [N, d], got ${describe(x)}`);
  if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options must be an object`);
  const order = options.order ?? 2;
  if (order !== 1 && order !== 2) throw new RangeError(`${owner}: option 'order' must be 1 or 2, got ${describe(order)}`);
  const d = x.shape[1];
  const dims = options.dims ?? Array.from({ length: d }, (_, i) => i);
  if (!Array.isArray(dims) || dims.length === 0 || dims.some((i) => !Number.isInteger(i) || i < 0 || i >= d)) {
    throw new RangeError(`${owner}: option 'dims' must be a non-empty list of input columns in [0, ${d}), got ${describe(dims)}`);
  }
  const f = (X: Tensor): Tensor => {
    const out = model instanceof Module ? model.apply(params, X) : model(params, X);
    if (!(out instanceof Tensor) || out.ndim < 1 || out.shape[0] !== x.shape[0]) throw new RangeError(`${owner}: the model must return one output row per point (${x.shape[0]}), got ${describe(out)}`);
    return out;
  };
  let u: Tensor | undefined;
  const du: Tensor[] = [];
  const d2u: Tensor[] = [];
  for (const i of dims) {
    const e = direction(x, i);
    if (order === 1) {
      const [value, first] = jvp(f, [x], [e]);
      u ??= value;
      du.push(first);
    } else {
      // Forward over forward: the tangent of (u, ∂u/∂x_i) along e_i is (∂u/∂x_i, ∂²u/∂x_i²).
      const [[value, first], [, second]] = jvp((X: Tensor) => jvp(f, [X], [e]), [x], [e]);
      u ??= value;
      du.push(first);
      d2u.push(second);
    }
  }
  return { u: u as Tensor, du, d2u };
}

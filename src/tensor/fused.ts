/**
 * Fused derivative-times-cotangent for the reverse-mode rules of unary ops: `g·y(1−y)` for
 * sigmoid, `g·(1−y²)` for tanh, `g·y` for exp, `g·sigmoid(x)` for softplus, `g·[x > 0]` for
 * relu, in one kernel pass and one output array instead of two or three ops with a temporary
 * each. Not differentiable: the vjp rules use it only where no enclosing trace will
 * differentiate them again (see `src/autodiff/vjp.ts`).
 */
import { kernels } from '../kernels/index.js';
import { UNARY_GRAD_OPS, type UnaryGradOp } from '../kernels/types.js';
import { Tensor, allocateUninit, checkSameDType, describe, fmtShape, sameShape } from './tensor.js';

/**
 * `g` times the derivative of `op`, with `residual` the op's output (sigmoid, tanh, exp) or
 * input (softplus, relu). Same shape and dtype for both; equal to the composed rule up to
 * rounding (one rounding instead of one per op).
 */
export function unaryGrad(op: UnaryGradOp, residual: Tensor, g: Tensor): Tensor {
  if (!(UNARY_GRAD_OPS as readonly string[]).includes(op)) {
    throw new RangeError(`unaryGrad: op must be one of ${UNARY_GRAD_OPS.join(', ')}, got ${describe(op)}`);
  }
  if (!(residual instanceof Tensor)) throw new TypeError(`unaryGrad: residual must be a Tensor, got ${describe(residual)}`);
  if (!(g instanceof Tensor)) throw new TypeError(`unaryGrad: cotangent must be a Tensor, got ${describe(g)}`);
  checkSameDType('unaryGrad', residual, g);
  if (!sameShape(residual.shape, g.shape)) {
    throw new RangeError(`unaryGrad: residual ${fmtShape(residual.shape)} and cotangent ${fmtShape(g.shape)} must have one shape`);
  }
  const out = allocateUninit(g.dtype, g.size); // the kernel writes every element
  kernels().unaryGrad(op, residual.data, g.data, out);
  return new Tensor(out, g.shape);
}

/** Switch for benchmarks that compare the fused and composed rules (on by default). */
export const fusedDerivatives = { enabled: true };

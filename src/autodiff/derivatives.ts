/**
 * Elementwise derivatives shared by forward and reverse mode, written with differentiable
 * ops so that they can be differentiated again. Tables are typed over the op enums, so a new
 * op without a derivative does not compile.
 */
import type { BinaryOp, UnaryGradOp, UnaryOp } from '../kernels/types.js';
import { Tensor, fmtShape, sameShape } from '../tensor/tensor.js';
import { fusedDerivatives, unaryGrad } from '../tensor/fused.js';
import { bind, bindOpaque, differentiated } from './core.js';
import { add, cos, div, exp, greaterEqual, less, log, mul, neg, pow, sigmoid, sin, square, sub, sum, reshape, where, equal, greater } from './ops.js';

/**
 * dy/dx given input x and output y; a number for a constant derivative; null for ops whose
 * derivative is zero.
 */
export const UNARY_DERIVATIVES: { readonly [K in UnaryOp]: ((x: Tensor, y: Tensor) => Tensor) | number | null } = {
  neg: -1,
  abs: (x) => sub(greater(x, 0), less(x, 0)), // sign(x), 0 at 0
  sign: null,
  step: null,
  exp: (_x, y) => y,
  expm1: (_x, y) => add(y, 1),
  log: (x) => div(1, x),
  log1p: (x) => div(1, add(x, 1)),
  sqrt: (_x, y) => div(0.5, y),
  rsqrt: (x, y) => mul(-0.5, div(y, x)),
  square: (x) => mul(2, x),
  reciprocal: (_x, y) => neg(square(y)),
  tanh: (_x, y) => sub(1, square(y)),
  sigmoid: (_x, y) => mul(y, sub(1, y)),
  relu: (x) => greater(x, 0),
  softplus: (x) => sigmoid(x),
  sin: (x) => cos(x),
  cos: (x) => neg(sin(x)),
  erf: (x) => mul(2 / Math.sqrt(Math.PI), exp(neg(square(x)))),
};

/** The unary ops with a fused derivative kernel, and which residual it reads (output y or input x). */
const FUSED_UNARY: { readonly [K in UnaryOp]?: { readonly op: UnaryGradOp; readonly reads: 'x' | 'y' } } = {
  sigmoid: { op: 'sigmoid', reads: 'y' },
  tanh: { op: 'tanh', reads: 'y' },
  exp: { op: 'exp', reads: 'y' },
  softplus: { op: 'softplus', reads: 'x' },
  relu: { op: 'relu', reads: 'x' },
};

/**
 * `g · op'(x)` by one fused kernel, or null where the composed rule must run (no fused kernel
 * for the op, the switch is off, or the shapes or dtypes differ). The reverse-mode rule passes
 * the cotangent as `g`, the forward-mode rule the tangent. When neither `g` nor the residual is
 * being differentiated, the kernel is applied opaquely (no derivative needed; jit records it);
 * otherwise through the differentiable `unaryGrad` primitive, whose own rules (below and in
 * vjp.ts/jvp.ts) let grad of grad, jvp of grad and linearize differentiate it again: one op
 * where the composed rule took three (square, 1 − ·, ×), and fewer ops in its derivatives.
 */
export function fusedUnaryVjp(op: UnaryOp, g: Tensor, x: Tensor, y: Tensor): Tensor | null {
  const f = FUSED_UNARY[op];
  if (f === undefined || !fusedDerivatives.enabled) return null;
  return fusedFactor(f, g, x, y);
}

/**
 * The forward-mode rule's fused product: as `fusedUnaryVjp`, except for softplus, whose factor
 * σ(x) is transcendental. There the composed rule stays, so that a linearization computes σ(x)
 * once, concretely, and its linear map applies products only (never an exp per application).
 */
export function fusedUnaryJvp(op: UnaryOp, t: Tensor, x: Tensor, y: Tensor): Tensor | null {
  const f = FUSED_UNARY[op];
  if (f === undefined || f.op === 'softplus' || !fusedDerivatives.enabled) return null;
  return fusedFactor(f, t, x, y);
}

/**
 * `g · φ(r)`, the factor of `unaryGrad`, for the derivative rules of `unaryGrad` itself:
 * the fused primitive where φ is a polynomial in the residual (tanh, sigmoid, exp, relu),
 * `g · σ(r)` composed for softplus (see `fusedUnaryJvp`).
 */
export function unaryGradFactor(op: UnaryGradOp, g: Tensor, r: Tensor): Tensor {
  return op === 'softplus' ? mul(g, sigmoid(r)) : bind('unaryGrad', [g, r], { op });
}

function fusedFactor(f: { readonly op: UnaryGradOp; readonly reads: 'x' | 'y' }, g: Tensor, x: Tensor, y: Tensor): Tensor | null {
  const residual = f.reads === 'x' ? x : y;
  if (g.dtype !== residual.dtype || !sameShape(g.shape, residual.shape)) return null;
  if (differentiated(g) || differentiated(residual)) return bind('unaryGrad', [g, residual], { op: f.op });
  // Through bindOpaque, so that jit records the fused kernel (and replays the same bits).
  return bindOpaque('unaryGrad', f.op, [residual, g], fusedImpl);
}

/**
 * The derivative of the fused factor with respect to its residual: `unaryGrad(g, r) = g · φ(r)`
 * has ∂/∂r = g · φ'(r). φ is 1 − y² (tanh), y(1 − y) (sigmoid), y (exp), σ(x) (softplus),
 * [x > 0] (relu: φ' = 0, null). In differentiable ops, so that it can be differentiated again.
 */
export const UNARY_GRAD_SLOPES: { readonly [K in UnaryGradOp]: ((r: Tensor) => Tensor) | number | null } = {
  tanh: (y) => mul(-2, y),
  sigmoid: (y) => sub(1, mul(2, y)),
  exp: 1,
  softplus: (x) => {
    const s = sigmoid(x);
    return mul(s, sub(1, s));
  },
  relu: null,
};

const fusedImpl = ([r, g]: Tensor[], op: string): Tensor => unaryGrad(op as UnaryGradOp, r, g);

type Partial = ((a: Tensor, b: Tensor, y: Tensor) => Tensor) | number;

/** Partial derivatives ∂y/∂a and ∂y/∂b (broadcast shapes); null for piecewise-constant ops. */
export const BINARY_PARTIALS: { readonly [K in BinaryOp]: { da: Partial; db: Partial } | null } = {
  add: { da: 1, db: 1 },
  sub: { da: 1, db: -1 },
  mul: { da: (_a, b) => b, db: (a) => a },
  div: { da: (_a, b) => div(1, b), db: (_a, b, y) => neg(div(y, b)) },
  pow: {
    // b * a^(b-1), defined as 0 where b == 0 (so 0^0 has derivative 0, not NaN).
    da: (a, b) => where(equal(b, 0), 0, mul(b, pow(a, sub(b, 1)))),
    // y * log(a), with log taken only where a > 0 (0 elsewhere: the real power is not differentiable in b there).
    db: (a, _b, y) => where(greater(a, 0), mul(y, log(where(greater(a, 0), a, 1))), 0),
  },
  // Ties send the whole derivative to the first operand.
  maximum: { da: (a, b) => greaterEqual(a, b), db: (a, b) => less(a, b) },
  minimum: { da: (a, b) => lessEq(a, b), db: (a, b) => greater(a, b) },
  eq: null,
  ne: null,
  gt: null,
  ge: null,
  lt: null,
  le: null,
};

function lessEq(a: Tensor, b: Tensor): Tensor {
  return sub(1, greater(a, b));
}

/** `g` times a derivative that is a tensor or a constant number. */
export function scaleBy(g: Tensor, d: Tensor | number): Tensor {
  if (typeof d === 'number') return d === 1 ? g : d === -1 ? neg(g) : mul(g, d);
  return mul(g, d);
}

/** Sum `g` down to `shape` over the axes that broadcasting added or stretched. */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new RangeError(`unbroadcast: cannot reduce ${fmtShape(g.shape)} to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length > 0 ? sum(g, axes, false) : g;
  return reshape(s, shape);
}

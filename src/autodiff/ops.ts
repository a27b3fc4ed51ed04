/**
 * The differentiable tensor API: the same names and semantics as the tensor layer (NumPy /
 * JAX names, broadcasting), each a `bind` of a primitive, so that `grad`, `vjp`, `jvp` and
 * their compositions see through them. These are what the package root exports.
 */
import type { BinaryOp, DType, UnaryOp } from '../kernels/types.js';
import { Tensor, allocate, checkDType, checkSameDType, describe, fmtShape, resolveReshape, sameShape } from '../tensor/tensor.js';
import { broadcastShapes, normalizeAxes } from '../tensor/ops.js';
import { sliceBounds } from '../tensor/shape-ops.js';
import * as C from '../tensor/conv.js';
import { bind, stopGradient } from './core.js';
import type { ConvGeometry, PoolGeometry } from './primitives.js';

export type TensorLike = Tensor | number;
/** An axis, a list of axes, or undefined for all axes. */
export type Axes = number | readonly number[] | undefined;

function checkT(op: string, x: unknown, name = 'input'): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(x)}`);
  return x;
}

function constantLike(v: number, ref: Tensor): Tensor {
  const d = allocate(ref.dtype, 1);
  d[0] = v;
  return new Tensor(d, []);
}

function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  const ok = (x: unknown) => x instanceof Tensor || typeof x === 'number';
  if (!ok(a)) throw new TypeError(`${op}: first operand must be a Tensor or a number, got ${describe(a)}`);
  if (!ok(b)) throw new TypeError(`${op}: second operand must be a Tensor or a number, got ${describe(b)}`);
  if (typeof a === 'number' && typeof b === 'number') {
    const ref = new Tensor(new Float32Array(1), []);
    return [constantLike(a, ref), constantLike(b, ref)];
  }
  const A = typeof a === 'number' ? constantLike(a, b as Tensor) : a;
  const B = typeof b === 'number' ? constantLike(b, a as Tensor) : b;
  if (A.dtype !== B.dtype) throw new TypeError(`${op}: dtype mismatch, ${A.toString()} and ${B.toString()}; convert one with .astype()`);
  return [A, B];
}

// Parameters are shared per op (frozen: rules and jit plans read them, nothing writes them).
const unary = (op: UnaryOp) => {
  const params = Object.freeze({ op });
  return (x: Tensor): Tensor => bind('unary', [checkT(op, x)], params);
};
function binary(op: BinaryOp, name: string = op) {
  const params = Object.freeze({ op });
  return (a: TensorLike, b: TensorLike): Tensor => {
    // The common case first: two tensors of one dtype and shape need no conversion or broadcast check.
    if (a instanceof Tensor && b instanceof Tensor && a.dtype === b.dtype && sameShape(a.shape, b.shape)) return bind('binary', [a, b], params);
    const [A, B] = operands(name, a, b);
    if (!sameShape(A.shape, B.shape)) broadcastShapes(name, A.shape, B.shape); // validate before tracing
    return bind('binary', [A, B], params);
  };
}

export const neg = unary('neg');
export const abs = unary('abs');
export const sign = unary('sign');
/** Heaviside step: 1 where x > 0, else 0 (zero derivative). */
export const step = unary('step');
export const exp = unary('exp');
export const expm1 = unary('expm1');
export const log = unary('log');
export const log1p = unary('log1p');
export const sqrt = unary('sqrt');
export const rsqrt = unary('rsqrt');
export const square = unary('square');
export const reciprocal = unary('reciprocal');
export const tanh = unary('tanh');
export const sigmoid = unary('sigmoid');
export const relu = unary('relu');
export const softplus = unary('softplus');
export const sin = unary('sin');
export const cos = unary('cos');
export const erf = unary('erf');

export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
export const pow = binary('pow');
export const maximum = binary('maximum');
export const minimum = binary('minimum');
export const equal = binary('eq', 'equal');
export const notEqual = binary('ne', 'notEqual');
export const greater = binary('gt', 'greater');
export const greaterEqual = binary('ge', 'greaterEqual');
export const less = binary('lt', 'less');
export const lessEqual = binary('le', 'lessEqual');

/** Clamp to [lo, hi]. */
export function clip(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new RangeError(`clip: need lo <= hi, got lo=${lo}, hi=${hi}`);
  return minimum(maximum(x, lo), hi);
}

/** The params of a full reduction per rank and keepdims (frozen, shared). */
const fullParams: { axes: number[]; keepdims: boolean }[][] = [[], []];
function fullReduction(ndim: number, keepdims: boolean): { axes: number[]; keepdims: boolean } {
  const list = fullParams[keepdims ? 1 : 0];
  let p = list[ndim];
  if (p === undefined) {
    p = Object.freeze({ axes: Object.freeze(Array.from({ length: ndim }, (_, i) => i)) as number[], keepdims });
    list[ndim] = p;
  }
  return p;
}

function reduction(prim: 'sum' | 'max' | 'min' | 'logsumexp', name: string, x: Tensor, axis: Axes, keepdims: boolean): Tensor {
  checkT(name, x);
  if (axis === undefined) return bind(prim, [x], fullReduction(x.ndim, keepdims));
  const axes = normalizeAxes(name, x.ndim, axis);
  return bind(prim, [x], { axes, keepdims });
}

export function sum(x: Tensor, axis?: Axes, keepdims = false): Tensor {
  return reduction('sum', 'sum', x, axis, keepdims);
}

export function mean(x: Tensor, axis?: Axes, keepdims = false): Tensor {
  checkT('mean', x);
  const axes = normalizeAxes('mean', x.ndim, axis);
  const count = axes.reduce((acc, a) => acc * x.shape[a], 1);
  return div(bind('sum', [x], { axes, keepdims }), count);
}

export function max(x: Tensor, axis?: Axes, keepdims = false): Tensor {
  return reduction('max', 'max', x, axis, keepdims);
}

export function min(x: Tensor, axis?: Axes, keepdims = false): Tensor {
  return reduction('min', 'min', x, axis, keepdims);
}

export function logsumexp(x: Tensor, axis?: Axes, keepdims = false): Tensor {
  return reduction('logsumexp', 'logsumexp', x, axis, keepdims);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  checkT('softmax', x);
  if (x.ndim === 0) throw new RangeError('softmax: needs at least one dimension, got a 0-d tensor');
  return bind('softmax', [x], { axis: normalizeAxes('softmax', x.ndim, axis)[0] });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  checkT('logSoftmax', x);
  if (x.ndim === 0) throw new RangeError('logSoftmax: needs at least one dimension, got a 0-d tensor');
  return bind('logSoftmax', [x], { axis: normalizeAxes('logSoftmax', x.ndim, axis)[0] });
}

/** Mean of squares' root etc. are compositions; `vdot` is sum(x*y) (differentiable). */
export function vdot(x: Tensor, y: Tensor): Tensor {
  if (!sameShape(checkT('vdot', x).shape, checkT('vdot', y).shape)) {
    throw new RangeError(`vdot: shapes ${fmtShape(x.shape)} and ${fmtShape(y.shape)} differ`);
  }
  return sum(mul(x, y));
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const s = resolveReshape(checkT('reshape', x), shape); // validates and resolves -1
  return sameShape(s, x.shape) ? x : bind('reshape', [x], { shape: s });
}

export function flatten(x: Tensor): Tensor {
  return reshape(checkT('flatten', x), [x.size]);
}

export function expandDims(x: Tensor, axis: number): Tensor {
  checkT('expandDims', x);
  const a = normalizeAxes('expandDims', x.ndim + 1, axis)[0];
  const s = x.shape.slice();
  s.splice(a, 0, 1);
  return reshape(x, s);
}

export function squeeze(x: Tensor, axis?: Axes): Tensor {
  checkT('squeeze', x);
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const axes = normalizeAxes('squeeze', x.ndim, axis);
  for (const a of axes) if (x.shape[a] !== 1) throw new RangeError(`squeeze: axis ${a} of ${fmtShape(x.shape)} has length ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => !axes.includes(i)));
}

export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  checkT('transpose', x);
  const p = perm === undefined ? x.shape.map((_, i) => x.ndim - 1 - i) : perm.map((a) => (a < 0 ? a + x.ndim : a));
  if (p.length !== x.ndim || new Set(p).size !== x.ndim || p.some((a) => !Number.isInteger(a) || a < 0 || a >= x.ndim)) {
    throw new RangeError(`transpose: perm [${perm?.join(', ')}] is not a permutation of the ${x.ndim} axes of ${fmtShape(x.shape)}`);
  }
  if (p.every((a, i) => a === i)) return x;
  return bind('transpose', [x], { perm: p });
}

export function swapAxes(x: Tensor, a: number, b: number): Tensor {
  checkT('swapAxes', x);
  const [ia] = normalizeAxes('swapAxes', x.ndim, a);
  const [ib] = normalizeAxes('swapAxes', x.ndim, b);
  const p = x.shape.map((_, i) => i);
  [p[ia], p[ib]] = [p[ib], p[ia]];
  return transpose(x, p);
}

export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkT('broadcastTo', x);
  const b = broadcastShapes('broadcastTo', x.shape, shape);
  if (!sameShape(b, shape)) throw new RangeError(`broadcastTo: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  return sameShape(x.shape, shape) ? x : bind('broadcastTo', [x], { shape: shape.slice() });
}

/** NumPy-style basic slicing per leading axis (see the tensor layer's `slice`). */
export function slice(x: Tensor, start: readonly number[], stop?: readonly (number | undefined)[], step?: readonly number[]): Tensor {
  checkT('slice', x);
  const b = sliceBounds('slice', x.shape, start, stop, step);
  return bind('slice', [x], b);
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) throw new RangeError('concat: needs a non-empty array of tensors');
  xs.forEach((x, i) => checkT('concat', x, `element ${i}`));
  if (xs[0].ndim === 0) throw new RangeError('concat: cannot concatenate 0-d tensors; use stack');
  const [a] = normalizeAxes('concat', xs[0].ndim, axis);
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    if (x.dtype !== xs[0].dtype) throw new TypeError(`concat: dtype mismatch, ${xs[0].toString()} and ${x.toString()}`);
    if (x.ndim !== xs[0].ndim || x.shape.some((d, j) => j !== a && d !== xs[0].shape[j])) {
      throw new RangeError(`concat: shape ${fmtShape(x.shape)} of element ${i} does not match ${fmtShape(xs[0].shape)} outside axis ${a}`);
    }
  }
  return xs.length === 1 ? xs[0] : bind('concat', xs.slice(), { axis: a });
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) throw new RangeError('stack: needs a non-empty array of tensors');
  xs.forEach((x, i) => {
    checkT('stack', x, `element ${i}`);
    if (!sameShape(x.shape, xs[0].shape)) throw new RangeError(`stack: element ${i} has shape ${fmtShape(x.shape)}, element 0 has ${fmtShape(xs[0].shape)}`);
  });
  const [a] = normalizeAxes('stack', xs[0].ndim + 1, axis);
  return concat(xs.map((x) => expandDims(x, a)), a);
}

function indexList(op: string, indices: readonly number[] | Tensor, n: number): { list: number[]; shape: number[] } {
  const raw = indices instanceof Tensor ? Array.from(stopGradient(indices).data) : indices;
  if (!Array.isArray(raw)) throw new TypeError(`${op}: indices must be an array or a Tensor, got ${describe(indices)}`);
  const list = raw.map((v, i) => {
    if (!Number.isInteger(v) || v < -n || v >= n) throw new RangeError(`${op}: index ${v} at position ${i} is out of range for an axis of length ${n}`);
    return v < 0 ? v + n : v;
  });
  return { list, shape: indices instanceof Tensor ? indices.shape.slice() : [list.length] };
}

/** NumPy's `take`: entries at integer indices along `axis`. */
export function gather(x: Tensor, indices: readonly number[] | Tensor, axis = 0): Tensor {
  checkT('gather', x);
  const [a] = normalizeAxes('gather', x.ndim, axis);
  const { list, shape } = indexList('gather', indices, x.shape[a]);
  return bind('gather', [x], { indices: list, indexShape: shape, axis: a });
}

/** One entry per position along `axis` (NumPy's take_along_axis with the axis dropped). */
export function takeAlongAxis(x: Tensor, indices: readonly number[] | Tensor, axis = -1): Tensor {
  checkT('takeAlongAxis', x);
  const [a] = normalizeAxes('takeAlongAxis', x.ndim, axis);
  const { list } = indexList('takeAlongAxis', indices, x.shape[a]);
  const positions = x.size / Math.max(1, x.shape[a]);
  if (list.length !== (x.shape[a] === 0 ? 0 : positions)) {
    throw new RangeError(`takeAlongAxis: ${list.length} indices for ${positions} positions (x ${fmtShape(x.shape)} without axis ${a})`);
  }
  return bind('takeAlongAxis', [x], { indices: list, axis: a });
}

/** `cond ? a : b` elementwise with broadcasting; `cond` is not differentiated. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  checkT('where', cond, 'condition');
  const [A, B] = typeof a === 'number' && typeof b === 'number' ? [constantLike(a, cond), constantLike(b, cond)] : operands('where', a, b);
  return bind('where', [stopGradient(cond), A, B], {});
}

/** A copy in another dtype (differentiable: the cotangent is cast back). */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkT('cast', x);
  checkDType('cast', dtype);
  return x.dtype === dtype ? x : bind('cast', [x], { dtype });
}

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

const MATMUL_PARAMS = [false, true].flatMap((transposeA) => [false, true].map((transposeB) => Object.freeze({ transposeA, transposeB })));

/** Matrix product with NumPy semantics (vector promotion, broadcast batches) and transpose flags. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  checkT('matmul', a, 'first operand');
  checkT('matmul', b, 'second operand');
  if (options === null || typeof options !== 'object') throw new TypeError(`matmul: options must be an object, got ${describe(options)}`);
  if (a.ndim === 0 || b.ndim === 0) throw new RangeError(`matmul: operands must have at least 1 dimension, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  if (a.dtype !== b.dtype) throw new TypeError(`matmul: dtype mismatch, ${a.toString()} and ${b.toString()}; convert one with .astype()`);
  const aVec = a.ndim === 1;
  const bVec = b.ndim === 1;
  if (a.ndim === 2 && b.ndim === 2) {
    // Plain matrices: no promotion, no batch to broadcast.
    const tA = options.transposeA === true;
    const tB = options.transposeB === true;
    const k = tA ? a.shape[0] : a.shape[1];
    const kb = tB ? b.shape[1] : b.shape[0];
    if (k !== kb) throw new RangeError(`matmul: inner dimensions differ: ${fmtShape(a.shape)}${tA ? '^T' : ''} @ ${fmtShape(b.shape)}${tB ? '^T' : ''} (${k} vs ${kb})`);
    return bind('matmul', [a, b], MATMUL_PARAMS[(tA ? 2 : 0) + (tB ? 1 : 0)]);
  }
  const A = aVec ? reshape(a, [1, a.shape[0]]) : a;
  const B = bVec ? reshape(b, [b.shape[0], 1]) : b;
  const transposeA = options.transposeA === true && !aVec;
  const transposeB = options.transposeB === true && !bVec;
  const k = transposeA ? A.shape[A.ndim - 2] : A.shape[A.ndim - 1];
  const kb = transposeB ? B.shape[B.ndim - 1] : B.shape[B.ndim - 2];
  if (k !== kb) {
    throw new RangeError(`matmul: inner dimensions differ: ${fmtShape(a.shape)}${transposeA ? '^T' : ''} @ ${fmtShape(b.shape)}${transposeB ? '^T' : ''} (${k} vs ${kb})`);
  }
  broadcastShapes('matmul', A.shape.slice(0, -2), B.shape.slice(0, -2));
  let out = bind('matmul', [A, B], { transposeA, transposeB });
  if (aVec || bVec) {
    const s = out.shape.slice();
    if (aVec) s.splice(s.length - 2, 1);
    if (bVec) s.splice(s.length - 1, 1);
    out = reshape(out, s);
  }
  return out;
}

export function outer(x: Tensor, y: Tensor): Tensor {
  if (!(x instanceof Tensor) || !(y instanceof Tensor) || x.ndim !== 1 || y.ndim !== 1) {
    throw new RangeError(`outer: expects two 1-D tensors, got ${describe(x)} and ${describe(y)}`);
  }
  return matmul(reshape(x, [x.size, 1]), reshape(y, [1, y.size]));
}


function convGeometry(op: string, o: C.Conv2dOptions): ConvGeometry {
  if (o === null || typeof o !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(o)}`);
  return { stride: C.pair(op, 'stride', o.stride, 1, 1), padding: C.pair(op, 'padding', o.padding, 0, 0), dilation: C.pair(op, 'dilation', o.dilation, 1, 1) };
}

/** 2-D convolution, NCHW (cross-correlation as in PyTorch), optional bias `[O]`. */
export function conv2d(x: Tensor, w: Tensor, options: C.Conv2dOptions & { bias?: Tensor } = {}): Tensor {
  checkT('conv2d', x);
  checkT('conv2d', w, 'weight');
  const g = convGeometry('conv2d', options);
  // Validate shapes on the concrete values before tracing (clear errors even inside grad).
  C.checkConv2dShapes('conv2d', x.shape, w.shape, g, () => checkSameDType('conv2d', x, w));
  let y = bind('conv2d', [x, w], g);
  if (options.bias !== undefined) {
    const b = checkT('conv2d', options.bias, 'bias');
    if (b.ndim !== 1 || b.shape[0] !== w.shape[0]) throw new RangeError(`conv2d: bias must be [${w.shape[0]}], got ${fmtShape(b.shape)}`);
    y = add(y, reshape(b, [1, b.shape[0], 1, 1]));
  }
  return y;
}

export function conv2dBackwardInput(gy: Tensor, w: Tensor, xShape: readonly number[], options: C.Conv2dOptions = {}): Tensor {
  return bind('conv2dBackwardInput', [checkT('conv2dBackwardInput', gy), checkT('conv2dBackwardInput', w, 'weight')],
    { ...convGeometry('conv2dBackwardInput', options), xShape: xShape.slice() });
}

export function conv2dBackwardFilter(x: Tensor, gy: Tensor, wShape: readonly number[], options: C.Conv2dOptions = {}): Tensor {
  return bind('conv2dBackwardFilter', [checkT('conv2dBackwardFilter', x), checkT('conv2dBackwardFilter', gy, 'output gradient')],
    { ...convGeometry('conv2dBackwardFilter', options), wShape: wShape.slice() });
}

function poolGeometry(op: string, kernelSize: C.Pair, o: C.Pool2dOptions): PoolGeometry {
  if (o === null || typeof o !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(o)}`);
  const kernel = C.pair(op, 'kernelSize', kernelSize, 1, 1);
  return { kernel, stride: o.stride === undefined ? kernel : C.pair(op, 'stride', o.stride, 1, 1), padding: C.pair(op, 'padding', o.padding, 0, 0) };
}

/** Max pooling (NCHW); its derivative routes to the window maxima. */
export function maxPool2d(x: Tensor, kernelSize: C.Pair, options: C.Pool2dOptions = {}): Tensor {
  checkT('maxPool2d', x);
  const g = poolGeometry('maxPool2d', kernelSize, options);
  const { out, indices } = C.maxPool2dWithIndices(stopGradient(x), g.kernel, g);
  if (!(x instanceof Tensor) || x === stopGradient(x)) return out;
  return bind('poolGather', [x], { indices, outShape: out.shape.slice() });
}

export function avgPool2d(x: Tensor, kernelSize: C.Pair, options: C.Pool2dOptions & { countIncludePad?: boolean } = {}): Tensor {
  checkT('avgPool2d', x);
  const g = poolGeometry('avgPool2d', kernelSize, options);
  return bind('avgPool2d', [x], { ...g, countIncludePad: options.countIncludePad ?? true });
}

/**
 * Elementwise operations with NumPy broadcasting, and reductions along axes.
 * Names follow NumPy / JAX (`add`, `exp`, `sum`, `logsumexp`, ...).
 */
import { kernels } from '../kernels/index.js';
import type { BinaryOp, FloatArray, ReduceOp, UnaryOp } from '../kernels/types.js';
import { smallBinary, smallBinaryLimit, smallUnary, smallUnaryLimit } from './small-kernels.js';
import {
  Tensor, allocate, allocateUninit, checkSameDType, contiguousStrides, describe, fmtShape, sameShape, shapeSize, type Shape,
} from './tensor.js';

/** A tensor, or a plain number that takes the other operand's dtype. */
export type TensorLike = Tensor | number;

function asTensor(op: string, x: unknown, name: string): Tensor | number {
  if (x instanceof Tensor) return x;
  if (typeof x === 'number') return x;
  throw new TypeError(`${op}: ${name} must be a Tensor or a number, got ${describe(x)}`);
}

/** The NumPy broadcast of two shapes, or an error naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (axis ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Element strides that read a contiguous tensor of `shape` as if broadcast to `outShape`. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = contiguousStrides(shape);
  const off = outShape.length - shape.length;
  const out = new Array<number>(outShape.length).fill(0);
  for (let i = 0; i < shape.length; i++) out[i + off] = shape[i] === 1 ? 0 : strides[i];
  return out;
}

export function unaryOp(op: UnaryOp, x: Tensor, name: string = op): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${name}: input must be a Tensor, got ${describe(x)}`);
  const out = allocateUninit(x.dtype, x.size);
  unaryInto(op, x.data, out);
  return new Tensor(out, x.shape);
}

/** The kernel work of `unaryOp` into `out` (jit replays call it on buffers of their own). */
export function unaryInto(op: UnaryOp, x: FloatArray, out: FloatArray): void {
  // Small inputs of exactly rounded ops stay in JavaScript (same bits, no N-API crossing).
  if (out.length > smallUnaryLimit(op) || !smallUnary(op, x, out)) kernels().unary(op, x, out);
}

/**
 * How `binaryOp` reads two operands without broadcast strides: `[sa, sb]` (1 = elementwise,
 * 0 = a broadcast single element) for the same-shape and tensor-with-one-element cases, else null.
 */
export function flatStrides(a: Shape, aSize: number, b: Shape, bSize: number): [number, number] | null {
  if (sameShape(a, b)) return [1, 1];
  if (bSize === 1 && b.length <= a.length) return [1, 0];
  if (aSize === 1 && a.length <= b.length) return [0, 1];
  return null;
}

/** The kernel work of the flat case of `binaryOp` into `out` (n elements). */
export function binaryFlatInto(op: BinaryOp, a: FloatArray, sa: number, b: FloatArray, sb: number, out: FloatArray, n: number): void {
  if (n > 0 && (n > smallBinaryLimit(op) || !smallBinary(op, a, sa, b, sb, out, n))) {
    kernels().binary(op, a, sa === 1 ? FLAT : SCALAR, b, sb === 1 ? FLAT : SCALAR, out, [n]);
  }
}

/** Flat strides and shape for a same-shape elementwise kernel call (one axis, any size). */
const FLAT: readonly number[] = Object.freeze([1]);
const SCALAR: readonly number[] = Object.freeze([0]);

/**
 * The same-shape and tensor-with-scalar cases without building broadcast strides: the JavaScript
 * loop below the op's size limit, else one flat kernel call. Null when broadcasting is needed.
 */
function binaryFlat(op: BinaryOp, A: Tensor, B: Tensor): Tensor | null {
  const st = flatStrides(A.shape, A.size, B.shape, B.size);
  if (st === null) return null;
  const [sa, sb] = st;
  const n = sa === 1 ? A.size : B.size;
  const out = allocateUninit(A.dtype, n);
  binaryFlatInto(op, A.data, sa, B.data, sb, out, n);
  return new Tensor(out, sa === 1 ? A.shape : B.shape);
}

export function binaryOp(op: BinaryOp, a: TensorLike, b: TensorLike, name: string = op): Tensor {
  const ta = asTensor(name, a, 'first operand');
  const tb = asTensor(name, b, 'second operand');
  if (typeof ta === 'number' && typeof tb === 'number') {
    const out = allocate('float32', 1);
    kernels().binary(op, Float32Array.of(ta), [], Float32Array.of(tb), [], out, []);
    return new Tensor(out, []);
  }
  const ref = (ta instanceof Tensor ? ta : tb) as Tensor;
  const A = ta instanceof Tensor ? ta : scalarLike(ta, ref);
  const B = tb instanceof Tensor ? tb : scalarLike(tb, ref);
  checkSameDType(name, A, B);
  const flat = binaryFlat(op, A, B);
  if (flat !== null) return flat;
  const shape = broadcastShapes(name, A.shape, B.shape);
  const out = allocateUninit(A.dtype, shapeSize(shape));
  kernels().binary(op, A.data, broadcastStrides(A.shape, shape), B.data, broadcastStrides(B.shape, shape), out, shape);
  return new Tensor(out, shape);
}

function scalarLike(v: number, ref: Tensor): Tensor {
  const d = allocate(ref.dtype, 1);
  d[0] = v;
  return new Tensor(d, []);
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
export const sign = (x: Tensor): Tensor => unaryOp('sign', x);
/** Heaviside step: 1 where x > 0, else 0. */
export const step = (x: Tensor): Tensor => unaryOp('step', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
export const expm1 = (x: Tensor): Tensor => unaryOp('expm1', x);
export const log = (x: Tensor): Tensor => unaryOp('log', x);
export const log1p = (x: Tensor): Tensor => unaryOp('log1p', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x);
export const square = (x: Tensor): Tensor => unaryOp('square', x);
export const reciprocal = (x: Tensor): Tensor => unaryOp('reciprocal', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
export const softplus = (x: Tensor): Tensor => unaryOp('softplus', x);
export const sin = (x: Tensor): Tensor => unaryOp('sin', x);
export const cos = (x: Tensor): Tensor => unaryOp('cos', x);
export const erf = (x: Tensor): Tensor => unaryOp('erf', x);

export const add = (a: TensorLike, b: TensorLike): Tensor => binaryOp('add', a, b);
export const sub = (a: TensorLike, b: TensorLike): Tensor => binaryOp('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike): Tensor => binaryOp('mul', a, b);
export const div = (a: TensorLike, b: TensorLike): Tensor => binaryOp('div', a, b);
export const pow = (a: TensorLike, b: TensorLike): Tensor => binaryOp('pow', a, b);
export const maximum = (a: TensorLike, b: TensorLike): Tensor => binaryOp('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike): Tensor => binaryOp('minimum', a, b);
export const equal = (a: TensorLike, b: TensorLike): Tensor => binaryOp('eq', a, b, 'equal');
export const notEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp('ne', a, b, 'notEqual');
export const greater = (a: TensorLike, b: TensorLike): Tensor => binaryOp('gt', a, b, 'greater');
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp('ge', a, b, 'greaterEqual');
export const less = (a: TensorLike, b: TensorLike): Tensor => binaryOp('lt', a, b, 'less');
export const lessEqual = (a: TensorLike, b: TensorLike): Tensor => binaryOp('le', a, b, 'lessEqual');

/** Clamp to [lo, hi] (either bound may be omitted with ±Infinity). */
export function clip(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new RangeError(`clip: need lo <= hi, got lo=${lo}, hi=${hi}`);
  return minimum(maximum(x, lo), hi);
}

/** `alpha * x + beta * y` in one pass (shapes must match). */
export function axpby(alpha: number, x: Tensor, beta: number, y: Tensor): Tensor {
  if (!sameShape(x.shape, y.shape)) throw new RangeError(`axpby: shapes ${fmtShape(x.shape)} and ${fmtShape(y.shape)} differ`);
  checkSameDType('axpby', x, y);
  const out = allocateUninit(x.dtype, x.size);
  kernels().axpby(alpha, x.data, beta, y.data, out);
  return new Tensor(out, x.shape);
}

/** Inner product of two tensors of the same shape, as a number (accumulated in float64). */
export function vdot(x: Tensor, y: Tensor): number {
  if (!sameShape(x.shape, y.shape)) throw new RangeError(`vdot: shapes ${fmtShape(x.shape)} and ${fmtShape(y.shape)} differ`);
  checkSameDType('vdot', x, y);
  return kernels().dot(x.data, y.data);
}

/** Normalize an axis argument to a sorted list of distinct non-negative axes. */
export function normalizeAxes(op: string, ndim: number, axis: number | readonly number[] | undefined): number[] {
  if (axis === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axis === 'number' ? [axis] : Array.isArray(axis) ? axis : null;
  if (list === null) throw new TypeError(`${op}: axis must be a number or an array of numbers, got ${describe(axis)}`);
  const out = new Set<number>();
  for (const a of list) {
    if (!Number.isInteger(a) || a < -ndim || a >= ndim) {
      throw new RangeError(`${op}: axis ${a} is out of range for a tensor with ${ndim} dimension(s)`);
    }
    const n = a < 0 ? a + ndim : a;
    if (out.has(n)) throw new RangeError(`${op}: axis ${a} repeated`);
    out.add(n);
  }
  return [...out].sort((x, y) => x - y);
}

const NO_AXES: readonly number[] = Object.freeze([]);

/** True when `axes` (sorted, distinct, as normalizeAxes returns) names every axis of an ndim tensor. */
function allAxes(axes: readonly number[], ndim: number): boolean {
  return axes.length === ndim && (ndim === 0 || axes[ndim - 1] === ndim - 1);
}

/** Whether `reduceOp` takes its one-call path: every axis, no keepdims, a non-empty input. */
export function fullReduction(x: Tensor, axis: number | readonly number[] | undefined, keepdims: boolean): boolean {
  return !keepdims && x.size > 0 && (axis === undefined || (Array.isArray(axis) && allAxesValid(axis, x.ndim)));
}

/** `axis` is the sorted list 0..ndim-1 (what the differentiable layer passes for a full reduction). */
function allAxesValid(axis: readonly number[], ndim: number): boolean {
  if (!allAxes(axis, ndim)) return false;
  for (let i = 0; i < ndim; i++) if (axis[i] !== i) return false;
  return true;
}

function reduceOp(op: ReduceOp, name: string, x: Tensor, axis: number | readonly number[] | undefined, keepdims: boolean): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${name}: input must be a Tensor, got ${describe(x)}`);
  // A full reduction without keepdims: one kernel call over [1, size, 1], no shape bookkeeping.
  if (fullReduction(x, axis, keepdims)) {
    const out = allocate(x.dtype, 1);
    kernels().reduce(op, x.data, 1, x.size, 1, out);
    return new Tensor(out, NO_AXES);
  }
  const axes = normalizeAxes(name, x.ndim, axis);
  const kept = x.shape.filter((_, i) => !axes.includes(i));
  const outShape = keepdims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept;
  const n = axes.reduce((acc, a) => acc * x.shape[a], 1);
  if (n === 0 && op !== 'sum' && shapeSize(kept) > 0) {
    throw new RangeError(`${name}: cannot reduce over an empty axis of ${x.toString()}`);
  }
  const out = allocate(x.dtype, shapeSize(outShape));
  const contiguousBlock = axes.length === 0 || axes[axes.length - 1] - axes[0] === axes.length - 1;
  if (contiguousBlock && axes.length > 0) {
    const outer = shapeSize(x.shape.slice(0, axes[0]));
    const inner = shapeSize(x.shape.slice(axes[axes.length - 1] + 1));
    kernels().reduce(op, x.data, outer, n, inner, out);
  } else if (axes.length === 0) {
    out.set(x.data);
  } else {
    // Move the reduced axes to the end, then reduce the trailing block.
    const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const perm = [...keptAxes, ...axes];
    // The permuted copy is scratch: back to the pool at once (left unreleased, every such
    // reduction — a conv bias gradient, axes [0, 2, 3] — leaked one input-sized buffer per call
    // from the pool's accounting and, on the native backend, held its huge-page mapping until a
    // collection; K-FAC on the CNN at batch 1024 grew to 22.7 GB).
    const moved = new Tensor(permuteData(x, perm), [x.size]);
    kernels().reduce(op, moved.data, shapeSize(kept), n, 1, out);
    moved.dispose();
  }
  return new Tensor(out, outShape);
}

/** Contiguous data of `x` with its axes permuted by `perm`. */
export function permuteData(x: Tensor, perm: readonly number[]): FloatArray {
  const strides = contiguousStrides(x.shape);
  const shape = perm.map((p) => x.shape[p]);
  const out = allocateUninit(x.dtype, x.size);
  kernels().copyStrided(x.data, perm.map((p) => strides[p]), shape, out);
  return out;
}

export function sum(x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor {
  return reduceOp('sum', 'sum', x, axis, keepdims);
}

export function mean(x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor {
  const s = reduceOp('sum', 'mean', x, axis, keepdims);
  const count = normalizeAxes('mean', x.ndim, axis).reduce((acc, a) => acc * x.shape[a], 1);
  return binaryOp('div', s, count, 'mean');
}

export function max(x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor {
  return reduceOp('max', 'max', x, axis, keepdims);
}

export function min(x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor {
  return reduceOp('min', 'min', x, axis, keepdims);
}

export function logsumexp(x: Tensor, axis?: number | readonly number[], keepdims = false): Tensor {
  return reduceOp('logsumexp', 'logsumexp', x, axis, keepdims);
}

function argReduce(op: 'argmax' | 'argmin', x: Tensor, axis: number | undefined, keepdims: boolean): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: input must be a Tensor, got ${describe(x)}`);
  if (axis === undefined) {
    if (x.size === 0) throw new RangeError(`${op}: empty tensor ${x.toString()}`);
    const out = allocate(x.dtype, 1);
    kernels().reduce(op, x.data, 1, x.size, 1, out);
    return new Tensor(out, keepdims ? x.shape.map(() => 1) : []);
  }
  if (typeof axis !== 'number') throw new TypeError(`${op}: axis must be a single number, got ${describe(axis)}`);
  return reduceOp(op, op, x, axis, keepdims);
}

/** Index of the largest value (first on ties) along `axis`, or of the flattened tensor; values are integers stored in the input's dtype. */
export function argmax(x: Tensor, axis?: number, keepdims = false): Tensor {
  return argReduce('argmax', x, axis, keepdims);
}

export function argmin(x: Tensor, axis?: number, keepdims = false): Tensor {
  return argReduce('argmin', x, axis, keepdims);
}

function softmaxOp(name: string, x: Tensor, axis: number, log: boolean): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${name}: input must be a Tensor, got ${describe(x)}`);
  if (x.ndim === 0) throw new RangeError(`${name}: needs at least one dimension, got a 0-d tensor`);
  const [a] = normalizeAxes(name, x.ndim, axis);
  const out = allocateUninit(x.dtype, x.size);
  if (x.size > 0) {
    kernels().softmax(x.data, shapeSize(x.shape.slice(0, a)), x.shape[a], shapeSize(x.shape.slice(a + 1)), out, log);
  }
  return new Tensor(out, x.shape);
}

/** Softmax along `axis` (default: the last). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', x, axis, false);
}

/** Log-softmax along `axis` (default: the last), computed stably. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('logSoftmax', x, axis, true);
}

/** The Euclidean (Frobenius) norm of all elements, as a number. */
export function norm(x: Tensor): number {
  return Math.sqrt(vdot(x, x));
}

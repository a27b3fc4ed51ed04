/**
 * Operations that move data without arithmetic: reshape, transpose, slice, concat, stack,
 * gather, one-hot, broadcast. Reshape-like ops return views; the rest copy through the
 * strided-copy kernel.
 */
import { kernels } from '../kernels/index.js';
import { broadcastShapes, broadcastStrides, normalizeAxes } from './ops.js';
import {
  Tensor, allocate, allocateUninit, checkDType, checkSameDType, contiguousStrides, describe, fmtShape, reshapeTensor, sameShape, shapeSize,
  type DType, type FloatArray, type Shape,
} from './tensor.js';

function checkT(op: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: input must be a Tensor, got ${describe(x)}`);
  return x;
}

function checkAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) {
    throw new RangeError(`${op}: axis ${axis} is out of range for a tensor with ${ndim} dimension(s)`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/** A view of `x` with a new shape (one dimension may be -1). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  return reshapeTensor(checkT('reshape', x), shape);
}

/** Collapse to one dimension. */
export function flatten(x: Tensor): Tensor {
  return reshapeTensor(checkT('flatten', x), [x.size], 'flatten');
}

/** Insert a length-1 axis at `axis`. */
export function expandDims(x: Tensor, axis: number): Tensor {
  checkT('expandDims', x);
  const a = checkAxis('expandDims', axis, x.ndim + 1);
  const s = x.shape.slice();
  s.splice(a, 0, 1);
  return reshapeTensor(x, s, 'expandDims');
}

/** Remove length-1 axes (all of them, or those named). */
export function squeeze(x: Tensor, axis?: number | readonly number[]): Tensor {
  checkT('squeeze', x);
  if (axis === undefined) return reshapeTensor(x, x.shape.filter((d) => d !== 1), 'squeeze');
  const axes = normalizeAxes('squeeze', x.ndim, axis);
  for (const a of axes) {
    if (x.shape[a] !== 1) throw new RangeError(`squeeze: axis ${a} of ${fmtShape(x.shape)} has length ${x.shape[a]}, not 1`);
  }
  return reshapeTensor(x, x.shape.filter((_, i) => !axes.includes(i)), 'squeeze');
}

/** Permute axes (default: reverse them, so a matrix is transposed). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  checkT('transpose', x);
  const p = perm === undefined ? x.shape.map((_, i) => x.ndim - 1 - i) : perm.map((a) => checkAxis('transpose', a, x.ndim));
  if (p.length !== x.ndim || new Set(p).size !== x.ndim) {
    throw new RangeError(`transpose: perm [${perm?.join(', ')}] is not a permutation of the ${x.ndim} axes of ${fmtShape(x.shape)}`);
  }
  const strides = contiguousStrides(x.shape);
  const shape = p.map((a) => x.shape[a]);
  const out = allocateUninit(x.dtype, x.size);
  kernels().copyStrided(x.data, p.map((a) => strides[a]), shape, out);
  return new Tensor(out, shape);
}

/** Swap two axes. */
export function swapAxes(x: Tensor, a: number, b: number): Tensor {
  checkT('swapAxes', x);
  const p = x.shape.map((_, i) => i);
  const ia = checkAxis('swapAxes', a, x.ndim);
  const ib = checkAxis('swapAxes', b, x.ndim);
  [p[ia], p[ib]] = [p[ib], p[ia]];
  return transpose(x, p);
}

/** Materialize `x` broadcast to `shape` (NumPy rules). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  checkT('broadcastTo', x);
  const target = shape.slice();
  const b = broadcastShapes('broadcastTo', x.shape, target);
  if (!sameShape(b, target)) {
    throw new RangeError(`broadcastTo: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(target)}`);
  }
  const out = allocateUninit(x.dtype, shapeSize(target));
  // One value everywhere (the cotangent of a full sum): a fill, no stride arrays or kernel call.
  if (x.size === 1) out.fill(x.data[0]);
  else kernels().copyStrided(x.data, broadcastStrides(x.shape, target), target, out);
  return new Tensor(out, target);
}

/**
 * NumPy-style basic slicing: for each leading axis d, the indices `start[d] <= i < stop[d]` in
 * steps of `step[d]` (> 0). Negative indices count from the end; out-of-range bounds are clamped,
 * as in Python. Axes beyond the given arrays are kept whole.
 */
export function slice(x: Tensor, start: readonly number[], stop?: readonly (number | undefined)[], step?: readonly number[]): Tensor {
  checkT('slice', x);
  const b = sliceBounds('slice', x.shape, start, stop, step);
  const strides = contiguousStrides(x.shape);
  let offset = 0;
  for (let d = 0; d < x.ndim; d++) offset += b.start[d] * strides[d];
  const out = allocateUninit(x.dtype, shapeSize(b.shape));
  if (out.length > 0) kernels().copyStrided(x.data.subarray(offset), strides.map((s, d) => s * b.step[d]), b.shape, out);
  return new Tensor(out, b.shape);
}

/** Join tensors along an existing axis. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) throw new RangeError('concat: needs a non-empty array of tensors');
  xs.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new TypeError(`concat: element ${i} is ${describe(x)}, expected a Tensor`);
  });
  const first = xs[0];
  if (first.ndim === 0) throw new RangeError('concat: cannot concatenate 0-d tensors; use stack');
  const a = checkAxis('concat', axis, first.ndim);
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    checkSameDType('concat', first, x);
    if (x.ndim !== first.ndim || x.shape.some((d, j) => j !== a && d !== first.shape[j])) {
      throw new RangeError(`concat: shape ${fmtShape(x.shape)} of element ${i} does not match ${fmtShape(first.shape)} outside axis ${a}`);
    }
  }
  const shape = first.shape.slice();
  shape[a] = xs.reduce((acc, x) => acc + x.shape[a], 0);
  const out = allocateUninit(first.dtype, shapeSize(shape));
  const outer = shapeSize(first.shape.slice(0, a));
  const inner = shapeSize(first.shape.slice(a + 1));
  const rowOut = shape[a] * inner;
  let col = 0;
  for (const x of xs) {
    const rowIn = x.shape[a] * inner;
    for (let o = 0; o < outer; o++) out.set(x.data.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + col);
    col += rowIn;
  }
  return new Tensor(out, shape);
}

/** Join tensors of equal shape along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) throw new RangeError('stack: needs a non-empty array of tensors');
  xs.forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new TypeError(`stack: element ${i} is ${describe(x)}, expected a Tensor`);
    if (fmtShape(x.shape) !== fmtShape(xs[0].shape)) {
      throw new RangeError(`stack: element ${i} has shape ${fmtShape(x.shape)}, element 0 has ${fmtShape(xs[0].shape)}`);
    }
  });
  const a = checkAxis('stack', axis, xs[0].ndim + 1);
  return concat(xs.map((x) => expandDims(x, a)), a);
}

function toIndices(op: string, indices: readonly number[] | Tensor, n: number): number[] {
  const list = indices instanceof Tensor ? Array.from(indices.data) : indices;
  if (!Array.isArray(list) && !(indices instanceof Tensor)) throw new TypeError(`${op}: indices must be an array or a Tensor, got ${describe(indices)}`);
  return list.map((v, i) => {
    if (!Number.isInteger(v) || v < -n || v >= n) {
      throw new RangeError(`${op}: index ${v} at position ${i} is out of range for an axis of length ${n}`);
    }
    return v < 0 ? v + n : v;
  });
}

/**
 * Take entries along `axis` at integer `indices` (NumPy's `take`): the result's shape is `x`'s
 * with that axis replaced by the indices' shape.
 */
export function gather(x: Tensor, indices: readonly number[] | Tensor, axis = 0): Tensor {
  checkT('gather', x);
  const a = checkAxis('gather', axis, x.ndim);
  const idx = toIndices('gather', indices, x.shape[a]);
  const idxShape = indices instanceof Tensor ? indices.shape : [idx.length];
  const outer = shapeSize(x.shape.slice(0, a));
  const inner = shapeSize(x.shape.slice(a + 1));
  const out = allocateUninit(x.dtype, outer * idx.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const src = (o * x.shape[a] + idx[j]) * inner;
      out.set(x.data.subarray(src, src + inner), (o * idx.length + j) * inner);
    }
  }
  return new Tensor(out, [...x.shape.slice(0, a), ...idxShape, ...x.shape.slice(a + 1)]);
}

/**
 * Pick one entry per position along `axis` (NumPy's `take_along_axis` with a length-1 axis in the
 * index): `out[..., 0, ...] = x[..., indices[...], ...]`; `indices` has x's shape without `axis`.
 */
export function takeAlongAxis(x: Tensor, indices: readonly number[] | Tensor, axis = -1): Tensor {
  checkT('takeAlongAxis', x);
  const a = checkAxis('takeAlongAxis', axis, x.ndim);
  const idx = toIndices('takeAlongAxis', indices, x.shape[a]);
  const outShape = x.shape.filter((_, i) => i !== a);
  if (idx.length !== shapeSize(outShape)) {
    throw new RangeError(`takeAlongAxis: ${idx.length} indices for ${shapeSize(outShape)} positions (x ${fmtShape(x.shape)} without axis ${a})`);
  }
  const inner = shapeSize(x.shape.slice(a + 1));
  const n = x.shape[a];
  const out = allocateUninit(x.dtype, idx.length);
  for (let p = 0; p < idx.length; p++) {
    const o = Math.floor(p / inner);
    const i = p % inner;
    out[p] = x.data[(o * n + idx[p]) * inner + i];
  }
  return new Tensor(out, outShape);
}

/** One-hot rows: `[...indices.shape, depth]` with 1 at each index. */
export function oneHot(indices: readonly number[] | Tensor, depth: number, options: { dtype?: DType } = {}): Tensor {
  if (!Number.isInteger(depth) || depth <= 0) throw new RangeError(`oneHot: depth must be a positive integer, got ${depth}`);
  const dtype = checkDType('oneHot', options.dtype ?? 'float32');
  const idx = toIndices('oneHot', indices, depth).map((v, i) => {
    const raw = indices instanceof Tensor ? indices.data[i] : indices[i];
    if (raw < 0) throw new RangeError(`oneHot: index ${raw} at position ${i} is negative`);
    return v;
  });
  const shape = indices instanceof Tensor ? [...indices.shape, depth] : [idx.length, depth];
  const out = allocate(dtype, idx.length * depth);
  idx.forEach((v, i) => { out[i * depth + v] = 1; });
  return new Tensor(out, shape);
}

/** `cond ? a : b` elementwise with broadcasting (cond is nonzero = true). */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  checkT('where', cond);
  checkT('where', a);
  checkT('where', b);
  checkSameDType('where', a, b);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const c = broadcastTo(cond, shape).data;
  const A = broadcastTo(a, shape).data;
  const B = broadcastTo(b, shape).data;
  const out = allocateUninit(a.dtype, shapeSize(shape));
  for (let i = 0; i < out.length; i++) out[i] = c[i] !== 0 ? A[i] : B[i];
  return new Tensor(out, shape);
}

/** Normalized slice bounds per axis (Python rules), as `slice` uses them. */
export function sliceBounds(
  op: string, shape: readonly number[], start: readonly number[], stop?: readonly (number | undefined)[], step?: readonly number[],
): { start: number[]; step: number[]; shape: number[] } {
  if (!Array.isArray(start)) throw new TypeError(`${op}: start must be an array, got ${describe(start)}`);
  if (start.length > shape.length || (stop && stop.length > shape.length) || (step && step.length > shape.length)) {
    throw new RangeError(`${op}: more bounds than the ${shape.length} dimension(s) of ${fmtShape(shape)}`);
  }
  const st: number[] = [];
  const sp: number[] = [];
  const out: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    const s = step?.[d] ?? 1;
    if (!Number.isInteger(s) || s <= 0) throw new RangeError(`${op}: step must be a positive integer, got ${s} on axis ${d}`);
    const norm = (v: number | undefined, dflt: number): number => {
      if (v === undefined) return dflt;
      if (!Number.isInteger(v)) throw new RangeError(`${op}: bound ${v} on axis ${d} is not an integer`);
      const w = v < 0 ? v + n : v;
      return Math.min(Math.max(w, 0), n);
    };
    const a = norm(start[d], 0);
    const b = norm(stop?.[d], n);
    st.push(a);
    sp.push(s);
    out.push(b > a ? Math.ceil((b - a) / s) : 0);
  }
  return { start: st, step: sp, shape: out };
}

/** Adjoint of `slice`: a zero tensor of `shape` with `y` written at the sliced positions. */
export function sliceAdjoint(y: Tensor, shape: readonly number[], start: readonly number[], step: readonly number[]): Tensor {
  const out = allocate(y.dtype, shapeSize(shape));
  const strides = contiguousStrides(shape);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  for (let i = 0; i < y.size; i++) {
    let off = 0;
    for (let d = 0; d < nd; d++) off += (start[d] + idx[d] * step[d]) * strides[d];
    out[off] += y.data[i];
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < y.shape[d]) break;
      idx[d] = 0;
    }
  }
  return new Tensor(out, shape.slice());
}

/**
 * Add `y` into `out` (contiguous, of `shape`) at the positions a `slice` with `start`/`step`
 * read: the adjoint of many slices of one tensor into one buffer (the backward pass of a
 * recurrent layer slices its input once per time step; a zero tensor of the whole input per slice
 * made that quadratic in T). Runs along the last axis are added as strided rows.
 */
export function sliceAdjointAdd(out: FloatArray, shape: readonly number[], y: Tensor, start: readonly number[], step: readonly number[]): void {
  const nd = shape.length;
  if (y.size === 0) return;
  if (nd === 0) { out[0] += y.data[0]; return; }
  const strides = contiguousStrides(shape);
  const last = nd - 1;
  const run = y.shape[last];
  const rs = step[last] * strides[last];
  const rows = y.size / run;
  const idx = new Array<number>(nd).fill(0);
  const src = y.data;
  for (let r = 0; r < rows; r++) {
    let off = start[last] * strides[last];
    for (let d = 0; d < last; d++) off += (start[d] + idx[d] * step[d]) * strides[d];
    const base = r * run;
    for (let j = 0; j < run; j++) out[off + j * rs] += src[base + j];
    for (let d = last - 1; d >= 0; d--) {
      if (++idx[d] < y.shape[d]) break;
      idx[d] = 0;
    }
  }
}

/** Adjoint of `gather` along `axis` with `n` original entries: scatter-adds `y` back. */
export function gatherAdjoint(y: Tensor, indices: readonly number[], axis: number, n: number, indexRank: number): Tensor {
  const outer = shapeSize(y.shape.slice(0, axis));
  const inner = shapeSize(y.shape.slice(axis + indexRank));
  const shape = [...y.shape.slice(0, axis), n, ...y.shape.slice(axis + indexRank)];
  const out = allocate(y.dtype, shapeSize(shape));
  const m = indices.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const dst = (o * n + indices[j]) * inner;
      const src = (o * m + j) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += y.data[src + i];
    }
  }
  return new Tensor(out, shape);
}

/** Adjoint of `takeAlongAxis`: `y` (x's shape without `axis`) placed at the indices, zeros elsewhere. */
export function takeAlongAxisAdjoint(y: Tensor, indices: readonly number[], axis: number, n: number): Tensor {
  const shape = y.shape.slice();
  shape.splice(axis, 0, n);
  const inner = shapeSize(shape.slice(axis + 1));
  const out = allocate(y.dtype, shapeSize(shape));
  for (let p = 0; p < indices.length; p++) {
    const o = Math.floor(p / inner);
    const i = p % inner;
    out[(o * n + indices[p]) * inner + i] += y.data[p];
  }
  return new Tensor(out, shape);
}

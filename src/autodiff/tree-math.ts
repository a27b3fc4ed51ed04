/**
 * Arithmetic on parameter trees (leafwise, concrete: optimizers do not differentiate through
 * their own updates). Inner products accumulate in float64.
 */
import { Tensor, allocate, allocateUninit, fmtShape, sameShape, type FloatArray } from '../tensor/tensor.js';
import { kernels } from '../kernels/index.js';
import { stopGradient } from './core.js';
import { treeLeaves, treeUnflatten, type PyTree } from './pytree.js';

function leavesOf<P extends PyTree>(t: P): Tensor[] {
  return treeLeaves(t).map(stopGradient);
}

function checkSameStructure(op: string, a: Tensor[], b: Tensor[]): void {
  if (a.length !== b.length) throw new RangeError(`${op}: trees have ${a.length} and ${b.length} tensors`);
  for (let i = 0; i < a.length; i++) {
    if (!sameShape(a[i].shape, b[i].shape) || a[i].dtype !== b[i].dtype) {
      throw new RangeError(`${op}: tensor ${i} is ${a[i].dtype} ${fmtShape(a[i].shape)} in one tree and ${b[i].dtype} ${fmtShape(b[i].shape)} in the other`);
    }
  }
}

/** `alpha * x + beta * y`, leafwise. */
export function treeAxpby<P extends PyTree>(alpha: number, x: P, beta: number, y: P): P {
  const lx = leavesOf(x);
  const ly = leavesOf(y);
  checkSameStructure('treeAxpby', lx, ly);
  const k = kernels();
  // Every output element is written: a recycled buffer needs no zeroing (on a million
  // parameters the fill cost a third of the kernel).
  return treeUnflatten(x, lx.map((a, i) => {
    const out = allocateUninit(a.dtype, a.size);
    k.axpby(alpha, a.data, beta, ly[i].data, out);
    return new Tensor(out, a.shape);
  }));
}

/**
 * `out = alpha * x + beta * y`, leafwise, into the existing tree `out` (same structure; it may
 * be `x` or `y`): the same values as `treeAxpby`, without allocating. For solvers that update
 * vectors they own in place (conjugate gradient on a million parameters).
 */
export function treeAxpbyInto<P extends PyTree>(alpha: number, x: P, beta: number, y: P, out: P): void {
  const lx = leavesOf(x);
  const ly = leavesOf(y);
  const lo = leavesOf(out);
  checkSameStructure('treeAxpbyInto', lx, ly);
  checkSameStructure('treeAxpbyInto', lx, lo);
  const k = kernels();
  for (let i = 0; i < lx.length; i++) k.axpby(alpha, lx[i].data, beta, ly[i].data, lo[i].data);
}

/** `out = x * y`, leafwise and elementwise, into the existing tree `out` (it may be `x` or `y`). */
export function treeMulInto<P extends PyTree>(x: P, y: P, out: P): void {
  const lx = leavesOf(x);
  const ly = leavesOf(y);
  const lo = leavesOf(out);
  checkSameStructure('treeMulInto', lx, ly);
  checkSameStructure('treeMulInto', lx, lo);
  const k = kernels();
  for (let i = 0; i < lx.length; i++) k.binary('mul', lx[i].data, [1], ly[i].data, [1], lo[i].data, [lx[i].size]);
}

export function treeAdd<P extends PyTree>(x: P, y: P): P {
  return treeAxpby(1, x, 1, y);
}

export function treeSub<P extends PyTree>(x: P, y: P): P {
  return treeAxpby(1, x, -1, y);
}

export function treeScale<P extends PyTree>(alpha: number, x: P): P {
  const k = kernels();
  return treeUnflatten(x, leavesOf(x).map((a) => {
    const out = allocateUninit(a.dtype, a.size);
    // alpha * x[i] through the kernel (a broadcast scalar) in the tensor's dtype: float32 trees
    // scale by alpha rounded to float32, as PyTorch's `x * alpha` does.
    const s = a.dtype === 'float32' ? Float32Array.of(alpha) : Float64Array.of(alpha); // not engine storage
    k.binary('mul', a.data, [1], s, [0], out, [a.size]);
    return new Tensor(out, a.shape);
  }));
}

/** `x * y`, leafwise and elementwise (e.g. a diagonal preconditioner applied to a residual). */
export function treeMul<P extends PyTree>(x: P, y: P): P {
  const lx = leavesOf(x);
  const ly = leavesOf(y);
  checkSameStructure('treeMul', lx, ly);
  const k = kernels();
  return treeUnflatten(x, lx.map((a, i) => {
    const out = allocateUninit(a.dtype, a.size);
    k.binary('mul', a.data, [1], ly[i].data, [1], out, [a.size]);
    return new Tensor(out, a.shape);
  }));
}

export function treeVdot<P extends PyTree>(x: P, y: P): number {
  const lx = leavesOf(x);
  const ly = leavesOf(y);
  checkSameStructure('treeVdot', lx, ly);
  const k = kernels();
  let s = 0;
  for (let i = 0; i < lx.length; i++) s += k.dot(lx[i].data, ly[i].data);
  return s;
}

export function treeNorm<P extends PyTree>(x: P): number {
  return Math.sqrt(treeVdot(x, x));
}

/** Largest absolute entry (infinity norm). */
export function treeMaxAbs<P extends PyTree>(x: P): number {
  let m = 0;
  for (const l of leavesOf(x)) for (let i = 0; i < l.size; i++) m = Math.max(m, Math.abs(l.data[i]));
  return m;
}

export function treeZerosLike<P extends PyTree>(x: P): P {
  return treeUnflatten(x, leavesOf(x).map((a) => new Tensor(allocate(a.dtype, a.size), a.shape)));
}

/**
 * Whether every element is finite: one kernel sum (NaN and ±Inf propagate into it, +Inf − Inf
 * gives NaN), and the element loop only when the sum is not finite (a NaN, an infinity, or a
 * finite sum that overflowed), so the answer is exact. ~10× faster than the loop on large leaves.
 */
export function allFinite(x: FloatArray): boolean {
  if (x.length === 0) return true;
  const out = x instanceof Float64Array ? new Float64Array(1) : new Float32Array(1);
  kernels().reduce('sum', x, 1, x.length, 1, out);
  if (Number.isFinite(out[0])) return true;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}

export function treeIsFinite<P extends PyTree>(x: P): boolean {
  for (const l of leavesOf(x)) if (!allFinite(l.data.subarray(0, l.size))) return false;
  return true;
}

/** Elementwise map over one or two trees with a scalar function (for optimizer state updates). */
export function treeMapValues<P extends PyTree>(x: P, f: (v: number, i: number, leaf: number) => number): P {
  return treeUnflatten(x, leavesOf(x).map((a, leaf) => {
    const out = allocate(a.dtype, a.size);
    for (let i = 0; i < out.length; i++) out[i] = f(a.data[i], i, leaf);
    return new Tensor(out, a.shape);
  }));
}

/** Leaf tensors' data arrays, in tree order (read-only use). */
export function treeData<P extends PyTree>(x: P): (Float32Array | Float64Array)[] {
  return leavesOf(x).map((l) => l.data);
}

/** Total number of scalars in a tree. */
export function treeSize<P extends PyTree>(x: P): number {
  return leavesOf(x).reduce((a, l) => a + l.size, 0);
}

/**
 * A fused leafwise pass: `body(ins, outs, n)` sees, per leaf, the data of each input tree and of
 * `nOut` fresh output arrays (the first input's dtype and shapes); returns the output trees.
 * For optimizer updates that would otherwise make several passes or call a closure per element.
 */
export function treeFused<P extends PyTree>(inputs: readonly P[], nOut: number, body: (ins: FloatArray[], outs: FloatArray[], n: number) => void): P[] {
  const leaves = inputs.map(leavesOf);
  for (let t = 1; t < leaves.length; t++) checkSameStructure('treeFused', leaves[0], leaves[t]);
  const outLeaves: Tensor[][] = Array.from({ length: nOut }, () => []);
  leaves[0].forEach((first, j) => {
    const outs = Array.from({ length: nOut }, () => allocate(first.dtype, first.size));
    body(leaves.map((l) => l[j].data), outs, first.size);
    outs.forEach((o, k) => outLeaves[k].push(new Tensor(o, first.shape)));
  });
  return outLeaves.map((ls) => treeUnflatten(inputs[0], ls));
}

/**
 * A dataset is a pair of tensors sharing their first (example) axis: `{ x, y }`. These helpers
 * build one from plain arrays, check labels, shuffle and split it with a seed, and iterate over
 * seeded mini-batches, so a user's own data enters the same training code as the shipped sets.
 */
import type { DType } from '../../kernels/types.js';
import { Tensor, checkDType, describe, fmtShape, tensor, type NestedArray } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';

export interface Dataset {
  x: Tensor;
  y: Tensor;
}

export interface FromArraysOptions {
  /** dtype of x and y (default float32, or the typed array's). */
  dtype?: DType;
  /** Number of classes: then y must hold integer labels 0..classes-1. */
  classes?: number;
}

function asTensor(name: string, v: unknown, dtype: DType | undefined): Tensor {
  if (v instanceof Tensor) return dtype !== undefined && v.dtype !== dtype ? v.astype(dtype) : v;
  if (Array.isArray(v) || v instanceof Float32Array || v instanceof Float64Array) {
    try {
      return tensor(v as NestedArray, undefined, dtype === undefined ? {} : { dtype });
    } catch (e) {
      throw new TypeError(`fromArrays: ${name} is not a rectangular numeric array (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  throw new TypeError(`fromArrays: ${name} must be a Tensor, a (nested) array of numbers or a typed array, got ${describe(v)}`);
}

/** Throws unless every value of `t` is finite, naming the first bad entry. */
function checkFinite(op: string, name: string, t: Tensor): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) {
      const row = t.ndim > 0 && t.shape[0] > 0 ? Math.floor(i / (t.size / t.shape[0])) : 0;
      throw new RangeError(`${op}: ${name} has a non-finite value (${d[i]}) in example ${row}`);
    }
  }
}

/** Throws unless `y` holds integer class labels 0..classes-1. */
export function checkLabels(op: string, y: Tensor, classes: number, where = 'labels'): void {
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`${op}: classes must be a positive integer, got ${classes}`);
  const d = y.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isInteger(d[i]) || d[i] < 0 || d[i] >= classes) {
      throw new RangeError(`${op}: ${where}: example ${i} has label ${d[i]}, expected an integer in 0..${classes - 1}`);
    }
  }
}

/** A dataset from arrays: `fromArrays([[0, 1], [1, 0]], [1, 0], { classes: 2 })`. */
export function fromArrays(x: unknown, y: unknown, options: FromArraysOptions = {}): Dataset {
  if (options === null || typeof options !== 'object') throw new TypeError(`fromArrays: options must be an object, got ${describe(options)}`);
  const dtype = options.dtype === undefined ? undefined : checkDType('fromArrays', options.dtype);
  const xt = asTensor('x', x, dtype);
  const yt = asTensor('y', y, dtype ?? xt.dtype);
  if (xt.ndim < 1 || yt.ndim < 1) throw new RangeError(`fromArrays: x ${fmtShape(xt.shape)} and y ${fmtShape(yt.shape)} need a first (example) axis`);
  if (xt.shape[0] !== yt.shape[0]) throw new RangeError(`fromArrays: x has ${xt.shape[0]} examples, y has ${yt.shape[0]}`);
  checkFinite('fromArrays', 'x', xt);
  checkFinite('fromArrays', 'y', yt);
  if (options.classes !== undefined) checkLabels('fromArrays', yt, options.classes, 'y');
  return { x: xt, y: yt };
}

/** Rows `idx` of a tensor (a copy). */
export function takeRows(t: Tensor, idx: ArrayLike<number>): Tensor {
  const row = t.shape[0] === 0 ? 0 : t.size / t.shape[0];
  const out = t.dtype === 'float64' ? new Float64Array(idx.length * row) : new Float32Array(idx.length * row);
  const d = t.data;
  for (let r = 0; r < idx.length; r++) out.set(d.subarray(idx[r] * row, (idx[r] + 1) * row), r * row);
  return new Tensor(out, [idx.length, ...t.shape.slice(1)]);
}

function checkDataset(op: string, ds: Dataset): number {
  if (ds === null || typeof ds !== 'object' || !(ds.x instanceof Tensor) || !(ds.y instanceof Tensor)) throw new TypeError(`${op}: expected a dataset {x: Tensor, y: Tensor}, got ${describe(ds)}`);
  if (ds.x.ndim < 1 || ds.y.ndim < 1 || ds.x.shape[0] !== ds.y.shape[0]) throw new RangeError(`${op}: x ${fmtShape(ds.x.shape)} and y ${fmtShape(ds.y.shape)} must share their first axis`);
  return ds.x.shape[0];
}

/** The examples in a seeded random order. */
export function shuffle(ds: Dataset, seed = 0): Dataset {
  checkDataset('shuffle', ds);
  const perm = new Rng(seed).permutation(ds.x.shape[0]);
  return { x: takeRows(ds.x, perm), y: takeRows(ds.y, perm) };
}

export interface SplitOptions {
  /** Test part: a fraction in (0, 1) or a number of examples (default 0.2). */
  test?: number;
  /** Shuffle before splitting (default true). */
  shuffle?: boolean;
  seed?: number;
}

/** A train/test split, seeded; no example is in both parts. */
export function split(ds: Dataset, options: SplitOptions = {}): { train: Dataset; test: Dataset } {
  const n = checkDataset('split', ds);
  const t = options.test ?? 0.2;
  let nTest: number;
  if (typeof t === 'number' && t > 0 && t < 1) nTest = Math.round(t * n);
  else if (Number.isInteger(t) && t >= 1 && t < n) nTest = t;
  else throw new RangeError(`split: test must be a fraction in (0, 1) or a count in 1..${n - 1} for ${n} examples, got ${t}`);
  const order = options.shuffle === false ? Array.from({ length: n }, (_, i) => i) : new Rng(options.seed ?? 0).permutation(n);
  const trainIdx = order.slice(0, n - nTest);
  const testIdx = order.slice(n - nTest);
  return {
    train: { x: takeRows(ds.x, trainIdx), y: takeRows(ds.y, trainIdx) },
    test: { x: takeRows(ds.x, testIdx), y: takeRows(ds.y, testIdx) },
  };
}

export interface BatchOptions {
  seed?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
}

/** Mini-batches of one epoch; epoch `e` uses the order drawn from seed + e. */
export function* batches(ds: Dataset, batchSize: number, options: BatchOptions & { epoch?: number } = {}): Generator<Dataset> {
  const n = checkDataset('batches', ds);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batches: batchSize must be a positive integer, got ${batchSize}`);
  if (batchSize > n) throw new RangeError(`batches: batchSize ${batchSize} exceeds the ${n} examples`);
  const order = options.shuffle === false ? Array.from({ length: n }, (_, i) => i) : new Rng((options.seed ?? 0) + (options.epoch ?? 0)).permutation(n);
  for (let s = 0; s < n; s += batchSize) {
    if (options.dropLast && s + batchSize > n) break;
    const idx = order.slice(s, s + batchSize);
    yield { x: takeRows(ds.x, idx), y: takeRows(ds.y, idx) };
  }
}

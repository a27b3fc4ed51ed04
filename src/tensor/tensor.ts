/**
 * Tensor: an immutable n-dimensional array of float32 or float64 values, row-major and
 * contiguous. Operations return new tensors; `reshape` of a tensor shares its buffer (a view),
 * everything else that moves data copies (transpose is cheap enough at the sizes this library
 * meets, and contiguity keeps every kernel a tight loop).
 */
import type { DType, FloatArray } from '../kernels/types.js';
import { currentScope, releaseBuffer, releaseFreeMemoryDue, retainBuffer, takeBuffer, track } from './memory.js';

export type { DType, FloatArray } from '../kernels/types.js';
export type Shape = readonly number[];
/** Nested arrays of numbers, as `toArray()` returns and `tensor()` accepts. */
export type NestedArray = number | NestedArray[];

export const DTYPES: readonly DType[] = ['float32', 'float64'];

export function checkDType(op: string, dtype: unknown): DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new TypeError(`${op}: dtype must be 'float32' or 'float64', got ${describe(dtype)}`);
  }
  return dtype;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v instanceof Tensor) return `Tensor(${v.dtype}, [${v.shape.join(', ')}])`;
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  return String(v);
}

/**
 * Small buffers made outside every scope are views into a shared slab. Why: such a buffer is
 * never pooled (nothing says when it dies), and a fresh typed array with its own backing store
 * costs ~4 µs here (allocation, external-memory accounting, and page faults when the C heap is
 * trimmed after a collection) — more than a 20×20 add itself. A view into a 64 KiB slab costs
 * a fraction of that (a fresh ArrayBuffer costs about the same up to 64 KiB, so a larger slab
 * spreads it over more views: 16 → 64 KiB made a 20×20 add ~15% faster in-process A/B). The
 * price: a slab is freed only when all its views are, so a long-lived small tensor made outside
 * scopes keeps up to 64 KiB alive (tidy/transformations use the pool instead and are
 * unaffected). A fresh slab is zero-filled and never reused, so views are zero.
 */
const SLAB_BYTES = 1 << 16;
export const SLAB_MAX_BYTES = 1 << 12;
let slab = new ArrayBuffer(0);
let slabOffset = 0;
/** Slabs made since the C heap was last offered to return its free pages (see below). */
let slabsSinceCheck = 0;

function slabArray(dtype: DType, size: number): FloatArray {
  const bytes = size * (dtype === 'float32' ? 4 : 8);
  const need = (bytes + 63) & ~63; // cache-line aligned, as a fresh array would be
  if (slabOffset + need > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabOffset = 0;
    // A loop of small ops outside every scope never ends a pool window, where free heap pages
    // are otherwise returned; every 64 MiB of slabs, return them if the interval has passed.
    if (++slabsSinceCheck === 1024) {
      slabsSinceCheck = 0;
      releaseFreeMemoryDue();
    }
  }
  const off = slabOffset;
  slabOffset += need;
  return dtype === 'float32' ? new Float32Array(slab, off, size) : new Float64Array(slab, off, size);
}

function fromSlab(dtype: DType, size: number): boolean {
  return size > 0 && size * (dtype === 'float32' ? 4 : 8) <= SLAB_MAX_BYTES && currentScope() === null;
}

/**
 * A slab view of `size` elements (zeros) for a result that will leave every scope, whatever
 * scope is open now; null when it is too large for one. For jit replays, which compute such
 * results inside a scope of their own and would otherwise copy them out (`slabCopy`).
 */
export function slabAllocate(dtype: DType, size: number): FloatArray | null {
  return size > 0 && size * (dtype === 'float32' ? 4 : 8) <= SLAB_MAX_BYTES ? slabArray(dtype, size) : null;
}

/**
 * A copy of `t` in a slab view when it is small enough for one, else null. For results computed
 * in pooled buffers that leave every scope: the copy costs less than the fresh array the pool
 * would otherwise need next time, and the pooled buffer goes back at once.
 */
export function slabCopy(t: Tensor): Tensor | null {
  if (!fromSlab(t.dtype, t.size)) return null;
  const d = slabArray(t.dtype, t.size);
  d.set(t.data);
  return new Tensor(d, t.shape);
}

/**
 * Give `t` a slab copy of its values and hand its own (pooled) buffer back, when `t` is small
 * and no scope is open: for a result that leaves every scope, so that the next call finds its
 * buffer in the pool instead of allocating a fresh one. The tensor keeps its identity; only
 * tensors whose buffer no one else reads may be moved (a tracer reads its primal's: skipped).
 */
export function moveToSlab(t: Tensor): boolean {
  const d = t._data;
  if (d === null || t._kept || t._children() !== null || !fromSlab(t.dtype, t.size)) return false;
  const c = slabArray(t.dtype, t.size);
  c.set(d);
  t._data = c;
  releaseBuffer(d);
  return true;
}

/** A zero-filled buffer (from the pool when one is free), for code that reads before it writes. */
export function allocate(dtype: DType, size: number): FloatArray {
  return fromSlab(dtype, size) ? slabArray(dtype, size) : takeBuffer(dtype, size, true);
}

/**
 * A buffer with arbitrary contents (recycled values), for a kernel that writes every element
 * before anything reads it: elementwise outputs, copies, GEMM with beta = 0.
 */
export function allocateUninit(dtype: DType, size: number): FloatArray {
  return fromSlab(dtype, size) ? slabArray(dtype, size) : takeBuffer(dtype, size, false);
}

/** The error for a released tensor, naming the operation that tried to use it. */
export function releasedError(op: string, t: Tensor): Error {
  return new Error(`${op}: ${t.toString()} was released (disposed, or freed by tidy / a transformation) and cannot be used; keep it with keep() or return it from tidy`);
}

export function shapeSize(shape: Shape): number {
  let s = 1;
  for (let i = 0; i < shape.length; i++) s *= shape[i];
  return s;
}

export function checkShape(op: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new RangeError(`${op}: shape must hold non-negative integers, got [${shape.join(', ')}]`);
    }
  }
  return shape.slice() as number[];
}

/** Row-major strides of a contiguous array of this shape. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export class Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** @internal The buffer, null once released. */
  _data: FloatArray | null;
  /** @internal How many live reverse-mode tapes hold this tensor as a residual. */
  _pins = 0;
  /** @internal Exempt from every scope (`keep`). */
  _kept = false;
  /** @internal Survives the transformations' own scopes (layer taps, retained gradients). */
  _escape = false;

  /** Wraps `data` without copying; prefer `tensor()` for user input. */
  constructor(data: FloatArray, shape: Shape) {
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new RangeError(`Tensor: data has ${data.length} elements but shape ${fmtShape(shape)} needs ${size}`);
    }
    this._data = data;
    this.size = size;
    // A frozen shape (another tensor's) cannot change under us: share it instead of copying.
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze(shape.slice());
    this.dtype = data instanceof Float32Array ? 'float32' : 'float64';
    retainBuffer(data);
    track(this);
  }

  /** The values, row-major, exactly `size` long (a view when the tensor is a reshape). Throws once released. */
  get data(): FloatArray {
    const d = this._data;
    if (d === null) throw releasedError('data', this);
    return d;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** True once the tensor was released (by `dispose`, `tidy` or a transformation). */
  get isDisposed(): boolean {
    return this._data === null;
  }

  /**
   * Release the tensor now: its buffer goes back to the pool once no other tensor (a reshape
   * view, a tracer) uses it. Releasing twice, or a tensor a pending reverse-mode pass still needs,
   * throws.
   */
  dispose(): void {
    if (this._data === null) throw new Error(`dispose: ${this.toString()} was already released`);
    if (this._pins > 0) {
      throw new Error(`dispose: ${this.toString()} is still needed by a reverse-mode pass (a residual of vjp/grad); release it after that pass, or dispose the vjp function first`);
    }
    this._release();
  }

  /** @internal Release without checks (scopes). */
  _release(): void {
    const d = this._data;
    if (d === null) return;
    this._data = null;
    releaseBuffer(d);
  }

  /** @internal Tensors this one reads its values from (a tracer's primal and tangent). */
  _children(): readonly Tensor[] | null {
    return null;
  }

  /** The single value of a tensor with one element. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`item: tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, expected 1`);
    return this.data[0];
  }

  /** Nested arrays of numbers (a number for a 0-d tensor), like NumPy's `tolist()`. */
  toArray(): NestedArray {
    if (this.shape.length === 0) return this.data[0];
    const build = (dim: number, offset: number): NestedArray[] => {
      const n = this.shape[dim];
      const out: NestedArray[] = new Array<NestedArray>(n);
      if (dim === this.shape.length - 1) {
        for (let i = 0; i < n; i++) out[i] = this.data[offset + i];
      } else {
        const step = shapeSize(this.shape.slice(dim + 1));
        for (let i = 0; i < n; i++) out[i] = build(dim + 1, offset + i * step);
      }
      return out;
    };
    return build(0, 0);
  }

  /** The values as a flat array of numbers. */
  toFlatArray(): number[] {
    return Array.from(this.data);
  }

  /** A copy with the given dtype (the same tensor when it already has it). */
  astype(dtype: DType): Tensor {
    checkDType('astype', dtype);
    if (dtype === this.dtype) return this;
    const out = allocateUninit(dtype, this.size);
    out.set(this.data);
    return new Tensor(out, this.shape);
  }

  /** A deep copy with its own buffer. */
  clone(): Tensor {
    const out = allocateUninit(this.dtype, this.size);
    out.set(this.data);
    return new Tensor(out, this.shape);
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}${this._data === null ? ', released' : ''})`;
  }
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

function inferShape(values: NestedArray, op: string): number[] {
  const shape: number[] = [];
  let v: NestedArray = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  void op;
  return shape;
}

function flattenInto(values: NestedArray, shape: Shape, path: number[], out: FloatArray, pos: { i: number }, op: string): void {
  const dim = path.length;
  if (dim === shape.length) {
    if (typeof values !== 'number') {
      throw new TypeError(`${op}: element [${path.join(', ')}] is ${describe(values)}, expected a number (ragged or non-numeric nested array)`);
    }
    out[pos.i++] = values;
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[dim]) {
    throw new RangeError(`${op}: ragged nested array: expected length ${shape[dim]} at [${path.join(', ')}], got ${describe(values)}`);
  }
  for (let i = 0; i < values.length; i++) {
    path.push(i);
    flattenInto(values[i], shape, path, out, pos, op);
    path.pop();
  }
}

export interface TensorOptions {
  dtype?: DType;
}

/**
 * A tensor from a number, nested arrays, a flat array or a typed array. With a flat input,
 * `shape` says how to read it; with nested arrays the shape is inferred (and checked against
 * `shape` when given). The default dtype is float32, or the typed array's own dtype.
 */
export function tensor(values: NestedArray | readonly number[] | FloatArray | Tensor, options: TensorOptions): Tensor;
export function tensor(values: NestedArray | readonly number[] | FloatArray | Tensor, shape?: Shape, options?: TensorOptions): Tensor;
export function tensor(
  values: NestedArray | readonly number[] | FloatArray | Tensor,
  shapeOrOptions?: Shape | TensorOptions,
  opts: TensorOptions = {},
): Tensor {
  const op = 'tensor';
  // tensor(values, { dtype }) as well as tensor(values, shape, { dtype }) (TensorFlow.js and
  // NumPy users write the first).
  let shape: Shape | undefined;
  let options = opts;
  if (shapeOrOptions !== undefined && shapeOrOptions !== null && typeof shapeOrOptions === 'object' && !Array.isArray(shapeOrOptions)) {
    if (arguments.length > 2) throw new TypeError(`${op}: the second argument is an options object; give the shape first: tensor(values, shape, options)`);
    options = shapeOrOptions as TensorOptions;
  } else shape = shapeOrOptions as Shape | undefined;
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  if (values instanceof Tensor) {
    const t = options.dtype ? values.astype(options.dtype) : values.clone();
    return shape ? reshapeTensor(t, shape, op) : t;
  }
  let dtype: DType;
  if (options.dtype !== undefined) dtype = checkDType(op, options.dtype);
  else if (values instanceof Float64Array) dtype = 'float64';
  else dtype = 'float32';

  if (values instanceof Float32Array || values instanceof Float64Array) {
    const s = shape ? checkShape(op, shape) : [values.length];
    if (shapeSize(s) !== values.length) {
      throw new RangeError(`${op}: ${values.length} values do not fill shape ${fmtShape(s)} (${shapeSize(s)} elements)`);
    }
    const data = allocateUninit(dtype, values.length);
    data.set(values);
    return new Tensor(data, s);
  }
  if (typeof values === 'number') {
    const s = shape ? checkShape(op, shape) : [];
    if (shapeSize(s) !== 1) throw new RangeError(`${op}: a single number cannot fill shape ${fmtShape(s)}`);
    const data = allocateUninit(dtype, 1);
    data[0] = values;
    return new Tensor(data, s);
  }
  if (!Array.isArray(values)) {
    throw new TypeError(`${op}: expected a number, an array or a typed array, got ${describe(values)}`);
  }
  const inferred = inferShape(values as NestedArray, op);
  const isFlat = inferred.length === 1;
  if (shape !== undefined) {
    const s = checkShape(op, shape);
    if (isFlat) {
      if (values.length !== shapeSize(s)) {
        throw new RangeError(`${op}: ${values.length} values do not fill shape ${fmtShape(s)} (${shapeSize(s)} elements)`);
      }
      const data = allocateUninit(dtype, values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (typeof v !== 'number') throw new TypeError(`${op}: element ${i} is ${describe(v)}, expected a number`);
        data[i] = v;
      }
      return new Tensor(data, s);
    }
    if (!sameShape(s, inferred) && shapeSize(s) !== shapeSize(inferred)) {
      throw new RangeError(`${op}: nested array of shape ${fmtShape(inferred)} does not match shape ${fmtShape(s)}`);
    }
    const data = allocateUninit(dtype, shapeSize(inferred));
    flattenInto(values as NestedArray, inferred, [], data, { i: 0 }, op);
    return new Tensor(data, s);
  }
  const data = allocateUninit(dtype, shapeSize(inferred));
  flattenInto(values as NestedArray, inferred, [], data, { i: 0 }, op);
  return new Tensor(data, inferred);
}

/** Reshape sharing the buffer; one dimension may be -1. */
export function reshapeTensor(x: Tensor, shape: Shape, op = 'reshape'): Tensor {
  if (x._data === null) throw releasedError(op, x);
  return new Tensor(x._data, resolveReshape(x, shape, op));
}

/** The shape `reshape(x, shape)` gives (with -1 resolved), or an error naming the op; reads no values. */
export function resolveReshape(x: Tensor, shape: Shape, op = 'reshape'): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array, got ${describe(shape)}`);
  const s = shape.slice() as number[];
  let infer = -1;
  let known = 1;
  for (let i = 0; i < s.length; i++) {
    const d = s[i];
    if (d === -1) {
      if (infer >= 0) throw new RangeError(`${op}: only one dimension may be -1 in ${fmtShape(s)}`);
      infer = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${op}: invalid dimension ${d} in ${fmtShape(s)}`);
    } else {
      known *= d;
    }
  }
  if (infer >= 0) {
    if (known === 0 || x.size % known !== 0) {
      throw new RangeError(`${op}: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(s)}`);
    }
    s[infer] = x.size / known;
  } else if (known !== x.size) {
    throw new RangeError(`${op}: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(s)} (${known} elements)`);
  }
  return s;
}

function creation(op: string, shape: Shape, options: TensorOptions): { shape: number[]; dtype: DType } {
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  return { shape: checkShape(op, shape), dtype: checkDType(op, options.dtype ?? 'float32') };
}

/** `allocate` for a creation op: a size the engine cannot hold is an error naming the op and the size. */
function allocateFor(op: string, dtype: DType, shape: number[], zeroed = true): FloatArray {
  const n = shapeSize(shape);
  try {
    return zeroed ? allocate(dtype, n) : allocateUninit(dtype, n);
  } catch (e) {
    const bytes = n * (dtype === 'float32' ? 4 : 8);
    throw new RangeError(`${op}: cannot allocate a ${dtype} tensor of shape ${fmtShape(shape)}: ${n} elements (${bytes.toPrecision(3)} bytes) is over what this runtime can hold`, { cause: e });
  }
}

export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  const c = creation('zeros', shape, options);
  return new Tensor(allocateFor('zeros', c.dtype, c.shape), c.shape);
}

export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  const c = creation('full', shape, options);
  if (typeof value !== 'number') throw new TypeError(`full: value must be a number, got ${describe(value)}`);
  const data = allocateFor('full', c.dtype, c.shape, false);
  data.fill(value);
  return new Tensor(data, c.shape);
}

export function zerosLike(x: Tensor): Tensor {
  return zeros(x.shape, { dtype: x.dtype });
}

export function onesLike(x: Tensor): Tensor {
  return ones(x.shape, { dtype: x.dtype });
}

export function fullLike(x: Tensor, value: number): Tensor {
  return full(x.shape, value, { dtype: x.dtype });
}

/** `[start, stop)` by `step`, like NumPy's arange; `arange(n)` is 0..n-1. */
export function arange(start: number, stop?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  for (const [name, v] of [['start', start], ['stop', stop], ['step', step]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`arange: ${name} must be a finite number, got ${describe(v)}`);
  }
  if (step === 0) throw new RangeError('arange: step must not be 0');
  const dtype = checkDType('arange', options.dtype ?? 'float32');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const data = allocateUninit(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return new Tensor(data, [n]);
}

/** `n` evenly spaced values from start to stop inclusive. */
export function linspace(start: number, stop: number, n: number, options: TensorOptions = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`linspace: n must be a non-negative integer, got ${n}`);
  const dtype = checkDType('linspace', options.dtype ?? 'float32');
  const data = allocateUninit(dtype, n);
  for (let i = 0; i < n; i++) data[i] = n === 1 ? start : start + ((stop - start) * i) / (n - 1);
  return new Tensor(data, [n]);
}

/** The n×m identity (m defaults to n). */
export function eye(n: number, m: number = n, options: TensorOptions = {}): Tensor {
  const c = creation('eye', [n, m], options);
  const data = allocateFor('eye', c.dtype, c.shape);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return new Tensor(data, c.shape);
}

/** Throws when any value is NaN or infinite, naming the op and the first bad index. */
export function assertFinite(op: string, x: Tensor, name = 'input'): void {
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) {
      throw new RangeError(`${op}: ${name} ${x.toString()} has a non-finite value (${d[i]}) at flat index ${i}`);
    }
  }
}

export function checkTensor(op: string, x: unknown, name = 'input'): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(x)}`);
  return x;
}

export function checkSameDType(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new TypeError(`${op}: dtype mismatch, ${a.toString()} and ${b.toString()}; convert one with .astype()`);
  }
}

/**
 * 2-D convolution (NCHW, cross-correlation as in PyTorch) by im2col + GEMM, its two backward
 * kernels (input and filter gradients), and max / average pooling with their adjoints.
 */
import { kernels } from '../kernels/index.js';
import { Tensor, allocate, allocateUninit, checkSameDType, describe, fmtShape, type Shape } from './tensor.js';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export interface Pool2dOptions {
  /** Default: the kernel size (non-overlapping windows), as in PyTorch. */
  stride?: Pair;
  padding?: Pair;
}

interface Geometry {
  N: number; C: number; H: number; W: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  oh: number; ow: number;
}

/** A number or a pair of integers >= min, as a pair; an error names the op and the option. */
export function pair(op: string, name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const p: readonly number[] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p)) throw new TypeError(`${op}: ${name} must be a number or a pair, got ${describe(v)}`);
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    throw new RangeError(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

function geometry(op: string, xShape: Shape, kh: number, kw: number, o: Conv2dOptions): Geometry {
  if (xShape.length !== 4) throw new RangeError(`${op}: input must be 4-D [N, C, H, W], got ${fmtShape(xShape)}`);
  const [N, C, H, W] = xShape;
  const [sH, sW] = pair(op, 'stride', o.stride, 1, 1);
  const [ph, pw] = pair(op, 'padding', o.padding, 0, 0);
  const [dh, dw] = pair(op, 'dilation', o.dilation, 1, 1);
  const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sH) + 1;
  const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sW) + 1;
  if (oh <= 0 || ow <= 0) {
    throw new RangeError(`${op}: kernel ${kh}x${kw} (dilation ${dh}x${dw}) does not fit input ${H}x${W} with padding ${ph}x${pw}`);
  }
  return { N, C, H, W, kh, kw, sh: sH, sw: sW, ph, pw, dh, dw, oh, ow };
}

function checkInput(op: string, x: unknown, name: string): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${describe(x)}`);
  return x;
}

function convGeometry(op: string, x: Tensor, w: Tensor, options: Conv2dOptions): Geometry {
  return checkConv2dShapes(op, x.shape, w.shape, options, () => checkSameDType(op, x, w));
}

/**
 * Checks conv2d's shapes (and, through `checkDTypes`, dtypes) without data, so that callers that
 * validate before tracing name the real shapes in their errors.
 */
export function checkConv2dShapes(op: string, xShape: Shape, wShape: Shape, options: Conv2dOptions, checkDTypes: () => void = () => undefined): Geometry {
  if (wShape.length !== 4) throw new RangeError(`${op}: weight must be 4-D [outChannels, inChannels, kh, kw], got ${fmtShape(wShape)}`);
  checkDTypes();
  const g = geometry(op, xShape, wShape[2], wShape[3], options);
  if (wShape[1] !== g.C) {
    throw new RangeError(`${op}: weight ${fmtShape(wShape)} expects ${wShape[1]} input channels, input ${fmtShape(xShape)} has ${g.C}`);
  }
  return g;
}

/**
 * Scratch space for the column matrices, reused across calls: a fresh 10–100 MB array per
 * convolution costs more in page faults than the GEMM itself (measured: 230 ms vs 5 ms for the
 * im2col of a 32-image batch). Images are processed in chunks of at most SCRATCH_ELEMS values.
 */
const SCRATCH_ELEMS = 1 << 22;
const scratch: { float32?: Float32Array; float64?: Float64Array } = {};

function columnsBuffer(dtype: 'float32' | 'float64', size: number): Float32Array | Float64Array {
  const have = scratch[dtype];
  if (have !== undefined && have.length >= size) return have.subarray(0, size);
  const buf = dtype === 'float32' ? new Float32Array(size) : new Float64Array(size);
  if (dtype === 'float32') scratch.float32 = buf as Float32Array;
  else scratch.float64 = buf as Float64Array;
  return buf;
}

/** Images per chunk so that a chunk's columns fit the scratch budget (at least one image). */
function chunkSize(g: Geometry): number {
  const per = g.C * g.kh * g.kw * g.oh * g.ow;
  return Math.max(1, Math.min(g.N, Math.floor(SCRATCH_ELEMS / Math.max(1, per))));
}

/** Columns of images [n0, n0 + count): `[count, C*kh*kw, oh*ow]`, in the scratch buffer. */
function im2colChunk(x: Tensor, g: Geometry, n0: number, count: number): Float32Array | Float64Array {
  const K = g.C * g.kh * g.kw;
  const L = g.oh * g.ow;
  const cols = columnsBuffer(x.dtype, count * K * L);
  const img = g.C * g.H * g.W;
  const k = kernels();
  for (let i = 0; i < count; i++) {
    const n = n0 + i;
    k.im2col(x.data.subarray(n * img, (n + 1) * img), g.C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
      g.oh, g.ow, cols.subarray(i * K * L, (i + 1) * K * L));
  }
  return cols;
}

/**
 * `y[n, o] = sum_c w[o, c] ⋆ x[n, c] (+ bias[o])`: input `[N, C, H, W]`, weight `[O, C, kh, kw]`,
 * output `[N, O, oh, ow]` with `oh = floor((H + 2p - d(kh-1) - 1)/s) + 1`.
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions & { bias?: Tensor } = {}): Tensor {
  const op = 'conv2d';
  checkInput(op, x, 'input');
  checkInput(op, w, 'weight');
  const g = convGeometry(op, x, w, options);
  const O = w.shape[0];
  const K = g.C * g.kh * g.kw;
  const L = g.oh * g.ow;
  const out = allocateUninit(x.dtype, g.N * O * L);
  if (out.length > 0) {
    const chunk = chunkSize(g);
    for (let n0 = 0; n0 < g.N; n0 += chunk) {
      const count = Math.min(chunk, g.N - n0);
      const cols = im2colChunk(x, g, n0, count);
      kernels().gemm(false, false, O, L, K, 1, w.data, K, 0, cols, L, K * L, 0, out.subarray(n0 * O * L), L, O * L, count);
    }
  }
  if (options.bias !== undefined) {
    const b = checkInput(op, options.bias, 'bias');
    checkSameDType(op, x, b);
    if (b.ndim !== 1 || b.shape[0] !== O) throw new RangeError(`${op}: bias must be [${O}], got ${fmtShape(b.shape)}`);
    for (let n = 0; n < g.N; n++) {
      for (let o = 0; o < O; o++) {
        const base = (n * O + o) * L;
        const bo = b.data[o];
        for (let l = 0; l < L; l++) out[base + l] += bo;
      }
    }
  }
  return new Tensor(out, [g.N, O, g.oh, g.ow]);
}

/** Gradient of conv2d with respect to its input: `gx = conv2d^T(gy)`, shape `xShape`. */
export function conv2dBackwardInput(gy: Tensor, w: Tensor, xShape: Shape, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2dBackwardInput';
  checkInput(op, gy, 'output gradient');
  checkInput(op, w, 'weight');
  checkSameDType(op, gy, w);
  const g = geometry(op, xShape, w.shape[2], w.shape[3], options);
  const O = w.shape[0];
  if (w.ndim !== 4 || w.shape[1] !== g.C) throw new RangeError(`${op}: weight ${fmtShape(w.shape)} does not match input shape ${fmtShape(xShape)}`);
  if (fmtShape(gy.shape) !== fmtShape([g.N, O, g.oh, g.ow])) {
    throw new RangeError(`${op}: output gradient must be ${fmtShape([g.N, O, g.oh, g.ow])}, got ${fmtShape(gy.shape)}`);
  }
  const K = g.C * g.kh * g.kw;
  const L = g.oh * g.ow;
  const gx = allocate(gy.dtype, g.N * g.C * g.H * g.W);
  if (gx.length === 0 || L === 0) return new Tensor(gx, xShape.slice());
  const k = kernels();
  const img = g.C * g.H * g.W;
  const chunk = chunkSize(g);
  for (let n0 = 0; n0 < g.N; n0 += chunk) {
    const count = Math.min(chunk, g.N - n0);
    const dcols = columnsBuffer(gy.dtype, count * K * L);
    k.gemm(true, false, K, L, O, 1, w.data, K, 0, gy.data.subarray(n0 * O * L), L, O * L, 0, dcols, L, K * L, count);
    for (let i = 0; i < count; i++) {
      const n = n0 + i;
      k.col2im(dcols.subarray(i * K * L, (i + 1) * K * L), g.C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw,
        g.oh, g.ow, gx.subarray(n * img, (n + 1) * img));
    }
  }
  return new Tensor(gx, xShape.slice());
}

/** Gradient of conv2d with respect to its weight: `gw[o, c, i, j]`, shape `wShape`. */
export function conv2dBackwardFilter(x: Tensor, gy: Tensor, wShape: Shape, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2dBackwardFilter';
  checkInput(op, x, 'input');
  checkInput(op, gy, 'output gradient');
  checkSameDType(op, x, gy);
  if (wShape.length !== 4) throw new RangeError(`${op}: weight shape must be 4-D, got ${fmtShape(wShape)}`);
  const g = geometry(op, x.shape, wShape[2], wShape[3], options);
  const O = wShape[0];
  if (wShape[1] !== g.C) throw new RangeError(`${op}: weight shape ${fmtShape(wShape)} does not match input ${fmtShape(x.shape)}`);
  if (fmtShape(gy.shape) !== fmtShape([g.N, O, g.oh, g.ow])) {
    throw new RangeError(`${op}: output gradient must be ${fmtShape([g.N, O, g.oh, g.ow])}, got ${fmtShape(gy.shape)}`);
  }
  const K = g.C * g.kh * g.kw;
  const L = g.oh * g.ow;
  const gw = allocate(x.dtype, O * K);
  if (gw.length === 0) return new Tensor(gw, wShape.slice());
  const k = kernels();
  const chunk = chunkSize(g);
  for (let n0 = 0; n0 < g.N; n0 += chunk) {
    const count = Math.min(chunk, g.N - n0);
    const cols = im2colChunk(x, g, n0, count);
    for (let i = 0; i < count; i++) {
      const n = n0 + i;
      k.gemm(false, true, O, K, L, 1, gy.data.subarray(n * O * L), L, 0, cols.subarray(i * K * L), L, 0, n === 0 ? 0 : 1, gw, K, 0, 1);
    }
  }
  return new Tensor(gw, wShape.slice());
}

function poolGeometry(op: string, x: Tensor, kernelSize: Pair, options: Pool2dOptions): Geometry {
  checkInput(op, x, 'input');
  const [kh, kw] = pair(op, 'kernelSize', kernelSize, 1, 1);
  const g = geometry(op, x.shape, kh, kw, { stride: options.stride ?? [kh, kw], padding: options.padding });
  if (g.ph * 2 > kh || g.pw * 2 > kw) {
    throw new RangeError(`${op}: padding ${g.ph}x${g.pw} must be at most half the kernel size ${kh}x${kw}`);
  }
  return g;
}

/** Max pooling; also returns the flat in-plane index of each maximum for the backward pass. */
export function maxPool2dWithIndices(x: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): { out: Tensor; indices: Int32Array } {
  const g = poolGeometry('maxPool2d', x, kernelSize, options);
  const planes = g.N * g.C;
  const out = allocate(x.dtype, planes * g.oh * g.ow);
  const indices = new Int32Array(out.length);
  kernels().maxPool2d(x.data, planes, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow, out, indices);
  return { out: new Tensor(out, [g.N, g.C, g.oh, g.ow]), indices };
}

export function maxPool2d(x: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): Tensor {
  return maxPool2dWithIndices(x, kernelSize, options).out;
}

/** Adjoint of max pooling: routes each output gradient to its argmax. */
export function maxPool2dBackward(gy: Tensor, indices: Int32Array, xShape: Shape): Tensor {
  const op = 'maxPool2dBackward';
  checkInput(op, gy, 'output gradient');
  if (xShape.length !== 4 || gy.ndim !== 4 || gy.shape[0] !== xShape[0] || gy.shape[1] !== xShape[1] || indices.length !== gy.size) {
    throw new RangeError(`${op}: output gradient ${fmtShape(gy.shape)} / ${indices.length} indices do not match input ${fmtShape(xShape)}`);
  }
  const plane = xShape[2] * xShape[3];
  const L = gy.shape[2] * gy.shape[3];
  const gx = allocate(gy.dtype, xShape[0] * xShape[1] * plane);
  for (let i = 0; i < gy.size; i++) {
    const idx = indices[i];
    if (idx >= 0) gx[Math.floor(i / L) * plane + idx] += gy.data[i];
  }
  return new Tensor(gx, xShape.slice());
}

export function avgPool2d(x: Tensor, kernelSize: Pair, options: Pool2dOptions & { countIncludePad?: boolean } = {}): Tensor {
  const g = poolGeometry('avgPool2d', x, kernelSize, options);
  const planes = g.N * g.C;
  const out = allocate(x.dtype, planes * g.oh * g.ow);
  kernels().avgPool2d(x.data, planes, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow, options.countIncludePad ?? true, out);
  return new Tensor(out, [g.N, g.C, g.oh, g.ow]);
}

export function avgPool2dBackward(
  gy: Tensor, xShape: Shape, kernelSize: Pair, options: Pool2dOptions & { countIncludePad?: boolean } = {},
): Tensor {
  const op = 'avgPool2dBackward';
  checkInput(op, gy, 'output gradient');
  const [kh, kw] = pair(op, 'kernelSize', kernelSize, 1, 1);
  const g = geometry(op, xShape, kh, kw, { stride: options.stride ?? [kh, kw], padding: options.padding });
  if (fmtShape(gy.shape) !== fmtShape([g.N, g.C, g.oh, g.ow])) {
    throw new RangeError(`${op}: output gradient must be ${fmtShape([g.N, g.C, g.oh, g.ow])}, got ${fmtShape(gy.shape)}`);
  }
  const gx = allocate(gy.dtype, g.N * g.C * g.H * g.W);
  kernels().avgPool2dBackward(gy.data, g.N * g.C, g.H, g.W, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow, options.countIncludePad ?? true, gx);
  return new Tensor(gx, xShape.slice());
}

/**
 * Elementwise loops in plain JavaScript for small tensors, where the N-API crossing of the
 * native kernel (about 1 µs, plus its stride arrays) costs more than the arithmetic itself.
 * Only operations that IEEE 754 rounds exactly are here (+ − × ÷, negation, square, square
 * root): they give the same bits as every backend's kernel, so the tensor layer may take this
 * path below a size threshold without changing a single result. Transcendental functions and
 * reductions keep their backend kernel (libm and summation order differ between backends).
 *
 * One function per dtype so that each loop stays monomorphic (a loop that sees both
 * Float32Array and Float64Array runs several times slower in V8).
 */
import type { BinaryOp, FloatArray, UnaryOp } from '../kernels/types.js';

/**
 * Below this many output elements the loops here beat the native kernel call (measured with
 * `npm run bench:overhead`'s probe on the project's machine: ~1 ns per element here against
 * ~1 µs per native call, crossing near 1000 elements; division is slower per element in JS).
 */
export const SMALL_BINARY_ELEMENTS = 1024;
export const SMALL_DIVIDE_ELEMENTS = 256;

/** Ops with exactly rounded results, and their size limits for the JavaScript path. */
export function smallBinaryLimit(op: BinaryOp): number {
  switch (op) {
    case 'add': case 'sub': case 'mul': return SMALL_BINARY_ELEMENTS;
    case 'div': return SMALL_DIVIDE_ELEMENTS;
    default: return 0;
  }
}

export function smallUnaryLimit(op: UnaryOp): number {
  switch (op) {
    case 'neg': case 'square': return SMALL_BINARY_ELEMENTS;
    case 'sqrt': return SMALL_DIVIDE_ELEMENTS;
    default: return 0;
  }
}

/**
 * `out[i] = a[i·sa] op b[i·sb]` for `i < n`, with strides 0 (a broadcast scalar) or 1.
 * Returns false for an op this module does not handle (the caller uses the kernel).
 */
export function smallBinary(op: BinaryOp, a: FloatArray, sa: number, b: FloatArray, sb: number, out: FloatArray, n: number): boolean {
  return out instanceof Float64Array
    ? binary64(op, a as Float64Array, sa, b as Float64Array, sb, out, n)
    : binary32(op, a as Float32Array, sa, b as Float32Array, sb, out, n);
}

function binary64(op: BinaryOp, a: Float64Array, sa: number, b: Float64Array, sb: number, out: Float64Array, n: number): boolean {
  if (sa === 1 && sb === 1) return same64(op, a, b, out, n);
  let ia = 0;
  let ib = 0;
  switch (op) {
    case 'add': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] + b[ib]; return true;
    case 'sub': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] - b[ib]; return true;
    case 'mul': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] * b[ib]; return true;
    case 'div': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] / b[ib]; return true;
    default: return false;
  }
}

// Float32: the double-precision result rounded to float32 on store equals the float32
// operation for + − × ÷ and sqrt (double has more than 2·24 + 2 bits, so rounding twice is innocuous).
function binary32(op: BinaryOp, a: Float32Array, sa: number, b: Float32Array, sb: number, out: Float32Array, n: number): boolean {
  if (sa === 1 && sb === 1) return same32(op, a, b, out, n);
  let ia = 0;
  let ib = 0;
  switch (op) {
    case 'add': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] + b[ib]; return true;
    case 'sub': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] - b[ib]; return true;
    case 'mul': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] * b[ib]; return true;
    case 'div': for (let i = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] / b[ib]; return true;
    default: return false;
  }
}

// Same-shape operands: plain indexed loops, four elements a turn (no stride counters: in-process
// A/B, a 20×20 add's loop went from about 0.6 to 0.35 µs when its output was a fresh view).
function same64(op: BinaryOp, a: Float64Array, b: Float64Array, out: Float64Array, n: number): boolean {
  const m = n & ~3;
  let i = 0;
  switch (op) {
    case 'add':
      for (; i < m; i += 4) { out[i] = a[i] + b[i]; out[i + 1] = a[i + 1] + b[i + 1]; out[i + 2] = a[i + 2] + b[i + 2]; out[i + 3] = a[i + 3] + b[i + 3]; }
      for (; i < n; i++) out[i] = a[i] + b[i];
      return true;
    case 'sub':
      for (; i < m; i += 4) { out[i] = a[i] - b[i]; out[i + 1] = a[i + 1] - b[i + 1]; out[i + 2] = a[i + 2] - b[i + 2]; out[i + 3] = a[i + 3] - b[i + 3]; }
      for (; i < n; i++) out[i] = a[i] - b[i];
      return true;
    case 'mul':
      for (; i < m; i += 4) { out[i] = a[i] * b[i]; out[i + 1] = a[i + 1] * b[i + 1]; out[i + 2] = a[i + 2] * b[i + 2]; out[i + 3] = a[i + 3] * b[i + 3]; }
      for (; i < n; i++) out[i] = a[i] * b[i];
      return true;
    case 'div':
      for (; i < n; i++) out[i] = a[i] / b[i];
      return true;
    default: return false;
  }
}

function same32(op: BinaryOp, a: Float32Array, b: Float32Array, out: Float32Array, n: number): boolean {
  const m = n & ~3;
  let i = 0;
  switch (op) {
    case 'add':
      for (; i < m; i += 4) { out[i] = a[i] + b[i]; out[i + 1] = a[i + 1] + b[i + 1]; out[i + 2] = a[i + 2] + b[i + 2]; out[i + 3] = a[i + 3] + b[i + 3]; }
      for (; i < n; i++) out[i] = a[i] + b[i];
      return true;
    case 'sub':
      for (; i < m; i += 4) { out[i] = a[i] - b[i]; out[i + 1] = a[i + 1] - b[i + 1]; out[i + 2] = a[i + 2] - b[i + 2]; out[i + 3] = a[i + 3] - b[i + 3]; }
      for (; i < n; i++) out[i] = a[i] - b[i];
      return true;
    case 'mul':
      for (; i < m; i += 4) { out[i] = a[i] * b[i]; out[i + 1] = a[i + 1] * b[i + 1]; out[i + 2] = a[i + 2] * b[i + 2]; out[i + 3] = a[i + 3] * b[i + 3]; }
      for (; i < n; i++) out[i] = a[i] * b[i];
      return true;
    case 'div':
      for (; i < n; i++) out[i] = a[i] / b[i];
      return true;
    default: return false;
  }
}

/** `out[i] = f(x[i])`; false for an op this module does not handle. */
export function smallUnary(op: UnaryOp, x: FloatArray, out: FloatArray): boolean {
  return out instanceof Float64Array ? unary64(op, x as Float64Array, out) : unary32(op, x as Float32Array, out);
}

function unary64(op: UnaryOp, x: Float64Array, out: Float64Array): boolean {
  const n = out.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; return true;
    case 'square': for (let i = 0; i < n; i++) out[i] = x[i] * x[i]; return true;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); return true;
    default: return false;
  }
}

function unary32(op: UnaryOp, x: Float32Array, out: Float32Array): boolean {
  const n = out.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; return true;
    case 'square': for (let i = 0; i < n; i++) out[i] = x[i] * x[i]; return true;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); return true;
    default: return false;
  }
}

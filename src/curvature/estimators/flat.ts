/**
 * Flat float64 vectors for the estimators: Krylov bases and probes are stored as plain arrays
 * (k vectors of n entries, reorthogonalized in float64), and only the operator's product goes
 * through the parameter tree. Each product runs in its own scope, so the tensors it creates go
 * back to the pool at once.
 */
import { tidy } from '../../tensor/scope.js';
import { Tensor } from '../../tensor/tensor.js';
import { treeLeaves, treeUnflatten } from '../../autodiff/pytree.js';
import type { Rng } from '../../tensor/random.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import type { PyTree } from '../../autodiff/pytree.js';

/**
 * The tree like `op.like` holding x (block copies with dtype conversion: an element loop over
 * the union of array types costs ~20× more for large trees).
 */
export function fromFlat<P extends PyTree>(op: LinearOperator<P>, x: Float64Array): P {
  let o = 0;
  const leaves = treeLeaves(op.like).map((l) => {
    const data = l.dtype === 'float64' ? new Float64Array(l.size) : new Float32Array(l.size);
    data.set(x.subarray(o, o + l.size));
    o += l.size;
    return new Tensor(data, l.shape);
  });
  return treeUnflatten(op.like, leaves);
}

/** One float64 vector from a tree the operator returned. */
export function toFlat<P extends PyTree>(op: LinearOperator<P>, tree: P): Float64Array {
  op.check(tree, 'product');
  const out = new Float64Array(op.size);
  let o = 0;
  for (const l of treeLeaves(tree)) {
    out.set(l.data, o);
    o += l.size;
  }
  return out;
}

/** A x for a flat x, releasing every tensor of the product. */
export function applyFlat<P extends PyTree>(op: LinearOperator<P>, x: Float64Array): Float64Array {
  return tidy(() => toFlat(op, op.matvec(fromFlat(op, x))));
}

export function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

export function norm(x: Float64Array): number {
  return Math.sqrt(dot(x, x));
}

/** y += a x, in place. */
export function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i] += a * x[i];
}

export function scaleInPlace(a: number, x: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) x[i] *= a;
  return x;
}

/**
 * Remove from w its components along the orthonormal `basis` (classical Gram–Schmidt applied
 * twice, which keeps orthogonality at rounding level); returns the coefficients removed.
 */
export function orthogonalize(w: Float64Array, basis: readonly Float64Array[]): Float64Array {
  const c = new Float64Array(basis.length);
  for (let pass = 0; pass < 2; pass++) {
    const d = basis.map((q) => dot(q, w));
    for (let i = 0; i < basis.length; i++) {
      axpy(-d[i], basis[i], w);
      c[i] += d[i];
    }
  }
  return c;
}

/** ±1 entries (Hutchinson probes). Draws as `Rng.rademacher` does, one 32-bit word per entry. */
export function rademacherFlat(rng: Rng, n: number): Float64Array {
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) z[i] = (rng.nextUint32() & 1) === 0 ? -1 : 1;
  return z;
}

export function gaussianFlat(rng: Rng, n: number): Float64Array {
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) z[i] = rng.nextNormal();
  return z;
}

/** A seed option: a finite number (integers are the usual choice). */
export function checkSeed(owner: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new RangeError(`${owner}: option 'seed' must be a finite number, got ${String(seed)}`);
  return seed;
}

export function checkInteger(owner: string, option: string, value: unknown, min: number, max = Infinity, opName?: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const where = opName !== undefined && max !== Infinity ? ` (operator '${opName}' has size ${max})` : '';
    throw new RangeError(`${owner}: option '${option}' must be an integer in [${min}, ${max}]${where}, got ${String(value)}`);
  }
  return value;
}

export function checkOperator(owner: string, op: unknown): void {
  // Duck-typed so that operators from another copy of the module still work.
  const o = op as { matvecFlat?: unknown; size?: unknown; name?: unknown } | null;
  if (o === null || typeof o !== 'object' || typeof o.matvecFlat !== 'function' || typeof o.size !== 'number') {
    throw new TypeError(`${owner}: expected a LinearOperator (see linearOperator(name, like, apply)), got ${o === null ? 'null' : typeof o}`);
  }
}

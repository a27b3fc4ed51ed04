/**
 * Property-based tests of the tensor ops (fast-check, seeded): random shapes (0-size and
 * length-1 axes included), both dtypes, broadcasting pairs valid and invalid. Every result is
 * compared with a naive float64 reference written here; summations are held to the rigorous
 * bound n·u·Σ|terms| of the dtype's unit roundoff u. Invalid input must throw an Error whose
 * message names the op.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Tensor, type DType } from './tensor.js';
import { Rng } from './random.js';
import * as ops from './ops.js';
import { concat, reshape, slice, transpose } from './shape-ops.js';
import { matmul } from './matmul.js';
import { UNARY_OPS } from '../kernels/types.js';

const RUNS = 150;
const TIME = { timeout: 60_000 };
const U: Record<DType, number> = { float32: 2 ** -24, float64: 2 ** -53 };

// ---------- naive references over flat row-major arrays ----------

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  let off = 0;
  for (let d = 0; d < shape.length; d++) off = off * shape[d] + idx[d];
  return off;
}

/** Element of `shape`-data at the output index `idx` of a broadcast (right-aligned, length-1 axes repeat). */
function broadcastAt(data: ArrayLike<number>, shape: readonly number[], idx: readonly number[]): number {
  const off = idx.length - shape.length;
  return data[ravel(shape.map((d, i) => (d === 1 ? 0 : idx[i + off])), shape)];
}

function tensorOf(shape: readonly number[], dtype: DType, seed: number, opts: { lo?: number; hi?: number; ties?: boolean } = {}): Tensor {
  const { lo = -3, hi = 3, ties = false } = opts;
  const rng = new Rng(seed);
  const n = size(shape);
  const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = lo + (hi - lo) * rng.nextFloat();
    data[i] = ties ? Math.round(v * 2) / 2 : v;
  }
  return new Tensor(data, shape);
}

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e30, -1e30, 100, -100];

/** Random data with about a third of the entries NaN, ±Infinity, ±0 or large. */
function specialTensorOf(shape: readonly number[], dtype: DType, seed: number): Tensor {
  const x = tensorOf(shape, dtype, seed);
  const rng = new Rng(seed + 99);
  for (let i = 0; i < x.size; i++) if (rng.nextFloat() < 0.35) x.data[i] = SPECIAL[rng.nextInt(SPECIAL.length)];
  return x;
}

function throwsNaming(op: string, fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof Error && e.message.includes(op), `expected an Error naming '${op}'`);
}

function assertWithin(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number> | number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      assert.ok(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)) || g === w, `${what} [${i}]: got ${g}, expected ${w}`);
      continue;
    }
    const b = typeof bound === 'number' ? bound : bound[i];
    assert.ok(Math.abs(g - w) <= b, `${what} [${i}]: got ${g}, expected ${w} (bound ${b})`);
  }
}

// ---------- generators ----------

const dimArb = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 4 }), weight: 6 }, fc.constant(0), { arbitrary: fc.constant(1), weight: 2 });
const shapeArb = (maxNdim = 4, minNdim = 0) => fc.array(dimArb, { minLength: minNdim, maxLength: maxNdim });
const nonEmptyShapeArb = (maxNdim = 4, minNdim = 0) => fc.array(fc.integer({ min: 1, max: 4 }), { minLength: minNdim, maxLength: maxNdim });
const dtypeArb = fc.constantFrom<DType>('float32', 'float64');
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

/** An output shape and two operand shapes that broadcast to it. */
const broadcastPairArb = (maxNdim: number) => shapeArb(maxNdim).chain((out) => {
  const operand = fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
  return fc.tuple(fc.constant(out), operand, operand);
}).map(([out, a, b]) => {
  // The broadcast of a and b may be smaller than `out` where both chose 1 or dropped the axis.
  const n = Math.max(a.length, b.length);
  const shape = Array.from({ length: n }, (_, i) => {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    return da === 1 ? db : da;
  });
  return { out: shape, a, b, full: out };
});

// ---------- elementwise ----------

/** The float64 reference of each unary op (independent of the kernels for the transcendental ones). */
const UNARY_REF: Record<string, (x: number) => number> = {
  neg: (x) => -x, abs: Math.abs, sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), step: (x) => (x > 0 ? 1 : Number.isNaN(x) ? NaN : 0), exp: Math.exp, expm1: Math.expm1,
  log: Math.log, log1p: Math.log1p, sqrt: Math.sqrt, rsqrt: (x) => 1 / Math.sqrt(x), square: (x) => x * x, reciprocal: (x) => 1 / x,
  tanh: Math.tanh, sigmoid: (x) => 1 / (1 + Math.exp(-x)), relu: (x) => (x > 0 || Number.isNaN(x) ? x : 0),
  softplus: (x) => (x > 30 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))),
  sin: Math.sin, cos: Math.cos, erf: erfSeries,
};

/**
 * erf by its Maclaurin series for |x| <= 3 (cancellation leaves ~3e-14 absolute error at 3), and
 * beyond by erfc's continued fraction exp(-x²)/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + …)))),
 * evaluated backwards from a fixed depth.
 */
function erfSeries(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) > 3) {
    const ax = Math.abs(x);
    let t = ax;
    for (let n = 80; n >= 1; n--) t = ax + n / 2 / t;
    return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / t);
  }
  let term = x;
  let s = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const t = term / (2 * n + 1);
    s += t;
    if (Math.abs(t) < 1e-17 * Math.abs(s)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * s;
}

const POSITIVE_DOMAIN = new Set(['log', 'sqrt', 'rsqrt']);

describe('elementwise ops against a float64 reference', () => {
  it('every unary op on random shapes and dtypes', TIME, () => {
    assert.deepEqual(Object.keys(UNARY_REF).sort(), [...UNARY_OPS].sort(), 'the reference covers every unary op');
    fc.assert(fc.property(fc.constantFrom(...Object.keys(UNARY_REF)), shapeArb(), dtypeArb, seedArb, (name, shape, dtype, seed) => {
      const x = tensorOf(shape, dtype, seed, POSITIVE_DOMAIN.has(name) ? { lo: 0.05, hi: 3 } : name === 'log1p' ? { lo: -0.9, hi: 3 } : {});
      const fn = (ops as unknown as Record<string, (t: Tensor) => Tensor>)[name];
      const y = fn(x);
      assert.deepEqual(y.shape, shape);
      assert.equal(y.dtype, dtype);
      const want = Array.from(x.data, UNARY_REF[name]);
      // A few ulps of the dtype, relative to the value (exp's argument error adds |x|·u).
      // The series reference of erf itself carries ~3e-14 absolute error near |x| = 3.
      const floor = dtype === 'float32' ? 1e-7 : name === 'erf' ? 1e-13 : 1e-15;
      const bound = want.map((w, i) => 8 * U[dtype] * (Math.abs(w) * (1 + Math.abs(x.data[i])) + 1e-300) + floor);
      assertWithin(y.data, want, bound, `${name} ${dtype} ${JSON.stringify(shape)}`);
      throwsNaming(name, () => fn([1, 2] as unknown as Tensor));
    }), { seed: 101, numRuns: RUNS * 2 });
  });

  it('unary ops on NaN, ±Infinity, ±0 and large values agree with the reference (NaN and infinities included)', TIME, () => {
    fc.assert(fc.property(fc.constantFrom(...Object.keys(UNARY_REF)), shapeArb(3), dtypeArb, seedArb, (name, shape, dtype, seed) => {
      const x = specialTensorOf(shape, dtype, seed);
      const y = (ops as unknown as Record<string, (t: Tensor) => Tensor>)[name](x);
      const want = Array.from(x.data, (v) => (dtype === 'float32' ? Math.fround(UNARY_REF[name](v)) : UNARY_REF[name](v)));
      const bound = want.map((w, i) => 8 * U[dtype] * Math.abs(w) * (1 + Math.min(Math.abs(x.data[i]), 1e3)) + (dtype === 'float32' ? 1e-7 : name === 'erf' ? 1e-13 : 1e-15));
      assertWithin(y.data, want, bound, `${name} ${dtype} on ${Array.from(x.data).join(', ')}`);
    }), { seed: 104, numRuns: RUNS * 2 });
  });

  const BINARY_REF: Record<string, (a: number, b: number) => number> = {
    add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b, pow: Math.pow,
    maximum: Math.max, minimum: Math.min, equal: (a, b) => +(a === b), notEqual: (a, b) => +(a !== b), greater: (a, b) => +(a > b),
    greaterEqual: (a, b) => +(a >= b), less: (a, b) => +(a < b), lessEqual: (a, b) => +(a <= b),
  };

  it('every binary op on broadcasting pairs, with number operands, against a float64 reference', TIME, () => {
    fc.assert(fc.property(fc.constantFrom(...Object.keys(BINARY_REF)), broadcastPairArb(4), dtypeArb, seedArb, fc.boolean(), (name, pair, dtype, seed, ties) => {
      const positive = name === 'pow' ? { lo: 0.1, hi: 3 } : {};
      const a = tensorOf(pair.a, dtype, seed, { ...positive, ties });
      const b = tensorOf(pair.b, dtype, seed + 1, { ...(name === 'pow' ? { lo: -2, hi: 2 } : {}), ties });
      const fn = (ops as unknown as Record<string, (x: Tensor | number, y: Tensor | number) => Tensor>)[name];
      const y = fn(a, b);
      assert.deepEqual(y.shape, pair.out, `${name}: ${JSON.stringify(pair.a)} with ${JSON.stringify(pair.b)}`);
      assert.equal(y.dtype, dtype);
      const want = new Float64Array(size(pair.out));
      for (let i = 0; i < want.length; i++) {
        const idx = unravel(i, pair.out);
        want[i] = BINARY_REF[name](broadcastAt(a.data, pair.a, idx), broadcastAt(b.data, pair.b, idx));
      }
      // The result rounded once to the dtype; pow's logarithm adds |log a·b|·u.
      const bound = Array.from(want, (w) => 4 * U[dtype] * Math.abs(w) * (name === 'pow' ? 8 : 1) + 1e-300);
      assertWithin(y.data, want, bound, `${name} ${dtype}`);
      // A number operand acts as a 0-d tensor of the other operand's dtype.
      if (a.size > 0) {
        const s = a.data[0];
        const z = fn(s, b);
        assert.deepEqual(z.shape, pair.b);
        assertWithin(z.data, Array.from(b.data, (v) => BINARY_REF[name](s, v)), Array.from(b.data, (v) => 4 * U[dtype] * Math.abs(BINARY_REF[name](s, v)) * (name === 'pow' ? 8 : 1) + 1e-300), `${name}(number, tensor)`);
      }
    }), { seed: 102, numRuns: RUNS * 2 });
  });

  it('binary ops reject shapes that do not broadcast, and mixed dtypes, naming the op', TIME, () => {
    fc.assert(fc.property(fc.constantFrom(...Object.keys(BINARY_REF)), nonEmptyShapeArb(4, 1), fc.nat(), fc.integer({ min: 1, max: 3 }), (name, shape, pick, delta) => {
      const fn = (ops as unknown as Record<string, (x: Tensor | number, y: Tensor | number) => Tensor>)[name];
      const axis = pick % shape.length;
      // Change one axis to a different length that is not 1 (and not the same).
      const other = shape.slice();
      other[axis] = shape[axis] === 1 ? 1 + delta : shape[axis] + delta;
      if (shape[axis] !== 1) {
        throwsNaming(name, () => fn(tensorOf(shape, 'float64', 1), tensorOf(other, 'float64', 2)));
      }
      throwsNaming(name, () => fn(tensorOf(shape, 'float32', 1), tensorOf(shape, 'float64', 2)));
      throwsNaming(name, () => fn(tensorOf(shape, 'float32', 1), 'x' as unknown as number));
    }), { seed: 103, numRuns: RUNS });
  });
});

// ---------- reductions ----------

/** Reduce `x` over `axes` (normalized, sorted) with the reference combiner; returns values and per-output |terms| sums. */
function reduceRef(x: Tensor, axes: number[], keepdims: boolean, kind: string): { shape: number[]; values: Float64Array; absSum: Float64Array; count: number } {
  const keptShape = x.shape.filter((_, i) => !axes.includes(i));
  const shape = keepdims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : keptShape;
  const groups: number[][] = Array.from({ length: size(keptShape) }, () => []);
  for (let i = 0; i < x.size; i++) {
    const idx = unravel(i, x.shape);
    const g = ravel(idx.filter((_, d) => !axes.includes(d)), keptShape);
    groups[g].push(i);
  }
  const count = axes.reduce((acc, a) => acc * x.shape[a], 1);
  const values = new Float64Array(groups.length);
  const absSum = new Float64Array(groups.length);
  groups.forEach((members, g) => {
    const v = members.map((i) => x.data[i]);
    absSum[g] = v.reduce((s, t) => s + Math.abs(t), 0);
    if (kind === 'sum') values[g] = v.reduce((s, t) => s + t, 0);
    else if (kind === 'mean') values[g] = v.reduce((s, t) => s + t, 0) / count;
    else if (kind === 'max') values[g] = Math.max(...v);
    else if (kind === 'min') values[g] = Math.min(...v);
    else if (kind === 'logsumexp') {
      const m = Math.max(...v);
      values[g] = m + Math.log(v.reduce((s, t) => s + Math.exp(t - m), 0));
    } else {
      // First index of the extreme value along the single reduced axis.
      let best = 0;
      for (let j = 1; j < v.length; j++) if (kind === 'argmax' ? v[j] > v[best] : v[j] < v[best]) best = j;
      values[g] = axes.length === 1 ? unravel(members[best], x.shape)[axes[0]] : best;
    }
  });
  return { shape, values, absSum, count };
}

const axesArb = (ndim: number): fc.Arbitrary<number | number[] | undefined> => (ndim === 0 ? fc.constantFrom(undefined, []) : fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: -ndim, max: ndim - 1 }),
  fc.subarray(Array.from({ length: ndim }, (_, i) => i)).chain((ax) => fc.tuple(...ax.map((a) => fc.constantFrom(a, a - ndim)))).map((ax) => ax as number[]),
));

describe('reductions against a naive reference', () => {
  it('sum, mean, max, min and logsumexp over random axes, keepdims or not', TIME, () => {
    const kinds = ['sum', 'mean', 'max', 'min', 'logsumexp'] as const;
    fc.assert(fc.property(fc.constantFrom(...kinds), shapeArb(4).chain((s) => fc.tuple(fc.constant(s), axesArb(s.length))), fc.boolean(), dtypeArb, seedArb, fc.boolean(),
      (kind, [shape, axis], keepdims, dtype, seed, ties) => {
        const x = tensorOf(shape, dtype, seed, { ties });
        const axes = ops.normalizeAxes(kind, shape.length, axis);
        const ref = reduceRef(x, axes, keepdims, kind);
        const emptyGroups = ref.count === 0 && ref.values.length > 0;
        const fn = ops[kind];
        if (emptyGroups && kind !== 'sum' && kind !== 'mean') {
          throwsNaming(kind, () => fn(x, axis, keepdims));
          return;
        }
        const y = fn(x, axis, keepdims);
        assert.deepEqual(y.shape, ref.shape, `${kind} of ${JSON.stringify(shape)} over ${JSON.stringify(axis)} keepdims ${keepdims}`);
        assert.equal(y.dtype, dtype);
        const n = Math.max(ref.count, 1);
        // Summation error bound n·u·Σ|x| (plus the final rounding and, for mean, the division).
        const bound = Array.from(ref.values, (v, g) => (kind === 'max' || kind === 'min' ? 0
          : kind === 'logsumexp' ? 4 * (n + 4) * U[dtype] * (Math.abs(v) + 1) : (n + 2) * U[dtype] * (ref.absSum[g] / (kind === 'mean' ? n : 1) + Math.abs(v))));
        assertWithin(y.data, ref.values, bound, `${kind} ${dtype}`);
      }), { seed: 201, numRuns: RUNS * 2 });
  });

  it('NaN propagates through sum, max, min and logsumexp, infinities follow IEEE rules, and argmax/argmin pick the first NaN', TIME, () => {
    fc.assert(fc.property(fc.constantFrom('sum', 'max', 'min', 'logsumexp', 'argmax', 'argmin'), nonEmptyShapeArb(3, 1), dtypeArb, seedArb, (kind, shape, dtype, seed) => {
      const x = specialTensorOf(shape, dtype, seed);
      const v = Array.from(x.data);
      const hasNaN = v.some(Number.isNaN);
      const y = (ops as unknown as Record<string, (t: Tensor) => Tensor>)[kind](x).item();
      if (kind === 'argmax' || kind === 'argmin') {
        const extreme = kind === 'argmax' ? Math.max(...v) : Math.min(...v);
        assert.equal(y, hasNaN ? v.findIndex(Number.isNaN) : v.indexOf(extreme), `${kind} of ${v.join(', ')}`);
        return;
      }
      if (hasNaN) {
        assert.ok(Number.isNaN(y), `${kind} of ${v.join(', ')} is ${y}, expected NaN`);
        return;
      }
      const posInf = v.includes(Infinity);
      const negInf = v.includes(-Infinity);
      if (kind === 'max' || kind === 'min') assert.equal(y, kind === 'max' ? Math.max(...v) : Math.min(...v));
      else if (kind === 'sum') {
        // Finite terms up to 1e30 may overflow float32 partial sums, so only the infinite cases are exact.
        if (posInf && negInf) assert.ok(Number.isNaN(y));
        else if (posInf || negInf) assert.equal(y, posInf ? Infinity : -Infinity);
        else if (dtype === 'float64') assert.ok(Math.abs(y - v.reduce((a, b) => a + b, 0)) <= (v.length + 2) * U[dtype] * v.reduce((a, b) => a + Math.abs(b), 0));
      } else if (posInf) assert.equal(y, Infinity);
      else if (v.every((t) => t === -Infinity)) assert.equal(y, -Infinity);
      else {
        const m = Math.max(...v);
        const want = m + Math.log(v.reduce((a, t) => a + Math.exp(t - m), 0));
        assert.ok(Math.abs(y - want) <= 4 * (v.length + 4) * U[dtype] * (Math.abs(want) + 1), `logsumexp of ${v.join(', ')}: ${y} vs ${want}`);
      }
    }), { seed: 204, numRuns: RUNS * 2 });
  });

  it('argmax and argmin give the first extreme index along an axis, or of the flattened tensor', TIME, () => {
    fc.assert(fc.property(fc.constantFrom('argmax', 'argmin'), nonEmptyShapeArb(4).chain((s) => fc.tuple(fc.constant(s), s.length === 0 ? fc.constant(undefined) : fc.option(fc.integer({ min: -s.length, max: s.length - 1 }), { nil: undefined }))), fc.boolean(), dtypeArb, seedArb,
      (kind, [shape, axis], keepdims, dtype, seed) => {
        const x = tensorOf(shape, dtype, seed, { ties: true });
        const y = ops[kind as 'argmax'](x, axis, keepdims);
        if (axis === undefined) {
          const v = Array.from(x.data);
          const want = v.indexOf(kind === 'argmax' ? Math.max(...v) : Math.min(...v));
          assert.equal(y.item(), want);
          assert.deepEqual(y.shape, keepdims ? shape.map(() => 1) : []);
          return;
        }
        const ref = reduceRef(x, ops.normalizeAxes(kind, shape.length, axis), keepdims, kind);
        assert.deepEqual(y.shape, ref.shape);
        assert.deepEqual(Array.from(y.data), Array.from(ref.values));
      }), { seed: 202, numRuns: RUNS });
  });

  it('reductions reject out-of-range and repeated axes, naming the op', TIME, () => {
    fc.assert(fc.property(fc.constantFrom('sum', 'mean', 'max', 'min', 'logsumexp', 'argmax', 'argmin'), nonEmptyShapeArb(3), fc.integer({ min: 0, max: 3 }), (kind, shape, extra) => {
      const fn = (ops as unknown as Record<string, (x: Tensor, axis?: unknown) => Tensor>)[kind];
      const x = tensorOf(shape, 'float64', 3);
      throwsNaming(kind, () => fn(x, shape.length + extra));
      throwsNaming(kind, () => fn(x, -shape.length - 1 - extra));
      throwsNaming(kind, () => fn(x, 0.5));
      if (shape.length > 0 && !kind.startsWith('arg')) throwsNaming(kind, () => fn(x, [0, -shape.length]));
      throwsNaming(kind, () => fn({ shape } as unknown as Tensor));
    }), { seed: 203, numRuns: RUNS });
  });
});

// ---------- data movement ----------

function primeFactors(n: number): number[] {
  const f: number[] = [];
  for (let p = 2; n > 1; p++) while (n % p === 0) { f.push(p); n /= p; }
  return f;
}

describe('shape ops against index arithmetic', () => {
  it('reshape (with an inferred -1) keeps the row-major data; a size mismatch throws naming reshape', TIME, () => {
    fc.assert(fc.property(shapeArb(4), dtypeArb, seedArb, fc.array(fc.nat(3), { maxLength: 12 }), fc.nat(), (shape, dtype, seed, groups, inferPick) => {
      const x = tensorOf(shape, dtype, seed);
      // Group the prime factors of the size into a random number of new axes.
      const target = [1, 1, 1, 1];
      primeFactors(x.size).forEach((p, i) => { target[groups[i % Math.max(groups.length, 1)] ?? 0] *= p; });
      if (x.size === 0) target[0] = 0;
      const spec = target.slice();
      if (x.size > 0) spec[inferPick % 4] = -1;
      const y = reshape(x, spec);
      assert.deepEqual(y.shape, target);
      assert.deepEqual(Array.from(y.data), Array.from(x.data));
      throwsNaming('reshape', () => reshape(x, [x.size + 1]));
      throwsNaming('reshape', () => reshape(x, [-1, -1]));
    }), { seed: 301, numRuns: RUNS });
  });

  it('transpose by a random permutation moves element idx to idx∘perm; a bad perm throws naming transpose', TIME, () => {
    fc.assert(fc.property(shapeArb(4).chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length, maxLength: s.length }))), dtypeArb, seedArb,
      ([shape, perm], dtype, seed) => {
        const x = tensorOf(shape, dtype, seed);
        const y = transpose(x, perm);
        const outShape = perm.map((p) => shape[p]);
        assert.deepEqual(y.shape, outShape);
        for (let i = 0; i < y.size; i++) {
          const idx = unravel(i, outShape);
          const src = new Array<number>(shape.length);
          perm.forEach((p, j) => { src[p] = idx[j]; });
          assert.equal(y.data[i], x.data[ravel(src, shape)]);
        }
        if (shape.length > 0) {
          throwsNaming('transpose', () => transpose(x, [...perm, 0]));
          if (shape.length > 1) throwsNaming('transpose', () => transpose(x, perm.map(() => perm[0])));
          throwsNaming('transpose', () => transpose(x, perm.map((p, j) => (j === 0 ? shape.length + p : p))));
        }
      }), { seed: 302, numRuns: RUNS });
  });

  const boundArb = (n: number) => fc.option(fc.integer({ min: -n - 2, max: n + 2 }), { nil: undefined });
  it('slice follows Python rules (negative, clamped, strided bounds); a non-positive step throws naming slice', TIME, () => {
    fc.assert(fc.property(shapeArb(4).chain((s) => fc.tuple(
      fc.constant(s), fc.integer({ min: 0, max: s.length }).chain((k) => fc.tuple(...s.slice(0, k).map((d) => fc.tuple(fc.integer({ min: -d - 2, max: d + 2 }), boundArb(d), fc.integer({ min: 1, max: 3 }))))),
    )), dtypeArb, seedArb, ([shape, bounds], dtype, seed) => {
      const x = tensorOf(shape, dtype, seed);
      const start = bounds.map((b) => b[0]);
      const stop = bounds.map((b) => b[1]);
      const step = bounds.map((b) => b[2]);
      const y = slice(x, start, stop, step);
      // Python's range of each axis.
      const ranges = shape.map((n, d) => {
        if (d >= bounds.length) return Array.from({ length: n }, (_, i) => i);
        const norm = (v: number | undefined, dflt: number) => (v === undefined ? dflt : Math.min(Math.max(v < 0 ? v + n : v, 0), n));
        const out: number[] = [];
        for (let i = norm(start[d], 0); i < norm(stop[d], n); i += step[d]) out.push(i);
        return out;
      });
      const outShape = ranges.map((r) => r.length);
      assert.deepEqual(y.shape, outShape);
      for (let i = 0; i < y.size; i++) assert.equal(y.data[i], x.data[ravel(unravel(i, outShape).map((j, d) => ranges[d][j]), shape)]);
      if (shape.length > 0) {
        throwsNaming('slice', () => slice(x, [0], undefined, [0]));
        throwsNaming('slice', () => slice(x, [0], undefined, [-1]));
      }
      throwsNaming('slice', () => slice(x, new Array<number>(shape.length + 1).fill(0)));
    }), { seed: 303, numRuns: RUNS });
  });

  it('concat of the pieces of a tensor split along an axis gives the tensor back; mismatches throw naming concat', TIME, () => {
    fc.assert(fc.property(shapeArb(4, 1).chain((s) => fc.tuple(fc.constant(s), fc.nat(s.length - 1), fc.array(fc.nat(4), { minLength: 1, maxLength: 4 }))), dtypeArb, seedArb,
      ([shape, axis, lengths], dtype, seed) => {
        const full = shape.slice();
        full[axis] = lengths.reduce((a, b) => a + b, 0);
        const x = tensorOf(full, dtype, seed);
        let at = 0;
        const pieces = lengths.map((len) => {
          const ps = full.slice();
          ps[axis] = len;
          const data = dtype === 'float32' ? new Float32Array(size(ps)) : new Float64Array(size(ps));
          for (let i = 0; i < data.length; i++) {
            const idx = unravel(i, ps);
            idx[axis] += at;
            data[i] = x.data[ravel(idx, full)];
          }
          at += len;
          return new Tensor(data, ps);
        });
        const negative = axis - shape.length;
        const y = concat(pieces, negative);
        assert.deepEqual(y.shape, full);
        assert.deepEqual(Array.from(y.data), Array.from(x.data));
        const wrong = full.slice();
        const other = (axis + 1) % full.length;
        if (other !== axis) {
          wrong[other] += 1;
          throwsNaming('concat', () => concat([pieces[0], tensorOf(wrong, dtype, 1)], axis));
        }
        throwsNaming('concat', () => concat([pieces[0], tensorOf(full, dtype === 'float32' ? 'float64' : 'float32', 1)], axis));
        throwsNaming('concat', () => concat(pieces, full.length));
        throwsNaming('concat', () => concat([]));
      }), { seed: 304, numRuns: RUNS });
  });
});

// ---------- matmul ----------

describe('matmul against a naive float64 product', () => {
  const matArb = fc.record({
    m: fc.integer({ min: 0, max: 4 }), k: fc.integer({ min: 0, max: 5 }), n: fc.integer({ min: 0, max: 4 }),
    batch: broadcastPairArb(2),
    tA: fc.boolean(), tB: fc.boolean(), aVec: fc.boolean(), bVec: fc.boolean(),
  });

  it('transpose flags, 1-D operands and broadcast batch dimensions', TIME, () => {
    fc.assert(fc.property(matArb, dtypeArb, seedArb, (c, dtype, seed) => {
      const aVec = c.aVec && c.batch.a.length === 0;
      const bVec = c.bVec && c.batch.b.length === 0;
      const m = aVec ? 1 : c.m;
      const n = bVec ? 1 : c.n;
      const aShape = aVec ? [c.k] : [...c.batch.a, ...(c.tA ? [c.k, m] : [m, c.k])];
      const bShape = bVec ? [c.k] : [...c.batch.b, ...(c.tB ? [n, c.k] : [c.k, n])];
      const a = tensorOf(aShape, dtype, seed);
      const b = tensorOf(bShape, dtype, seed + 7);
      const y = matmul(a, b, { transposeA: c.tA, transposeB: c.tB });
      const batchShape = aVec && bVec ? [] : c.batch.out;
      const aB = aVec ? [] : c.batch.a;
      const bB = bVec ? [] : c.batch.b;
      const want = new Float64Array(size(batchShape) * m * n);
      const bound = new Float64Array(want.length);
      const aAt = (bi: number[], i: number, p: number) => (aVec ? a.data[p] : a.data[ravel([...bi.slice(bi.length - aB.length).map((v, d) => (aB[d] === 1 ? 0 : v)), ...(c.tA ? [p, i] : [i, p])], aShape)]);
      const bAt = (bi: number[], p: number, j: number) => (bVec ? b.data[p] : b.data[ravel([...bi.slice(bi.length - bB.length).map((v, d) => (bB[d] === 1 ? 0 : v)), ...(c.tB ? [j, p] : [p, j])], bShape)]);
      for (let o = 0; o < want.length; o++) {
        const bi = unravel(Math.floor(o / (m * n)), batchShape);
        const i = Math.floor((o % (m * n)) / n);
        const j = o % n;
        let s = 0;
        let abs = 0;
        for (let p = 0; p < c.k; p++) {
          const t = aAt(bi, i, p) * bAt(bi, p, j);
          s += t;
          abs += Math.abs(t);
        }
        want[o] = s;
        bound[o] = (c.k + 2) * U[dtype] * (abs + Math.abs(s)) * 2;
      }
      const shape = [...batchShape, ...(aVec ? [] : [m]), ...(bVec ? [] : [n])];
      assert.deepEqual(y.shape, shape, `${JSON.stringify(aShape)}${c.tA ? 'ᵀ' : ''} @ ${JSON.stringify(bShape)}${c.tB ? 'ᵀ' : ''}`);
      assertWithin(y.data, want, bound, `matmul ${dtype}`);
    }), { seed: 401, numRuns: RUNS * 2 });
  });

  it('mismatched inner dimensions, batch dimensions, dtypes and 0-d operands throw naming matmul', TIME, () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), (m, k, n, d, tB) => {
      const a = tensorOf([m, k], 'float64', 1);
      throwsNaming('matmul', () => matmul(a, tensorOf(tB ? [n, k + d] : [k + d, n], 'float64', 2), { transposeB: tB }));
      throwsNaming('matmul', () => matmul(tensorOf([2, m, k], 'float64', 1), tensorOf([2 + d, k, n], 'float64', 2)));
      throwsNaming('matmul', () => matmul(a, tensorOf([k, n], 'float32', 2)));
      throwsNaming('matmul', () => matmul(a, new Tensor(new Float64Array(1), [])));
      throwsNaming('matmul', () => matmul(a, [[1]] as unknown as Tensor));
    }), { seed: 402, numRuns: RUNS });
  });
});

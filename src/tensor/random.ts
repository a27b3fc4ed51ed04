/**
 * Seeded random numbers. `Rng` is xoshiro128** (Blackman & Vigna) seeded through SplitMix32;
 * normals come from the Box–Muller transform in float64. Everything runs in JavaScript, so the
 * same seed gives the same numbers on every backend and every machine.
 *
 * Two styles, as users of PyTorch and JAX expect: pass `{seed}` for a reproducible draw that
 * touches no shared state (JAX-like), or omit it to draw from the global generator that
 * `manualSeed()` resets (PyTorch-like).
 */
import { Tensor, allocate, checkDType, checkShape, describe, shapeSize, type DType, type Shape } from './tensor.js';

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | undefined;

  constructor(seed = 0) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new TypeError(`Rng: seed must be a finite number, got ${describe(seed)}`);
    this.reseed(seed);
  }

  reseed(seed: number): void {
    // Fold a possibly large or fractional seed into 32 bits, keeping distinct small integers distinct.
    let st = (Math.trunc(seed) ^ Math.trunc(seed / 4294967296)) | 0;
    let v: number;
    [st, v] = splitmix32(st); this.s0 = v;
    [st, v] = splitmix32(st); this.s1 = v;
    [st, v] = splitmix32(st); this.s2 = v;
    [, v] = splitmix32(st); this.s3 = v;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spareNormal = undefined;
  }

  /** The generator's full state, for checkpoints. */
  getState(): number[] {
    return [this.s0, this.s1, this.s2, this.s3, this.spareNormal ?? NaN];
  }

  setState(state: readonly number[]): void {
    if (!Array.isArray(state) || state.length !== 5) throw new TypeError('Rng.setState: expected the 5 numbers of getState()');
    [this.s0, this.s1, this.s2, this.s3] = state.map((x) => x >>> 0);
    this.spareNormal = Number.isNaN(state[4]) ? undefined : state[4];
  }

  /** A uniformly random unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal draw (Box–Muller, both values used). */
  nextNormal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniformly random integer in [0, n). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Rng.nextInt: n must be a positive integer, got ${n}`);
    return Math.floor(this.nextFloat() * n);
  }

  /** A random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`Rng.permutation: n must be a non-negative integer, got ${n}`);
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** An independent generator derived from this one (advances this one). */
  split(): Rng {
    return new Rng(this.nextUint32() * 4294967296 + this.nextUint32());
  }

  normal(shape: Shape, options: { mean?: number; std?: number; dtype?: DType } = {}): Tensor {
    const { mean = 0, std = 1 } = options;
    return this.fill('normal', shape, options.dtype, () => mean + std * this.nextNormal());
  }

  uniform(shape: Shape, options: { low?: number; high?: number; dtype?: DType } = {}): Tensor {
    const { low = 0, high = 1 } = options;
    if (!(high >= low)) throw new RangeError(`uniform: need low <= high, got low=${low}, high=${high}`);
    return this.fill('uniform', shape, options.dtype, () => low + (high - low) * this.nextFloat());
  }

  /** 1 with probability p, else 0. */
  bernoulli(shape: Shape, p: number, options: { dtype?: DType } = {}): Tensor {
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new RangeError(`bernoulli: p must be in [0, 1], got ${describe(p)}`);
    return this.fill('bernoulli', shape, options.dtype, () => (this.nextFloat() < p ? 1 : 0));
  }

  /** ±1 with equal probability (Hutchinson probes). */
  rademacher(shape: Shape, options: { dtype?: DType } = {}): Tensor {
    return this.fill('rademacher', shape, options.dtype, () => ((this.nextUint32() & 1) === 0 ? -1 : 1));
  }

  private fill(op: string, shape: Shape, dtype: DType | undefined, draw: () => number): Tensor {
    const s = checkShape(op, shape);
    const dt = checkDType(op, dtype ?? 'float32');
    const data = allocate(dt, shapeSize(s));
    for (let i = 0; i < data.length; i++) data[i] = draw();
    return new Tensor(data, s);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const globalRng = new Rng(0);

/** Reset the global generator (PyTorch's `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  globalRng.reseed(seed);
}

export interface RandomOptions {
  /** Draw from a fresh generator with this seed instead of the global one. */
  seed?: number;
  dtype?: DType;
}

function source(options: RandomOptions): Rng {
  if (options === null || typeof options !== 'object') throw new TypeError(`random: options must be an object, got ${describe(options)}`);
  return options.seed === undefined ? globalRng : new Rng(options.seed);
}

/** Standard normal samples. */
export function randn(shape: Shape, options: RandomOptions = {}): Tensor {
  return source(options).normal(shape, { dtype: options.dtype });
}

/** Uniform samples in [low, high), default [0, 1). */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  return source(options).uniform(shape, options);
}

export function bernoulli(shape: Shape, p: number, options: RandomOptions = {}): Tensor {
  return source(options).bernoulli(shape, p, options);
}

export function rademacher(shape: Shape, options: RandomOptions = {}): Tensor {
  return source(options).rademacher(shape, options);
}

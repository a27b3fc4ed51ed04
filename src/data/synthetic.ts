/**
 * Small synthetic problems, generated from a seed (nothing stored, nothing downloaded):
 *
 * - `twoSpirals`: the two-spirals classification task (after Lang & Witbrock, 1988), two
 *   interleaved spirals in the plane, labels 0 and 1 — hard for first-order methods on small
 *   nets, a classic for second-order ones.
 * - `regression`: inputs through a fixed random tanh network (a "teacher") plus Gaussian noise,
 *   so a student of the same shape can reach the noise floor (mean squared error `noise²` per
 *   output).
 */
import { Tensor, allocate, checkDType, describe } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import type { DType } from '../kernels/types.js';

function checkOptions(op: string, options: unknown): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
}

function checkInt(op: string, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new RangeError(`${op}: ${name} must be an integer ≥ ${min}, got ${describe(v)}`);
  }
  return v;
}

function checkNonNegative(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`${op}: ${name} must be a finite number ≥ 0, got ${describe(v)}`);
  return v;
}

function checkSeed(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${op}: ${name} must be a finite number, got ${describe(v)}`);
  return v;
}

export interface TwoSpiralsOptions {
  /** Number of points; labels alternate 0, 1, 0, 1, ... so the classes differ in size by at most one. */
  n: number;
  /** Standard deviation of the Gaussian noise added to each coordinate (default 0). */
  noise?: number;
  /** Seed (default 0). */
  seed?: number;
  /** Turns of each spiral (default 2). */
  turns?: number;
  dtype?: DType;
}

/**
 * Two interleaved spirals in [-1, 1]² (before noise). A point of class 0 is
 * r·(cos θ, sin θ) with θ = √u · 2π·turns, r = θ / (2π·turns), u uniform in [0, 1) (so points
 * are spread evenly along the arm's area rather than crowding the centre); class 1 is its
 * reflection through the origin. Returns x [n, 2] and y [n] (0 or 1).
 */
export function twoSpirals(options: TwoSpiralsOptions): { x: Tensor; y: Tensor } {
  const op = 'twoSpirals';
  checkOptions(op, options);
  const n = checkInt(op, 'n', options.n, 0);
  const noise = checkNonNegative(op, 'noise', options.noise ?? 0);
  const seed = checkSeed(op, 'seed', options.seed ?? 0);
  const turns = options.turns ?? 2;
  if (typeof turns !== 'number' || !Number.isFinite(turns) || turns <= 0) throw new RangeError(`${op}: turns must be a positive number, got ${describe(turns)}`);
  const dtype = checkDType(op, options.dtype ?? 'float32');
  const rng = new Rng(seed);
  const noiseRng = rng.split(); // separate stream: the clean points do not depend on `noise`
  const x = allocate(dtype, n * 2);
  const y = allocate(dtype, n);
  const thetaMax = 2 * Math.PI * turns;
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const theta = Math.sqrt(rng.nextFloat()) * thetaMax;
    const r = theta / thetaMax;
    const sign = label === 0 ? 1 : -1;
    x[2 * i] = sign * r * Math.cos(theta) + (noise > 0 ? noise * noiseRng.nextNormal() : 0);
    x[2 * i + 1] = sign * r * Math.sin(theta) + (noise > 0 ? noise * noiseRng.nextNormal() : 0);
    y[i] = label;
  }
  return { x: new Tensor(x, [n, 2]), y: new Tensor(y, [n]) };
}

export interface RegressionOptions {
  n: number;
  inputDim: number;
  outputDim: number;
  /** Standard deviation of the Gaussian noise added to the targets (default 0). */
  noise?: number;
  /** Seed of the inputs and the noise (default 0). */
  seed?: number;
  /**
   * Seed of the teacher network (default 0): fixed, so that sets drawn with different `seed`s
   * (a training and a test set) share one underlying function.
   */
  teacherSeed?: number;
  /** Hidden units of the teacher (default 32). */
  hidden?: number;
  dtype?: DType;
}

/**
 * A regression task: x ~ N(0, I) of shape [n, inputDim] and
 * y = tanh(x W1 + b1) W2 + b2 + noise·ε of shape [n, outputDim], where the teacher has
 * W1 ~ N(0, 1/inputDim), b1 ~ N(0, 0.1²), W2 ~ N(0, 1/hidden), b2 ~ N(0, 0.1²) drawn from
 * `teacherSeed`, and ε ~ N(0, 1). Computed in float64, returned in `dtype`.
 */
export function regression(options: RegressionOptions): { x: Tensor; y: Tensor } {
  const op = 'regression';
  checkOptions(op, options);
  const n = checkInt(op, 'n', options.n, 0);
  const inputDim = checkInt(op, 'inputDim', options.inputDim, 1);
  const outputDim = checkInt(op, 'outputDim', options.outputDim, 1);
  const hidden = checkInt(op, 'hidden', options.hidden ?? 32, 1);
  const noise = checkNonNegative(op, 'noise', options.noise ?? 0);
  const seed = checkSeed(op, 'seed', options.seed ?? 0);
  const teacherSeed = checkSeed(op, 'teacherSeed', options.teacherSeed ?? 0);
  const dtype = checkDType(op, options.dtype ?? 'float32');

  const t = new Rng(teacherSeed);
  const draw = (count: number, std: number) => Float64Array.from({ length: count }, () => std * t.nextNormal());
  const w1 = draw(inputDim * hidden, 1 / Math.sqrt(inputDim));
  const b1 = draw(hidden, 0.1);
  const w2 = draw(hidden * outputDim, 1 / Math.sqrt(hidden));
  const b2 = draw(outputDim, 0.1);

  const rng = new Rng(seed);
  const noiseRng = rng.split(); // separate stream: the inputs do not depend on `noise`
  const x = allocate(dtype, n * inputDim);
  const y = allocate(dtype, n * outputDim);
  const xi = new Float64Array(inputDim);
  const h = new Float64Array(hidden);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputDim; k++) {
      // the teacher sees the inputs as stored, so float32 data has no rounding mismatch
      x[i * inputDim + k] = rng.nextNormal();
      xi[k] = x[i * inputDim + k];
    }
    for (let j = 0; j < hidden; j++) {
      let s = b1[j];
      for (let k = 0; k < inputDim; k++) s += xi[k] * w1[k * hidden + j];
      h[j] = Math.tanh(s);
    }
    for (let o = 0; o < outputDim; o++) {
      let s = b2[o];
      for (let j = 0; j < hidden; j++) s += h[j] * w2[j * outputDim + o];
      y[i * outputDim + o] = s + (noise > 0 ? noise * noiseRng.nextNormal() : 0);
    }
  }
  return { x: new Tensor(x, [n, inputDim]), y: new Tensor(y, [n, outputDim]) };
}

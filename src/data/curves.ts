/**
 * CURVES-syn: a regenerated stand-in for the CURVES autoencoder benchmark of Hinton &
 * Salakhutdinov ("Reducing the dimensionality of data with neural networks", Science 313, 2006,
 * and its supporting online material), used by Martens (2010) for Hessian-free optimization.
 * The original file cannot be fetched here, so the images are generated the way the paper
 * describes them: three random points in 2-D, a smooth curve through them, rendered into a
 * 28×28 image. Every image is a smooth function of six numbers (the coordinates of the three
 * points), so the data lie on a 6-dimensional manifold in 784-dimensional pixel space. The
 * statistics are close to, not identical with, the original data; results on it are comparable
 * between methods run here, not digit-for-digit with published numbers.
 *
 * The procedure, per image (all randomness from our seeded `Rng`, in this order):
 * 1. Draw three points P0, P1, P2 uniformly in the square [m, 1 − m]² (margin `m`, default 0.1,
 *    so that the curve stays mostly inside the frame): six `nextFloat()` draws, x before y.
 *    The unit square is mapped onto the 28×28 grid (x to the right, y down), so a point (u, v)
 *    sits at pixel coordinates (28u, 28v) and pixel (row i, column j) has its centre at
 *    (j + ½, i + ½).
 * 2. The curve is the natural cubic spline through P0, P1, P2 in that order (two cubic pieces,
 *    zero curvature at both ends), parameterized by chord length (knots 0, |P1 − P0|,
 *    |P1 − P0| + |P2 − P1|), which keeps it free of loops and close to the points.
 * 3. The spline is sampled at 64 parameter values evenly spaced over the knots, giving a
 *    polyline of 63 segments (each well under a pixel long at this size).
 * 4. Each pixel's intensity is a smooth function of the distance d from its centre to the
 *    polyline: with pen half-width a = thickness / 2 (pixels; thickness defaults to 2),
 *    I(d) = 1 − S(d − (a − ½)) with S the smoothstep, S(t) = 0 for t ≤ 0, 3t² − 2t³ on [0, 1],
 *    1 for t ≥ 1. So a pixel whose centre is within a − ½ of the curve is 1, one farther than
 *    a + ½ is 0, and the ramp between approximates the area a pen of width `thickness` covers
 *    in a one-pixel box (anti-aliasing). Values are in [0, 1] (clamped).
 *
 * Fast: the distance field is splatted segment by segment onto only the pixels within a + ½ of
 * the segment's bounding box, so the cost is about 63 × (a few × a few) pixel updates per image.
 */
import { Tensor, allocate, checkDType, describe } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import type { DType, FloatArray } from '../kernels/types.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** Points sampled along each curve (so SAMPLES − 1 segments). */
const SAMPLES = 64;

export interface CurvesOptions {
  /** Number of images. */
  n: number;
  /** Seed (default 0). */
  seed?: number;
  /** 'float32' (default) or 'float64'. */
  dtype?: DType;
  /** Pen width in pixels (default 2). */
  thickness?: number;
  /** The points are drawn in [margin, 1 − margin]² (default 0.1). */
  margin?: number;
}

export interface CurvesSplit {
  /** [N, 784] images, values in [0, 1]. */
  x: Tensor;
  /** The autoencoder targets: the same tensor as `x`. */
  y: Tensor;
}

export interface Curves {
  train: CurvesSplit;
  test: CurvesSplit;
}

interface RenderOptions {
  thickness: number;
  margin: number;
}

function checkRenderOptions(op: string, o: { thickness?: number; margin?: number }): RenderOptions {
  const thickness = o.thickness ?? 2;
  if (typeof thickness !== 'number' || !Number.isFinite(thickness) || thickness <= 0 || thickness > SIDE) {
    throw new RangeError(`${op}: thickness must be a number of pixels in (0, ${SIDE}], got ${describe(thickness)}`);
  }
  const margin = o.margin ?? 0.1;
  if (typeof margin !== 'number' || !Number.isFinite(margin) || margin < 0 || margin >= 0.5) {
    throw new RangeError(`${op}: margin must be a number in [0, 0.5), got ${describe(margin)}`);
  }
  return { thickness, margin };
}

function checkCount(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${describe(v)}`);
  return v;
}

function checkSeed(op: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new TypeError(`${op}: seed must be a finite number, got ${describe(seed)}`);
  return seed;
}

/** Renders `n` images into `out` (n × 784, zero-filled), drawing the points from `rng`. */
function render(rng: Rng, out: FloatArray, n: number, { thickness, margin }: RenderOptions): void {
  const a = thickness / 2;
  const inner = a - 0.5; // distance below which the intensity is 1
  const reach = a + 0.5; // distance at and beyond which it is 0
  const reach2 = reach * reach;
  const dist2 = new Float64Array(PIXELS);
  const px = new Float64Array(SAMPLES);
  const py = new Float64Array(SAMPLES);
  const span = (1 - 2 * margin) * SIDE;
  const lo = margin * SIDE;

  for (let img = 0; img < n; img++) {
    // 1. three points, in pixel coordinates
    const x0 = lo + span * rng.nextFloat(), y0 = lo + span * rng.nextFloat();
    const x1 = lo + span * rng.nextFloat(), y1 = lo + span * rng.nextFloat();
    const x2 = lo + span * rng.nextFloat(), y2 = lo + span * rng.nextFloat();

    // 2. natural cubic spline, chord-length knots 0, h0, h0 + h1; M1 = second derivative at P1
    const h0 = Math.max(Math.hypot(x1 - x0, y1 - y0), 1e-9);
    const h1 = Math.max(Math.hypot(x2 - x1, y2 - y1), 1e-9);
    const c = 3 / (h0 + h1);
    const mx = c * ((x2 - x1) / h1 - (x1 - x0) / h0);
    const my = c * ((y2 - y1) / h1 - (y1 - y0) / h0);

    // 3. sample at SAMPLES evenly spaced parameter values
    const total = h0 + h1;
    for (let k = 0; k < SAMPLES; k++) {
      const t = (k / (SAMPLES - 1)) * total;
      if (t <= h0) {
        // S(t) = M1 t³/(6 h0) + P0 (h0 − t)/h0 + (P1/h0 − M1 h0/6) t
        const w3 = (t * t * t) / (6 * h0);
        const u = (h0 - t) / h0;
        const v = t / h0;
        px[k] = mx * w3 + x0 * u + (x1 - (mx * h0 * h0) / 6) * v;
        py[k] = my * w3 + y0 * u + (y1 - (my * h0 * h0) / 6) * v;
      } else {
        // S(s) = M1 (h1 − s)³/(6 h1) + (P1/h1 − M1 h1/6)(h1 − s) + P2 s/h1, s = t − h0
        const s = Math.min(t - h0, h1);
        const r = h1 - s;
        const w3 = (r * r * r) / (6 * h1);
        const u = r / h1;
        const v = s / h1;
        px[k] = mx * w3 + (x1 - (mx * h1 * h1) / 6) * u + x2 * v;
        py[k] = my * w3 + (y1 - (my * h1 * h1) / 6) * u + y2 * v;
      }
    }

    // 4. squared distance to the polyline, splatted onto the pixels near each segment
    dist2.fill(reach2);
    for (let k = 0; k < SAMPLES - 1; k++) {
      const ax = px[k], ay = py[k];
      const dx = px[k + 1] - ax, dy = py[k + 1] - ay;
      const len2 = dx * dx + dy * dy;
      const inv = len2 > 0 ? 1 / len2 : 0;
      // pixel centres (j + ½) within `reach` of the segment's bounding box
      const j0 = Math.max(0, Math.ceil(Math.min(ax, ax + dx) - reach - 0.5));
      const j1 = Math.min(SIDE - 1, Math.floor(Math.max(ax, ax + dx) + reach - 0.5));
      const i0 = Math.max(0, Math.ceil(Math.min(ay, ay + dy) - reach - 0.5));
      const i1 = Math.min(SIDE - 1, Math.floor(Math.max(ay, ay + dy) + reach - 0.5));
      for (let i = i0; i <= i1; i++) {
        const qy = i + 0.5 - ay;
        for (let j = j0; j <= j1; j++) {
          const qx = j + 0.5 - ax;
          let t = (qx * dx + qy * dy) * inv;
          t = t < 0 ? 0 : t > 1 ? 1 : t;
          const ex = qx - t * dx, ey = qy - t * dy;
          const d2 = ex * ex + ey * ey;
          const p = i * SIDE + j;
          if (d2 < dist2[p]) dist2[p] = d2;
        }
      }
    }

    // 5. distance → intensity
    const base = img * PIXELS;
    for (let p = 0; p < PIXELS; p++) {
      const d2 = dist2[p];
      if (d2 >= reach2) continue;
      const t = Math.sqrt(d2) - inner;
      out[base + p] = t <= 0 ? 1 : 1 - t * t * (3 - 2 * t);
    }
  }
}

/** `n` CURVES-syn images, [n, 784], values in [0, 1]; the procedure is in this file's doc comment. */
export function generateCurves(options: CurvesOptions): Tensor {
  const op = 'generateCurves';
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  const n = checkCount(op, 'n', options.n);
  const seed = checkSeed(op, options.seed ?? 0);
  const dtype = checkDType(op, options.dtype ?? 'float32');
  const ro = checkRenderOptions(op, options);
  const out = allocate(dtype, n * PIXELS);
  render(new Rng(seed), out, n, ro);
  return new Tensor(out, [n, PIXELS]);
}

/**
 * Train and test sets of CURVES-syn for the deep autoencoder (targets are the inputs), by
 * default 20,000 and 10,000 images as in the original. The training images are exactly
 * `generateCurves({ n: trainSize, seed })`; the test images continue the same random stream,
 * so they are fresh draws from the same distribution.
 */
export function loadCurves(
  options: { trainSize?: number; testSize?: number; seed?: number; dtype?: DType; thickness?: number; margin?: number } = {},
): Curves {
  const op = 'loadCurves';
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  const trainSize = checkCount(op, 'trainSize', options.trainSize ?? 20000);
  const testSize = checkCount(op, 'testSize', options.testSize ?? 10000);
  const seed = checkSeed(op, options.seed ?? 0);
  const dtype = checkDType(op, options.dtype ?? 'float32');
  const ro = checkRenderOptions(op, options);
  const rng = new Rng(seed);
  const train = allocate(dtype, trainSize * PIXELS);
  render(rng, train, trainSize, ro);
  const test = allocate(dtype, testSize * PIXELS);
  render(rng, test, testSize, ro);
  const xTrain = new Tensor(train, [trainSize, PIXELS]);
  const xTest = new Tensor(test, [testSize, PIXELS]);
  return { train: { x: xTrain, y: xTrain }, test: { x: xTest, y: xTest } };
}

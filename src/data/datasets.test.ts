/**
 * The datasets of the benchmark suite: MNIST from the `mnist` package (shapes, ranges, labels,
 * seeded splits, disjointness, exact values against the package's JSON), CURVES-syn (shapes,
 * ranges, images that look like strokes, determinism), the small synthetic tasks, and the
 * index's re-exports. Generation speed is measured in the benchmarks, not asserted here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import {
  MGH_PROBLEMS, MNIST_PIXELS, MNIST_SIZE, generateCurves, loadCurves, loadIris, loadMnist, mghProblem, regression, twoSpirals,
} from './index.js';

function range(t: Tensor): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of t.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Same values (tensors or arrays), element by element. */
function sameData(a: Tensor | ArrayLike<number>, b: Tensor | ArrayLike<number>): boolean {
  const u = 'data' in a ? a.data : a;
  const v = 'data' in b ? b.data : b;
  if (u.length !== v.length) return false;
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
  return true;
}

function mean(t: Tensor): number {
  let s = 0;
  for (const v of t.data) s += v;
  return s / t.size;
}

describe('loadMnist', () => {
  const def = loadMnist();

  it('gives the default 8000/2000 split: [N, 784] float32 images in [0, 1], integer labels 0–9', () => {
    assert.equal(MNIST_SIZE, 10000);
    assert.equal(MNIST_PIXELS, 784);
    for (const [part, n] of [[def.train, 8000], [def.test, 2000]] as const) {
      assert.deepEqual(part.x.shape, [n, 784]);
      assert.deepEqual(part.y.shape, [n]);
      assert.equal(part.x.dtype, 'float32');
      assert.equal(part.y.dtype, 'float32');
      assert.equal(part.indices.length, n);
      const [lo, hi] = range(part.x);
      assert.equal(lo, 0);
      assert.equal(hi, 1);
      const counts = new Array<number>(10).fill(0);
      for (const v of part.y.data) {
        assert.ok(Number.isInteger(v) && v >= 0 && v <= 9, `label ${v}`);
        counts[v]++;
      }
      for (let d = 0; d < 10; d++) assert.ok(counts[d] > n / 20, `digit ${d}: ${counts[d]} of ${n}`);
    }
    const m = mean(def.train.x);
    assert.ok(m > 0.1 && m < 0.16, `mean intensity ${m}`);
  });

  it('splits without overlap: every index in range, none twice, none in both parts', () => {
    const seen = new Set<number>();
    for (const part of [def.train, def.test]) {
      for (const i of part.indices) {
        assert.ok(Number.isInteger(i) && i >= 0 && i < MNIST_SIZE);
        assert.ok(!seen.has(i), `image ${i} appears twice`);
        seen.add(i);
      }
    }
    assert.equal(seen.size, 10000);
  });

  it('is a function of the seed: same seed, same data; other seed, other split', () => {
    const again = loadMnist({ seed: 0 });
    assert.deepEqual(again.train.indices, def.train.indices);
    assert.ok(sameData(again.train.x, def.train.x) && sameData(again.test.y, def.test.y));
    const other = loadMnist({ seed: 1 });
    assert.notDeepEqual(other.train.indices, def.train.indices);
    assert.ok(!sameData(other.train.x, def.train.x));
    // a smaller split with the same seed is a prefix of the same permutation
    const small = loadMnist({ trainSize: 100, testSize: 50 });
    assert.deepEqual(small.train.indices, def.train.indices.subarray(0, 100));
    assert.deepEqual(small.test.indices, def.train.indices.subarray(100, 150));
  });

  it('matches the package JSON exactly (float64), with the package order of labels', () => {
    const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
    const fives = (JSON.parse(readFileSync(join(dir, '5.json'), 'utf8')) as { data: number[] }).data;
    const sizes = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
    const offset = sizes.slice(0, 5).reduce((a, b) => a + b, 0);
    const m = loadMnist({ trainSize: 10000, testSize: 0, dtype: 'float64' });
    let checked = 0;
    let wrongLabels = 0;
    let wrongPixels = 0;
    for (let r = 0; r < 10000; r++) {
      const idx = m.train.indices[r];
      let d = 0;
      for (let acc = sizes[0]; idx >= acc; acc += sizes[++d]);
      if (m.train.y.data[r] !== d) wrongLabels++;
      if (d !== 5) continue;
      const k = idx - offset;
      for (let p = 0; p < 784; p++) if (m.train.x.data[r * 784 + p] !== fives[k * 784 + p]) wrongPixels++;
      checked++;
    }
    assert.equal(wrongLabels, 0);
    assert.equal(wrongPixels, 0);
    assert.equal(checked, 863);
    assert.equal(m.test.x.shape[0], 0);
    assert.deepEqual(m.test.x.shape, [0, 784]);
  });

  it("gives [N, 1, 28, 28] images with images: 'nchw', the same values", () => {
    const c = loadMnist({ trainSize: 300, testSize: 100, images: 'nchw' });
    assert.deepEqual(c.train.x.shape, [300, 1, 28, 28]);
    assert.deepEqual(c.test.x.shape, [100, 1, 28, 28]);
    assert.ok(sameData(c.train.x, loadMnist({ trainSize: 300, testSize: 100 }).train.x));
  });

  it('validates its options with clear errors', () => {
    assert.throws(() => loadMnist({ trainSize: 10000, testSize: 2000 }), {
      name: 'RangeError',
      message: 'loadMnist: trainSize + testSize = 12000 exceeds the 10000 digits in the mnist package',
    });
    assert.throws(() => loadMnist({ trainSize: -1 }), /loadMnist: trainSize must be a non-negative integer, got -1/);
    assert.throws(() => loadMnist({ testSize: 2.5 }), /loadMnist: testSize must be a non-negative integer/);
    assert.throws(() => loadMnist({ seed: NaN }), /loadMnist: seed must be a finite number/);
    assert.throws(() => loadMnist({ images: 'nhwc' as 'flat' }), /loadMnist: images must be 'flat' or 'nchw'/);
    assert.throws(() => loadMnist({ dtype: 'int8' as 'float32' }), /loadMnist/);
  });
});

describe('CURVES-syn', () => {
  const n = 2000;
  const x = generateCurves({ n, seed: 7 });

  it('gives [n, 784] float32 images in [0, 1]', () => {
    assert.deepEqual(x.shape, [n, 784]);
    assert.equal(x.dtype, 'float32');
    const [lo, hi] = range(x);
    assert.equal(lo, 0);
    assert.equal(hi, 1);
  });

  it('draws strokes: every image has bright pixels, most pixels are dark, sane mean intensity', () => {
    for (let i = 0; i < n; i++) {
      let bright = 0;
      let dark = 0;
      for (let p = 0; p < 784; p++) {
        const v = x.data[i * 784 + p];
        if (v > 0.5) bright++;
        if (v < 0.05) dark++;
      }
      assert.ok(bright >= 3, `image ${i}: ${bright} pixels > 0.5`);
      assert.ok(dark > 0.7 * 784, `image ${i}: only ${dark} pixels near 0`);
    }
    const m = mean(x);
    assert.ok(m > 0.03 && m < 0.12, `mean intensity ${m}`);
    // images differ from each other (six random numbers each)
    let distinct = 0;
    for (let i = 1; i < 50; i++) {
      let diff = 0;
      for (let p = 0; p < 784; p++) diff += Math.abs(x.data[p] - x.data[i * 784 + p]);
      if (diff > 5) distinct++;
    }
    assert.equal(distinct, 49);
  });

  it('is a function of the seed; float64 rounds to the float32 images', () => {
    assert.ok(sameData(generateCurves({ n: 200, seed: 7 }), generateCurves({ n: 200, seed: 7 })));
    assert.ok(sameData(generateCurves({ n: 200, seed: 7 }), x.data.subarray(0, 200 * 784)));
    assert.ok(!sameData(generateCurves({ n: 200, seed: 8 }), generateCurves({ n: 200, seed: 7 })));
    const x64 = generateCurves({ n: 200, seed: 7, dtype: 'float64' });
    assert.equal(x64.dtype, 'float64');
    for (let i = 0; i < x64.size; i++) assert.equal(Math.fround(x64.data[i]), x.data[i]);
  });

  it('draws thicker strokes with a larger thickness', () => {
    const thin = mean(generateCurves({ n: 200, seed: 3, thickness: 1.5 }));
    const mid = mean(generateCurves({ n: 200, seed: 3 }));
    const thick = mean(generateCurves({ n: 200, seed: 3, thickness: 3 }));
    assert.ok(thin < mid && mid < thick, `${thin} ${mid} ${thick}`);
  });

  it('loadCurves: autoencoder targets are the inputs; train = generateCurves, test continues the stream', () => {
    const c = loadCurves({ trainSize: 300, testSize: 200, seed: 5 });
    assert.deepEqual(c.train.x.shape, [300, 784]);
    assert.deepEqual(c.test.x.shape, [200, 784]);
    assert.equal(c.train.y, c.train.x);
    assert.equal(c.test.y, c.test.x);
    assert.ok(sameData(c.train.x, generateCurves({ n: 300, seed: 5 })));
    const first500 = generateCurves({ n: 500, seed: 5 });
    assert.ok(sameData(c.test.x, first500.data.subarray(300 * 784)));
  });

  it('validates its options', () => {
    assert.throws(() => generateCurves({ n: -3 }), /generateCurves: n must be a non-negative integer, got -3/);
    assert.throws(() => generateCurves({ n: 10, thickness: 0 }), /generateCurves: thickness must be/);
    assert.throws(() => generateCurves({ n: 10, margin: 0.5 }), /generateCurves: margin must be/);
    assert.throws(() => generateCurves({ n: 10, seed: Infinity }), /generateCurves: seed must be a finite number/);
    assert.throws(() => loadCurves({ trainSize: 1.5 }), /loadCurves: trainSize must be a non-negative integer/);
    assert.deepEqual(generateCurves({ n: 0 }).shape, [0, 784]);
  });
});

describe('twoSpirals', () => {
  it('gives [n, 2] points in the unit disc (noise 0) and alternating labels 0/1', () => {
    const { x, y } = twoSpirals({ n: 501, noise: 0, seed: 1 });
    assert.deepEqual(x.shape, [501, 2]);
    assert.deepEqual(y.shape, [501]);
    let ones = 0;
    for (let i = 0; i < 501; i++) {
      assert.equal(y.data[i], i % 2);
      ones += y.data[i];
      assert.ok(Math.hypot(x.data[2 * i], x.data[2 * i + 1]) <= 1 + 1e-6);
    }
    assert.equal(ones, 250);
  });

  it('is a function of the seed; noise perturbs the same clean points', () => {
    const a = twoSpirals({ n: 400, noise: 0, seed: 2 });
    assert.ok(sameData(a.x, twoSpirals({ n: 400, noise: 0, seed: 2 }).x));
    assert.ok(!sameData(a.x, twoSpirals({ n: 400, noise: 0, seed: 3 }).x));
    const b = twoSpirals({ n: 400, noise: 0.05, seed: 2 });
    let s2 = 0;
    for (let i = 0; i < a.x.size; i++) s2 += (a.x.data[i] - b.x.data[i]) ** 2;
    const std = Math.sqrt(s2 / a.x.size);
    assert.ok(std > 0.04 && std < 0.06, `noise std ${std}`);
  });

  it('validates its options', () => {
    assert.throws(() => twoSpirals({ n: 10, noise: -1 }), /twoSpirals: noise must be a finite number ≥ 0/);
    assert.throws(() => twoSpirals({ n: 1.5 }), /twoSpirals: n must be an integer ≥ 0/);
  });
});

describe('regression', () => {
  it('gives x [n, inputDim], y [n, outputDim], a non-trivial function of x', () => {
    const { x, y } = regression({ n: 500, inputDim: 5, outputDim: 3, noise: 0, seed: 1 });
    assert.deepEqual(x.shape, [500, 5]);
    assert.deepEqual(y.shape, [500, 3]);
    const m = mean(y);
    let v = 0;
    for (const t of y.data) v += (t - m) ** 2;
    assert.ok(Math.sqrt(v / y.size) > 0.2, 'targets vary');
    for (const t of y.data) assert.ok(Number.isFinite(t));
  });

  it('keeps the teacher fixed across seeds and adds noise of the given size', () => {
    const clean = regression({ n: 2000, inputDim: 4, outputDim: 2, noise: 0, seed: 3 });
    const noisy = regression({ n: 2000, inputDim: 4, outputDim: 2, noise: 0.1, seed: 3 });
    assert.ok(sameData(clean.x, noisy.x));
    let s2 = 0;
    for (let i = 0; i < clean.y.size; i++) s2 += (clean.y.data[i] - noisy.y.data[i]) ** 2;
    const std = Math.sqrt(s2 / clean.y.size);
    assert.ok(std > 0.09 && std < 0.11, `noise std ${std}`);
    // another seed: other inputs, same teacher; another teacherSeed: same inputs, other targets
    const other = regression({ n: 2000, inputDim: 4, outputDim: 2, noise: 0, seed: 4 });
    assert.ok(!sameData(other.x, clean.x));
    const otherTeacher = regression({ n: 2000, inputDim: 4, outputDim: 2, noise: 0, seed: 3, teacherSeed: 9 });
    assert.ok(sameData(otherTeacher.x, clean.x) && !sameData(otherTeacher.y, clean.y));
    assert.ok(sameData(regression({ n: 2000, inputDim: 4, outputDim: 2, noise: 0.1, seed: 3 }).y, noisy.y));
  });

  it('validates its options', () => {
    assert.throws(() => regression({ n: 10, inputDim: 0, outputDim: 1 }), /regression: inputDim must be an integer ≥ 1, got 0/);
    assert.throws(() => regression({ n: 10, inputDim: 2, outputDim: 1, noise: NaN }), /regression: noise must be a finite number ≥ 0/);
  });
});

describe('data index', () => {
  it('re-exports iris and the MGH problems', () => {
    const iris = loadIris();
    assert.deepEqual(iris.x.shape, [150, 4]);
    assert.ok(MGH_PROBLEMS.length > 0);
    assert.equal(mghProblem(MGH_PROBLEMS[0].id), MGH_PROBLEMS[0]);
  });
});

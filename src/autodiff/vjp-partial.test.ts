import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { add, matmul, sum, tanh, mul } from './ops.js';
import { vjp, retainGrad, type RetainedGrad } from './vjp.js';
import { kernels } from '../kernels/index.js';
import type { Kernels } from '../kernels/types.js';

const f64 = { dtype: 'float64' as const };

function rand(rng: Rng, shape: number[]): Tensor {
  return rng.normal(shape, f64);
}

/** A 3-layer tanh network whose pre-activations are retained (as K-FAC's taps are). */
function setup(seed: number) {
  const rng = new Rng(seed);
  const params = [0, 1, 2].map((i) => ({ w: rand(rng, [[4, 5, 3][i], [5, 3, 2][i]]), b: rand(rng, [[5, 3, 2][i]]) }));
  const x = rand(rng, [6, 4]);
  const ct = rand(rng, [6, 2]);
  let taps: RetainedGrad[] = [];
  const f = (p: typeof params) => {
    taps = [];
    let h = x;
    p.forEach((l, i) => {
      const s = add(matmul(h, l.w), l.b);
      taps.push(retainGrad(s));
      h = i < 2 ? tanh(s) : s;
    });
    return h;
  };
  return { params, ct, f, taps: () => taps };
}

/** Count GEMM kernel calls while `fn` runs. */
function countGemms(fn: () => void): number {
  const k = kernels() as { -readonly [K in keyof Kernels]: Kernels[K] };
  const saved = k.gemm;
  let n = 0;
  k.gemm = (...args) => { n++; return saved.apply(k, args); };
  try {
    fn();
  } finally {
    k.gemm = saved;
  }
  return n;
}

describe('vjp partial (backward with inputs=)', () => {
  it('gives the full pass\'s cotangents on the wanted leaves, null elsewhere, and fills retained gradients alike', () => {
    for (const seed of [1, 2, 3]) {
      const { params, ct, f, taps } = setup(seed);
      const [, back] = vjp(f, params);
      const retained = taps();
      const full = back(ct)[0];
      const fullTaps = retained.map((r) => r.grad?.toFlatArray());
      const fullLeaves = full.flatMap((l) => [l.w, l.b]);
      for (const wanted of [[false, false, false, false, false, false], [true, false, false, false, false, true], [false, true, true, false, false, false]]) {
        for (const r of retained) r.grad = null;
        const part = back.partial(ct, wanted);
        assert.equal(part.length, 6);
        part.forEach((g, i) => {
          if (!wanted[i]) assert.equal(g, null, `leaf ${i} not wanted`);
          else assert.deepEqual(g?.toFlatArray(), fullLeaves[i].toFlatArray(), `leaf ${i}`);
        });
        retained.forEach((r, i) => assert.deepEqual(r.grad?.toFlatArray(), fullTaps[i], `tap ${i}`));
      }
      back.dispose();
    }
  });

  it('skips the work that leads only to unwanted leaves: no weight-gradient GEMMs, one per layer above the first', () => {
    const { params, ct, f } = setup(4);
    const [, back] = vjp(f, params);
    const all = countGemms(() => back(ct));
    const none = countGemms(() => back.partial(ct, [false, false, false, false, false, false]));
    // Full: every layer's weight gradient (3) and the input gradients of layers 2 and 3 (2).
    assert.equal(all, 5);
    assert.equal(none, 2);
    back.dispose();
  });

  it('refuses a flag list of the wrong length and a disposed function', () => {
    const [, back] = vjp((a: Tensor, b: Tensor) => sum(mul(a, b)), tensor([1, 2], undefined, f64), tensor([3, 4], undefined, f64));
    assert.throws(() => back.partial(tensor([1], [], f64), [true]), /vjp: partial expects one flag per argument leaf \(2\), got 1/);
    const [ga, gb] = back.partial(tensor([1], [], f64), [false, true]);
    assert.equal(ga, null);
    assert.deepEqual(gb?.toFlatArray(), [1, 2]);
    back.dispose();
    assert.throws(() => back.partial(tensor([1], [], f64), [true, true]), /disposed/);
  });
});

/**
 * `foldGram`: a factor's EMA and its batch estimate in one pass (GEMMs with beta), against a
 * naive float64 reference, and a block's fold against the EMA of its own estimates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { foldGram, emaDecay } from './kronecker-block.js';
import { DenseKronecker } from './kronecker-dense.js';

/** ρF + c Σ_p x_pᵀ x_p by loops in float64. */
function naive(f: Tensor, xs: readonly Tensor[], rho: number, c: number): Float64Array {
  const d = f.shape[0];
  const out = new Float64Array(d * d);
  for (let i = 0; i < d * d; i++) out[i] = rho * f.data[i];
  for (const x of xs) {
    const n = x.shape[0];
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) {
      const xi = c * x.data[r * d + i];
      for (let j = 0; j < d; j++) out[i * d + j] += xi * x.data[r * d + j];
    }
  }
  return out;
}

function symmetric(rng: Rng, d: number, dtype: 'float32' | 'float64'): Tensor {
  const m = rng.normal([d, d], { dtype });
  const s = new Tensor(dtype === 'float64' ? new Float64Array(d * d) : new Float32Array(d * d), [d, d]);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) s.data[i * d + j] = m.data[i * d + j] + m.data[j * d + i];
  return s;
}

describe('foldGram', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const d of [7, 130]) {
      it(`${dtype}, d = ${d}: ρF + cΣ xᵀx over two passes`, () => {
        const rng = new Rng(d);
        const f = symmetric(rng, d, dtype);
        const xs = [rng.normal([33, d], { dtype }), rng.normal([33, d], { dtype })];
        const got = foldGram(f, xs, 0.9, 0.1 / 33);
        const ref = naive(f, xs, 0.9, 0.1 / 33);
        const tol = dtype === 'float64' ? 1e-12 : 2e-5;
        let worst = 0;
        for (let i = 0; i < d * d; i++) worst = Math.max(worst, Math.abs(got.data[i] - ref[i]) / (1 + Math.abs(ref[i])));
        assert.ok(worst < tol, `largest relative error ${worst}`);
        // F itself is left as it was.
        assert.equal(f.data[1], symmetric(new Rng(d), d, dtype).data[1]);
      });
    }
  }

  it('no passes: ρF; a mismatched row width is an error naming the shapes', () => {
    const f = symmetric(new Rng(1), 5, 'float64');
    const got = foldGram(f, [], 0.5, 1);
    for (let i = 0; i < 25; i++) assert.equal(got.data[i], 0.5 * f.data[i]);
    assert.throws(() => foldGram(f, [new Rng(2).normal([3, 4], { dtype: 'float64' })], 0.5, 1), /foldGram: rows \[3, 4\] do not match a 5x5 factor/);
  });

  it("a dense block's update equals the EMA of its own estimates (A = ā ᵀā / N, G = ĝᵀĝ / T)", () => {
    const rng = new Rng(3);
    const block = new DenseKronecker('0', ['0.weight', '0.bias'], [4, 6]);
    let s = block.init('float64');
    for (let k = 1; k <= 3; k++) {
      const sample = { scope: '0', kind: 'dense' as const, a: rng.normal([10, 6], { dtype: 'float64' }), g: [rng.normal([10, 4], { dtype: 'float64' })], info: { bias: true } };
      const est = block.factorEstimates(sample);
      const rho = emaDecay(k, 0.95);
      const wantA = s.A.data.map((v, i) => rho * v + (1 - rho) * est.A.data[i]);
      const wantG = s.G.data.map((v, i) => rho * v + (1 - rho) * est.G.data[i]);
      s = block.update(s, sample, { decay: 0.95, recomputeInverse: false, inverseMethod: 'cholesky', damping: 1e-3 }).state;
      for (let i = 0; i < wantA.length; i++) assert.ok(Math.abs(s.A.data[i] - wantA[i]) < 1e-12, `A[${i}] step ${k}`);
      for (let i = 0; i < wantG.length; i++) assert.ok(Math.abs(s.G.data[i] - wantG[i]) < 1e-12, `G[${i}] step ${k}`);
      assert.equal(s.count, k);
    }
  });

  it('a non-finite sample is skipped, the factors kept', () => {
    const block = new DenseKronecker('0', ['0.weight'], [2, 3]);
    const s0 = block.update(block.init('float64'), { scope: '0', kind: 'dense', a: new Rng(4).normal([5, 3], { dtype: 'float64' }), g: [new Rng(5).normal([5, 2], { dtype: 'float64' })], info: { bias: false } },
      { decay: 0.95, recomputeInverse: false, inverseMethod: 'cholesky', damping: 1e-3 }).state;
    const bad = new Rng(6).normal([5, 3], { dtype: 'float64' });
    bad.data[4] = NaN;
    const r = block.update(s0, { scope: '0', kind: 'dense', a: bad, g: [new Rng(7).normal([5, 2], { dtype: 'float64' })], info: { bias: false } },
      { decay: 0.95, recomputeInverse: false, inverseMethod: 'cholesky', damping: 1e-3 });
    assert.equal(r.skipped, true);
    assert.equal(r.state.count, 1);
    assert.deepEqual(Array.from(r.state.A.data), Array.from(s0.A.data));
  });
});

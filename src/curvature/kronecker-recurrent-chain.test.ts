/**
 * The chain approximations of K-FAC for recurrent layers (Martens, Ba & Johnson 2018, Options 1
 * and 2) against oracles: the model's own definition F = Σ_i Σ_{t,s<T_i} V_{t−s} built densely
 * from V_d = Ψ^d V_0 (no eigenbases), a brute-force Monte-Carlo Fisher of sequences whose
 * per-step statistics are stationary chains, and dense eigenvalues for SPD-ness.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { matmul } from '../tensor/matmul.js';
import { eigh } from '../tensor/linalg.js';
import { kron } from './kronecker-block.js';
import { RecurrentKronecker, withRecurrentApproximation } from './kronecker-recurrent.js';
import { applyChainInverse, chainInverse, denseOf, type ChainFactors, type RecurrentApproximation } from './kronecker-recurrent-chain.js';
import type { LayerSample } from './kronecker-block.js';

const f64 = { dtype: 'float64' as const };

function frob(m: Tensor): number {
  let s = 0;
  for (const v of m.data) s += v * v;
  return Math.sqrt(s);
}
const minus = (a: Tensor, b: Tensor) => new Tensor(Float64Array.from(a.data, (v, i) => v - b.data[i]), a.shape);
const plus = (a: Tensor, b: Tensor, s = 1) => new Tensor(Float64Array.from(a.data, (v, i) => v + s * b.data[i]), a.shape);
const relErr = (a: Tensor, b: Tensor) => frob(minus(a, b)) / frob(b);

/** A random SPD matrix. */
function spd(rng: Rng, n: number): Tensor {
  const x = rng.normal([n + 2, n], f64);
  return matmul(x, x, { transposeA: true });
}

/** Symmetric square root by eigendecomposition. */
function sqrtm(m: Tensor): Tensor {
  const { eigenvalues: d, eigenvectors: v } = eigh(m);
  const n = d.size;
  const s = v.clone();
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s.data[i * n + j] *= Math.sqrt(Math.max(0, d.data[j]));
  return matmul(s, v, { transposeB: true });
}

/** A symmetric matrix with eigenvalues in (lo, r) (default (−r, r)). */
function contraction(rng: Rng, n: number, r: number, lo = -r): Tensor {
  const q = eigh(spd(rng, n)).eigenvectors;
  const s = q.clone();
  const ev = Array.from({ length: n }, () => lo + (r - lo) * rng.nextFloat());
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s.data[i * n + j] *= ev[j];
  return matmul(s, q, { transposeB: true });
}

function power(m: Tensor, d: number): Tensor {
  const n = m.shape[0];
  let p = new Tensor(new Float64Array(n * n), [n, n]);
  for (let i = 0; i < n; i++) p.data[i * n + i] = 1;
  for (let k = 0; k < d; k++) p = matmul(p, m);
  return p;
}

/** A chain model: V_0 = G ⊗ A, the whitened Ψ̂ symmetric, A_1 = A^{1/2} Ψ̂_A A^{1/2}. */
function chainModel(seed: number, dimA: number, dimG: number, r: number, lo = -r) {
  const rng = new Rng(seed);
  const A = spd(rng, dimA);
  const G = spd(rng, dimG);
  const hatA = contraction(rng, dimA, r, lo);
  const hatG = contraction(rng, dimG, r, lo);
  const [ra, rg] = [sqrtm(A), sqrtm(G)];
  const lagA = (d: number) => matmul(matmul(ra, power(hatA, d)), ra);
  const lagG = (d: number) => matmul(matmul(rg, power(hatG, d)), rg);
  return { A, G, A1: lagA(1), G1: lagG(1), lagA, lagG };
}

/** F = (1/c_0)·mean_i Σ_{t,s<T_i} V_{|t−s|} on G ⊗ A's scale, and the c_d of the lengths. */
function modelFisher(m: ReturnType<typeof chainModel>, lengths: readonly number[]): { F: Tensor; lags: Tensor } {
  const maxT = Math.max(...lengths);
  const lags = new Float64Array(maxT);
  for (const T of lengths) for (let d = 0; d < T; d++) lags[d] += (T - d) / lengths.length;
  const n = m.A.shape[0] * m.G.shape[0];
  let F = new Tensor(new Float64Array(n * n), [n, n]);
  for (let d = -(maxT - 1); d < maxT; d++) F = plus(F, kron(m.lagG(Math.abs(d)), m.lagA(Math.abs(d))), lags[Math.abs(d)] / lags[0]);
  return { F, lags: new Tensor(lags, [maxT]) };
}

function factorsOf(m: ReturnType<typeof chainModel>, lags: Tensor): ChainFactors {
  return { A: m.A, G: m.G, A1: m.A1, G1: m.G1, lags };
}

const identityError = (x: Tensor) => {
  const n = x.shape[0];
  let e = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) e = Math.max(e, Math.abs(x.data[i * n + j] - (i === j ? 1 : 0)));
  return e;
};

describe('chain approximations of K-FAC for recurrent layers', () => {
  it('chain1 (Option 1) inverts the chain model’s Fisher Σ_{t,s} V_{t−s} exactly, for one length and for a mixture of lengths', () => {
    const m = chainModel(1, 3, 2, 0.8);
    for (const lengths of [[5], [3, 5, 8, 8]]) {
      const { F, lags } = modelFisher(m, lengths);
      const inv = denseOf(2, 3, (x) => applyChainInverse(chainInverse('chain1', factorsOf(m, lags), 0), x));
      assert.ok(identityError(matmul(inv, F)) < 1e-8, `lengths ${lengths}: ${identityError(matmul(inv, F))}`);
      // The block's dense F (from the Kronecker pieces) is the model's too.
      const block = new RecurrentKronecker('r', ['r.w'], [2, 3], [3]);
      const state = { ...withRecurrentApproximation(block.init('float64'), 'chain1'), A: m.A, G: m.G, A1: m.A1, G1: m.G1, lags };
      assert.ok(relErr(block.materialize(state), F) < 1e-10);
    }
  });

  it('chain2 (Option 2, T → ∞) approaches chain1 as T grows, error shrinking like 1/T', () => {
    const m = chainModel(2, 3, 2, 0.8, 0.3);
    const errs = [4, 16, 64, 256].map((T) => {
      const lags = new Tensor(Float64Array.from({ length: T }, (_, d) => T - d), [T]);
      const f = factorsOf(m, lags);
      const one = denseOf(2, 3, (x) => applyChainInverse(chainInverse('chain1', f, 1e-6), x));
      const two = denseOf(2, 3, (x) => applyChainInverse(chainInverse('chain2', f, 1e-6), x));
      return relErr(two, one);
    });
    assert.ok(errs[0] > 0.05, `at T = 4 the options differ: ${errs[0]}`);
    for (let k = 1; k < errs.length; k++) assert.ok(errs[k] < 0.5 * errs[k - 1], `errors ${errs.map((e) => e.toExponential(2))}`);
    assert.ok(errs[errs.length - 1] < 0.02, `T = 256: ${errs[errs.length - 1]}`);
  });

  it('both chains are SPD and finite on random, bound-breaking, rank-deficient and zero statistics', () => {
    const rng = new Rng(3);
    const rank1 = (n: number) => { const v = rng.normal([n, 1], f64); return matmul(v, v, { transposeB: true }); };
    const zeros = (n: number) => new Tensor(new Float64Array(n * n), [n, n]);
    const lags = new Tensor(Float64Array.from([6, 5, 4, 3, 2, 1]), [6]);
    const cases: Record<string, ChainFactors> = {
      random: { A: spd(rng, 4), G: spd(rng, 3), A1: rng.normal([4, 4], f64), G1: rng.normal([3, 3], f64), lags },
      // |Ψ̂| far beyond 1 (cross-moments larger than the moments).
      bound: { A: spd(rng, 4), G: spd(rng, 3), A1: plus(zeros(4), spd(rng, 4), 50), G1: plus(zeros(3), spd(rng, 3), -50), lags },
      rankDeficient: { A: rank1(4), G: rank1(3), A1: rank1(4), G1: rank1(3), lags },
      zero: { A: zeros(4), G: zeros(3), A1: zeros(4), G1: zeros(3), lags: new Tensor(new Float64Array(1), [1]) },
    };
    for (const [name, f] of Object.entries(cases)) {
      for (const option of ['chain1', 'chain2'] as const) {
        const inv = denseOf(3, 4, (x) => applyChainInverse(chainInverse(option, f, 1e-3), x));
        assert.ok(inv.data.every(Number.isFinite), `${name} ${option}: finite`);
        const sym = plus(inv, new Tensor(Float64Array.from({ length: inv.size }, (_, k) => inv.data[(k % 12) * 12 + Math.floor(k / 12)]), inv.shape), -1);
        assert.ok(frob(sym) <= 1e-9 * frob(inv), `${name} ${option}: symmetric`);
        const ev = eigh(inv).eigenvalues.data;
        assert.ok(Math.min(...ev) > 1e-12 * Math.max(...ev), `${name} ${option}: positive definite, eigenvalues ${Math.min(...ev)} .. ${Math.max(...ev)}`);
      }
    }
  });

  it('on sequences whose inputs and output gradients are stationary chains (linear RNNs driven by Gaussian noise), chain1’s F is closer to the brute-force Fisher than the independent one', () => {
    // ā_t = R_a ā_{t−1} + noise and ĝ_t = R_g ĝ_{t−1} + noise, independent, started stationary:
    // E[w_{t+d} w_tᵀ] = (R_g^d Σ_g) ⊗ (R_a^d Σ_a) exactly, the chain with symmetric V_1.
    const rng = new Rng(4);
    const [N, T, dA, dG] = [6000, 6, 3, 2];
    const Ra = contraction(rng, dA, 0.85, 0.3);
    const Rg = contraction(rng, dG, 0.85, 0.3);
    const simulate = (R: Tensor, d: number) => {
      // Stationary covariance Σ = Σ_k R^{2k} (unit noise); start from it.
      let S = new Tensor(new Float64Array(d * d), [d, d]);
      for (let k = 0; k < 200; k++) S = plus(S, power(R, 2 * k));
      const L = sqrtm(S).data;
      const out = new Float64Array(N * T * d);
      const mv = (m: ArrayLike<number>, v: ArrayLike<number>) => Array.from({ length: d }, (_, r) => { let x = 0; for (let c = 0; c < d; c++) x += m[r * d + c] * v[c]; return x; });
      const noise = () => Array.from({ length: d }, () => rng.nextNormal());
      for (let i = 0; i < N; i++) {
        let h = mv(L, noise());
        for (let t = 0; t < T; t++) {
          if (t > 0) { const e = noise(); h = mv(R.data, h).map((x, k) => x + e[k]); }
          out.set(h, (i * T + t) * d);
        }
      }
      return new Tensor(out, [N, T, d]);
    };
    const a = simulate(Ra, dA);
    const g = simulate(Rg, dG);
    // Brute force: Σ_i vec(Σ_t ĝ_t ā_tᵀ) vec(·)ᵀ.
    const per = matmul(new Tensor(g.data, [N, T, dG]), new Tensor(a.data, [N, T, dA]), { transposeA: true });
    const F = matmul(new Tensor(per.data, [N, dG * dA]), new Tensor(per.data, [N, dG * dA]), { transposeA: true });
    const sample: LayerSample = { scope: 'r', kind: 'recurrent', a, g: [g], info: { bias: false, weights: ['w'], biases: [] } };
    const block = new RecurrentKronecker('r', ['r.w'], [dG, dA], [dA]);
    const fit = (approximation: RecurrentApproximation) => {
      const s0 = withRecurrentApproximation(block.init('float64'), approximation);
      return block.materialize(block.update(s0, sample, { decay: 0.95, recomputeInverse: true, inverseMethod: 'eigen', damping: 0 }).state);
    };
    const independent = relErr(fit('independent'), F);
    const chain1 = relErr(fit('chain1'), F);
    const chain2 = relErr(fit('chain2'), F);
    assert.ok(chain1 < 0.1 && chain1 < 0.3 * independent, `chain1 ${chain1.toFixed(3)}, chain2 ${chain2.toFixed(3)}, independent ${independent.toFixed(3)}`);
  });
});

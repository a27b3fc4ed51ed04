/**
 * The chain approximations of K-FAC for recurrent layers (Martens, Ba & Johnson, ICLR 2018,
 * sec. 3.5): the per-step contributions w_t = vec(ĝ_t ā_tᵀ) of a shared weight's gradient are
 * modelled as a stationary linear-Gaussian chain, w_{t+1} = Ψ w_t + ε, so that
 * V_d = E[w_{t+d} w_tᵀ] = Ψ^d V_0 with V_0 = G ⊗ A, V_1 = G_1 ⊗ A_1, Ψ = Ψ_G ⊗ Ψ_A and
 * Ψ_A = A_1 A_0⁻¹ (likewise G). A sequence of T steps has F_T = Σ_{t,s} V_{t−s}.
 *
 * - 'chain1' (the paper's Option 1): V_1 symmetric (A_1, G_1 symmetrized). In the basis
 *   L = A^{-1/2} E (E the eigenvectors of the whitened Ψ̂_A = A^{-1/2} A_1 A^{-1/2}, eigenvalues ψ)
 *   F is diagonal, F = L⁻ᵀ diag(φ(ψ_G ψ_A)/c_0) L⁻¹ (in G ⊗ A's scale, which carries c_0 = E[T])
 *   with φ(ω) = Σ_d c_{|d|} ω^{|d|}, c_d = E[(T − d)₊] the expected number of step pairs d apart:
 *   for a fixed T this is the paper's exact finite-T expression; for variable lengths (masks) it is
 *   exact for the mixture of lengths, since every sequence shares the basis.
 * - 'chain2' (the paper's Option 2): T → ∞, V_1 not symmetrized; Σ_d V_d = (I − Ψ)⁻¹ V_0 +
 *   V_0 (I − Ψᵀ)⁻¹ − V_0, whose inverse is (I − Ψᵀ)(V_0 − Ψ V_0 Ψᵀ)⁻¹(I − Ψ), and
 *   V_0 − Ψ V_0 Ψᵀ = K⁻ᵀ (I − μ_G ⊗ μ_A) K⁻¹ with K = A^{-1/2} E, E and μ the eigenvectors and
 *   eigenvalues of Ψ̂ Ψ̂ᵀ. Scaled by E[T] (through A), the mean length.
 *
 * Bounds: |ψ| < 1 (chain1) and the singular values of Ψ̂ < 1 (chain2) are what make F SPD; the
 * estimates can break them (sampling, EMA of A and A_1 at different points), so the whitened
 * cross-moments' eigenvalues (chain1) or singular values (chain2) are clipped to 1 − `CHAIN_MARGIN`.
 * Then φ(ω) > 0 (1ᵀKᵀ1 of an AR(1) correlation matrix with |ω| < 1) and I − Ψ is invertible:
 * the result is SPD and finite, within a factor ~2/CHAIN_MARGIN of the independent one.
 * Damping: the paper's, factored Tikhonov on A and G (γ_A, γ_G with π) before whitening.
 */
import { Tensor, allocate } from '../tensor/tensor.js';
import { matmul } from '../tensor/matmul.js';
import { factoredDamping, piCorrection, safeEigh, trace } from './kronecker-block.js';

/** How a recurrent block treats time: independent steps, or the paper's chain Options 1 and 2. */
export type RecurrentApproximation = 'independent' | 'chain1' | 'chain2';

/** Clip margin of the whitened cross-moments' eigenvalues / singular values (see the module comment). */
export const CHAIN_MARGIN = 1e-3;

/** The chain inverse for one λ: F⁻¹ M = L_G [(L_Gᵀ M' L_A) ⊙ scale] L_Aᵀ (chain2: M' = (I − Ψ) M, then (I − Ψᵀ)). */
export interface ChainInverse {
  readonly damping: number;
  readonly LG: Tensor;
  readonly LA: Tensor;
  readonly scale: Tensor;
  /** chain2: Ψ_G and Ψ_A (M ↦ Ψ_G M Ψ_Aᵀ is Ψ); absent for chain1. */
  readonly PG?: Tensor;
  readonly PA?: Tensor;
  [key: string]: Tensor | number | undefined;
}

/** The factors a chain needs: A, G as the independent block keeps them, A_1, G_1 on the same scale, c_d. */
export interface ChainFactors {
  readonly A: Tensor;
  readonly G: Tensor;
  readonly A1: Tensor;
  readonly G1: Tensor;
  /** c_d = E[(T − d)₊], d = 0, 1, …; c_0 = E[T]. */
  readonly lags: Tensor;
}

const f64 = (t: Tensor) => t.astype('float64');

function transpose(m: Tensor): Tensor {
  const [r, c] = m.shape;
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = m.data[i * c + j];
  return new Tensor(out, [c, r]);
}

function symmetrize(m: Tensor): Tensor {
  const t = transpose(m);
  return new Tensor(Float64Array.from(m.data, (v, i) => 0.5 * (v + t.data[i])), m.shape);
}

/** V diag(f(λ)) Vᵀ. */
function spectral(vectors: Tensor, values: ArrayLike<number>, f: (x: number) => number): Tensor {
  const n = values.length;
  const scaled = vectors.clone();
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaled.data[i * n + j] *= f(values[j]);
  return matmul(scaled, vectors, { transposeB: true });
}

/** (M + γI)^{1/2} and its (pseudo-)inverse, γ ≥ 0 (zero eigenvalues stay zero in the inverse). */
function roots(m: Tensor, gamma: number): { root: Tensor; invRoot: Tensor } {
  const e = safeEigh(f64(m));
  const v = f64(e.vectors);
  const d = e.values.data;
  let max = 0;
  for (const x of d) max = Math.max(max, x + gamma);
  const tol = 1e-13 * max;
  return {
    root: spectral(v, d, (x) => Math.sqrt(x + gamma)),
    invRoot: spectral(v, d, (x) => (x + gamma > tol ? 1 / Math.sqrt(x + gamma) : 0)),
  };
}

/** Eigen-decomposition of a symmetric matrix in float64 (eigenvalues not clamped). */
function symmetricEigen(m: Tensor): { values: Float64Array; vectors: Tensor } {
  const s = symmetrize(m);
  const n = s.shape[0];
  // safeEigh clamps at 0; shift by the spectral bound so that every eigenvalue stays positive.
  let bound = 0;
  for (let i = 0; i < n; i++) { let r = 0; for (let j = 0; j < n; j++) r += Math.abs(s.data[i * n + j]); bound = Math.max(bound, r); }
  const shifted = s.clone();
  for (let i = 0; i < n; i++) shifted.data[i * n + i] += bound + 1;
  const e = safeEigh(shifted);
  return { values: Float64Array.from(e.values.data, (x) => x - bound - 1), vectors: f64(e.vectors) };
}

/** φ(ω)/c_0 = 1 + (2/c_0) Σ_{d≥1} c_d ω^d (Horner); 1 when no lengths are known yet. */
export function chainGain(lags: ArrayLike<number>, omega: number): number {
  const c0 = lags[0] ?? 0;
  if (!(c0 > 0)) return 1;
  let acc = 0;
  for (let d = lags.length - 1; d >= 1; d--) acc = acc * omega + lags[d];
  return 1 + (2 * omega * acc) / c0;
}

const clip = (x: number, bound: number) => Math.max(-bound, Math.min(bound, x));

/** chain1's basis: L = (M + γ)^{-1/2} E or W = (M + γ)^{1/2} E, and the clipped ψ. */
function option1Basis(m: Tensor, m1: Tensor, gamma: number): { L: Tensor; W: Tensor; psi: Float64Array } {
  const { root, invRoot } = roots(m, gamma);
  const e = symmetricEigen(matmul(matmul(invRoot, symmetrize(f64(m1))), invRoot));
  const psi = e.values.map((x) => clip(x, 1 - CHAIN_MARGIN));
  return { L: matmul(invRoot, e.vectors), W: matmul(root, e.vectors), psi };
}

/** chain2's pieces for one factor: Ψ = (M+γ)^{1/2} Ψ̂ (M+γ)^{-1/2} with Ψ̂'s singular values clipped, K, μ. */
function option2Basis(m: Tensor, m1: Tensor, gamma: number): { K: Tensor; P: Tensor; mu: Float64Array } {
  const { root, invRoot } = roots(m, gamma);
  const hat = matmul(matmul(invRoot, f64(m1)), invRoot);
  // Ψ̂ = U Σ Eᵀ: Ψ̂ᵀΨ̂ = E Σ² Eᵀ; Ψ̂ E diag(min(1, b/σ)) Eᵀ clips σ to b.
  const b = 1 - CHAIN_MARGIN;
  const right = symmetricEigen(matmul(hat, hat, { transposeA: true }));
  const clipped = matmul(hat, spectral(right.vectors, right.values, (s2) => (Math.sqrt(Math.max(0, s2)) > b ? b / Math.sqrt(s2) : 1)));
  const left = symmetricEigen(matmul(clipped, clipped, { transposeB: true }));
  const mu = left.values.map((x) => Math.min(b * b, Math.max(0, x)));
  return { K: matmul(invRoot, left.vectors), P: matmul(matmul(root, clipped), invRoot), mu };
}

function outer(out: number, inn: number, f: (o: number, c: number) => number): Tensor {
  const s = new Float64Array(out * inn);
  for (let o = 0; o < out; o++) for (let c = 0; c < inn; c++) s[o * inn + c] = f(o, c);
  return new Tensor(s, [out, inn]);
}

/** The chain inverse at λ (factored Tikhonov damping with π, as the independent block; λ = 0: none). */
export function chainInverse(option: 'chain1' | 'chain2', f: ChainFactors, damping: number): ChainInverse {
  const dimA = f.A.shape[0];
  const dimG = f.G.shape[0];
  const [gA, gG] = damping > 0 ? factoredDamping(damping, piCorrection(trace(f.A), dimA, trace(f.G), dimG)) : [0, 0];
  if (option === 'chain1') {
    const a = option1Basis(f.A, f.A1, gA);
    const g = option1Basis(f.G, f.G1, gG);
    const lags = f.lags.data;
    return { damping, LG: g.L, LA: a.L, scale: outer(dimG, dimA, (o, c) => 1 / chainGain(lags, g.psi[o] * a.psi[c])) };
  }
  const a = option2Basis(f.A, f.A1, gA);
  const g = option2Basis(f.G, f.G1, gG);
  return { damping, LG: g.K, LA: a.K, PG: g.P, PA: a.P, scale: outer(dimG, dimA, (o, c) => 1 / (1 - g.mu[o] * a.mu[c])) };
}

function scaleInPlace(x: Tensor, s: Tensor): Tensor {
  for (let i = 0; i < x.size; i++) x.data[i] *= s.data[i];
  return x;
}

/** F⁻¹ applied to a gradient matrix M `[out, in]` (float64 in, float64 out). */
export function applyChainInverse(inv: ChainInverse, m: Tensor): Tensor {
  const sub = (x: Tensor, y: Tensor) => new Tensor(Float64Array.from(x.data, (v, i) => v - y.data[i]), x.shape);
  let x = f64(m);
  if (inv.PG !== undefined && inv.PA !== undefined) x = sub(x, matmul(matmul(inv.PG, x), inv.PA, { transposeB: true }));
  const inner = scaleInPlace(matmul(matmul(inv.LG, x, { transposeA: true }), inv.LA), inv.scale);
  let y = matmul(matmul(inv.LG, inner), inv.LA, { transposeB: true });
  if (inv.PG !== undefined && inv.PA !== undefined) y = sub(y, matmul(matmul(inv.PG, y, { transposeA: true }), inv.PA));
  return y;
}

/** chain1's F (undamped) applied to M: W_G [(W_Gᵀ M W_A) ⊙ φ/c_0] W_Aᵀ, W = A^{1/2} E. */
export function chain1Multiply(f: ChainFactors, m: Tensor): Tensor {
  const a = option1Basis(f.A, f.A1, 0);
  const g = option1Basis(f.G, f.G1, 0);
  const lags = f.lags.data;
  const gain = outer(g.psi.length, a.psi.length, (o, c) => chainGain(lags, g.psi[o] * a.psi[c]));
  const inner = scaleInPlace(matmul(matmul(g.W, f64(m), { transposeA: true }), a.W), gain);
  return matmul(matmul(g.W, inner), a.W, { transposeB: true });
}

/** A dense matrix whose column j is op(e_j), for tests on tiny layers (row-major vec of `[out, in]`). */
export function denseOf(out: number, inn: number, op: (m: Tensor) => Tensor): Tensor {
  const n = out * inn;
  const d = allocate('float64', n * n);
  for (let j = 0; j < n; j++) {
    const e = new Tensor(new Float64Array(n), [out, inn]);
    e.data[j] = 1;
    const col = op(e);
    for (let i = 0; i < n; i++) d[i * n + j] = col.data[i];
  }
  return new Tensor(d, [n, n]);
}

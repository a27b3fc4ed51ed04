/**
 * Per-layer curvature blocks for K-FAC (Martens & Grosse, ICML 2015), KFC for convolutions
 * (Grosse & Martens, ICML 2016) and EKFAC (George et al., NeurIPS 2018), named on kfac-jax's
 * grid `<Layer><Approximation>`: `DenseKronecker`, `Conv2dKronecker`, `RecurrentKronecker`,
 * their EKFAC blocks, and `DiagonalBlock` for any other parameter. A block holds structure only; its
 * state (factors, eigendecompositions) is plain data passed in and returned.
 *
 * Conventions. A layer computes s = W̄ ā with W̄ = [W | b] (`[out, in+1]`, the bias as the last
 * column; conv weights `[O, C, kh, kw]` read as `[O, C·kh·kw]`, im2col's row order) and ā = [a; 1]
 * (the homogeneous coordinate). The objective is w·Σ_i L_i; a `LayerSample` carries output
 * gradients ĝ already scaled so that the curvature estimated is F = Σ_k Σ_i ∇_i^(k) ∇_i^(k)ᵀ
 * over backward passes k (one for the Fisher, one per output dimension for the exact GGN), with
 * ∇_i = vec(Σ_t ĝ_{i,t} ā_{i,t}ᵀ) (t ranges over spatial locations, or sequence positions; one
 * location for a plain dense layer). Then, with N examples and |T| locations,
 *
 *   A = (1/N) Σ_i Σ_t ā_{i,t} ā_{i,t}ᵀ          (KFC's Ω: summed over locations)
 *   G = (1/|T|) Σ_k Σ_i Σ_t ĝ_{i,t} ĝ_{i,t}ᵀ    (KFC's Γ: averaged over locations)
 *   F ≈ G ⊗ A   (row-major vec: (G ⊗ A) vec(M) = vec(G M A))
 *
 * which is exact for one example and one location, and for a linear layer with squared loss
 * under the GGN. Damped inverse (factored Tikhonov, Martens & Grosse sec. 6.3):
 * (G + γ_G I)⁻¹ M (A + γ_A I)⁻¹ with γ_A = π√λ, γ_G = √λ/π and
 * π = sqrt((tr A / dim A) / (tr G / dim G)); γ_A·γ_G = λ, so every eigenvalue of the damped
 * Kronecker product is at least λ > 0: the inverse is finite whatever the factors' rank.
 * EKFAC keeps the eigenbases U_G, U_A and re-estimates the diagonal in them,
 * s = Σ_k Σ_i (U_Gᵀ ∇_i^(k) U_A)², preconditioning by U_G [(U_Gᵀ M U_A) / (s + λ)] U_Aᵀ.
 *
 * Memory per layer: A (in+1)² and G out² (and as much again for the eigenvectors), EKFAC one
 * more weight-sized tensor; conv statistics unfold patches, N·|T|·(C·kh·kw + 1) values.
 *
 * Files: this one re-exports the grid — `kronecker-block.ts` (states, damped inverses, the
 * shared block and EKFAC's behaviour), one file per row (`kronecker-dense.ts`,
 * `kronecker-conv2d.ts`, `kronecker-recurrent.ts`), `kronecker-diagonal.ts` (the fallback) and
 * `kronecker-grid.ts` (the table over layer kind × approximation, and `blockOf`).
 */

export {
  emaDecay, piCorrection, factoredDamping, safeEigh, dampedInverse, kron, ekfacScalingEstimate, foldEkfacScaling, KroneckerBlock,
  type LayerKind, type Approximation, type InverseMethod, type LayerSample, type LayerSampleOf, type EigenInverse, type CholeskyInverse,
  type KroneckerState, type DiagonalState, type BlockState, type BlockUpdateOptions, type FactorRows, type BlockLayout, type BlockConstructor, type LayerRow,
} from './kronecker-block.js';
export { DenseKronecker, DenseEkfac } from './kronecker-dense.js';
export { Conv2dKronecker, Conv2dEkfac, convGeometry } from './kronecker-conv2d.js';
export { RecurrentKronecker, RecurrentEkfac, recurrentStatistics, recurrentApproximationOf, withRecurrentApproximation } from './kronecker-recurrent.js';
export { chainInverse, applyChainInverse, chainGain, CHAIN_MARGIN, type RecurrentApproximation, type ChainInverse, type ChainFactors } from './kronecker-recurrent-chain.js';
export { DiagonalBlock } from './kronecker-diagonal.js';
export { KRONECKER_GRID, blockOf, kroneckerBlock, layoutOf, squaredGradientsOf, type CurvatureBlock, type TapLike } from './kronecker-grid.js';

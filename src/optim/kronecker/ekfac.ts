/**
 * EKFAC: eigenvalue-corrected Kronecker factorization (George, Laurent, Bouthillier, Ballas &
 * Vincent, NeurIPS 2018). K-FAC's eigenbasis U = U_G ⊗ U_A (recomputed every
 * `inverseUpdatePeriod` steps from the factors A and G), with the diagonal in that basis
 * re-estimated from per-example gradients every `curvatureUpdatePeriod` steps:
 *
 *   s = EMA of Σ_i (U_Gᵀ ∇W̄_i U_A)²,   update direction Δ = −U_G [(U_Gᵀ ∇W̄ U_A) / (s + λ)] U_Aᵀ
 *
 * — the best diagonal approximation of the Fisher in the Kronecker eigenbasis (George et al.,
 * Prop. 1), where K-FAC's diagonal would be the products dG ⊗ dA. When the basis changes the
 * moments restart from dG ⊗ dA and the next estimate replaces them. The damping is plain
 * additive (no π). Step rules, damping adaptation, rejection and weight decay are K-FAC's (see
 * `kfac.ts`); `inverseMethod` must be 'eigen'. Extra memory over K-FAC: one weight-sized tensor
 * per layer; extra cost: per-example gradients in the eigenbasis at each statistics update (one
 * GEMM of squares for dense layers, one small GEMM per example for convolutions).
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { createOptimizer } from '../optimizer.js';
import { kfacTransform, resolveKfacOptions, type KfacOptions, type KfacState } from './kfac.js';
import type { Optimizer } from '../types.js';

/** EKFAC as an optimizer; the same options and objective (`kfacObjective`) as `kfac`. */
export function ekfac<P extends PyTree = PyTree>(options: KfacOptions = {}): Optimizer<KfacState<P>, P> {
  return createOptimizer('ekfac', kfacTransform<P>(options, 'ekfac', 'ekfac'), resolveKfacOptions('ekfac', options));
}

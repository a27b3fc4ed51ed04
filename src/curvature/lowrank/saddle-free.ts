/**
 * The saddle-free Newton direction (Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio, NeurIPS
 * 2014) in a Krylov subspace: p = −|H|⁻¹ g with |H| = V|Λ|Vᵀ, the matrix with H's eigenvectors
 * and the absolute values of its eigenvalues. Newton's step is rescaled direction by direction
 * by 1/|λ| instead of 1/λ, so negative-curvature directions are descended instead of climbed
 * and a saddle repels rather than attracts.
 *
 * Choices made here:
 * - The subspace is the Krylov space K_k(H, g) (k products), built with full
 *   reorthogonalization; Rayleigh–Ritz gives H ≈ Q T Qᵀ, T = V Θ Vᵀ, and
 *   p = −Q V (|Θ| + δI)⁻¹ Vᵀ Qᵀ g with damping δ >= 0 (Dauphin et al. also damp |Λ|).
 * - K_k(H, g) contains g, so g has no component outside the subspace and no separate
 *   gradient step for the complement is needed (when the space becomes invariant before k
 *   products, it contains g too). With k >= the number of distinct eigenvalues (k = n always),
 *   the step is the exact −(|H| + δI)⁻¹ g: Newton's step where H is positive definite and δ = 0.
 * - The direction is always one of descent: gᵀp = −‖(|Θ| + δ)^{-1/2} Vᵀ Qᵀ g‖² < 0.
 *   Directions with |θ| + δ = 0 (exactly flat and undamped) are dropped.
 */
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { Tensor } from '../../tensor/tensor.js';
import { eigh } from '../../tensor/linalg.js';
import { KrylovBasis } from '../estimators/krylov.js';
import { fromFlat, norm, toFlat } from '../estimators/flat.js';

export interface SaddleFreeDirection<P extends PyTree> {
  /** −(|H| + δI)⁻¹ g restricted to K_k(H, g). */
  direction: P;
  /** Ritz values of H in the subspace, ascending. */
  ritzValues: number[];
  /** Products with H made. */
  matvecs: number;
}

export function saddleFreeDirection<P extends PyTree>(
  hessian: LinearOperator<P>, grad: P, options: { k: number; damping: number; seed: number },
): SaddleFreeDirection<P> {
  const g = toFlat(hessian, grad);
  const gNorm = norm(g);
  if (gNorm === 0) return { direction: fromFlat(hessian, new Float64Array(g.length)), ritzValues: [], matvecs: 0 };
  const basis = new KrylovBasis(hessian, [g], new Rng(options.seed));
  const k = Math.min(options.k, hessian.size);
  while (basis.processed < k && basis.step());
  const m = basis.processed;
  const e = eigh(new Tensor(basis.projected(), [m, m]));
  const theta = e.eigenvalues.data;
  const v = e.eigenvectors.data;
  // Qᵀg = ‖g‖ e₁ (the first basis vector is g/‖g‖), so Vᵀ Qᵀ g = ‖g‖ V[0, :].
  const coef = new Float64Array(m);
  for (let c = 0; c < m; c++) {
    const scale = Math.abs(theta[c]) + options.damping;
    if (!(scale > 0)) continue;
    const w = (-gNorm * v[c]) / scale;
    for (let r = 0; r < m; r++) coef[r] += v[r * m + c] * w;
  }
  return { direction: fromFlat(hessian, basis.combine(coef)), ritzValues: Array.from(theta), matvecs: m };
}

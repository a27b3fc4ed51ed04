/**
 * A (block) Krylov basis with full reorthogonalization that keeps every coefficient
 * C[i][j] = q_iᵀ A q_j it computes, so that
 *
 *   A Q_m = Q_{len} C   (exactly up to rounding),
 *
 * where Q_m holds the m vectors A has been applied to. The Rayleigh–Ritz matrix Q_mᵀ A Q_m is
 * then the leading m×m block of C (tridiagonal for block size 1: plain Lanczos), and the
 * residual of a Ritz pair (θ, Q_m s) is ‖C[m:len, :m] s‖ without another product.
 *
 * On breakdown (A q lies in the span: an invariant subspace was found) the basis restarts from
 * a random vector orthogonal to it, so a small operator's spectrum is found in full, repeated
 * eigenvalues included; `restart: false` stops instead (stochastic Lanczos quadrature).
 */
import type { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { applyFlat, gaussianFlat, norm, orthogonalize, scaleInPlace } from './flat.js';

export class KrylovBasis<P extends PyTree> {
  readonly basis: Float64Array[] = [];
  /** cols[j][i] = q_iᵀ A q_j for i < cols[j].length (later entries are zero). */
  readonly cols: Float64Array[] = [];
  /** Largest ‖A q‖ seen: the scale for breakdown and convergence tests. */
  scale = 0;
  private readonly n: number;

  constructor(readonly op: LinearOperator<P>, start: readonly Float64Array[], private readonly rng: Rng | null) {
    this.n = op.size;
    for (const s of start) {
      const v = Float64Array.from(s);
      orthogonalize(v, this.basis);
      this.append(v, norm(v));
    }
    if (this.basis.length === 0) this.restart();
  }

  /** Vectors A has been applied to. */
  get processed(): number {
    return this.cols.length;
  }

  /** Apply A to the next vector and extend the basis; false when nothing is left to apply. */
  step(): boolean {
    const j = this.cols.length;
    if (j === this.basis.length && !this.restart()) return false;
    const w = applyFlat(this.op, this.basis[j]);
    const wNorm = norm(w);
    if (!Number.isFinite(wNorm)) throw new RangeError(`${this.op.name}: the product with a Krylov vector is not finite (${wNorm}); the operator returned NaN or Infinity`);
    this.scale = Math.max(this.scale, wNorm);
    const c = orthogonalize(w, this.basis);
    const rest = norm(w);
    const appended = this.append(w, rest);
    const col = new Float64Array(this.basis.length);
    col.set(c);
    if (appended) col[this.basis.length - 1] = rest;
    this.cols.push(col);
    return true;
  }

  /** The symmetric m×m Rayleigh–Ritz matrix (row-major), m = processed. */
  projected(): Float64Array {
    const m = this.cols.length;
    const h = new Float64Array(m * m);
    for (let j = 0; j < m; j++) {
      for (let i = 0; i <= j; i++) {
        const v = 0.5 * (this.coeff(i, j) + this.coeff(j, i));
        h[i * m + j] = v;
        h[j * m + i] = v;
      }
    }
    return h;
  }

  /** ‖A Q_m s − θ Q_m s‖ for a Ritz vector s of the projected matrix (beyond-the-block part). */
  residual(s: ArrayLike<number>): number {
    const m = this.cols.length;
    let r2 = 0;
    for (let i = m; i < this.basis.length; i++) {
      let v = 0;
      for (let j = 0; j < m; j++) v += this.coeff(i, j) * s[j];
      r2 += v * v;
    }
    return Math.sqrt(r2);
  }

  /** Largest |q_iᵀAq_j − q_jᵀAq_i| among computed pairs (0 for a symmetric operator, up to rounding). */
  asymmetry(): number {
    let worst = 0;
    const m = this.cols.length;
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < j; i++) worst = Math.max(worst, Math.abs(this.coeff(i, j) - this.coeff(j, i)));
    }
    return worst;
  }

  /** Σ_j s_j q_j over the processed vectors. */
  combine(s: ArrayLike<number>): Float64Array {
    const out = new Float64Array(this.n);
    for (let j = 0; j < this.cols.length; j++) {
      const q = this.basis[j];
      const a = s[j];
      for (let i = 0; i < out.length; i++) out[i] += a * q[i];
    }
    return out;
  }

  private coeff(i: number, j: number): number {
    const col = this.cols[j];
    return i < col.length ? col[i] : 0;
  }

  private append(w: Float64Array, wNorm: number): boolean {
    // Below this the remainder is rounding noise of vectors already in the span.
    if (this.basis.length >= this.n || !(wNorm > 1e-12 * Math.max(this.scale, 1e-300))) return false;
    this.basis.push(scaleInPlace(1 / wNorm, w));
    return true;
  }

  private restart(): boolean {
    if (this.rng === null || this.basis.length >= this.n) return false;
    for (let attempt = 0; attempt < 3; attempt++) {
      const v = gaussianFlat(this.rng, this.n);
      const before = norm(v);
      orthogonalize(v, this.basis);
      const after = norm(v);
      // A fresh random vector that loses almost everything to the basis: the basis spans R^n numerically.
      if (after > 1e-8 * before) {
        this.basis.push(scaleInPlace(1 / after, v));
        return true;
      }
    }
    return false;
  }
}

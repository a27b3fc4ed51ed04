/**
 * The shared part of the Kronecker-factored blocks (see `kronecker.ts` for the conventions):
 * block states, the EMA of the factors, damped inverses (eigendecomposition or Cholesky), the
 * abstract `KroneckerBlock` a layer kind subclasses with its `rows`, and EKFAC's behaviour in
 * the Kronecker eigenbasis, which every kind's EKFAC block delegates to.
 */
import { kernels } from '../kernels/index.js';
import type { PyTree } from '../autodiff/pytree.js';
import type { TapInfoByKind, TapKind } from '../nn/module.js';
import { Tensor, allocate, allocateUninit, fmtShape, shapeSize, type DType } from '../tensor/tensor.js';
import { allFinite } from '../autodiff/tree-math.js';
import { matmul } from '../tensor/matmul.js';
import { eigh } from '../tensor/linalg.js';
import { spdInverse } from './kronecker-inverse.js';

/** The layer kinds with Kronecker-factored blocks: every kind that records taps. */
export type LayerKind = TapKind;
export type Approximation = 'kronecker' | 'ekfac';
export type InverseMethod = 'eigen' | 'cholesky';

/** One layer's inputs in a forward pass and its scaled output gradients, for one layer kind. */
export interface LayerSampleOf<K extends LayerKind> {
  /** Prefix of the layer's parameter paths (`0` for `0.weight`, `0.bias`). */
  readonly scope: string;
  readonly kind: K;
  /** Dense `[N, ..., in]`, conv2d `[N, C, H, W]`, recurrent `[N, T, in]`. */
  readonly a: Tensor;
  /** One per backward pass, shaped as the layer output, scaled as in the module comment. */
  readonly g: readonly Tensor[];
  /** The tap's geometry (conv: stride, padding, dilation, kernel; recurrent: parameter names) and `bias`. */
  readonly info: TapInfoByKind[K];
}

/** One layer's inputs in a forward pass and its scaled output gradients from the backward passes. */
export type LayerSample = { [K in LayerKind]: LayerSampleOf<K> }[LayerKind];

export interface EigenInverse {
  readonly method: 'eigen';
  /** Eigenvectors (columns, the factors' dtype) and eigenvalues (float64, clamped at 0). */
  readonly UA: Tensor;
  readonly dA: Tensor;
  readonly UG: Tensor;
  readonly dG: Tensor;
  [key: string]: PyTree;
}

export interface CholeskyInverse {
  readonly method: 'cholesky';
  /** (A + γ_A I)⁻¹ and (G + γ_G I)⁻¹ for the damping λ given at the last inverse update. */
  readonly Ainv: Tensor;
  readonly Ginv: Tensor;
  /** That λ: a different λ at an update refreshes the inverse (undefined in older states: refreshed). */
  readonly damping?: number;
  [key: string]: PyTree;
}

export interface KroneckerState {
  readonly kind: LayerKind;
  readonly approximation: Approximation;
  readonly scope: string;
  /** Parameter paths: `[weight]` or `[weight, bias]`. */
  readonly paths: readonly string[];
  readonly weightShape: readonly number[];
  /** Conv: [kh, kw, strideH, strideW, padH, padW, dilH, dilW]; dense: []. */
  readonly geometry: readonly number[];
  /** Statistics updates folded into A and G so far. */
  readonly count: number;
  readonly A: Tensor;
  readonly G: Tensor;
  readonly inverse: EigenInverse | CholeskyInverse | null;
  /** EKFAC: second moments in the eigenbasis, `[out, in+1]`, and their update count. */
  readonly scaling: Tensor | null;
  readonly scalingCount: number;
  [key: string]: PyTree;
}

export interface DiagonalState {
  readonly kind: 'diagonal';
  readonly paths: readonly string[];
  readonly count: number;
  /** Running estimate of the curvature's diagonal, shaped as the parameter. */
  readonly d: Tensor;
  [key: string]: PyTree;
}

export type BlockState = KroneckerState | DiagonalState;

export interface BlockUpdateOptions {
  /** EMA decay ε_max: ε_k = min(1 − 1/k, decay) at the k-th update (Martens & Grosse sec. 5). */
  decay: number;
  /** Recompute the inverse (or eigenbasis) from the current factors. */
  recomputeInverse: boolean;
  inverseMethod: InverseMethod;
  /** λ for a Cholesky inverse (eigen inverses take the damping when applied); a Cholesky inverse of another λ is recomputed (unless `holdDamping`). */
  damping: number;
  /**
   * Keep a Cholesky (or chain) inverse computed for another λ until the next `recomputeInverse`
   * instead of recomputing it now (default false). K-FAC's step does, as kfac-jax: the inverses'
   * damping then changes every `inverseUpdatePeriod` steps, as Martens & Grosse's γ (adapted
   * every T₂ = 20 steps), while the quadratic model uses the current λ.
   */
  holdDamping?: boolean;
  /**
   * This batch's factors, already estimated (a data-parallel run's sums over the shards, see
   * `updateEstimator`); folded in instead of the sample's own, which then serves EKFAC only.
   */
  estimate?: { readonly A: Tensor; readonly G: Tensor };
  /** EKFAC: leave the moments' estimate to the caller (summed over shards, then `foldEkfacScaling`). */
  deferScaling?: boolean;
  /** The sample's rows when the caller has them already (EKFAC reads them again for its moments). */
  rows?: FactorRows;
}

/** EMA weight of the old value at the k-th update (k from 1): the first estimate replaces it. */
export function emaDecay(k: number, decay: number): number {
  return Math.min(1 - 1 / k, decay);
}

export function ema(old: Tensor, estimate: Tensor, rho: number): Tensor {
  const out = allocateUninit(old.dtype, old.size);
  kernels().axpby(rho, old.data, 1 - rho, estimate.astype(old.dtype).data, out);
  return new Tensor(out, old.shape);
}

/**
 * ρ·F + c·Σ_x xᵀx for a factor F `[d, d]` and row matrices x `[N, d]`: a factor's EMA and its
 * batch estimate in one pass, by GEMMs with beta into a copy of F (where `ema(F, scaled(xᵀx,
 * c'), ρ)` wrote and read three more d×d arrays). `c` = (1 − ρ)/N for A, (1 − ρ)/T for G.
 * (Multiplying only the upper block rows, as a syrk would, saved 40% of the GEMM on the
 * autoencoder's 1001² factor, but mirroring the lower triangle in JS cost as much again.)
 */
export function foldGram(f: Tensor, xs: readonly Tensor[], rho: number, c: number): Tensor {
  const d = f.shape[0];
  const out = allocateUninit(f.dtype, d * d);
  out.set(f.data.subarray(0, d * d));
  if (xs.length === 0) for (let i = 0; i < d * d; i++) out[i] *= rho;
  xs.forEach((x, p) => {
    if (x.ndim !== 2 || x.shape[1] !== d) throw new RangeError(`foldGram: rows ${fmtShape(x.shape)} do not match a ${d}x${d} factor`);
    const n = x.shape[0];
    const beta = p === 0 ? rho : 1;
    if (n === 0) {
      if (beta !== 1) for (let i = 0; i < d * d; i++) out[i] *= beta;
      return;
    }
    const xd = x.astype(f.dtype).data;
    kernels().gemm(true, false, d, d, n, c, xd, d, 0, xd, d, 0, beta, out, d, 0, 1);
  });
  return new Tensor(out, f.shape);
}

export function isFiniteTensor(t: Tensor): boolean {
  return allFinite(t.data.subarray(0, t.size));
}

/** s·t elementwise (one kernel multiply by a broadcast scalar: the same rounding as the JS product). */
export function scaled(t: Tensor, s: number): Tensor {
  const out = allocateUninit(t.dtype, t.size);
  const scalar = t.dtype === 'float64' ? new Float64Array([s]) : new Float32Array([s]);
  kernels().binary('mul', scalar, [0], t.data, [1], out, [t.size]);
  return new Tensor(out, t.shape);
}

export function trace(m: Tensor): number {
  const n = m.shape[0];
  let s = 0;
  for (let i = 0; i < n; i++) s += m.data[i * n + i];
  return s;
}

/**
 * π of the factored Tikhonov damping: sqrt of the ratio of the factors' average eigenvalues
 * (tr/dim). Falls back to 1 when a trace is not positive, and is clamped to [1e-4, 1e4] so
 * that each factor's damping stays representable in float32.
 */
export function piCorrection(traceA: number, dimA: number, traceG: number, dimG: number): number {
  const ra = traceA / dimA;
  const rg = traceG / dimG;
  if (!(ra > 0) || !(rg > 0) || !Number.isFinite(ra) || !Number.isFinite(rg)) return 1;
  return Math.min(1e4, Math.max(1e-4, Math.sqrt(ra / rg)));
}

/** (γ_A, γ_G) = (π√λ, √λ/π). */
export function factoredDamping(damping: number, pi: number): [number, number] {
  const r = Math.sqrt(damping);
  return [pi * r, r / pi];
}

/**
 * Symmetric eigendecomposition that never returns NaN: `eigh` in the factor's dtype, retried
 * on a float64 copy when the result is not finite (float32 eigenvalues can overflow), and as a
 * last resort the identity basis with zero eigenvalues (the damping alone then preconditions).
 * Eigenvalues come back in float64, clamped at 0 (factors are positive semi-definite; rounding
 * can make the smallest slightly negative); eigenvectors in the factor's dtype.
 */
export function safeEigh(m: Tensor): { values: Tensor; vectors: Tensor; retried: boolean } {
  const n = m.shape[0];
  const attempt = (x: Tensor): { values: Tensor; vectors: Tensor } | null => {
    try {
      const r = eigh(x);
      if (!isFiniteTensor(r.eigenvalues) || !isFiniteTensor(r.eigenvectors)) return null;
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) values[i] = Math.max(0, r.eigenvalues.data[i]);
      return { values: new Tensor(values, [n]), vectors: r.eigenvectors.astype(m.dtype) };
    } catch {
      return null;
    }
  };
  const first = attempt(m);
  if (first !== null) return { ...first, retried: false };
  const second = m.dtype === 'float64' ? null : attempt(m.astype('float64'));
  if (second !== null) return { ...second, retried: true };
  const eye = allocate(m.dtype, n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  return { values: new Tensor(new Float64Array(n), [n]), vectors: new Tensor(eye, [n, n]), retried: true };
}

/**
 * (M + γI)⁻¹ for a symmetric positive semi-definite M and γ > 0, by (blocked) Cholesky in M's dtype,
 * retried in float64, and finally through `safeEigh` with the eigenvalue floor γ.
 */
export function dampedInverse(m: Tensor, gamma: number): Tensor {
  const n = m.shape[0];
  const attempt = (x: Tensor): Tensor | null => {
    try {
      const d = x.clone();
      for (let i = 0; i < n; i++) d.data[i * n + i] += gamma;
      const inv = spdInverse(d); // L⁻ᵀ L⁻¹, blocked
      return inv !== null && isFiniteTensor(inv) ? inv.astype(m.dtype) : null;
    } catch {
      return null;
    }
  };
  const r = attempt(m) ?? (m.dtype === 'float64' ? null : attempt(m.astype('float64')));
  if (r !== null) return r;
  const { values, vectors } = safeEigh(m);
  const scaledV = vectors.astype('float64').clone();
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaledV.data[i * n + j] /= values.data[j] + gamma;
  return matmul(scaledV, vectors.astype('float64'), { transposeB: true }).astype(m.dtype);
}

/** The rows the factors are Gram matrices of: ā per location `[N·T, in+1]`, ĝ per location `[N·T, out]` per pass. */
export interface FactorRows {
  readonly a: Tensor;
  readonly g: readonly Tensor[];
  /** Examples N and locations per example T. */
  readonly n: number;
  readonly t: number;
}

/**
 * Shared structure of the Kronecker-factored blocks; subclasses say how a layer's sample
 * unfolds into rows of ā and ĝ.
 */
export abstract class KroneckerBlock {
  abstract readonly name: string;
  abstract readonly kind: LayerKind;
  readonly approximation: Approximation = 'kronecker';

  constructor(readonly scope: string, readonly paths: readonly string[], readonly weightShape: readonly number[], readonly geometry: readonly number[] = []) {
    this.checkLayout(paths, weightShape, geometry);
  }

  /** Throw when the paths and geometry do not describe this kind's parameters (called by the constructor). */
  protected checkLayout(paths: readonly string[], _weightShape: readonly number[], _geometry: readonly number[]): void {
    if (paths.length !== 1 && paths.length !== 2) throw new RangeError(`${this.constructor.name}: expects [weight] or [weight, bias] paths, got ${paths.length}`);
  }

  get hasBias(): boolean {
    return this.paths.length === 2;
  }

  get outDim(): number {
    return this.weightShape[0];
  }

  /** Dimension of A: fan-in plus the homogeneous coordinate when there is a bias. */
  get inDim(): number {
    return shapeSize(this.weightShape) / this.outDim + (this.hasBias ? 1 : 0);
  }

  abstract rows(sample: LayerSample): FactorRows;

  init(dtype: DType): KroneckerState {
    return {
      kind: this.kind, approximation: this.approximation, scope: this.scope, paths: this.paths.slice(), weightShape: this.weightShape.slice(), geometry: this.geometry.slice(),
      count: 0, A: new Tensor(allocate(dtype, this.inDim ** 2), [this.inDim, this.inDim]), G: new Tensor(allocate(dtype, this.outDim ** 2), [this.outDim, this.outDim]),
      inverse: null, scaling: null, scalingCount: 0,
    };
  }

  /** This batch's A and G (before averaging over time). */
  factorEstimates(sample: LayerSample): { A: Tensor; G: Tensor } {
    return this.estimatesFromRows(this.rows(sample));
  }

  protected estimatesFromRows(r: FactorRows): { A: Tensor; G: Tensor } {
    const A = scaled(matmul(r.a, r.a, { transposeA: true }), 1 / r.n);
    let G: Tensor | undefined;
    for (const g of r.g) {
      const gg = matmul(g, g, { transposeA: true });
      G = G === undefined ? gg : new Tensor(G.data.map((v, i) => v + gg.data[i]), G.shape);
    }
    return { A, G: G === undefined ? new Tensor(allocate(r.a.dtype, this.outDim ** 2), [this.outDim, this.outDim]) : scaled(G, 1 / r.t) };
  }

  /**
   * ρ·(A, G) + (1 − ρ)·(this sample's estimates), each factor by one `foldGram` from the rows
   * (`rows`: already unfolded by the caller); null when the result is not finite (a non-finite
   * estimate, as the factors folded in before are finite), or the sample has no examples.
   */
  protected foldSample(s: KroneckerState, sample: LayerSample, rho: number, rows?: FactorRows): { A: Tensor; G: Tensor } | null {
    const r = rows ?? this.rows(sample);
    if (!(r.n > 0) || !(r.t > 0)) return null;
    const A = foldGram(s.A, [r.a], rho, (1 - rho) / r.n);
    const G = foldGram(s.G, r.g, rho, (1 - rho) / r.t);
    if (isFiniteTensor(A) && isFiniteTensor(G)) return { A, G };
    A.dispose();
    G.dispose();
    return null;
  }

  /**
   * Fold a sample into the factors (EMA) and, when asked, recompute the inverse. A non-finite
   * estimate is skipped (reported through `skipped`), never folded in.
   */
  update(state: KroneckerState, sample: LayerSample | undefined, o: BlockUpdateOptions): { state: KroneckerState; skipped: boolean; retried: boolean } {
    let s = state;
    let skipped = false;
    let retried = false;
    if (sample !== undefined || o.estimate !== undefined) {
      const k = s.count + 1;
      const rho = emaDecay(k, o.decay);
      const est = o.estimate;
      const folded = est !== undefined
        ? (isFiniteTensor(est.A) && isFiniteTensor(est.G) ? { A: ema(s.A, est.A, rho), G: ema(s.G, est.G, rho) } : null)
        : this.foldSample(s, sample as LayerSample, rho, o.rows);
      if (folded !== null) s = { ...s, count: k, A: folded.A, G: folded.G };
      else skipped = true;
    }
    // A Cholesky inverse holds one λ: a new λ (after a damping adaptation) needs a new one, unless held.
    const stale = o.inverseMethod === 'cholesky' && (s.inverse?.method !== 'cholesky' || (s.inverse.damping !== o.damping && o.holdDamping !== true));
    if (o.recomputeInverse || s.inverse === null || stale) {
      const r = this.computeInverse(s, o.inverseMethod, o.damping);
      s = { ...s, inverse: r.inverse };
      retried = r.retried;
    }
    return { state: s, skipped, retried };
  }

  protected computeInverse(s: KroneckerState, method: InverseMethod, damping: number): { inverse: EigenInverse | CholeskyInverse; retried: boolean } {
    if (method === 'cholesky') {
      const [gA, gG] = factoredDamping(damping, piCorrection(trace(s.A), this.inDim, trace(s.G), this.outDim));
      return { inverse: { method: 'cholesky', Ainv: dampedInverse(s.A, gA), Ginv: dampedInverse(s.G, gG), damping }, retried: false };
    }
    const ea = safeEigh(s.A);
    const eg = safeEigh(s.G);
    return { inverse: { method: 'eigen', UA: ea.vectors, dA: ea.values, UG: eg.vectors, dG: eg.values }, retried: ea.retried || eg.retried };
  }

  /** The gradients of the block's parameters as one matrix M = [W | b], `[out, in+1]`. */
  combine(grads: readonly Tensor[]): Tensor {
    const [w, b] = grads;
    const out = this.outDim;
    const fan = w.size / out;
    if (w.size !== shapeSize(this.weightShape) || (this.hasBias && (b === undefined || b.size !== out))) {
      throw new RangeError(`${this.name} '${this.scope}': gradients ${grads.map((g) => fmtShape(g.shape)).join(', ')} do not match weight ${fmtShape(this.weightShape)}`);
    }
    if (!this.hasBias) return new Tensor(w.data, [out, fan]);
    const m = allocate(w.dtype, out * (fan + 1));
    for (let o = 0; o < out; o++) {
      m.set(w.data.subarray(o * fan, (o + 1) * fan), o * (fan + 1));
      m[o * (fan + 1) + fan] = b.data[o];
    }
    return new Tensor(m, [out, fan + 1]);
  }

  /** Inverse of `combine`: [weight, bias?] in the parameters' shapes. */
  split(m: Tensor): Tensor[] {
    const out = this.outDim;
    const fan = shapeSize(this.weightShape) / out;
    if (!this.hasBias) return [new Tensor(m.data, this.weightShape)];
    const w = allocate(m.dtype, out * fan);
    const b = allocate(m.dtype, out);
    for (let o = 0; o < out; o++) {
      w.set(m.data.subarray(o * (fan + 1), o * (fan + 1) + fan), o * fan);
      b[o] = m.data[o * (fan + 1) + fan];
    }
    return [new Tensor(w, this.weightShape), new Tensor(b, [out])];
  }

  /**
   * `combine` for a gradient (a covector): the same except where several parameters enter the
   * layer as one (a recurrent layer's summed biases, whose gradients are all equal to the sum's).
   */
  combineGradient(grads: readonly Tensor[]): Tensor {
    return this.combine(grads);
  }

  /**
   * `split` for a preconditioned direction: the same except where several parameters enter the
   * layer as one (a recurrent layer's summed biases), which share the step instead of each
   * taking all of it.
   */
  splitSolution(m: Tensor): Tensor[] {
    return this.split(m);
  }

  /**
   * (G ⊗ A + damping)⁻¹ applied to the gradients, with factored Tikhonov damping and π
   * (eigen inverse: the current λ; Cholesky inverse: the λ of its last recomputation).
   */
  precondition(state: KroneckerState, grads: readonly Tensor[], damping: number): Tensor[] {
    const inv = this.requireInverse(state);
    const m = this.combineGradient(grads);
    if (inv.method === 'cholesky') return this.splitSolution(matmul(matmul(inv.Ginv, m), inv.Ainv));
    const dA = inv.dA.data;
    const dG = inv.dG.data;
    let ta = 0;
    let tg = 0;
    for (const v of dA) ta += v;
    for (const v of dG) tg += v;
    const [gA, gG] = factoredDamping(damping, piCorrection(ta, dA.length, tg, dG.length));
    return this.splitSolution(inEigenbasis(inv, m, (o, c) => 1 / ((dG[o] + gG) * (dA[c] + gA))));
  }

  protected requireInverse(state: KroneckerState): EigenInverse | CholeskyInverse {
    if (state.inverse === null) throw new Error(`${this.name} '${this.scope}': no inverse yet; call update() first`);
    return state.inverse;
  }

  /** (G ⊗ A) applied to the gradients (no damping). */
  multiply(state: KroneckerState, grads: readonly Tensor[]): Tensor[] {
    return this.split(matmul(matmul(state.G, this.combine(grads)), state.A));
  }

  /** Dense G ⊗ A in the order of vec_row([W | b]), for tests on tiny layers. */
  materialize(state: KroneckerState): Tensor {
    return kron(state.G, state.A);
  }
}

/** U_G [(U_Gᵀ M U_A) ⊙ scale] U_Aᵀ. */
export function inEigenbasis(inv: EigenInverse, m: Tensor, scale: (o: number, c: number) => number): Tensor {
  const x = matmul(matmul(inv.UG, m, { transposeA: true }), inv.UA);
  const [out, inn] = x.shape;
  for (let o = 0; o < out; o++) for (let c = 0; c < inn; c++) x.data[o * inn + c] *= scale(o, c);
  return matmul(matmul(inv.UG, x), inv.UA, { transposeB: true });
}

/** Dense Kronecker product, row-major: (G ⊗ A)[(o,c),(p,d)] = G[o,p]·A[c,d]. */
export function kron(g: Tensor, a: Tensor): Tensor {
  const [m] = g.shape;
  const [n] = a.shape;
  const out = allocate(g.dtype === 'float64' || a.dtype === 'float64' ? 'float64' : 'float32', m * n * m * n);
  for (let o = 0; o < m; o++) for (let c = 0; c < n; c++) for (let p = 0; p < m; p++) for (let d = 0; d < n; d++) {
    out[(o * n + c) * m * n + p * n + d] = g.data[o * m + p] * a.data[c * n + d];
  }
  return new Tensor(out, [m * n, m * n]);
}


/**
 * EKFAC's re-estimated diagonal in the Kronecker eigenbasis from a sample:
 * s = Σ_k Σ_i (U_Gᵀ (Σ_t ĝ_{i,t} ā_{i,t}ᵀ) U_A)², `[out, in+1]` (per-example gradients, so one GEMM
 * of squares for one location, one small GEMM per example otherwise).
 */
export function ekfacScalingEstimate(r: FactorRows, inv: EigenInverse): Tensor {
  const aT = matmul(r.a, inv.UA);
  const out = inv.UG.shape[0];
  const inn = inv.UA.shape[0];
  if (r.t === 1) {
    // One location per example: Σ_i (gᵀ_i)² (aᵀ_i)² is one GEMM of squares per pass, squared in
    // place by the kernels (the JS maps and loops cost three times the GEMMs).
    const aSq = squareInPlace(aT);
    const terms = r.g.map((g) => matmul(squareInPlace(matmul(g, inv.UG)), aSq, { transposeA: true }));
    if (terms.length === 1) return terms[0].astype(r.a.dtype);
    const s = new Float64Array(out * inn);
    for (const m of terms) for (let i = 0; i < s.length; i++) s[i] += m.data[i];
    return new Tensor(r.a.dtype === 'float64' ? s : Float32Array.from(s), [out, inn]);
  }
  const s = new Float64Array(out * inn);
  for (const g of r.g) {
    const gT = matmul(g, inv.UG);
    const per = matmul(new Tensor(gT.data, [r.n, r.t, out]), new Tensor(aT.data, [r.n, r.t, inn]), { transposeA: true });
    for (let e = 0; e < r.n; e++) {
      const base = e * s.length;
      for (let i = 0; i < s.length; i++) {
        const v = per.data[base + i];
        s[i] += v * v;
      }
    }
  }
  return new Tensor(r.a.dtype === 'float64' ? s : Float32Array.from(s), [out, inn]);
}

/** t ⊙ t, written over t (a product's fresh result), by the kernels: the JS product's rounding. */
function squareInPlace(t: Tensor): Tensor {
  kernels().binary('mul', t.data, [1], t.data, [1], t.data, [t.size]);
  return t;
}

/** Fold an estimate of EKFAC's moments into the state (EMA); a non-finite one is skipped. */
export function foldEkfacScaling(state: KroneckerState, estimate: Tensor, decay: number): KroneckerState {
  if (!isFiniteTensor(estimate)) return state;
  const k = state.scalingCount + 1;
  return { ...state, scaling: ema(state.scaling as Tensor, estimate, emaDecay(k, decay)), scalingCount: k };
}

/** EKFAC behaviour shared by every layer kind's block (they differ only in `rows`, `combine`, `split`). */
export const ekfacBehaviour = {
  update(block: KroneckerBlock, base: KroneckerBlock['update'], state: KroneckerState, sample: LayerSample | undefined, o: BlockUpdateOptions) {
    const recompute = o.recomputeInverse || state.inverse === null;
    // The rows once, for the factors and for the moments (unfolding a conv layer is im2col).
    const rows = sample !== undefined && o.deferScaling !== true ? o.rows ?? block.rows(sample) : o.rows;
    const r = base.call(block, state, sample, { ...o, inverseMethod: 'eigen', rows });
    let s = r.state;
    const inv = s.inverse as EigenInverse;
    if (recompute) {
      // A new basis: restart the moments from K-FAC's diagonal in it, dG ⊗ dA.
      const dA = inv.dA.data;
      const dG = inv.dG.data;
      const init = allocate(s.A.dtype, dG.length * dA.length);
      for (let g = 0; g < dG.length; g++) for (let a = 0; a < dA.length; a++) init[g * dA.length + a] = dG[g] * dA[a];
      s = { ...s, scaling: new Tensor(init, [dG.length, dA.length]), scalingCount: 0 };
    }
    if (sample !== undefined && !r.skipped && o.deferScaling !== true) s = foldEkfacScaling(s, ekfacScalingEstimate(rows ?? block.rows(sample), inv), o.decay);
    return { ...r, state: s };
  },
  precondition(block: KroneckerBlock, state: KroneckerState, grads: readonly Tensor[], damping: number): Tensor[] {
    const inv = state.inverse;
    if (inv === null || inv.method !== 'eigen' || state.scaling === null) throw new Error(`${block.name} '${block.scope}': no eigenbasis yet; call update() first`);
    const s = state.scaling.data;
    const inn = inv.UA.shape[0];
    return block.splitSolution(inEigenbasis(inv, block.combineGradient(grads), (o, c) => 1 / (Math.max(0, s[o * inn + c]) + damping)));
  },
  /** U diag(s) Uᵀ applied to the gradients: the matrix `materialize` builds, without damping. */
  multiply(block: KroneckerBlock, state: KroneckerState, grads: readonly Tensor[]): Tensor[] {
    const inv = state.inverse;
    if (inv === null || inv.method !== 'eigen' || state.scaling === null) throw new Error(`${block.name} '${block.scope}': no eigenbasis yet; call update() first`);
    const s = state.scaling.data;
    const inn = inv.UA.shape[0];
    return block.split(inEigenbasis(inv, block.combine(grads), (o, c) => s[o * inn + c]));
  },
  materialize(state: KroneckerState): Tensor {
    const inv = state.inverse as EigenInverse;
    const u = kron(inv.UG.astype('float64'), inv.UA.astype('float64'));
    const n = u.shape[0];
    const scaledU = u.clone();
    const s = (state.scaling as Tensor).data;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) scaledU.data[i * n + j] *= s[j];
    return matmul(scaledU, u, { transposeB: true });
  },
};

/** Where a tap's block lives in the parameter tree: its parameter paths, weight shape and geometry. */
export interface BlockLayout {
  readonly paths: readonly string[];
  readonly weightShape: readonly number[];
  readonly geometry: readonly number[];
}

/** A block class of one layer kind and approximation (blocks are rebuilt from their state's layout). */
export type BlockConstructor = new (scope: string, paths: readonly string[], weightShape: readonly number[], geometry?: readonly number[]) => KroneckerBlock;

/**
 * One row of the curvature grid: everything a layer kind needs for Kronecker-factored
 * curvature, in one place (`kronecker-grid.ts` puts the rows in a table typed over the kinds).
 */
export interface LayerRow<K extends LayerKind> {
  /**
   * The parameters a tap of this kind covers, checked against the parameter tree (`shapeOf`
   * gives a path's shape, undefined when absent); a string is the reason it does not fit, and
   * the layer's parameters get diagonal blocks.
   */
  layout(scope: string, info: TapInfoByKind[K], shapeOf: (path: string) => readonly number[] | undefined): BlockLayout | string;
  /** The block class per approximation: a missing combination is a compile error. */
  readonly blocks: Readonly<Record<Approximation, BlockConstructor>>;
  /**
   * Σ_i (∂ℓ/∂θ of example i)² for the tap's parameters, from its input `a` and output gradient
   * `g` of one ordinary backward pass (ℓ the differentiated objective), keyed by parameter path;
   * undefined when this tap cannot give per-example sums this way (the caller then falls back to
   * per-example gradients).
   */
  squaredGradients(scope: string, info: TapInfoByKind[K], a: Tensor, g: Tensor): Map<string, Tensor> | undefined;
}

/** `scope.` (or '' for the root), the prefix of a layer's parameter paths. */
export function scopePrefix(scope: string): string {
  return scope === '' ? '' : `${scope}.`;
}

/** The layout of a layer with parameters `weight` (of rank `rank`) and an optional `bias` of the weight's output size. */
export function weightBiasLayout(
  kind: LayerKind, scope: string, bias: boolean, rank: number, geometry: readonly number[], shapeOf: (path: string) => readonly number[] | undefined,
): BlockLayout | string {
  const w = `${scopePrefix(scope)}weight`;
  const b = `${scopePrefix(scope)}bias`;
  const ws = shapeOf(w);
  const bs = bias ? shapeOf(b) : undefined;
  if (ws === undefined || (bias && bs === undefined)) return `kfac: tap '${scope}' has no matching parameters '${w}'${bias ? ` and '${b}'` : ''}; diagonal blocks used`;
  if (ws.length !== rank || (bias && (bs?.length !== 1 || bs[0] !== ws[0]))) return `kfac: parameters of '${scope}' do not have ${kind} shapes; diagonal blocks used`;
  return { paths: bias ? [w, b] : [w], weightShape: ws.slice(), geometry };
}

/**
 * The recurrent row of the curvature grid: K-FAC for a layer whose affine map s_t = W ā_t is
 * shared across time steps t (Martens, Ba & Johnson, ICLR 2018), under their independence
 * approximation: the per-step gradient contributions are taken as independent across time, so
 * F ≈ T·(Ā ⊗ Ḡ) with Ā, Ḡ the per-step second moments averaged over steps — which is the dense
 * block over `[N, T, in]` rows (A sums over steps, G averages). The tap (see `RecurrentTapInfo`)
 * names the weight matrices whose column blocks make W (e.g. input-to-hidden and
 * hidden-to-hidden) and the bias vectors summed into b; ā_t = [x_t; h_{t−1}; 1].
 *
 * Variable lengths: the tap's mask leaves padded steps out of every factor (they carry an input
 * but no gradient), so T̄ is the mean real length (see `recurrentStatistics`). The chain
 * approximations across time (the paper's Options 1 and 2) live in
 * `kronecker-recurrent-chain.ts`; a state laid out with one (`withRecurrentApproximation`) keeps
 * A_1, G_1 and the lag counts c_d besides A and G, and its inverse in `chain`.
 *
 * Tied biases (PyTorch's `bias_ih` and `bias_hh` both add to s_t) enter as their sum b: the
 * block's curvature on them is Pᵀ(G ⊗ A)P with P summing them; preconditioning reads the sum's
 * gradient (each tied bias has it) and shares the step Δb equally (each moves by Δb/m, the sum
 * by Δb) — the natural step in the reduced parameterization, P⁺(G ⊗ A + damping)⁻¹(Pᵀ)⁺. Layout: `paths` = [...weights, ...biases], `geometry` = the weights' column
 * counts; `weightShape` = [out, Σ columns].
 */
import { Tensor, allocate, fmtShape, shapeSize } from '../tensor/tensor.js';
import { matmul } from '../tensor/matmul.js';
import {
  KroneckerBlock, ekfacBehaviour as ekfac, scopePrefix, ema, emaDecay, isFiniteTensor, kron,
  type Approximation, type BlockUpdateOptions, type FactorRows, type KroneckerState, type LayerRow, type LayerSample,
} from './kronecker-block.js';
import { denseRows } from './kronecker-dense.js';
import { spdInverse } from './kronecker-inverse.js';
import {
  applyChainInverse, chain1Multiply, chainInverse, denseOf, type ChainFactors, type ChainInverse, type RecurrentApproximation,
} from './kronecker-recurrent-chain.js';

/** Which steps of each sequence are real: the tap's mask `[N, T]`, or all of them. */
function validSteps(block: KroneckerBlock, sample: LayerSample, n: number, t: number): Uint8Array {
  const valid = new Uint8Array(n * t).fill(1);
  const mask = sample.kind === 'recurrent' ? sample.info.mask : undefined;
  if (mask === undefined) return valid;
  if (mask.ndim !== 2 || mask.shape[0] !== n || mask.shape[1] !== t) {
    throw new RangeError(`${block.name} '${block.scope}': mask ${fmtShape(mask.shape)} does not match input [${n}, ${t}, ·]`);
  }
  for (let i = 0; i < valid.length; i++) valid[i] = mask.data[i] !== 0 ? 1 : 0;
  return valid;
}

function gatherRows(m: Tensor, rows: readonly number[]): Tensor {
  const c = m.shape[1];
  const out = allocate(m.dtype, rows.length * c);
  rows.forEach((r, k) => out.set(m.data.subarray(r * c, (r + 1) * c), k * c));
  return new Tensor(out, [rows.length, c]);
}

function sumOfProducts(xs: readonly Tensor[], ys: readonly Tensor[], dim: number, dtype: Tensor['dtype']): Tensor {
  const acc = allocate(dtype, dim * dim);
  xs.forEach((x, k) => {
    if (x.shape[0] === 0) return;
    const p = matmul(x, ys[k], { transposeA: true });
    for (let i = 0; i < acc.length; i++) acc[i] += p.data[i];
  });
  return new Tensor(acc, [dim, dim]);
}

const scaledBy = (t: Tensor, s: number) => new Tensor(t.data.map((v) => v * s), t.shape);

/**
 * One batch's recurrent statistics over its real steps only (padded steps have an input but no
 * gradient: counting them would bias A and dilute G). With n_v real steps over N sequences,
 * T̄ = n_v/N: A = (1/N) Σ ā āᵀ, G = (1/T̄) Σ ĝ ĝᵀ (the independent block's scales), and over the
 * n_p pairs of consecutive real steps (t, t⁺) of a sequence, on the same scales,
 * A_1 = (n_v/n_p)(1/N) Σ ā_{t⁺} ā_tᵀ, G_1 = (n_v/n_p)(1/T̄) Σ ĝ_{t⁺} ĝ_tᵀ; c_d = (1/N) Σ_i (T_i − d)₊.
 */
export function recurrentStatistics(block: KroneckerBlock, sample: LayerSample): ChainFactors {
  const r = denseRows(block, sample);
  const n = r.n;
  const t = Math.round(r.t);
  const valid = validSteps(block, sample, n, t);
  const rowsV: number[] = [];
  const prev: number[] = [];
  const next: number[] = [];
  const lengths: number[] = [];
  for (let i = 0; i < n; i++) {
    let last = -1;
    let len = 0;
    for (let s = 0; s < t; s++) {
      const row = i * t + s;
      if (valid[row] === 0) continue;
      rowsV.push(row);
      if (last >= 0) { prev.push(last); next.push(row); }
      last = row;
      len++;
    }
    lengths.push(len);
  }
  const nv = rowsV.length;
  const np = prev.length;
  const dtype = r.a.dtype;
  const dA = block.inDim;
  const dG = block.outDim;
  const tbar = n === 0 ? 0 : nv / n;
  const aV = gatherRows(r.a, rowsV);
  const gV = r.g.map((g) => gatherRows(g, rowsV));
  const A = scaledBy(sumOfProducts([aV], [aV], dA, dtype), n === 0 ? 0 : 1 / n);
  const G = scaledBy(sumOfProducts(gV, gV, dG, dtype), tbar === 0 ? 0 : 1 / tbar);
  const pairScale = np === 0 ? 0 : nv / np;
  const A1 = scaledBy(sumOfProducts([gatherRows(r.a, next)], [gatherRows(r.a, prev)], dA, dtype), n === 0 ? 0 : pairScale / n);
  const G1 = scaledBy(sumOfProducts(r.g.map((g) => gatherRows(g, next)), r.g.map((g) => gatherRows(g, prev)), dG, dtype), tbar === 0 ? 0 : pairScale / tbar);
  const maxLen = Math.max(1, ...lengths);
  const lags = new Float64Array(maxLen);
  for (const len of lengths) for (let d = 0; d < len; d++) lags[d] += (len - d) / Math.max(1, n);
  return { A, G, A1, G1, lags: new Tensor(lags, [maxLen]) };
}

/** The EMA of c_d when the longest sequence changed: both padded with zeros (c_d = 0 past it). */
function emaLags(old: Tensor, est: Tensor, rho: number): Tensor {
  const len = Math.max(old.size, est.size);
  const out = new Float64Array(len);
  for (let d = 0; d < len; d++) out[d] = rho * (d < old.size ? old.data[d] : 0) + (1 - rho) * (d < est.size ? est.data[d] : 0);
  return new Tensor(out, [len]);
}

/** The temporal approximation a recurrent state was laid out with ('independent' when unset). */
export function recurrentApproximationOf(state: KroneckerState): RecurrentApproximation {
  const t = state.temporal;
  return t === 'chain1' || t === 'chain2' ? t : 'independent';
}

function chainFactorsOf(state: KroneckerState): ChainFactors {
  return { A: state.A, G: state.G, A1: state.A1 as Tensor, G1: state.G1 as Tensor, lags: state.lags as Tensor };
}

/**
 * A fresh recurrent state with the chain's extra statistics (A_1, G_1, c_d); 'independent'
 * returns it unchanged. EKFAC has no chain form (its eigenbasis is orthogonal; the chain's basis
 * A^{-1/2}E is not), so an EKFAC state with a chain is refused, naming the option.
 */
export function withRecurrentApproximation(state: KroneckerState, approximation: RecurrentApproximation): KroneckerState {
  if (approximation === 'independent') return state;
  if (state.kind !== 'recurrent') return state;
  if (state.approximation !== 'kronecker') {
    throw new RangeError(`recurrentApproximation '${approximation}' needs Kronecker blocks: EKFAC's re-estimated diagonal lives in an orthogonal eigenbasis, which the chain's A^{-1/2}E is not; use recurrentApproximation 'independent' with ekfac`);
  }
  const zeros = (t: Tensor) => new Tensor(allocate(t.dtype, t.size), t.shape);
  return { ...state, temporal: approximation, A1: zeros(state.A), G1: zeros(state.G), lags: new Tensor(new Float64Array(1), [1]), chain: null };
}

/** K-FAC for a recurrent layer, independence approximation across time steps. */
export class RecurrentKronecker extends KroneckerBlock {
  readonly name: string = 'RecurrentKronecker';
  readonly kind = 'recurrent' as const;

  /** Rows per time step; inputs `[N, T, in]`; output gradients of padded steps zeroed (per-example sums stay exact). */
  rows(sample: LayerSample): FactorRows {
    if (sample.a.ndim !== 3) throw new RangeError(`${this.name} '${this.scope}': input ${fmtShape(sample.a.shape)} is not [N, T, ${shapeSize(this.weightShape) / this.outDim}]`);
    const r = denseRows(this, sample);
    if (sample.kind !== 'recurrent' || sample.info.mask === undefined) return r;
    const valid = validSteps(this, sample, r.n, Math.round(r.t));
    const out = this.outDim;
    const g = r.g.map((x) => {
      const y = x.clone();
      for (let row = 0; row < valid.length; row++) if (valid[row] === 0) y.data.fill(0, row * out, (row + 1) * out);
      return y;
    });
    return { ...r, g };
  }

  /** A and G over the real steps only (see `recurrentStatistics`). */
  override factorEstimates(sample: LayerSample): { A: Tensor; G: Tensor } {
    const s = recurrentStatistics(this, sample);
    return { A: s.A, G: s.G };
  }

  /** The EMA of the masked estimates (`factorEstimates`), not `foldGram` of the raw rows. */
  protected override foldSample(s: KroneckerState, sample: LayerSample, rho: number): { A: Tensor; G: Tensor } | null {
    const est = this.factorEstimates(sample);
    return isFiniteTensor(est.A) && isFiniteTensor(est.G) ? { A: ema(s.A, est.A, rho), G: ema(s.G, est.G, rho) } : null;
  }

  /** Independent: K-FAC's update; chain: the same EMA over A, G, A_1, G_1, c_d, and the chain inverse at λ. */
  override update(state: KroneckerState, sample: LayerSample | undefined, o: BlockUpdateOptions): { state: KroneckerState; skipped: boolean; retried: boolean } {
    const temporal = recurrentApproximationOf(state);
    if (temporal === 'independent') return super.update(state, sample, o);
    let s = state;
    let skipped = false;
    if (sample !== undefined) {
      const est = recurrentStatistics(this, sample);
      if ([est.A, est.G, est.A1, est.G1].every(isFiniteTensor)) {
        const k = s.count + 1;
        const rho = emaDecay(k, o.decay);
        const old = chainFactorsOf(s);
        s = { ...s, count: k, A: ema(s.A, est.A, rho), G: ema(s.G, est.G, rho), A1: ema(old.A1, est.A1, rho), G1: ema(old.G1, est.G1, rho), lags: emaLags(old.lags, est.lags, rho) };
      } else {
        skipped = true;
      }
    }
    const chain = s.chain as ChainInverse | null | undefined;
    // The chain's basis whitens the damped factors: a new λ needs a new one (as a Cholesky inverse).
    if (o.recomputeInverse || chain === null || chain === undefined || (chain.damping !== o.damping && o.holdDamping !== true)) {
      s = { ...s, chain: chainInverse(temporal, chainFactorsOf(s), o.damping) };
    }
    return { state: s, skipped, retried: false };
  }

  /** Chain: F⁻¹ at the λ of its last recomputation (as a Cholesky inverse); independent: K-FAC's. */
  override precondition(state: KroneckerState, grads: readonly Tensor[], damping: number): Tensor[] {
    if (recurrentApproximationOf(state) === 'independent') return super.precondition(state, grads, damping);
    const chain = state.chain as ChainInverse | null | undefined;
    if (chain === null || chain === undefined) throw new Error(`${this.name} '${this.scope}': no chain inverse yet; call update() first`);
    const m = this.combineGradient(grads);
    return this.splitSolution(applyChainInverse(chain, m).astype(m.dtype));
  }

  /** Chain1: its F (undamped); chain2 defines F only through its inverse (T → ∞), so it has no product. */
  override multiply(state: KroneckerState, grads: readonly Tensor[]): Tensor[] {
    const temporal = recurrentApproximationOf(state);
    if (temporal === 'independent') return super.multiply(state, grads);
    if (temporal === 'chain2') throw new Error(`${this.name} '${this.scope}': recurrentApproximation 'chain2' (T → ∞) is defined by its inverse and has no curvature product; use 'chain1' or 'independent'`);
    const m = this.combine(grads);
    return this.split(chain1Multiply(chainFactorsOf(state), m).astype(m.dtype));
  }

  /** Dense F in vec_row([W | b]) order, for tests on tiny layers (chain2: the inverse of its undamped inverse). */
  override materialize(state: KroneckerState): Tensor {
    const temporal = recurrentApproximationOf(state);
    if (temporal === 'independent') return kron(state.G, state.A);
    const f = chainFactorsOf(state);
    const [out, inn] = [state.G.shape[0], state.A.shape[0]];
    if (temporal === 'chain1') return denseOf(out, inn, (m) => chain1Multiply(f, m));
    const inv = chainInverse('chain2', f, 0);
    const dense = spdInverse(denseOf(out, inn, (m) => applyChainInverse(inv, m)));
    if (dense === null) throw new Error(`${this.name} '${this.scope}': chain2's undamped inverse is singular (rank-deficient factors); no dense F`);
    return dense;
  }

  protected override checkLayout(paths: readonly string[], weightShape: readonly number[], geometry: readonly number[]): void {
    const k = geometry.length;
    const biases = paths.length - k;
    if (k < 1 || biases < 0 || geometry.some((c) => !(Number.isInteger(c) && c > 0)) || weightShape.length !== 2 || geometry.reduce((s, c) => s + c, 0) !== weightShape[1]) {
      throw new RangeError(`${this.constructor.name}: expects paths [...weights, ...biases] with the weights' column counts as geometry summing to weight ${fmtShape(weightShape)}, got ${paths.length} paths and geometry [${geometry.join(', ')}]`);
    }
  }

  override get hasBias(): boolean {
    return this.paths.length > this.geometry.length;
  }

  /** A direction: [W_1 | … | W_k | Σ_j b_j], `[out, in+1]` (P: tied biases move the sum by their total). */
  override combine(grads: readonly Tensor[]): Tensor {
    return this.combineScaled(grads, 1);
  }

  /** A gradient: the tied biases' gradients are each the sum's; their mean is it ((Pᵀ)⁺). */
  override combineGradient(grads: readonly Tensor[]): Tensor {
    return this.combineScaled(grads, 1 / Math.max(1, this.paths.length - this.geometry.length));
  }

  private combineScaled(grads: readonly Tensor[], biasScale: number): Tensor {
    const out = this.outDim;
    const k = this.geometry.length;
    const inF = shapeSize(this.weightShape) / out;
    const d = inF + (this.hasBias ? 1 : 0);
    if (grads.length !== this.paths.length || grads.some((g, j) => g.size !== out * (j < k ? this.geometry[j] : 1))) {
      throw new RangeError(`${this.name} '${this.scope}': gradients ${grads.map((g) => fmtShape(g.shape)).join(', ')} do not match weights of ${out} rows and [${this.geometry.join(', ')}] columns${this.hasBias ? ' and biases' : ''}`);
    }
    const m = allocate(grads[0].dtype, out * d);
    let col = 0;
    for (let j = 0; j < k; j++) {
      const c = this.geometry[j];
      const w = grads[j].data;
      for (let o = 0; o < out; o++) for (let i = 0; i < c; i++) m[o * d + col + i] = w[o * c + i];
      col += c;
    }
    for (let j = k; j < grads.length; j++) for (let o = 0; o < out; o++) m[o * d + inF] += biasScale * grads[j].data[o];
    return new Tensor(m, [out, d]);
  }

  private splitScaled(m: Tensor, biasScale: number): Tensor[] {
    const out = this.outDim;
    const k = this.geometry.length;
    const inF = shapeSize(this.weightShape) / out;
    const d = inF + (this.hasBias ? 1 : 0);
    const parts: Tensor[] = [];
    let col = 0;
    for (let j = 0; j < k; j++) {
      const c = this.geometry[j];
      const w = allocate(m.dtype, out * c);
      for (let o = 0; o < out; o++) for (let i = 0; i < c; i++) w[o * c + i] = m.data[o * d + col + i];
      parts.push(new Tensor(w, [out, c]));
      col += c;
    }
    for (let j = k; j < this.paths.length; j++) {
      const b = allocate(m.dtype, out);
      for (let o = 0; o < out; o++) b[o] = biasScale * m.data[o * d + inF];
      parts.push(new Tensor(b, [out]));
    }
    return parts;
  }

  /** Pᵀ: each tied bias gets the whole bias column (the product's gradient in each). */
  override split(m: Tensor): Tensor[] {
    return this.splitScaled(m, 1);
  }

  /** A step in the summed bias b is shared equally by the tied biases. */
  override splitSolution(m: Tensor): Tensor[] {
    return this.splitScaled(m, 1 / Math.max(1, this.paths.length - this.geometry.length));
  }
}

/** EKFAC for a recurrent layer: K-FAC-RNN's eigenbasis, the diagonal re-estimated per sequence. */
export class RecurrentEkfac extends RecurrentKronecker {
  override readonly name = 'RecurrentEkfac';
  override readonly approximation: Approximation = 'ekfac';
  override update(state: KroneckerState, sample: LayerSample | undefined, o: BlockUpdateOptions) {
    return ekfac.update(this, super.update, state, sample, o);
  }
  override precondition(state: KroneckerState, grads: readonly Tensor[], damping: number): Tensor[] {
    return ekfac.precondition(this, state, grads, damping);
  }
  override multiply(state: KroneckerState, grads: readonly Tensor[]): Tensor[] {
    return ekfac.multiply(this, state, grads);
  }
  override materialize(state: KroneckerState): Tensor {
    return ekfac.materialize(state);
  }
}

/** The recurrent row: the weights and biases the tap names, one shared map across time. */
export const recurrentRow: LayerRow<'recurrent'> = {
  layout(scope, info, shapeOf) {
    const key = scopePrefix(scope);
    const weights = info.weights.map((w) => `${key}${w}`);
    const biases = info.bias ? info.biases.map((b) => `${key}${b}`) : [];
    if (weights.length === 0) return `kfac: recurrent tap '${scope}' names no weights; diagonal blocks used`;
    const missing = [...weights, ...biases].filter((p) => shapeOf(p) === undefined);
    if (missing.length > 0) return `kfac: tap '${scope}' has no matching parameters ${missing.map((p) => `'${p}'`).join(', ')}; diagonal blocks used`;
    const ws = weights.map((p) => shapeOf(p) as readonly number[]);
    const out = ws[0][0];
    if (ws.some((s) => s.length !== 2 || s[0] !== out) || biases.some((p) => { const s = shapeOf(p) as readonly number[]; return s.length !== 1 || s[0] !== out; })) {
      return `kfac: parameters of '${scope}' do not have recurrent shapes (weights [${out}, in_k], biases [${out}]); diagonal blocks used`;
    }
    const geometry = ws.map((s) => s[1]);
    return { paths: [...weights, ...biases], weightShape: [out, geometry.reduce((s, c) => s + c, 0)], geometry };
  },
  blocks: { kronecker: RecurrentKronecker, ekfac: RecurrentEkfac },
  // Per-example gradients sum over time steps inside each example: not a GEMM of squares.
  squaredGradients: () => undefined,
};

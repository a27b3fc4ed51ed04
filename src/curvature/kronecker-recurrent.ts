/**
 * The recurrent row of the curvature grid: K-FAC for a layer whose affine map s_t = W ā_t is
 * shared across time steps t (Martens, Ba & Johnson, ICLR 2018), under their independence
 * approximation: the per-step gradient contributions are taken as independent across time, so
 * F ≈ T·(Ā ⊗ Ḡ) with Ā, Ḡ the per-step second moments averaged over steps — which is the dense
 * block over `[N, T, in]` rows (A sums over steps, G averages). The tap (see `RecurrentTapInfo`)
 * names the weight matrices whose column blocks make W (e.g. input-to-hidden and
 * hidden-to-hidden) and the bias vectors summed into b; ā_t = [x_t; h_{t−1}; 1].
 *
 * Tied biases (PyTorch's `bias_ih` and `bias_hh` both add to s_t) enter as their sum b: the
 * block's curvature on them is Pᵀ(G ⊗ A)P with P summing them; preconditioning reads the sum's
 * gradient (each tied bias has it) and shares the step Δb equally (each moves by Δb/m, the sum
 * by Δb) — the natural step in the reduced parameterization, P⁺(G ⊗ A + damping)⁻¹(Pᵀ)⁺. Layout: `paths` = [...weights, ...biases], `geometry` = the weights' column
 * counts; `weightShape` = [out, Σ columns].
 */
import { Tensor, allocate, fmtShape, shapeSize } from '../tensor/tensor.js';
import {
  KroneckerBlock, ekfacBehaviour as ekfac, scopePrefix,
  type Approximation, type BlockUpdateOptions, type FactorRows, type KroneckerState, type LayerRow, type LayerSample,
} from './kronecker-block.js';
import { denseRows } from './kronecker-dense.js';

/** K-FAC for a recurrent layer, independence approximation across time steps. */
export class RecurrentKronecker extends KroneckerBlock {
  readonly name: string = 'RecurrentKronecker';
  readonly kind = 'recurrent' as const;

  /** Rows per time step; inputs `[N, T, in]`. */
  rows(sample: LayerSample): FactorRows {
    if (sample.a.ndim !== 3) throw new RangeError(`${this.name} '${this.scope}': input ${fmtShape(sample.a.shape)} is not [N, T, ${shapeSize(this.weightShape) / this.outDim}]`);
    return denseRows(this, sample);
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

/**
 * The dense row of the curvature grid: a fully connected layer s = W a + b (K-FAC, Martens &
 * Grosse 2015; EKFAC, George et al. 2018). Inputs `[N, ..., in]`: extra axes count as locations
 * (sequence positions), summed into A and averaged into G as KFC does for convolutions.
 */
import { Tensor, allocate, fmtShape, shapeSize, type DType } from '../tensor/tensor.js';
import { matmul } from '../tensor/matmul.js';
import {
  KroneckerBlock, ekfacBehaviour as ekfac, weightBiasLayout, scopePrefix,
  type Approximation, type BlockUpdateOptions, type FactorRows, type KroneckerState, type LayerRow, type LayerSample,
} from './kronecker-block.js';

export function withOnes(data: ArrayLike<number>, rows: number, cols: number, bias: boolean, dtype: DType): Tensor {
  const d = cols + (bias ? 1 : 0);
  const out = allocate(dtype, rows * d);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * d + c] = data[r * cols + c];
    if (bias) out[r * d + cols] = 1;
  }
  return new Tensor(out, [rows, d]);
}

/**
 * ā and ĝ rows of a layer whose input's last axis feeds the weight and whose other axes after
 * the first count as locations: `[N, ..., in]` → `[N·T, in+1]`, output gradients `[N·T, out]`.
 */
export function denseRows(block: KroneckerBlock, sample: LayerSample): FactorRows {
  const inF = shapeSize(block.weightShape) / block.outDim;
  const a = sample.a;
  if (a.ndim < 2 || a.shape[a.ndim - 1] !== inF) throw new RangeError(`${block.name} '${block.scope}': input ${fmtShape(a.shape)} does not match weight ${fmtShape(block.weightShape)}`);
  const n = a.shape[0];
  const rows = a.size / inF;
  const g = sample.g.map((x) => {
    if (x.size !== rows * block.outDim) throw new RangeError(`${block.name} '${block.scope}': output gradient ${fmtShape(x.shape)} does not match ${rows} rows of ${block.outDim}`);
    return new Tensor(x.astype(a.dtype).data, [rows, block.outDim]);
  });
  return { a: withOnes(a.data, rows, inF, block.hasBias, a.dtype), g, n, t: n === 0 ? 1 : rows / n };
}

/** A fully connected layer, s = W a + b; inputs `[N, ..., in]` (extra axes count as locations). */
export class DenseKronecker extends KroneckerBlock {
  readonly name: string = 'DenseKronecker';
  readonly kind = 'dense' as const;

  rows(sample: LayerSample): FactorRows {
    return denseRows(this, sample);
  }
}

/** EKFAC (George et al. 2018) for a dense layer: K-FAC's eigenbasis, re-estimated diagonal. */
export class DenseEkfac extends DenseKronecker {
  override readonly name = 'DenseEkfac';
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

function squareData(t: Tensor): Tensor {
  const d = allocate(t.dtype, t.size);
  for (let i = 0; i < d.length; i++) d[i] = t.data[i] * t.data[i];
  return new Tensor(d, t.shape);
}

/** The dense row: parameters `weight` `[out, in]` and an optional `bias`. */
export const denseRow: LayerRow<'dense'> = {
  layout: (scope, info, shapeOf) => weightBiasLayout('dense', scope, info.bias, 2, [], shapeOf),
  blocks: { kronecker: DenseKronecker, ekfac: DenseEkfac },
  squaredGradients(scope, info, a, g) {
    // ∂ℓ/∂W of example i is g_i a_iᵀ: Σ_i (g_i a_iᵀ)² = (g²)ᵀ (a²), one GEMM of squares. Sequence
    // inputs sum over positions inside each example first: not a GEMM of squares.
    if (a.ndim !== 2) return undefined;
    const key = scopePrefix(scope);
    const out = new Map<string, Tensor>([[`${key}weight`, matmul(squareData(g), squareData(a), { transposeA: true })]]);
    if (info.bias) {
      const [n, o] = g.shape;
      const b = allocate(g.dtype, o);
      for (let i = 0; i < n; i++) for (let j = 0; j < o; j++) b[j] += g.data[i * o + j] ** 2;
      out.set(`${key}bias`, new Tensor(b, [o]));
    }
    return out;
  },
};

/**
 * The diagonal block: the fallback for every parameter no Kronecker block covers (untapped
 * layers, a layer applied more than once, parameters that do not fit their tap).
 */
import { Tensor, allocate, shapeSize, type DType } from '../tensor/tensor.js';
import { ema, emaDecay, isFiniteTensor, type DiagonalState } from './kronecker-block.js';

/**
 * Fallback for a parameter no tap covers: a running estimate d of the curvature's diagonal,
 * preconditioning by 1/(d + λ). Memory: one parameter-sized tensor.
 */
export class DiagonalBlock {
  readonly name = 'DiagonalBlock';
  readonly kind = 'diagonal' as const;
  readonly paths: readonly string[];

  constructor(readonly path: string, readonly shape: readonly number[]) {
    this.paths = [path];
  }

  init(dtype: DType): DiagonalState {
    return { kind: 'diagonal', paths: [this.path], count: 0, d: new Tensor(allocate(dtype, shapeSize(this.shape)), this.shape) };
  }

  /** Fold an estimate of the diagonal in (EMA); a non-finite one is skipped. */
  update(state: DiagonalState, estimate: Tensor | undefined, decay: number): { state: DiagonalState; skipped: boolean } {
    if (estimate === undefined) return { state, skipped: false };
    if (!isFiniteTensor(estimate)) return { state, skipped: true };
    const k = state.count + 1;
    return { state: { ...state, count: k, d: ema(state.d, estimate, emaDecay(k, decay)) }, skipped: false };
  }

  precondition(state: DiagonalState, grads: readonly Tensor[], damping: number): Tensor[] {
    const g = grads[0];
    const out = allocate(g.dtype, g.size);
    for (let i = 0; i < out.length; i++) out[i] = g.data[i] / (Math.max(0, state.d.data[i]) + damping);
    return [new Tensor(out, g.shape)];
  }

  multiply(state: DiagonalState, grads: readonly Tensor[]): Tensor[] {
    const g = grads[0];
    return [new Tensor(g.data.map((v, i) => v * state.d.data[i]), g.shape)];
  }
}

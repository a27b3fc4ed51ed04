/**
 * The conv2d row of the curvature grid: KFC (Grosse & Martens, ICML 2016) and its EKFAC. ā are
 * the unfolded patches (im2col with stride, padding and dilation), one row per output location;
 * A sums over locations, G averages. Weights `[O, C, kh, kw]` read as `[O, C·kh·kw]`.
 */
import { kernels } from '../kernels/index.js';
import { Tensor, allocate, fmtShape } from '../tensor/tensor.js';
import type { FloatArray } from '../kernels/types.js';
import { conv2dBackwardFilter } from '../tensor/conv.js';
import type { Conv2dTapInfo } from '../nn/module.js';
import {
  KroneckerBlock, ekfacBehaviour as ekfac, weightBiasLayout, scopePrefix,
  type Approximation, type BlockUpdateOptions, type FactorRows, type KroneckerState, type LayerRow, type LayerSample,
} from './kronecker-block.js';

/** Conv geometry [kh, kw, sh, sw, ph, pw, dh, dw] from a tap's info. */
export function convGeometry(info: Readonly<Record<string, unknown>> | Conv2dTapInfo): number[] {
  const i = info as Readonly<Record<string, unknown>>;
  const pair = (v: unknown, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [(v as number[])[0], (v as number[])[1]]);
  const [kh, kw] = pair(i.kernel, 1);
  return [kh, kw, ...pair(i.stride, 1), ...pair(i.padding, 0), ...pair(i.dilation, 1)];
}

/**
 * A 2-D convolution (KFC, Grosse & Martens 2016): ā are the unfolded patches (im2col, with
 * stride, padding and dilation), one per output location; A sums over locations, G averages.
 */
/** x `[n, r, c]` (contiguous) as `[n, c, r]`: one strided kernel copy (a product with 1, exact). */
function transposedCopy(x: FloatArray, n: number, r: number, c: number): FloatArray {
  const out = allocate(x instanceof Float64Array ? 'float64' : 'float32', n * r * c);
  const one = x instanceof Float64Array ? new Float64Array([1]) : new Float32Array([1]);
  kernels().binary('mul', x, [r * c, 1, c], one, [0, 0, 0], out, [n, c, r]);
  return out;
}

export class Conv2dKronecker extends KroneckerBlock {
  readonly name: string = 'Conv2dKronecker';
  readonly kind = 'conv2d' as const;

  rows(sample: LayerSample): FactorRows {
    const [kh, kw, sh, sw, ph, pw, dh, dw] = this.geometry;
    const a = sample.a;
    const [O, C] = this.weightShape;
    if (a.ndim !== 4 || a.shape[1] !== C) throw new RangeError(`${this.name} '${this.scope}': input ${fmtShape(a.shape)} does not match weight ${fmtShape(this.weightShape)}`);
    const [n, , H, W] = a.shape;
    const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
    const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
    const L = oh * ow;
    const K = C * kh * kw;
    const d = K + (this.hasBias ? 1 : 0);
    // Every example's im2col columns [K, L] (plus a row of ones for the bias), then one strided
    // kernel copy to rows [n·L, d]: a JS transpose of these cost most of the statistics' fold.
    const k = kernels();
    // A pooled buffer handed back below (an unowned one of n·d·L values per layer and step was
    // left to the garbage collector).
    const colsTensor = new Tensor(allocate(a.dtype, n * d * L), [n * d * L]);
    const cols = colsTensor.data;
    const img = C * H * W;
    for (let i = 0; i < n; i++) {
      const at = i * d * L;
      k.im2col(a.data.subarray(i * img, (i + 1) * img), C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols.subarray(at, at + K * L));
      if (this.hasBias) cols.fill(1, at + K * L, at + d * L);
    }
    const rowsA = transposedCopy(cols, n, d, L);
    colsTensor.dispose();
    const g = sample.g.map((x) => {
      if (x.size !== n * O * L) throw new RangeError(`${this.name} '${this.scope}': output gradient ${fmtShape(x.shape)} does not match [${n}, ${O}, ${oh}, ${ow}]`);
      return new Tensor(transposedCopy(x.astype(a.dtype).data, n, O, L), [n * L, O]);
    });
    return { a: new Tensor(rowsA, [n * L, d]), g, n, t: L };
  }
}

/** EKFAC for a 2-D convolution (per-example gradients summed over locations). */
export class Conv2dEkfac extends Conv2dKronecker {
  override readonly name = 'Conv2dEkfac';
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

/** The conv2d row: parameters `weight` `[O, C, kh, kw]` and an optional `bias` `[O]`. */
export const conv2dRow: LayerRow<'conv2d'> = {
  layout: (scope, info, shapeOf) => weightBiasLayout('conv2d', scope, info.bias, 4, convGeometry(info), shapeOf),
  blocks: { kronecker: Conv2dKronecker, ekfac: Conv2dEkfac },
  squaredGradients(scope, info, a, g) {
    // Per-example filter gradients (one small GEMM each), squared and summed.
    const [kh, kw] = convGeometry(info);
    const n = a.shape[0];
    const O = g.shape[1];
    const C = a.shape[1];
    const geom = { stride: info.stride, padding: info.padding, dilation: info.dilation };
    const accW = allocate(g.dtype, O * C * kh * kw);
    const accB = allocate(g.dtype, O);
    const imgA = a.size / n;
    const imgG = g.size / n;
    const L = imgG / O;
    for (let i = 0; i < n; i++) {
      const ai = new Tensor(a.data.subarray(i * imgA, (i + 1) * imgA), [1, ...a.shape.slice(1)]);
      const gi = new Tensor(g.data.subarray(i * imgG, (i + 1) * imgG), [1, ...g.shape.slice(1)]);
      const dW = conv2dBackwardFilter(ai, gi, [O, C, kh, kw], geom);
      for (let k = 0; k < accW.length; k++) accW[k] += dW.data[k] * dW.data[k];
      for (let o = 0; o < O; o++) {
        let s = 0;
        for (let l = 0; l < L; l++) s += gi.data[o * L + l];
        accB[o] += s * s;
      }
    }
    const key = scopePrefix(scope);
    const out = new Map<string, Tensor>([[`${key}weight`, new Tensor(accW, [O, C, kh, kw])]]);
    if (info.bias) out.set(`${key}bias`, new Tensor(accB, [O]));
    return out;
  },
};

/**
 * The primitive operations that autodiff understands, their parameters, and their concrete
 * evaluation on plain tensors (through the tensor layer and its kernels). Every differentiable
 * op of the public API is one `bind` of a primitive here; the derivative rules live in
 * `jvp.ts` and `vjp.ts`, in tables typed over `PrimitiveName`, so a primitive without a rule
 * is a compile-time error.
 */
import type { BinaryOp, DType, FloatArray, UnaryGradOp, UnaryOp } from '../kernels/types.js';
import { Tensor, allocateUninit } from '../tensor/tensor.js';
import { kernels } from '../kernels/index.js';
import * as T from '../tensor/ops.js';
import * as S from '../tensor/shape-ops.js';
import { matmul as matmulConcrete } from '../tensor/matmul.js';
import * as C from '../tensor/conv.js';
import { unaryGrad } from '../tensor/fused.js';

type Pair2 = [number, number];
export interface ConvGeometry { stride: Pair2; padding: Pair2; dilation: Pair2 }
export interface PoolGeometry { kernel: Pair2; stride: Pair2; padding: Pair2 }

export interface PrimitiveParams {
  unary: { op: UnaryOp };
  /**
   * `g · op'(·)` by the fused kernel, inputs `[g, residual]` (the residual is the op's output for
   * tanh, sigmoid and exp, its input for softplus and relu): the reverse-mode and forward-mode
   * rules of those ops where an enclosing transformation differentiates the rule again (grad of
   * grad, jvp of grad, linearize). Linear in g; its own rules are in vjp.ts and jvp.ts.
   */
  unaryGrad: { op: UnaryGradOp };
  binary: { op: BinaryOp };
  sum: { axes: number[]; keepdims: boolean };
  max: { axes: number[]; keepdims: boolean };
  min: { axes: number[]; keepdims: boolean };
  logsumexp: { axes: number[]; keepdims: boolean };
  softmax: { axis: number };
  logSoftmax: { axis: number };
  reshape: { shape: number[] };
  transpose: { perm: number[] };
  broadcastTo: { shape: number[] };
  slice: { start: number[]; step: number[]; shape: number[] };
  sliceAdjoint: { inShape: number[]; start: number[]; step: number[] };
  concat: { axis: number };
  gather: { indices: number[]; indexShape: number[]; axis: number };
  gatherAdjoint: { indices: number[]; indexRank: number; axis: number; n: number };
  takeAlongAxis: { indices: number[]; axis: number };
  takeAlongAxisAdjoint: { indices: number[]; axis: number; n: number };
  where: Record<string, never>;
  cast: { dtype: DType };
  matmul: { transposeA: boolean; transposeB: boolean };
  conv2d: ConvGeometry;
  conv2dBackwardInput: ConvGeometry & { xShape: number[] };
  conv2dBackwardFilter: ConvGeometry & { wShape: number[] };
  poolGather: { indices: Int32Array; outShape: number[] };
  poolScatter: { indices: Int32Array; inShape: number[] };
  avgPool2d: PoolGeometry & { countIncludePad: boolean };
  avgPool2dBackward: PoolGeometry & { countIncludePad: boolean; inShape: number[] };
}

export type PrimitiveName = keyof PrimitiveParams;

/** Primitives whose output carries no derivative (comparisons are `binary` ops handled by op). */
export const NON_DIFFERENTIABLE_UNARY: ReadonlySet<UnaryOp> = new Set<UnaryOp>(['sign', 'step']);
export const NON_DIFFERENTIABLE_BINARY: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);

/**
 * Two plain matrices (shapes checked by the caller): one GEMM call, the same call the general
 * path makes for them, without its promotion and batch bookkeeping.
 */
function matmul2d(a: Tensor, b: Tensor, tA: boolean, tB: boolean): Tensor {
  const m = tA ? a.shape[1] : a.shape[0];
  const n = tB ? b.shape[0] : b.shape[1];
  const out = allocateUninit(a.dtype, m * n);
  matmul2dInto(a, b, tA, tB, out);
  return new Tensor(out, [m, n]);
}

/**
 * The GEMM of `matmul2d` into `out` (jit replays call it on buffers of their own):
 * `out = alpha·op(a)·op(b) + beta·out` (beta 0 overwrites without reading).
 */
export function matmul2dInto(a: Tensor, b: Tensor, tA: boolean, tB: boolean, out: FloatArray, alpha = 1, beta = 0): void {
  const m = tA ? a.shape[1] : a.shape[0];
  const k = tA ? a.shape[0] : a.shape[1];
  const n = tB ? b.shape[0] : b.shape[1];
  if (m * n > 0) kernels().gemm(tA, tB, m, n, k, alpha, a.data, a.shape[1], 0, b.data, b.shape[1], 0, beta, out, n, m * n, 1);
}

type Impl<K extends PrimitiveName> = (inputs: Tensor[], params: PrimitiveParams[K]) => Tensor;

export const IMPLS: { readonly [K in PrimitiveName]: Impl<K> } = {
  unary: ([x], p) => T.unaryOp(p.op, x),
  unaryGrad: ([g, r], p) => unaryGrad(p.op, r, g),
  binary: ([a, b], p) => T.binaryOp(p.op, a, b),
  sum: ([x], p) => T.sum(x, p.axes, p.keepdims),
  max: ([x], p) => T.max(x, p.axes, p.keepdims),
  min: ([x], p) => T.min(x, p.axes, p.keepdims),
  logsumexp: ([x], p) => T.logsumexp(x, p.axes, p.keepdims),
  softmax: ([x], p) => T.softmax(x, p.axis),
  logSoftmax: ([x], p) => T.logSoftmax(x, p.axis),
  reshape: ([x], p) => S.reshape(x, p.shape),
  transpose: ([x], p) => S.transpose(x, p.perm),
  broadcastTo: ([x], p) => S.broadcastTo(x, p.shape),
  slice: ([x], p) => S.slice(x, p.start, p.start.map((s, d) => s + p.shape[d] * p.step[d]), p.step),
  sliceAdjoint: ([y], p) => S.sliceAdjoint(y, p.inShape, p.start, p.step),
  concat: (xs, p) => S.concat(xs, p.axis),
  gather: ([x], p) => S.gather(x, p.indexShape.length === 1 ? p.indices : new Tensor(Float64Array.from(p.indices), p.indexShape), p.axis),
  gatherAdjoint: ([y], p) => S.gatherAdjoint(y, p.indices, p.axis, p.n, p.indexRank),
  takeAlongAxis: ([x], p) => S.takeAlongAxis(x, p.indices, p.axis),
  takeAlongAxisAdjoint: ([y], p) => S.takeAlongAxisAdjoint(y, p.indices, p.axis, p.n),
  where: ([c, a, b]) => S.where(c, a, b),
  cast: ([x], p) => x.astype(p.dtype),
  matmul: ([a, b], p) => (a.ndim === 2 && b.ndim === 2 ? matmul2d(a, b, p.transposeA, p.transposeB) : matmulConcrete(a, b, p)),
  conv2d: ([x, w], p) => C.conv2d(x, w, p),
  conv2dBackwardInput: ([gy, w], p) => C.conv2dBackwardInput(gy, w, p.xShape, p),
  conv2dBackwardFilter: ([x, gy], p) => C.conv2dBackwardFilter(x, gy, p.wShape, p),
  poolGather: ([x], p) => {
    const plane = x.shape[2] * x.shape[3];
    const L = p.outShape[2] * p.outShape[3];
    const out = new Tensor(x.dtype === 'float32' ? new Float32Array(p.indices.length) : new Float64Array(p.indices.length), p.outShape);
    for (let i = 0; i < p.indices.length; i++) {
      const idx = p.indices[i];
      out.data[i] = idx >= 0 ? x.data[Math.floor(i / L) * plane + idx] : 0;
    }
    return out;
  },
  poolScatter: ([gy], p) => C.maxPool2dBackward(gy, p.indices, p.inShape),
  avgPool2d: ([x], p) => C.avgPool2d(x, p.kernel, p),
  avgPool2dBackward: ([gy], p) => C.avgPool2dBackward(gy, p.inShape, p.kernel, p),
};

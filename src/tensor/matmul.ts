/**
 * Matrix products with NumPy semantics: 1-D operands are promoted (and the added axis removed),
 * leading batch dimensions broadcast, and `transposeA` / `transposeB` apply to the last two axes
 * without materializing the transpose.
 */
import { kernels } from '../kernels/index.js';
import { broadcastShapes } from './ops.js';
import { broadcastTo } from './shape-ops.js';
import { Tensor, allocateUninit, checkSameDType, describe, fmtShape, reshapeTensor, sameShape, shapeSize } from './tensor.js';

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  if (!(a instanceof Tensor)) throw new TypeError(`${op}: first operand must be a Tensor, got ${describe(a)}`);
  if (!(b instanceof Tensor)) throw new TypeError(`${op}: second operand must be a Tensor, got ${describe(b)}`);
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  checkSameDType(op, a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new RangeError(`${op}: operands must have at least 1 dimension, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const tA = options.transposeA === true;
  const tB = options.transposeB === true;
  const aVec = a.ndim === 1;
  const bVec = b.ndim === 1;
  // A 1-D operand is a row (left) or a column (right); transposing a vector is a no-op.
  const A = aVec ? reshapeTensor(a, [1, a.shape[0]]) : a;
  const B = bVec ? reshapeTensor(b, [b.shape[0], 1]) : b;
  const transA = tA && !aVec;
  const transB = tB && !bVec;
  const ar = A.shape[A.ndim - 2];
  const ac = A.shape[A.ndim - 1];
  const br = B.shape[B.ndim - 2];
  const bc = B.shape[B.ndim - 1];
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  if (k !== kb) {
    throw new RangeError(
      `${op}: inner dimensions differ: ${fmtShape(a.shape)}${transA ? '^T' : ''} @ ${fmtShape(b.shape)}${transB ? '^T' : ''} (${k} vs ${kb})`,
    );
  }
  const aBatch = A.shape.slice(0, -2);
  const bBatch = B.shape.slice(0, -2);
  const batchShape = broadcastShapes(op, aBatch, bBatch);
  const batch = shapeSize(batchShape);
  const prepare = (T: Tensor, tb: readonly number[], rows: number, cols: number): [Tensor, number] => {
    if (shapeSize(tb) === 1) return [T, 0];
    if (sameShape(tb, batchShape)) return [T, rows * cols];
    return [broadcastTo(T, [...batchShape, rows, cols]), rows * cols];
  };
  const [Ab, strideA] = prepare(A, aBatch, ar, ac);
  const [Bb, strideB] = prepare(B, bBatch, br, bc);
  // GEMM with beta = 0 overwrites every element without reading it.
  const out = allocateUninit(a.dtype, batch * m * n);
  if (out.length > 0) {
    kernels().gemm(transA, transB, m, n, k, 1, Ab.data, ac, strideA, Bb.data, bc, strideB, 0, out, n, m * n, batch);
  }
  const shape = [...batchShape, m, n];
  if (aVec) shape.splice(shape.length - 2, 1);
  if (bVec) shape.splice(shape.length - 1, 1);
  return new Tensor(out, shape);
}

/** Outer product of two vectors. */
export function outer(x: Tensor, y: Tensor): Tensor {
  if (!(x instanceof Tensor) || !(y instanceof Tensor) || x.ndim !== 1 || y.ndim !== 1) {
    throw new RangeError(`outer: expects two 1-D tensors, got ${describe(x)} and ${describe(y)}`);
  }
  return matmul(reshapeTensor(x, [x.size, 1]), reshapeTensor(y, [1, y.size]));
}

/**
 * The one kernel interface. Three implementations stand behind it:
 * `ts` (plain TypeScript, the reference), `wasm` (SIMD, portable) and `native`
 * (C++ over N-API, AVX-512/AVX2/scalar, a small thread pool).
 *
 * Conventions shared by every kernel:
 * - Arrays are dense typed arrays (`Float32Array` or `Float64Array`). A caller passes a
 *   `subarray` when it means a window of a larger buffer; kernels never take offsets.
 * - All inputs and outputs of one call share one dtype, except where noted
 *   (index arrays are `Int32Array`).
 * - Matrices are row-major. `ld*` is the leading dimension (elements between rows) of the
 *   matrix as stored, i.e. of `A` itself, not of `op(A)`.
 * - Kernels trust their arguments: validation (shapes, dtypes, finiteness) happens once, in
 *   the tensor layer, so that each kernel stays a tight loop. The native addon nonetheless
 *   checks array lengths against the sizes it is told, so no public input can make it read
 *   or write out of bounds.
 */

export type DType = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;
export type BackendName = 'native' | 'wasm' | 'ts';

/** Elementwise functions of one argument. `step` is the Heaviside step (1 where x > 0). */
export const UNARY_OPS = [
  'neg', 'abs', 'sign', 'step', 'exp', 'expm1', 'log', 'log1p', 'sqrt', 'rsqrt', 'square',
  'reciprocal', 'tanh', 'sigmoid', 'relu', 'softplus', 'sin', 'cos', 'erf',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/**
 * Fused derivative-times-cotangent kernels of the vjp rules. `v` is the op's output y for
 * `sigmoid` (g·y(1−y)), `tanh` (g·(1−y²)) and `exp` (g·y), its input x for `softplus`
 * (g·sigmoid(x)) and `relu` (g·[x > 0]).
 */
export const UNARY_GRAD_OPS = ['sigmoid', 'tanh', 'softplus', 'relu', 'exp'] as const;
export type UnaryGradOp = (typeof UNARY_GRAD_OPS)[number];

/** Elementwise functions of two arguments; comparisons return 1 or 0. */
export const BINARY_OPS = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'gt', 'ge', 'lt', 'le',
] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

/** Reductions over the middle axis of a `[outer, n, inner]` view. */
export const REDUCE_OPS = ['sum', 'max', 'min', 'argmax', 'argmin', 'logsumexp'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

export interface Kernels {
  readonly name: BackendName;
  /** Worker threads the large kernels may use (1 = the calling thread only). */
  readonly threads: number;
  /** Instruction set the hot loops use, e.g. `avx512`, `avx2`, `scalar`, `wasm-simd128`. */
  readonly simd: string;
  /** Set the number of threads (clamped to [1, cores]); no-op for single-threaded backends. */
  setThreads(n: number): void;

  /**
   * Batched GEMM: for each `p < batch`,
   * `C_p = alpha * op(A_p) * op(B_p) + beta * C_p`, with `op(X) = X` or `X^T`,
   * `op(A_p)` m×k, `op(B_p)` k×n, `C_p` m×n; `A_p` starts at `p * strideA` in `a`
   * (a stride of 0 broadcasts one matrix over the batch), likewise B and C.
   * When `beta == 0`, C is overwritten (NaN in C does not propagate).
   */
  gemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, a: FloatArray, lda: number, strideA: number,
    b: FloatArray, ldb: number, strideB: number,
    beta: number, c: FloatArray, ldc: number, strideC: number,
    batch: number,
  ): void;

  /** `out[i] = f(x[i])` for `i < out.length`; `x` and `out` may be the same array. */
  unary(op: UnaryOp, x: FloatArray, out: FloatArray): void;

  /**
   * `out[i] = f'(·)[i] * g[i]` in one pass (see `UNARY_GRAD_OPS` for which residual `v` is):
   * the same value as the composed rule up to rounding (each backend may round once instead
   * of per op, or fuse a multiply-add). `v`, `g` and `out` have equal lengths and may alias.
   */
  unaryGrad(op: UnaryGradOp, v: FloatArray, g: FloatArray, out: FloatArray): void;

  /**
   * Optional: a zero-filled ArrayBuffer of `bytes` bytes that is cheap to touch for the first
   * time (native: its own 2 MiB-aligned mapping advised to use huge pages), or null when the
   * backend has none or the mapping failed. The tensor layer's pool uses it for large buffers.
   */
  allocateLarge?(bytes: number): ArrayBuffer | null;

  /**
   * Optional, with allocateLarge: bytes in its mappings now, including those of buffers the
   * collector freed whose finalizer has not run yet (Node runs it from the event loop, so a
   * synchronous loop holds them all until it yields).
   */
  mappedBytes?(): number;

  /**
   * Optional: a zero-filled ArrayBuffer of `bytes` bytes that the garbage collector frees at once
   * (native: from V8's allocator, its whole 2 MiB pages advised to use huge pages), or null. The
   * tensor layer uses it for large buffers made outside every scope, which only the collector
   * frees.
   */
  allocateHeap?(bytes: number): ArrayBuffer | null;

  /**
   * Optional: return the C allocator's free pages to the system (native on glibc: malloc_trim);
   * false where nothing was done. The tensor pool calls it when it drops idle buffers.
   */
  releaseFreeMemory?(): boolean;

  /**
   * Optional (native): programs, a jit plan's kernel steps replayed by one call per run of
   * consecutive steps. `code` is a list of instructions, each `[opcode, f64 (0|1), fields…]`:
   * 1 unary `op x out n`; 2 binary `op a b out nd shape[nd] aStrides[nd] bStrides[nd]`;
   * 3 gemm `transA transB m n k a lda b ldb c` (alpha 1, beta 0, ldc n, batch 1);
   * 4 unaryGrad `op v g out n`; 5 reduce `op x outer n inner out zeroFirst`; 6 copyStrided
   * `x out nd shape[nd] strides[nd]` — ops as indices into UNARY_OPS, BINARY_OPS,
   * UNARY_GRAD_OPS, REDUCE_OPS, slots as indices below `slotLengths.length`. Each
   * instruction makes the same kernel call as the entry point of the same name, so results
   * are the same bits. The backend checks every extent against the slot lengths once, here.
   */
  programCreate?(code: Float64Array, slotLengths: Float64Array, slotF64: Uint8Array): unknown;
  /** Bind an array that stays the same across runs to a slot (checked: dtype, length); the program keeps it alive. */
  programBind?(program: unknown, slot: number, array: FloatArray): void;
  /** Run instructions [from, to) with `vars[i]` in slot `varSlots[i]` for this call only. */
  programRun?(program: unknown, from: number, to: number, vars: FloatArray[], varSlots: Int32Array): void;

  /**
   * Broadcasting binary op. `out` is contiguous with shape `shape`; element `idx` of `out`
   * reads `a[sum_d idx_d * aStrides[d]]` and `b[sum_d idx_d * bStrides[d]]`
   * (a stride of 0 broadcasts that axis). `out` may alias `a` or `b` when their strides
   * equal out's contiguous strides.
   */
  binary(
    op: BinaryOp, a: FloatArray, aStrides: readonly number[],
    b: FloatArray, bStrides: readonly number[], out: FloatArray, shape: readonly number[],
  ): void;

  /** `out = alpha * x + beta * y` elementwise (x, y, out of equal length; may alias). */
  axpby(alpha: number, x: FloatArray, beta: number, y: FloatArray, out: FloatArray): void;

  /** Sum of `x[i] * y[i]`, accumulated in float64. */
  dot(x: FloatArray, y: FloatArray): number;

  /**
   * Reduce `x`, viewed as `[outer, n, inner]`, over its middle axis into `out` (`[outer, inner]`).
   * `argmax`/`argmin` write the index (first on ties) as a number; `n` must be >= 1 for
   * max, min, argmax, argmin and logsumexp. NaN propagates through max/min/logsumexp.
   */
  reduce(op: ReduceOp, x: FloatArray, outer: number, n: number, inner: number, out: FloatArray): void;

  /** Softmax (or log-softmax) of `x` viewed as `[outer, n, inner]` along the middle axis. */
  softmax(x: FloatArray, outer: number, n: number, inner: number, out: FloatArray, log: boolean): void;

  /**
   * Strided gather into a contiguous array: `out[idx] = x[sum_d idx_d * strides[d]]` for every
   * multi-index `idx` of `shape` (transpose, permute, broadcast-materialize, slicing).
   */
  copyStrided(x: FloatArray, strides: readonly number[], shape: readonly number[], out: FloatArray): void;

  /**
   * im2col for one image, NCHW: `x` is `[C, H, W]`, `cols` is `[C*kh*kw, outH*outW]` with row
   * index `(c*kh + i)*kw + j`. Positions outside the (zero-)padded image read 0.
   */
  im2col(
    x: FloatArray, C: number, H: number, W: number, kh: number, kw: number,
    strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
    outH: number, outW: number, cols: FloatArray,
  ): void;

  /** Adjoint of im2col: ADDS the columns back into `x` (`[C, H, W]`), which the caller zeroes. */
  col2im(
    cols: FloatArray, C: number, H: number, W: number, kh: number, kw: number,
    strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
    outH: number, outW: number, x: FloatArray,
  ): void;

  /**
   * Max pooling over planes: `x` is `[planes, H, W]`, `out` `[planes, outH, outW]`; `argmax`
   * receives the flat index within the plane (H*W) of each maximum, or -1 when the window holds
   * only padding. Padding never wins (it is -infinity).
   */
  maxPool2d(
    x: FloatArray, planes: number, H: number, W: number, kh: number, kw: number,
    strideH: number, strideW: number, padH: number, padW: number,
    outH: number, outW: number, out: FloatArray, argmax: Int32Array,
  ): void;

  /** Average pooling; the divisor is kh*kw when `countIncludePad`, else the in-image count. */
  avgPool2d(
    x: FloatArray, planes: number, H: number, W: number, kh: number, kw: number,
    strideH: number, strideW: number, padH: number, padW: number,
    outH: number, outW: number, countIncludePad: boolean, out: FloatArray,
  ): void;

  /** Adjoint of avgPool2d: ADDS into `gx` (`[planes, H, W]`). */
  avgPool2dBackward(
    gy: FloatArray, planes: number, H: number, W: number, kh: number, kw: number,
    strideH: number, strideW: number, padH: number, padW: number,
    outH: number, outW: number, countIncludePad: boolean, gx: FloatArray,
  ): void;

  /**
   * Cholesky factor of the symmetric positive-definite n×n matrix `a` (lower triangle read):
   * writes lower-triangular `l` (upper part zeroed). Returns false, leaving `l` unspecified,
   * when a pivot is not positive and finite.
   */
  cholesky(n: number, a: FloatArray, l: FloatArray): boolean;

  /**
   * Solve `op(T) X = B` for X, T n×n triangular (`lower` or upper; `op` = transpose when
   * `transpose`; unit diagonal assumed when `unitDiagonal`), B n×m; X written to `x`
   * (may alias `b`).
   */
  solveTriangular(
    n: number, m: number, t: FloatArray, b: FloatArray, x: FloatArray,
    lower: boolean, transpose: boolean, unitDiagonal: boolean,
  ): void;

  /**
   * Symmetric eigendecomposition of n×n `a` (both triangles read as their average): ascending
   * eigenvalues into `w` (length n), orthonormal eigenvectors as the COLUMNS of `v` (n×n),
   * as NumPy's eigh. Computed in float64 whatever the dtype; must stay finite and orthonormal
   * for clustered, repeated and zero eigenvalues.
   */
  eigh(n: number, a: FloatArray, w: FloatArray, v: FloatArray): void;
}

/**
 * The `wasm` backend: WebAssembly SIMD128 kernels compiled from `src/kernels/wasm/assembly`
 * (AssemblyScript) to `build/wasm/kernels.wasm` by `scripts/build-wasm.mjs`. Portable: it runs
 * in any Node.js or browser with wasm SIMD, on one thread.
 *
 * Data lives in JS typed arrays. A call copies its inputs into the module's linear memory (one
 * scratch region above the module's static data, grown on demand and reused by every call, so
 * memory stays at the high-water mark of the largest call), runs, and copies the output back.
 * That copy is O(n^2) against O(n^3) work for GEMM, and is a memcpy against a scalar JS loop
 * for im2col/col2im and dot, so those run in wasm:
 *   gemm (f32x4 / f64x2 register-blocked, packed, cache-blocked; an unpacked matrix-vector
 *   path when m == 1 or n == 1), im2col, col2im, and dot for n >= 64 (below that the JS loop
 *   is as fast as the copy). f32 GEMM accumulates in f32 (the ts reference in f64).
 *   Measured on the project's Zen 5 machine, one thread, copies included: f32 GEMM ~48-50
 *   GFLOP/s, f64 ~24 at n = 256..1024; im2col/col2im 4-10x and dot 2-6x faster than ts.
 * Every other kernel (elementwise, reductions, softmax, strided copies, pooling, linear
 * algebra) delegates to `tsKernels`: for O(n) work the copy in and out would cost as much as
 * the operation itself, and the dense linear algebra is not hot enough to matter.
 *
 * A call whose operands do not fit in 4 GiB of wasm32 memory falls back to `tsKernels`.
 *
 * No static `node:` import, so this module also loads in a browser; `loadWasmKernels` reads the
 * file through `process.getBuiltinModule('node:fs')` (Node.js >= 20.16).
 */
import type { FloatArray, Kernels } from './types.js';
import { tsKernels } from './ts-backend.js';

/** The ABI version `src/kernels/wasm/assembly/index.ts` reports; a mismatch means a stale build. */
const ABI_VERSION = 1;
const PAGE = 65536;

/** What a `BufferSource` is; spelled out because the project's `lib` has no DOM/WebAssembly types. */
export type WasmBytes = ArrayBuffer | ArrayBufferView;

/** The slice of the WebAssembly JS API this module uses (typed here for the same reason). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}
interface WasmApi {
  Module: new (bytes: WasmBytes) => object;
  Instance: new (module: object, imports: object) => { readonly exports: object };
  validate(bytes: WasmBytes): boolean;
}
const wasmApi = (): WasmApi | undefined => (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

interface WasmExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  abiVersion(): number;
  gemmScratchBytes(m: number, n: number, k: number, esize: number): number;
  gemm_f32: GemmFn;
  gemm_f64: GemmFn;
  im2col_f32: ConvFn;
  im2col_f64: ConvFn;
  col2im_f32: ConvFn;
  col2im_f64: ConvFn;
  dot_f32(x: number, y: number, n: number): number;
  dot_f64(x: number, y: number, n: number): number;
}

type GemmFn = (
  tA: number, tB: number, m: number, n: number, k: number, alpha: number,
  a: number, lda: number, strideA: number, b: number, ldb: number, strideB: number,
  beta: number, c: number, ldc: number, strideC: number, batch: number, scratch: number,
) => void;

type ConvFn = (
  src: number, C: number, H: number, W: number, kh: number, kw: number,
  strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
  outH: number, outW: number, dst: number,
) => void;

const REQUIRED_EXPORTS = [
  'heapBase', 'abiVersion', 'gemmScratchBytes', 'gemm_f32', 'gemm_f64', 'im2col_f32',
  'im2col_f64', 'col2im_f32', 'col2im_f64', 'dot_f32', 'dot_f64',
] as const;

/** Below this length the JS loop beats the copy into wasm memory for `dot`. */
const DOT_WASM_MIN = 64;

const align64 = (x: number): number => Math.ceil(x / 64) * 64;

/** Build the backend from the bytes of `kernels.wasm` (e.g. fetched in a browser). Throws when
 * the bytes do not compile (wasm SIMD unsupported) or are not this version's module. */
export function createWasmKernels(bytes: WasmBytes): Kernels {
  const api = wasmApi();
  if (api === undefined) throw new Error('WebAssembly is not available in this runtime');
  const module = new api.Module(bytes);
  const instance = new api.Instance(module, {
    env: { abort: () => { throw new Error('hessian wasm kernels: abort'); } },
  });
  const ex = instance.exports as unknown as WasmExports;
  for (const name of REQUIRED_EXPORTS) {
    if (typeof ex[name] !== 'function') throw new Error(`kernels.wasm lacks export '${name}' (stale build?)`);
  }
  if (typeof ex.memory?.grow !== 'function') throw new Error('kernels.wasm does not export its memory');
  const abi = ex.abiVersion();
  if (abi !== ABI_VERSION) throw new Error(`kernels.wasm has ABI version ${abi}, expected ${ABI_VERSION} (stale build?)`);
  const kernels = makeKernels(ex);
  memories.set(kernels, ex.memory);
  return kernels;
}

const memories = new WeakMap<Kernels, WasmMemory>();

/** Bytes of linear memory a wasm backend instance holds (for tests and diagnostics). */
export function wasmMemoryBytes(kernels: Kernels): number | undefined {
  return memories.get(kernels)?.buffer.byteLength;
}

function makeKernels(ex: WasmExports): Kernels {
  const memory = ex.memory;
  const base = ex.heapBase();
  let buffer = memory.buffer;
  let f32 = new Float32Array(buffer);
  let f64 = new Float64Array(buffer);

  /** Make the linear memory at least `end` bytes; false when it cannot grow that far. */
  function ensure(end: number): boolean {
    if (end > memory.buffer.byteLength) {
      if (end > 4 * 1024 * 1024 * 1024) return false;
      try {
        memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
      } catch {
        return false;
      }
    }
    if (memory.buffer !== buffer) {
      buffer = memory.buffer;
      f32 = new Float32Array(buffer);
      f64 = new Float64Array(buffer);
    }
    return true;
  }

  /** Copy `src[0, len)` to byte offset `off`. */
  function put(src: FloatArray, off: number, len: number): void {
    if (len <= 0) return;
    const part = len === src.length ? src : src.subarray(0, len);
    if (src instanceof Float64Array) f64.set(part, off / 8);
    else f32.set(part, off / 4);
  }

  /** Copy `len` elements at byte offset `off` into `dst[0, len)`. */
  function get(dst: FloatArray, off: number, len: number): void {
    if (len <= 0) return;
    if (dst instanceof Float64Array) dst.set(f64.subarray(off / 8, off / 8 + len));
    else dst.set(f32.subarray(off / 4, off / 4 + len));
  }

  const gemm: Kernels['gemm'] = (
    transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch,
  ) => {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    const is64 = c instanceof Float64Array;
    const es = is64 ? 8 : 4;
    // Elements of each operand the call touches (as stored, with ld* and batch strides).
    const lenA = k <= 0 ? 0 : Math.min(a.length, (batch - 1) * strideA + (transA ? (k - 1) * lda + m : (m - 1) * lda + k));
    const lenB = k <= 0 ? 0 : Math.min(b.length, (batch - 1) * strideB + (transB ? (n - 1) * ldb + k : (k - 1) * ldb + n));
    const lenC = Math.min(c.length, (batch - 1) * strideC + (m - 1) * ldc + n);
    const sameAB = a === b;
    const offA = base;
    const offB = sameAB ? offA : align64(offA + lenA * es);
    const offC = align64(sameAB ? offA + Math.max(lenA, lenB) * es : offB + lenB * es);
    const offS = align64(offC + lenC * es);
    const end = offS + ex.gemmScratchBytes(m, n, Math.max(k, 0), es);
    if (!ensure(end)) {
      tsKernels.gemm(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);
      return;
    }
    if (sameAB) put(a, offA, Math.max(lenA, lenB));
    else {
      put(a, offA, lenA);
      put(b, offB, lenB);
    }
    // With beta == 0 and C dense, C need not be read: every element is overwritten. Otherwise
    // copy it in, so that the gaps between rows / matrices come back unchanged.
    const cDense = ldc === n && (batch === 1 || strideC === m * n);
    if (!(beta === 0 && cDense)) put(c, offC, lenC);
    (is64 ? ex.gemm_f64 : ex.gemm_f32)(
      transA ? 1 : 0, transB ? 1 : 0, m, n, Math.max(k, 0), alpha,
      offA, lda, strideA, offB, ldb, strideB, beta, offC, ldc, strideC, batch, offS,
    );
    get(c, offC, lenC);
  };

  const im2col: Kernels['im2col'] = (
    x, C, H, W, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW, cols,
  ) => {
    const lenX = C * H * W;
    const lenCols = C * kh * kw * outH * outW;
    if (lenCols <= 0) return;
    const es = cols instanceof Float64Array ? 8 : 4;
    const offX = base;
    const offCols = align64(offX + lenX * es);
    if (!ensure(offCols + lenCols * es)) {
      tsKernels.im2col(x, C, H, W, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW, cols);
      return;
    }
    put(x, offX, lenX);
    (es === 8 ? ex.im2col_f64 : ex.im2col_f32)(
      offX, C, H, W, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW, offCols,
    );
    get(cols, offCols, lenCols);
  };

  const col2im: Kernels['col2im'] = (
    cols, C, H, W, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW, x,
  ) => {
    const lenX = C * H * W;
    const lenCols = C * kh * kw * outH * outW;
    if (lenCols <= 0 || lenX <= 0) return;
    const es = x instanceof Float64Array ? 8 : 4;
    const offX = base;
    const offCols = align64(offX + lenX * es);
    if (!ensure(offCols + lenCols * es)) {
      tsKernels.col2im(cols, C, H, W, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW, x);
      return;
    }
    put(x, offX, lenX);
    put(cols, offCols, lenCols);
    (es === 8 ? ex.col2im_f64 : ex.col2im_f32)(
      offCols, C, H, W, kh, kw, strideH, strideW, padH, padW, dilH, dilW, outH, outW, offX,
    );
    get(x, offX, lenX);
  };

  const dot: Kernels['dot'] = (x, y) => {
    const n = x.length;
    if (n < DOT_WASM_MIN) return tsKernels.dot(x, y);
    const es = x instanceof Float64Array ? 8 : 4;
    const offX = base;
    const offY = align64(offX + n * es);
    if (!ensure(offY + n * es)) return tsKernels.dot(x, y);
    put(x, offX, n);
    put(y, offY, n);
    return (es === 8 ? ex.dot_f64 : ex.dot_f32)(offX, offY, n);
  };

  return {
    name: 'wasm',
    threads: 1,
    simd: 'wasm-simd128',
    setThreads: () => undefined,
    gemm,
    im2col,
    col2im,
    dot,
    // O(n) kernels and dense linear algebra: the TypeScript reference (see the header).
    unary: tsKernels.unary,
    unaryGrad: tsKernels.unaryGrad,
    binary: tsKernels.binary,
    axpby: tsKernels.axpby,
    reduce: tsKernels.reduce,
    softmax: tsKernels.softmax,
    copyStrided: tsKernels.copyStrided,
    maxPool2d: tsKernels.maxPool2d,
    avgPool2d: tsKernels.avgPool2d,
    avgPool2dBackward: tsKernels.avgPool2dBackward,
    cholesky: tsKernels.cholesky,
    solveTriangular: tsKernels.solveTriangular,
    eigh: tsKernels.eigh,
  };
}

let loadError: string | undefined;

/** Why `loadWasmKernels()` returned null (undefined when it did not, or was not called). */
export function wasmLoadError(): string | undefined {
  return loadError;
}

interface NodeFs {
  readFileSync(path: URL): Uint8Array;
  existsSync(path: URL): boolean;
}

/** `node:fs` without a static import, so that this module also loads in a browser. */
function nodeFs(): NodeFs | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const fs = proc?.getBuiltinModule?.('node:fs') as NodeFs | undefined;
  return fs;
}

/** The location of the compiled module: `<package root>/build/wasm/kernels.wasm` (this file is
 * `dist/kernels/wasm-backend.js`, or `src/kernels/wasm-backend.ts` when run from source). */
export function wasmModuleUrl(): URL {
  return new URL('../../build/wasm/kernels.wasm', import.meta.url);
}

/**
 * Load the backend synchronously in Node.js from `build/wasm/kernels.wasm`. Returns null, with
 * the reason in `wasmLoadError()`, when the file is missing, wasm SIMD is unsupported, or this
 * is not Node.js (in a browser, fetch the bytes and call `createWasmKernels`).
 */
export function loadWasmKernels(): Kernels | null {
  loadError = undefined;
  if (wasmApi() === undefined) {
    loadError = 'WebAssembly is not available in this runtime';
    return null;
  }
  const fs = nodeFs();
  if (fs === undefined) {
    loadError = 'cannot read build/wasm/kernels.wasm synchronously here (needs Node.js >= 20.16); '
      + 'fetch it and call createWasmKernels(bytes)';
    return null;
  }
  const url = wasmModuleUrl();
  if (!fs.existsSync(url)) {
    loadError = `${url.pathname} is missing; build it with 'npm run build:wasm'`;
    return null;
  }
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(url);
  } catch (e) {
    loadError = `cannot read ${url.pathname}: ${(e as Error).message}`;
    return null;
  }
  try {
    return createWasmKernels(bytes);
  } catch (e) {
    const simd = simdSupported();
    loadError = simd
      ? `cannot instantiate ${url.pathname}: ${(e as Error).message}`
      : 'this WebAssembly engine does not support SIMD128';
    return null;
  }
}

/** Whether the engine validates a module using a v128 instruction. */
export function simdSupported(): boolean {
  // (module (func (result v128) i32.const 0 i32x4.splat))
  const probe = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
    0x03, 0x02, 0x01, 0x00, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x11, 0x0b,
  ]);
  try {
    return wasmApi()?.validate(probe) ?? false;
  } catch {
    return false;
  }
}

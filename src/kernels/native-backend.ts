/**
 * The `native` backend: C++ kernels over N-API, built at install by `scripts/build-native.mjs`
 * into `build/native/hessian.node` (see `src/kernels/native/`).
 *
 * Natively: gemm (BLIS-style packed AVX-512 / AVX2 / scalar micro-kernels chosen at load time
 * for the CPU, a persistent thread pool), unary (exp, expm1, log, log1p, tanh, sigmoid, softplus
 * vectorized per instruction set, see native/vmath_impl.h), unaryGrad, binary, axpby, dot, reduce, softmax,
 * copyStrided, im2col, col2im, and dense linear algebra (cholesky, solveTriangular, eigh: a
 * C++ port of `ts/linalg.ts`, float64 internally, same semantics) — float32 and float64.
 * Pooling delegates to `tsKernels`. The addon validates every call itself (argument count and
 * types, one dtype per call, array lengths against the sizes, strides and leading dimensions
 * it is told), and throws a TypeError/RangeError naming the kernel rather than touching memory
 * out of bounds.
 *
 * No static `node:` import, so that this module (and the kernel index that imports it) also
 * loads in a browser bundle, where the backend is simply unavailable: the Node.js modules are
 * taken from `process.getBuiltinModule` (Node.js >= 20.16) on first use.
 */
import type { Kernels } from './types.js';
import { tsKernels } from './ts-backend.js';

/** The ABI version `src/kernels/native/addon.cc` reports; a mismatch means a stale build. */
const ABI_VERSION = 3;

/** The addon's exports (argument order as in `Kernels`, ops by name). */
export interface NativeAddon {
  readonly abiVersion: number;
  gemm: Kernels['gemm'];
  unary: Kernels['unary'];
  unaryGrad: Kernels['unaryGrad'];
  binary: Kernels['binary'];
  axpby: Kernels['axpby'];
  dot: Kernels['dot'];
  reduce: Kernels['reduce'];
  softmax: Kernels['softmax'];
  copyStrided: Kernels['copyStrided'];
  im2col: Kernels['im2col'];
  col2im: Kernels['col2im'];
  cholesky: Kernels['cholesky'];
  solveTriangular: Kernels['solveTriangular'];
  eigh: Kernels['eigh'];
  /** `eigh` by cyclic Jacobi only (the QL fallback), for tests. */
  eighJacobi: Kernels['eigh'];
  /** `eigh` by Householder tridiagonalization and implicit QL (no divide and conquer), for tests. */
  eighQl: Kernels['eigh'];
  /** Divide-and-conquer merges `eigh` has performed since the addon was loaded (tests pin the path). */
  eighMerges(): number;
  setThreads(n: number): void;
  getThreads(): number;
  maxThreads(): number;
  simd(): string;
  /** Force the GEMM instruction set ('avx512' | 'avx2' | 'scalar' | 'auto'); false if unavailable. */
  selectIsa(name: string): boolean;
  /** Instruction set of the vectorized exp/log/tanh/... kernels ('scalar' = the libm loops). */
  elementwiseIsa(): string;
  /** Force it ('avx512' | 'avx2' | 'scalar' | 'auto'); false if unavailable. */
  selectElementwiseIsa(name: string): boolean;
  /** The op in x87 long double, rounded once: the oracle of the accuracy tests. */
  unaryReference: Kernels['unary'];
  /** A zero-filled, huge-page-advised ArrayBuffer of `bytes` bytes (null if mapping failed). */
  allocateLarge(bytes: number): ArrayBuffer | null;
  /** Bytes in allocateLarge's mappings now, freed buffers whose finalizer waits included (optional: older builds lack it). */
  mappedBytes?(): number;
  /** A zero-filled ArrayBuffer from V8's allocator, its whole 2 MiB pages advised to use huge pages (optional: older builds lack it). */
  allocateHeap?(bytes: number): ArrayBuffer | null;
  /** Return the C heap's free pages to the system (optional: older builds lack it). */
  releaseFreeMemory?(): boolean;
  /**
   * Whether loading the addon fixed glibc's mmap and trim thresholds (32 and 64 MiB; see
   * `TuneMalloc` in addon.cc): false off glibc or where the process set its own
   * (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES).
   */
  readonly mallocTuned?: boolean;
  /** jit programs (optional: older builds lack them; see `Kernels.programCreate`). */
  programCreate?: Kernels['programCreate'];
  programBind?: Kernels['programBind'];
  programRun?: Kernels['programRun'];
}

const REQUIRED = [
  'gemm', 'unary', 'unaryGrad', 'binary', 'axpby', 'dot', 'reduce', 'softmax', 'copyStrided', 'im2col', 'col2im',
  'cholesky', 'solveTriangular', 'eigh', 'eighJacobi', 'eighQl', 'eighMerges', 'setThreads', 'getThreads', 'maxThreads', 'simd', 'selectIsa',
  'elementwiseIsa', 'selectElementwiseIsa', 'unaryReference', 'allocateLarge',
] as const;

interface NodeModules {
  fs: typeof import('node:fs');
  path: typeof import('node:path');
  url: typeof import('node:url');
  module: typeof import('node:module');
}

/** The Node.js built-ins this module needs, or undefined outside Node.js (a browser). */
function nodeModules(): NodeModules | undefined {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof get !== 'function') return undefined;
  return {
    fs: get('node:fs') as NodeModules['fs'],
    path: get('node:path') as NodeModules['path'],
    url: get('node:url') as NodeModules['url'],
    module: get('node:module') as NodeModules['module'],
  };
}

function requireNode(): NodeModules {
  const m = nodeModules();
  if (m === undefined) throw new Error('the native backend needs Node.js >= 20.16');
  return m;
}

/** `<package root>/build/native/hessian.node`; this module is `<root>/dist/kernels/native-backend.js`. */
export function nativeAddonPath(): string {
  const { path, url } = requireNode();
  const here = path.dirname(url.fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'build', 'native', 'hessian.node');
}

let addon: NativeAddon | null | undefined;
let kernels: Kernels | null = null;
let loadError: string | undefined;
/** Set when the addon file exists but does not load: a stale or broken build, worth a warning. */
let staleBuild = false;

/** The raw addon (for tests and benchmarks), or null when it is not built or fails to load. */
export function loadNativeAddon(): NativeAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  const node = nodeModules();
  if (node === undefined) {
    loadError = 'not running in Node.js >= 20.16 (native addons load only there)';
    return null;
  }
  const file = nativeAddonPath();
  if (!node.fs.existsSync(file)) {
    loadError = `${file} is not built (run \`npm run build:native\`)`;
    return null;
  }
  try {
    const mod = node.module.createRequire(import.meta.url)(file) as Partial<NativeAddon>;
    const missing = REQUIRED.filter((name) => typeof mod[name] !== 'function');
    if (missing.length > 0) throw new Error(`it lacks ${missing.join(', ')} (stale build?)`);
    if (mod.abiVersion !== ABI_VERSION) {
      throw new Error(`it has ABI version ${String(mod.abiVersion)}, expected ${ABI_VERSION} (stale build?)`);
    }
    addon = mod as NativeAddon;
  } catch (e) {
    loadError = `cannot load ${file}: ${e instanceof Error ? e.message : String(e)}`;
    staleBuild = true;
  }
  return addon;
}

/** True when the native addon is built but fails to load (wrong ABI, missing symbols, corrupt file). */
export function nativeBuildIsStale(): boolean {
  loadNativeAddon();
  return staleBuild;
}

/** Why the native backend is unavailable (undefined when it loaded, or was not tried yet). */
export function nativeLoadError(): string | undefined {
  return loadError;
}

/** The native backend, or null when the addon is missing or fails to load (see `nativeLoadError`). */
export function loadNativeKernels(): Kernels | null {
  if (kernels !== null) return kernels;
  const a = loadNativeAddon();
  if (a === null) return null;
  kernels = {
    name: 'native',
    get threads(): number {
      return a.getThreads();
    },
    get simd(): string {
      return a.simd();
    },
    setThreads: (n) => a.setThreads(n),
    gemm: a.gemm,
    unary: a.unary,
    unaryGrad: a.unaryGrad,
    binary: a.binary,
    axpby: a.axpby,
    dot: a.dot,
    reduce: a.reduce,
    softmax: a.softmax,
    copyStrided: a.copyStrided,
    im2col: a.im2col,
    col2im: a.col2im,
    maxPool2d: tsKernels.maxPool2d,
    avgPool2d: tsKernels.avgPool2d,
    avgPool2dBackward: tsKernels.avgPool2dBackward,
    cholesky: a.cholesky,
    solveTriangular: a.solveTriangular,
    eigh: a.eigh,
    allocateLarge: a.allocateLarge,
    mappedBytes: a.mappedBytes,
    allocateHeap: a.allocateHeap,
    releaseFreeMemory: a.releaseFreeMemory,
    programCreate: a.programCreate,
    programBind: a.programBind,
    programRun: a.programRun,
  };
  return kernels;
}

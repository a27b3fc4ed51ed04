/**
 * Backend selection. The first call to `kernels()` picks, in order, `native` (C++ addon built at
 * install), `wasm` (SIMD module built from source in the repo) and `ts` (reference), unless the
 * environment variable `HESSIAN_BACKEND=native|wasm|ts` or `setBackend()` says otherwise.
 * Asking for a backend that cannot load is an error, never a silent fallback.
 */
import type { BackendName, Kernels } from './types.js';
import { tsKernels } from './ts-backend.js';
import { loadNativeKernels, nativeBuildIsStale, nativeLoadError } from './native-backend.js';
import { loadWasmKernels, wasmLoadError } from './wasm-backend.js';

export type { BackendName, BinaryOp, DType, FloatArray, Kernels, ReduceOp, UnaryGradOp, UnaryOp } from './types.js';
export { tsKernels } from './ts-backend.js';

const BACKENDS: readonly BackendName[] = ['native', 'wasm', 'ts'];
let current: Kernels | undefined;
const loaded = new Map<BackendName, Kernels | null>();

function tryLoad(name: BackendName): Kernels | null {
  if (!loaded.has(name)) {
    const k = name === 'native' ? loadNativeKernels() : name === 'wasm' ? loadWasmKernels() : tsKernels;
    loaded.set(name, k);
  }
  return loaded.get(name) ?? null;
}

function loadError(name: BackendName): string {
  if (name === 'native') return nativeLoadError() ?? 'unknown reason';
  if (name === 'wasm') return wasmLoadError() ?? 'unknown reason';
  return 'unknown reason';
}

/** The backend by name, or an Error saying why it is unavailable. */
export function backend(name: BackendName): Kernels {
  if (!BACKENDS.includes(name)) {
    throw new Error(`unknown kernel backend '${String(name)}'; expected one of ${BACKENDS.join(', ')}`);
  }
  const k = tryLoad(name);
  if (k === null) throw new Error(`kernel backend '${name}' is unavailable: ${loadError(name)}`);
  return k;
}

/** Backends that load on this machine, best first. */
export function availableBackends(): BackendName[] {
  return BACKENDS.filter((b) => tryLoad(b) !== null);
}

/** The active kernels (chosen on first use). */
export function kernels(): Kernels {
  if (current === undefined) {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.HESSIAN_BACKEND;
    if (env !== undefined && env !== '') {
      try {
        current = backend(env as BackendName);
      } catch (e) {
        // Name the variable: the user never called a function with this value.
        throw new Error(`HESSIAN_BACKEND=${env}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    } else {
      current = tryLoad('native') ?? tryLoad('wasm') ?? tsKernels;
      // A build that exists but does not load (a stale ABI after an update) must not go unnoticed.
      if (current.name !== 'native' && nativeBuildIsStale()) {
        console.warn(`hessian: native kernels not loaded (${nativeLoadError() ?? 'unknown reason'}); using ${current.name}. Rebuild them with \`npm run build:native\`.`);
      }
    }
  }
  return current;
}

/**
 * Make `k` the backend loaded under its name and the active one: for kernels built outside
 * the automatic loaders, e.g. `createWasmKernels(bytes)` on bytes fetched in a browser, where
 * `build/wasm/kernels.wasm` cannot be read synchronously. Returns the previous one's name.
 */
export function useKernels(k: Kernels): BackendName {
  if (!BACKENDS.includes(k?.name)) throw new Error(`useKernels: expects a Kernels object named one of ${BACKENDS.join(', ')}`);
  const prev = current?.name ?? k.name;
  loaded.set(k.name, k);
  current = k;
  return prev;
}

/** Switch the active backend; returns the previous one's name. */
export function setBackend(name: BackendName): BackendName {
  const prev = kernels().name;
  current = backend(name);
  return prev;
}

/** Run `fn` with `name` active, restoring the previous backend afterwards (for tests). */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = kernels();
  current = backend(name);
  try {
    return fn();
  } finally {
    current = prev;
  }
}

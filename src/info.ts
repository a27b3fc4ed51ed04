import { readFileSync } from 'node:fs';
import { availableBackends, kernels } from './kernels/index.js';
import type { BackendName } from './kernels/types.js';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const VERSION: string = readVersion();

export interface Info {
  version: string;
  backend: BackendName;
  available: BackendName[];
  threads: number;
  simd: string;
  node: string;
}

/** What this installation runs on: version, active backend, threads, SIMD level. */
export function info(): Info {
  const k = kernels();
  return {
    version: VERSION,
    backend: k.name,
    available: availableBackends(),
    threads: k.threads,
    simd: k.simd,
    node: process.version,
  };
}

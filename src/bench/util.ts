/**
 * Shared pieces of the benchmarks: robust timing and the PyTorch peer (Debian's python3-torch,
 * run by /usr/bin/python3), which is optional and skipped cleanly when absent.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Median wall-clock milliseconds of `repeats` calls after `warmup` calls. */
export function medianMs(fn: () => unknown, repeats = 7, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

const PYTHON = '/usr/bin/python3';

/** Why the PyTorch peer cannot run here, or undefined when it can. */
export function torchUnavailable(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'python3-torch is not installed (apt-get install python3-torch)';
}

/**
 * Run a peer script from src/bench/peers/ and parse the JSON it prints last. OpenBLAS's
 * conservative core-type override of this machine is removed for the peer alone, so PyTorch
 * uses its best GEMM kernels (never done in tests or CI).
 */
export function runPeer(script: string, args: readonly (string | number)[]): Record<string, unknown> {
  const path = fileURLToPath(new URL(`../../src/bench/peers/${script}`, import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(PYTHON, [path, ...args.map(String)], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`peer ${script} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

/** A fixed-width table for the terminal. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = header.map((_, j) => Math.max(...cells.map((r) => r[j].length)));
  return cells.map((r, i) => {
    const line = r.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ');
    return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
  }).join('\n');
}

export function fmt(x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** A reading of this process's CPU time (all threads) and the wall clock, in ms. */
export interface Clock { cpu: number; wall: number }

export function now(): Clock {
  const u = process.cpuUsage();
  return { cpu: (u.user + u.system) / 1000, wall: performance.now() };
}

/** Accumulated CPU and wall milliseconds per named part (the benchmarks' --profile tables). */
export class Parts {
  readonly cpu = new Map<string, number>();
  readonly wall = new Map<string, number>();
  readonly calls = new Map<string, number>();

  time<T>(part: string, f: () => T): T {
    const t0 = now();
    try {
      return f();
    } finally {
      this.add(part, t0);
    }
  }

  /** Count the time since `t0` under `part`. */
  add(part: string, t0: Clock): void {
    const t1 = now();
    this.cpu.set(part, (this.cpu.get(part) ?? 0) + t1.cpu - t0.cpu);
    this.wall.set(part, (this.wall.get(part) ?? 0) + t1.wall - t0.wall);
    this.calls.set(part, (this.calls.get(part) ?? 0) + 1);
  }
}

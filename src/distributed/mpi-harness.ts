/**
 * Test harness for code that runs on several MPI ranks: `runUnderMpirun(file, ranks)` starts
 * `mpirun -np K` on a compiled test file (which then runs its worker part, see `isMpiWorker`)
 * and returns what the ranks printed. `mpirunCommand()` is null, with the reason, where Open MPI
 * or the binding is missing, so MPI tests skip cleanly.
 */
import { spawnSync } from 'node:child_process';
import { mpiUnavailableReason, underMpirun } from './communicator.js';

/** mpirun's flags for this machine: loopback oversubscription, and root where CI runs as root. */
export function mpirunFlags(ranks: number): string[] {
  const flags = ['-np', String(ranks), '--oversubscribe'];
  if (typeof process.getuid === 'function' && process.getuid() === 0) flags.push('--allow-run-as-root');
  return flags;
}

/** The mpirun executable, or a reason why MPI tests cannot run here. */
export function mpirunCommand(): { command: string } | { skip: string } {
  const probe = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { skip: 'mpirun not found (install openmpi-bin and libopenmpi-dev)' };
  const reason = mpiUnavailableReason();
  if (reason !== undefined) return { skip: reason };
  return { command: 'mpirun' };
}

/** True inside a process that `mpirun` started (a test file's worker part). */
export function isMpiWorker(): boolean {
  return underMpirun();
}

export interface MpiRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs `node file args` on `ranks` ranks; env adds to the environment. */
export function runUnderMpirun(file: string, ranks: number, args: string[] = [], env: Record<string, string> = {}, timeoutMs = 120_000): MpiRun {
  const t0 = Date.now();
  const r = spawnSync('mpirun', [...mpirunFlags(ranks), process.execPath, file, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    // Shared-memory single copy needs ptrace rights that containers often lack; TCP loopback
    // and shared memory without it work everywhere.
    env: { ...process.env, OMPI_MCA_btl_vader_single_copy_mechanism: 'none', ...env },
    maxBuffer: 1 << 26,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', seconds: (Date.now() - t0) / 1000 };
}

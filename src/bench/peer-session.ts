/**
 * A PyTorch peer kept running across rounds, so that ours and PyTorch's measurements can be
 * interleaved (ours, PyTorch, ours, ...) and machine noise hits both alike. Talks to
 * src/bench/peers/torch-session.py, one JSON line per command.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { torchUnavailable } from './util.js';

export class PeerSession {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly rl: Interface, readonly version: string, lines: AsyncIterator<string>) {
    this.lines = lines;
  }

  /** Start the peer, or return why it cannot run here. */
  static async start(threads: number): Promise<PeerSession | string> {
    const why = torchUnavailable();
    if (why !== undefined) return why;
    const path = fileURLToPath(new URL('../../src/bench/peers/torch-session.py', import.meta.url));
    const env: NodeJS.ProcessEnv = { ...process.env };
    // this machine's OpenBLAS override halves its GEMM; the peer gets its best kernels
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    env.OMP_NUM_THREADS = String(threads);
    env.OPENBLAS_NUM_THREADS = String(threads);
    const child = spawn('/usr/bin/python3', [path], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const rl = createInterface({ input: child.stdout });
    const lines = rl[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done === true) return `PyTorch peer failed to start: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
    const hello = JSON.parse(first.value) as { torch: string };
    return new PeerSession(child, rl, hello.torch, lines);
  }

  /** Seconds of each of `calls` timed calls of the command. */
  async times(cmd: Record<string, unknown>): Promise<number[]> {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    const r = await this.lines.next();
    if (r.done === true) throw new Error('PyTorch peer exited');
    const parsed = JSON.parse(r.value) as { seconds: number[] | { error: string } };
    if (!Array.isArray(parsed.seconds)) throw new Error(`PyTorch peer: ${parsed.seconds.error}`);
    return parsed.seconds;
  }

  close(): void {
    this.child.stdin.write('{"cmd": "quit"}\n');
    this.child.stdin.end();
    this.rl.close();
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
}

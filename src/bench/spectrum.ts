/**
 * `npm run bench:spectrum`: the two curvature diagnostics PyHessian is used for, on the MNIST
 * MLP 784-256-10 (tanh, softmax cross-entropy) at its initial parameters and a batch of the
 * training set: the top Hessian eigenvalue by power iteration and the Hutchinson trace, with a
 * fixed number of Hessian-vector products each. Seconds per product and in total, against
 * PyTorch by double backward (PyHessian's method: the gradient graph built once, one backward
 * per product) on the SAME parameters and batch, in rounds interleaved with ours, when Debian's
 * python3-torch is installed. Benchmarks measure; they assert nothing.
 *
 * Options: --batch=1000 --iters=20 --probes=20 --rounds=3 --threads=1 (OpenMP threads in PyTorch spin under a loaded machine; give 2 on a quiet one)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '../tensor/tensor.js';
import { kernels } from '../kernels/index.js';
import { gather } from '../tensor/shape-ops.js';
import { tidy } from '../tensor/scope.js';
import { hvp } from '../autodiff/compose.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { linearOperator } from '../curvature/operators/linear-operator.js';
import { powerIteration } from '../curvature/estimators/power-iteration.js';
import { trace } from '../curvature/estimators/trace.js';
import { problemById } from './problems.js';
import { median } from './peer-session.js';
import { table, torchUnavailable } from './util.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const batch = opt('batch', 1000);
const iters = opt('iters', 20);
const probes = opt('probes', 20);
const rounds = opt('rounds', 3);
const threads = opt('threads', 1);

const inst = problemById('mlp-mnist').build(0, { size: 'small' });
const { model, loss, data } = inst;
if (model === undefined || loss === undefined || data === undefined) throw new Error('mlp-mnist has no model');
const idx = Array.from({ length: Math.min(batch, data.train.x.shape[0]) }, (_, i) => i);
const x = gather(data.train.x, idx, 0);
const y = gather(data.train.y, idx, 0);
const params = inst.params;
const f = (p: PyTree) => loss.value(model.apply(p, x), y);
let products = 0;
const op = linearOperator('hessian', params, (v) => {
  products++;
  return hvp(f, params, v);
});
kernels().setThreads(threads);

interface Measured { seconds: number; matvecs: number; value: number; setup?: number }

function ours(which: 'power' | 'trace', seed: number): Measured {
  products = 0;
  const t0 = process.hrtime.bigint();
  const value = tidy(() => (which === 'power' ? powerIteration(op, { iters, tol: 0, seed }).eigenvalue : trace(op, { method: 'hutchinson', matvecs: probes, seed }).estimate));
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, matvecs: products, value };
}

/** The peer, fed the same parameters and batch through raw float32 files. */
async function startPeer(): Promise<{ run: (cmd: object) => Promise<Measured>; close: () => void; version: string } | string> {
  const why = torchUnavailable();
  if (why !== undefined) return why;
  const dir = mkdtempSync(join(tmpdir(), 'hessian-spectrum-peer-'));
  const [w0, b0, w1, b1] = treeLeaves(params);
  const meta: Record<string, number[]> = {};
  const put = (name: string, t: Tensor) => {
    meta[name] = t.shape.slice();
    writeFileSync(join(dir, `${name}.f32`), Buffer.from(Float32Array.from(t.data).buffer));
  };
  put('w0', w0); put('b0', b0); put('w1', w1); put('b1', b1); put('x', x); put('y', y);
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
  const env: NodeJS.ProcessEnv = { ...process.env };
  // This machine's OpenBLAS override halves its GEMM; the peer alone gets its best kernels.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  env.OMP_NUM_THREADS = String(threads);
  const script = fileURLToPath(new URL('../../src/bench/peers/torch-spectrum.py', import.meta.url));
  const child = spawn('/usr/bin/python3', [script, dir, String(threads)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done === true) {
    rmSync(dir, { recursive: true, force: true });
    return `PyTorch peer failed to start: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
  }
  return {
    version: (JSON.parse(first.value) as { torch: string }).torch,
    run: async (cmd) => {
      child.stdin.write(`${JSON.stringify(cmd)}\n`);
      const r = await lines.next();
      if (r.done === true) throw new Error(`PyTorch peer exited: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
      return JSON.parse(r.value) as Measured;
    },
    close: () => {
      child.stdin.end('{"cmd": "quit"}\n');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const k = kernels();
console.log(`hessian spectrum benchmark: mlp-mnist 784-256-10 (${treeLeaves(params).reduce((s, l) => s + l.size, 0)} parameters), batch ${idx.length}, `
  + `power iteration ${iters} products, Hutchinson ${probes} probes, ${threads} threads, backend ${k.name}`);
const peer = await startPeer();
ours('power', 99); // warm-up
if (typeof peer !== 'string') await peer.run({ cmd: 'power', iters: 2, seed: 99 });
const ourPower: Measured[] = [];
const ourTrace: Measured[] = [];
const theirPower: Measured[] = [];
const theirTrace: Measured[] = [];
for (let r = 0; r < rounds; r++) {
  ourPower.push(ours('power', r));
  if (typeof peer !== 'string') theirPower.push(await peer.run({ cmd: 'power', iters, seed: r }));
  ourTrace.push(ours('trace', r));
  if (typeof peer !== 'string') theirTrace.push(await peer.run({ cmd: 'trace', probes, seed: r }));
}
if (typeof peer !== 'string') peer.close();

const med = (ms: Measured[], key: 'seconds' | 'value') => median(ms.map((m) => m[key]));
const row = (what: string, a: Measured[], b: Measured[]): (string | number)[] => {
  const oursTotal = med(a, 'seconds');
  const theirsTotal = b.length > 0 ? med(b, 'seconds') : NaN;
  const n = a[0].matvecs;
  return [what, n, (1e3 * oursTotal) / n, (1e3 * theirsTotal) / n, oursTotal, theirsTotal, oursTotal / theirsTotal, med(a, 'value'), b.length > 0 ? med(b, 'value') : NaN];
};
console.log(table(['quantity', 'products', 'ms/product', 'torch ms/product', 'total s', 'torch total s', 'ours/torch', 'value', 'torch value'], [
  row('top eigenvalue (power iteration)', ourPower, theirPower),
  row('trace (Hutchinson)', ourTrace, theirTrace),
]).replace(/(value.*)$/m, '$1'));
console.log(`medians of ${rounds} rounds interleaved with PyTorch's; values differ by their random probes (same model, same batch)`);
if (typeof peer === 'string') console.log(`PyTorch peer skipped: ${peer}`);
else console.log(`PyTorch ${peer.version}: gradient graph built once per run (create_graph), one double-backward per product; its build is in the total`);

/**
 * `npm run bench:kernels`: GEMM throughput (GFLOP/s) of the kernel backends, fp32 at
 * n = 256, 512, 1024, 2048 on 1 and 2 threads (native), fp64 at n = 1024; the ts reference at
 * n = 256 only (it is slow); the wasm backend where it loads; and, where Debian's python3-torch
 * is installed, PyTorch's GEMM on the same shapes in a child process, with ratios ours/PyTorch;
 * then conv2d forward, backward-input and backward-filter throughput (im2col + GEMM) on a
 * ResNet-like 3×3 layer against torch's conv2d and its two gradients.
 * Benchmarks measure; they assert nothing.
 *
 * Last, `matmul` 1024² float32 as a user calls it (a fresh output every call, released at once
 * as a user of tidy would), median of 25 calls, interleaved in rounds with PyTorch's torch.mm.
 *
 * Then `eigh` and `cholesky` of a 1000×1000 float64 SPD matrix as a user calls them (tensor API,
 * allocation included), median of interleaved rounds against torch.linalg.eigh (LAPACK syevd) and
 * torch.linalg.cholesky.
 *
 * Then the products of a dense layer's training step at batch 256 as the autodiff engine calls
 * them (forward h·Wᵀ with B transposed, input gradient δ·W, weight gradient δᵀ·h with A
 * transposed), fp32, 2 threads, median of interleaved rounds against torch.mm on the same
 * strided views, no allocation on either side.
 *
 * Options: --sizes=256,512 (fp32 sizes), --min-ms=300 (time budget per row), --only=alloc (just
 * the matmul-with-allocation rows), --only=linalg (just eigh and cholesky), --only=layers (just
 * the layer products).
 */
import { spawnSync } from 'node:child_process';
import type { FloatArray, Kernels } from '../kernels/types.js';
import { tsKernels } from '../kernels/ts-backend.js';
import { loadNativeAddon, loadNativeKernels, nativeLoadError } from '../kernels/native-backend.js';
import { withBackend } from '../kernels/index.js';
import { Tensor } from '../tensor/tensor.js';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from '../tensor/conv.js';
import { table, torchUnavailable } from './util.js';
import { PeerSession, median } from './peer-session.js';
import { matmul } from '../tensor/matmul.js';
import { randn } from '../tensor/random.js';
import { tidy } from '../tensor/scope.js';
import { cholesky, eigh } from '../tensor/linalg.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const SIZES = (opt('sizes') ?? '256,512,1024,2048').split(',').map(Number);
const MIN_MS = Number(opt('min-ms') ?? 300);
const THREADS = [1, 2];

type DT = 'f32' | 'f64';

/** One measured row. `peerKey` names the matching PyTorch measurement, when there is one. */
export interface Row {
  kernel: string;
  backend: string;
  dtype: DT;
  shape: string;
  threads: number;
  gflops: number;
  peerKey?: string;
}

/**
 * Median seconds per call: warm-up, then repeats until both 5 calls and `MIN_MS` have passed
 * (at most 50 calls), timed with process.hrtime.bigint.
 */
function medianSeconds(fn: () => void): number {
  fn();
  fn();
  const ts: number[] = [];
  const start = process.hrtime.bigint();
  while (ts.length < 5 || (ts.length < 50 && Number(process.hrtime.bigint() - start) / 1e6 < MIN_MS)) {
    const t0 = process.hrtime.bigint();
    fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

function rand(dtype: DT, len: number, seed: number): FloatArray {
  const a = dtype === 'f32' ? new Float32Array(len) : new Float64Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function gemmRow(k: Kernels, backend: string, dtype: DT, n: number, threads: number): Row {
  const a = rand(dtype, n * n, 1);
  const b = rand(dtype, n * n, 2);
  const c = rand(dtype, n * n, 3);
  k.setThreads(threads);
  const s = medianSeconds(() => k.gemm(false, false, n, n, n, 1, a, n, 0, b, n, 0, 0, c, n, 0, 1));
  return { kernel: 'gemm', backend, dtype, shape: `${n}x${n}x${n}`, threads, gflops: (2 * n ** 3) / s / 1e9, peerKey: `gemm-${dtype}-${n}-${threads}` };
}

// ---------------------------------------------------------------------------------------------
// Extension point: the lead adds conv2d (and other) rows here. Push Row objects; give them a
// peerKey and a matching entry in torchScript() to get a PyTorch ratio.
/** conv2d forward and both backward kernels (im2col + GEMM) on a ResNet-like layer, per thread count. */
const CONV = { N: 32, C: 64, H: 32, W: 32, O: 64, k: 3, pad: 1 };

function addConvRows(rows: Row[]): void {
  const native = loadNativeKernels();
  if (native === null) return;
  const { N, C, H, W, O, k, pad } = CONV;
  const flops = 2 * N * O * C * k * k * H * W;
  const x = new Tensor(rand('f32', N * C * H * W, 4) as Float32Array, [N, C, H, W]);
  const w = new Tensor(rand('f32', O * C * k * k, 5) as Float32Array, [O, C, k, k]);
  const gy = new Tensor(rand('f32', N * O * H * W, 6) as Float32Array, [N, O, H, W]);
  const shape = `N${N} C${C} ${H}x${W} O${O} k${k}`;
  withBackend('native', () => {
    const prev = native.threads;
    for (const t of THREADS.filter((tt) => tt <= (loadNativeAddon()?.maxThreads() ?? 1))) {
      native.setThreads(t);
      const fwd = medianSeconds(() => conv2d(x, w, { padding: pad }));
      const bin = medianSeconds(() => conv2dBackwardInput(gy, w, x.shape, { padding: pad }));
      const bfl = medianSeconds(() => conv2dBackwardFilter(x, gy, w.shape, { padding: pad }));
      rows.push({ kernel: 'conv2d forward', backend: 'native', dtype: 'f32', shape, threads: t, gflops: flops / fwd / 1e9, peerKey: `conv-fwd-${t}` });
      rows.push({ kernel: 'conv2d backward input', backend: 'native', dtype: 'f32', shape, threads: t, gflops: flops / bin / 1e9, peerKey: `conv-bin-${t}` });
      rows.push({ kernel: 'conv2d backward filter', backend: 'native', dtype: 'f32', shape, threads: t, gflops: flops / bfl / 1e9, peerKey: `conv-bfl-${t}` });
    }
    native.setThreads(prev);
  });
}

function torchConvScript(threads: number, minMs: number): string {
  const { N, C, H, W, O, k, pad } = CONV;
  return `
import json, time, torch
import torch.nn.functional as F
torch.set_num_threads(${threads})
x = torch.rand(${N}, ${C}, ${H}, ${W}) - 0.5
w = torch.rand(${O}, ${C}, ${k}, ${k}) - 0.5
gy = torch.rand(${N}, ${O}, ${H}, ${W}) - 0.5
flops = 2 * ${N * O * C * k * k * H * W}
def med(fn):
    fn(); fn()
    ts = []; start = time.perf_counter()
    while len(ts) < 5 or (len(ts) < 50 and (time.perf_counter() - start) * 1e3 < ${minMs}):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    ts.sort(); return ts[len(ts) // 2]
out = {
  "conv-fwd-${threads}": flops / med(lambda: F.conv2d(x, w, padding=${pad})) / 1e9,
  "conv-bin-${threads}": flops / med(lambda: torch.nn.grad.conv2d_input(x.shape, w, gy, padding=${pad})) / 1e9,
  "conv-bfl-${threads}": flops / med(lambda: torch.nn.grad.conv2d_weight(x, w.shape, gy, padding=${pad})) / 1e9,
}
print(json.dumps({"torch": torch.__version__, "results": out}))
`;
}
// ---------------------------------------------------------------------------------------------

/** The PyTorch peer: the same GEMMs with torch.mm, keyed like Row.peerKey. */
function torchScript(jobs: readonly { key: string; dtype: DT; n: number; threads: number }[], minMs: number): string {
  return `
import json, time, torch
jobs = ${JSON.stringify(jobs)}
out = {}
for j in jobs:
    torch.set_num_threads(j["threads"])
    dt = torch.float32 if j["dtype"] == "f32" else torch.float64
    n = j["n"]
    a = torch.rand(n, n, dtype=dt) - 0.5
    b = torch.rand(n, n, dtype=dt) - 0.5
    c = torch.empty(n, n, dtype=dt)
    torch.mm(a, b, out=c); torch.mm(a, b, out=c)
    ts = []
    start = time.perf_counter()
    while len(ts) < 5 or (len(ts) < 50 and (time.perf_counter() - start) * 1e3 < ${minMs}):
        t0 = time.perf_counter(); torch.mm(a, b, out=c); ts.append(time.perf_counter() - t0)
    ts.sort()
    out[j["key"]] = 2 * n ** 3 / ts[len(ts) // 2] / 1e9
print(json.dumps({"torch": torch.__version__, "results": out}))
`;
}

function runTorch(rows: readonly Row[]): { version: string; results: Record<string, number> } | string {
  const why = torchUnavailable();
  if (why !== undefined) return why;
  const jobs = rows
    .filter((r) => r.peerKey !== undefined && r.kernel === 'gemm' && r.backend === 'native')
    .map((r) => ({ key: r.peerKey as string, dtype: r.dtype, n: Number(r.shape.split('x')[0]), threads: r.threads }));
  const results: Record<string, number> = {};
  let version = '?';
  // One child per thread count: Debian's OpenBLAS may be the pthread or the OpenMP build, and
  // only the environment sets the pthread build's thread count reliably.
  for (const t of [...new Set(jobs.map((j) => j.threads))]) {
    const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(t), OMP_NUM_THREADS: String(t) };
    // this machine's OpenBLAS override halves its GEMM; the peer gets its best kernels
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const scripts = [torchScript(jobs.filter((j) => j.threads === t), MIN_MS)];
    if (rows.some((r) => r.peerKey === `conv-fwd-${t}`)) scripts.push(torchConvScript(t, MIN_MS));
    for (const script of scripts) {
      const r = spawnSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
      if (r.status !== 0) return `PyTorch run failed: ${(r.stderr ?? '').trim().split('\n').slice(-1)[0]}`;
      const lines = r.stdout.trim().split('\n');
      const parsed = JSON.parse(lines[lines.length - 1]) as { torch: string; results: Record<string, number> };
      version = parsed.torch;
      Object.assign(results, parsed.results);
    }
  }
  return { version, results };
}

/**
 * `matmul(a, b)` 1024² float32 with allocation included: 5 rounds of 5 calls, ours then
 * PyTorch's. Ours releases each result (`dispose`), so the next call reuses its buffer from the
 * pool, as PyTorch's allocator reuses a freed tensor's pages; the GC-only variant (no dispose,
 * outside any scope) is shown for contrast.
 */
async function matmulWithAllocation(): Promise<void> {
  const n = 1024;
  const rounds = 5;
  const per = 5;
  const flop = 2 * n * n * n;
  const a = randn([n, n], { seed: 1 });
  const b = randn([n, n], { seed: 2 });
  const time = (fn: () => void): number => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const disposed = () => matmul(a, b).dispose();
  const viaTidy = () => tidy(() => { matmul(a, b); });
  const gcOnly = () => { matmul(a, b); };
  for (let i = 0; i < 2; i++) { disposed(); viaTidy(); }
  const peer = await PeerSession.start(2);
  const ours: number[] = [];
  const oursTidy: number[] = [];
  const oursGc: number[] = [];
  const theirs: number[] = [];
  if (typeof peer !== 'string') await peer.times({ cmd: 'mm', n, threads: 2, calls: 2 }); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < per; i++) ours.push(time(disposed));
    for (let i = 0; i < per; i++) oursTidy.push(time(viaTidy));
    for (let i = 0; i < per; i++) oursGc.push(time(gcOnly));
    if (typeof peer !== 'string') theirs.push(...(await peer.times({ cmd: 'mm', n, threads: 2, calls: per })));
  }
  if (typeof peer !== 'string') peer.close();
  const row = (name: string, ts: number[]) => [name, median(ts) * 1e3, Math.min(...ts) * 1e3, flop / median(ts) / 1e9, theirs.length > 0 ? (median(theirs) / median(ts)).toFixed(2) : '-'];
  const rows = [row('ours, dispose each result', ours), row('ours, tidy per call', oursTidy), row('ours, GC frees (no scope)', oursGc)];
  if (theirs.length > 0) rows.push(row(`PyTorch ${typeof peer === 'string' ? '' : peer.version} torch.mm`, theirs));
  console.log(`\nmatmul ${n}x${n} float32, allocation included, median of ${rounds * per} calls in ${rounds} interleaved rounds, 2 threads`);
  console.log(table(['variant', 'median ms', 'best ms', 'GFLOP/s (median)', 'ours/PyTorch'], rows));
  if (typeof peer === 'string') console.log(`PyTorch peer skipped: ${peer}`);
  console.log('target (issue 11): matmul with allocation >= 1.0x PyTorch');
}

/**
 * `eigh` and `cholesky` of a 1000×1000 float64 SPD matrix (X Xᵀ/n + I), through the tensor API,
 * 3 rounds of 2 calls each, ours then PyTorch's (LAPACK through OpenBLAS), 2 threads each.
 */
async function linalgRows(): Promise<void> {
  const n = 1000;
  const rounds = 3;
  const per = 2;
  const x = randn([n, n], { seed: 3, dtype: 'float64' });
  const a = tidy(() => {
    const g = matmul(x, x, { transposeB: true });
    const d = g.data;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) d[i * n + j] = d[i * n + j] / n + (i === j ? 1 : 0);
    return g;
  });
  const time = (fn: () => void): number => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const jobs = [
    { name: 'eigh', cmd: 'eigh', run: () => tidy(() => { eigh(a); }) },
    { name: 'cholesky', cmd: 'cholesky', run: () => tidy(() => { cholesky(a); }) },
  ];
  const peer = await PeerSession.start(2);
  const rows: (string | number)[][] = [];
  for (const job of jobs) {
    job.run();
    if (typeof peer !== 'string') await peer.times({ cmd: job.cmd, n, threads: 2, calls: 1 }); // warm-up
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < per; i++) ours.push(time(job.run));
      if (typeof peer !== 'string') theirs.push(...(await peer.times({ cmd: job.cmd, n, threads: 2, calls: per })));
    }
    rows.push([`${job.name} ${n}x${n} f64`, median(ours) * 1e3, Math.min(...ours) * 1e3,
      theirs.length > 0 ? median(theirs) * 1e3 : '-', theirs.length > 0 ? (median(ours) / median(theirs)).toFixed(2) : '-']);
  }
  if (typeof peer !== 'string') peer.close();
  console.log(`\ndense linear algebra, allocation included, median of ${rounds * per} calls in ${rounds} interleaved rounds, 2 threads`);
  console.log(table(['call', 'ours median ms', 'ours best ms', 'PyTorch median ms', 'time ours/PyTorch'], rows));
  if (typeof peer === 'string') console.log(`PyTorch peer skipped: ${peer}`);
  console.log('target (issue 13): eigh of 1000x1000 float64 <= 2x LAPACK');
}

/**
 * A dense layer's three products, kernel calls on preallocated operands, 5 rounds of 5 calls,
 * ours then PyTorch's, 2 threads. Default: batch 256 on two of the MNIST autoencoder's layers;
 * `--batch=N` and `--layers=784x400,400x200` (in x out) for other shapes (Hessian-free's
 * curvature sub-batch is 100 rows on the CURVES autoencoder).
 */
async function layerRows(): Promise<void> {
  const native = loadNativeKernels();
  if (native === null) {
    console.log(`layer products skipped: native backend unavailable: ${nativeLoadError() ?? 'unknown'}`);
    return;
  }
  const opt = (k: string) => args.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  const batch = Number(opt('batch') ?? 256);
  if (!Number.isSafeInteger(batch) || batch < 1) throw new RangeError(`bench:kernels: --batch must be a positive integer, got ${opt('batch')}`);
  const layers = (opt('layers') ?? '784x1000,1000x500').split(',').map((l) => {
    const d = l.split('x').map(Number);
    if (d.length !== 2 || !d.every((x) => Number.isSafeInteger(x) && x > 0)) throw new RangeError(`bench:kernels: --layers takes in x out pairs such as 784x400,400x200, got '${l}'`);
    return d as [number, number];
  });
  const rounds = 5;
  const per = 5;
  const prev = native.threads;
  native.setThreads(2);
  const peer = await PeerSession.start(2);
  const rows: (string | number)[][] = [];
  for (const [inp, out] of layers) {
    const products: [string, boolean, boolean, number, number, number][] = [
      ['forward h·Wᵀ (NT)', false, true, batch, out, inp],
      ['input grad δ·W (NN)', false, false, batch, inp, out],
      ['weight grad δᵀ·h (TN)', true, false, out, inp, batch],
    ];
    for (const [name, ta, tb, m, n, k] of products) {
      const a = rand('f32', m * k, 7);
      const b = rand('f32', k * n, 8);
      const c = new Float32Array(m * n);
      const call = () => native.gemm(ta, tb, m, n, k, 1, a, ta ? m : k, 0, b, tb ? k : n, 0, 0, c, n, 0, 1);
      const time = (): number => {
        const t0 = process.hrtime.bigint();
        call();
        return Number(process.hrtime.bigint() - t0) / 1e9;
      };
      for (let i = 0; i < 3; i++) call();
      const cmd = { cmd: 'gemm', m, n, k, ta, tb, threads: 2 };
      if (typeof peer !== 'string') await peer.times({ ...cmd, calls: 3 }); // warm-up
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < per; i++) ours.push(time());
        if (typeof peer !== 'string') theirs.push(...(await peer.times({ ...cmd, calls: per })));
      }
      const flop = 2 * m * n * k;
      rows.push([`${inp}→${out}: ${name}`, `${m}x${n}x${k}`, flop / median(ours) / 1e9, flop / Math.min(...ours) / 1e9,
        theirs.length > 0 ? flop / median(theirs) / 1e9 : '-', theirs.length > 0 ? (median(theirs) / median(ours)).toFixed(2) : '-']);
    }
  }
  if (typeof peer !== 'string') peer.close();
  native.setThreads(prev);
  console.log(`\na dense layer's products at batch ${batch}, fp32, 2 threads, median of ${rounds * per} calls in ${rounds} interleaved rounds`);
  console.log(table(['product', 'm x n x k', 'ours GFLOP/s (median)', 'ours GFLOP/s (best)', 'PyTorch GFLOP/s (median)', 'ours/PyTorch speed'], rows));
  if (typeof peer === 'string') console.log(`PyTorch peer skipped: ${peer}`);
}

async function main(): Promise<void> {
  if (args.includes('--only=layers')) {
    await layerRows();
    return;
  }
  if (args.includes('--only=alloc')) {
    await matmulWithAllocation();
    return;
  }
  if (args.includes('--only=linalg')) {
    await linalgRows();
    return;
  }
  const rows: Row[] = [];
  const native = loadNativeKernels();
  if (native === null) {
    console.log(`native backend unavailable: ${nativeLoadError() ?? 'unknown'}`);
  } else {
    const max = loadNativeAddon()?.maxThreads() ?? 1;
    const threads = THREADS.filter((t) => t <= max);
    console.log(`native: ${native.simd}, up to ${max} threads`);
    const prev = native.threads;
    for (const n of SIZES) for (const t of threads) rows.push(gemmRow(native, 'native', 'f32', n, t));
    for (const t of threads) rows.push(gemmRow(native, 'native', 'f64', 1024, t));
    native.setThreads(prev);
  }
  let wasm: Kernels | null = null;
  try {
    const mod = (await import('../kernels/wasm-backend.js')) as { loadWasmKernels?: () => Kernels | null };
    wasm = mod.loadWasmKernels?.() ?? null;
  } catch {
    wasm = null;
  }
  if (wasm === null) console.log('wasm backend unavailable: skipped');
  else for (const n of SIZES.filter((s) => s <= 1024)) rows.push({ ...gemmRow(wasm, 'wasm', 'f32', n, 1), peerKey: undefined });
  rows.push({ ...gemmRow(tsKernels, 'ts', 'f32', 256, 1), peerKey: undefined });
  addConvRows(rows);

  const peer = runTorch(rows);
  const header = ['kernel', 'backend', 'dtype', 'shape', 'threads', 'GFLOP/s'];
  if (typeof peer === 'string') {
    console.log(table(header, rows.map((r) => [r.kernel, r.backend, r.dtype, r.shape, r.threads, r.gflops])));
    console.log(`PyTorch peer skipped: ${peer}`);
    await matmulWithAllocation();
    await layerRows();
    await linalgRows();
    return;
  }
  console.log(table([...header, 'PyTorch', 'ours/PyTorch'], rows.map((r) => {
    const p = r.peerKey === undefined ? undefined : peer.results[r.peerKey];
    return [r.kernel, r.backend, r.dtype, r.shape, r.threads, r.gflops, p ?? '-', p === undefined ? '-' : (r.gflops / p).toFixed(2)];
  })));
  console.log(`PyTorch ${peer.version} (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for the peer)`);
  await matmulWithAllocation();
  await layerRows();
  await linalgRows();
}

await main();

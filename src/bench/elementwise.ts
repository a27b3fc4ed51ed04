/**
 * `npm run bench:elementwise`: the native transcendental kernels (exp, expm1, log, log1p, tanh,
 * sigmoid, softplus), float32 and float64, at 1e3, 1e5 and 1e6 elements: ns/element and GB/s
 * (one read and one write per element) of the vectorized path, of the previous scalar libm
 * loop in the same binary (forced with `selectElementwiseIsa('scalar')`), and of PyTorch
 * (`out=` into a preallocated tensor) where Debian's python3-torch is installed; then the fused
 * derivative kernels against the composed rules; then axpby and dot, AVX2 loops against the
 * baseline ones and PyTorch; then where the time of the autoencoder's
 * `valueAndGrad` step goes, before (scalar math, composed rules) and after.
 *
 * Rounds are interleaved (vector, scalar, PyTorch; the order turning each round) so that machine
 * noise hits all three; each figure is the median over every timed sample of every round, in CPU time (see
 * `cpuNow`), each sample long enough (>= 1e6 elements) for the microsecond CPU clock. Benchmarks measure;
 * they assert nothing. Options: --threads=1 (both sides), --rounds=5, --sizes=1000,100000,1000000,
 * --steps=12 (autoencoder steps per configuration), --batch=256.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FloatArray, Kernels, UnaryOp } from '../kernels/types.js';
import { loadNativeAddon, loadNativeKernels, nativeLoadError } from '../kernels/native-backend.js';
import { setBackend } from '../kernels/index.js';
import { fusedDerivatives } from '../tensor/fused.js';
import { Rng } from '../tensor/random.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { Linear, Sigmoid } from '../nn/layers.js';
import { Sequential, type Module } from '../nn/module.js';
import { sigmoidBinaryCrossEntropy } from '../nn/losses.js';
import type { PyTree } from '../autodiff/pytree.js';
import { table, torchUnavailable } from './util.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const THREADS = Number(opt('threads') ?? 1);
const ROUNDS = Number(opt('rounds') ?? 5);
const SIZES = (opt('sizes') ?? '1000,100000,1000000').split(',').map(Number);
const STEPS = Number(opt('steps') ?? 12);
const BATCH = Number(opt('batch') ?? 256);
for (const [name, values] of [['threads', [THREADS]], ['rounds', [ROUNDS]], ['sizes', SIZES], ['steps', [STEPS]], ['batch', [BATCH]]] as const) {
  if (values.some((v) => !Number.isInteger(v) || v < 1)) {
    console.error(`bench:elementwise: --${name} must be positive integers, got ${opt(name)}`);
    process.exit(2);
  }
}
const OPS: readonly UnaryOp[] = ['exp', 'expm1', 'log', 'log1p', 'tanh', 'sigmoid', 'softplus'];
const RANGES: Partial<Record<UnaryOp, [number, number]>> = { log: [1e-3, 10], log1p: [-0.9, 10] };
type DT = 'f32' | 'f64';

const addon = loadNativeAddon();
const nat = loadNativeKernels();
if (addon === null || nat === null) {
  console.log(`bench:elementwise needs the native backend: ${nativeLoadError() ?? 'unknown'}`);
  process.exit(0);
}
nat.setThreads(THREADS);
const vectorIsa = addon.elementwiseIsa();

/** Calls per timed sample (so a sample lasts well above the timer's resolution) and samples per round. */
function plan(n: number): { batch: number; samples: number } {
  return { batch: Math.max(1, Math.floor(1e6 / n)), samples: n >= 1e6 ? 7 : 11 };
}

/**
 * Seconds of CPU time (user + system, this process) since an arbitrary origin. Samples are timed
 * in CPU time, not wall time: on a loaded machine a long sample waits for the CPU in proportion
 * to the load, which would inflate the large sizes most. The peer does the same.
 */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function timeSamples(fn: () => void, batch: number, samples: number): number[] {
  fn();
  const out: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = cpuNow();
    for (let b = 0; b < batch; b++) fn();
    out.push((cpuNow() - t0) / batch);
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

function inputs(op: UnaryOp, dtype: DT, n: number): FloatArray {
  const [lo, hi] = RANGES[op] ?? [-5, 5];
  const rng = new Rng(n);
  const x = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng.nextFloat();
  return x;
}

/** The PyTorch server (src/bench/peers/torch-elementwise.py), or the reason it is absent. */
async function startPeer(): Promise<{ ask: (req: object) => Promise<number[]>; close: () => void } | string> {
  const missing = torchUnavailable();
  if (missing !== undefined) return missing;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE; // the peer's best kernels (see DESIGN.md); never in tests
  delete env.OPENBLAS_L2_SIZE;
  const script = fileURLToPath(new URL('../../src/bench/peers/torch-elementwise.py', import.meta.url));
  const child = spawn('/usr/bin/python3', [script, String(THREADS)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done === true) throw new Error('the PyTorch peer exited');
    return r.value as string;
  };
  await next(); // ready
  return {
    ask: async (req) => {
      child.stdin.write(`${JSON.stringify(req)}\n`);
      return JSON.parse(await next()) as number[];
    },
    close: () => child.stdin.end(),
  };
}

const peer = await startPeer();

/**
 * Median seconds per call of `fn` with our vectorized loops ('auto'), with the baseline loops of
 * the same binary ('scalar'), and of PyTorch's `request` (NaN without the peer), over ROUNDS
 * rounds whose order turns each round: PyTorch's OpenMP threads spin on after its calls and would
 * slow whichever of ours always came next (our AVX2 axpby read 0.87× its baseline loop at 10⁵
 * elements that way, 1.38× with the order turning).
 */
const timeThree = async (fn: () => void, batch: number, samples: number, request: object): Promise<{ ours: number; base: number; torch: number }> => {
  const t = { ours: [] as number[], base: [] as number[], torch: [] as number[] };
  const contenders: (() => Promise<void>)[] = [
    async () => { addon.selectElementwiseIsa('auto'); t.ours.push(...timeSamples(fn, batch, samples)); },
    async () => { addon.selectElementwiseIsa('scalar'); t.base.push(...timeSamples(fn, batch, samples)); addon.selectElementwiseIsa('auto'); },
    ...(typeof peer === 'string' ? [] : [async () => { t.torch.push(...(await peer.ask({ ...request, batch, samples }))); }]),
  ];
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < contenders.length; i++) await contenders[(r + i) % contenders.length]();
  }
  return { ours: median(t.ours), base: median(t.base), torch: t.torch.length > 0 ? median(t.torch) : NaN };
};

console.log(`hessian elementwise benchmark: native ${vectorIsa} vs the scalar libm loop${typeof peer === 'string' ? '' : ' vs PyTorch'}, ${THREADS} thread(s), ${ROUNDS} interleaved rounds`);
if (typeof peer === 'string') console.log(`(PyTorch peer skipped: ${peer})`);

const rows: (string | number)[][] = [];
for (const dtype of ['f32', 'f64'] as const) {
  for (const op of OPS) {
    for (const n of SIZES) {
      const x = inputs(op, dtype, n);
      const out = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
      const { batch, samples } = plan(n);
      const { ours: v, base: s, torch: p } = await timeThree(() => addon.unary(op, x, out), batch, samples, { op, dtype, n });
      const bytes = 2 * n * (dtype === 'f32' ? 4 : 8);
      rows.push([op, dtype, n, (v / n) * 1e9, bytes / v / 1e9, (s / n) * 1e9, (p / n) * 1e9, bytes / p / 1e9, s / v, p / v]);
    }
  }
}
console.log(table(['op', 'dtype', 'n', `${vectorIsa} ns/el`, 'GB/s', 'scalar ns/el', 'torch ns/el', 'torch GB/s', 'scalar/ours', 'torch/ours'], rows));
console.log('ratios above 1 mean ours is faster');

// ---------------------------------------------------------------------------------------------
// axpby and dot, the vector work of CG, L-BFGS's two loops and the optimizers' updates: their
// AVX2 loops against the baseline (SSE2) loops of the same binary ('scalar') and against PyTorch's
// torch.add(y, x, alpha=) and torch.dot where it is installed, interleaved.
const vectorRows: (string | number)[][] = [];
for (const dtype of ['f32', 'f64'] as const) {
  for (const n of SIZES) {
    const x = inputs('exp', dtype, n);
    const y = inputs('tanh', dtype, n);
    const out = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
    const { batch, samples } = plan(n);
    const cases: [string, () => void][] = [['axpby', () => nat.axpby(0.5, x, -2, y, out)], ['dot', () => { nat.dot(x, y); }]];
    for (const [name, fn] of cases) {
      const { ours: v, base: b, torch: p } = await timeThree(fn, batch, samples, { op: name, dtype, n });
      vectorRows.push([name, dtype, n, (v / n) * 1e9, (b / n) * 1e9, (p / n) * 1e9, b / v, p / v]);
    }
  }
}
if (typeof peer !== 'string') peer.close();
console.log(`\naxpby and dot, ${vectorIsa === 'scalar' ? 'baseline' : 'AVX2'} loops against the baseline (SSE2) loops${typeof peer === 'string' ? '' : ' and PyTorch (axpy: torch.add(y, x, alpha=))'}, ${THREADS} thread(s)`);
console.log(table(['kernel', 'dtype', 'n', 'ours ns/el', 'baseline ns/el', 'torch ns/el', 'baseline/ours', 'torch/ours'], vectorRows));

// ---------------------------------------------------------------------------------------------
// Fused derivative kernels against the composed rules (kernel calls with preallocated outputs).
const gradRows: (string | number)[][] = [];
for (const dtype of ['f32', 'f64'] as const) {
  const n = 1_000_000;
  const C = dtype === 'f32' ? Float32Array : Float64Array;
  const y = inputs('sigmoid', dtype, n).map((v) => 1 / (1 + Math.exp(-v)));
  const g = inputs('exp', dtype, n);
  const [t1, t2, out] = [new C(n), new C(n), new C(n)];
  const flat = [1];
  const one = new C([1]);
  const composedSigmoid = (): void => {
    nat.binary('sub', one, [0], y, flat, t1, [n]);
    nat.binary('mul', y, flat, t1, flat, t2, [n]);
    nat.binary('mul', g, flat, t2, flat, out, [n]);
  };
  const composedTanh = (): void => {
    nat.binary('mul', y, flat, y, flat, t1, [n]);
    nat.binary('sub', one, [0], t1, flat, t2, [n]);
    nat.binary('mul', g, flat, t2, flat, out, [n]);
  };
  const composedSoftplus = (): void => {
    nat.unary('sigmoid', y, t1);
    nat.binary('mul', g, flat, t1, flat, out, [n]);
  };
  const cases: [string, () => void, () => void][] = [
    ['sigmoid', composedSigmoid, () => nat.unaryGrad('sigmoid', y, g, out)],
    ['tanh', composedTanh, () => nat.unaryGrad('tanh', y, g, out)],
    ['softplus', composedSoftplus, () => nat.unaryGrad('softplus', y, g, out)],
  ];
  for (const [name, composed, fused] of cases) {
    const tc: number[] = [];
    const tf: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      tc.push(...timeSamples(composed, 1, 7));
      tf.push(...timeSamples(fused, 1, 7));
    }
    gradRows.push([`${name}'·g`, dtype, n, (median(tc) / n) * 1e9, (median(tf) / n) * 1e9, median(tc) / median(tf)]);
  }
}
console.log(`\nfused derivative kernels (${vectorIsa}), 1e6 elements, ${THREADS} thread(s)`);
console.log(table(['rule', 'dtype', 'n', 'composed ns/el', 'fused ns/el', 'composed/fused'], gradRows));

// ---------------------------------------------------------------------------------------------
// Where the autoencoder step's time goes: every kernel call timed by category, the rest
// (allocation, zero-fill, autodiff bookkeeping) as "outside kernels".
const SIZES_AE = [784, 1000, 500, 250, 30, 250, 500, 1000, 784];
const layers: Module[] = [];
for (let i = 0; i < SIZES_AE.length - 1; i++) {
  layers.push(new Linear(SIZES_AE[i], SIZES_AE[i + 1]));
  if (i !== SIZES_AE.length / 2 - 2 && i !== SIZES_AE.length - 2) layers.push(new Sigmoid());
}
const net = new Sequential(layers);
const params = net.init(new Rng(0));
const xb = new Rng(1).uniform([BATCH, 784]);
const loss = sigmoidBinaryCrossEntropy();
const step = valueAndGrad((p: PyTree[]) => loss.value(net.apply(p, xb), xb));
setBackend('native');

const CATEGORY: Partial<Record<keyof Kernels, string>> = {
  gemm: 'gemm', unary: 'elementwise', unaryGrad: 'elementwise', binary: 'elementwise', axpby: 'elementwise',
  reduce: 'reductions', softmax: 'reductions', dot: 'reductions', copyStrided: 'copies',
};
const spent = new Map<string, number>();
const kernelsObj = nat as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const [name, cat] of Object.entries(CATEGORY)) {
  const orig = kernelsObj[name];
  kernelsObj[name] = (...a: unknown[]) => {
    const t0 = cpuNow();
    try {
      return orig(...a);
    } finally {
      spent.set(cat, (spent.get(cat) ?? 0) + (cpuNow() - t0) * 1e3);
    }
  };
}

const configs = [
  { name: 'before (scalar libm, composed rules)', isa: 'scalar', fused: false },
  { name: `after (${vectorIsa}, fused rules)`, isa: 'auto', fused: true },
];
const stats = configs.map(() => ({ steps: [] as number[], byCat: new Map<string, number>() }));
for (let s = 0; s < STEPS + 2; s++) {
  configs.forEach((c, i) => {
    addon.selectElementwiseIsa(c.isa);
    fusedDerivatives.enabled = c.fused;
    spent.clear();
    const t0 = cpuNow();
    step(params);
    const ms = (cpuNow() - t0) * 1e3;
    if (s < 2) return; // warm-up
    stats[i].steps.push(ms);
    for (const [k, v] of spent) stats[i].byCat.set(k, (stats[i].byCat.get(k) ?? 0) + v);
  });
}
addon.selectElementwiseIsa('auto');
fusedDerivatives.enabled = true;
const cats = ['gemm', 'elementwise', 'reductions', 'copies'];
const profRows = configs.map((c, i) => {
  const total = stats[i].steps.reduce((a, b) => a + b, 0);
  const shares = cats.map((k) => (100 * (stats[i].byCat.get(k) ?? 0)) / total);
  const inside = shares.reduce((a, b) => a + b, 0);
  return [c.name, median(stats[i].steps), ...shares.map((v) => `${v.toFixed(1)}%`), `${(100 - inside).toFixed(1)}%`];
});
console.log(`\nautoencoder ${SIZES_AE.join('-')} valueAndGrad step, batch ${BATCH}, ${THREADS} thread(s), ${STEPS} steps per configuration, interleaved (CPU time, GC threads included)`);
console.log(table(['configuration', 'median CPU ms', ...cats, 'outside kernels'], profRows));

/**
 * `npm run bench:overhead`: what one small operation costs, where the work per element is
 * nothing and dispatch is everything. 20×20 float64 `add`, `matmul`, `tanh`, `sum` through the
 * public (differentiable) API; `grad` of sum(tanh(x·B)), eager and under `jit`; and a
 * physics-informed network (2-20-20-1 tanh, Laplace residual through nested reverse passes,
 * 400 collocation points, Adam then L-BFGS), eager and with `jit` — each against PyTorch eager
 * on the same numbers where Debian's python3-torch is installed (skipped cleanly otherwise).
 *
 * Rounds are interleaved (ours, PyTorch, ours, ...) so that machine noise hits both; a figure is
 * the median (and the best) over every sample of every round, in wall time per call. Benchmarks
 * measure; they assert nothing. Options: --rounds=5, --calls=20000 (per sample, ops; grad runs
 * a tenth), --samples=3, --pinn=3 (PINN runs per side, interleaved; the median is reported; 0 skips it), --adam=300, --lbfgs=300.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { add, matmul, mean, mul, square, sub, sum, tanh } from '../autodiff/ops.js';
import { grad, valueAndGrad, vjp } from '../autodiff/vjp.js';
import { jit } from '../autodiff/jit.js';
import { adam } from '../optim/first-order/baselines.js';
import { lbfgs } from '../optim/quasi-newton/lbfgs.js';
import type { Objective, Optimizer } from '../optim/types.js';
import { kernels } from '../kernels/index.js';
import { table, torchUnavailable } from './util.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const raw = args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const v = raw === undefined ? dflt : Number(raw);
  if (!Number.isInteger(v) || v < 0) {
    console.error(`bench:overhead: --${name} must be a non-negative integer, got ${raw}`);
    process.exit(2);
  }
  return v;
};
const ROUNDS = Math.max(1, opt('rounds', 5));
const CALLS = Math.max(1, opt('calls', 20000));
const SAMPLES = Math.max(1, opt('samples', 3));
const PINN_RUNS = opt('pinn', 3);
const ADAM_STEPS = opt('adam', 300);
const LBFGS_ITERS = opt('lbfgs', 300);

const f64 = { dtype: 'float64' as const };
const rng = new Rng(19);
const A = rng.uniform([20, 20], { low: -1, high: 1, ...f64 });
const B = rng.uniform([20, 20], { low: -1, high: 1, ...f64 });
const nested = (t: Tensor): number[][] => t.toArray() as number[][];

// ---- the physics-informed network: u(x, y) with Laplace(u) = 0 inside, u = e^x sin y on the boundary
const N_IN = 400;
const N_B = 80;
const X = rng.uniform([N_IN, 2], f64);
const XB = (() => {
  const d = new Float64Array(N_B * 2);
  for (let i = 0; i < N_B; i++) {
    const s = rng.nextFloat();
    const side = i % 4;
    d[2 * i] = side === 0 ? 0 : side === 1 ? 1 : s;
    d[2 * i + 1] = side === 2 ? 0 : side === 3 ? 1 : s;
  }
  return new Tensor(d, [N_B, 2]);
})();
const GB = new Tensor(Float64Array.from({ length: N_B }, (_, i) => Math.exp(XB.data[2 * i]) * Math.sin(XB.data[2 * i + 1])), [N_B, 1]);
const E0 = new Tensor(Float64Array.from({ length: N_IN * 2 }, (_, i) => (i % 2 === 0 ? 1 : 0)), [N_IN, 2]);
const E1 = new Tensor(Float64Array.from({ length: N_IN * 2 }, (_, i) => (i % 2 === 1 ? 1 : 0)), [N_IN, 2]);
const SIZES = [2, 20, 20, 1];
const P0: Tensor[] = [];
for (let l = 0; l < 3; l++) {
  const bound = Math.sqrt(6 / (SIZES[l] + SIZES[l + 1]));
  P0.push(rng.uniform([SIZES[l], SIZES[l + 1]], { low: -bound, high: bound, ...f64 }), new Tensor(new Float64Array(SIZES[l + 1]), [SIZES[l + 1]]));
}
const LR = 5e-3;

function mlp(p: Tensor[], x: Tensor): Tensor {
  const h1 = tanh(add(matmul(x, p[0]), p[1]));
  const h2 = tanh(add(matmul(h1, p[2]), p[3]));
  return add(matmul(h2, p[4]), p[5]);
}

/** Mean squared Laplacian inside plus mean squared boundary misfit; second derivatives by one vjp of the input gradient. */
function pinnLoss(p: Tensor[], x: Tensor, xb: Tensor, gb: Tensor): Tensor {
  const [du, back] = vjp((xi: Tensor) => grad((xj: Tensor) => sum(mlp(p, xj)))(xi), x);
  const [h0] = back(E0);
  const [h1] = back(E1);
  back.dispose();
  const lap = sum(add(mul(h0, E0), mul(h1, E1)), 1);
  void du;
  return add(mean(square(lap)), mean(square(sub(mlp(p, xb), gb))));
}

function runPinn(useJit: boolean): { seconds: number; evals: number; loss: number } {
  let evals = 0;
  const vg = valueAndGrad((p: Tensor[]) => pinnLoss(p, X, XB, GB));
  // Under jit the data go in as arguments, so the plan does not bake them in.
  const jvg = jit((p: Tensor[], x: Tensor, xb: Tensor, gb: Tensor) => valueAndGrad((q: Tensor[]) => pinnLoss(q, x, xb, gb))(p));
  const obj: Objective<Tensor[]> = {
    valueAndGrad: (p) => {
      evals++;
      const [v, g] = (useJit ? jvg(p, X, XB, GB) : vg(p)) as [Tensor, Tensor[]];
      return [v.item(), g];
    },
  };
  const t0 = performance.now();
  let p = P0.map((t) => t.clone());
  const run = (o: Optimizer<never, Tensor[]>, steps: number): void => {
    let state = o.init(p);
    for (let s = 0; s < steps; s++) {
      const r = o.step(p, state, obj);
      p = r.params;
      state = r.state;
    }
  };
  run(adam<Tensor[]>({ lr: LR }) as unknown as Optimizer<never, Tensor[]>, ADAM_STEPS);
  run(lbfgs<Tensor[]>({ lineSearch: 'strong-wolfe', historySize: 10 }) as unknown as Optimizer<never, Tensor[]>, LBFGS_ITERS);
  const seconds = (performance.now() - t0) / 1e3;
  return { seconds, evals, loss: obj.valueAndGrad(p)[0] };
}

// ---- the small-op cases
const grad3 = grad((x: Tensor) => sum(tanh(matmul(x, B))));
const jitGrad3 = jit(grad((x: Tensor) => sum(tanh(matmul(x, B)))));
const CASES: { name: string; peer: string; calls: number; fn: () => unknown }[] = [
  { name: 'add', peer: 'add', calls: CALLS, fn: () => add(A, B) },
  { name: 'matmul', peer: 'matmul', calls: CALLS, fn: () => matmul(A, B) },
  { name: 'tanh', peer: 'tanh', calls: CALLS, fn: () => tanh(A) },
  { name: 'sum', peer: 'sum', calls: CALLS, fn: () => sum(A) },
  { name: 'grad sum(tanh(x·B))', peer: 'grad', calls: Math.max(1, Math.floor(CALLS / 10)), fn: () => grad3(A) },
  { name: 'jit(grad) sum(tanh(x·B))', peer: 'grad', calls: Math.max(1, Math.floor(CALLS / 10)), fn: () => jitGrad3(A) },
];

function samples(fn: () => unknown, calls: number): number[] {
  for (let i = 0; i < Math.min(calls, 200); i++) fn();
  const out: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e9 / calls);
  }
  return out;
}

interface Peer { ask: (req: object) => Promise<unknown>; close: () => void; version: string }

async function startPeer(): Promise<Peer | string> {
  const missing = torchUnavailable();
  if (missing !== undefined) return missing;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE; // the peer's best kernels (see DESIGN.md); never in tests
  delete env.OPENBLAS_L2_SIZE;
  const script = fileURLToPath(new URL('../../src/bench/peers/torch-overhead.py', import.meta.url));
  const child = spawn('/usr/bin/python3', [script, '1'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done === true) throw new Error('the PyTorch peer exited');
    return r.value as string;
  };
  const hello = JSON.parse(await next()) as { torch: string };
  const pinn = { x: nested(X), xb: nested(XB), gb: nested(GB), params: P0.map((t) => t.toArray()), lr: LR };
  child.stdin.write(`${JSON.stringify({ a: nested(A), b: nested(B), pinn })}\n`);
  return {
    version: hello.torch,
    ask: async (req) => {
      child.stdin.write(`${JSON.stringify(req)}\n`);
      return JSON.parse(await next()) as unknown;
    },
    close: () => child.stdin.end(),
  };
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)];
};
const best = (xs: number[]): number => (xs.length === 0 ? NaN : Math.min(...xs));

kernels().setThreads(1);
const peer = await startPeer();
console.log(`hessian overhead benchmark: backend ${kernels().name}, 1 thread, ${ROUNDS} interleaved rounds of ${SAMPLES} samples${typeof peer === 'string' ? '' : `, PyTorch ${peer.version}`}`);
if (typeof peer === 'string') console.log(`(PyTorch peer skipped: ${peer})`);

const ours = CASES.map(() => [] as number[]);
const theirs = CASES.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  for (let c = 0; c < CASES.length; c++) {
    ours[c].push(...samples(CASES[c].fn, CASES[c].calls));
    if (typeof peer !== 'string') theirs[c].push(...((await peer.ask({ case: CASES[c].peer, calls: CASES[c].calls, samples: SAMPLES })) as number[]));
  }
}
const us = (s: number): number => s * 1e6;
console.log(table(
  ['20×20 float64', 'ours µs (median)', 'torch µs (median)', 'ratio', 'ours µs (best)', 'torch µs (best)', 'ratio (best)'],
  CASES.map((c, i) => [c.name, us(median(ours[i])), us(median(theirs[i])), median(ours[i]) / median(theirs[i]), us(best(ours[i])), us(best(theirs[i])), best(ours[i]) / best(theirs[i])]),
));
console.log('ratio = ours / PyTorch: below 1 means ours is faster');

if (PINN_RUNS > 0) {
  const rows: (string | number)[][] = [];
  const res: Record<string, { seconds: number[]; evals: number; loss: number }> = {};
  const note = (k: string, r: { seconds: number; evals: number; loss: number }): void => {
    const e = res[k] ?? (res[k] = { seconds: [], evals: r.evals, loss: r.loss });
    e.seconds.push(r.seconds);
  };
  for (let r = 0; r < PINN_RUNS; r++) {
    note('ours eager', runPinn(false));
    note('ours jit', runPinn(true));
    if (typeof peer !== 'string') note('torch eager', (await peer.ask({ case: 'pinn', adam: ADAM_STEPS, lbfgs: LBFGS_ITERS })) as { seconds: number; evals: number; loss: number });
  }
  const ref = res['torch eager'];
  for (const [k, v] of Object.entries(res)) {
    const m = median(v.seconds);
    rows.push([k, m, best(v.seconds), v.evals, (m / v.evals) * 1e3, v.loss, ref === undefined ? NaN : m / median(ref.seconds), ref === undefined ? NaN : (m / v.evals) / (median(ref.seconds) / ref.evals)]);
  }
  console.log(`\nPINN 2-20-20-1 tanh, Laplace residual, ${N_IN} collocation + ${N_B} boundary points: Adam ${ADAM_STEPS} steps, then L-BFGS (strong Wolfe) ${LBFGS_ITERS} iterations`);
  console.log(table(['run', 's (median)', 's (best)', 'evaluations', 'ms / evaluation', 'final loss', 'time / torch', 'per-eval / torch'], rows));
}
if (typeof peer !== 'string') peer.close();

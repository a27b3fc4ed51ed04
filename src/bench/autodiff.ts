/**
 * `npm run bench:autodiff`: the fwd+bwd step of the deep autoencoder
 * 784-1000-500-250-30-250-500-1000-784 (sigmoid units, linear code layer, sigmoid
 * cross-entropy, batch 256) on 1 and 2 threads, against PyTorch in the same run when Debian's
 * python3-torch is installed; and the cost of `hvp` and `ggnvp` relative to one gradient.
 * Then the issue-11 figures: the step at 2 threads, median of 40 steps after 3 warm-up steps in
 * 8 rounds interleaved with PyTorch's, each step's result released (as in a training loop);
 * and the process's very first step against that median. Issue 13: the products through a
 * linearization built once at the point (`ggnOperatorFn`, `hvpOperatorFn`), per application.
 * Then the first step of fresh processes, ours and PyTorch's alternating (--fresh=N, default 6).
 * Benchmarks measure; they assert nothing. Option --only=step: just the issue-11 figures.
 */
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { kernels } from '../kernels/index.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { hvp, hvpOperatorFn } from '../autodiff/compose.js';
import { Linear, Sigmoid } from '../nn/layers.js';
import { Sequential, type Module } from '../nn/module.js';
import { sigmoidBinaryCrossEntropy } from '../nn/losses.js';
import { ggnOperatorFn, ggnvp } from '../curvature/products.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { medianMs, runPeer, table, torchUnavailable } from './util.js';
import { PeerSession, median } from './peer-session.js';
import { tidy } from '../tensor/scope.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SIZES = [784, 1000, 500, 250, 30, 250, 500, 1000, 784];
const args = process.argv.slice(2);
const batch = Number(args.find((a) => a.startsWith('--batch='))?.slice(8) ?? 256);
const repeats = Number(args.find((a) => a.startsWith('--repeats='))?.slice(10) ?? 7);

/**
 * The matmul FLOPs of the products relative to one gradient, counted per layer in units of one
 * layer's forward matmul F_l = 2·batch·in·out (elementwise work ignored). A gradient is the
 * forward, the weight gradients and the input gradients of every layer but the first: 3S - F_1,
 * S = sum F_l. Forward-over-reverse as traced (the gradient's own weight gradients computed,
 * then discarded): 9S - 5F_1; any exact hvp that skips those discarded products (Pearlmutter's
 * R-op) still needs 8S - 5F_1; a product through a linearization already built at the point
 * (the gradient's forward and backward shared) needs 6S - 4F_1. The Gauss-Newton product
 * J^T H J v: primal forward S, J v (F_1 + 2(S - F_1)), J^T (2S - F_1): 5S - 2F_1 (4S - 2F_1 linearized).
 */
export function flopBounds(sizes: readonly number[] = SIZES): string {
  const f = sizes.slice(1).map((out, i) => sizes[i] * out);
  const s = f.reduce((a, b) => a + b, 0);
  const grad = 3 * s - f[0];
  const r = (x: number) => (x / grad).toFixed(2);
  return `hvp as traced ${r(9 * s - 5 * f[0])}x, exact hvp lower bound ${r(8 * s - 5 * f[0])}x, linearized hvp ${r(6 * s - 4 * f[0])}x; ggnvp ${r(5 * s - 2 * f[0])}x, linearized ggnvp ${r(4 * s - 2 * f[0])}x`;
}

function autoencoder(): Sequential {
  const layers: Module[] = [];
  for (let i = 0; i < SIZES.length - 1; i++) {
    layers.push(new Linear(SIZES[i], SIZES[i + 1]));
    const codeLayer = i === SIZES.length / 2 - 2;
    const last = i === SIZES.length - 2;
    if (!codeLayer && !last) layers.push(new Sigmoid());
  }
  return new Sequential(layers);
}

const net = autoencoder();
const params = net.init(new Rng(0));
const x = new Rng(1).uniform([batch, 784]);
const loss = sigmoidBinaryCrossEntropy();
const lossFn = (p: PyTree[]) => loss.value(net.apply(p, x), x);
const gradFn = valueAndGrad(lossFn);
const v = treeUnflatten(params, treeLeaves(params).map((l) => new Rng(2).normal(l.shape.slice())));

const k = kernels();
const seconds = (fn: () => void): number => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};
// Measured before anything else runs: what a user sees on the first call.
k.setThreads(2);
const stepReleased = () => tidy(() => { gradFn(params); });
const cpu0 = process.cpuUsage();
const firstStepMs = seconds(stepReleased) * 1e3;
const firstSysMs = process.cpuUsage(cpu0).system / 1e3;
if (args.includes('--first-step-child')) {
  // One fresh process's view, for the parent's fresh-process rounds: its first step, the system
  // time inside it (page faults), and the median of the 10 steps after it.
  const later: number[] = [];
  for (let i = 0; i < 10; i++) later.push(seconds(stepReleased) * 1e3);
  console.log(JSON.stringify({ firstMs: firstStepMs, firstSysMs, medianMs: median(later) }));
  process.exit(0);
}
const only = args.includes('--only=step');
const fresh = Number(args.find((a) => a.startsWith('--fresh='))?.slice(8) ?? 6);
console.log(`hessian autodiff benchmark: autoencoder ${SIZES.join('-')}, batch ${batch}, backend ${k.name} (${k.simd})`);
const peerMissing = torchUnavailable();
const rows: (string | number)[][] = [];
let ratios = { hvp: NaN, ggnvp: NaN };
const model = (p: PyTree[], xx: Tensor) => net.apply(p, xx);
for (const threads of only ? [] : [1, 2]) {
  k.setThreads(threads);
  const step = medianMs(() => gradFn(params), repeats);
  const hv = medianMs(() => hvp(lossFn, params, v), Math.max(3, repeats >> 1));
  const gn = medianMs(() => ggnvp(model, loss, params, { x, y: x }, v), Math.max(3, repeats >> 1));
  ratios = { hvp: hv / step, ggnvp: gn / step };
  let torchStep = NaN;
  let torchHvp = NaN;
  let torchGgn = NaN;
  if (peerMissing === undefined) {
    const r = runPeer('torch-autoencoder.py', [batch, threads, repeats]);
    torchStep = r.stepMs as number;
    torchHvp = r.hvpMs as number;
    torchGgn = r.ggnvpMs as number;
  }
  rows.push([`${threads} thread${threads > 1 ? 's' : ''}`, step, torchStep, step / torchStep, hv / step, gn / step, torchHvp / torchStep, torchGgn / torchStep]);
}
if (!only) console.log(table(['threads', 'step ms', 'torch ms', 'ours/torch', 'hvp/grad', 'ggnvp/grad', 'torch hvp/grad', 'torch ggnvp/grad'], rows));
if (!only && peerMissing !== undefined) console.log(`PyTorch peer skipped: ${peerMissing}`);
if (!only) console.log(`targets: step <= 1.0x PyTorch; hvp <= 2.5x and ggnvp <= 2x a gradient (reached: ${ratios.hvp.toFixed(2)}x, ${ratios.ggnvp.toFixed(2)}x)`);

// Issue 11: interleaved rounds at 2 threads, every step's result released as a training loop does.
k.setThreads(2);
for (let i = 0; i < 3; i++) stepReleased();
const peer = await PeerSession.start(2);
if (typeof peer !== 'string') await peer.times({ cmd: 'ae', batch, threads: 2, calls: 3 }); // its warm-up
const ours: number[] = [];
const theirs: number[] = [];
for (let r = 0; r < 8; r++) {
  for (let i = 0; i < 5; i++) ours.push(seconds(stepReleased) * 1e3);
  if (typeof peer !== 'string') theirs.push(...(await peer.times({ cmd: 'ae', batch, threads: 2, calls: 5 })).map((t) => t * 1e3));
}
if (typeof peer !== 'string') peer.close();
const hv2 = medianMs(() => tidy(() => { hvp(lossFn, params, v); }), 5);
const gn2 = medianMs(() => tidy(() => { ggnvp(model, loss, params, { x, y: x }, v); }), 5);
// Built once at the point, applied to many vectors (what CG, Lanczos and Hutchinson do).
const gOp = ggnOperatorFn(model, loss, params, { x, y: x });
const hOp = hvpOperatorFn(lossFn, params);
const gnLin = medianMs(() => tidy(() => { gOp.apply(v); }), 9);
const hvLin = medianMs(() => tidy(() => { hOp.apply(v); }), 9);
const grad2 = medianMs(stepReleased, 9); // the gradient again, in the same minutes as the products
gOp.dispose();
hOp.dispose();
const oursMs = median(ours);
const theirsMs = theirs.length > 0 ? median(theirs) : NaN;
console.log(`\nstep, 2 threads, median of 40 after 3 warm-up, interleaved with PyTorch in 8 rounds (results released)`);
console.log(table(['', 'ours', 'PyTorch', 'ours/PyTorch', 'first step', 'first/median', 'hvp/grad', 'ggnvp/grad'], [
  ['ms or ratio', oursMs, theirsMs, oursMs / theirsMs, firstStepMs, firstStepMs / oursMs, hv2 / oursMs, gn2 / oursMs],
]));
console.log('\nproducts through a linearization built once (per application), 2 threads, against the gradient measured right after');
console.log(table(['', 'grad ms', 'linearized ggnvp ms', 'ggnvp/grad', 'linearized hvp ms', 'hvp/grad'], [
  ['ms or ratio', grad2, gnLin, gnLin / grad2, hvLin, hvLin / grad2],
]));
if (typeof peer === 'string') console.log(`PyTorch peer skipped: ${peer}`);

// The first step of fresh processes, ours and PyTorch's alternating, so that both meet the same
// state of the machine's memory. On a virtual machine whose host takes back the guest's free
// pages, a process's first touch of fresh memory can cost several times the step itself; the
// system time inside the first step shows it (see the README).
if (fresh > 0) {
  const self = fileURLToPath(import.meta.url);
  const rowsOurs: Record<string, number>[] = [];
  const rowsTorch: Record<string, number>[] = [];
  for (let i = 0; i < fresh; i++) {
    const r = spawnSync(process.execPath, [self, '--first-step-child', `--batch=${batch}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`first-step child failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    rowsOurs.push(JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number>);
    const fresh = peerMissing === undefined ? await PeerSession.start(2) : 'skipped';
    if (typeof fresh !== 'string') {
      const [first, sys, ...later] = await fresh.times({ cmd: 'first', batch, threads: 2, calls: 10 });
      fresh.close();
      rowsTorch.push({ firstMs: first * 1e3, firstSysMs: sys * 1e3, medianMs: median(later) * 1e3 });
    }
  }
  const summary = (name: string, rs: Record<string, number>[]): (string | number)[] => {
    const ratio = rs.map((r) => r.firstMs / r.medianMs);
    return [name, median(rs.map((r) => r.firstMs)), median(rs.map((r) => r.firstSysMs)), median(rs.map((r) => r.medianMs)), median(ratio),
      `${Math.min(...ratio).toFixed(2)}-${Math.max(...ratio).toFixed(2)}`];
  };
  console.log(`\nfirst step of ${fresh} fresh processes each, 2 threads, ours and PyTorch's alternating (medians; ratio against the same process's next 10 steps)`);
  const fr = [summary('ours', rowsOurs)];
  if (rowsTorch.length > 0) fr.push(summary('PyTorch', rowsTorch));
  console.log(table(['', 'first ms', 'its system ms', 'later median ms', 'first/median', 'range'], fr));
}
console.log(`\nmatmul FLOPs per product / one gradient (by arithmetic): ${flopBounds()}`);
console.log('targets (issue 11): step <= 0.8x PyTorch; first step <= 3x our median; hvp <= 2.0x and ggnvp <= 1.5x a gradient; (issue 13) linearized ggnvp <= 1.2x');

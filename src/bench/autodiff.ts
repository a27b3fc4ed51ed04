/**
 * `npm run bench:autodiff`: the fwd+bwd step of the deep autoencoder
 * 784-1000-500-250-30-250-500-1000-784 (sigmoid units, linear code layer, sigmoid
 * cross-entropy, batch 256) on 1 and 2 threads, against PyTorch in the same run when Debian's
 * python3-torch is installed; and the cost of `hvp` and `ggnvp` relative to one gradient.
 * Benchmarks measure; they assert nothing.
 */
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { kernels } from '../kernels/index.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { hvp } from '../autodiff/compose.js';
import { Linear, Sigmoid } from '../nn/layers.js';
import { Sequential, type Module } from '../nn/module.js';
import { sigmoidBinaryCrossEntropy } from '../nn/losses.js';
import { ggnvp } from '../curvature/products.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { medianMs, runPeer, table, torchUnavailable } from './util.js';

const SIZES = [784, 1000, 500, 250, 30, 250, 500, 1000, 784];
const args = process.argv.slice(2);
const batch = Number(args.find((a) => a.startsWith('--batch='))?.slice(8) ?? 256);
const repeats = Number(args.find((a) => a.startsWith('--repeats='))?.slice(10) ?? 7);

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
console.log(`hessian autodiff benchmark: autoencoder ${SIZES.join('-')}, batch ${batch}, backend ${k.name} (${k.simd})`);
const peerMissing = torchUnavailable();
const rows: (string | number)[][] = [];
let ratios = { hvp: NaN, ggnvp: NaN };
for (const threads of [1, 2]) {
  k.setThreads(threads);
  const step = medianMs(() => gradFn(params), repeats);
  const hv = medianMs(() => hvp(lossFn, params, v), Math.max(3, repeats >> 1));
  const gn = medianMs(() => ggnvp((p: PyTree[], xx: Tensor) => net.apply(p, xx), loss, params, { x, y: x }, v), Math.max(3, repeats >> 1));
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
console.log(table(['threads', 'step ms', 'torch ms', 'ours/torch', 'hvp/grad', 'ggnvp/grad', 'torch hvp/grad', 'torch ggnvp/grad'], rows));
if (peerMissing !== undefined) console.log(`PyTorch peer skipped: ${peerMissing}`);
console.log(`targets: step <= 1.0x PyTorch; hvp <= 2.5x and ggnvp <= 2x a gradient (reached: ${ratios.hvp.toFixed(2)}x, ${ratios.ggnvp.toFixed(2)}x)`);

/**
 * Networks trained live on the shipped MNIST digits: an MLP classifier and a small deep
 * autoencoder, each optimizer a `Stepper` on its own copy of the same initial weights. Adam and
 * K-FAC take mini-batches, Hessian-free the whole (small) training set, as each is meant to be
 * used. Every few steps a stepper measures the top Hessian eigenvalue of the training loss on a
 * fixed sub-batch (power iteration on the exact Hessian-vector products).
 */
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/tensor/random.js';
import { tidy } from '../../src/tensor/scope.js';
import { gather } from '../../src/tensor/shape-ops.js';
import { argmax } from '../../src/tensor/ops.js';
import { sigmoid } from '../../src/autodiff/ops.js';
import type { PyTree } from '../../src/autodiff/pytree.js';
import { mlp, deepAutoencoder } from '../../src/nn/models.js';
import { softmaxCrossEntropy, sigmoidBinaryCrossEntropy } from '../../src/nn/losses.js';
import type { Sequential } from '../../src/nn/module.js';
import { modelObjective } from '../../src/optim/objective.js';
import { optimizerEntry } from '../../src/optim/registry.js';
import type { Optimizer, OptimizerState } from '../../src/optim/types.js';
import { hessianOperator } from '../../src/curvature/diagnostics.js';
import { powerIteration } from '../../src/curvature/estimators/power-iteration.js';
import type { NetworkProblem, Point } from './protocol.js';
import type { Stepper } from './landscape-steppers.js';

/** The digits shipped as `digits.bin` (see web/scripts/make-assets.mjs): u32 train and test counts, then u8 pixels, then u8 labels. */
export interface Digits { train: { x: Tensor; labels: Uint8Array }; test: { x: Tensor; labels: Uint8Array } }

const PIXELS = 784;
/** Digits are trained at 14×14 (2×2 averages of the 28×28 pixels): 16× less work for K-FAC's input factor, and the demo stays live. */
export const SIDE = 14;
const INPUTS = SIDE * SIDE;

/** Decode digits.bin and average each image's 2×2 blocks (28×28 → 14×14). */
export function decodeDigits(bytes: ArrayBuffer): Digits {
  if (bytes.byteLength < 8) throw new Error(`digits.bin: ${bytes.byteLength} bytes, too short for its header`);
  const [nTrain, nTest] = new Uint32Array(bytes, 0, 2);
  const n = nTrain + nTest;
  if (bytes.byteLength !== 8 + n * (PIXELS + 1)) throw new Error(`digits.bin: ${bytes.byteLength} bytes, expected ${8 + n * (PIXELS + 1)} for ${nTrain} + ${nTest} digits`);
  const px = new Uint8Array(bytes, 8, n * PIXELS);
  const labels = new Uint8Array(bytes, 8 + n * PIXELS, n);
  const part = (start: number, m: number) => {
    const x = new Float32Array(m * INPUTS);
    for (let k = 0; k < m; k++) {
      const src = (start + k) * PIXELS;
      for (let r = 0; r < SIDE; r++) {
        for (let c = 0; c < SIDE; c++) {
          const o = src + 2 * r * 28 + 2 * c;
          x[k * INPUTS + r * SIDE + c] = (px[o] + px[o + 1] + px[o + 28] + px[o + 29]) / (4 * 255);
        }
      }
    }
    return { x: new Tensor(x, [m, INPUTS]), labels: labels.slice(start, start + m) };
  };
  return { train: part(0, nTrain), test: part(nTrain, nTest) };
}

export async function loadDigits(url: URL): Promise<Digits> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status} (build the demo with npm run build:web)`);
  return decodeDigits(await res.arrayBuffer());
}

const BATCH = 128;
const EIG_EVERY = 10;
const SAMPLE_EVERY = 5;
const SHOWN = 8;

function optionsFor(id: string): Record<string, unknown> {
  switch (id) {
    case 'adam': return { lr: 1e-2 };
    case 'hessian-free': return { cgMaxIter: 10, curvatureFraction: 0.25 };
    default: return {};
  }
}

export function networkSteppers(problem: NetworkProblem, optimizers: readonly string[], digits: Digits): Stepper[] {
  const classifier = problem === 'mlp';
  const net: Sequential = classifier ? mlp([INPUTS, 32, 10]) : deepAutoencoder([INPUTS, 64, 16]);
  const loss = classifier ? softmaxCrossEntropy() : sigmoidBinaryCrossEntropy({ reduction: 'batchmean' });
  const { train, test } = digits;
  const nTrain = train.labels.length;
  const y = classifier ? new Tensor(Float32Array.from(train.labels), [nTrain]) : train.x;
  const full = { x: train.x, y };
  const shown = Array.from({ length: SHOWN }, (_, i) => i);
  const shownX = gather(test.x, shown, 0);
  const eigIdx = Array.from({ length: 128 }, (_, i) => i);
  const eigBatch = { x: gather(train.x, eigIdx, 0), y: gather(y, eigIdx, 0) };
  const p0 = net.init(new Rng(0));
  const fullObjective = modelObjective(net, loss, full);
  const loss0 = tidy(() => fullObjective.valueAndGrad(p0)[0]);

  return optimizers.map((id) => {
    const entry = optimizerEntry(id);
    const opt = entry.create(optionsFor(id)) as unknown as Optimizer<PyTree, PyTree[]>;
    let params: PyTree[] = p0;
    let state: OptimizerState<PyTree> = opt.init(p0);
    let step = 0;
    let seconds = 0;
    let done = false;
    const rng = new Rng(1);
    let order: number[] = [];
    const nextBatch = () => {
      if (!entry.stochastic) return full;
      if (order.length < BATCH) order = rng.permutation(nTrain);
      const idx = order.splice(0, BATCH);
      return { x: gather(train.x, idx, 0), y: gather(y, idx, 0) };
    };
    let lastSample = -1;
    return {
      id,
      first: { step: 0, seconds: 0, loss: loss0 },
      get step() { return step; },
      get done() { return done; },
      advance(): Point {
        const t0 = performance.now();
        const r = opt.step(params, state, modelObjective(net, loss, nextBatch()));
        seconds += (performance.now() - t0) / 1000;
        ({ params, state } = r);
        step++;
        const lossNow = tidy(() => fullObjective.value?.(params) ?? fullObjective.valueAndGrad(params)[0]);
        if (!Number.isFinite(lossNow)) done = true;
        const point: Point = { step, seconds, loss: lossNow };
        if (step % EIG_EVERY === 0 || step === 1) {
          point.eig = tidy(() => powerIteration(hessianOperator(modelObjective(net, loss, eigBatch), params), { iters: 12, tol: 1e-3, seed: step }).eigenvalue);
        }
        return point;
      },
      samples() {
        if (step === lastSample || (step % SAMPLE_EVERY !== 0 && step > 1)) return undefined;
        lastSample = step;
        return tidy(() => {
          const out = net.apply(params, shownX);
          const labels = [...test.labels.slice(0, SHOWN)];
          if (classifier) {
            const predicted = [...argmax(out, 1).data];
            return { images: Float32Array.from(shownX.data), labels, predicted };
          }
          return { images: Float32Array.from(sigmoid(out).data), labels, predicted: [] };
        });
      },
      dispose: () => undefined,
    };
  });
}

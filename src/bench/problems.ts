/**
 * The registry of named benchmark problems: each is a model + loss + data + evaluation (or a
 * plain test function), built from a seed. Ids are kebab-case and used everywhere (CLI, results,
 * report): `mgh/<name>`, `logreg-mnist`, `mlp-mnist`, `autoencoder-mnist`,
 * `autoencoder-curves`, `cnn-mnist`, `mlp-iris`, `mlp-spirals`, `pinn-poisson-1d`, `pinn-heat-1d`,
 * `rnn-<task>` (rnn-problems.ts).
 */
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { gather } from '../tensor/shape-ops.js';
import { argmax } from '../tensor/ops.js';
import { Linear } from '../nn/layers.js';
import { Sequential, Module } from '../nn/module.js';
import { cnn, deepAutoencoder, mlp } from '../nn/models.js';
import { sparseInit } from '../nn/init.js';
import { mse, sigmoidBinaryCrossEntropy, softmaxCrossEntropy, type Loss } from '../nn/losses.js';
import { describe } from '../tensor/tensor.js';
import { modelObjective, objective } from '../optim/objective.js';
import { reshape } from '../autodiff/ops.js';
import { kfacObjective } from '../optim/kronecker/kfac-objective.js';
import type { Objective } from '../optim/types.js';
import { MGH_PROBLEMS, mghProblem } from '../data/mgh.js';
import { loadMnist } from '../data/mnist.js';
import { loadCurves } from '../data/curves.js';
import { loadIris } from '../data/iris.js';
import { twoSpirals } from '../data/synthetic.js';
import type { Evaluation, Problem, ProblemInstance } from './problem-types.js';
import { PINN_PROBLEMS } from './pinn-problems.js';
import { RNN_PROBLEM_SPECS, rnnProblemInstance } from './rnn-problems.js';

export type { BuildOptions, DataSize, Evaluation, Problem, ProblemInstance, ProblemKind } from './problem-types.js';

/** Martens 2010's error: mean over cases of Σ_j (σ(z_ij) − x_ij)². */
function reconstructionError(logits: Tensor, x: Tensor): number {
  let s = 0;
  for (let i = 0; i < x.size; i++) {
    const z = logits.data[i];
    const p = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
    s += (p - x.data[i]) ** 2;
  }
  return s / x.shape[0];
}

/** Examples and targets sharing their first axis. */
export interface Split { x: Tensor; y: Tensor }

/**
 * The shuffle order of epoch e: the e-th permutation drawn from a generator seeded with `seed`.
 * Only the current epoch is kept (memory stays O(n) however long the run); asking for an earlier
 * epoch (a second run over the same instance) replays the generator from the seed, so the order
 * is a function of (seed, e) alone and a resumed run sees the batches of an uninterrupted one.
 */
export function epochOrders(n: number, seed: number): (e: number) => readonly number[] {
  let rng = new Rng(seed);
  let current = -1;
  let order: number[] = [];
  return (e) => {
    if (!Number.isInteger(e) || e < 0) throw new RangeError(`epoch must be a non-negative integer, got ${e}`);
    if (e < current) {
      rng = new Rng(seed);
      current = -1;
    }
    while (current < e) {
      order = rng.permutation(n);
      current++;
    }
    return order;
  };
}

/** A model problem over a training and an optional test split. */
function modelProblem(model: Module, loss: Loss, train: Split, test: Split | undefined, seed: number, kind: 'classifier' | 'autoencoder' | 'regression', dtype: 'float32' | 'float64' = 'float32', l2 = 0): ProblemInstance {
  const classifier = kind === 'classifier';
  const params = model.init(new Rng(seed), { dtype });
  const n = train.x.shape[0];
  const epochs = epochOrders(n, seed + 1);
  const indexOf = (k: number, b: number): number[] => {
    // Epoch e covers batches [e·⌊n/b⌋, (e+1)·⌊n/b⌋); each epoch is a fresh seeded permutation.
    const per = Math.max(1, Math.floor(n / b));
    const j = k % per;
    return epochs(Math.floor(k / per)).slice(j * b, Math.min(n, (j + 1) * b));
  };
  return {
    params,
    // kfacObjective is modelObjective plus the layer statistics K-FAC reads (no cost unless asked for).
    full: kfacObjective(model, loss, train, { l2 }),
    batch: (k, b) => {
      const idx = indexOf(k, Math.min(b, n));
      return kfacObjective(model, loss, { x: gather(train.x, idx, 0), y: gather(train.y, idx, 0) }, { l2 });
    },
    trainSize: n,
    evaluate: (p) => {
      const zTrain = model.apply(p, train.x);
      const out: Evaluation = { trainLoss: loss.value(zTrain, train.y).item() };
      if (kind === 'autoencoder') out.trainReconstructionError = reconstructionError(zTrain, train.y);
      if (test !== undefined) {
        const z = model.apply(p, test.x);
        out.testLoss = loss.value(z, test.y).item();
        if (classifier) {
          const pred = argmax(z, 1).data;
          let right = 0;
          for (let i = 0; i < pred.length; i++) if (pred[i] === test.y.data[i]) right++;
          out.testAccuracy = right / pred.length;
        }
      }
      return out;
    },
    model,
    loss,
    data: { train },
    batchIndices: (k, b) => indexOf(k, Math.min(b, n)),
    l2,
  };
}

export { deepAutoencoder } from '../nn/models.js';

const SIZES = {
  tiny: { mnistTrain: 128, mnistTest: 64, curvesTrain: 128, curvesTest: 64 },
  small: { mnistTrain: 2000, mnistTest: 1000, curvesTrain: 2000, curvesTest: 1000 },
  paper: { mnistTrain: 8000, mnistTest: 2000, curvesTrain: 20000, curvesTest: 10000 },
};

const problems: Problem[] = [
  ...MGH_PROBLEMS.map((p): Problem => ({
    id: `mgh/${p.id}`,
    title: p.title,
    kind: 'function',
    description: `Moré–Garbow–Hillstrom test function, n = ${p.n}, from the standard starting point`,
    fStar: p.fStar,
    build: () => {
      const x0 = new Tensor(Float64Array.from(p.x0), [p.n]);
      // f = Σ rᵢ² is a summed squared error of the residuals against zero targets: that view
      // gives Sophia-G its Gauss-Newton-Bartlett diagonal; every other method sees objective(f).
      const asModel = modelObjective((x: Tensor) => reshape(p.residuals(x), [1, p.m]), mse({ reduction: 'sum' }), { x: new Tensor(new Float64Array(1), [1, 1]), y: new Tensor(new Float64Array(p.m), [1, p.m]) });
      const full: Objective<Tensor> = { ...objective(p.f), gnbDiagonal: asModel.gnbDiagonal };
      return { params: x0, full: full as Objective, batch: () => full as Objective, trainSize: 1, evaluate: (x) => ({ trainLoss: full.valueAndGrad(x as Tensor)[0] }) };
    },
  })),
  {
    id: 'logreg-mnist', title: 'Logistic regression, MNIST', kind: 'classifier',
    description: 'softmax regression 784 → 10 on MNIST digits (convex)',
    build: (seed, o) => {
      const s = SIZES[o?.size ?? 'small'];
      const { train, test } = loadMnist({ trainSize: s.mnistTrain, testSize: s.mnistTest, seed });
      return modelProblem(new Sequential([new Linear(784, 10, { init: 'zeros' })]), softmaxCrossEntropy(), train, test, seed, 'classifier');
    },
  },
  {
    id: 'mlp-mnist', title: 'MLP classifier, MNIST', kind: 'classifier',
    description: '784-256-10 with tanh units, softmax cross-entropy',
    build: (seed, o) => {
      const s = SIZES[o?.size ?? 'small'];
      const { train, test } = loadMnist({ trainSize: s.mnistTrain, testSize: s.mnistTest, seed });
      return modelProblem(mlp([784, 256, 10]), softmaxCrossEntropy(), train, test, seed, 'classifier');
    },
  },
  {
    id: 'autoencoder-mnist', title: 'Deep autoencoder, MNIST', kind: 'autoencoder',
    description: '784-1000-500-250-30 mirrored, sigmoid units, linear code, sigmoid cross-entropy, sparse init, L2 1e-5 (Hinton & Salakhutdinov 2006; Martens 2010)',
    build: (seed, o) => {
      const s = SIZES[o?.size ?? 'small'];
      const { train, test } = loadMnist({ trainSize: s.mnistTrain, testSize: s.mnistTest, seed });
      const ae = (d: Split) => ({ x: d.x, y: d.x });
      return modelProblem(deepAutoencoder([784, 1000, 500, 250, 30], sparseInit()), sigmoidBinaryCrossEntropy({ reduction: 'batchmean' }), ae(train), ae(test), seed, 'autoencoder', 'float32', 1e-5);
    },
  },
  {
    id: 'autoencoder-curves', title: 'Deep autoencoder, CURVES-syn', kind: 'autoencoder',
    description: '784-400-200-100-50-25-6 mirrored, sigmoid units, linear code, sigmoid cross-entropy, sparse init, L2 1e-5 (Martens 2010), on generated CURVES-syn',
    build: (seed, o) => {
      const s = SIZES[o?.size ?? 'small'];
      const { train, test } = loadCurves({ trainSize: s.curvesTrain, testSize: s.curvesTest, seed });
      return modelProblem(deepAutoencoder([784, 400, 200, 100, 50, 25, 6], sparseInit()), sigmoidBinaryCrossEntropy({ reduction: 'batchmean' }), train, test, seed, 'autoencoder', 'float32', 1e-5);
    },
  },
  {
    id: 'cnn-mnist', title: 'Small CNN, MNIST', kind: 'classifier',
    description: 'conv5x5(8)-relu-maxpool2-conv5x5(16)-relu-maxpool2-linear(10)',
    build: (seed, o) => {
      const s = SIZES[o?.size ?? 'small'];
      const { train, test } = loadMnist({ trainSize: s.mnistTrain, testSize: s.mnistTest, seed, images: 'nchw' });
      const net = cnn({ filters: [8, 16], classes: 10 });
      return modelProblem(net, softmaxCrossEntropy(), train, test, seed, 'classifier');
    },
  },
  {
    id: 'mlp-iris', title: 'MLP classifier, iris', kind: 'classifier',
    description: '4-16-3 with tanh units on the 150 iris flowers (full batch; train = test)',
    build: (seed) => {
      const { x, y } = loadIris({ dtype: 'float64' });
      return modelProblem(mlp([4, 16, 3]), softmaxCrossEntropy(), { x, y }, { x, y }, seed, 'classifier', 'float64');
    },
  },
  {
    id: 'mlp-spirals', title: 'MLP classifier, two spirals', kind: 'classifier',
    description: '2-32-32-2 with tanh units on 512 noisy two-spiral points',
    build: (seed) => {
      const train = twoSpirals({ n: 512, noise: 0.05, seed });
      const test = twoSpirals({ n: 512, noise: 0.05, seed: seed + 1000 });
      return modelProblem(mlp([2, 32, 32, 2]), softmaxCrossEntropy(), train, test, seed, 'classifier');
    },
  },
  ...PINN_PROBLEMS,
  ...RNN_PROBLEM_SPECS.map(({ task, ...p }): Problem => ({ ...p, build: (seed, o) => rnnProblemInstance(task, seed, o) })),
];

export const PROBLEMS: ReadonlyMap<string, Problem> = new Map(problems.map((p) => [p.id, p]));

/** A user's problem: a model, a loss and data, trained and benchmarked like the shipped ones. */
export interface ProblemSpec {
  /** kebab-case, unique (e.g. 'my-digits'); the CLI and results name it. */
  id: string;
  title?: string;
  description?: string;
  /** 'classifier' (test accuracy from argmax), 'autoencoder' (reconstruction error) or 'regression'. */
  kind: 'classifier' | 'autoencoder' | 'regression';
  /** The model, or a builder called once per instance. */
  model: Module | (() => Module);
  loss: Loss;
  /** Training (and optional test) data, or a builder from the run's seed. */
  data: { train: Split; test?: Split } | ((seed: number) => { train: Split; test?: Split });
  /** Parameter dtype (default: the training data's). */
  dtype?: 'float32' | 'float64';
  /** Coupled L2 in every objective (default 0). */
  l2?: number;
}

function checkSplit(id: string, what: string, d: unknown): Split {
  const s = d as Split;
  if (s === null || typeof s !== 'object' || !(s.x instanceof Tensor) || !(s.y instanceof Tensor)) throw new TypeError(`registerProblem '${id}': ${what} must be {x: Tensor, y: Tensor}, got ${describe(d)}`);
  if (s.x.ndim < 1 || s.y.ndim < 1 || s.x.shape[0] !== s.y.shape[0] || s.x.shape[0] === 0) throw new RangeError(`registerProblem '${id}': ${what}.x has ${s.x.shape[0]} examples and ${what}.y ${s.y.shape[0]}; they must be equal and positive`);
  return s;
}

/** Add a problem to the registry (so `runOne`, `hessian bench` and `hessian train` in the same process find it). */
export function registerProblem(spec: ProblemSpec): Problem {
  if (spec === null || typeof spec !== 'object') throw new TypeError(`registerProblem: expected a problem spec, got ${describe(spec)}`);
  const id = spec.id;
  if (typeof id !== 'string' || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id)) throw new RangeError(`registerProblem: id ${JSON.stringify(id)} is not kebab-case`);
  if (PROBLEMS.has(id)) throw new RangeError(`registerProblem: a problem '${id}' is already registered`);
  if (!['classifier', 'autoencoder', 'regression'].includes(spec.kind)) throw new RangeError(`registerProblem '${id}': kind must be 'classifier', 'autoencoder' or 'regression', got ${JSON.stringify(spec.kind)}`);
  if (!(spec.model instanceof Module) && typeof spec.model !== 'function') throw new TypeError(`registerProblem '${id}': model must be an nn Module or a function returning one`);
  if (spec.loss === null || typeof spec.loss !== 'object' || typeof spec.loss.value !== 'function') throw new TypeError(`registerProblem '${id}': loss must be an nn loss`);
  if (typeof spec.data !== 'function') {
    checkSplit(id, 'data.train', spec.data?.train);
    if (spec.data.test !== undefined) checkSplit(id, 'data.test', spec.data.test);
  }
  const problem: Problem = {
    id,
    title: spec.title ?? id,
    kind: spec.kind,
    description: spec.description ?? `registered ${spec.kind} problem`,
    build: (seed) => {
      const d = typeof spec.data === 'function' ? spec.data(seed) : spec.data;
      const train = checkSplit(id, 'data.train', d?.train);
      const test = d.test === undefined ? undefined : checkSplit(id, 'data.test', d.test);
      const model = spec.model instanceof Module ? spec.model : spec.model();
      if (!(model instanceof Module)) throw new TypeError(`registerProblem '${id}': the model builder must return an nn Module`);
      return modelProblem(model, spec.loss, train, test, seed, spec.kind, spec.dtype ?? train.x.dtype, spec.l2 ?? 0);
    },
  };
  (PROBLEMS as Map<string, Problem>).set(id, problem);
  return problem;
}

export function problemById(id: string): Problem {
  const p = PROBLEMS.get(id);
  if (p !== undefined) return p;
  if (id.startsWith('mgh/')) mghProblem(id.slice(4)); // throws, listing the valid MGH ids
  const ids = [...PROBLEMS.keys()].filter((k) => !k.startsWith('mgh/'));
  throw new RangeError(`unknown problem '${id}'; valid: ${ids.join(', ')}, mgh/<name> (${MGH_PROBLEMS.length} functions, see 'hessian list')`);
}

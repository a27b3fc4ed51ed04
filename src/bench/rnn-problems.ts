/**
 * The problems `rnn-<task>`: a tanh RNN read out at the end of the sequence on the pathological
 * long-term tasks (data/sequence-tasks.ts), at any length T (`seqLength`, default 30). The RNN
 * starts from Martens & Sutskever's sparse initialization with the recurrent matrix at spectral
 * radius 1.1 (bench/rnn-init.ts): from PyTorch's default (radius ≈ 0.58) no method solved a task
 * in the benchmark's budgets, as the marked inputs fade long before the answer is due.
 * `full` is a fixed training set; mini-batch k is a fresh set of sequences drawn from (seed, k),
 * the infinite-data regime of Martens & Sutskever (2011). Every objective carries the hidden
 * states' products, so Hessian-free can use structural damping. `evaluate` reports `testError`,
 * the fraction of fresh test sequences answered wrongly (the papers' success: below 1%).
 */
import { Rng } from '../tensor/random.js';
import type { PyTree } from '../autodiff/pytree.js';
import { RNN } from '../nn/recurrent.js';
import { sparseRecurrentInit } from './rnn-init.js';
import { SequenceReadout, type SequenceReadoutParams } from '../nn/sequence-model.js';
import { mse, sigmoidBinaryCrossEntropy, softmaxCrossEntropy, type Loss } from '../nn/losses.js';
import type { Tensor } from '../tensor/tensor.js';
import { kfacObjective } from '../optim/kronecker/kfac-objective.js';
import { structuralObjective } from '../optim/krylov/structural-damping.js';
import type { Objective } from '../optim/types.js';
import { SEQUENCE_TASKS, generateSequenceTask, sequenceTask, sequenceTaskError, type SequenceData, type SequenceTaskName } from '../data/sequence-tasks.js';

/** The data sizes of problems.ts (kept apart: problems.ts imports this file). */
export type RnnDataSize = 'tiny' | 'small' | 'paper';

/** Default sequence length of the `rnn-*` problems (tests and the default suite keep T ≤ 50). */
export const DEFAULT_SEQ_LENGTH = 30;

/** The recurrent weights' spectral radius at initialization (Sutskever et al. 2013: 1.1). */
export const SPECTRAL_RADIUS = 1.1;

export const RNN_SIZES: Record<RnnDataSize, { hidden: number; train: number; test: number }> = {
  tiny: { hidden: 8, train: 64, test: 500 },
  small: { hidden: 32, train: 1000, test: 10000 },
  paper: { hidden: 100, train: 10000, test: 10000 },
};

function lossOf(task: SequenceTaskName): Loss {
  const kind = sequenceTask(task).kind;
  return kind === 'regression' ? mse() : kind === 'binary' ? sigmoidBinaryCrossEntropy() : softmaxCrossEntropy();
}

/** Seeds of the data streams: training set, test set, mini-batch k (disjoint for k < 10⁶). */
const TEST_CHUNK = 1000;
const trainSeed = (seed: number) => seed * 1000003 + 17;
const testSeed = (seed: number) => seed * 1000003 + 29;
const batchSeed = (seed: number, k: number) => (seed + 1) * 7919 * 1000003 + k;

/** An instance of `rnn-<task>` (a ProblemInstance of problems.ts). */
export function rnnProblemInstance(task: SequenceTaskName, seed: number, options: { size?: RnnDataSize; seqLength?: number } = {}) {
  const spec = sequenceTask(task);
  const steps = options.seqLength ?? DEFAULT_SEQ_LENGTH;
  if (!Number.isInteger(steps) || steps < spec.minLength) throw new RangeError(`rnn-${task}: seqLength must be an integer >= ${spec.minLength}, got ${String(options.seqLength)}`);
  const s = RNN_SIZES[options.size ?? 'small'];
  const model = new SequenceReadout(new RNN(spec.inputSize, s.hidden), spec.outputSize, { steps: spec.outputSteps });
  const loss = lossOf(task);
  const rng = new Rng(seed);
  const init = model.init(rng);
  const params: SequenceReadoutParams = { rnn: sparseRecurrentInit(rng, init.rnn, SPECTRAL_RADIUS), head: init.head };
  const states = (p: SequenceReadoutParams, x: Tensor) => model.outputsAndStates(p, x).states;
  const objectiveOn = (d: SequenceData): Objective => structuralObjective(kfacObjective(model, loss, d), states, d.x) as unknown as Objective;
  const train = generateSequenceTask(task, { n: s.train, length: steps, seed: trainSeed(seed) });
  return {
    params,
    full: objectiveOn(train),
    batch: (k: number, b: number) => objectiveOn(generateSequenceTask(task, { n: b, length: steps, seed: batchSeed(seed, k) })),
    trainSize: s.train,
    evaluate: (p: PyTree): { trainLoss: number; testLoss: number; testError: number } => {
      const q = p as SequenceReadoutParams;
      // The test set in chunks, regenerated from the seed at each evaluation: 10,000 one-hot
      // sequences of 100 symbols would hold 200 MB at T = 50.
      let testLoss = 0;
      let wrong = 0;
      for (let start = 0, c = 0; start < s.test; start += TEST_CHUNK, c++) {
        const m = Math.min(TEST_CHUNK, s.test - start);
        const d = generateSequenceTask(task, { n: m, length: steps, seed: testSeed(seed) + c });
        const z = model.apply(q, d.x);
        testLoss += m * loss.value(z, d.y).item();
        wrong += m * sequenceTaskError(task, z, d.y);
      }
      return { trainLoss: loss.value(model.apply(q, train.x), train.y).item(), testLoss: testLoss / s.test, testError: Math.round(wrong) / s.test };
    },
    model,
    loss,
    data: { train },
  };
}

/** One problem per task, `rnn-<task>` (problems.ts adds `build`). */
export const RNN_PROBLEM_SPECS = SEQUENCE_TASKS.map((task) => ({
  id: `rnn-${task}`,
  task,
  title: `RNN, ${task} task`,
  kind: sequenceTask(task).kind === 'regression' ? 'regression' as const : 'classifier' as const,
  description: `tanh RNN read out at the end, ${task} task of Hochreiter & Schmidhuber (1997) as in Martens & Sutskever (2011); sequence length --seq-length T (default ${DEFAULT_SEQ_LENGTH}); testError = fraction wrong on fresh sequences`,
}));

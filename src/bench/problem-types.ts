/**
 * The types of benchmark problems (problems.ts holds the registry): in a file of their own so
 * that problem families in other files (pinn-problems.ts) share them without an import cycle.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { PyTree } from '../autodiff/pytree.js';
import type { Module } from '../nn/module.js';
import type { Loss } from '../nn/losses.js';
import type { Objective } from '../optim/types.js';

export type ProblemKind = 'function' | 'classifier' | 'autoencoder' | 'regression';
/** Data sizes: 'tiny' for tests, 'small' (default) for the suite, 'paper' for the published sizes. */
export type DataSize = 'tiny' | 'small' | 'paper';

export interface Evaluation {
  trainLoss: number;
  testLoss?: number;
  testAccuracy?: number;
  /** Autoencoders: per-case sum of squared errors of the sigmoid reconstructions, mean over cases (Martens 2010's training error). */
  trainReconstructionError?: number;
  /** Problems with an exact solution (PINNs): ‖u − u*‖₂ / ‖u*‖₂ on an evaluation grid (Raissi et al. 2019). */
  relL2?: number;
  /** Sequence tasks: fraction of fresh test sequences answered wrongly by the task's criterion. */
  testError?: number;
}

export interface ProblemInstance {
  readonly params: PyTree;
  /** Objective on the whole training set. */
  readonly full: Objective;
  /** Objective on mini-batch `k` of size `batchSize` (a fixed, seeded order of epochs). */
  batch(k: number, batchSize: number): Objective;
  readonly trainSize: number;
  /** Full training loss, and test metrics where the problem has a test set. */
  evaluate(params: PyTree): Evaluation;
  /** The model and loss, for optimizers that read layer taps (K-FAC). */
  readonly model?: Module;
  readonly loss?: Loss;
  readonly data?: { train: { x: Tensor; y: Tensor } };
  /** The training rows of mini-batch `k` (what `batch(k, batchSize)` reads), for sharding over ranks. */
  batchIndices?(k: number, batchSize: number): readonly number[];
  /** Coupled L2 strength of `full` and `batch` (0 when none). */
  readonly l2?: number;
}

export interface Problem {
  readonly id: string;
  readonly title: string;
  readonly kind: ProblemKind;
  readonly description: string;
  /** Known minimum (test functions). */
  readonly fStar?: number;
  build(seed: number, options?: BuildOptions): ProblemInstance;
}

/** How an instance is built: data size, and the sequence length of the `rnn-*` problems (others ignore it). */
export interface BuildOptions {
  size?: DataSize;
  seqLength?: number;
}

/** Messages between the page and the compute worker (structured-clone plain data only). */

/** A 2-D test function: a formula plus the box to draw and a default start. */
export interface LandscapeSpec {
  formula: string;
  box: { x0: number; x1: number; y0: number; y1: number };
  start: [number, number];
  /** Step size of the first-order methods on this function. */
  lr: number;
}

export type NetworkProblem = 'mlp' | 'autoencoder';

export type ToWorker =
  | { type: 'init'; base: string }
  | { type: 'surface'; spec: LandscapeSpec; n: number }
  | { type: 'landscape'; spec: LandscapeSpec; optimizers: string[] }
  | { type: 'network'; problem: NetworkProblem; optimizers: string[] }
  | { type: 'run'; maxSteps: number }
  | { type: 'pause' };

/** One recorded step of one optimizer. */
export interface Point {
  step: number;
  seconds: number;
  loss: number;
  /** Landscapes: the point reached. */
  x?: number;
  y?: number;
  /** Networks: the top Hessian eigenvalue (sampled every few steps). */
  eig?: number;
}

export type FromWorker =
  | { type: 'ready'; backend: string; note: string }
  | { type: 'surface'; n: number; values: Float64Array; lo: number; hi: number }
  | { type: 'setup'; ok: true; points: Record<string, Point> }
  | { type: 'setup'; ok: false; error: string }
  | { type: 'progress'; points: Record<string, Point[]>; running: boolean; done: string[] }
  /** Networks: predictions (classifier) or reconstructions (autoencoder) of a few test digits. */
  | { type: 'samples'; id: string; images: Float32Array; labels: number[]; predicted: number[] }
  | { type: 'error'; error: string };

/**
 * What a person looks at to see the curvature of a loss (the quantities PyHessian reports): the
 * top eigenvalues, the trace and the spectral density of the Hessian, for the whole model and
 * per layer, and a cheap sample (top eigenvalue and trace) to record along training.
 */
import type { PyTree } from '../autodiff/pytree.js';
import { tidy } from '../tensor/scope.js';
import { linearOperator, type LinearOperator } from './operators/linear-operator.js';
import { lanczos } from './estimators/lanczos.js';
import { powerIteration } from './estimators/power-iteration.js';
import { trace } from './estimators/trace.js';
import { spectralDensity, type SpectralDensity } from './estimators/spectral-density.js';

/** The part of an optimizer objective the diagnostics need (curvature/ does not import optim/). */
export interface HvpSource<P extends PyTree> {
  hvp?(params: P, v: P): P;
}

/** The Hessian at `params` as an operator, from an objective's Hessian-vector products. */
export function hessianOperator<P extends PyTree>(source: HvpSource<P>, params: P, name = 'hessian'): LinearOperator<P> {
  const hvp = source.hvp;
  if (typeof hvp !== 'function') throw new TypeError(`${name}: the objective has no hvp (build it with objective() or modelObjective())`);
  return linearOperator(name, params, (v) => hvp.call(source, params, v));
}

export interface CurvatureSample {
  /** Largest-magnitude eigenvalue by power iteration (PyHessian's method). */
  topEigenvalue: number;
  /** Hutchinson's trace estimate and its standard error. */
  trace: number;
  traceStderr: number;
  /** Hessian-vector products spent. */
  matvecs: number;
}

export interface CurvatureSampleOptions {
  /** Power-iteration products at most (default 20) and its tolerance (default 1e-3). */
  powerIters?: number;
  powerTol?: number;
  /** Hutchinson probes (default 10). */
  traceMatvecs?: number;
  seed?: number;
}

/** Top eigenvalue and trace of an operator: the sample `--curvature-every N` records. */
export function curvatureSample<P extends PyTree>(op: LinearOperator<P>, options: CurvatureSampleOptions = {}): CurvatureSample {
  const seed = options.seed ?? 0;
  const top = powerIteration(op, { iters: options.powerIters ?? 20, tol: options.powerTol ?? 1e-3, seed });
  const tr = trace(op, { method: 'hutchinson', matvecs: options.traceMatvecs ?? 10, seed: seed + 1 });
  return { topEigenvalue: top.eigenvalue, trace: tr.estimate, traceStderr: tr.stderr, matvecs: top.iterations + tr.matvecs };
}

export interface SpectrumOptions {
  /** Top eigenvalues (default 5) and the Lanczos products allowed for them (default 60). */
  k?: number;
  lanczosIters?: number;
  /** Hutch++ products for the trace (default 30). */
  traceMatvecs?: number;
  /** Stochastic Lanczos quadrature: probes (default 3) and steps (default 40). */
  runs?: number;
  steps?: number;
  seed?: number;
}

export interface SpectrumSummary {
  name: string;
  size: number;
  /** Largest eigenvalues, descending, with their residuals ‖Hy − θy‖. */
  topEigenvalues: number[];
  residuals: number[];
  trace: number;
  traceStderr: number;
  density: Pick<SpectralDensity, 'grid' | 'density' | 'nodes' | 'weights' | 'sigma'>;
  matvecs: number;
}

/** Top eigenvalues (Lanczos), trace (Hutch++) and density (SLQ) of one operator. */
export function spectrumSummary<P extends PyTree>(op: LinearOperator<P>, options: SpectrumOptions = {}, onProgress?: (matvecs: number) => void): SpectrumSummary {
  const seed = options.seed ?? 0;
  const k = Math.min(options.k ?? 5, op.size);
  let matvecs = 0;
  const counted = linearOperator(op.name, op.like, (v: P) => {
    const r = op.matvec(v);
    onProgress?.(++matvecs);
    return r;
  }, { symmetric: op.symmetric, psd: op.psd });
  const top = lanczos(counted, { k, seed, maxIter: Math.max(k, Math.min(op.size, options.lanczosIters ?? 60)) });
  const tr = trace(counted, { method: 'hutch++', matvecs: Math.max(3, options.traceMatvecs ?? 30), seed: seed + 1 });
  const d = spectralDensity(counted, { runs: options.runs ?? 3, steps: options.steps ?? 40, seed: seed + 2, grid: 400 });
  return {
    name: op.name,
    size: op.size,
    topEigenvalues: top.eigenvalues,
    residuals: top.residuals,
    trace: tr.estimate,
    traceStderr: tr.stderr,
    density: { grid: d.grid, density: d.density, nodes: d.nodes, weights: d.weights, sigma: d.sigma },
    matvecs,
  };
}

/** Products `spectrumSummary` makes at most for an operator of size n. */
export function spectrumMatvecs(n: number, options: SpectrumOptions = {}): number {
  const k = Math.min(options.k ?? 5, n);
  return Math.max(k, Math.min(n, options.lanczosIters ?? 60)) + Math.max(3, options.traceMatvecs ?? 30) + (options.runs ?? 3) * Math.min(n, options.steps ?? 40);
}

/**
 * The curvature sample of `--curvature-every N`: every N steps (N >= 1), the top eigenvalue and
 * trace of the Hessian of `source` at the given parameters; undefined at other steps. The
 * products run in their own scope and are not counted as training work.
 */
export function curvatureSampler<P extends PyTree>(source: HvpSource<P>, every: number, options: CurvatureSampleOptions = {}): (step: number, params: P) => (CurvatureSample & { step: number }) | undefined {
  if (!Number.isInteger(every) || every < 1) throw new RangeError(`curvatureSampler: every must be an integer >= 1, got ${every}`);
  return (step, params) => {
    if (step % every !== 0) return undefined;
    const s = tidy(() => curvatureSample(hessianOperator(source, params), { ...options, seed: (options.seed ?? 0) + step }));
    return { step, ...s };
  };
}

/**
 * Spectral density by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao, ICML 2019;
 * Lin, Saad & Yang 2016). For each of `runs` random unit probes v, `steps` Lanczos steps give
 * T = V Θ Vᵀ; the nodes θ_j with weights (e₁ᵀ v_j)² are the Gauss quadrature of the measure
 * Σ_i (vᵀu_i)² δ(t − λ_i), whose expectation over v is the eigenvalue histogram / n. Averaged
 * over runs (weights / runs, summing to 1) and smoothed by a Gaussian of width σ on a grid.
 *
 * The first moment Σ w θ equals the average of vᵀAv: n times it is Hutchinson's trace
 * estimate on the same probes, unbiased for tr(A)/n.
 *
 * Cost: runs × steps products with A and runs × steps vectors of memory at a time.
 */
import { Tensor } from '../../tensor/tensor.js';
import { eigh } from '../../tensor/linalg.js';
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { LinearOperator } from '../operators/linear-operator.js';
import { KrylovBasis } from './krylov.js';
import { checkInteger, checkOperator, checkSeed, rademacherFlat } from './flat.js';

export interface SpectralDensityOptions {
  /** Random probes (default 10). */
  runs?: number;
  /** Lanczos steps per probe (default 80, capped at the operator's size). */
  steps?: number;
  seed?: number;
  /** Points of the evaluation grid (default 1000) or the grid itself. */
  grid?: number | readonly number[];
  /** Width of the Gaussian kernel; default 1% of the spread of the nodes. */
  sigma?: number;
}

export interface SpectralDensity {
  /** Ascending points t at which `density` is evaluated. */
  grid: number[];
  /** φ(t) = Σ w_j N(t; θ_j, σ²): integrates to 1 over the real line. */
  density: number[];
  /** Ritz values of every run, and their quadrature weights (all weights sum to 1). */
  nodes: number[];
  weights: number[];
  sigma: number;
  /** Products with A made. */
  matvecs: number;
}

export function spectralDensity<P extends PyTree>(op: LinearOperator<P>, options: SpectralDensityOptions = {}): SpectralDensity {
  const owner = 'spectralDensity';
  checkOperator(owner, op);
  const runs = checkInteger(owner, 'runs', options.runs ?? 10, 1);
  const steps = Math.min(checkInteger(owner, 'steps', options.steps ?? 80, 1), op.size);
  const rng = new Rng(checkSeed(owner, options.seed ?? 0));
  const nodes: number[] = [];
  const weights: number[] = [];
  let matvecs = 0;
  for (let r = 0; r < runs; r++) {
    // No restart: at an invariant subspace the quadrature of this probe's measure is exact.
    const basis = new KrylovBasis(op, [rademacherFlat(rng, op.size)], null);
    while (basis.processed < steps && basis.step());
    matvecs += basis.processed;
    const m = basis.processed;
    const e = eigh(new Tensor(basis.projected(), [m, m]));
    const vec = e.eigenvectors.data;
    for (let j = 0; j < m; j++) {
      nodes.push(e.eigenvalues.data[j]);
      weights.push((vec[j] * vec[j]) / runs); // first row of the eigenvector matrix
    }
  }
  const lo = Math.min(...nodes);
  const hi = Math.max(...nodes);
  const spread = hi - lo;
  const sigma = options.sigma ?? (spread > 0 ? 0.01 * spread : Math.max(Math.abs(hi), 1) * 1e-3);
  if (typeof sigma !== 'number' || !(sigma > 0) || !Number.isFinite(sigma)) throw new RangeError(`${owner}: option 'sigma' must be a finite number > 0, got ${String(sigma)}`);
  let grid: number[];
  if (Array.isArray(options.grid)) {
    grid = options.grid.slice() as number[];
    if (grid.length < 2 || grid.some((t, i) => !Number.isFinite(t) || (i > 0 && t <= grid[i - 1]))) throw new RangeError(`${owner}: option 'grid' must be at least 2 finite ascending numbers`);
  } else {
    const points = checkInteger(owner, 'grid', options.grid ?? 1000, 2);
    // 6σ beyond the extreme nodes holds all but ~1e-9 of each kernel's mass.
    const a = lo - 6 * sigma;
    const b = hi + 6 * sigma;
    grid = Array.from({ length: points }, (_, i) => a + ((b - a) * i) / (points - 1));
  }
  const c = 1 / (sigma * Math.sqrt(2 * Math.PI));
  const density = grid.map((t) => {
    let s = 0;
    for (let j = 0; j < nodes.length; j++) {
      const d = (t - nodes[j]) / sigma;
      if (d > -9 && d < 9) s += weights[j] * Math.exp(-0.5 * d * d);
    }
    return c * s;
  });
  return { grid, density, nodes, weights, sigma, matvecs };
}

/**
 * Sophia (Liu, Li, Hall, Liang & Ma, ICLR 2024, Algorithm 3): momentum divided by an EMA of a
 * diagonal curvature estimate refreshed every k steps, clipped per coordinate, so a step never
 * moves a coordinate by more than the learning rate.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { treeFused, treeIsFinite, treeZerosLike } from '../../autodiff/tree-math.js';
import { createOptimizer } from '../optimizer.js';
import { addDecayedWeights, chain, scaleByLearningRate } from '../transforms.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkChoice, checkKnownOptions, checkNumber, checkSchedule } from '../validate.js';
import { PROBES_RANGE, SEED_RANGE, estimateDiagonal, type DiagonalEstimator } from './curvature-estimate.js';

export interface SophiaOptions {
  /**
   * 'hutchinson' (Sophia-H: u ⊙ (H u), Rademacher u, on any objective with `hvp`; the paper
   * draws Gaussian u: same expectation, higher variance) or 'gnb' (Sophia-G: Gauss-Newton-
   * Bartlett from targets sampled from the model; needs a `modelObjective`). Default 'hutchinson'.
   */
  estimator?: DiagonalEstimator;
  /**
   * Learning rate (the largest change of a coordinate per step), a number or a schedule;
   * default 1e-4, the authors' code's default (the paper tunes the peak rate per model).
   */
  lr?: Schedule;
  /** Momentum decay β1 in [0, 1), default 0.965. */
  b1?: number;
  /** Curvature EMA decay β2 in [0, 1), default 0.99. */
  b2?: number;
  /** γ, the scale of the curvature in the denominator, default 0.01. */
  gamma?: number;
  /** ε, the floor of γ·h (a non-positive h gives a sign step), default 1e-12. */
  eps?: number;
  /** k: estimate the curvature every this many steps, default 10. */
  hessianPeriod?: number;
  /** Rademacher probes per Hutchinson estimate, default 1 (the Hutchinson estimator only). */
  probes?: number;
  /** Decoupled weight decay λ (θ ← θ − lr·λ·θ), default 0 (the paper used 0.2 on GPT-2). */
  weightDecay?: Schedule;
  /** Seed of the probes or sampled targets (each step draws from seed and its step number), default 0. */
  seed?: number;
}

/** Sophia's state: the gradient EMA, the curvature EMA and how many estimates it holds. */
export interface SophiaState<P extends PyTree> {
  readonly mu: P;
  readonly h: P;
  readonly hessianCount: number;
  [key: string]: PyTree;
}

const KNOWN = ['estimator', 'lr', 'b1', 'b2', 'gamma', 'eps', 'hessianPeriod', 'probes', 'weightDecay', 'seed'];

function resolve(options: SophiaOptions) {
  checkKnownOptions('sophia', options, KNOWN);
  const estimator = checkChoice('sophia', 'estimator', options.estimator ?? 'hutchinson', ['hutchinson', 'gnb'] as const);
  const o = estimator === 'gnb' ? 'sophia-g' : 'sophia-h';
  if (estimator === 'gnb' && options.probes !== undefined) throw new RangeError(`${o}: option 'probes' applies to the Hutchinson estimator (sophia-h) only`);
  return {
    estimator,
    lr: checkSchedule(o, 'lr', options.lr ?? 1e-4, { min: 0 }),
    b1: checkNumber(o, 'b1', options.b1 ?? 0.965, { min: 0, max: 1, maxExclusive: true }),
    b2: checkNumber(o, 'b2', options.b2 ?? 0.99, { min: 0, max: 1, maxExclusive: true }),
    gamma: checkNumber(o, 'gamma', options.gamma ?? 0.01, { min: 0, minExclusive: true }),
    eps: checkNumber(o, 'eps', options.eps ?? 1e-12, { min: 0, minExclusive: true }),
    hessianPeriod: checkNumber(o, 'hessianPeriod', options.hessianPeriod ?? 10, { min: 1, integer: true }),
    probes: checkNumber(o, 'probes', options.probes ?? 1, PROBES_RANGE),
    weightDecay: checkSchedule(o, 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    seed: checkNumber(o, 'seed', options.seed ?? 0, SEED_RANGE),
  };
}

type Resolved = ReturnType<typeof resolve>;

/**
 * Sophia's scaling, before the learning rate: `m ← β1 m + (1−β1) g`; at steps 0, k, 2k, …
 * `h ← β2 h + (1−β2) ĥ` with ĥ the estimate at θ; update `clip(m / max(γ·h, ε), 1)` per
 * coordinate (no bias correction, as the paper). A non-finite estimate is dropped with an event
 * (the previous h is kept); with none yet, the step is rejected and the next step estimates.
 */
export function scaleBySophia<P extends PyTree>(options: SophiaOptions = {}): Transform<SophiaState<P>, P> {
  return sophiaScaling<P>(resolve(options));
}

function sophiaScaling<P extends PyTree>(o: Resolved): Transform<SophiaState<P>, P> {
  const owner = o.estimator === 'gnb' ? 'sophia-g' : 'sophia-h';
  return {
    name: 'scaleBySophia',
    init: (params) => ({ mu: treeZerosLike(params), h: treeZerosLike(params), hessianCount: 0 }),
    update: (g, s, params, ctx) => {
      let h = s.h;
      let hessianCount = s.hessianCount;
      if (hessianCount === 0 || ctx.step % o.hessianPeriod === 0) {
        const est = estimateDiagonal(owner, o.estimator, params, ctx, o);
        if (treeIsFinite(est)) {
          [h] = treeFused([s.h, est], 1, ([hd, ed], [ho], n) => {
            for (let i = 0; i < n; i++) ho[i] = o.b2 * hd[i] + (1 - o.b2) * ed[i];
          });
          hessianCount++;
        } else if (hessianCount === 0) {
          ctx.rejected = `${owner}: non-finite curvature estimate and no earlier one: step rejected, parameters unchanged`;
          return [g, s];
        } else {
          ctx.events.push(`${owner}: non-finite curvature estimate dropped; the previous one is used`);
        }
      }
      const [mu, u] = treeFused([g, s.mu, h], 2, ([gd, md, hd], [mo, uo], n) => {
        for (let i = 0; i < n; i++) {
          const m = o.b1 * md[i] + (1 - o.b1) * gd[i];
          mo[i] = m;
          const r = m / Math.max(o.gamma * hd[i], o.eps);
          uo[i] = r > 1 ? 1 : r < -1 ? -1 : r;
        }
      });
      return [u, { mu, h, hessianCount }];
    },
  };
}

/**
 * Sophia (Liu et al., ICLR 2024): `θ ← θ − lr·λ·θ − lr·clip(m / max(γ·h, ε), 1)` with m the
 * EMA of the gradient (β1) and h the EMA (β2) of a diagonal curvature estimate taken every k
 * steps (see `scaleBySophia`); |Δθᵢ| ≤ lr per coordinate without weight decay. Defaults are
 * the paper's: β1 0.965, β2 0.99, γ 0.01, ε 1e-12, k 10; lr 1e-4 (the authors' code) and
 * weight decay 0.
 *
 * Cost per step: one gradient, plus every k steps one Hessian-vector product per probe
 * (`estimator: 'hutchinson'`, Sophia-H) or one forward and one backward pass at sampled targets
 * (`'gnb'`, Sophia-G). Memory: two copies of the parameters.
 */
export function sophia<P extends PyTree = PyTree>(options: SophiaOptions = {}): Optimizer<PyTree, P> {
  const o = resolve(options);
  const decay: Transform<PyTree, P>[] = o.weightDecay === 0 ? [] : [addDecayedWeights(o.weightDecay)];
  return createOptimizer(o.estimator === 'gnb' ? 'sophia-g' : 'sophia-h', chain<P>(sophiaScaling<P>(o), ...decay, scaleByLearningRate(o.lr)), o);
}

/**
 * AdaHessian (Yao, Gholami, Shen, Mustafa, Keutzer & Mahoney, AAAI 2021, Algorithm 1): Adam
 * with the squared gradient replaced by the squared Hutchinson estimate of the Hessian's
 * diagonal, spatially averaged.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { treeFused, treeIsFinite, treeZerosLike } from '../../autodiff/tree-math.js';
import { createOptimizer } from '../optimizer.js';
import { addDecayedWeights, chain, scaleByLearningRate } from '../transforms.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkBoolean, checkKnownOptions, checkNumber, checkSchedule } from '../validate.js';
import { PROBES_RANGE, SEED_RANGE, estimateDiagonal, spatialAverage } from './curvature-estimate.js';

export interface AdahessianOptions {
  /** Learning rate, a number or a schedule (step) => number; default 0.15 (the paper's). */
  lr?: Schedule;
  /** First-moment decay β1 in [0, 1), default 0.9. */
  b1?: number;
  /** Second-moment decay β2 in [0, 1), default 0.999. */
  b2?: number;
  /** Added to the denominator, default 1e-4 (the paper's). */
  eps?: number;
  /** Hessian power k in [0, 1]: the update divides by (√v̂)^k; default 1 (0 is momentum SGD). */
  hessianPower?: number;
  /** Estimate the diagonal every this many steps (the paper's delayed update), default 1. */
  hessianPeriod?: number;
  /** Rademacher probes per estimate (Hessian-vector products per estimate), default 1. */
  probes?: number;
  /** Average |diag| over conv kernels' spatial axes (leaves with 3+ axes), default true. */
  spatialAveraging?: boolean;
  /** Average |diag| over blocks of this many entries along the last axis of other leaves, default 1 (none). */
  blockSize?: number;
  /** Decoupled weight decay λ (θ ← θ − lr·λ·θ, as AdamW), default 0. */
  weightDecay?: Schedule;
  /** Seed of the probes (each step draws from seed and its step number), default 0. */
  seed?: number;
}

/** AdaHessian's moments: `count` steps, `hessianCount` estimates folded into `nu`. */
export interface AdahessianState<P extends PyTree> {
  readonly count: number;
  readonly hessianCount: number;
  /** EMA of the gradient. */
  readonly mu: P;
  /** EMA of the squared, spatially averaged Hessian diagonal. */
  readonly nu: P;
  [key: string]: PyTree;
}

const KNOWN = ['lr', 'b1', 'b2', 'eps', 'hessianPower', 'hessianPeriod', 'probes', 'spatialAveraging', 'blockSize', 'weightDecay', 'seed'];

function resolve(options: AdahessianOptions) {
  const o = 'adahessian';
  checkKnownOptions(o, options, KNOWN);
  return {
    lr: checkSchedule(o, 'lr', options.lr ?? 0.15, { min: 0 }),
    b1: checkNumber(o, 'b1', options.b1 ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    b2: checkNumber(o, 'b2', options.b2 ?? 0.999, { min: 0, max: 1, maxExclusive: true }),
    // eps > 0: a zero curvature entry with a zero gradient would otherwise give 0/0.
    eps: checkNumber(o, 'eps', options.eps ?? 1e-4, { min: 0, minExclusive: true }),
    hessianPower: checkNumber(o, 'hessianPower', options.hessianPower ?? 1, { min: 0, max: 1 }),
    hessianPeriod: checkNumber(o, 'hessianPeriod', options.hessianPeriod ?? 1, { min: 1, integer: true }),
    probes: checkNumber(o, 'probes', options.probes ?? 1, PROBES_RANGE),
    spatialAveraging: checkBoolean(o, 'spatialAveraging', options.spatialAveraging ?? true),
    blockSize: checkNumber(o, 'blockSize', options.blockSize ?? 1, { min: 1, integer: true }),
    weightDecay: checkSchedule(o, 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    seed: checkNumber(o, 'seed', options.seed ?? 0, SEED_RANGE),
  };
}

type Resolved = ReturnType<typeof resolve>;

/**
 * AdaHessian's scaling, before the learning rate: with D the Hutchinson diagonal at θ (every
 * `hessianPeriod` steps), D⁽ˢ⁾ its spatial average,
 * `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) D⁽ˢ⁾²` (when estimated), update
 * `m̂ / ((√v̂)^k + ε)` with m̂ = m/(1−β1^t), v̂ = v/(1−β2^s), t the steps and s the estimates.
 * A non-finite estimate is dropped with an event (the step uses the previous one); with no
 * previous estimate the step is rejected and the next step estimates again.
 */
export function scaleByAdahessian<P extends PyTree>(options: AdahessianOptions = {}): Transform<AdahessianState<P>, P> {
  return adahessianScaling<P>(resolve(options));
}

function adahessianScaling<P extends PyTree>(o: Resolved): Transform<AdahessianState<P>, P> {
  const owner = 'adahessian';
  return {
    name: 'scaleByAdahessian',
    init: (params) => ({ count: 0, hessianCount: 0, mu: treeZerosLike(params), nu: treeZerosLike(params) }),
    update: (g, s, params, ctx) => {
      let nu = s.nu;
      let hessianCount = s.hessianCount;
      if (hessianCount === 0 || ctx.step % o.hessianPeriod === 0) {
        const d = estimateDiagonal(owner, 'hutchinson', params, ctx, o);
        if (treeIsFinite(d)) {
          const ds = spatialAverage(d, { blockSize: o.blockSize, spatial: o.spatialAveraging });
          [nu] = treeFused([s.nu, ds], 1, ([vd, dd], [vo], n) => {
            for (let i = 0; i < n; i++) vo[i] = o.b2 * vd[i] + (1 - o.b2) * dd[i] * dd[i];
          });
          hessianCount++;
        } else if (hessianCount === 0) {
          ctx.rejected = `${owner}: non-finite Hessian diagonal estimate and no earlier one: step rejected, parameters unchanged`;
          return [g, s];
        } else {
          ctx.events.push(`${owner}: non-finite Hessian diagonal estimate dropped; the previous one is used`);
        }
      }
      const count = s.count + 1;
      const c1 = 1 - Math.pow(o.b1, count);
      const c2 = 1 - Math.pow(o.b2, hessianCount);
      const k = o.hessianPower;
      const [mu, u] = treeFused([g, s.mu, nu], 2, ([gd, md, vd], [mo, uo], n) => {
        for (let i = 0; i < n; i++) {
          const m = o.b1 * md[i] + (1 - o.b1) * gd[i];
          mo[i] = m;
          uo[i] = (m / c1) / (Math.pow(Math.sqrt(vd[i] / c2), k) + o.eps);
        }
      });
      return [u, { count, hessianCount, mu, nu }];
    },
  };
}

/**
 * AdaHessian (Yao et al., AAAI 2021): `θ ← θ − lr·(m̂ / ((√v̂)^k + ε) + λθ)` with m̂ the
 * bias-corrected EMA of the gradient and v̂ that of the squared Hutchinson diagonal of the
 * Hessian, averaged over conv kernels' spatial axes (see `scaleByAdahessian`). Defaults are the
 * paper's: lr 0.15, β = (0.9, 0.999), ε 1e-4, k 1, one estimate per step; weight decay 0.
 *
 * Cost per step: one gradient (forward + backward) and `probes` Hessian-vector products
 * (forward-over-reverse, about two more passes each) every `hessianPeriod` steps. Memory: two
 * copies of the parameters. Needs an objective with `hvp` (`objective(f)`, `modelObjective`).
 */
export function adahessian<P extends PyTree = PyTree>(options: AdahessianOptions = {}): Optimizer<PyTree, P> {
  const o = resolve(options);
  const decay: Transform<PyTree, P>[] = o.weightDecay === 0 ? [] : [addDecayedWeights(o.weightDecay)];
  return createOptimizer('adahessian', chain<P>(adahessianScaling<P>(o), ...decay, scaleByLearningRate(o.lr)), o);
}

/**
 * Online L-BFGS for mini-batches (Schraudolph, Yu & Günter, AISTATS 2007).
 *
 * Why this variant: its curvature pair uses the SAME mini-batch at both ends,
 * y_k = ∇f_B(x_{k+1}) − ∇f_B(x_k) (+ λ s_k), so y measures curvature rather than the noise
 * between two batches — the failure of naive stochastic L-BFGS — and it needs nothing from the
 * data pipeline beyond the current batch (the multi-batch method of Berahas, Nocedal & Takáč
 * 2016 reaches the same robustness with overlapping consecutive batches, which the loader must
 * arrange). Cost: two gradients per step. No line search: the step is η_k·d with a schedule.
 *
 * Step: d = −H g by the two-loop recursion with H0 = γI, γ = the mean of s_i^T y_i / y_i^T y_i
 * over the history (the paper's smoothed scaling); without history, d = −ε·g.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { createOptimizer } from '../optimizer.js';
import { emptyHistory, pushPair, twoLoop, type LbfgsHistory } from './lbfgs.js';
import { treeAxpby, treeIsFinite, treeNorm, treeScale, treeVdot } from '../../autodiff/tree-math.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkKnownOptions, checkNumber, checkSchedule, evalSchedule } from '../validate.js';

export interface OlbfgsOptions {
  /** Step size η (number or schedule), default 0.1. */
  lr?: Schedule;
  /** Pairs kept, default 10. */
  historySize?: number;
  /**
   * λ: y ← y + λ s bounds H's eigenvalues by 1/λ (the paper's model-trust term). Default 0.1:
   * without it a near-flat mini-batch direction gives an unbounded step (measured: divergence
   * on the iris MLP at λ = 0 even with step 0.05, none at 0.1).
   */
  curvatureDamping?: number;
  /** Scale of the first steps without history, default 1e-2 (the paper's ε). */
  initialScale?: number;
  /** Cap on the step norm (0 = none), default 0. */
  maxStepNorm?: number;
}

export interface OlbfgsState<P extends PyTree> {
  readonly history: LbfgsHistory<P>;
  [key: string]: PyTree;
}

export function olbfgsTransform<P extends PyTree>(options: OlbfgsOptions = {}): Transform<OlbfgsState<P>, P> {
  const o = resolve(options);
  return {
    name: 'olbfgs',
    init: () => ({ history: emptyHistory<P>() }),
    update: (g, state, params, ctx) => {
      const h = state.history;
      let d: P;
      if (h.s.length === 0) {
        d = treeScale(-o.initialScale, g);
      } else {
        let gamma = 0;
        for (let i = 0; i < h.s.length; i++) gamma += (1 / h.rho[i]) / treeVdot(h.y[i], h.y[i]);
        d = treeScale(-1, twoLoop(h, g, gamma / h.s.length));
      }
      if (!(treeVdot(d, g) < 0)) {
        ctx.events.push('oLBFGS direction is not a descent direction; history reset, gradient step taken');
        d = treeScale(-o.initialScale, g);
      }
      let step = treeScale(evalSchedule('lr', o.lr, ctx.step), d);
      const norm = treeNorm(step);
      if (o.maxStepNorm > 0 && norm > o.maxStepNorm) step = treeScale(o.maxStepNorm / norm, step);
      const next = treeAxpby(1, params, 1, step);
      ctx.counters.evals++;
      const [loss2, g2] = ctx.objective.valueAndGrad(next);
      if (!Number.isFinite(loss2) || !treeIsFinite(g2)) {
        // The step overshot into a non-finite region: take no step, forget the curvature.
        ctx.rejected = 'oLBFGS: non-finite loss or gradient after the step; step rejected, history reset';
        return [treeScale(0, g), { history: emptyHistory<P>() }];
      }
      const y = treeAxpby(1, treeAxpby(1, g2, -1, g), o.curvatureDamping, step);
      const [history, skipped] = pushPair(h, step, y, o.historySize, 1e-10);
      if (skipped) ctx.events.push('curvature pair skipped (s^T y too small)');
      return [step, { history }];
    },
  };
}

function resolve(options: OlbfgsOptions) {
  checkKnownOptions('olbfgs', options, ['lr', 'historySize', 'curvatureDamping', 'initialScale', 'maxStepNorm']);
  return {
    lr: checkSchedule('olbfgs', 'lr', options.lr ?? 0.1, { min: 0 }),
    historySize: checkNumber('olbfgs', 'historySize', options.historySize ?? 10, { min: 1, integer: true }),
    curvatureDamping: checkNumber('olbfgs', 'curvatureDamping', options.curvatureDamping ?? 0.1, { min: 0 }),
    initialScale: checkNumber('olbfgs', 'initialScale', options.initialScale ?? 1e-2, { min: 0, minExclusive: true }),
    maxStepNorm: checkNumber('olbfgs', 'maxStepNorm', options.maxStepNorm ?? 0, { min: 0 }),
  };
}

/** oLBFGS as an optimizer: call `step` with the objective of the current mini-batch. */
export function olbfgs<P extends PyTree = PyTree>(options: OlbfgsOptions = {}): Optimizer<OlbfgsState<P>, P> {
  return createOptimizer('olbfgs', olbfgsTransform<P>(options), resolve(options));
}

/**
 * Composable update transforms (Optax's vocabulary). Updates follow Optax's sign convention:
 * transforms map gradients to updates that are ADDED to the parameters, so the learning-rate
 * transform scales by `-lr`.
 */
import type { PyTree } from '../autodiff/pytree.js';
import { treeAxpby, treeFused, treeMapValues, treeNorm, treeScale, treeZerosLike, treeData } from '../autodiff/tree-math.js';
import type { Schedule, Transform, UpdateContext } from './types.js';
import { checkNumber, evalSchedule } from './validate.js';

/** Apply `transforms` in order; the state is the tuple of their states. */
export function chain<P extends PyTree>(...transforms: Transform<PyTree, P>[]): Transform<PyTree[], P> {
  transforms.forEach((t, i) => {
    if (t === null || typeof t !== 'object' || typeof t.update !== 'function') throw new TypeError(`chain: argument ${i} is not a transform`);
  });
  return {
    name: transforms.map((t) => t.name).join(' > '),
    init: (params) => transforms.map((t) => t.init(params)),
    update: (updates, state, params, ctx) => {
      if (!Array.isArray(state) || state.length !== transforms.length) throw new RangeError(`chain: state has ${Array.isArray(state) ? state.length : 'no'} entries, expected ${transforms.length}`);
      const next: PyTree[] = [];
      let u = updates;
      transforms.forEach((t, i) => {
        const [nu, ns] = t.update(u, state[i], params, ctx);
        u = nu;
        next.push(ns);
      });
      return [u, next];
    },
  };
}

/** The state of a transform that keeps none. */
export type Empty = Record<string, never>;
const EMPTY: Empty = {};

/** Multiply updates by a constant. */
export function scale<P extends PyTree>(factor: number): Transform<Empty, P> {
  checkNumber('scale', 'factor', factor, {});
  return { name: 'scale', init: () => EMPTY, update: (u) => [treeScale(factor, u), EMPTY] };
}

/** Multiply updates by `-learningRate(step)` (a number or a schedule). */
export function scaleByLearningRate<P extends PyTree>(learningRate: Schedule): Transform<Empty, P> {
  if (typeof learningRate === 'number') checkNumber('scaleByLearningRate', 'learningRate', learningRate, { min: 0 });
  return {
    name: 'scaleByLearningRate',
    init: () => EMPTY,
    update: (u, _s, _p, ctx) => [treeScale(-evalSchedule('learningRate', learningRate, ctx.step), u), EMPTY],
  };
}

export interface MomentumState<P extends PyTree> {
  readonly trace: P;
  [key: string]: PyTree;
}

/**
 * Heavy-ball momentum `m ← μ m + g` (updates `m`), or Nesterov's `g + μ m` (Sutskever et al.
 * 2013 form, as PyTorch's SGD with nesterov=true).
 */
export function traceMomentum<P extends PyTree>(momentum: number, options: { nesterov?: boolean; dampening?: number } = {}): Transform<MomentumState<P>, P> {
  checkNumber('traceMomentum', 'momentum', momentum, { min: 0, max: 1, maxExclusive: true });
  const damp = options.dampening ?? 0;
  checkNumber('traceMomentum', 'dampening', damp, { min: 0, max: 1 });
  return {
    name: options.nesterov ? 'nesterov' : 'momentum',
    init: (params) => ({ trace: treeZerosLike(params) }),
    update: (g, s, _p, ctx) => {
      // PyTorch: the first step sets the buffer to g (no dampening on step 0).
      const trace = ctx.step === 0 ? g : treeAxpby(momentum, s.trace, 1 - damp, g);
      const u = options.nesterov ? treeAxpby(1, g, momentum, trace) : trace;
      return [u, { trace }];
    },
  };
}

export interface AdamState<P extends PyTree> {
  readonly count: number;
  readonly mu: P;
  readonly nu: P;
  [key: string]: PyTree;
}

/**
 * Adam's scaling (Kingma & Ba 2015, Alg. 1): `m ← β1 m + (1-β1) g`, `v ← β2 v + (1-β2) g²`,
 * update `m̂ / (sqrt(v̂) + ε)` with bias corrections. Memory: two copies of the parameters.
 */
export function scaleByAdam<P extends PyTree>(options: { b1?: number; b2?: number; eps?: number } = {}): Transform<AdamState<P>, P> {
  const b1 = options.b1 ?? 0.9;
  const b2 = options.b2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  checkNumber('scaleByAdam', 'b1', b1, { min: 0, max: 1, maxExclusive: true });
  checkNumber('scaleByAdam', 'b2', b2, { min: 0, max: 1, maxExclusive: true });
  checkNumber('scaleByAdam', 'eps', eps, { min: 0, minExclusive: true }); // 0 turns a zero gradient entry into 0/0
  return {
    name: 'scaleByAdam',
    init: (params) => ({ count: 0, mu: treeZerosLike(params), nu: treeZerosLike(params) }),
    update: (g, s) => {
      const count = s.count + 1;
      const c1 = 1 - Math.pow(b1, count);
      const c2 = 1 - Math.pow(b2, count);
      // One fused pass per leaf: new moments and the update.
      const [mu, nu, u] = treeFused([g, s.mu, s.nu], 3, ([gd, md, vd], [mo, vo, uo], n) => {
        for (let i = 0; i < n; i++) {
          const gi = gd[i];
          const m = b1 * md[i] + (1 - b1) * gi;
          const v = b2 * vd[i] + (1 - b2) * gi * gi;
          mo[i] = m;
          vo[i] = v;
          uo[i] = (m / c1) / (Math.sqrt(v / c2) + eps);
        }
      });
      return [u, { count, mu, nu }];
    },
  };
}

export interface RmsState<P extends PyTree> {
  readonly nu: P;
  readonly mu: P;
  [key: string]: PyTree;
}

/**
 * RMSprop (Tieleman & Hinton 2012), PyTorch's form: `v ← α v + (1-α) g²`, update
 * `g / (sqrt(v) + ε)`; `centered` subtracts the squared running mean of g.
 */
export function scaleByRms<P extends PyTree>(options: { decay?: number; eps?: number; centered?: boolean } = {}): Transform<RmsState<P>, P> {
  const decay = options.decay ?? 0.99;
  const eps = options.eps ?? 1e-8;
  checkNumber('scaleByRms', 'decay', decay, { min: 0, max: 1, maxExclusive: true });
  checkNumber('scaleByRms', 'eps', eps, { min: 0, minExclusive: true });
  return {
    name: 'scaleByRms',
    init: (params) => ({ nu: treeZerosLike(params), mu: treeZerosLike(params) }),
    update: (g, s) => {
      const gd = treeData(g);
      const nu = treeMapValues(s.nu, (v, i, leaf) => decay * v + (1 - decay) * gd[leaf][i] * gd[leaf][i]);
      const mu = options.centered ? treeAxpby(decay, s.mu, 1 - decay, g) : s.mu;
      const nd = treeData(nu);
      const md = treeData(mu);
      const u = treeMapValues(g, (x, i, leaf) => {
        const v = options.centered ? nd[leaf][i] - md[leaf][i] * md[leaf][i] : nd[leaf][i];
        return x / (Math.sqrt(Math.max(v, 0)) + eps);
      });
      return [u, { nu, mu }];
    },
  };
}

export interface AdagradState<P extends PyTree> {
  readonly sum: P;
  [key: string]: PyTree;
}

/** Adagrad (Duchi et al. 2011): `s ← s + g²`, update `g / (sqrt(s) + ε)`. */
export function scaleByAdagrad<P extends PyTree>(options: { initialAccumulator?: number; eps?: number } = {}): Transform<AdagradState<P>, P> {
  const init0 = options.initialAccumulator ?? 0;
  const eps = options.eps ?? 1e-10;
  checkNumber('scaleByAdagrad', 'initialAccumulator', init0, { min: 0 });
  checkNumber('scaleByAdagrad', 'eps', eps, { min: 0, minExclusive: true });
  return {
    name: 'scaleByAdagrad',
    init: (params) => ({ sum: treeMapValues(params, () => init0) }),
    update: (g, s) => {
      const gd = treeData(g);
      const sum = treeMapValues(s.sum, (v, i, leaf) => v + gd[leaf][i] * gd[leaf][i]);
      const sd = treeData(sum);
      return [treeMapValues(g, (x, i, leaf) => x / (Math.sqrt(sd[leaf][i]) + eps)), { sum }];
    },
  };
}

/**
 * Decoupled weight decay (Loshchilov & Hutter 2019): adds `λ·params` to the updates; placed
 * before the learning-rate scaling it shrinks weights by `lr·λ` per step, independently of the
 * gradient's preconditioning (AdamW).
 */
export function addDecayedWeights<P extends PyTree>(weightDecay: Schedule): Transform<Empty, P> {
  if (typeof weightDecay === 'number') checkNumber('addDecayedWeights', 'weightDecay', weightDecay, { min: 0 });
  return {
    name: 'addDecayedWeights',
    init: () => EMPTY,
    update: (u, _s, params, ctx) => {
      const wd = evalSchedule('weightDecay', weightDecay, ctx.step);
      return [wd === 0 ? u : treeAxpby(1, u, wd, params), EMPTY];
    },
  };
}

/**
 * Coupled L2 regularization on the gradient (`g + λθ`), as PyTorch's `weight_decay` in SGD and
 * Adam. Second-order methods should regularize the objective instead (`withL2`), so that the
 * term also enters their curvature.
 */
export function addL2Gradient<P extends PyTree>(l2: number): Transform<Empty, P> {
  checkNumber('addL2Gradient', 'l2', l2, { min: 0 });
  return { name: 'addL2Gradient', init: () => EMPTY, update: (g, _s, params) => [l2 === 0 ? g : treeAxpby(1, g, l2, params), EMPTY] };
}

/** Rescale updates so that their global norm is at most `maxNorm`. */
export function clipByGlobalNorm<P extends PyTree>(maxNorm: number): Transform<Empty, P> {
  checkNumber('clipByGlobalNorm', 'maxNorm', maxNorm, { min: 0, minExclusive: true });
  return {
    name: 'clipByGlobalNorm',
    init: () => EMPTY,
    update: (u, _s, _p, ctx: UpdateContext<P>) => {
      const n = treeNorm(u);
      if (n <= maxNorm) return [u, EMPTY];
      ctx.events.push(`gradient clipped from norm ${n.toPrecision(4)} to ${maxNorm}`);
      return [treeScale(maxNorm / n, u), EMPTY];
    },
  };
}

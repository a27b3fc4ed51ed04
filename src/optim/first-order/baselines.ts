/**
 * First-order baselines, each a chain of transforms with PyTorch's defaults and semantics.
 * `weightDecay` is coupled L2 on the gradient (PyTorch's `weight_decay`) except in AdamW,
 * where it is decoupled (Loshchilov & Hutter 2019).
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { createOptimizer } from '../optimizer.js';
import {
  addDecayedWeights, addL2Gradient, chain, clipByGlobalNorm, scaleByAdagrad, scaleByAdam, scaleByLearningRate, scaleByRms, traceMomentum,
} from '../transforms.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkBoolean, checkKnownOptions, checkNumber, checkSchedule } from '../validate.js';

interface Common {
  /** Learning rate: a number or a schedule (step) => number. */
  lr?: Schedule;
  /** Clip the gradient's global norm first (off by default). */
  clipNorm?: number;
}

function pre<P extends PyTree>(owner: string, o: Common & { weightDecay?: number }, coupled: boolean): Transform<PyTree, P>[] {
  const t: Transform<PyTree, P>[] = [];
  if (o.clipNorm !== undefined) t.push(clipByGlobalNorm(checkNumber(owner, 'clipNorm', o.clipNorm, { min: 0, minExclusive: true })));
  if (coupled && (o.weightDecay ?? 0) > 0) t.push(addL2Gradient(o.weightDecay as number));
  return t;
}

export interface SgdOptions extends Common {
  /** Default 0.01. */
  weightDecay?: number;
}

/** Plain stochastic gradient descent: `θ ← θ - lr·g`. */
export function sgd<P extends PyTree = PyTree>(options: SgdOptions = {}): Optimizer<PyTree, P> {
  checkKnownOptions('sgd', options, ['lr', 'weightDecay', 'clipNorm']);
  const o = { lr: checkSchedule('sgd', 'lr', options.lr ?? 0.01, { min: 0 }), weightDecay: checkNumber('sgd', 'weightDecay', options.weightDecay ?? 0, { min: 0 }), clipNorm: options.clipNorm };
  return createOptimizer('sgd', chain<P>(...pre<P>('sgd', o, true), scaleByLearningRate(o.lr)), o);
}

export interface MomentumOptions extends SgdOptions {
  /** Default 0.9. */
  momentum?: number;
  nesterov?: boolean;
  dampening?: number;
}

/** SGD with heavy-ball or Nesterov momentum (PyTorch's SGD with momentum). */
export function momentum<P extends PyTree = PyTree>(options: MomentumOptions = {}): Optimizer<PyTree, P> {
  checkKnownOptions('momentum', options, ['lr', 'weightDecay', 'clipNorm', 'momentum', 'nesterov', 'dampening']);
  const o = {
    lr: checkSchedule('momentum', 'lr', options.lr ?? 0.01, { min: 0 }),
    momentum: checkNumber('momentum', 'momentum', options.momentum ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    nesterov: checkBoolean('momentum', 'nesterov', options.nesterov ?? false),
    dampening: checkNumber('momentum', 'dampening', options.dampening ?? 0, { min: 0, max: 1 }),
    weightDecay: checkNumber('momentum', 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    clipNorm: options.clipNorm,
  };
  if (o.nesterov && (o.momentum === 0 || o.dampening !== 0)) throw new RangeError('momentum: nesterov needs momentum > 0 and dampening 0');
  return createOptimizer(o.nesterov ? 'nesterov' : 'momentum', chain<P>(
    ...pre<P>('momentum', o, true), traceMomentum(o.momentum, { nesterov: o.nesterov, dampening: o.dampening }), scaleByLearningRate(o.lr),
  ), o);
}

export interface AdamOptions extends Common {
  /** Defaults: lr 1e-3, b1 0.9, b2 0.999, eps 1e-8, weightDecay 0 (AdamW: 0.01). */
  b1?: number;
  b2?: number;
  eps?: number;
  weightDecay?: number;
}

/** Adam (Kingma & Ba 2015) with coupled L2 `weightDecay` as PyTorch's Adam. */
export function adam<P extends PyTree = PyTree>(options: AdamOptions = {}): Optimizer<PyTree, P> {
  return adamLike('adam', options, true);
}

/** AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch). */
export function adamw<P extends PyTree = PyTree>(options: AdamOptions = {}): Optimizer<PyTree, P> {
  return adamLike('adamw', { weightDecay: 0.01, ...options }, false);
}

function adamLike<P extends PyTree>(name: string, options: AdamOptions, coupled: boolean): Optimizer<PyTree, P> {
  checkKnownOptions(name, options, ['lr', 'b1', 'b2', 'eps', 'weightDecay', 'clipNorm']);
  const o = {
    lr: checkSchedule(name, 'lr', options.lr ?? 1e-3, { min: 0 }),
    b1: checkNumber(name, 'b1', options.b1 ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    b2: checkNumber(name, 'b2', options.b2 ?? 0.999, { min: 0, max: 1, maxExclusive: true }),
    // eps > 0: with 0, a gradient entry that is exactly 0 gives 0/0 and every step is rejected.
    eps: checkNumber(name, 'eps', options.eps ?? 1e-8, { min: 0, minExclusive: true }),
    weightDecay: checkNumber(name, 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    clipNorm: options.clipNorm,
  };
  const decoupled: Transform<PyTree, P>[] = !coupled && o.weightDecay > 0 ? [addDecayedWeights(o.weightDecay)] : [];
  return createOptimizer(name, chain<P>(...pre<P>(name, o, coupled), scaleByAdam({ b1: o.b1, b2: o.b2, eps: o.eps }), ...decoupled, scaleByLearningRate(o.lr)), o);
}

export interface RmspropOptions extends Common {
  /** Defaults: lr 0.01, alpha 0.99, eps 1e-8 (PyTorch). */
  alpha?: number;
  eps?: number;
  centered?: boolean;
  momentum?: number;
  weightDecay?: number;
}

/** RMSprop with PyTorch's defaults and options (centered, momentum). */
export function rmsprop<P extends PyTree = PyTree>(options: RmspropOptions = {}): Optimizer<PyTree, P> {
  checkKnownOptions('rmsprop', options, ['lr', 'alpha', 'eps', 'centered', 'momentum', 'weightDecay', 'clipNorm']);
  const o = {
    lr: checkSchedule('rmsprop', 'lr', options.lr ?? 0.01, { min: 0 }),
    alpha: checkNumber('rmsprop', 'alpha', options.alpha ?? 0.99, { min: 0, max: 1, maxExclusive: true }),
    eps: checkNumber('rmsprop', 'eps', options.eps ?? 1e-8, { min: 0, minExclusive: true }),
    centered: checkBoolean('rmsprop', 'centered', options.centered ?? false),
    momentum: checkNumber('rmsprop', 'momentum', options.momentum ?? 0, { min: 0, max: 1, maxExclusive: true }),
    weightDecay: checkNumber('rmsprop', 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    clipNorm: options.clipNorm,
  };
  const mom: Transform<PyTree, P>[] = o.momentum > 0 ? [traceMomentum(o.momentum)] : [];
  return createOptimizer('rmsprop', chain<P>(...pre<P>('rmsprop', o, true), scaleByRms({ decay: o.alpha, eps: o.eps, centered: o.centered }), ...mom, scaleByLearningRate(o.lr)), o);
}

export interface AdagradOptions extends Common {
  /** Defaults: lr 0.01, initialAccumulator 0, eps 1e-10 (PyTorch). */
  initialAccumulator?: number;
  eps?: number;
  weightDecay?: number;
}

export function adagrad<P extends PyTree = PyTree>(options: AdagradOptions = {}): Optimizer<PyTree, P> {
  checkKnownOptions('adagrad', options, ['lr', 'initialAccumulator', 'eps', 'weightDecay', 'clipNorm']);
  const o = {
    lr: checkSchedule('adagrad', 'lr', options.lr ?? 0.01, { min: 0 }),
    initialAccumulator: checkNumber('adagrad', 'initialAccumulator', options.initialAccumulator ?? 0, { min: 0 }),
    eps: checkNumber('adagrad', 'eps', options.eps ?? 1e-10, { min: 0, minExclusive: true }),
    weightDecay: checkNumber('adagrad', 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    clipNorm: options.clipNorm,
  };
  return createOptimizer('adagrad', chain<P>(...pre<P>('adagrad', o, true), scaleByAdagrad({ initialAccumulator: o.initialAccumulator, eps: o.eps }), scaleByLearningRate(o.lr)), o);
}

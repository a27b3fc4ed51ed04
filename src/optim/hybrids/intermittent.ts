/**
 * Intermittent second-order steps: the second-order optimizer every `every`-th step, the
 * first-order one otherwise, each keeping its own state across the other's steps (curvature
 * refreshed periodically while cheap steps run in between, as in intermittent preconditioning).
 */
import type { PyTree } from '../../autodiff/pytree.js';
import type { Objective, Optimizer, OptimizerState, StepResult } from '../types.js';
import { checkBoolean, checkKnownOptions, checkNumber } from '../validate.js';
import { checkHybridState } from './switching.js';

export interface IntermittentOptions {
  /**
   * Period k >= 1: steps k−1, 2k−1, … (the k-th, 2k-th, … step) are second-order steps; every = 1
   * makes every step a second-order one.
   */
  every: number;
  /** Which kind of step needs the full-batch objective when the driver feeds mini-batches (default neither). */
  fullBatch?: { secondOrder?: boolean; firstOrder?: boolean };
}

/** State of an intermittent optimizer: both optimizers' states, each advanced only by its own steps. */
export interface IntermittentState {
  readonly secondOrder: OptimizerState;
  readonly firstOrder: OptimizerState;
  [key: string]: PyTree;
}

function checkOptimizer(which: string, o: unknown): Optimizer {
  const opt = o as Optimizer;
  if (opt === null || typeof opt !== 'object' || typeof opt.step !== 'function' || typeof opt.init !== 'function') {
    throw new TypeError(`intermittent: '${which}' must be an optimizer (e.g. optim.lbfgs()), got ${o === null ? 'null' : typeof o}`);
  }
  return opt;
}

/** Whether step `step` (counted from 0) of an intermittent schedule with period `every` is second-order. */
export function isSecondOrderStep(step: number, every: number): boolean {
  return (step + 1) % every === 0;
}

/**
 * `intermittent(secondOrder, firstOrder, { every })`: `secondOrder` on every `every`-th step,
 * `firstOrder` on the others. Cost per k steps: one second-order step and k−1 first-order ones;
 * memory: both states.
 */
export function intermittent(secondOrder: Optimizer, firstOrder: Optimizer, options: IntermittentOptions): Optimizer<IntermittentState, PyTree> {
  const owner = 'intermittent';
  checkOptimizer('secondOrder', secondOrder);
  checkOptimizer('firstOrder', firstOrder);
  if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options must be an object with 'every' (a positive integer)`);
  checkKnownOptions(owner, options, ['every', 'fullBatch']);
  const every = checkNumber(owner, 'every', options.every, { min: 1, integer: true });
  const fb = options.fullBatch;
  if (fb !== undefined && (fb === null || typeof fb !== 'object')) throw new TypeError(`${owner}: option 'fullBatch' must be an object like { secondOrder: true }`);
  if (fb !== undefined) checkKnownOptions(`${owner} fullBatch`, fb, ['secondOrder', 'firstOrder']);
  const fullSecond = fb?.secondOrder === undefined ? false : checkBoolean(owner, 'fullBatch.secondOrder', fb.secondOrder);
  const fullFirst = fb?.firstOrder === undefined ? false : checkBoolean(owner, 'fullBatch.firstOrder', fb.firstOrder);
  const name = `${secondOrder.name}/${every}+${firstOrder.name}`;
  return {
    name,
    options: { secondOrder: secondOrder.name, firstOrder: firstOrder.name, secondOrderOptions: secondOrder.options, firstOrderOptions: firstOrder.options, every, fullBatch: { secondOrder: fullSecond, firstOrder: fullFirst } },
    init: (params) => ({ step: 0, inner: { secondOrder: secondOrder.init(params), firstOrder: firstOrder.init(params) } }),
    fullBatch: (state) => (isSecondOrderStep(state.step, every) ? fullSecond : fullFirst),
    step: (<Q extends PyTree>(params: Q, state: OptimizerState<IntermittentState>, objective: Objective<Q>): StepResult<Q, IntermittentState> => {
      checkHybridState(name, state, ['secondOrder', 'firstOrder']);
      const s = state.inner;
      if (isSecondOrderStep(state.step, every)) {
        const r = secondOrder.step(params, s.secondOrder, objective);
        // A step the driver rejected (non-finite loss or gradient) leaves everything as it was.
        if (r.state === s.secondOrder) return { params: r.params, state, info: r.info };
        return { params: r.params, state: { step: state.step + 1, inner: { ...s, secondOrder: r.state } }, info: r.info };
      }
      const r = firstOrder.step(params, s.firstOrder, objective);
      if (r.state === s.firstOrder) return { params: r.params, state, info: r.info };
      return { params: r.params, state: { step: state.step + 1, inner: { ...s, firstOrder: r.state } }, info: r.info };
    }) as Optimizer<IntermittentState, PyTree>['step'],
  };
}

/**
 * Switching: one optimizer for a first phase, another from then on (the Adam → L-BFGS schedule
 * of physics-informed networks, Raissi et al. 2019; SWATS-like hand-offs). The switch happens
 * exactly once; the second optimizer starts fresh (`second.init`) at the parameters the first
 * phase ended on, so a switched run equals running `first` for N steps and then `second` from
 * those parameters, bit for bit.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import type { Objective, Optimizer, OptimizerState, StepInfo, StepResult } from '../types.js';
import { checkBoolean, checkKnownOptions, checkNumber } from '../validate.js';

/** When to switch: after a number of steps, or when a predicate on the last step's report says so. */
export type SwitchCondition = number | ((info: StepInfo, step: number) => boolean);

export interface SwitchingOptions {
  /**
   * A step count N (the first optimizer makes steps 0…N−1; 0 starts with the second), or a
   * predicate `(info, step) => boolean` called after each first-phase step with that step's
   * report and the number of steps made so far; the switch follows the first `true`.
   */
  after: SwitchCondition;
  /**
   * Which phases need the full-batch objective (default none): a driver that feeds mini-batches
   * (the bench runner, `train`) gives the full objective to a phase marked here, e.g. L-BFGS.
   */
  fullBatch?: { first?: boolean; second?: boolean };
  /** The optimizer's name in reports and errors (default `first→second`, e.g. `adam→lbfgs`). */
  name?: string;
}

/** State of a switching optimizer: the phase and each optimizer's own state. */
export interface SwitchingState {
  /** 0 while the first optimizer runs, 1 after the switch. */
  readonly phase: number;
  /** Steps the first phase made (the switch step, once switched). */
  readonly switchedAt: number | null;
  readonly first: OptimizerState;
  /** Null until the switch: the second optimizer is initialized at the parameters it starts from. */
  readonly second: OptimizerState | null;
  [key: string]: PyTree;
}

function checkOptimizer(owner: string, which: string, o: unknown): Optimizer {
  const opt = o as Optimizer;
  if (opt === null || typeof opt !== 'object' || typeof opt.step !== 'function' || typeof opt.init !== 'function') {
    throw new TypeError(`${owner}: '${which}' must be an optimizer (e.g. optim.adam()), got ${o === null ? 'null' : typeof o}`);
  }
  return opt;
}

function checkFullBatch(owner: string, value: unknown, keys: readonly string[]): Record<string, boolean> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw new TypeError(`${owner}: option 'fullBatch' must be an object like { ${keys[1]}: true }`);
  checkKnownOptions(`${owner} fullBatch`, value, keys);
  const out: Record<string, boolean> = {};
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = checkBoolean(owner, `fullBatch.${k}`, v);
  }
  return out;
}

/** Checks a step's input state, so a foreign state fails with the optimizer's name, not deep inside. */
export function checkHybridState(name: string, state: unknown, keys: readonly string[]): void {
  const inner = (state as OptimizerState | null)?.inner as Record<string, unknown> | undefined;
  if (state === null || typeof state !== 'object' || typeof (state as OptimizerState).step !== 'number' || inner === null || typeof inner !== 'object' || keys.some((k) => !(k in inner))) {
    throw new TypeError(`${name}: state must come from ${name}.init(params) (or a loaded checkpoint of it)`);
  }
}

/**
 * `switching(first, second, { after })`: `first` until the condition holds, then `second`
 * for good. Cost and memory: those of the running phase, plus the first phase's final state
 * kept in the state. The step report says `switched to <second> after N steps` on the switch.
 */
export function switching(first: Optimizer, second: Optimizer, options: SwitchingOptions): Optimizer<SwitchingState, PyTree> {
  const owner = 'switching';
  checkOptimizer(owner, 'first', first);
  checkOptimizer(owner, 'second', second);
  if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options must be an object with 'after' (a step count or a predicate)`);
  checkKnownOptions(owner, options, ['after', 'fullBatch', 'name']);
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) throw new TypeError(`${owner}: option 'name' must be a non-empty string`);
  const after = options.after;
  if (typeof after !== 'function') checkNumber(owner, 'after', after, { min: 0, integer: true });
  const fullBatch = checkFullBatch(owner, options.fullBatch, ['first', 'second']);
  const name = options.name ?? `${first.name}→${second.name}`;

  // Decided after each first-phase step (step = steps made so far, that one included).
  const due = (info: StepInfo, step: number): boolean => {
    if (typeof after === 'number') return step >= after;
    let verdict: unknown;
    try {
      verdict = after(info, step);
    } catch (e) {
      throw new Error(`${owner}: the 'after' predicate threw at step ${step - 1} (after ${step} steps of ${first.name}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (typeof verdict !== 'boolean') throw new TypeError(`${owner}: the 'after' predicate must return true or false, got ${typeof verdict} at step ${step - 1}`);
    return verdict;
  };

  return {
    name,
    options: { first: first.name, second: second.name, firstOptions: first.options, secondOptions: second.options, after: typeof after === 'number' ? after : 'predicate', fullBatch },
    init: (params) => {
      const start = after === 0;
      return { step: 0, inner: { phase: start ? 1 : 0, switchedAt: start ? 0 : null, first: first.init(params), second: start ? second.init(params) : null } };
    },
    fullBatch: (state) => (state.inner.phase === 0 ? fullBatch.first : fullBatch.second) === true,
    step: (<Q extends PyTree>(params: Q, state: OptimizerState<SwitchingState>, objective: Objective<Q>): StepResult<Q, SwitchingState> => {
      checkHybridState(name, state, ['phase', 'first', 'second']);
      const s = state.inner;
      if (s.phase !== 0) {
        if (s.second === null) throw new TypeError(`${name}: state says phase ${s.phase} but holds no state of ${second.name}`);
        const r = second.step(params, s.second, objective);
        // A step the driver rejected (non-finite loss or gradient) leaves everything as it was.
        if (r.state === s.second) return { params: r.params, state, info: r.info };
        return { params: r.params, state: { step: state.step + 1, inner: { ...s, second: r.state } }, info: r.info };
      }
      const r = first.step(params, s.first, objective);
      if (r.state === s.first) return { params: r.params, state, info: r.info };
      const made = state.step + 1;
      if (!due(r.info, made)) return { params: r.params, state: { step: made, inner: { ...s, first: r.state } }, info: r.info };
      const info = { ...r.info, events: [...r.info.events, `switched to ${second.name} after ${made} steps`] };
      return { params: r.params, state: { step: made, inner: { phase: 1, switchedAt: made, first: r.state, second: second.init(r.params) } }, info };
    }) as Optimizer<SwitchingState, PyTree>['step'],
  };
}

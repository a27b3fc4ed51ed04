/**
 * The driver that turns a transform into an optimizer: one `step` evaluates loss and gradient,
 * runs the transform, and applies the update. A non-finite loss or gradient rejects the step:
 * parameters and state come back unchanged and the report says why, so NaN never reaches the
 * parameters.
 */
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { openScope } from '../tensor/memory.js';
import { closeScope, keep } from '../tensor/scope.js';
import { treeAdd, treeIsFinite, treeNorm } from '../autodiff/tree-math.js';
import type { Objective, Optimizer, OptimizerState, StepInfo, Transform, UpdateContext } from './types.js';

function checkObjective<P extends PyTree>(name: string, objective: Objective<P>): void {
  if (objective === null || typeof objective !== 'object' || typeof objective.valueAndGrad !== 'function') {
    throw new TypeError(`${name}: step needs an objective with valueAndGrad(params) (see objective() / modelObjective())`);
  }
}

export function createOptimizer<S extends PyTree, P extends PyTree = PyTree>(
  name: string, transform: Transform<S, P>, options: Readonly<Record<string, unknown>>,
): Optimizer<S, P> {
  // Evaluations a line search already made at the point it returned, keyed by the objective
  // AND that point: a value is only valid for the function that produced it (a new batch is a
  // new objective), so a step on another objective evaluates afresh.
  const cache = new WeakMap<object, WeakMap<object, { loss: number; grad: P }>>();
  return withStepScope({
    name,
    options,
    init: (params) => ({ step: 0, inner: transform.init(params) }),
    step: ((params: P, state: OptimizerState<S>, objective: Objective<P>) => {
      checkObjective(name, objective);
      if (state === null || typeof state !== 'object' || typeof state.step !== 'number') {
        throw new TypeError(`${name}: state must come from ${name}.init(params) (or a loaded checkpoint of it)`);
      }
      const counters = { evals: 0, curvatureProducts: 0 };
      const events: string[] = [];
      const hit = typeof params === 'object' && params !== null ? cache.get(objective)?.get(params) : undefined;
      let loss: number;
      let grad: P;
      if (hit !== undefined) {
        ({ loss, grad } = hit);
      } else {
        transform.beforeEvaluate?.(params, state.inner as S, objective, state.step);
        [loss, grad] = objective.valueAndGrad(params);
        counters.evals++;
      }
      const reject = (why: string): { params: P; state: OptimizerState<S>; info: StepInfo } => ({
        params,
        state,
        info: { loss, gradNorm: NaN, evals: counters.evals, curvatureProducts: counters.curvatureProducts, accepted: false, events: [...events, why] },
      });
      if (!Number.isFinite(loss)) return reject(`non-finite loss (${loss}): step rejected, parameters unchanged`);
      if (!treeIsFinite(grad)) return reject('non-finite gradient: step rejected, parameters unchanged');
      const ctx: UpdateContext<P> = { step: state.step, loss, objective, counters, events };
      const [updates, inner] = transform.update(grad, state.inner as S, params, ctx);
      if (ctx.rejected !== undefined) {
        return {
          params,
          state: { step: state.step + 1, inner },
          info: { loss, gradNorm: treeNorm(grad), evals: counters.evals, curvatureProducts: counters.curvatureProducts, accepted: false, events: [...events, ctx.rejected], ...(ctx.converged === undefined ? {} : { converged: ctx.converged }) },
        };
      }
      const next = ctx.accepted?.params ?? treeAdd(params, updates);
      if (!treeIsFinite(next)) return reject('the update is not finite: step rejected, parameters unchanged');
      const acceptedGrad = ctx.accepted?.grad;
      if (ctx.accepted !== undefined && acceptedGrad !== undefined && Number.isFinite(ctx.accepted.loss) && typeof next === 'object' && next !== null) {
        // Reachable only through this WeakMap, the cached gradient must outlive the step's scope.
        for (const leaf of treeLeaves(acceptedGrad)) keep(leaf);
        // One entry per objective: only the newest point can be the next step's start.
        cache.set(objective, new WeakMap([[next, { loss: ctx.accepted.loss, grad: acceptedGrad }]]));
      }
      const info: StepInfo = {
        loss,
        newLoss: ctx.accepted?.loss,
        gradNorm: treeNorm(grad),
        evals: counters.evals,
        curvatureProducts: counters.curvatureProducts,
        accepted: true,
        events,
      };
      if (ctx.converged !== undefined) info.converged = ctx.converged;
      return { params: next, state: { step: state.step + 1, inner }, info };
    }) as Optimizer<S, P>['step'],
  });
}

/**
 * Each step in its own scope: what the step created and its result does not reach goes back to
 * the pool, so a plain training loop reuses memory.
 */
function withStepScope<S extends PyTree, P extends PyTree>(opt: Optimizer<S, P>): Optimizer<S, P> {
  const inner = opt.step;
  return {
    ...opt,
    step: ((params: P, state: OptimizerState<S>, objective: Objective<P>) => {
      const scope = openScope(false);
      let out: ReturnType<typeof inner> | undefined;
      try {
        out = inner(params, state, objective);
        return out;
      } finally {
        closeScope(scope, out);
      }
    }) as Optimizer<S, P>['step'],
  };
}

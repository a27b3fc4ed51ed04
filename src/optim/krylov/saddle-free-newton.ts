/**
 * Saddle-free Newton (Dauphin et al., NeurIPS 2014) as an optimizer: each step builds the exact
 * Hessian operator at the parameters (forward-over-reverse products from the objective), takes
 * the direction −(|H| + δI)⁻¹ g in the Krylov space K_k(H, g) (see
 * curvature/lowrank/saddle-free.ts for the choices), then backtracks from t = lr until Armijo's
 * condition holds. Near a strict saddle it moves away along negative curvature at a rate set by
 * |λ|, where gradient descent creeps; near a minimum with k = n and δ = 0 it is Newton's method.
 *
 * Cost per step: k Hessian-vector products, k vectors of memory, a k×k eigendecomposition, and
 * the line search's function evaluations. Registered as `saddle-free-newton` and available as
 * `minimize(f, x0, { method: 'saddle-free-newton' })`.
 */
import type { Tensor } from '../../tensor/tensor.js';
import type { PyTree } from '../../autodiff/pytree.js';
import { linearOperator } from '../../curvature/operators/linear-operator.js';
import { saddleFreeDirection } from '../../curvature/lowrank/saddle-free.js';
import { treeAxpby, treeIsFinite, treeMaxAbs, treeScale, treeVdot, treeZerosLike } from '../../autodiff/tree-math.js';
import { createOptimizer } from '../optimizer.js';
import type { Objective, Optimizer, Schedule, Transform, UpdateContext } from '../types.js';
import { checkKnownOptions, checkNumber, checkSchedule, evalSchedule } from '../validate.js';
import type { MinimizerInput, MinimizerOutput } from '../minimize/minimizer-types.js';

export interface SaddleFreeNewtonOptions {
  /** Krylov dimension: Hessian-vector products per step (default 10, capped at the parameter count). */
  k?: number;
  /** δ added to |λ| (default 1e-3). */
  damping?: number;
  /** First trial step of the line search (number or schedule), default 1. */
  lr?: Schedule;
  armijoC?: number;
  maxLineSearchSteps?: number;
  /** Seed of the random restarts of the Krylov basis (default 0). */
  seed?: number;
}

export interface SaddleFreeNewtonState {
  /** Smallest and largest Ritz value of the last step (0 before the first). */
  readonly minRitz: number;
  readonly maxRitz: number;
  readonly [key: string]: number;
}

/** Thrown by the Hessian operator on a non-finite product, so the step falls back to −g. */
class NonFiniteCurvature extends Error {}

const KNOWN = ['k', 'damping', 'lr', 'armijoC', 'maxLineSearchSteps', 'seed'];

function resolve(options: SaddleFreeNewtonOptions) {
  const o = 'saddleFreeNewton';
  checkKnownOptions(o, options, KNOWN);
  return {
    k: checkNumber(o, 'k', options.k ?? 10, { min: 1, integer: true }),
    damping: checkNumber(o, 'damping', options.damping ?? 1e-3, { min: 0 }),
    lr: checkSchedule(o, 'lr', options.lr ?? 1, { min: 0, minExclusive: true }),
    armijoC: checkNumber(o, 'armijoC', options.armijoC ?? 1e-4, { min: 0, max: 1, maxExclusive: true }),
    maxLineSearchSteps: checkNumber(o, 'maxLineSearchSteps', options.maxLineSearchSteps ?? 30, { min: 1, integer: true }),
    seed: checkNumber(o, 'seed', options.seed ?? 0, { integer: true }),
  };
}

export function saddleFreeNewtonTransform<P extends PyTree>(options: SaddleFreeNewtonOptions = {}): Transform<SaddleFreeNewtonState, P> {
  const o = resolve(options);
  return {
    name: 'saddleFreeNewton',
    init: () => ({ minRitz: 0, maxRitz: 0 }),
    update: (g, state, params, ctx: UpdateContext<P>) => {
      const obj: Objective<P> = ctx.objective;
      if (treeVdot(g, g) === 0) return [treeZerosLike(g), state];
      const hvp = obj.hvp;
      if (hvp === undefined) throw new Error('saddleFreeNewton: the objective must provide hvp (use objective() or modelObjective())');
      const op = linearOperator('hessian', params, (v: P) => {
        ctx.counters.curvatureProducts++;
        const hv = hvp.call(obj, params, v);
        if (!treeIsFinite(hv)) throw new NonFiniteCurvature();
        return hv;
      });
      let sfn: ReturnType<typeof saddleFreeDirection<P>> | undefined;
      try {
        sfn = saddleFreeDirection(op, g, { k: o.k, damping: o.damping, seed: (o.seed % 2147483647) * 65537 + ctx.step }); // finite for any finite seed
      } catch (e) {
        if (!(e instanceof NonFiniteCurvature)) throw e;
        ctx.events.push('saddleFreeNewton: non-finite Hessian-vector product; steepest descent for this step');
      }
      const ritz = sfn?.ritzValues ?? [];
      // The last finite Ritz range is kept when this step's curvature was not finite.
      const next: SaddleFreeNewtonState = ritz.length > 0 ? { minRitz: ritz[0], maxRitz: ritz[ritz.length - 1] } : state;
      let p = sfn?.direction ?? treeScale(-1, g);
      let slope = treeVdot(g, p);
      if (!(slope < 0)) {
        // Only when every Ritz value is flat and undamped.
        ctx.events.push('saddleFreeNewton: no descent direction from the subspace; steepest descent instead');
        p = treeScale(-1, g);
        slope = -treeVdot(g, g);
      }
      let t = evalSchedule('lr', o.lr, ctx.step);
      for (let i = 0; i < o.maxLineSearchSteps; i++) {
        const x = treeAxpby(1, params, t, p);
        ctx.counters.evals++;
        const f = obj.value ? obj.value(x) : obj.valueAndGrad(x)[0];
        if (Number.isFinite(f) && f <= ctx.loss + o.armijoC * t * slope) {
          ctx.accepted = { params: x, loss: f };
          return [treeScale(t, p), next];
        }
        t *= 0.5;
      }
      ctx.events.push('saddleFreeNewton: line search found no decrease; no step taken');
      return [treeZerosLike(g), next];
    },
  };
}

export function saddleFreeNewton<P extends PyTree = PyTree>(options: SaddleFreeNewtonOptions = {}): Optimizer<SaddleFreeNewtonState, P> {
  return createOptimizer('saddle-free-newton', saddleFreeNewtonTransform<P>(options), resolve(options));
}

/** The loop of `minimize(f, x0, { method: 'saddle-free-newton' })`, with k = min(n, 20). */
export function saddleFreeNewtonMinimizer(input: MinimizerInput): MinimizerOutput {
  if (input.obj.hvp === undefined) throw new Error("minimize: method 'saddle-free-newton' needs Hessian-vector products; give an f built from the library's ops (autodiff) instead of jac");
  const t = saddleFreeNewtonTransform<Tensor>({ k: Math.min(input.x0.size, 20), damping: 0 });
  let state = t.init(input.x0);
  let x = input.x0;
  let fx = input.f0;
  let gx = input.g0;
  const counters = { evals: 1, curvatureProducts: 0 };
  const done = (it: number, success: boolean, message: string): MinimizerOutput => ({ x, fun: fx, jac: gx, nit: it, nfev: counters.evals, nhev: counters.curvatureProducts, success, message });
  for (let it = 1; it <= input.maxIter; it++) {
    const ctx: UpdateContext<Tensor> = { step: it - 1, loss: fx, objective: input.obj, counters, events: [] };
    [, state] = t.update(gx, state, x, ctx);
    if (ctx.accepted === undefined) return done(it, false, `no decrease along the saddle-free Newton direction: ${ctx.events.join('; ')}`);
    x = ctx.accepted.params;
    counters.evals++;
    [fx, gx] = input.obj.valueAndGrad(x);
    if (input.callback?.(x, fx, it)) return done(it, false, 'stopped by the callback');
    if (treeMaxAbs(gx) <= input.gtol) return done(it, true, 'converged: gradient below gtol');
    if (counters.evals >= input.maxEvals) return done(it, false, 'maximum number of evaluations reached');
  }
  return done(input.maxIter, false, 'maximum number of iterations reached');
}

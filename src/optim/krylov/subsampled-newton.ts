/**
 * Sub-sampled Newton-CG (Byrd, Chin, Neveitt & Nocedal, SIAM J. Optim. 2011): the gradient on
 * the batch, the exact Hessian (Hessian-vector products by forward-over-reverse autodiff) on a
 * small random sub-sample, a few CG iterations on (H_S + λI) p = −g stopped at a relative
 * residual or at non-positive curvature, then an Armijo backtracking line search from
 * t = lr. A stochastic second-order baseline next to Hessian-free.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { cg as solveCg } from '../../curvature/cg.js';
import { fromObjective } from '../../curvature/operators/from-objective.js';
import { createOptimizer } from '../optimizer.js';
import { treeAxpby, treeScale, treeVdot, treeZerosLike } from '../../autodiff/tree-math.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkChoice, checkKnownOptions, checkNumber, checkSchedule, evalSchedule } from '../validate.js';
import { cgPreconditioner } from '../../curvature/lowrank/nystrom.js';

export interface SubsampledNewtonOptions {
  /** Fraction of the batch for Hessian products, default 0.1 (Byrd et al. used 1–10%). */
  curvatureFraction?: number;
  /** CG iterations per step (default 10) and relative residual tolerance (default 0.1). */
  cgMaxIter?: number;
  cgTolerance?: number;
  /** λ added to the sub-sampled Hessian, default 0. */
  damping?: number;
  /** First trial step of the line search (number or schedule), default 1. */
  lr?: Schedule;
  armijoC?: number;
  maxLineSearchSteps?: number;
  /**
   * 'none' (default) or 'nystrom': a randomized Nyström low-rank preconditioner of the
   * sub-sampled Hessian for the damped system (Frangella, Tropp & Udell 2023), from
   * `nystromRank` products per step. It needs the Hessian PSD on its sketch (near a minimum, or
   * with enough damping); where the sketch meets negative curvature the step runs CG without it
   * and says so in its events.
   */
  preconditioner?: 'none' | 'nystrom';
  nystromRank?: number;
}

function resolve(options: SubsampledNewtonOptions) {
  const o = 'subsampledNewton';
  checkKnownOptions(o, options, ['curvatureFraction', 'cgMaxIter', 'cgTolerance', 'damping', 'lr', 'armijoC', 'maxLineSearchSteps', 'preconditioner', 'nystromRank']);
  return {
    curvatureFraction: checkNumber(o, 'curvatureFraction', options.curvatureFraction ?? 0.1, { min: 0, max: 1, minExclusive: true }),
    cgMaxIter: checkNumber(o, 'cgMaxIter', options.cgMaxIter ?? 10, { min: 1, integer: true }),
    cgTolerance: checkNumber(o, 'cgTolerance', options.cgTolerance ?? 0.1, { min: 0 }),
    damping: checkNumber(o, 'damping', options.damping ?? 0, { min: 0 }),
    lr: checkSchedule(o, 'lr', options.lr ?? 1, { min: 0, minExclusive: true }),
    armijoC: checkNumber(o, 'armijoC', options.armijoC ?? 1e-4, { min: 0, max: 1, maxExclusive: true }),
    maxLineSearchSteps: checkNumber(o, 'maxLineSearchSteps', options.maxLineSearchSteps ?? 30, { min: 1, integer: true }),
    preconditioner: checkChoice(o, 'preconditioner', options.preconditioner ?? 'none', ['none', 'nystrom'] as const),
    nystromRank: checkNumber(o, 'nystromRank', options.nystromRank ?? 10, { min: 1, integer: true }),
  };
}

export function subsampledNewtonTransform<P extends PyTree>(options: SubsampledNewtonOptions = {}): Transform<{ cgIterations: number }, P> {
  const o = resolve(options);
  return {
    name: 'subsampledNewton',
    init: () => ({ cgIterations: 0 }),
    update: (g, _state, params, ctx) => {
      const obj = ctx.objective;
      if (treeVdot(g, g) === 0) {
        ctx.converged = 'the gradient is zero';
        return [treeZerosLike(g), { cgIterations: 0 }];
      }
      const curv = o.curvatureFraction < 1 && obj.subsample ? obj.subsample(o.curvatureFraction, 104729 * (ctx.step + 1)) : obj;
      if (curv.hvp === undefined) throw new Error('subsampledNewton: the objective must provide hvp (use objective() or modelObjective())');
      const hessian = fromObjective(curv, params, 'hessian', { onMatvec: () => { ctx.counters.curvatureProducts++; } });
      let cg: ReturnType<typeof solveCg<P>>;
      try {
        let preconditioner: ((r: P) => P) | undefined;
        if (o.preconditioner === 'nystrom') {
          try {
            preconditioner = cgPreconditioner('nystrom', hessian, { rank: Math.min(o.nystromRank, hessian.size), seed: ctx.step, damping: o.damping });
          } catch (e) {
            ctx.events.push(`subsampledNewton: no Nyström preconditioner this step (${e instanceof Error ? e.message : String(e)})`);
          }
        }
        cg = solveCg(o.damping > 0 ? hessian.damped(o.damping) : hessian, treeScale(-1, g), { maxIter: o.cgMaxIter, tol: o.cgTolerance, martens: false, storeGamma: 0, preconditioner });
      } finally {
        hessian.dispose(); // the gradient's linearization, shared by CG's products
      }
      let p = cg.x;
      let slope = treeVdot(g, p);
      if (cg.negativeCurvature) ctx.events.push(`negative curvature in CG at iteration ${cg.negativeCurvature.iteration}`);
      if (!Number.isFinite(slope)) ctx.events.push('subsampledNewton: non-finite Hessian product in CG; steepest descent instead');
      if (!(slope < 0)) {
        // No usable Newton direction (negative curvature at the first CG step): steepest descent.
        p = treeScale(-1, g);
        slope = -treeVdot(g, g);
      }
      let t = evalSchedule('lr', o.lr, ctx.step);
      for (let k = 0; k < o.maxLineSearchSteps; k++) {
        const x = treeAxpby(1, params, t, p);
        ctx.counters.evals++;
        const f = obj.value ? obj.value(x) : obj.valueAndGrad(x)[0];
        if (Number.isFinite(f) && f <= ctx.loss + o.armijoC * t * slope) {
          ctx.accepted = { params: x, loss: f };
          return [treeScale(t, p), { cgIterations: cg.iterations }];
        }
        t *= 0.5;
      }
      ctx.events.push('subsampledNewton: line search found no decrease; no step taken');
      // With the whole batch as curvature sample the next step would repeat this one exactly.
      if (curv === obj) ctx.converged = 'line search found no decrease along the Newton-CG direction';
      return [treeZerosLike(g), { cgIterations: cg.iterations }];
    },
  };
}

export function subsampledNewton<P extends PyTree = PyTree>(options: SubsampledNewtonOptions = {}): Optimizer<{ cgIterations: number }, P> {
  return createOptimizer('newton-cg', subsampledNewtonTransform<P>(options), resolve(options));
}

/**
 * Hessian-free optimization (Martens, ICML 2010, Algorithm 1; details from Martens &
 * Sutskever 2012, "Training deep and recurrent networks with Hessian-free optimization").
 *
 * One step at parameters θ with loss f0 and gradient g:
 * 1. curvature B = G + λI (G the Gauss-Newton matrix, or the Hessian with
 *    `curvature: 'hessian'`), on a random `curvatureFraction` of the batch;
 * 2. conjugate gradient on B p = −g, warm-started from `cgDecay` (0.95) times the previous
 *    solution, preconditioned by (diag(empirical Fisher) + λ)^α (α = 0.75), stopped by Martens'
 *    relative-progress test; iterates stored at ⌈1.3^j⌉;
 * 3. CG backtracking: from the last stored iterate, step back while the objective decreases;
 * 4. Levenberg–Marquardt: ρ = (f(θ+p) − f0) / q(p) with q(p) = ½pᵀBp + gᵀp the model CG
 *    minimized; λ ← λ·3/2 when ρ < 1/4, λ ← λ·2/3 when ρ > 3/4 (λ lives in the state);
 * 5. an Armijo backtracking line search on the step (c = 1e-2, factor 0.8).
 * A non-finite loss at the proposed point rejects the step and multiplies a transient boost of
 * λ by `dampingIncrease²` (see `fault-damping.ts`: it compounds within a streak of rejections
 * and accepted steps undo it, so sporadic faults never accumulate in λ); a non-finite CG solution
 * (a bad curvature product or preconditioner) rejects the step with λ unchanged. Parameters are
 * never corrupted and the state stays finite (ρ is NaN when the model predicted no decrease).
 *
 * Regularization: coupled L2 belongs in the objective (`withL2`), where it enters the gradient
 * and every curvature product. Dropout: give the objective a model whose masks come from a
 * seeded rng, so that gradient and curvature see the same masks.
 * Structural damping (Martens & Sutskever 2011) for recurrent nets: `structuralDamping`
 * adds μ·S(θ)v to the curvature product, S the Gauss-Newton matrix of a penalty on changes of
 * the hidden states (from the objective, see `structural-damping.ts`), μ = weight·λ.
 * Mini-batch HF (Martens & Sutskever 2012; Kiros 2013): give the step a mini-batch objective
 * (the gradient's batch), `curvatureFraction` of it for the curvature, a small `cgMaxIter`, and
 * `evaluateOn: 'curvature'` so that the trial losses cost forward passes on the sub-batch only.
 * Cost per step, in passes over the batch (B) and the curvature sub-batch (C): one forward and
 * backward on B (the gradient); with the diagonal preconditioner one more on C; one forward on C
 * (the linearization), then one linear forward and backward on C per CG iteration (one more for
 * a warm start); one forward per backtracking or line-search trial, on B or (evaluateOn
 * 'curvature' or 'held-out') on C examples plus one for the loss at θ there.
 */
import { treeMap, type PyTree } from '../../autodiff/pytree.js';
import { add, mul, pow, reciprocal, rsqrt, sqrt } from '../../tensor/ops.js';
import type { Tensor } from '../../tensor/tensor.js';
import { cg } from '../../curvature/cg.js';
import { fromObjective } from '../../curvature/operators/from-objective.js';
import { checkStructuralDamping, structuralDampingTerm, type StructuralDampingOption } from './structural-damping.js';
import { cgPreconditioner } from '../../curvature/lowrank/nystrom.js';
import { createOptimizer } from '../optimizer.js';
import { tidy } from '../../tensor/scope.js';
import { treeAxpby, treeIsFinite, treeMulInto, treeScale, treeVdot, treeZerosLike } from '../../autodiff/tree-math.js';
import { boostAfterAcceptance, boostAfterRejection, faultBoostOf } from '../fault-damping.js';
import type { Objective, Optimizer, Transform, UpdateContext } from '../types.js';
import { checkBoolean, checkChoice, checkKnownOptions, checkNumber } from '../validate.js';

export interface HessianFreeOptions {
  /** 'ggn' (default, Martens' choice) or 'hessian' (may meet negative curvature; reported). */
  curvature?: 'ggn' | 'hessian';
  /** Initial λ, default 1; it must lie within [minDamping, maxDamping]. */
  damping?: number;
  /** Multipliers for λ, defaults 3/2 and 2/3; thresholds on ρ, defaults 1/4 and 3/4. */
  dampingIncrease?: number;
  dampingDecrease?: number;
  rhoLow?: number;
  rhoHigh?: number;
  /** λ stays within [minDamping, maxDamping], defaults 1e-8 (must be > 0) and 1e8. */
  minDamping?: number;
  maxDamping?: number;
  /** CG limits: iterations (default 250), warm-start decay (0.95), optional residual tolerance. */
  cgMaxIter?: number;
  /**
   * Grow CG's iteration limit over training (Martens & Sutskever 2012 let CG run longer as the
   * optimization proceeds): step k (from 0) allows ⌊cgMaxIter · cgMaxIterGrowth^k⌋ iterations,
   * at most `cgMaxIterLimit` (default 250). Default 1: `cgMaxIter` at every step.
   */
  cgMaxIterGrowth?: number;
  cgMaxIterLimit?: number;
  cgDecay?: number;
  cgTolerance?: number;
  /**
   * true (default): the diagonal preconditioner (diag(F_emp) + λ)^α, α = `preconditionerExponent`;
   * 'nystrom': a randomized Nyström low-rank preconditioner of the curvature for the damped
   * system (Frangella, Tropp & Udell 2023), rebuilt every step from `nystromRank` products;
   * false: none.
   */
  preconditioner?: boolean | 'nystrom';
  /** Sketch size of the Nyström preconditioner (default 20 curvature products per step). */
  nystromRank?: number;
  preconditionerExponent?: number;
  /**
   * Average the diagonal preconditioner's empirical-Fisher diagonal over steps: an exponential
   * moving average with this decay β (bias-corrected, as Adam's second moment), default 0 (each
   * step's own diagonal). On small curvature batches one batch's diagonal is noisy; β = 0.9
   * averages about ten. The average lives in the state (one parameter-sized tree).
   */
  preconditionerDecay?: number;
  /**
   * Compute the empirical-Fisher diagonal every k-th step only (default 1: every step); the steps
   * between reuse the last one (or, with `preconditionerDecay`, the average), with their own λ.
   * The diagonal costs a forward and a partial backward pass on the curvature sub-batch; on
   * small sub-batches it is ~7% of a mini-batch step. Needs preconditioner: true.
   */
  preconditionerEvery?: number;
  /**
   * Solve against an average of the steps' gradients instead of this batch's alone: CG's
   * right-hand side is −ĝ with ĝ the bias-corrected exponential moving average of the mini-batch
   * gradients with this decay β (as Adam's first moment, weight βw + (1 − β)), default 0 (this
   * step's gradient). With small batches most of a step's error is the batch's gradient noise,
   * not the curvature model: the average lowers it, as momentum does for SGD. The average lives in
   * the state (one parameter-sized tree) and only accepted steps update it. The line search still
   * tests sufficient decrease along this batch's gradient (no increase when the step is not a
   * descent direction for it).
   */
  gradientDecay?: number;
  /** Fraction of the batch for curvature products, default 1. */
  curvatureFraction?: number;
  /**
   * The curvature sub-batch as a number of examples instead of a fraction (Martens & Sutskever
   * 2012 fix its size while the gradient's batch varies): `k / n` of a batch of n examples, the
   * whole batch when k ≥ n. Needs an objective that can sub-sample to know its example count
   * (`examples`, as `modelObjective` does); not together with `curvatureFraction`. With `evaluateOn: 'held-out'`
   * the held-out slice has as many examples, and both are capped at half of a batch smaller than
   * 2k (the small data sizes).
   */
  curvatureExamples?: number;
  /** CG backtracking, default on. */
  backtracking?: boolean;
  /**
   * Which batch the trial losses (CG backtracking, ρ, the line search) are evaluated on:
   * 'batch' (default), the gradient's batch; 'curvature', the curvature sub-batch, as Kiros
   * (2013) does for mini-batch HF — each trial then costs a forward pass on `curvatureFraction`
   * of the batch, plus one for the loss at the current point; 'held-out', a slice of the batch
   * of the same size disjoint from the curvature sub-batch (block 1 of the objective's
   * `subsample` with the curvature's seed; needs curvatureFraction ≤ 1/2), at the same cost:
   * the step was fitted to the curvature sub-batch, so losses there overrate it (Martens &
   * Sutskever 2012 judge it on other data).
   */
  evaluateOn?: 'batch' | 'curvature' | 'held-out';
  /** Armijo line search on the step, default on; constant c and shrink factor. */
  lineSearch?: boolean;
  armijoC?: number;
  armijoShrink?: number;
  maxLineSearchSteps?: number;
  /**
   * Structural damping (Martens & Sutskever 2011): μS added to the curvature, S the Gauss-Newton
   * matrix of the penalty on changes of the hidden states, μ = weight·λ so that it adapts with λ.
   * S comes from `product` when given, else from the objective (`structuralObjective`).
   */
  structuralDamping?: StructuralDampingOption;
}

export interface HessianFreeState<P extends PyTree> {
  readonly damping: number;
  /** The previous CG solution (warm start). */
  readonly previous: P;
  readonly cgIterations: number;
  readonly rho: number;
  /** Transient multiplier of λ after rejected trials (1 when none; see `fault-damping.ts`). */
  readonly faultBoost: number;
  [key: string]: PyTree;
}

const KNOWN = ['curvature', 'damping', 'dampingIncrease', 'dampingDecrease', 'rhoLow', 'rhoHigh', 'minDamping', 'maxDamping', 'cgMaxIter', 'cgMaxIterGrowth', 'cgMaxIterLimit', 'cgDecay',
  'cgTolerance', 'preconditioner', 'nystromRank', 'preconditionerExponent', 'preconditionerDecay', 'preconditionerEvery', 'gradientDecay', 'curvatureFraction', 'curvatureExamples', 'backtracking', 'evaluateOn', 'lineSearch', 'armijoC', 'armijoShrink', 'maxLineSearchSteps', 'structuralDamping'];

function resolve(options: HessianFreeOptions) {
  const o = 'hessianFree';
  checkKnownOptions(o, options, KNOWN);
  const r = {
    curvature: checkChoice(o, 'curvature', options.curvature ?? 'ggn', ['ggn', 'hessian'] as const),
    damping: checkNumber(o, 'damping', options.damping ?? 1, { min: 0, minExclusive: true }),
    dampingIncrease: checkNumber(o, 'dampingIncrease', options.dampingIncrease ?? 1.5, { min: 1, minExclusive: true }),
    dampingDecrease: checkNumber(o, 'dampingDecrease', options.dampingDecrease ?? 2 / 3, { min: 0, max: 1, minExclusive: true, maxExclusive: true }),
    rhoLow: checkNumber(o, 'rhoLow', options.rhoLow ?? 0.25, {}),
    rhoHigh: checkNumber(o, 'rhoHigh', options.rhoHigh ?? 0.75, {}),
    // λ adapts by multiplication: a floor of 0 would let it reach 0 and stay there.
    minDamping: checkNumber(o, 'minDamping', options.minDamping ?? 1e-8, { min: 0, minExclusive: true }),
    maxDamping: checkNumber(o, 'maxDamping', options.maxDamping ?? 1e8, { min: 0, minExclusive: true }),
    cgMaxIter: checkNumber(o, 'cgMaxIter', options.cgMaxIter ?? 250, { min: 1, integer: true }),
    cgMaxIterGrowth: checkNumber(o, 'cgMaxIterGrowth', options.cgMaxIterGrowth ?? 1, { min: 1 }),
    cgMaxIterLimit: checkNumber(o, 'cgMaxIterLimit', options.cgMaxIterLimit ?? 250, { min: 1, integer: true }),
    cgDecay: checkNumber(o, 'cgDecay', options.cgDecay ?? 0.95, { min: 0, max: 1 }),
    cgTolerance: checkNumber(o, 'cgTolerance', options.cgTolerance ?? 0, { min: 0 }),
    preconditioner: options.preconditioner === 'nystrom' ? 'nystrom' as const : checkBoolean(o, 'preconditioner', options.preconditioner ?? true),
    nystromRank: checkNumber(o, 'nystromRank', options.nystromRank ?? 20, { min: 1, integer: true }),
    preconditionerExponent: checkNumber(o, 'preconditionerExponent', options.preconditionerExponent ?? 0.75, { min: 0, max: 1 }),
    preconditionerDecay: checkNumber(o, 'preconditionerDecay', options.preconditionerDecay ?? 0, { min: 0, max: 1, maxExclusive: true }),
    preconditionerEvery: checkNumber(o, 'preconditionerEvery', options.preconditionerEvery ?? 1, { min: 1, integer: true }),
    gradientDecay: checkNumber(o, 'gradientDecay', options.gradientDecay ?? 0, { min: 0, max: 1, maxExclusive: true }),
    curvatureFraction: checkNumber(o, 'curvatureFraction', options.curvatureFraction ?? 1, { min: 0, max: 1, minExclusive: true }),
    curvatureExamples: options.curvatureExamples === undefined ? undefined : checkNumber(o, 'curvatureExamples', options.curvatureExamples, { min: 1, integer: true }),
    backtracking: checkBoolean(o, 'backtracking', options.backtracking ?? true),
    evaluateOn: checkChoice(o, 'evaluateOn', options.evaluateOn ?? 'batch', ['batch', 'curvature', 'held-out'] as const),
    lineSearch: checkBoolean(o, 'lineSearch', options.lineSearch ?? true),
    armijoC: checkNumber(o, 'armijoC', options.armijoC ?? 1e-2, { min: 0, max: 1, maxExclusive: true }),
    armijoShrink: checkNumber(o, 'armijoShrink', options.armijoShrink ?? 0.8, { min: 0, max: 1, minExclusive: true, maxExclusive: true }),
    maxLineSearchSteps: checkNumber(o, 'maxLineSearchSteps', options.maxLineSearchSteps ?? 60, { min: 1, integer: true }),
    structuralDamping: checkStructuralDamping(o, options.structuralDamping),
  };
  if (r.preconditionerDecay > 0 && r.preconditioner !== true) throw new RangeError(`${o}: option 'preconditionerDecay' averages the diagonal preconditioner; it needs preconditioner: true, got ${JSON.stringify(r.preconditioner)}`);
  if (r.preconditionerEvery > 1 && r.preconditioner !== true) throw new RangeError(`${o}: option 'preconditionerEvery' reuses the diagonal preconditioner's Fisher diagonal; it needs preconditioner: true, got ${JSON.stringify(r.preconditioner)}`);
  if (r.curvatureExamples !== undefined && options.curvatureFraction !== undefined) throw new RangeError(`${o}: options 'curvatureExamples' and 'curvatureFraction' both size the curvature sub-batch; give one of them`);
  if (r.evaluateOn === 'held-out' && r.curvatureExamples === undefined && r.curvatureFraction > 0.5) throw new RangeError(`${o}: option 'evaluateOn' 'held-out' takes a slice of the batch disjoint from the curvature sub-batch and of its size; it needs curvatureFraction ≤ 0.5, got ${r.curvatureFraction}`);
  if (r.cgMaxIterGrowth > 1 && r.cgMaxIterLimit < r.cgMaxIter) throw new RangeError(`${o}: option 'cgMaxIterLimit' (${r.cgMaxIterLimit}) is below 'cgMaxIter' (${r.cgMaxIter})`);
  if (r.rhoLow >= r.rhoHigh) throw new RangeError(`${o}: option 'rhoLow' (${r.rhoLow}) must be below 'rhoHigh' (${r.rhoHigh})`);
  if (r.minDamping > r.maxDamping) throw new RangeError(`${o}: option 'minDamping' (${r.minDamping}) exceeds 'maxDamping' (${r.maxDamping})`);
  if (r.damping < r.minDamping || r.damping > r.maxDamping) throw new RangeError(`${o}: option 'damping' (${r.damping}) must lie within [minDamping, maxDamping] = [${r.minDamping}, ${r.maxDamping}]`);
  return r;
}

/**
 * x^(−α) elementwise for x > 0. The exponents 1, 1/2, 1/4 and 3/4 (the preconditioner's default)
 * go through the vectorized reciprocal, square root and reciprocal square root kernels:
 * x^(−3/4) = u·√u with u = 1/√x. On the CURVES autoencoder's 842k parameters that is 6.6 CPU ms
 * where the per-element `pow` kernel took 21 (native), every step; the result agrees with `pow`
 * to a few units in the last place.
 */
export function powNegative(x: Tensor, alpha: number): Tensor {
  if (alpha === 1) return reciprocal(x);
  if (alpha === 0.5) return rsqrt(x);
  if (alpha === 0.25) return sqrt(rsqrt(x));
  if (alpha === 0.75) {
    const u = rsqrt(x);
    return mul(u, sqrt(u));
  }
  return pow(x, -alpha);
}

/**
 * One step of a bias-corrected exponential moving average (Adam's moments): s ← βs + (1−β)x,
 * w ← βw + (1−β), mean s/w, unbiased from the first step (s = 0, w = 0 at the start).
 */
function foldAverage<P extends PyTree>(beta: number, sum: P, weight: number, x: P): { sum: P; weight: number; mean: P } {
  const w = beta * weight + (1 - beta);
  const s = treeAxpby(beta, sum, 1 - beta, x);
  return { sum: s, weight: w, mean: treeScale(1 / w, s) };
}

/**
 * The share of `obj`'s batch that Hessian-free's curvature products see under `options`
 * (`curvatureFraction`, or `curvatureExamples` over the objective's example count): what
 * `bench:hf --profile` sizes its reference gradient by.
 */
export function curvatureShareOf(options: HessianFreeOptions, obj: Objective<PyTree>): number {
  return curvatureShare(resolve(options), obj);
}

/** `curvatureShareOf` on resolved options (every step). */
function curvatureShare(o: ReturnType<typeof resolve>, obj: Objective<PyTree>): number {
  const k = o.curvatureExamples;
  if (k === undefined) return o.curvatureFraction;
  // An objective that cannot sub-sample gives its whole batch, whatever the option says (as for
  // curvatureFraction); one that can must say how many examples it has.
  if (obj.subsample === undefined) return 1;
  const n = obj.examples;
  if (n === undefined || !Number.isSafeInteger(n) || n < 1) {
    throw new TypeError(`hessianFree: option 'curvatureExamples' needs an objective that knows its number of examples ('examples', as modelObjective gives), got ${n === undefined ? 'none' : JSON.stringify(n)}; use 'curvatureFraction' instead`);
  }
  // At most the batch; with a held-out slice at most half of it, so that both slices fit (as
  // the runner caps a table's batch size at the data). A batch of one is used whole.
  const m = Math.min(k, o.evaluateOn === 'held-out' ? Math.floor(n / 2) : n);
  return m < 1 || m >= n ? 1 : m / n;
}

function valueAt<P extends PyTree>(obj: Objective<P>, p: P, counters: { evals: number }): number {
  counters.evals++;
  return obj.value ? obj.value(p) : obj.valueAndGrad(p)[0];
}

export function hessianFreeTransform<P extends PyTree>(options: HessianFreeOptions = {}): Transform<HessianFreeState<P>, P> {
  const o = resolve(options);
  const clampDamping = (l: number) => Math.min(o.maxDamping, Math.max(o.minDamping, l));
  return {
    name: 'hessianFree',
    init: (params) => ({
      damping: o.damping, previous: treeZerosLike(params), cgIterations: 0, rho: NaN, faultBoost: 1,
      ...(o.preconditionerDecay > 0 || o.preconditionerEvery > 1 ? { fisherDiagonal: treeZerosLike(params), fisherDiagonalWeight: 0 } : {}),
      ...(o.gradientDecay > 0 ? { gradientAverage: treeZerosLike(params), gradientAverageWeight: 0 } : {}),
    }),
    update: (g, state, params, ctx: UpdateContext<P>) => {
      const obj = ctx.objective;
      if (treeVdot(g, g) === 0) {
        ctx.events.push('hessianFree: zero gradient; no step');
        return [treeZerosLike(g), state];
      }
      const subSeed = 7919 * (ctx.step + 1);
      const fraction = curvatureShare(o, obj);
      const curvObj = fraction < 1 && obj.subsample ? obj.subsample(fraction, subSeed) : obj;
      const product = o.curvature === 'ggn' ? curvObj.ggnvp : curvObj.hvp;
      if (product === undefined) {
        throw new Error(`hessianFree: curvature '${o.curvature}' needs the objective to provide ${o.curvature === 'ggn' ? 'ggnvp (use modelObjective)' : 'hvp'}`);
      }
      // λ: the Levenberg–Marquardt damping times the transient boost left by rejected trials.
      const boost = faultBoostOf(state.faultBoost);
      const lambda = clampDamping(state.damping * boost);
      // B = C + λI (+ μS): the curvature operator, damped once.
      const curvature = fromObjective(curvObj, params, o.curvature, { onMatvec: () => { ctx.counters.curvatureProducts++; } });
      let B = curvature.damped(lambda);
      const structural = structuralDampingTerm(o.structuralDamping, curvObj, params, lambda);
      if (structural !== undefined) B = B.plus(structural);
      let precond: ((r: P) => P) | undefined;
      let precondInto: ((r: P, out: P) => void) | undefined;
      // The updated average of the Fisher diagonal (preconditionerDecay), kept only by accepted steps.
      let averaged: { fisherDiagonal: P; fisherDiagonalWeight: number } | Record<string, never> = {};
      if (o.preconditioner === 'nystrom') {
        precond = cgPreconditioner('nystrom', curvature, { rank: Math.min(o.nystromRank, curvature.size), seed: ctx.step, damping: lambda });
      } else if (o.preconditioner && curvObj.diagEmpiricalFisher) {
        // preconditionerEvery: between refreshes (and while no diagonal has been kept yet, after
        // rejected steps) the kept one serves, with this step's λ.
        const weight0 = (state.fisherDiagonalWeight as number | undefined) ?? 0;
        const reuse = o.preconditionerEvery > 1 && weight0 > 0 && ctx.step % o.preconditionerEvery !== 0;
        let diag = !reuse ? curvObj.diagEmpiricalFisher(params) : weight0 === 1 ? state.fisherDiagonal as P : treeScale(1 / weight0, state.fisherDiagonal as P);
        if (reuse) {
          // Nothing new to average in.
        } else if (o.preconditionerEvery > 1 && o.preconditionerDecay === 0) {
          averaged = { fisherDiagonal: diag, fisherDiagonalWeight: 1 };
        } else if (o.preconditionerDecay > 0) {
          const fold = foldAverage(o.preconditionerDecay, state.fisherDiagonal as P, state.fisherDiagonalWeight as number, diag);
          averaged = { fisherDiagonal: fold.sum, fisherDiagonalWeight: fold.weight };
          diag = fold.mean;
        }
        // (diag + λ)^(−α) once, by kernels (a per-element callback cost 75 ms a step on a
        // million parameters); each CG iteration is then one kernel product, into CG's buffer.
        const inv = treeMap(diag, (d) => tidy(() => powNegative(add(d, lambda), o.preconditionerExponent)));
        precondInto = (r, out) => treeMulInto(r, inv, out);
      } else if (o.preconditioner && ctx.step === 0) {
        ctx.events.push('hessianFree: the objective has no diagEmpiricalFisher; running without a preconditioner');
      }
      // gradientDecay: CG solves against the average ĝ of the steps' gradients, kept in the state
      // by accepted steps only.
      let rhs = g;
      let gradientAveraged: { gradientAverage: P; gradientAverageWeight: number } | Record<string, never> = {};
      if (o.gradientDecay > 0) {
        const fold = foldAverage(o.gradientDecay, state.gradientAverage as P, state.gradientAverageWeight as number, g);
        gradientAveraged = { gradientAverage: fold.sum, gradientAverageWeight: fold.weight };
        rhs = fold.mean;
      }
      const x0 = o.cgDecay > 0 ? treeScale(o.cgDecay, state.previous) : undefined;
      const maxIter = o.cgMaxIterGrowth > 1 ? Math.min(o.cgMaxIterLimit, Math.floor(o.cgMaxIter * Math.pow(o.cgMaxIterGrowth, ctx.step))) : o.cgMaxIter;
      let solved: ReturnType<typeof cg<P>>;
      try {
        solved = cg(B, treeScale(-1, rhs), {
          x0, preconditioner: precond, preconditionerInto: precondInto, maxIter, tol: o.cgTolerance > 0 ? o.cgTolerance : undefined, storeGamma: o.backtracking ? 1.3 : 0,
        });
      } finally {
        // The linearization CG's products shared (built at the first one) goes back to the pool.
        B.dispose();
      }
      if (!treeIsFinite(solved.x) || !solved.iterates.every((c) => Number.isFinite(c.phi))) {
        // A bad curvature product or preconditioner says nothing about the step size: λ stays.
        ctx.rejected = 'hessianFree: non-finite curvature product or preconditioner in CG; step rejected, damping unchanged';
        return [treeZerosLike(g), state];
      }
      if (solved.negativeCurvature) ctx.events.push(`CG met non-positive curvature ${solved.negativeCurvature.curvature.toExponential(3)} at iteration ${solved.negativeCurvature.iteration}`);
      // Trial losses on the gradient's batch, on the curvature sub-batch or on a held-out slice
      // of the batch (mini-batch HF): then the loss at θ there is the reference for ρ and the
      // line search.
      const evalObj = curvObj === obj || o.evaluateOn === 'batch' ? obj
        : o.evaluateOn === 'curvature' ? curvObj : (obj.subsample as NonNullable<typeof obj.subsample>)(fraction, subSeed, 1);
      const onSubBatch = evalObj !== obj;
      const f0 = onSubBatch ? valueAt(evalObj, params, ctx.counters) : ctx.loss;
      // A trial point's loss; the point itself is released unless it becomes the step.
      const lossAt = (alpha: number, step: P): number => tidy(() => valueAt(evalObj, treeAxpby(1, params, alpha, step), ctx.counters));
      // CG backtracking (Martens 2010, sec. 4.6): from the last iterate, step back while f decreases.
      const cands = o.backtracking ? solved.iterates : [solved.iterates[solved.iterates.length - 1]];
      let k = cands.length - 1;
      let p = cands[k].x;
      let phi = cands[k].phi;
      let f = lossAt(1, p);
      while (k > 0 && Number.isFinite(f)) {
        const prev = cands[k - 1];
        const fPrev = lossAt(1, prev.x);
        if (!(fPrev < f)) break;
        k--;
        p = prev.x;
        phi = prev.phi;
        f = fPrev;
      }
      if (!Number.isFinite(f)) {
        const faultBoost = boostAfterRejection(boost, o.dampingIncrease * o.dampingIncrease, state.damping, o.maxDamping);
        ctx.rejected = `hessianFree: non-finite loss (${f}) at the proposed point; step rejected, damping raised to ${clampDamping(state.damping * faultBoost).toPrecision(3)} until steps succeed`;
        return [treeZerosLike(g), { ...state, faultBoost }];
      }
      // Levenberg–Marquardt adjustment from the reduction ratio against the model CG minimized
      // (ρ NaN, a bad model, when CG predicted no decrease).
      const rho = phi < 0 ? (f - f0) / phi : NaN;
      let damping = state.damping;
      if (!(rho >= o.rhoLow)) damping = state.damping * o.dampingIncrease;
      else if (rho > o.rhoHigh) damping = state.damping * o.dampingDecrease;
      damping = clampDamping(damping);
      const faultBoost = boostAfterAcceptance(boost, o.dampingIncrease * o.dampingIncrease);
      // Armijo backtracking on the chosen step. With an averaged gradient the step may not descend
      // along this batch's gradient: then the test asks for no increase.
      const slope = o.gradientDecay > 0 ? Math.min(0, treeVdot(g, p)) : treeVdot(g, p);
      let alpha = 1;
      let fNew = f;
      if (o.lineSearch) {
        let steps = 0;
        while (!(fNew <= f0 + o.armijoC * alpha * slope) && steps < o.maxLineSearchSteps) {
          alpha *= o.armijoShrink;
          fNew = lossAt(alpha, p);
          steps++;
        }
        if (!(fNew <= f0 + o.armijoC * alpha * slope)) {
          ctx.events.push('hessianFree: no sufficient decrease along the CG step; no step taken');
          return [treeZerosLike(g), { ...state, damping: clampDamping(state.damping * o.dampingIncrease), previous: solved.x, cgIterations: solved.iterations, rho, faultBoost }];
        }
      }
      const newState = { ...state, damping, previous: solved.x, cgIterations: solved.iterations, rho, faultBoost, ...averaged, ...gradientAveraged };
      // A loss on the sub-batch is not the batch's loss at the new point: the driver gets none.
      if (onSubBatch) return [treeScale(alpha, p), newState];
      const next = treeAxpby(1, params, alpha, p);
      ctx.accepted = { params: next, loss: fNew };
      return [treeScale(alpha, p), newState];
    },
  };
}

/** Hessian-free (Martens 2010) as an optimizer: one outer iteration per step. */
export function hessianFree<P extends PyTree = PyTree>(options: HessianFreeOptions = {}): Optimizer<HessianFreeState<P>, P> {
  const { structuralDamping, ...plain } = resolve(options);
  return createOptimizer('hessian-free', hessianFreeTransform<P>(options), { ...plain, structuralDamping: structuralDamping ? { weight: structuralDamping.weight } : undefined });
}

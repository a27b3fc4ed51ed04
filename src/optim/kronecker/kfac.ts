/**
 * K-FAC: Kronecker-factored approximate curvature (Martens & Grosse, ICML 2015), with KFC for
 * convolutions (Grosse & Martens, ICML 2016). Blocks live in `curvature/kronecker.ts`, the
 * estimator in `curvature/kronecker-estimator.ts`; this file is the optimizer.
 *
 * One step at θ with gradient ∇h (objective h, on the current batch):
 * 1. statistics every `curvatureUpdatePeriod` steps — from the gradient's own pass when the
 *    objective offers it (`requestKfacStatistics`, every `modelObjective`: the same forward
 *    pass; 'empirical' the same backward pass too, 'true' one more backward pass on its
 *    residuals), else a forward + backward pass of the objective's `kfacStatistics` (always so on a
 *    random sub-batch with `statisticsFraction` < 1), folded into each layer's factors
 *    A = E[ā āᵀ], G = E[ĝ ĝᵀ] by an EMA with ε_k = min(1 − 1/k, `curvatureDecay`); parameters
 *    without a tap get a `DiagonalBlock` (an objective without `kfacStatistics` gets only diagonal
 *    blocks, estimated by Hutchinson's v ⊙ (C v) with the objective's ggnvp, fisherVp or hvp);
 * 2. inverses every `inverseUpdatePeriod` steps (default 20, Martens & Grosse's T₃): Cholesky
 *    inverses of the damped factors at the λ of that step, kept until the next refresh while the
 *    LM rule moves λ (as kfac-jax; Martens & Grosse adapt the inverses' damping γ every T₂ = 20
 *    steps) except under a fault boost, which refreshes them at once; or eigendecompositions
 *    for EKFAC (`inverseMethod`), damped with the current λ when applied;
 * 3. Δ = −(F̆ + (λ+η)I)⁻¹∇h with F̆ the block-diagonal K-FAC matrix under factored Tikhonov
 *    damping with the π correction (sec. 6.3), η the objective's coupled L2 (`kfacObjective`);
 * 4. `stepRule: 'quadraticModel'` (default, sec. 7): δ = αΔ + μδ₀ (δ₀ the previous update) with
 *    α, μ minimizing the exact quadratic model M(δ) = ½δᵀ(F + λI)δ + ∇hᵀδ over that 2-D subspace.
 *    F is the objective's GGN as a curvature operator (`fromObjective`, damped once: F + λI),
 *    whose 2×2 Gram matrix comes by forward mode (`ggnGram`) with kfacObjective, else from two
 *    ggnvp / fisherVp products; it includes ηI when the objective carries
 *    coupled L2. An objective with neither (a test function) lends its Hessian (hvp); a direction
 *    of non-positive model curvature then gives no step and a larger λ.
 *    Levenberg–Marquardt (sec. 6.5): ρ = (h(θ+δ) − h(θ)) / M₀(δ), M₀(δ) = M(δ) − ½λ||δ||² the
 *    undamped model of h (ρ = 1 on a quadratic); every `dampingAdaptationPeriod` (T₁) steps
 *    λ ← ω₁λ if ρ > 3/4, λ ← λ/ω₁ if ρ < 1/4 (or not finite), ω₁ = (19/20)^T₁, λ ∈ [min, max].
 *    `stepRule: 'fixed'` (ACKTR, Wu et al. 2017): u = (F̆ + λI)⁻¹∇h, scaled by
 *    c = min(1, sqrt(klClip / (lr²·∇hᵀu))), heavy-ball momentum m ← μm + c·u, δ = −lr·m.
 * 5. Decoupled weight decay (`weightDecay`): δ −= wd·θ (fixed rule: lr·wd·θ), outside the model.
 * Every step evaluates h at the new point (one forward pass; with `newPointEvaluation:
 * 'adaptation' only the steps whose ρ the LM rule reads, and those under a fault boost; with
 * 'modelBatch' every step but on the model's sub-batch only, beside h(θ) on the same examples
 * from the Gram's forward pass, and a step that does not lower that loss is rejected with λ
 * raised): a non-finite value rejects the
 * step, parameters unchanged, and multiplies a transient boost of λ by `rejectDampingFactor`
 * (see `fault-damping.ts`: consecutive rejections compound, accepted steps undo it, the LM
 * damping itself is untouched, so sporadic faults never accumulate). A non-finite curvature
 * product rejects the step and leaves λ as it was (damping cannot fix a bad product).
 * Safeguards of the default rule, kept stable on data the method has not seen (issue 10):
 * λ ≥ `minDamping` = 1e-4 and the model's momentum coefficient μ ∈ [0, `maxModelMomentum`]
 * (default 1; outside it μ is clipped and α re-minimized for that μ).
 *
 * Memory: per dense/conv layer the factors and their inverses (2·(in+1)² + 2·out²), plus two
 * parameter-sized trees (δ₀, the step). Cost per step: one forward pass and one ('empirical')
 * or two ('true') backward passes for the gradient and the statistics (with `statisticsFraction`
 * f < 1: the gradient's forward and backward, then a forward and backward pass on f of the batch),
 * 2 GEMMs per layer to precondition, the 2×2 Gram matrix (one linearized forward pass, on
 * `modelFraction` of the batch) and one evaluation at the new point ('quadraticModel'); plus the
 * inverses (about n³ per n×n factor by Cholesky) amortized over `inverseUpdatePeriod` steps.
 */
import { treePaths, type PyTree } from '../../autodiff/pytree.js';
import { Rng } from '../../tensor/random.js';
import type { Approximation, InverseMethod, LayerSample, RecurrentApproximation } from '../../curvature/kronecker.js';
import {
  layoutBlocks, preconditionTree, updateEstimator, type EstimationMode, type EstimatorState, type ShardReduction,
} from '../../curvature/kronecker-estimator.js';
import { fromObjective, type CurvatureKind } from '../../curvature/operators/from-objective.js';
import { diagonal as hutchinsonDiagonal } from '../../curvature/estimators/diagonal.js';
import { createOptimizer } from '../optimizer.js';
import { communicatorOf, mapRoundRobin } from '../../distributed/round-robin.js';
import { boostAfterAcceptance, boostAfterRejection, faultBoostOf } from '../fault-damping.js';
import { hasKfacStatistics } from './kfac-objective.js';
import { treeAxpby, treeIsFinite, treeMapValues, treeScale, treeVdot, treeZerosLike } from '../../autodiff/tree-math.js';
import type { Objective, Optimizer, Schedule, Transform, UpdateContext } from '../types.js';
import { checkBoolean, checkChoice, checkKnownOptions, checkNumber, checkSchedule, evalSchedule } from '../validate.js';

export interface KfacCurvatureOptions {
  /** 'true' (Fisher with sampled targets, default), 'empirical', or 'ggn' (exact, one pass per output). */
  estimationMode?: EstimationMode;
  /** EMA decay of the factors, default 0.95. */
  curvatureDecay?: number;
  /**
   * Statistics every this many steps (default 1); inverses every `inverseUpdatePeriod` (default
   * 20, Martens & Grosse's T₃; it was 5 before), amortized over the steps between.
   */
  curvatureUpdatePeriod?: number;
  inverseUpdatePeriod?: number;
  /**
   * 'cholesky': explicit damped inverses (A + γ_A I)⁻¹, (G + γ_G I)⁻¹ by Cholesky (about n³ per
   * factor), refreshed every `inverseUpdatePeriod` steps at that step's λ and kept until the next
   * refresh (K-FAC's step; a fault boost refreshes them at once; `kfacPreconditioner` refreshes
   * whenever λ changes), as the step only needs solves at one λ. 'eigen': eigendecompositions (several
   * times dearer), damping applied when used — what EKFAC needs (its basis). 'auto' (default;
   * it was 'eigen' before): 'eigen' for EKFAC and for `kfacPreconditioner` with a damping
   * schedule (a new λ every step), else 'cholesky'.
   */
  inverseMethod?: InverseMethod | 'auto';
  /**
   * Seed of the sampled targets and Hutchinson probes (default 0); step k uses its own stream,
   * and example i of the batch its own generator keyed by i (so a data-parallel shard draws the
   * single process's targets for its examples).
   */
  seed?: number;
  /**
   * A model objective whose model records no layer taps (a function that ignores its `ctx`)
   * gives K-FAC no Kronecker blocks. Default false: the first step fails naming the missing
   * piece. true: diagonal blocks for every parameter instead. (An objective from `objective(f)`
   * — a test function, no model — always gets diagonal blocks from Hutchinson estimates.)
   */
  diagonalFallback?: boolean;
  /**
   * Recurrent layers across time (Martens, Ba & Johnson 2018): 'independent' (default; steps
   * independent, F ≈ T·V_0), 'chain1' (Option 1: a symmetric linear-Gaussian chain, exact for
   * each sequence length) or 'chain2' (Option 2: the chain as T → ∞). Kronecker blocks only:
   * refused with ekfac. See `curvature/kronecker-recurrent-chain.ts`.
   */
  recurrentApproximation?: RecurrentApproximation;
  /**
   * Fraction of the batch the factor statistics come from, in (0, 1] (default 1): a random
   * sub-batch of round(fraction·N) examples per statistics step (Martens & Grosse sec. 5 take
   * the statistics on a subset of the mini-batch), run through a forward pass with taps and the
   * estimation mode's backward pass(es) of its own; the factors are means over examples (the
   * output gradients rescaled for a loss summed over examples), so the estimate stays unbiased.
   * Below 1 the statistics no longer ride in the gradient's own pass: they cost fraction × (a
   * forward and a backward pass) and fold fraction × the rows into the factors, where 1 costs one
   * backward pass ('true') and every row. 1 is the old path, bit for bit. A plain function
   * objective (no layer statistics) ignores it; refused on a data-parallel objective.
   */
  statisticsFraction?: number;
}

export interface KfacOptions extends KfacCurvatureOptions {
  /** 'quadraticModel' (default, Martens & Grosse sec. 7) or 'fixed' (lr + momentum + KL clipping). */
  stepRule?: 'quadraticModel' | 'fixed';
  /** Initial λ: default 1e-3 ('quadraticModel'), 1e-2 ('fixed', where it stays). */
  damping?: number;
  /**
   * λ stays within [minDamping, maxDamping]; defaults 1e-4 (or the initial damping if lower; must
   * be > 0) and 1e8. The floor keeps
   * the step bounded once the Fisher vanishes on a fitted training set (with 1e-8 the default
   * K-FAC diverged on MNIST); lower it for full-batch problems that need a tiny final loss.
   */
  minDamping?: number;
  maxDamping?: number;
  /** Levenberg–Marquardt adaptation (quadraticModel): on/off (default on), period T₁ (default 5). */
  adaptDamping?: boolean;
  dampingAdaptationPeriod?: number;
  /** Boost of λ after a step with a non-finite loss (default 10; see `fault-damping.ts`). */
  rejectDampingFactor?: number;
  /** Curvature for the quadratic model: 'ggn' (default) or 'fisher'. */
  modelCurvature?: 'ggn' | 'fisher';
  /**
   * Fraction of the batch on which the quadratic model's curvature products (its 2×2 Gram
   * matrix) are computed, in (0, 1] (default 1): a random sub-batch per step, as Hessian-free's
   * `curvatureFraction`. The Gram is the step's largest single cost after the gradient (a
   * forward pass with two tangents); 0.25 cuts it 4× while the gradient and the statistics keep
   * the whole batch. Objectives without `subsample` use the whole batch. Below 1 α and μ come
   * from a noisier model: on MLP-MNIST at batch 256, 0.25 and 0.5 threw the loss from 5e-3 to 2.2
   * and from 2e-4 to 0.3 near convergence where 1 kept descending (README, bench:kfac). With
   * `newPointEvaluation: 'modelBatch'` each step is checked on this sub-batch and rejected when it
   * raises its loss, which kept 1/8 of the batch stable where it was not (README).
   */
  modelFraction?: number;
  /**
   * When h is evaluated at the new point θ + δ (one forward pass): 'always' (default) every step,
   * which rejects a step whose loss is not finite before it is taken, and gives ρ; 'adaptation'
   * only where something reads it: the steps on which the Levenberg–Marquardt rule moves λ (every
   * `dampingAdaptationPeriod` steps, as Martens & Grosse compute ρ every T₁ steps) and the steps
   * under a fault boost; under stepRule 'fixed', which reads no ρ, never. Other steps are taken
   * unevaluated (ρ NaN): the driver still refuses
   * non-finite parameters, but a finite step to a non-finite loss is only seen by the next
   * step's gradient, which the driver rejects with the parameters left there. Saves one forward
   * pass on (T₁ − 1)/T₁ of the steps.
   * 'modelBatch': every step, h at θ + δ and at θ on the quadratic model's own examples only
   * (the `modelFraction` sub-batch; the whole batch at 1): one forward pass on that sub-batch
   * (h(θ) there comes from the Gram's own forward pass, which `modelObjective` keeps; another
   * objective pays a second pass). ρ comes from these paired losses (the same examples at both
   * points, so their difference is a far less noisy estimate than either loss) and drives the
   * Levenberg–Marquardt rule; a step that does not lower the sub-batch's loss (ρ ≤ 0 or not
   * finite) is rejected, parameters unchanged, with λ raised by 1/ω and the momentum direction
   * dropped, as when the model predicts no decrease. This guards a model taken on a small
   * sub-batch, whose Gram can underrate the curvature along Δ and so overrate α.
   */
  newPointEvaluation?: 'always' | 'adaptation' | 'modelBatch';
  /** Include the previous update in the 2-D model (default true); false: α only. */
  useMomentum?: boolean;
  /**
   * The model's momentum coefficient μ is kept in [0, maxModelMomentum] (default 1): a negative μ
   * or μ > 1 undoes or amplifies the last step on the strength of one batch's 2×2 model, which
   * swung between −2.5 and 4.2 when K-FAC diverged on MNIST.
   */
  maxModelMomentum?: number;
  /** 'fixed' rule: learning rate (default 0.25), momentum (0.9), KL clip (1e-3; 0 disables). */
  lr?: Schedule;
  momentum?: number;
  klClip?: number;
  /** Decoupled weight decay (default 0). */
  weightDecay?: Schedule;
}

export interface KfacState<P extends PyTree = PyTree> {
  readonly damping: number;
  readonly curvature: EstimatorState;
  /** Previous update δ₀ (quadraticModel) or the momentum buffer (fixed). */
  readonly previous: P;
  /** Coefficients of the last step (NaN before the first) and its reduction ratio. */
  readonly alpha: number;
  readonly mu: number;
  readonly rho: number;
  /** Transient multiplier of λ after rejected trials (1 when none; see `fault-damping.ts`). */
  readonly faultBoost: number;
  [key: string]: PyTree;
}

const CURVATURE_OPTIONS = ['estimationMode', 'curvatureDecay', 'curvatureUpdatePeriod', 'inverseUpdatePeriod', 'inverseMethod', 'seed', 'diagonalFallback', 'recurrentApproximation', 'statisticsFraction'];
const KNOWN = [...CURVATURE_OPTIONS, 'stepRule', 'damping', 'minDamping', 'maxDamping', 'adaptDamping', 'dampingAdaptationPeriod', 'rejectDampingFactor',
  'modelCurvature', 'modelFraction', 'newPointEvaluation', 'useMomentum', 'maxModelMomentum', 'lr', 'momentum', 'klClip', 'weightDecay'];

function resolveCurvature(o: string, options: KfacCurvatureOptions) {
  return {
    estimationMode: checkChoice(o, 'estimationMode', options.estimationMode ?? 'true', ['true', 'empirical', 'ggn'] as const),
    curvatureDecay: checkNumber(o, 'curvatureDecay', options.curvatureDecay ?? 0.95, { min: 0, max: 1, maxExclusive: true }),
    curvatureUpdatePeriod: checkNumber(o, 'curvatureUpdatePeriod', options.curvatureUpdatePeriod ?? 1, { min: 1, integer: true }),
    inverseUpdatePeriod: checkNumber(o, 'inverseUpdatePeriod', options.inverseUpdatePeriod ?? 20, { min: 1, integer: true }),
    inverseMethod: checkChoice(o, 'inverseMethod', options.inverseMethod ?? 'auto', ['auto', 'eigen', 'cholesky'] as const),
    seed: checkNumber(o, 'seed', options.seed ?? 0, { integer: true }),
    diagonalFallback: checkBoolean(o, 'diagonalFallback', options.diagonalFallback ?? false),
    recurrentApproximation: checkChoice(o, 'recurrentApproximation', options.recurrentApproximation ?? 'independent', ['independent', 'chain1', 'chain2'] as const),
    statisticsFraction: checkNumber(o, 'statisticsFraction', options.statisticsFraction ?? 1, { min: 0, max: 1, minExclusive: true }),
  };
}

/** Options after defaults and validation (exported for reports). */
export function resolveKfacOptions(owner: string, options: KfacOptions) {
  checkKnownOptions(owner, options, KNOWN);
  const stepRule = checkChoice(owner, 'stepRule', options.stepRule ?? 'quadraticModel', ['quadraticModel', 'fixed'] as const);
  const fixed = stepRule === 'fixed';
  for (const k of ['lr', 'momentum', 'klClip'] as const) {
    if (!fixed && options[k] !== undefined) throw new RangeError(`${owner}: option '${k}' applies to stepRule 'fixed' only (the quadratic model chooses the step size and momentum)`);
  }
  for (const k of ['adaptDamping', 'dampingAdaptationPeriod', 'modelCurvature', 'modelFraction', 'useMomentum', 'maxModelMomentum'] as const) {
    if (fixed && options[k] !== undefined) throw new RangeError(`${owner}: option '${k}' applies to stepRule 'quadraticModel' only`);
  }
  const r = {
    ...resolveCurvature(owner, options),
    stepRule,
    damping: checkNumber(owner, 'damping', options.damping ?? (fixed ? 1e-2 : 1e-3), { min: 0, minExclusive: true }),
    minDamping: checkNumber(owner, 'minDamping', options.minDamping ?? Math.min(1e-4, options.damping ?? 1e-4), { min: 0, minExclusive: true }),
    maxDamping: checkNumber(owner, 'maxDamping', options.maxDamping ?? 1e8, { min: 0, minExclusive: true }),
    adaptDamping: checkBoolean(owner, 'adaptDamping', options.adaptDamping ?? !fixed),
    dampingAdaptationPeriod: checkNumber(owner, 'dampingAdaptationPeriod', options.dampingAdaptationPeriod ?? 5, { min: 1, integer: true }),
    rejectDampingFactor: checkNumber(owner, 'rejectDampingFactor', options.rejectDampingFactor ?? 10, { min: 1, minExclusive: true }),
    modelCurvature: checkChoice(owner, 'modelCurvature', options.modelCurvature ?? 'ggn', ['ggn', 'fisher'] as const),
    modelFraction: checkNumber(owner, 'modelFraction', options.modelFraction ?? 1, { min: 0, max: 1, minExclusive: true }),
    newPointEvaluation: checkChoice(owner, 'newPointEvaluation', options.newPointEvaluation ?? 'always', ['always', 'adaptation', 'modelBatch'] as const),
    useMomentum: checkBoolean(owner, 'useMomentum', options.useMomentum ?? true),
    maxModelMomentum: checkNumber(owner, 'maxModelMomentum', options.maxModelMomentum ?? 1, { min: 0 }),
    lr: checkSchedule(owner, 'lr', options.lr ?? 0.25, { min: 0 }),
    momentum: checkNumber(owner, 'momentum', options.momentum ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    klClip: checkNumber(owner, 'klClip', options.klClip ?? 1e-3, { min: 0 }),
    weightDecay: checkSchedule(owner, 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
  };
  if (fixed && r.newPointEvaluation === 'modelBatch') throw new RangeError(`${owner}: option 'newPointEvaluation' 'modelBatch' applies to stepRule 'quadraticModel' only (it checks the quadratic model's step on the model's sub-batch)`);
  if (r.minDamping > r.maxDamping) throw new RangeError(`${owner}: option 'minDamping' (${r.minDamping}) exceeds 'maxDamping' (${r.maxDamping})`);
  if (r.damping < r.minDamping || r.damping > r.maxDamping) throw new RangeError(`${owner}: option 'damping' (${r.damping}) must lie within [minDamping, maxDamping] = [${r.minDamping}, ${r.maxDamping}]`);
  return r;
}

/** Curvature options with the inverse method decided ('auto' resolved). */
type CurvatureConfig = Omit<ReturnType<typeof resolveCurvature>, 'inverseMethod'> & { inverseMethod: InverseMethod };

/** 'auto' → 'eigen' where the eigenbasis is needed (EKFAC) or λ changes every step, else 'cholesky'. */
function resolveInverseMethod(owner: string, method: InverseMethod | 'auto', approximation: Approximation, dampingVariesPerStep: boolean, recurrent: RecurrentApproximation = 'independent'): InverseMethod {
  if (approximation === 'ekfac' && recurrent !== 'independent') {
    throw new RangeError(`${owner}: option 'recurrentApproximation' must be 'independent' with EKFAC (got '${recurrent}': the chain's basis is not orthogonal, so EKFAC's diagonal has no chain form)`);
  }
  if (approximation === 'ekfac' && method === 'cholesky') throw new RangeError(`${owner}: option 'inverseMethod' must be 'eigen' (EKFAC preconditions in the eigenbasis)`);
  if (method !== 'auto') return method;
  return approximation === 'ekfac' || dampingVariesPerStep ? 'eigen' : 'cholesky';
}

/** What a step's statistics are computed with (one object: the objective matches requests by identity). */
export interface StatisticsRequest {
  readonly mode: EstimationMode;
  readonly rng: Rng;
  /** The leaves of diagonal blocks (flattened order); undefined before the blocks are laid out (every leaf). */
  readonly diagonalLeaves?: readonly boolean[];
  /** The sub-batch of `statisticsFraction` < 1 (see `KfacStatisticsOptions.subset`). */
  readonly subset?: { readonly fraction: number; readonly seed: number };
}

function statisticsDue(c: CurvatureConfig, state: EstimatorState, step: number): boolean {
  return state.blocks.length === 0 || step % c.curvatureUpdatePeriod === 0;
}

/** Which parameter leaves the diagonal blocks cover: only these need the statistics passes' squared gradients. */
function diagonalLeavesOf(state: EstimatorState, params: PyTree): boolean[] | undefined {
  if (state.blocks.length === 0) return undefined;
  const diagonal = new Set(state.blocks.filter((b) => b.kind === 'diagonal').flatMap((b) => b.paths));
  return treePaths(params).map((p) => diagonal.has(p));
}

function statisticsRequest(c: CurvatureConfig, step: number, state: EstimatorState, params: PyTree): StatisticsRequest {
  const request = { mode: c.estimationMode, rng: new Rng(c.seed * 65537 + step + 1), diagonalLeaves: diagonalLeavesOf(state, params) };
  return c.statisticsFraction === 1 ? request : { ...request, subset: { fraction: c.statisticsFraction, seed: c.seed * 65537 + 104729 * (step + 1) } };
}

/**
 * The transform's `beforeEvaluate` and the request to hand to `refreshCurvature`: when the
 * statistics are due and the objective can compute them in the gradient's own pass
 * (`requestKfacStatistics`), ask for that, so a step pays one forward pass for both.
 */
export function gradientPassStatistics<P extends PyTree>(c: CurvatureConfig, curvatureOf: (state: never) => EstimatorState) {
  let pending: { objective: object; params: P; request: StatisticsRequest } | undefined;
  return {
    beforeEvaluate(params: P, state: unknown, objective: Objective<P>, step: number): void {
      pending = undefined;
      const curvature = curvatureOf(state as never);
      // A sub-batch's statistics (statisticsFraction < 1) come from a pass of their own.
      if (c.statisticsFraction < 1 || !statisticsDue(c, curvature, step) || !hasKfacStatistics(objective) || typeof objective.requestKfacStatistics !== 'function') return;
      const request = statisticsRequest(c, step, curvature, params);
      objective.requestKfacStatistics(params, request);
      pending = { objective, params, request };
    },
    /** The request made for this evaluation, if it was for this objective and point (taken once). */
    take(objective: Objective<P>, params: P): StatisticsRequest | undefined {
      const p = pending;
      pending = undefined;
      return p !== undefined && p.objective === objective && p.params === params ? p.request : undefined;
    },
  };
}


/**
 * Step 1–2 of the update: statistics and inverses when due. Returns the new estimator state;
 * lays the blocks out on the first call.
 */
export function refreshCurvature<P extends PyTree>(
  owner: string, approximation: Approximation, c: CurvatureConfig, state: EstimatorState, params: P, grad: P, ctx: UpdateContext<P>, damping: number,
  requested?: StatisticsRequest, holdDamping = false,
): EstimatorState {
  const obj = ctx.objective;
  const first = state.blocks.length === 0;
  let stats: { layers: readonly LayerSample[]; diagonal: P | undefined; shard?: ShardReduction } | undefined;
  if (statisticsDue(c, state, ctx.step)) {
    const request = requested ?? statisticsRequest(c, ctx.step, state, params);
    const rng = request.rng;
    if (hasKfacStatistics(obj)) {
      const s = obj.kfacStatistics(params, request);
      // Statistics from the gradient's own pass cost no evaluation of their own.
      if (s.fromGradientPass !== true) ctx.counters.evals++;
      stats = s;
      if (first && stats.layers.length === 0 && !c.diagonalFallback) {
        throw new RangeError(`${owner}: the model recorded no layer taps, so there are no Kronecker blocks: build it from nn layers (a Module, or a function that passes its third argument ctx on to them), or pass { diagonalFallback: true } for diagonal blocks only`);
      }
    } else {
      const kind: CurvatureKind | undefined = obj.ggnvp ? 'ggn' : obj.fisherVp ? 'fisher' : obj.hvp ? 'hessian' : undefined;
      // A scalar function (objective(f): a test function, no layers) has no Kronecker structure
      // to find: its diagonal comes from Hutchinson estimates, by design and documented.
      if (first) ctx.events.push(`${owner}: the objective is a plain function (no kfacStatistics); diagonal blocks ${kind ? 'from Hutchinson estimates of its curvature' : 'from squared gradients'}`);
      if (kind !== undefined) ctx.counters.curvatureProducts++;
      // One product (one Hutchinson probe): a linearization would cost more than it saves.
      const curvature = kind === undefined ? undefined : fromObjective(obj, params, kind, { linearize: false });
      const diagonal = curvature !== undefined ? hutchinsonDiagonal(curvature, { rng }) : treeMapValues(grad, (x) => x * x);
      stats = { layers: [], diagonal };
    }
  }
  let s = state;
  if (first) {
    const laid = layoutBlocks(params, stats?.layers ?? [], approximation, { recurrentApproximation: c.recurrentApproximation });
    s = laid.state;
    ctx.events.push(...laid.events);
  }
  const recomputeInverses = first || ctx.step % c.inverseUpdatePeriod === 0;
  // Data-parallel: on steps that recompute inverses, each block is computed by one rank and
  // broadcast (round-robin, as KFAC-JAX does); otherwise every rank folds its (identical) statistics.
  const comm = communicatorOf(ctx.objective);
  const r = updateEstimator(s, params, stats, {
    decay: c.curvatureDecay, recomputeInverses, inverseMethod: c.inverseMethod, damping, holdDamping,
    mapBlocks: comm === undefined ? undefined : (blocks, f) => mapRoundRobin(blocks, f, comm, recomputeInverses),
  });
  ctx.events.push(...r.events);
  return r.state;
}

export interface QuadraticModelStep<P extends PyTree> {
  /** δ = αΔ + μδ₀. */
  step: P;
  alpha: number;
  mu: number;
  /** M(δ) = ½δᵀCδ + gᵀδ (negative when the model predicts a decrease). */
  modelValue: number;
  /** Vectors the curvature was applied to (1 or 2). */
  products: number;
}

/** The Gram matrix [vᵢᵀ C vⱼ] of a curvature C on a few vectors. */
export type Gram<P extends PyTree> = (vectors: readonly P[]) => number[][];

/** A Gram function from a curvature-vector product (one product per vector; symmetrized). */
export function gramFromProduct<P extends PyTree>(product: (v: P) => P): Gram<P> {
  return (vs) => {
    const cv = vs.map(product);
    return vs.map((vi, i) => vs.map((vj, j) => (i === j ? treeVdot(vi, cv[i]) : 0.5 * (treeVdot(vi, cv[j]) + treeVdot(vj, cv[i])))));
  };
}

/**
 * Martens & Grosse sec. 7: minimize M(δ) = ½δᵀCδ + gᵀδ over δ = αΔ + μδ₀ exactly, C given by
 * its Gram matrix on {Δ, δ₀} (C = F + λI). Solves [ΔᵀCΔ ΔᵀCδ₀; δ₀ᵀCΔ δ₀ᵀCδ₀][α; μ] = −[gᵀΔ; gᵀδ₀];
 * without δ₀ (zero or null), or when the system is singular (Δ ∥ δ₀), the 1-D α = −gᵀΔ / ΔᵀCΔ.
 * With `momentumRange` [lo, hi], a solution whose μ lies outside is replaced by the best α for μ
 * clipped to the range (α = −(gᵀΔ + μ ΔᵀCδ₀) / ΔᵀCΔ), or by the 1-D step when μ clips to 0 or
 * that α is not positive. Returns null when ΔᵀCΔ is not positive and finite (no model to trust).
 */
export function quadraticModelStep<P extends PyTree>(grad: P, delta: P, previous: P | null, gram: Gram<P>, momentumRange: readonly [number, number] = [-Infinity, Infinity]): QuadraticModelStep<P> | null {
  const two = previous !== null && treeVdot(previous, previous) > 0;
  const m = gram(two ? [delta, previous as P] : [delta]);
  const a11 = m[0][0];
  const b1 = treeVdot(grad, delta);
  if (!(a11 > 0) || !Number.isFinite(a11) || !Number.isFinite(b1)) return null;
  const products = two ? 2 : 1;
  const oneD = (): QuadraticModelStep<P> => {
    const alpha = -b1 / a11;
    return { step: treeScale(alpha, delta), alpha, mu: 0, modelValue: 0.5 * alpha * alpha * a11 + alpha * b1, products };
  };
  if (!two) return oneD();
  const prev = previous as P;
  const a22 = m[1][1];
  const a12 = 0.5 * (m[0][1] + m[1][0]);
  const b2 = treeVdot(grad, prev);
  const det = a11 * a22 - a12 * a12;
  if (!(a22 > 0) || !Number.isFinite(a22) || !Number.isFinite(a12) || !Number.isFinite(b2) || !(det > 1e-12 * a11 * a22)) return oneD();
  let alpha = (-b1 * a22 + b2 * a12) / det;
  let mu = (-b2 * a11 + b1 * a12) / det;
  if (mu < momentumRange[0] || mu > momentumRange[1]) {
    mu = Math.min(momentumRange[1], Math.max(momentumRange[0], mu));
    alpha = -(b1 + mu * a12) / a11;
    if (mu === 0 || !(alpha > 0)) return oneD();
  }
  const modelValue = 0.5 * (alpha * alpha * a11 + 2 * alpha * mu * a12 + mu * mu * a22) + alpha * b1 + mu * b2;
  return { step: treeAxpby(alpha, delta, mu, prev), alpha, mu, modelValue, products };
}

/** Levenberg–Marquardt rule of Martens & Grosse sec. 6.5 (ω < 1): λω if ρ > 3/4, λ/ω if ρ < 1/4. */
export function levenbergMarquardt(damping: number, rho: number, omega: number, min: number, max: number): number {
  let l = damping;
  if (rho > 0.75) l = damping * omega;
  else if (!(rho >= 0.25)) l = damping / omega; // NaN ρ counts as a bad model
  return Math.min(max, Math.max(min, l));
}

function valueAt<P extends PyTree>(obj: Objective<P>, p: P, ctx: UpdateContext<P>): number {
  ctx.counters.evals++;
  return obj.value ? obj.value(p) : obj.valueAndGrad(p)[0];
}

/** The K-FAC (or EKFAC, by `approximation`) update as a transform; see the module comment. */
export function kfacTransform<P extends PyTree>(options: KfacOptions = {}, approximation: Approximation = 'kronecker', owner = 'kfac'): Transform<KfacState<P>, P> {
  const resolved = resolveKfacOptions(owner, options);
  const o = { ...resolved, inverseMethod: resolveInverseMethod(owner, resolved.inverseMethod, approximation, false, resolved.recurrentApproximation) };
  const clamp = (l: number) => (Number.isFinite(l) ? Math.min(o.maxDamping, Math.max(o.minDamping, l)) : o.damping);
  const omega = Math.pow(19 / 20, o.dampingAdaptationPeriod);
  const gradientPass = gradientPassStatistics<P>(o, (s: KfacState<P>) => s.curvature);
  return {
    name: owner,
    init: (params) => ({ damping: o.damping, curvature: { blocks: [] }, previous: treeZerosLike(params), alpha: NaN, mu: NaN, rho: NaN, faultBoost: 1 }),
    beforeEvaluate: gradientPass.beforeEvaluate,
    update: (g, state, params, ctx) => {
      const requested = gradientPass.take(ctx.objective, params);
      if (treeVdot(g, g) === 0) {
        ctx.events.push(`${owner}: zero gradient; no step`);
        return [treeZerosLike(g), state];
      }
      const obj = ctx.objective;
      // λ: the Levenberg–Marquardt damping times the transient boost left by rejected trials.
      const lmDamping = clamp(state.damping);
      const boost = faultBoostOf(state.faultBoost);
      const lambda = clamp(lmDamping * boost);
      const eta = hasKfacStatistics(obj) ? obj.l2 : 0;
      // Cholesky inverses keep the λ of their last refresh (every inverseUpdatePeriod steps) while
      // the LM rule moves λ, as kfac-jax: a refresh costs about four SGD steps and λ moves every
      // T₁ = 5 steps. Under a fault boost they take the boosted λ at once.
      const curvature = refreshCurvature(owner, approximation, o, state.curvature, params, g, ctx, lambda + eta, requested, boost === 1);
      const u = preconditionTree(curvature, g, lambda + eta);
      if (!treeIsFinite(u)) {
        ctx.rejected = `${owner}: non-finite preconditioned gradient; step rejected, damping unchanged`;
        return [treeZerosLike(g), { ...state, curvature }];
      }
      const wd = evalSchedule('weightDecay', o.weightDecay, ctx.step);
      const fixed = o.stepRule === 'fixed';
      let step: P;
      let next: Partial<KfacState<P>>;
      let model = NaN;
      let modelObj: Objective<P> = obj;
      if (fixed) {
        const lr = evalSchedule('lr', o.lr, ctx.step);
        const vFv = lr * lr * treeVdot(g, u);
        const clip = o.klClip > 0 && vFv > o.klClip ? Math.sqrt(o.klClip / vFv) : 1;
        if (clip < 1) ctx.events.push(`${owner}: KL clipping scaled the step by ${clip.toPrecision(3)}`);
        const m = treeAxpby(o.momentum, state.previous, clip, u);
        step = treeScale(-lr, m);
        next = { previous: m, alpha: lr * clip, mu: o.momentum };
        if (wd > 0) step = treeAxpby(1, step, -lr * wd, params);
      } else {
        const preferred: CurvatureKind[] = o.modelCurvature === 'ggn' ? ['ggn', 'fisher'] : ['fisher', 'ggn'];
        const modelKind = preferred.find((k) => typeof obj[k === 'ggn' ? 'ggnvp' : 'fisherVp'] === 'function');
        const kind: CurvatureKind | undefined = modelKind ?? (obj.hvp !== undefined ? 'hessian' : undefined);
        if (kind === undefined) {
          throw new Error(`${owner}: stepRule 'quadraticModel' needs the objective to provide ggnvp, fisherVp or hvp (use kfacObjective / modelObjective), or use stepRule 'fixed'`);
        }
        if (modelKind === undefined && ctx.step === 0) ctx.events.push(`${owner}: the objective has no ggnvp or fisherVp; the quadratic model uses its Hessian (hvp), which may be indefinite`);
        // M's curvature F + λI, damped once; its Gram matrix comes by forward mode when the
        // objective offers it (kfacObjective's ggnGram), else from one product per vector.
        modelObj = o.modelFraction < 1 && obj.subsample ? obj.subsample(o.modelFraction, 7919 * (ctx.step + 1)) : obj;
        const curvatureModel = fromObjective(modelObj, params, kind, { linearize: false }).damped(lambda);
        let faultyProduct = false;
        const gram: Gram<P> = (vs) => {
          const m = curvatureModel.gram(vs);
          if (m.some((row) => row.some((x) => !Number.isFinite(x)))) faultyProduct = true;
          return m;
        };
        const q = quadraticModelStep(g, treeScale(-1, u), o.useMomentum ? state.previous : null, gram, [0, o.maxModelMomentum]);
        ctx.counters.curvatureProducts += q?.products ?? 1;
        if (faultyProduct) {
          // A bad product says nothing about the step size: λ and momentum stay.
          ctx.rejected = `${owner}: non-finite curvature product; step rejected, damping unchanged`;
          return [treeZerosLike(g), { ...state, curvature }];
        }
        if (q === null || !(q.modelValue < 0)) {
          ctx.events.push(`${owner}: the quadratic model predicts no decrease; no step, damping raised`);
          return [treeZerosLike(g), { ...state, curvature, damping: clamp(lmDamping / omega), previous: treeZerosLike(g) }];
        }
        step = q.step;
        // ρ compares with the model of h itself, M(δ) − ½λ||δ||² (λ is a trust-region device, not
        // curvature of h): ρ = 1 exactly when h is quadratic with curvature F.
        model = q.modelValue - 0.5 * lambda * treeVdot(q.step, q.step);
        next = { previous: q.step, alpha: q.alpha, mu: q.mu };
        if (wd > 0) step = treeAxpby(1, step, -wd, params);
      }
      const adapting = !fixed && o.adaptDamping && (ctx.step + 1) % o.dampingAdaptationPeriod === 0;
      if (o.newPointEvaluation === 'modelBatch') {
        // h at both points on the model's own examples (paired): ρ and the guard come from them.
        const point = treeAxpby(1, params, 1, step);
        const before = modelObj === obj ? ctx.loss : valueAt(modelObj, params, ctx);
        const after = valueAt(modelObj, point, ctx);
        if (!Number.isFinite(after)) {
          const faultBoost = boostAfterRejection(boost, o.rejectDampingFactor, lmDamping, o.maxDamping);
          ctx.rejected = `${owner}: non-finite loss (${after}) at the new point on the model's sub-batch; step rejected, damping raised to ${clamp(lmDamping * faultBoost).toPrecision(3)} until steps succeed`;
          return [treeZerosLike(g), { ...state, curvature, faultBoost }];
        }
        const rho = (after - before) / model;
        if (!(rho > 0)) {
          // The step the model chose raised the loss on the very examples whose curvature chose it.
          const damping = clamp(lmDamping / omega);
          ctx.rejected = `${owner}: the step raised the loss on the model's sub-batch (${before.toPrecision(6)} to ${after.toPrecision(6)}, ρ ${rho.toPrecision(3)}); step rejected, damping raised to ${damping.toPrecision(3)}`;
          return [treeZerosLike(g), { ...state, curvature, damping, rho, previous: treeZerosLike(g) }];
        }
        const damping = adapting ? levenbergMarquardt(lmDamping, rho, omega, o.minDamping, o.maxDamping) : lmDamping;
        if (modelObj === obj) ctx.accepted = { params: point, loss: after };
        return [step, { ...state, ...next, curvature, damping, rho, faultBoost: boostAfterAcceptance(boost, o.rejectDampingFactor) }];
      }
      if (o.newPointEvaluation === 'adaptation' && !adapting && boost === 1) {
        // Nothing reads h(θ + δ) on this step: take it unevaluated.
        return [step, { ...state, ...next, curvature, damping: lmDamping, rho: NaN, faultBoost: 1 }];
      }
      const point = treeAxpby(1, params, 1, step);
      const f = valueAt(obj, point, ctx);
      if (!Number.isFinite(f)) {
        const faultBoost = boostAfterRejection(boost, o.rejectDampingFactor, lmDamping, o.maxDamping);
        ctx.rejected = `${owner}: non-finite loss (${f}) at the new point; step rejected, damping raised to ${clamp(lmDamping * faultBoost).toPrecision(3)} until steps succeed`;
        return [treeZerosLike(g), { ...state, curvature, faultBoost }];
      }
      const rho = fixed ? NaN : (f - ctx.loss) / model;
      let damping = lmDamping;
      if (adapting) damping = levenbergMarquardt(lmDamping, rho, omega, o.minDamping, o.maxDamping);
      ctx.accepted = { params: point, loss: f };
      return [step, { ...state, ...next, curvature, damping, rho, faultBoost: boostAfterAcceptance(boost, o.rejectDampingFactor) }];
    },
  };
}

/**
 * K-FAC as an optimizer. Train a model with
 * `const opt = kfac(); let s = opt.init(params); ({params, state: s} = opt.step(params, s, kfacObjective(model, loss, batch)))`.
 */
export function kfac<P extends PyTree = PyTree>(options: KfacOptions = {}): Optimizer<KfacState<P>, P> {
  return createOptimizer('kfac', kfacTransform<P>(options, 'kronecker', 'kfac'), resolveKfacOptions('kfac', options));
}

export interface KfacPreconditionerOptions extends KfacCurvatureOptions {
  /** λ of the damped inverse (a number or a schedule), default 1e-3. */
  damping?: Schedule;
  /** 'kronecker' (K-FAC, default) or 'ekfac'. */
  approximation?: Approximation;
}

/**
 * The K-FAC preconditioner alone, g ↦ (F̆ + λI)⁻¹g, for composition with other transforms, e.g.
 * `chain(kfacPreconditioner({damping: 1e-2}), traceMomentum(0.9), scaleByLearningRate(0.1))`.
 * State: the estimator's blocks. No step rejection or damping adaptation (the driver still
 * rejects non-finite losses, gradients and updates).
 */
export function kfacPreconditioner<P extends PyTree>(options: KfacPreconditionerOptions = {}): Transform<EstimatorState, P> {
  const owner = 'kfacPreconditioner';
  checkKnownOptions(owner, options, [...CURVATURE_OPTIONS, 'damping', 'approximation']);
  const curvature = resolveCurvature(owner, options);
  const damping = checkSchedule(owner, 'damping', options.damping ?? 1e-3, { min: 0, minExclusive: true });
  const approximation = checkChoice(owner, 'approximation', options.approximation ?? 'kronecker', ['kronecker', 'ekfac'] as const);
  const c = { ...curvature, inverseMethod: resolveInverseMethod(owner, curvature.inverseMethod, approximation, typeof damping === 'function', curvature.recurrentApproximation) };
  const gradientPass = gradientPassStatistics<P>(c, (s: EstimatorState) => s);
  return {
    name: owner,
    init: () => ({ blocks: [] }),
    beforeEvaluate: gradientPass.beforeEvaluate,
    update: (g, state, params, ctx) => {
      const requested = gradientPass.take(ctx.objective, params);
      if (treeVdot(g, g) === 0) return [treeZerosLike(g), state];
      const l = evalSchedule('damping', damping, ctx.step);
      if (!(l > 0)) throw new RangeError(`${owner}: damping schedule returned ${l} at step ${ctx.step}; it must be > 0`);
      const eta = hasKfacStatistics(ctx.objective) ? ctx.objective.l2 : 0;
      const s = refreshCurvature(owner, approximation, c, state, params, g, ctx, l + eta, requested);
      return [preconditionTree(s, g, l + eta), s];
    },
  };
}

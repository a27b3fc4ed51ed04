/**
 * The optimizer contract, shared by every method in this package.
 *
 * Two levels, after Optax:
 * - a `Transform` is a pair of pure functions `init(params) -> state` and
 *   `update(updates, state, params, ctx) -> [updates, state]`; transforms chain
 *   (`chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3))`);
 * - an `Optimizer` drives a transform against an `Objective`: `step(params, state, objective)`
 *   evaluates loss and gradient, runs the transform, applies the update, and returns the new
 *   parameters, state and a report. Second-order transforms call back into the objective
 *   (through `ctx.objective`) for re-evaluations and curvature products.
 *
 * State is readonly plain data (tensors, numbers, arrays, objects): it saves with `saveTree`
 * and a loaded state resumes bit for bit.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { PyTree } from '../autodiff/pytree.js';

/** A value per step: a constant or a schedule `(step) => value` (step counts from 0). */
export type Schedule = number | ((step: number) => number);

/**
 * What an optimizer may ask about the function it minimizes, at any parameters, on the
 * current batch. `valueAndGrad` is required; curvature products are optional and a method that
 * needs one fails at its first step with an error naming the missing product.
 *
 * An objective is a fixed function: the driver may reuse an evaluation a line search made at
 * the point a step returned when the next step gets the SAME objective object. Give each batch
 * its own objective (never mutate the batch an objective reads).
 */
export interface Objective<P extends PyTree = PyTree> {
  valueAndGrad(params: P): [number, P];
  value?(params: P): number;
  /** Hessian-vector product. */
  hvp?(params: P, v: P): P;
  /** Gauss-Newton-vector product. */
  ggnvp?(params: P, v: P): P;
  /** Fisher-vector product. */
  fisherVp?(params: P, v: P): P;
  /**
   * The Gauss-Newton matrix at `params` as an operator built once (one forward pass recorded as a
   * linearization), for many products at one point: CG in Hessian-free. Each `apply` is one
   * linear forward and one linear backward pass; `dispose` releases the residuals.
   */
  ggnOperator?(params: P): { apply(v: P): P; dispose(): void };
  /** The Hessian at `params` as an operator built once (the gradient linearized), as `ggnOperator`. */
  hvpOperator?(params: P): { apply(v: P): P; dispose(): void };
  /** Diagonal of the empirical Fisher, w·Σ_i (∇L_i)² (Hessian-free's preconditioner). */
  diagEmpiricalFisher?(params: P): P;
  /**
   * The Gauss-Newton-Bartlett estimate of the Gauss-Newton (= true Fisher) diagonal, Sophia-G's
   * estimator: targets ŷ drawn from the model's predictive distribution with `seed`, then
   * (1/w)·(∇L(θ; ŷ))² with w the loss's batch weight (1/N for a mean: N times the squared
   * gradient). Unbiased: the cross terms between examples have mean zero. One forward and one
   * backward pass.
   */
  gnbDiagonal?(params: P, seed: number): P;
  /**
   * The same objective on a random `fraction` of the batch (at least one example), drawn from
   * `seed`: curvature estimated on a sub-batch (Hessian-free, sub-sampled Newton). `block`
   * (default 0) picks the block-th slice of the same seeded permutation: blocks of one seed
   * and fraction are disjoint, the last one possibly shorter (Hessian-free's held-out slice is
   * block 1 of the curvature's seed).
   */
  subsample?(fraction: number, seed: number, block?: number): Objective<P>;
  /**
   * The number of examples the objective averages over (the batch's rows; on a data-parallel
   * objective all ranks'), where it knows it: `modelObjective` does, `objective(f)` does not.
   * Hessian-free's `curvatureExamples` divides by it.
   */
  readonly examples?: number;
}

/** Passed to every transform's update. */
export interface UpdateContext<P extends PyTree = PyTree> {
  /** Number of completed steps before this one. */
  readonly step: number;
  /** Loss at `params` (the point the gradient was taken at). */
  readonly loss: number;
  readonly objective: Objective<P>;
  /**
   * A transform that evaluated the objective at the exact point the step will land on (a line
   * search) reports it here, so the driver returns those parameters and reuses the evaluation.
   */
  accepted?: { params: P; loss: number; grad?: P };
  /**
   * A transform that refuses its own step (e.g. Hessian-free after a non-finite trial loss) sets
   * the reason here: the parameters stay, but its returned state (a raised damping) is kept.
   */
  rejected?: string;
  /**
   * A transform that judges its own iteration finished (a zero gradient, or no decrease found
   * along steepest descent where a deterministic retry would do the same) says why here.
   */
  converged?: string;
  /** Counters the transform adds to (function/gradient evaluations, curvature products). */
  readonly counters: Counters;
  /** Notes for the step report (e.g. 'line search failed; history reset'). */
  readonly events: string[];
}

export interface Counters {
  evals: number;
  curvatureProducts: number;
}

export interface Transform<S extends PyTree = PyTree, P extends PyTree = PyTree> {
  /** Name for reports, e.g. 'scaleByAdam'. */
  readonly name: string;
  init(params: P): S;
  update(updates: P, state: S, params: P, ctx: UpdateContext<P>): [P, S];
  /**
   * Optional: called by the driver just before it evaluates loss and gradient at `params`, so a
   * transform can ask the objective for more from that same pass (K-FAC: its layer statistics).
   */
  beforeEvaluate?(params: P, state: S, objective: Objective<P>, step: number): void;
}

export interface StepInfo {
  /** Loss at the parameters the step started from. */
  loss: number;
  /** Loss at the returned parameters when the method evaluated it (line searches), else undefined. */
  newLoss?: number;
  gradNorm: number;
  /** Objective evaluations (value/gradient) and curvature products used by this step. */
  evals: number;
  curvatureProducts: number;
  /** False when the step was rejected (non-finite loss or gradient): parameters unchanged. */
  accepted: boolean;
  events: string[];
  /** The method's own verdict that further steps from here cannot make progress, with why. */
  converged?: string;
}

export interface OptimizerState<S extends PyTree = PyTree> {
  readonly step: number;
  readonly inner: S;
  [key: string]: PyTree;
}

export interface Optimizer<S extends PyTree = PyTree, P extends PyTree = PyTree> {
  readonly name: string;
  /** The options after defaults were applied (for reports and checkpoints). */
  readonly options: Readonly<Record<string, unknown>>;
  init(params: P): OptimizerState<S>;
  /**
   * Whether the next step needs the full-batch objective although the driver feeds mini-batches
   * (a hybrid whose current phase is full-batch L-BFGS). Absent: the driver's choice stands.
   */
  fullBatch?(state: OptimizerState<S>): boolean;
  /**
   * One step from `params`. Generic in the caller's own parameter type (`Q`, e.g. the
   * `PyTree[]` a `Sequential` returns), so `({ params, state } = opt.step(params, state, obj))`
   * type-checks without annotations: the result has the structure of the input.
   */
  step<Q extends P>(params: Q, state: OptimizerState<S>, objective: Objective<Q>): StepResult<Q, S>;
}

/**
 * What a step returns. Annotate with it where TypeScript cannot infer a loop's result type
 * (a variable declared with the union type `PyTree` and reassigned from the result):
 * `const r: StepResult<PyTree> = opt.step(p, s, obj)`.
 */
export interface StepResult<P extends PyTree = PyTree, S extends PyTree = PyTree> {
  params: P;
  state: OptimizerState<S>;
  info: StepInfo;
}

export type { Tensor };

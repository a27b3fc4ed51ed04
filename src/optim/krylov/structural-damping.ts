/**
 * Structural damping (Martens & Sutskever, ICML 2011, sec. 3.3) for Hessian-free on recurrent
 * networks. Besides Tikhonov damping λ‖δ‖²/2, the quadratic model CG minimizes gets a penalty
 * μ·D(h(θ), h(θ + δ)) on how much a step changes the hidden states h (all steps, all units),
 * with D(h, h') = ‖h − h'‖² / (2N) over a batch of N sequences. Its Gauss-Newton term is
 * μ·S with S = Jₕᵀ Jₕ / N (Jₕ the Jacobian of the hidden states w.r.t. the parameters), so the
 * curvature product becomes (G + λI + μS) v. μ follows λ: μ = c·λ, c the option `weight`.
 *
 * The objective supplies S: `structuralObjective(objective, hiddenStates, x)` adds
 * `structuralOperator(params)` (Jₕ linearized once per outer step, then one linear forward and
 * one linear backward pass per product) and `structuralGgnvp(params, v)` (a single product) to
 * any objective on a batch `x`; sub-sampled objectives keep it on their rows.
 */
import type { PyTree } from '../../autodiff/pytree.js';
import { linearize } from '../../autodiff/linearize.js';
import { treeScale } from '../../autodiff/tree-math.js';
import { Tensor, describe } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { gather } from '../../tensor/shape-ops.js';
import { autoScope } from '../../tensor/scope.js';
import { LinearOperator } from '../../curvature/operators/linear-operator.js';
import type { Objective } from '../types.js';

/** S at one point, built once: `apply(v)` = Jₕᵀ Jₕ v / N. */
export interface StructuralOperator<P> {
  apply(v: P): P;
  dispose(): void;
}

/** An objective that also gives the Gauss-Newton matrix S of the hidden-state penalty. */
export interface StructuralObjective<P extends PyTree = PyTree> extends Objective<P> {
  structuralOperator(params: P): StructuralOperator<P>;
  structuralGgnvp(params: P, v: P): P;
}

/** The hidden states of a recurrent model on inputs `x`, as one tensor `[N, ...]` (e.g. `[N, T, H]`). */
export type HiddenStatesFn<P> = (params: P, x: Tensor) => Tensor;

/** True when the objective offers the hidden-state products of structural damping. */
export function hasStructuralDamping<P extends PyTree>(obj: Objective<P>): obj is StructuralObjective<P> {
  return typeof (obj as Partial<StructuralObjective<P>>).structuralOperator === 'function';
}

/** S = Jₕᵀ Jₕ / N at `params` on `x`, linearized once. */
export function structuralOperator<P extends PyTree>(hiddenStates: HiddenStatesFn<P>, params: P, x: Tensor): StructuralOperator<P> {
  const n = x.shape[0];
  const [, lin] = linearize((p: P) => hiddenStates(p, x), params);
  return {
    apply: (v) => autoScope(() => treeScale(1 / n, lin.transpose(lin(v))[0])),
    dispose: () => lin.dispose(),
  };
}

/**
 * `objective` with the structural-damping products of the hidden states `hiddenStates(params, x)`
 * on the objective's batch inputs `x` (the same rows the objective's loss reads).
 */
export function structuralObjective<P extends PyTree, O extends Objective<P>>(objective: O, hiddenStates: HiddenStatesFn<P>, x: Tensor): O & StructuralObjective<P> {
  if (objective === null || typeof objective !== 'object' || typeof objective.valueAndGrad !== 'function') throw new TypeError(`structuralObjective: expected an objective, got ${describe(objective)}`);
  if (typeof hiddenStates !== 'function') throw new TypeError('structuralObjective: hiddenStates must be a function (params, x) => states [N, ...]');
  if (!(x instanceof Tensor) || x.ndim < 1 || x.shape[0] === 0) throw new RangeError(`structuralObjective: x must be the batch inputs [N, ...] with N > 0, got ${describe(x)}`);
  const out: O & StructuralObjective<P> = {
    ...objective,
    structuralOperator: (p: P) => structuralOperator(hiddenStates, p, x),
    structuralGgnvp: (p: P, v: P) => {
      const op = structuralOperator(hiddenStates, p, x);
      try { return op.apply(v); } finally { op.dispose(); }
    },
  };
  const sub = objective.subsample;
  if (sub !== undefined) {
    // The same rows as the objective's own subsample (drawn from the same seed, as modelObjective does).
    out.subsample = (fraction, seed, block = 0) => {
      const n = x.shape[0];
      const k = Math.max(1, Math.round(fraction * n));
      const inner = sub.call(objective, fraction, seed, block);
      const rows = k >= n ? x : gather(x, new Rng(seed).permutation(n).slice(block * k, (block + 1) * k).sort((a, b) => a - b), 0);
      return structuralObjective(inner, hiddenStates, rows);
    };
  }
  return out;
}

/** Hessian-free's `structuralDamping` option. */
export interface StructuralDampingOption {
  /** c in μ = c·λ (Martens & Sutskever adapt μ with λ this way). */
  weight: number;
  /** S v at params; default: the objective's (`structuralObjective`). */
  product?: (params: PyTree, v: PyTree) => PyTree;
}

/** Validates the option (throws naming it). */
export function checkStructuralDamping(op: string, sd: unknown): StructuralDampingOption | undefined {
  if (sd === undefined) return undefined;
  const s = sd as Partial<StructuralDampingOption>;
  if (s === null || typeof s !== 'object' || typeof s.weight !== 'number' || !Number.isFinite(s.weight) || s.weight < 0 || (s.product !== undefined && typeof s.product !== 'function')) {
    throw new RangeError(`${op}: option 'structuralDamping' must be {weight: finite >= 0 (μ = weight·λ), product?: (params, v) => tree}, got ${describe(sd)}`);
  }
  return s as StructuralDampingOption;
}

/**
 * The operator μS, μ = weight·λ, at `params` for the curvature of one outer step (built at its
 * first product, released by `dispose`), or undefined when the weight is 0.
 */
export function structuralDampingTerm<P extends PyTree>(sd: StructuralDampingOption | undefined, objective: Objective<P>, params: P, lambda: number): LinearOperator<P> | undefined {
  if (sd === undefined || sd.weight === 0) return undefined;
  const mu = sd.weight * lambda;
  if (sd.product !== undefined) {
    const product = sd.product;
    return new LinearOperator<P>({ name: `${mu}·S`, like: params, apply: (v) => treeScale(mu, product(params, v) as P) });
  }
  if (!hasStructuralDamping(objective)) {
    throw new Error("hessianFree: option 'structuralDamping' needs the objective to provide the hidden-state products (wrap it with structuralObjective(objective, hiddenStates, x)) or a 'product' function");
  }
  let op: StructuralOperator<P> | undefined;
  return new LinearOperator<P>({
    name: `${mu}·S`,
    like: params,
    psd: true,
    apply: (v) => {
      op ??= objective.structuralOperator(params);
      return treeScale(mu, op.apply(v));
    },
    release: () => { op?.dispose(); op = undefined; },
  });
}

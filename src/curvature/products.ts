/**
 * Curvature-vector products of a model + loss on a batch, exact and matrix-free:
 * Gauss-Newton (`ggnvp`), empirical and true Fisher (`fisherVp`), and per-example gradients.
 * All take parameter trees and return trees of the same structure.
 */
import { Tensor, fmtShape, sameShape, zeros } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { grad } from '../autodiff/vjp.js';
import { linearize } from '../autodiff/linearize.js';
import { mul, reshape, slice, sum } from '../autodiff/ops.js';
import { stack } from '../tensor/shape-ops.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import type { Loss } from '../nn/losses.js';
import { Module } from '../nn/module.js';
import { autoScope } from '../tensor/scope.js';

/** A network as a function of its parameters and input. */
export type ModelFn<P> = (params: P, x: Tensor) => Tensor;

export interface Batch {
  x: Tensor;
  y: Tensor;
}

function asFn<P extends PyTree>(model: ModelFn<P> | Module<P>): ModelFn<P> {
  if (model instanceof Module) return (p, x) => model.apply(p, x);
  if (typeof model !== 'function') throw new TypeError('expected a model: a Module or a function (params, x) => outputs');
  return model;
}

function checkDirection(op: string, params: PyTree, v: PyTree): void {
  const lp = treeLeaves(params);
  const lv = treeLeaves(v);
  if (lp.length !== lv.length) throw new RangeError(`${op}: v has ${lv.length} tensors, params have ${lp.length}`);
  lp.forEach((p, i) => {
    if (!sameShape(p.shape, lv[i].shape) || p.dtype !== lv[i].dtype) {
      throw new RangeError(`${op}: v tensor ${i} is ${lv[i].toString()}, expected ${p.toString()} like the parameter`);
    }
  });
}

function checkBatch(op: string, batch: Batch): void {
  if (batch === null || typeof batch !== 'object' || !(batch.x instanceof Tensor) || !(batch.y instanceof Tensor)) {
    throw new TypeError(`${op}: batch must be {x: Tensor, y: Tensor}`);
  }
  if (batch.x.ndim < 1 || batch.y.ndim < 1 || batch.x.shape[0] !== batch.y.shape[0]) {
    throw new RangeError(`${op}: batch inputs ${fmtShape(batch.x.shape)} and targets ${fmtShape(batch.y.shape)} must share their first (batch) axis`);
  }
}

/** A curvature matrix at one point as a function of the direction, built once and applied many times. */
export interface CurvatureOperatorFn<P> {
  /** The product with `v` (a tree shaped like the parameters); a tree of that structure comes back. */
  apply(v: P): P;
  /** Release the residuals of the linearization; `apply` throws afterwards. */
  dispose(): void;
  readonly disposed: boolean;
}

function operatorFn<P extends PyTree>(op: string, params: P, apply: (v: P) => P, release: () => void): CurvatureOperatorFn<P> {
  let disposed = false;
  return {
    apply: (v: P) => {
      if (disposed) throw new Error(`${op}: apply on a disposed operator (its linearization is released)`);
      checkDirection(op, params, v);
      // Its own scope: J v and the output-space product go once the result exists.
      return autoScope(() => apply(v));
    },
    dispose: () => {
      if (disposed) throw new Error(`${op}: this operator was already disposed`);
      disposed = true;
      release();
    },
    get disposed() { return disposed; },
  };
}

/**
 * The Gauss-Newton matrix `G = J^T H_L J` at `params` on `batch` as an operator: the model is
 * linearized once (one forward pass; activations and derivative factors kept), and so is the
 * loss's output Hessian; each `apply(v)` is then one linear forward pass `J v`, the output-space
 * product, and one linear backward pass `J^T u`, with no nonlinear work and no forward re-run
 * (what Hessian-free's CG iterations need). Call `dispose()` when done with the point.
 */
export function ggnOperatorFn<P extends PyTree>(model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch): CurvatureOperatorFn<P> {
  checkBatch('ggnOperatorFn', batch);
  const f = asFn(model);
  const [lin, hl] = autoScope(() => {
    const [z, j] = linearize((p: P) => f(p, batch.x), params);
    // H_L is linear in its direction: linearizing it hoists what depends on z alone (σ(z), softmax).
    const [, h] = linearize((w: Tensor) => loss.outputHvp(z, batch.y, w), zeros(z.shape, { dtype: z.dtype }));
    return [j, h] as const;
  });
  return operatorFn('ggnOperatorFn', params, (v) => lin.transpose(hl(lin(v)))[0], () => { lin.dispose(); hl.dispose(); });
}

/**
 * Gauss-Newton-vector product `G v = J^T H_L J v`, J the Jacobian of the model output w.r.t.
 * the parameters and H_L the Hessian of the loss w.r.t. the output. Positive semi-definite for
 * convex losses; equals the Hessian for a linear model with squared loss. One forward pass
 * (linearization), one linear forward pass for `J v`, one linear backward pass for `J^T u`;
 * for many products at one point build `ggnOperatorFn` once instead.
 */
export function ggnvp<P extends PyTree>(model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch, v: P): P {
  checkBatch('ggnvp', batch);
  checkDirection('ggnvp', params, v);
  const op = ggnOperatorFn(model, loss, params, batch);
  try {
    return op.apply(v);
  } finally {
    op.dispose();
  }
}

export interface FisherOptions {
  /** 'true' samples targets from the model (default); 'empirical' uses the batch targets. */
  kind?: 'true' | 'empirical';
  /** Randomness for sampled targets (default: a fresh Rng(0)). */
  rng?: Rng;
}

function fisherKind(op: string, options: FisherOptions): 'true' | 'empirical' {
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: options must be an object`);
  const kind = options.kind ?? 'true';
  if (kind !== 'true' && kind !== 'empirical') throw new RangeError(`${op}: kind must be 'true' or 'empirical', got '${String(kind)}'`);
  return kind;
}

/**
 * The Fisher matrix `F = w Σ_i ∇L_i ∇L_iᵀ` at `params` on `batch` as an operator (see
 * `fisherVp`): the model is linearized once and the per-example output gradients `r_i` (with
 * targets sampled once, for the true Fisher) are computed once; each `apply(v)` is one linear
 * forward pass, an output-space rank-one scaling, and one linear backward pass.
 */
export function fisherOperatorFn<P extends PyTree>(
  model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch, options: FisherOptions = {},
): CurvatureOperatorFn<P> {
  checkBatch('fisherOperatorFn', batch);
  const kind = fisherKind('fisherOperatorFn', options);
  const f = asFn(model);
  let r!: Tensor;
  const lin = autoScope(() => {
    const [z, j] = linearize((p: P) => f(p, batch.x), params);
    const targets = kind === 'empirical' ? batch.y : loss.sampleTargets(z, options.rng ?? new Rng(0));
    // r_i = ∂L_i/∂z_i for every example at once: the gradient of Σ_i L_i w.r.t. z.
    r = grad((zz: Tensor) => sum(loss.perExample(zz, targets)))(z);
    r._pins++; // held by the operator until dispose
    return j;
  });
  const n = r.shape[0];
  const axes = r.shape.map((_, i) => i).slice(1);
  const w = loss.batchWeight(n);
  return operatorFn('fisherOperatorFn', params, (v) => {
    const jv = lin(v);
    const s = axes.length > 0 ? sum(mul(r, jv), axes, true) : mul(r, jv); // r_i · (J v)_i, one per example
    return lin.transpose(mul(mul(r, s), w))[0];
  }, () => { lin.dispose(); r._pins--; });
}

/**
 * Fisher-vector product `F v = w Σ_i ∇L_i (∇L_i · v)` with L_i each example's loss and w the
 * loss's batch weight (1/N for means). The empirical Fisher uses the batch targets; the true
 * Fisher draws targets from the model's predictive distribution, whose expectation is the
 * Gauss-Newton matrix. Computed from output-space gradients: `∇L_i = J_i^T r_i`, so
 * `F v = J^T (w r (r · J v))`: one forward pass (linearization), one linear forward and one
 * linear backward pass; for many products at one point build `fisherOperatorFn` once instead.
 */
export function fisherVp<P extends PyTree>(
  model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch, v: P, options: FisherOptions = {},
): P {
  checkBatch('fisherVp', batch);
  checkDirection('fisherVp', params, v);
  fisherKind('fisherVp', options);
  const op = fisherOperatorFn(model, loss, params, batch, options);
  try {
    return op.apply(v);
  } finally {
    op.dispose();
  }
}

/**
 * Gradients of each example's loss (as a batch of one), stacked: every leaf gets a leading axis
 * of length N. General (any model), at the cost of N backward passes.
 */
export function perExampleGrads<P extends PyTree>(model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch): P {
  checkBatch('perExampleGrads', batch);
  const f = asFn(model);
  const n = batch.x.shape[0];
  const per: Tensor[][] = treeLeaves(params).map(() => []);
  for (let i = 0; i < n; i++) {
    const xi = slice(batch.x, [i], [i + 1]);
    const yi = slice(batch.y, [i], [i + 1]);
    const g = grad((p: P) => reshape(loss.perExample(f(p, xi), yi), []))(params);
    treeLeaves(g).forEach((leaf, j) => per[j].push(leaf));
  }
  return treeUnflatten(params, per.map((list, j) => (n === 0 ? new Tensor(treeLeaves(params)[j].data.slice(0, 0), [0, ...treeLeaves(params)[j].shape]) : stack(list, 0))));
}

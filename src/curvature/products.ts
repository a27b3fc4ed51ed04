/**
 * Curvature-vector products of a model + loss on a batch, exact and matrix-free:
 * Gauss-Newton (`ggnvp`), empirical and true Fisher (`fisherVp`), and per-example gradients.
 * All take parameter trees and return trees of the same structure.
 */
import { Tensor, fmtShape, sameShape } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { jvp } from '../autodiff/jvp.js';
import { grad, vjp } from '../autodiff/vjp.js';
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

/**
 * Gauss-Newton-vector product `G v = J^T H_L J v`, J the Jacobian of the model output w.r.t.
 * the parameters and H_L the Hessian of the loss w.r.t. the output. Positive semi-definite for
 * convex losses; equals the Hessian for a linear model with squared loss. One forward-mode pass
 * for `J v`, one reverse-mode pass for `J^T u`.
 */
export function ggnvp<P extends PyTree>(model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch, v: P): P {
  checkBatch('ggnvp', batch);
  checkDirection('ggnvp', params, v);
  const f = asFn(model);
  // Its own scope: J v, the forward passes and their residuals are released once G v exists.
  return autoScope(() => {
    const [z, jv] = jvp((p: P) => f(p, batch.x), [params], [v]);
    const u = loss.outputHvp(z, batch.y, jv);
    const [, back] = vjp((p: P) => f(p, batch.x), params);
    try {
      return back(u)[0];
    } finally {
      back.dispose();
    }
  });
}

export interface FisherOptions {
  /** 'true' samples targets from the model (default); 'empirical' uses the batch targets. */
  kind?: 'true' | 'empirical';
  /** Randomness for sampled targets (default: a fresh Rng(0)). */
  rng?: Rng;
}

/**
 * Fisher-vector product `F v = w Σ_i ∇L_i (∇L_i · v)` with L_i each example's loss and w the
 * loss's batch weight (1/N for means). The empirical Fisher uses the batch targets; the true
 * Fisher draws targets from the model's predictive distribution, whose expectation is the
 * Gauss-Newton matrix. Computed from output-space gradients: `∇L_i = J_i^T r_i`, so
 * `F v = J^T (w r (r · J v))`, at the cost of one forward-mode and one reverse-mode pass.
 */
export function fisherVp<P extends PyTree>(
  model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch, v: P, options: FisherOptions = {},
): P {
  checkBatch('fisherVp', batch);
  checkDirection('fisherVp', params, v);
  const kind = options.kind ?? 'true';
  if (kind !== 'true' && kind !== 'empirical') throw new RangeError(`fisherVp: kind must be 'true' or 'empirical', got '${String(kind)}'`);
  const f = asFn(model);
  return autoScope(() => {
    const [z, jv] = jvp((p: P) => f(p, batch.x), [params], [v]);
    const targets = kind === 'empirical' ? batch.y : loss.sampleTargets(z, options.rng ?? new Rng(0));
    // r_i = ∂L_i/∂z_i for every example at once: the gradient of Σ_i L_i w.r.t. z.
    const r = grad((zz: Tensor) => sum(loss.perExample(zz, targets)))(z);
    const n = z.shape[0];
    const axes = z.shape.map((_, i) => i).slice(1);
    const s = axes.length > 0 ? sum(mul(r, jv), axes, true) : mul(r, jv); // r_i · (J v)_i, one per example
    const u = mul(mul(r, s), loss.batchWeight(n));
    const [, back] = vjp((p: P) => f(p, batch.x), params);
    try {
      return back(u)[0];
    } finally {
      back.dispose();
    }
  });
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

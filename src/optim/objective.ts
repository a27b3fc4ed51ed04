/**
 * Objectives: what optimizers minimize. `objective(f)` wraps a scalar function of the
 * parameters (gradient and Hessian-vector products by autodiff); `modelObjective` wraps a
 * model, a loss and a batch (adding Gauss-Newton and Fisher products); `withL2` adds coupled
 * L2 regularization to the value, the gradient AND every curvature product.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { PyTree } from '../autodiff/pytree.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { hvp as hvpOf } from '../autodiff/compose.js';
import { Rng } from '../tensor/random.js';
import type { Loss } from '../nn/losses.js';
import { Module } from '../nn/module.js';
import { fisherVp, ggnvp, type Batch, type ModelFn } from '../curvature/products.js';
import { diagEmpiricalFisher } from '../curvature/diag-fisher.js';
import { gather } from '../tensor/shape-ops.js';
import { treeAxpby, treeVdot } from '../autodiff/tree-math.js';
import type { Objective } from './types.js';
import { checkNumber } from './validate.js';

function scalar(op: string, t: Tensor): number {
  if (t.size !== 1) throw new RangeError(`${op}: the function must return a scalar, got ${t.size} values`);
  return t.data[0];
}

/** An objective from a scalar function of the parameters. */
export function objective<P extends PyTree>(f: (params: P) => Tensor): Objective<P> {
  if (typeof f !== 'function') throw new TypeError('objective: expects a function (params) => scalar Tensor');
  const vg = valueAndGrad(f);
  return {
    valueAndGrad: (p) => {
      const [v, g] = vg(p) as [Tensor, P];
      return [scalar('objective', v), g];
    },
    value: (p) => scalar('objective', f(p)),
    hvp: (p, v) => hvpOf(f, p, v),
  };
}

/**
 * The loss of `model` on `batch`, with Gauss-Newton and Fisher products, the diagonal of the
 * empirical Fisher, and sub-sampling. `fisherVp` samples targets from the model (true Fisher)
 * with `rng`, whose state advances per call; pass `fisher: 'empirical'` for the empirical
 * Fisher. `dropoutSeed` runs the model in training mode with dropout masks drawn from that
 * seed at every evaluation, so gradient and curvature use the same masks (build one objective
 * per step with a new seed for fresh masks).
 */
export function modelObjective<P extends PyTree>(
  model: ModelFn<P> | Module<P>, loss: Loss, batch: Batch, options: { fisher?: 'true' | 'empirical'; rng?: Rng; dropoutSeed?: number } = {},
): Objective<P> {
  const seed = options.dropoutSeed;
  // With a dropout seed every evaluation (gradient, curvature, line search) sees the same masks.
  const f: ModelFn<P> = model instanceof Module
    ? (p, x) => model.apply(p, x, seed === undefined ? undefined : { training: true, rng: new Rng(seed) })
    : model;
  const lossOf = (p: P) => loss.value(f(p, batch.x), batch.y);
  const base = objective(lossOf);
  const rng = options.rng ?? new Rng(0);
  return {
    ...base,
    ggnvp: (p, v) => ggnvp(f, loss, p, batch, v),
    fisherVp: (p, v) => fisherVp(f, loss, p, batch, v, { kind: options.fisher ?? 'true', rng }),
    diagEmpiricalFisher: (p) => diagEmpiricalFisher(seed === undefined ? model : f, loss, p, batch),
    subsample: (fraction, seed) => {
      checkNumber('subsample', 'fraction', fraction, { min: 0, max: 1, minExclusive: true });
      const n = batch.x.shape[0];
      const k = Math.max(1, Math.round(fraction * n));
      if (k >= n) return modelObjective(model, loss, batch, options);
      const idx = new Rng(seed).permutation(n).slice(0, k).sort((a, b) => a - b);
      return modelObjective(model, loss, { x: gather(batch.x, idx, 0), y: gather(batch.y, idx, 0) }, options);
    },
  };
}

/**
 * Coupled L2: `f(θ) + (λ/2)||θ||²`. The term enters the gradient (`+λθ`) and every curvature
 * product (`+λv`), as Hessian-free and K-FAC need; PyTorch's `weight_decay` for SGD/Adam is the
 * gradient part alone (see `addL2Gradient`).
 */
export function withL2<P extends PyTree>(obj: Objective<P>, l2: number): Objective<P> {
  checkNumber('withL2', 'l2', l2, { min: 0 });
  if (l2 === 0) return obj;
  const add = (g: P, p: P) => treeAxpby(1, g, l2, p);
  const out: Objective<P> = {
    valueAndGrad: (p) => {
      const [v, g] = obj.valueAndGrad(p);
      return [v + 0.5 * l2 * treeVdot(p, p), add(g, p)];
    },
  };
  const value = obj.value;
  if (value) out.value = (p) => value(p) + 0.5 * l2 * treeVdot(p, p);
  for (const k of ['hvp', 'ggnvp', 'fisherVp'] as const) {
    const prod = obj[k];
    if (prod) out[k] = (p, v) => add(prod(p, v), v);
  }
  const diag = obj.diagEmpiricalFisher;
  if (diag) out.diagEmpiricalFisher = diag; // the regularizer's curvature is added as damping, not as Fisher
  const sub = obj.subsample;
  if (sub) out.subsample = (fraction, seed) => withL2(sub(fraction, seed), l2);
  return out;
}

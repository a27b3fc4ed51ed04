/**
 * The diagonal of the empirical Fisher, diag(F) = w·Σ_i (∇L_i)² (L_i each example's loss,
 * w the loss's batch weight), as Hessian-free's preconditioner needs (Martens 2010, sec. 4.7).
 *
 * Fast path, from one ordinary backward pass with taps: for a dense layer with per-example
 * input a_i and output gradient g_i = w·∂L_i/∂s_i, ∇_W L_i = g_i a_iᵀ / w, so
 * Σ_i (∇_W L_i)² = (g²)ᵀ (a²) / w² — one GEMM of squares; biases Σ_i g_i² / w². Conv layers
 * square the per-example filter gradients (one GEMM per example); each layer kind's row of the
 * curvature grid (`kronecker-grid.ts`) holds its own rule. Any parameter that no tap
 * covers (or a tap whose row has no such rule, e.g. recurrent) sends the whole computation to the general path: per-example gradients, N backward
 * passes.
 */
import { Tensor, allocate, ones } from '../tensor/tensor.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { vjp } from '../autodiff/vjp.js';
import { treeScale } from '../autodiff/tree-math.js';
import { Module, TapRecorder } from '../nn/module.js';
import type { Loss } from '../nn/losses.js';
import { squaredGradientsOf } from './kronecker-grid.js';
import { perExampleGrads, type Batch, type ModelFn } from './products.js';

function scaled(t: Tensor, s: number): Tensor {
  const d = allocate(t.dtype, t.size);
  for (let i = 0; i < d.length; i++) d[i] = t.data[i] * s;
  return new Tensor(d, t.shape);
}

/** diag of the empirical Fisher from taps, or undefined when some parameter is not covered. */
function fromTaps<P extends PyTree>(model: Module<P>, loss: Loss, params: P, batch: Batch): P | undefined {
  const taps = new TapRecorder();
  // Only the taps' output gradients are read: a partial backward pass skips every weight
  // gradient (on the CURVES autoencoder they were a third of the pass's GEMM work).
  const [value, back] = vjp((p: P) => loss.value(model.apply(p, batch.x, { taps }), batch.y), params);
  try {
    back.partial(ones(value.shape, { dtype: value.dtype }), treeLeaves(params).map(() => false));
  } finally {
    back.dispose();
  }
  const n = batch.x.shape[0];
  const w = loss.batchWeight(n);
  const byPath = new Map<string, Tensor>();
  const seen = new Set<string>();
  for (const tap of taps.taps) {
    const g = tap.output.grad;
    if (g === null) continue;
    if (seen.has(tap.scope)) return undefined; // a layer used twice: per-example sums span both uses
    seen.add(tap.scope);
    // Each kind's row of the curvature grid knows its per-example squared gradients.
    const sums = squaredGradientsOf(tap, tap.a, g);
    if (sums === undefined) return undefined;
    for (const [path, t] of sums) byPath.set(path, t);
  }
  const paths = treePaths(params);
  if (!paths.every((p) => byPath.has(p))) return undefined;
  // diag(F) = w Σ_i (∇L_i)² = (1/w)·sums, the sums being of the squared g = w·∂L_i/∂s_i: one
  // kernel pass per leaf.
  return treeUnflatten(params, paths.map((p) => treeScale(1 / w, byPath.get(p) as Tensor)));
}

/** diag(F_emp) = w·Σ_i (∇L_i)², in the parameters' tree structure. */
export function diagEmpiricalFisher<P extends PyTree>(model: ModelFn<P> | Module<P>, loss: Loss, params: P, batch: Batch): P {
  if (model instanceof Module) {
    const fast = fromTaps(model, loss, params, batch);
    if (fast !== undefined) return fast;
  }
  const pg = perExampleGrads(model, loss, params, batch);
  const n = batch.x.shape[0];
  const w = loss.batchWeight(n);
  return treeUnflatten(params, treeLeaves(pg).map((l) => {
    const per = l.size / Math.max(1, n);
    const out = allocate(l.dtype, per);
    for (let i = 0; i < n; i++) for (let k = 0; k < per; k++) out[k] += l.data[i * per + k] ** 2;
    return scaled(new Tensor(out, l.shape.slice(1)), w);
  }));
}

/**
 * The diagonal of the empirical Fisher, diag(F) = w·Σ_i (∇L_i)² (L_i each example's loss,
 * w the loss's batch weight), as Hessian-free's preconditioner needs (Martens 2010, sec. 4.7).
 *
 * Fast path, from one ordinary backward pass with taps: for a dense layer with per-example
 * input a_i and output gradient g_i = w·∂L_i/∂s_i, ∇_W L_i = g_i a_iᵀ / w, so
 * Σ_i (∇_W L_i)² = (g²)ᵀ (a²) / w² — one GEMM of squares; biases Σ_i g_i² / w². Conv layers
 * square the per-example filter gradients (one GEMM per example). Any parameter that no tap
 * covers sends the whole computation to the general path: per-example gradients, N backward
 * passes.
 */
import { Tensor, allocate } from '../tensor/tensor.js';
import { matmul } from '../tensor/matmul.js';
import { conv2dBackwardFilter } from '../tensor/conv.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { valueAndGrad } from '../autodiff/vjp.js';
import { Module, TapRecorder } from '../nn/module.js';
import type { Loss } from '../nn/losses.js';
import { perExampleGrads, type Batch, type ModelFn } from './products.js';

function squareData(t: Tensor): Tensor {
  const d = allocate(t.dtype, t.size);
  for (let i = 0; i < d.length; i++) d[i] = t.data[i] * t.data[i];
  return new Tensor(d, t.shape);
}

function scaled(t: Tensor, s: number): Tensor {
  const d = allocate(t.dtype, t.size);
  for (let i = 0; i < d.length; i++) d[i] = t.data[i] * s;
  return new Tensor(d, t.shape);
}

/** diag of the empirical Fisher from taps, or undefined when some parameter is not covered. */
function fromTaps<P extends PyTree>(model: Module<P>, loss: Loss, params: P, batch: Batch): P | undefined {
  const taps = new TapRecorder();
  valueAndGrad((p: P) => loss.value(model.apply(p, batch.x, { taps }), batch.y))(params);
  const n = batch.x.shape[0];
  const w = loss.batchWeight(n);
  const byPath = new Map<string, Tensor>();
  const seen = new Set<string>();
  for (const tap of taps.taps) {
    const g = tap.output.grad;
    if (g === null) continue;
    const key = tap.scope === '' ? '' : `${tap.scope}.`;
    if (seen.has(tap.scope)) return undefined; // a layer used twice: per-example sums span both uses
    seen.add(tap.scope);
    if (tap.kind === 'dense') {
      if (tap.a.ndim !== 2) return undefined; // sequence inputs: per-example sums over positions
      byPath.set(`${key}weight`, scaled(matmul(squareData(g), squareData(tap.a), { transposeA: true }), 1 / (w * w)));
      if (tap.info.bias) {
        const b = allocate(g.dtype, g.shape[1]);
        for (let i = 0; i < g.shape[0]; i++) for (let j = 0; j < g.shape[1]; j++) b[j] += g.data[i * g.shape[1] + j] ** 2;
        byPath.set(`${key}bias`, scaled(new Tensor(b, [g.shape[1]]), 1 / (w * w)));
      }
    } else {
      const [kh, kw] = tap.info.kernel as [number, number];
      const O = g.shape[1];
      const C = tap.a.shape[1];
      const geom = { stride: tap.info.stride as number | [number, number] | undefined, padding: tap.info.padding as number | [number, number] | undefined, dilation: tap.info.dilation as number | [number, number] | undefined };
      const accW = allocate(g.dtype, O * C * kh * kw);
      const accB = allocate(g.dtype, O);
      const imgA = tap.a.size / n;
      const imgG = g.size / n;
      for (let i = 0; i < n; i++) {
        const ai = new Tensor(tap.a.data.subarray(i * imgA, (i + 1) * imgA), [1, ...tap.a.shape.slice(1)]);
        const gi = new Tensor(g.data.subarray(i * imgG, (i + 1) * imgG), [1, ...g.shape.slice(1)]);
        const dW = conv2dBackwardFilter(ai, gi, [O, C, kh, kw], geom);
        for (let k = 0; k < accW.length; k++) accW[k] += dW.data[k] * dW.data[k];
        const L = imgG / O;
        for (let o = 0; o < O; o++) {
          let s = 0;
          for (let l = 0; l < L; l++) s += gi.data[o * L + l];
          accB[o] += s * s;
        }
      }
      byPath.set(`${key}weight`, scaled(new Tensor(accW, [O, C, kh, kw]), 1 / (w * w)));
      if (tap.info.bias) byPath.set(`${key}bias`, scaled(new Tensor(accB, [O]), 1 / (w * w)));
    }
  }
  const paths = treePaths(params);
  if (!paths.every((p) => byPath.has(p))) return undefined;
  // diag(F) = w Σ_i (∇L_i)²
  return treeUnflatten(params, paths.map((p) => scaled(byPath.get(p) as Tensor, w)));
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

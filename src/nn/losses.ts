/**
 * Losses. Each is a negative log-likelihood of a predictive distribution over targets given the
 * network output, and exposes what second-order methods need besides its value:
 * - `outputHvp(z, t, v)`: the Hessian of the reduced loss w.r.t. the outputs, applied to v
 *   (closed form; the middle factor of the Gauss-Newton product `J^T H_L J v`);
 * - `sampleTargets(z, rng)`: targets drawn from the model's predictive distribution, for the
 *   true Fisher (K-FAC's default estimator);
 * - `perExample(z, t)`: the loss of each example as if it were a batch of one, with
 *   `loss = batchWeight(N) · Σ_i perExample_i` (batchWeight is 1/N for means, 1 for sums).
 *
 * Reductions follow PyTorch: `mse` and `sigmoidBinaryCrossEntropy` average over all elements,
 * `softmaxCrossEntropy` over examples; `{reduction: 'sum'}` sums instead.
 */
import { Tensor, describe, fmtShape, sameShape } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';
import { add, div, logSoftmax, mean, mul, neg, sigmoid, softmax, softplus, square, sub, sum, takeAlongAxis } from '../autodiff/ops.js';
import { stopGradient } from '../autodiff/core.js';

/**
 * 'mean': over all elements (PyTorch's default for mse and BCE; over examples for softmax CE);
 * 'batchmean': summed over each example's outputs, averaged over examples (Martens' per-case
 * errors, PyTorch's KLDiv 'batchmean'); 'sum': over everything.
 */
export type Reduction = 'mean' | 'batchmean' | 'sum';

export interface Loss {
  readonly name: string;
  readonly reduction: Reduction;
  /** The reduced loss (a scalar). */
  value(outputs: Tensor, targets: Tensor): Tensor;
  /** Each example's loss as a batch of one, shape [N]. */
  perExample(outputs: Tensor, targets: Tensor): Tensor;
  /** Weight w with value = w · Σ perExample (1/N for mean reductions, 1 for sums). */
  batchWeight(n: number): number;
  /** (∂²value/∂outputs²) · v, v shaped like outputs. */
  outputHvp(outputs: Tensor, targets: Tensor, v: Tensor): Tensor;
  /** Targets sampled from p(y | outputs), shaped as this loss's targets. */
  sampleTargets(outputs: Tensor, rng: Rng): Tensor;
}

function checkReduction(loss: string, r: unknown): Reduction {
  if (r !== 'mean' && r !== 'batchmean' && r !== 'sum') throw new RangeError(`${loss}: reduction must be 'mean', 'batchmean' or 'sum', got ${describe(r)}`);
  return r;
}

function checkPair(loss: string, outputs: unknown, targets: unknown, sameShapeNeeded = true): [Tensor, Tensor] {
  if (!(outputs instanceof Tensor)) throw new TypeError(`${loss}: outputs must be a Tensor, got ${describe(outputs)}`);
  if (!(targets instanceof Tensor)) throw new TypeError(`${loss}: targets must be a Tensor, got ${describe(targets)}`);
  if (outputs.ndim < 1) throw new RangeError(`${loss}: outputs need a batch axis, got shape ${fmtShape(outputs.shape)}`);
  if (sameShapeNeeded && !sameShape(outputs.shape, targets.shape)) {
    throw new RangeError(`${loss}: outputs ${fmtShape(outputs.shape)} and targets ${fmtShape(targets.shape)} must have the same shape`);
  }
  if (outputs.dtype !== targets.dtype) throw new TypeError(`${loss}: outputs are ${outputs.dtype} but targets are ${targets.dtype}`);
  return [outputs, targets];
}

function perExampleSize(x: Tensor): number {
  return x.size / Math.max(1, x.shape[0]);
}

function reduce(x: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'mean') return mean(x);
  const s = sum(x);
  return reduction === 'sum' ? s : div(s, x.shape[0]);
}

function sumNonBatch(x: Tensor): Tensor {
  return x.ndim === 1 ? x : sum(x, x.shape.map((_, i) => i).slice(1));
}

/** Squared error: mean (or sum) of (outputs - targets)² over all elements — Gaussian likelihood. */
export function mse(options: { reduction?: Reduction } = {}): Loss {
  const reduction = checkReduction('mse', options.reduction ?? 'mean');
  const name = 'mse';
  // Per example, L_i = c·||z_i - t_i||² with c = 1/D (mean) or 1 (batchmean, sum).
  const c = (z: Tensor) => (reduction === 'mean' ? 1 / perExampleSize(z) : 1);
  return {
    name,
    reduction,
    value: (z, t) => {
      checkPair(name, z, t);
      return reduce(square(sub(z, t)), reduction);
    },
    perExample: (z, t) => mul(sumNonBatch(square(sub(...checkPair(name, z, t)))), c(z)),
    batchWeight: (n) => (reduction === 'sum' ? 1 : 1 / n),
    outputHvp: (z, t, v) => {
      checkPair(name, z, t);
      return mul(v, (2 * c(z)) * (reduction === 'sum' ? 1 : 1 / z.shape[0]));
    },
    sampleTargets: (z, rng) => {
      // -log N(y; z, σ²I) = ||y - z||²/(2σ²) + const matches c·||z - y||² when σ² = 1/(2c).
      const zc = stopGradient(z);
      return add(zc, rng.normal(zc.shape, { std: Math.sqrt(1 / (2 * c(zc))), dtype: zc.dtype }));
    },
  };
}

/**
 * Softmax cross-entropy with logits `[N, C]`; targets are class indices `[N]` (integers stored
 * as floats) or probability rows `[N, C]`. Mean over examples by default.
 */
export function softmaxCrossEntropy(options: { reduction?: Reduction } = {}): Loss {
  const reduction = checkReduction('softmaxCrossEntropy', options.reduction ?? 'mean');
  const name = 'softmaxCrossEntropy';
  const check = (z: Tensor, t: Tensor): void => {
    checkPair(name, z, t, false);
    if (z.ndim !== 2) throw new RangeError(`${name}: logits must be [N, C], got ${fmtShape(z.shape)}`);
    const asIndex = t.ndim === 1 && t.shape[0] === z.shape[0];
    if (!asIndex && !sameShape(t.shape, z.shape)) {
      throw new RangeError(`${name}: targets must be class indices [${z.shape[0]}] or probabilities ${fmtShape(z.shape)}, got ${fmtShape(t.shape)}`);
    }
    if (asIndex) {
      const C = z.shape[1];
      stopGradient(t).data.forEach((v, i) => {
        if (!Number.isInteger(v) || v < 0 || v >= C) throw new RangeError(`${name}: target ${v} at position ${i} is not a class index in [0, ${C})`);
      });
    }
  };
  const perExample = (z: Tensor, t: Tensor): Tensor => {
    check(z, t);
    const lp = logSoftmax(z, 1);
    if (t.ndim === 1) return neg(takeAlongAxis(lp, Array.from(stopGradient(t).data), 1));
    return neg(sum(mul(t, lp), 1));
  };
  return {
    name,
    reduction,
    value: (z, t) => {
      const l = perExample(z, t);
      return reduction === 'sum' ? sum(l) : mean(l);
    },
    perExample,
    batchWeight: (n) => (reduction === 'sum' ? 1 : 1 / n),
    outputHvp: (z, t, v) => {
      check(z, t);
      // Per example: (diag(p) - p p^T) v.
      const p = softmax(z, 1);
      const hv = mul(p, sub(v, sum(mul(p, v), 1, true)));
      return reduction === 'sum' ? hv : div(hv, z.shape[0]);
    },
    sampleTargets: (z, rng) => {
      const p = softmax(stopGradient(z), 1);
      const [N, C] = p.shape;
      const out = new Float64Array(N);
      for (let i = 0; i < N; i++) {
        let u = rng.nextFloat();
        let k = 0;
        for (; k < C - 1; k++) {
          u -= p.data[i * C + k];
          if (u < 0) break;
        }
        out[i] = k;
      }
      return new Tensor(z.dtype === 'float32' ? Float32Array.from(out) : out, [N]);
    },
  };
}

/**
 * Sigmoid binary cross-entropy with logits, targets in [0, 1] of the same shape — a Bernoulli
 * likelihood per element. Mean over all elements by default.
 */
export function sigmoidBinaryCrossEntropy(options: { reduction?: Reduction } = {}): Loss {
  const reduction = checkReduction('sigmoidBinaryCrossEntropy', options.reduction ?? 'mean');
  const name = 'sigmoidBinaryCrossEntropy';
  const c = (z: Tensor) => (reduction === 'mean' ? 1 / perExampleSize(z) : 1);
  // Stable form: softplus(z) - t·z = max(z, 0) - t·z + log(1 + e^-|z|).
  const elementwise = (z: Tensor, t: Tensor) => sub(softplus(z), mul(t, z));
  return {
    name,
    reduction,
    value: (z, t) => {
      checkPair(name, z, t);
      return reduce(elementwise(z, t), reduction);
    },
    perExample: (z, t) => mul(sumNonBatch(elementwise(...checkPair(name, z, t))), c(z)),
    batchWeight: (n) => (reduction === 'sum' ? 1 : 1 / n),
    outputHvp: (z, t, v) => {
      checkPair(name, z, t);
      const s = sigmoid(z);
      return mul(mul(v, mul(s, sub(1, s))), c(z) * (reduction === 'sum' ? 1 : 1 / z.shape[0]));
    },
    sampleTargets: (z, rng) => {
      const s = sigmoid(stopGradient(z));
      const u = rng.uniform(s.shape, { dtype: s.dtype });
      return new Tensor(s.data.map((p, i) => (u.data[i] < p ? 1 : 0)), s.shape);
    },
  };
}

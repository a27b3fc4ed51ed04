/**
 * The initialization Martens & Sutskever (2011) gave their tanh RNNs on the pathological tasks:
 * sparse weights (each unit gets 15 non-zero incoming weights drawn from N(0, 1)), the recurrent
 * matrix rescaled to a chosen spectral radius (Sutskever et al. 2013 use 1.1), zero biases. A
 * radius near 1 lets a marked input survive the 30–50 steps to the answer; PyTorch's default
 * U(±1/√H) has radius ≈ 1/√3 at any H, so the marker's trace shrinks by ~0.6 a step.
 */
import type { DType } from '../kernels/types.js';
import { Tensor, allocate } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';
import type { RecurrentParams } from '../nn/recurrent.js';

/** Non-zero incoming weights per unit in the sparse initialization. */
export const SPARSE_FAN_IN = 15;

/** `[rows, cols]` with min(fanIn, cols) entries of each row drawn from N(0, 1) at distinct columns, the rest zero. */
export function sparseMatrix(rng: Rng, rows: number, cols: number, dtype: DType, fanIn = SPARSE_FAN_IN): Tensor {
  const d = allocate(dtype, rows * cols);
  const k = Math.min(fanIn, cols);
  const order = Array.from({ length: cols }, (_, j) => j);
  for (let r = 0; r < rows; r++) {
    // The first k of a partial Fisher–Yates shuffle: k distinct columns.
    for (let j = 0; j < k; j++) {
      const m = j + rng.nextInt(cols - j);
      [order[j], order[m]] = [order[m], order[j]];
      d[r * cols + order[j]] = rng.nextNormal();
    }
  }
  return new Tensor(d, [rows, cols]);
}

/**
 * The spectral radius of a square matrix (largest |eigenvalue|), by power iteration in float64:
 * the growth rate of ‖Wᵏx‖ over `iterations` steps after a burn-in, which converges for complex
 * leading eigenvalues too (where the iterate rotates rather than settles).
 */
export function spectralRadius(w: Tensor, iterations = 200): number {
  const n = w.shape[0];
  if (w.ndim !== 2 || w.shape[1] !== n) throw new RangeError(`spectralRadius: needs a square matrix, got [${w.shape.join(', ')}]`);
  let x = new Float64Array(n).map((_, i) => 1 + ((i * 7919) % 13) / 13);
  let logGrowth = 0;
  const burnIn = iterations / 2;
  for (let it = 0; it < iterations; it++) {
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += w.data[i * n + j] * x[j];
      y[i] = s;
    }
    const norm = Math.hypot(...y);
    if (norm === 0) return 0;
    if (it >= burnIn) logGrowth += Math.log(norm);
    x = y.map((v) => v / norm);
  }
  return Math.exp(logGrowth / (iterations - burnIn));
}

/** M&S's initialization of a tanh RNN's parameters: sparse input and recurrent weights, the latter at spectral radius `radius`, zero biases. */
export function sparseRecurrentInit(rng: Rng, p: RecurrentParams, radius: number): RecurrentParams {
  if (!(radius > 0)) throw new RangeError(`sparseRecurrentInit: radius must be positive, got ${radius}`);
  const [h, f] = p.weight_ih.shape;
  const dtype = p.weight_ih.dtype;
  const wih = sparseMatrix(rng, h, f, dtype);
  const whh = sparseMatrix(rng, h, h, dtype);
  const scale = radius / spectralRadius(whh);
  for (let i = 0; i < whh.data.length; i++) whh.data[i] *= scale;
  const out: RecurrentParams = { weight_ih: wih, weight_hh: whh };
  if (p.bias_ih !== undefined) out.bias_ih = new Tensor(allocate(dtype, p.bias_ih.size), p.bias_ih.shape);
  if (p.bias_hh !== undefined) out.bias_hh = new Tensor(allocate(dtype, p.bias_hh.size), p.bias_hh.shape);
  return out;
}

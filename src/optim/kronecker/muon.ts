/**
 * Muon (Jordan, Jin, Boza, You, Cesista, Newhouse & Bernstein 2024, "Muon: an optimizer for
 * hidden layers in neural networks"): momentum orthogonalized by a quintic Newton–Schulz
 * iteration — Shampoo's L^(-1/4) G R^(-1/4) = U Vᵀ without accumulation.
 *
 * For each weight of rank ≥ 2 viewed as a matrix W (rows × cols; a conv kernel [out, in, kh, kw]
 * as [out, in·kh·kw]):
 *   m ← μ m + (1 − μ) g,  u = (1 − μ) g + μ m (Nesterov, default) or m,
 *   O = NS₅(u) ≈ U Vᵀ of u's SVD,  W ← W − lr · (max(1, rows/cols))^½ · O − lr · wd · W.
 * NS₅: X ← u / (‖u‖_F + 1e-7), transposed when rows > cols (so X Xᵀ is the smaller Gram matrix),
 * then five times A = X Xᵀ, X ← a X + (b A + c A²) X with (a, b, c) = (3.4445, −4.7750, 2.0315);
 * each singular value σ ∈ [0.01, 1] of the normalized input ends in [0.68, 1.14]. The scale
 * max(1, rows/cols)^½ is the reference code's variant (rows = output features), which gives tall
 * matrices the same per-entry update size as wide ones.
 * The other parameters (biases, norm scales; and the first and last weights with
 * `adamForFirstLast`, as the authors prescribe for embeddings and classifier heads) take Adam
 * with its own learning rate `adamLr`.
 * Memory: one momentum buffer per Muon weight, two Adam moments for the rest. Cost per step:
 * 3 GEMMs per NS step on the smaller Gram side, 15 in all, in float64.
 */
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { Tensor, allocate } from '../../tensor/tensor.js';
import { createOptimizer } from '../optimizer.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkBoolean, checkKnownOptions, checkNumber, checkSchedule, evalSchedule } from '../validate.js';
import { frobeniusNorm, matmul, transpose } from './dense.js';

/** Options of `muon` (defaults of the reference implementation). */
export interface MuonOptions {
  /** Learning rate of the orthogonalized weights (default 0.02). */
  lr?: Schedule;
  /** Momentum μ (default 0.95) and Nesterov's look-ahead (default true). */
  momentum?: number;
  nesterov?: boolean;
  /** Newton–Schulz steps (default 5). */
  nsSteps?: number;
  /** Decoupled weight decay for every parameter, scaled by its learning rate (default 0). */
  weightDecay?: Schedule;
  /** Adam for the other parameters: learning rate (default 3e-4), β₁ (0.9), β₂ (0.95), ε (1e-8). */
  adamLr?: Schedule;
  adamB1?: number;
  adamB2?: number;
  adamEps?: number;
  /** Give the first and the last weight matrices (in parameter order) to Adam too (default false). */
  adamForFirstLast?: boolean;
}

/** Per tensor: a Muon momentum buffer or Adam moments. */
export type MuonLeafState =
  | { readonly kind: 'muon'; readonly trace: Tensor; [key: string]: PyTree }
  | { readonly kind: 'adam'; readonly mu: Tensor; readonly nu: Tensor; [key: string]: PyTree };

/** State of Muon's transform. */
export interface MuonState {
  /** Steps taken (Adam's bias correction). */
  readonly count: number;
  readonly leaves: readonly MuonLeafState[];
  [key: string]: PyTree;
}

const A = 3.4445;
const B = -4.7750;
const C = 2.0315;

/**
 * The quintic Newton–Schulz iteration on a rows × cols matrix (row-major): an approximation of
 * U Vᵀ from the SVD G = U S Vᵀ, with singular values in about [0.68, 1.14] (see the file's
 * comment). Returns a fresh float64 array; the zero matrix gives zero.
 */
export function newtonSchulz(g: ArrayLike<number>, rows: number, cols: number, steps = 5): Float64Array {
  const norm = frobeniusNorm(g);
  const tall = rows > cols;
  let x: Float64Array = Float64Array.from(g, (v) => v / (norm + 1e-7));
  if (norm === 0 || !Number.isFinite(norm)) return new Float64Array(rows * cols);
  let r = rows;
  let c = cols;
  if (tall) {
    x = transpose(x, rows, cols);
    r = cols;
    c = rows;
  }
  for (let s = 0; s < steps; s++) {
    const a = matmul(x, x, r, c, r, false, true);
    const aa = matmul(a, a, r, r, r);
    for (let i = 0; i < a.length; i++) aa[i] = B * a[i] + C * aa[i];
    const bx = matmul(aa, x, r, r, c);
    for (let i = 0; i < x.length; i++) bx[i] += A * x[i];
    x = bx;
  }
  return tall ? transpose(x, r, c) : x;
}

function matrixShape(shape: readonly number[]): [number, number] | null {
  if (shape.length < 2) return null;
  return [shape[0], shape.slice(1).reduce((p, q) => p * q, 1)];
}

/** Muon as a transform, learning rates included (it has two): see the file's comment. */
export function muonTransform<P extends PyTree>(options: MuonOptions = {}): Transform<MuonState, P> {
  const owner = 'muon';
  checkKnownOptions(owner, options, ['lr', 'momentum', 'nesterov', 'nsSteps', 'weightDecay', 'adamLr', 'adamB1', 'adamB2', 'adamEps', 'adamForFirstLast']);
  const o = resolve(owner, options);
  const muonLeaves = (params: PyTree): boolean[] => {
    const leaves = treeLeaves(params);
    const matrices = leaves.map((t, i) => (matrixShape(t.shape) !== null && t.size > 0 ? i : -1)).filter((i) => i >= 0);
    const skip = o.adamForFirstLast && matrices.length > 0 ? new Set([matrices[0], matrices[matrices.length - 1]]) : new Set<number>();
    return leaves.map((_, i) => matrices.includes(i) && !skip.has(i));
  };
  const zeros = (t: Tensor) => new Tensor(allocate(t.dtype, t.size), t.shape);
  return {
    name: 'muon',
    init: (params) => ({
      count: 0,
      leaves: treeLeaves(params).map((t, i): MuonLeafState => (muonLeaves(params)[i] ? { kind: 'muon', trace: zeros(t) } : { kind: 'adam', mu: zeros(t), nu: zeros(t) })),
    }),
    update: (g, state, params, ctx) => {
      const gl = treeLeaves(g);
      const pl = treeLeaves(params);
      if (state.leaves.length !== gl.length) throw new RangeError(`${owner}: the state has ${state.leaves.length} tensors, the gradient ${gl.length}; build the state with init(params) for these parameters`);
      const count = state.count + 1;
      const lr = evalSchedule('lr', o.lr, ctx.step);
      const adamLr = evalSchedule('adamLr', o.adamLr, ctx.step);
      const wd = evalSchedule('weightDecay', o.weightDecay, ctx.step);
      const c1 = 1 - Math.pow(o.adamB1, count);
      const c2 = 1 - Math.pow(o.adamB2, count);
      const mu = o.momentum;
      const out: Tensor[] = [];
      const next = gl.map((t, i): MuonLeafState => {
        const s = state.leaves[i];
        const w = pl[i].data;
        const upd = allocate(t.dtype, t.size);
        const kindOk = s.kind === 'muon' ? s.trace.size === t.size && matrixShape(t.shape) !== null : s.mu.size === t.size;
        if (!kindOk) throw new RangeError(`${owner}: tensor ${i} (shape [${t.shape.join(', ')}]) does not match the state; build the state with init(params) for these parameters`);
        if (s.kind === 'muon') {
          const [rows, cols] = matrixShape(t.shape) as [number, number];
          const trace = allocate(t.dtype, t.size);
          const look = new Float64Array(t.size);
          for (let k = 0; k < t.size; k++) {
            trace[k] = mu * s.trace.data[k] + (1 - mu) * t.data[k];
            look[k] = o.nesterov ? (1 - mu) * t.data[k] + mu * trace[k] : trace[k];
          }
          const orth = newtonSchulz(look, rows, cols, o.nsSteps);
          const k0 = lr * Math.sqrt(Math.max(1, rows / cols));
          for (let k = 0; k < t.size; k++) upd[k] = -k0 * orth[k] - lr * wd * w[k];
          out.push(new Tensor(upd, t.shape));
          return { kind: 'muon', trace: new Tensor(trace, t.shape) };
        }
        const m = allocate(t.dtype, t.size);
        const v = allocate(t.dtype, t.size);
        for (let k = 0; k < t.size; k++) {
          const x = t.data[k];
          m[k] = o.adamB1 * s.mu.data[k] + (1 - o.adamB1) * x;
          v[k] = o.adamB2 * s.nu.data[k] + (1 - o.adamB2) * x * x;
          upd[k] = -adamLr * ((m[k] / c1) / (Math.sqrt(v[k] / c2) + o.adamEps) + wd * w[k]);
        }
        out.push(new Tensor(upd, t.shape));
        return { kind: 'adam', mu: new Tensor(m, t.shape), nu: new Tensor(v, t.shape) };
      });
      return [treeUnflatten(g, out), { count, leaves: next }];
    },
  };
}

function resolve(owner: string, options: MuonOptions) {
  return {
    lr: checkSchedule(owner, 'lr', options.lr ?? 0.02, { min: 0 }),
    momentum: checkNumber(owner, 'momentum', options.momentum ?? 0.95, { min: 0, max: 1, maxExclusive: true }),
    nesterov: checkBoolean(owner, 'nesterov', options.nesterov ?? true),
    nsSteps: checkNumber(owner, 'nsSteps', options.nsSteps ?? 5, { min: 1, max: 100, integer: true }),
    weightDecay: checkSchedule(owner, 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    adamLr: checkSchedule(owner, 'adamLr', options.adamLr ?? 3e-4, { min: 0 }),
    adamB1: checkNumber(owner, 'adamB1', options.adamB1 ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    adamB2: checkNumber(owner, 'adamB2', options.adamB2 ?? 0.95, { min: 0, max: 1, maxExclusive: true }),
    adamEps: checkNumber(owner, 'adamEps', options.adamEps ?? 1e-8, { min: 0, minExclusive: true }),
    adamForFirstLast: checkBoolean(owner, 'adamForFirstLast', options.adamForFirstLast ?? false),
  };
}

/** Muon with Adam on the non-matrix parameters (see the file's comment). */
export function muon<P extends PyTree = PyTree>(options: MuonOptions = {}): Optimizer<PyTree, P> {
  const t = muonTransform<P>(options);
  return createOptimizer('muon', t as Transform<PyTree, P>, resolve('muon', options));
}

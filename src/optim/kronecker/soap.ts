/**
 * SOAP (Vyas, Morwani, Zhao, Shapira, Brandfonbrener, Janson & Kakade 2024, "SOAP: improving and
 * stabilizing Shampoo using Adam", Algorithm 3): Adam run in the eigenbasis of Shampoo's factors.
 *
 * Per matrix-shaped tensor (reshape and blocks as Shampoo: `blocks.ts`), per block with gradient G:
 * 1. L ← β L + (1 − β) G Gᵀ, R ← β R + (1 − β) Gᵀ G (β = `statisticsDecay`, default b2);
 * 2. the bases Q_L, Q_R: at the first step the eigenvectors of L, R (eigh); then every
 *    `preconditionPeriod` steps one step of orthogonal iteration from the previous basis,
 *    Q ← qr(L Q) with Q's columns first sorted by the estimated eigenvalues diag(Qᵀ L Q),
 *    largest first (the paper's Algorithm 4); `basisRefresh: 'eigh'` recomputes them exactly;
 * 3. when a basis changes the moments move with it: with the rotations O_L = Q_L,oldᵀ Q_L,new and
 *    O_R likewise, M ← O_Lᵀ M O_R (exact: the same first moment in the new coordinates) and
 *    V ← (O_L∘O_L)ᵀ V (O_R∘O_R) (the variances of the new coordinates if the old ones were
 *    independent: non-negative, unchanged when the basis is);
 * 4. Adam in the rotated coordinates, G' = Q_Lᵀ G Q_R: M ← b1 M + (1 − b1) G', V ← b2 V + (1 − b2) G'²,
 *    U' = (M / (1 − b1ᵗ)) / (sqrt(V / (1 − b2ᵗ)) + ε), and the update Q_L U' Q_Rᵀ.
 * Data parallel (`distributedObjective`): every rank holds the same statistics (they come from
 * the all-reduced gradient); each block's new bases are computed on one rank, round-robin, and
 * broadcast (`mapRoundRobin`). Rank-0/1 tensors take plain Adam. Then decoupled weight decay and −lr. All state is float64
 * (`inFloat64`). Memory per block: L, R, Q_L, Q_R (2(m² + n²)) and M, V (2mn). Cost per step: six
 * GEMMs per block; per refresh two QR factorizations (or eigendecompositions), O(m³ + n³).
 */
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { Tensor, allocate } from '../../tensor/tensor.js';
import { createOptimizer } from '../optimizer.js';
import { addDecayedWeights, chain, scaleByLearningRate } from '../transforms.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkChoice, checkKnownOptions, checkNumber, checkSchedule } from '../validate.js';
import { matrixLayout, readBlock, writeBlock } from './blocks.js';
import { gram, identity, isFiniteArray, matmul, qrOrthogonal, symmetricEigen } from './dense.js';
import { inFloat64 } from './float64-state.js';
import { communicatorOf, mapRoundRobin } from '../../distributed/round-robin.js';

/** How SOAP refreshes its eigenbases after the first eigendecomposition. */
export type BasisRefresh = 'power-qr' | 'eigh';

/** Options of `soap` (defaults from the paper's code). */
export interface SoapOptions {
  /** Learning rate (default 3e-3). */
  lr?: Schedule;
  /** Adam's β₁, β₂ (defaults 0.95, 0.95) and ε (1e-8). */
  b1?: number;
  b2?: number;
  eps?: number;
  /** EMA decay of the factors L, R (default: b2). */
  statisticsDecay?: number;
  /** Bases are refreshed every this many steps (default 10). */
  preconditionPeriod?: number;
  /** 'power-qr' (default: one orthogonal-iteration step) or 'eigh' (exact every refresh). */
  basisRefresh?: BasisRefresh;
  /** Sides longer than this are split into independent blocks (default 512). */
  blockSize?: number;
  /** Decoupled weight decay, scaled by lr (default 0). */
  weightDecay?: Schedule;
}

/** One block's factors, eigenbases and Adam moments (in the rotated coordinates). */
export interface SoapBlockState {
  readonly left: Tensor;
  readonly right: Tensor;
  readonly qLeft: Tensor;
  readonly qRight: Tensor;
  readonly mu: Tensor;
  readonly nu: Tensor;
  [key: string]: PyTree;
}

/** Per tensor: blocks in an eigenbasis, or plain Adam moments for rank-0/1 tensors. */
export type SoapLeafState =
  | { readonly kind: 'eigenbasis'; readonly blocks: readonly SoapBlockState[]; [key: string]: PyTree }
  | { readonly kind: 'adam'; readonly mu: Tensor; readonly nu: Tensor; [key: string]: PyTree };

/** State of `soapTransform`. */
export interface SoapState {
  readonly count: number;
  readonly leaves: readonly SoapLeafState[];
  [key: string]: PyTree;
}

interface Resolved {
  b1: number;
  b2: number;
  eps: number;
  statisticsDecay: number;
  preconditionPeriod: number;
  basisRefresh: BasisRefresh;
  blockSize: number;
}

function tensorOf(data: ArrayLike<number>, shape: number[]): Tensor {
  const t = new Tensor(allocate('float64', data.length), shape);
  t.data.set(data);
  return t;
}

/** Eigenvectors of symmetric A as columns, ordered by eigenvalue, largest first. */
export function eigenbasis(a: Float64Array, n: number): Float64Array {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(a[i]));
  if (s === 0) return identity(n);
  const { vectors } = symmetricEigen(a.map((v) => v / s), n);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) q[i * n + j] = vectors[i * n + (n - 1 - j)];
  return q;
}

/**
 * One orthogonal-iteration step from basis Q (columns) towards the eigenvectors of symmetric A:
 * sort Q's columns by diag(Qᵀ A Q), largest first, then Q ← qr(A Q), each column's sign kept
 * as the sorted Q's.
 */
export function powerQrStep(a: Float64Array, q: Float64Array, n: number): Float64Array {
  const aq = matmul(a, q, n, n, n);
  const est = Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += q[i * n + j] * aq[i * n + j];
    return s;
  });
  const order = est.map((_, j) => j).sort((x, y) => est[y] - est[x] || x - y);
  const sorted = new Float64Array(n * n);
  const p = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      sorted[i * n + j] = q[i * n + order[j]];
      p[i * n + j] = aq[i * n + order[j]];
    }
  }
  const out = qrOrthogonal(p, n);
  for (let j = 0; j < n; j++) {
    let d = 0;
    for (let i = 0; i < n; i++) d += out[i * n + j] * sorted[i * n + j];
    if (d < 0) for (let i = 0; i < n; i++) out[i * n + j] = -out[i * n + j];
  }
  return out;
}

function resolve(owner: string, o: SoapOptions): Resolved {
  const b2 = checkNumber(owner, 'b2', o.b2 ?? 0.95, { min: 0, max: 1, maxExclusive: true });
  return {
    b1: checkNumber(owner, 'b1', o.b1 ?? 0.95, { min: 0, max: 1, maxExclusive: true }),
    b2,
    eps: checkNumber(owner, 'eps', o.eps ?? 1e-8, { min: 0, minExclusive: true }),
    statisticsDecay: checkNumber(owner, 'statisticsDecay', o.statisticsDecay ?? b2, { min: 0, max: 1, maxExclusive: true }),
    preconditionPeriod: checkNumber(owner, 'preconditionPeriod', o.preconditionPeriod ?? 10, { min: 1, integer: true }),
    basisRefresh: checkChoice(owner, 'basisRefresh', o.basisRefresh ?? 'power-qr', ['power-qr', 'eigh'] as const),
    blockSize: checkNumber(owner, 'blockSize', o.blockSize ?? 512, { min: 1, integer: true }),
  };
}

function squared(a: Float64Array): Float64Array {
  return a.map((v) => v * v);
}

/** SOAP's scaling as a transform (no learning rate): see the file's comment. */
export function soapTransform<P extends PyTree>(options: Omit<SoapOptions, 'lr' | 'weightDecay'> = {}): Transform<SoapState, P> {
  checkKnownOptions('soapTransform', options, ['b1', 'b2', 'eps', 'statisticsDecay', 'preconditionPeriod', 'basisRefresh', 'blockSize']);
  return transform('soapTransform', resolve('soapTransform', options));
}

function transform<P extends PyTree>(owner: string, o: Resolved): Transform<SoapState, P> {
  const adamStep = (g: ArrayLike<number>, mu: ArrayLike<number>, nu: ArrayLike<number>, c1: number, c2: number) => {
    const m = new Float64Array(g.length);
    const v = new Float64Array(g.length);
    const u = new Float64Array(g.length);
    for (let i = 0; i < g.length; i++) {
      m[i] = o.b1 * mu[i] + (1 - o.b1) * g[i];
      v[i] = o.b2 * nu[i] + (1 - o.b2) * g[i] * g[i];
      u[i] = (m[i] / c1) / (Math.sqrt(v[i] / c2) + o.eps);
    }
    return { m, v, u };
  };
  return {
    name: 'soap',
    init: (params) => ({
      count: 0,
      leaves: treeLeaves(params).map((p): SoapLeafState => {
        const layout = matrixLayout(p.shape, o.blockSize);
        if (layout === null) return { kind: 'adam', mu: tensorOf(new Float64Array(p.size), [...p.shape]), nu: tensorOf(new Float64Array(p.size), [...p.shape]) };
        return {
          kind: 'eigenbasis',
          blocks: layout.blocks.map((b) => ({
            left: tensorOf(new Float64Array(b.rows * b.rows), [b.rows, b.rows]),
            right: tensorOf(new Float64Array(b.cols * b.cols), [b.cols, b.cols]),
            qLeft: tensorOf(identity(b.rows), [b.rows, b.rows]),
            qRight: tensorOf(identity(b.cols), [b.cols, b.cols]),
            mu: tensorOf(new Float64Array(b.rows * b.cols), [b.rows, b.cols]),
            nu: tensorOf(new Float64Array(b.rows * b.cols), [b.rows, b.cols]),
          })),
        };
      }),
    }),
    update: (updates, state, _params, ctx) => {
      const leaves = treeLeaves(updates);
      if (state.leaves.length !== leaves.length) throw new RangeError(`${owner}: the state has ${state.leaves.length} tensors, the gradient ${leaves.length}; build the state with init(params) for these parameters`);
      const count = state.count + 1;
      const c1 = 1 - Math.pow(o.b1, count);
      const c2 = 1 - Math.pow(o.b2, count);
      const refresh = count === 1 || count % o.preconditionPeriod === 0;
      const w = 1 - o.statisticsDecay;
      // 1. Every block's statistics (all ranks: the gradient is the same everywhere).
      const stats = leaves.map((g, i) => {
        const s = state.leaves[i];
        const layout = matrixLayout(g.shape, o.blockSize);
        if (layout === null || s.kind === 'adam') {
          if (layout !== null || s.kind !== 'adam' || s.mu.size !== g.size) throw new RangeError(`${owner}: tensor ${i} (shape [${g.shape.join(', ')}]) does not match the state; build the state with init(params) for these parameters`);
          return null;
        }
        if (s.blocks.length !== layout.blocks.length || s.blocks.some((b, j) => b.mu.shape[0] !== layout.blocks[j].rows || b.mu.shape[1] !== layout.blocks[j].cols)) {
          throw new RangeError(`${owner}: tensor ${i} (shape [${g.shape.join(', ')}]) does not match the state's blocks; build the state with init(params) for these parameters`);
        }
        return layout.blocks.map((b, j) => {
          const bs = s.blocks[j];
          const gb = readBlock(g.data, layout.cols, b);
          let left = gram(gb, b.rows, b.cols, 'left').map((v, k) => o.statisticsDecay * bs.left.data[k] + w * v);
          let right = gram(gb, b.rows, b.cols, 'right').map((v, k) => o.statisticsDecay * bs.right.data[k] + w * v);
          if (!isFiniteArray(left) || !isFiniteArray(right)) {
            ctx.events.push(`${owner}: statistics of tensor ${i} overflowed float64; kept the previous ones`);
            left = Float64Array.from(bs.left.data);
            right = Float64Array.from(bs.right.data);
          }
          return { gb, left, right, m: b.rows, n: b.cols, bs };
        });
      });
      // 2. New bases, when due: under a data-parallel objective each block's pair is computed on
      // one rank and broadcast (round-robin); the statistics are identical on every rank.
      const items = stats.flatMap((blocks) => blocks ?? []);
      const exact = count === 1 || o.basisRefresh === 'eigh';
      const bases = !refresh ? [] : mapRoundRobin(items, (it) => ({
        qLeft: tensorOf(exact ? eigenbasis(it.left, it.m) : powerQrStep(it.left, it.bs.qLeft.data as Float64Array, it.m), [it.m, it.m]),
        qRight: tensorOf(exact ? eigenbasis(it.right, it.n) : powerQrStep(it.right, it.bs.qRight.data as Float64Array, it.n), [it.n, it.n]),
      }), communicatorOf(ctx.objective));
      // 3. Adam in the rotated coordinates.
      const out: Tensor[] = [];
      let item = 0;
      const next = leaves.map((g, i): SoapLeafState => {
        const s = state.leaves[i];
        const blockStats = stats[i];
        if (blockStats === null || s.kind === 'adam') {
          const a = s as Extract<SoapLeafState, { kind: 'adam' }>;
          const { m, v, u } = adamStep(g.data, a.mu.data, a.nu.data, c1, c2);
          out.push(tensorOf(u, [...g.shape]).astype(g.dtype));
          return { kind: 'adam', mu: tensorOf(m, [...g.shape]), nu: tensorOf(v, [...g.shape]) };
        }
        const layout = matrixLayout(g.shape, o.blockSize) as NonNullable<ReturnType<typeof matrixLayout>>;
        const result = allocate(g.dtype, g.size);
        const blocks = layout.blocks.map((b, j): SoapBlockState => {
          const { gb, left, right, m, n, bs } = blockStats[j];
          let qL = bs.qLeft.data as Float64Array;
          let qR = bs.qRight.data as Float64Array;
          let mu = bs.mu.data as Float64Array;
          let nu = bs.nu.data as Float64Array;
          if (refresh) {
            const nL = bases[item].qLeft.data as Float64Array;
            const nR = bases[item].qRight.data as Float64Array;
            const oL = matmul(qL, nL, m, m, m, true, false);
            const oR = matmul(qR, nR, n, n, n, true, false);
            mu = matmul(matmul(oL, mu, m, m, n, true, false), oR, m, n, n);
            nu = matmul(matmul(squared(oL), nu, m, m, n, true, false), squared(oR), m, n, n);
            qL = nL;
            qR = nR;
          }
          item++;
          const rotated = matmul(matmul(qL, gb, m, m, n, true, false), qR, m, n, n);
          const step = adamStep(rotated, mu, nu, c1, c2);
          writeBlock(result, layout.cols, b, matmul(matmul(qL, step.u, m, m, n), qR, m, n, n, false, true));
          return {
            left: tensorOf(left, [m, m]), right: tensorOf(right, [n, n]), qLeft: tensorOf(qL, [m, m]), qRight: tensorOf(qR, [n, n]),
            mu: tensorOf(step.m, [m, n]), nu: tensorOf(step.v, [m, n]),
          };
        });
        out.push(new Tensor(result, g.shape));
        return { kind: 'eigenbasis', blocks };
      });
      return [treeUnflatten(updates, out), { count, leaves: next }];
    },
  };
}

/** SOAP: `inFloat64(chain(soapTransform, decoupled weight decay, −lr))`; see the file's comment. */
export function soap<P extends PyTree = PyTree>(options: SoapOptions = {}): Optimizer<PyTree, P> {
  const owner = 'soap';
  checkKnownOptions(owner, options, ['lr', 'b1', 'b2', 'eps', 'statisticsDecay', 'preconditionPeriod', 'basisRefresh', 'blockSize', 'weightDecay']);
  const r = resolve(owner, options);
  const o = {
    ...r,
    lr: checkSchedule(owner, 'lr', options.lr ?? 3e-3, { min: 0 }),
    weightDecay: checkSchedule(owner, 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
  };
  return createOptimizer(owner, inFloat64(chain<P>(transform<P>(owner, r) as Transform<PyTree, P>, addDecayedWeights<P>(o.weightDecay), scaleByLearningRate<P>(o.lr))), o);
}

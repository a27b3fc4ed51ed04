/**
 * Shampoo (Gupta, Koren & Singer, ICML 2018, Algorithm 1), with the practical parts of
 * Anil et al. 2020 ("Scalable second order optimization for deep learning") and Distributed
 * Shampoo (Shi et al. 2023): blocking, roots every k steps, grafting.
 *
 * Per tensor viewed as a matrix G (m×n; see `blocks.ts` for the reshape and the blocking), per
 * block: statistics L ← β L + w G Gᵀ, R ← β R + w Gᵀ G (β = `statisticsDecay`; β = 1 is the
 * paper's sum with w = 1, else w = 1 − β), and the preconditioned direction L^(-1/p) G R^(-1/p).
 * The roots are recomputed every `preconditionPeriod` steps (the first time after that many
 * gradients), in float64, by an eigendecomposition whose eigenvalues are floored at
 * `eps · λ_max` (rank-deficient or zero statistics give finite roots), or by the coupled Newton
 * iteration (`rootMethod: 'newton'`, with the ridge `eps · ‖·‖_F` in the floor's place).
 * p = `rootOrder`, default 4 = 2 × the rank of the matrix view (the paper's 2k for order-k
 * tensors). Until the first roots exist, and always for rank-0/1 tensors (biases), the step is
 * the grafting method's own.
 *
 * Data parallel (an objective from `distributedObjective`): the statistics come from the
 * all-reduced gradient, so they are identical on every rank; the roots of each block are computed
 * on one rank, round-robin, and broadcast (`mapRoundRobin`, as Distributed Shampoo does).
 *
 * The optimizer: `inFloat64(chain(graft(shampooPreconditioner, adam), emaMomentum, decoupled
 * weight decay, −lr))`. Memory per block: 2 factors and 2 roots (2·(m² + n²)), plus the
 * grafting method's state and the momentum buffer. Cost: two GEMMs per block for the statistics
 * and two for the direction each step; two eigendecompositions (O(m³ + n³)) every period.
 */
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { Tensor, allocate } from '../../tensor/tensor.js';
import { createOptimizer } from '../optimizer.js';
import { graft, type DirectionTransform } from '../graft.js';
import { addDecayedWeights, chain, scale, scaleByAdagrad, scaleByAdam, scaleByLearningRate, scaleByRms } from '../transforms.js';
import type { Optimizer, Schedule, Transform } from '../types.js';
import { checkBoolean, checkChoice, checkKnownOptions, checkNumber, checkSchedule } from '../validate.js';
import { matrixLayout, readBlock, writeBlock, type MatrixLayout } from './blocks.js';
import { gram, identity, inverseRootEigen, inverseRootNewton, isFiniteArray, matmul } from './dense.js';
import { emaMomentum } from './ema-momentum.js';
import { inFloat64 } from './float64-state.js';
import { communicatorOf, mapRoundRobin } from '../../distributed/round-robin.js';

/** How Shampoo's inverse roots are computed. */
export type RootMethod = 'eigh' | 'newton';

/** Options of the preconditioner alone (the direction `graft` scales). */
export interface ShampooPreconditionerOptions {
  /** Sides longer than this are split into blocks with their own factors (default 512). */
  blockSize?: number;
  /** p of the roots L^(-1/p), R^(-1/p): an even integer ≥ 2, default 4. */
  rootOrder?: number;
  /** Roots are recomputed every this many steps (default 10). */
  preconditionPeriod?: number;
  /** β of the statistics: 1 (default) sums G Gᵀ as the paper; β < 1 is an EMA. */
  statisticsDecay?: number;
  /** Relative eigenvalue floor (eigh) or ridge (Newton), default 1e-6. */
  eps?: number;
  /** 'eigh' (default) or 'newton' (coupled Newton iteration; falls back to eigh if it fails). */
  rootMethod?: RootMethod;
}

/** Options of `shampoo`. */
export interface ShampooOptions extends ShampooPreconditionerOptions {
  /** Learning rate (default 1e-3: with Adam grafting the step has Adam's scale). */
  lr?: Schedule;
  /** EMA momentum μ on the grafted step, bias-corrected as Adam's first moment (default 0.9; 0 disables). */
  momentum?: number;
  /** Nesterov's look-ahead on the momentum (default false). */
  nesterov?: boolean;
  /** Decoupled weight decay, scaled by lr as AdamW (default 0). */
  weightDecay?: Schedule;
  /** Grafting method that sets each tensor's step size: 'adam' (default), 'rmsprop', 'adagrad', 'sgd'. */
  grafting?: GraftingMethod;
  /** β₂ of Adam/RMSprop grafting (default 0.999) and its ε (default 1e-8). */
  graftingBeta2?: number;
  graftingEps?: number;
}

/** The magnitudes `shampoo` can graft onto its direction. */
export type GraftingMethod = 'adam' | 'rmsprop' | 'adagrad' | 'sgd';

/** One block's factors and their current inverse roots (float64, square). */
export interface ShampooBlockState {
  readonly left: Tensor;
  readonly right: Tensor;
  readonly leftRoot: Tensor;
  readonly rightRoot: Tensor;
  [key: string]: PyTree;
}

/** State of `shampooPreconditioner`. */
export interface ShampooState {
  /** Gradients folded into the statistics. */
  readonly count: number;
  /** True once the first roots were computed. */
  readonly rootsReady: boolean;
  /** Per parameter tensor (in `treeLeaves` order), its blocks; empty for rank-0/1 tensors. */
  readonly leaves: readonly (readonly ShampooBlockState[])[];
  [key: string]: PyTree;
}

interface Resolved {
  blockSize: number;
  rootOrder: number;
  preconditionPeriod: number;
  statisticsDecay: number;
  eps: number;
  rootMethod: RootMethod;
}

function resolvePreconditioner(owner: string, o: ShampooPreconditionerOptions): Resolved {
  const rootOrder = o.rootOrder ?? 4;
  if (typeof rootOrder !== 'number' || !Number.isInteger(rootOrder) || rootOrder < 2 || rootOrder % 2 !== 0) {
    throw new RangeError(`${owner}: option 'rootOrder' must be an even integer >= 2 (2, 4, 6, ...), got ${String(rootOrder)}`);
  }
  return {
    blockSize: checkNumber(owner, 'blockSize', o.blockSize ?? 512, { min: 1, integer: true }),
    rootOrder,
    preconditionPeriod: checkNumber(owner, 'preconditionPeriod', o.preconditionPeriod ?? 10, { min: 1, integer: true }),
    statisticsDecay: checkNumber(owner, 'statisticsDecay', o.statisticsDecay ?? 1, { min: 0, max: 1, minExclusive: true }),
    eps: checkNumber(owner, 'eps', o.eps ?? 1e-6, { min: 0, max: 1, minExclusive: true, maxExclusive: true }),
    rootMethod: checkChoice(owner, 'rootMethod', o.rootMethod ?? 'eigh', ['eigh', 'newton'] as const),
  };
}

function square(data: Float64Array, n: number): Tensor {
  const t = new Tensor(allocate('float64', n * n), [n, n]);
  t.data.set(data);
  return t;
}

/**
 * Shampoo's inverse root of one factor: eigh with the relative floor, or coupled Newton (with
 * eigh as the fallback, reported in `events`, when it does not converge).
 */
export function shampooRoot(a: Float64Array, n: number, p: number, eps: number, method: RootMethod, events?: string[]): Float64Array {
  if (method === 'newton') {
    const r = inverseRootNewton(a, n, p, eps);
    if (r.converged) return r.root;
    events?.push(`shampoo: Newton root of a ${n}x${n} factor stopped at residual ${r.residual.toPrecision(3)} after ${r.iterations} iterations; used eigh`);
  }
  return inverseRootEigen(a, n, p, eps);
}

function layoutsOf(owner: string, tree: PyTree, blockSize: number): (MatrixLayout | null)[] {
  return treeLeaves(tree).map((t) => matrixLayout(t.shape, blockSize));
}

/**
 * Shampoo's direction as a transform: updates each matrix-shaped tensor to L^(-1/p) G R^(-1/p)
 * per block once roots exist; before that, and for rank-0/1 tensors, it passes the update
 * through and `preconditions` says false (so `graft` takes its magnitude's update).
 */
export function shampooPreconditioner<P extends PyTree>(options: ShampooPreconditionerOptions = {}): DirectionTransform<ShampooState, P> {
  checkKnownOptions('shampooPreconditioner', options, ['blockSize', 'rootOrder', 'preconditionPeriod', 'statisticsDecay', 'eps', 'rootMethod']);
  return preconditioner('shampooPreconditioner', resolvePreconditioner('shampooPreconditioner', options));
}

function preconditioner<P extends PyTree>(owner: string, o: Resolved): DirectionTransform<ShampooState, P> {
  const weight = o.statisticsDecay === 1 ? 1 : 1 - o.statisticsDecay;
  return {
    name: 'shampooPreconditioner',
    preconditions: (state, leaf) => state.rootsReady && state.leaves[leaf] !== undefined && state.leaves[leaf].length > 0,
    init: (params) => ({
      count: 0,
      rootsReady: false,
      leaves: layoutsOf(owner, params, o.blockSize).map((layout) => (layout === null ? [] : layout.blocks.map((b) => ({
        left: square(new Float64Array(b.rows * b.rows), b.rows),
        right: square(new Float64Array(b.cols * b.cols), b.cols),
        leftRoot: square(identity(b.rows), b.rows),
        rightRoot: square(identity(b.cols), b.cols),
      })))),
    }),
    update: (updates, state, _params, ctx) => {
      const leaves = treeLeaves(updates);
      if (state.leaves.length !== leaves.length) throw new RangeError(`${owner}: the state has ${state.leaves.length} tensors, the gradient ${leaves.length}; build the state with init(params) for these parameters`);
      const count = state.count + 1;
      const refresh = count % o.preconditionPeriod === 0;
      const rootsReady = state.rootsReady || refresh;
      // 1. Statistics of every block (all ranks: the gradient is the same everywhere).
      const layouts = leaves.map((g, i) => {
        const blocks = state.leaves[i];
        const layout = matrixLayout(g.shape, o.blockSize);
        if (layout !== null && (blocks.length !== layout.blocks.length || blocks.some((b, j) => b.left.shape[0] !== layout.blocks[j].rows || b.right.shape[0] !== layout.blocks[j].cols))) {
          throw new RangeError(`${owner}: tensor ${i} (shape [${g.shape.join(', ')}]) does not match the state's blocks; build the state with init(params) for these parameters`);
        }
        return layout;
      });
      const items: { leaf: number; block: number; gb: Float64Array; left: Float64Array; right: Float64Array }[] = [];
      leaves.forEach((g, i) => {
        const layout = layouts[i];
        if (layout === null) return;
        layout.blocks.forEach((b, j) => {
          const s = state.leaves[i][j];
          const gb = readBlock(g.data, layout.cols, b);
          let left = accumulate(s.left.data, gram(gb, b.rows, b.cols, 'left'), o.statisticsDecay, weight);
          let right = accumulate(s.right.data, gram(gb, b.rows, b.cols, 'right'), o.statisticsDecay, weight);
          if (!isFiniteArray(left) || !isFiniteArray(right)) {
            ctx.events.push(`${owner}: statistics of tensor ${i} overflowed float64; kept the previous ones`);
            left = Float64Array.from(s.left.data);
            right = Float64Array.from(s.right.data);
          }
          items.push({ leaf: i, block: j, gb, left, right });
        });
      });
      // 2. The roots, when due: under a data-parallel objective each block's pair is computed on
      // one rank and broadcast (round-robin, as Distributed Shampoo does); the statistics are
      // identical on every rank, so the result is the local computation's.
      const roots = !refresh ? [] : mapRoundRobin(items, (it) => {
        const b = (layouts[it.leaf] as MatrixLayout).blocks[it.block];
        const events: string[] = [];
        const leftRoot = square(shampooRoot(it.left, b.rows, o.rootOrder, o.eps, o.rootMethod, events), b.rows);
        const rightRoot = square(shampooRoot(it.right, b.cols, o.rootOrder, o.eps, o.rootMethod, events), b.cols);
        return { leftRoot, rightRoot, events };
      }, communicatorOf(ctx.objective));
      // 3. The direction.
      const nextLeaves: ShampooBlockState[][] = state.leaves.map(() => []);
      const results = leaves.map((g, i) => (layouts[i] !== null && rootsReady ? allocate(g.dtype, g.size) : null));
      items.forEach((it, k) => {
        const layout = layouts[it.leaf] as MatrixLayout;
        const b = layout.blocks[it.block];
        const s = state.leaves[it.leaf][it.block];
        const leftRoot = refresh ? roots[k].leftRoot : s.leftRoot;
        const rightRoot = refresh ? roots[k].rightRoot : s.rightRoot;
        if (refresh) ctx.events.push(...roots[k].events);
        const result = results[it.leaf];
        if (result !== null) {
          const lg = matmul(leftRoot.data as Float64Array, it.gb, b.rows, b.rows, b.cols);
          writeBlock(result, layout.cols, b, matmul(lg, rightRoot.data as Float64Array, b.rows, b.cols, b.cols));
        }
        nextLeaves[it.leaf].push({ left: square(it.left, b.rows), right: square(it.right, b.cols), leftRoot, rightRoot });
      });
      const out = leaves.map((g, i) => {
        const r = results[i];
        return r === null ? g : new Tensor(r, g.shape);
      });
      return [treeUnflatten(updates, out), { count, rootsReady, leaves: nextLeaves }];
    },
  };
}

function accumulate(old: ArrayLike<number>, add: Float64Array, decay: number, weight: number): Float64Array {
  const out = new Float64Array(add.length);
  for (let i = 0; i < out.length; i++) out[i] = decay * old[i] + weight * add[i];
  return out;
}

/** The magnitude transform of a grafting method. */
export function graftingMagnitude<P extends PyTree>(method: GraftingMethod, beta2: number, eps: number): Transform<PyTree, P> {
  switch (method) {
    case 'adam': return scaleByAdam<P>({ b1: 0, b2: beta2, eps }) as Transform<PyTree, P>;
    case 'rmsprop': return scaleByRms<P>({ decay: beta2, eps }) as Transform<PyTree, P>;
    case 'adagrad': return scaleByAdagrad<P>({ eps }) as Transform<PyTree, P>;
    case 'sgd': return scale<P>(1) as Transform<PyTree, P>;
  }
}

/**
 * Shampoo with grafting, momentum and decoupled weight decay (see the file's comment for the
 * update rule). Adam grafting uses β₁ = 0: the momentum is applied once, after grafting.
 */
export function shampoo<P extends PyTree = PyTree>(options: ShampooOptions = {}): Optimizer<PyTree, P> {
  const owner = 'shampoo';
  checkKnownOptions(owner, options, ['blockSize', 'rootOrder', 'preconditionPeriod', 'statisticsDecay', 'eps', 'rootMethod',
    'lr', 'momentum', 'nesterov', 'weightDecay', 'grafting', 'graftingBeta2', 'graftingEps']);
  const pre = resolvePreconditioner(owner, options);
  const o = {
    ...pre,
    lr: checkSchedule(owner, 'lr', options.lr ?? 1e-3, { min: 0 }),
    momentum: checkNumber(owner, 'momentum', options.momentum ?? 0.9, { min: 0, max: 1, maxExclusive: true }),
    nesterov: checkBoolean(owner, 'nesterov', options.nesterov ?? false),
    weightDecay: checkSchedule(owner, 'weightDecay', options.weightDecay ?? 0, { min: 0 }),
    grafting: checkChoice(owner, 'grafting', options.grafting ?? 'adam', ['adam', 'rmsprop', 'adagrad', 'sgd'] as const),
    graftingBeta2: checkNumber(owner, 'graftingBeta2', options.graftingBeta2 ?? 0.999, { min: 0, max: 1, maxExclusive: true }),
    graftingEps: checkNumber(owner, 'graftingEps', options.graftingEps ?? 1e-8, { min: 0, minExclusive: true }),
  };
  const transform = chain<P>(
    graft(preconditioner<P>(owner, pre), graftingMagnitude<P>(o.grafting, o.graftingBeta2, o.graftingEps)) as Transform<PyTree, P>,
    emaMomentum<P>(o.momentum, o.nesterov, true) as Transform<PyTree, P>,
    addDecayedWeights<P>(o.weightDecay),
    scaleByLearningRate<P>(o.lr),
  );
  return createOptimizer(owner, inFloat64(transform), o);
}

/**
 * Data parallelism through the objective: `distributedObjective(obj, options)` wraps the
 * objective of this rank's shard so that everything an optimizer asks of it — the loss, the
 * gradient, Hessian/Gauss-Newton/Fisher-vector products (and their operators), the empirical
 * Fisher's diagonal, Gram products and K-FAC's layer statistics — is the value on the union of
 * the shards. Every optimizer then works unchanged, and, since the reduced numbers are
 * bit-identical on every rank, every rank takes the same branch (line searches, damping, CG
 * termination) and holds the same parameters and state.
 *
 * Combination: the loss is `w(N)·Σ_i L_i` over all N examples, and rank r's objective is
 * `w(n_r)·Σ_{i∈r} L_i` (w is the loss's batch weight: 1/n for a mean), so the global value and
 * every derivative is Σ_r c_r·(rank r's), c_r = w(N)/w(n_r) — for a mean, the shard sizes'
 * weights n_r/N. K-FAC's statistics: each rank computes its shard's factor estimates (A weighted
 * by n_r/N, G from output gradients rescaled by √c_r), and `updateEstimator` all-reduces them in
 * one flat buffer per step before its EMA, so every rank folds the combined batch's factors in;
 * sampled targets are keyed by the example's global index (the shard's offset + its position,
 * `curvature/sampled-targets.ts`), so they are the single process's draws for the same examples.
 * The diagonal estimate for parameters no tap covers is the c-weighted sum, which has the same
 * expectation as the combined batch's but not the same value (it is a square of sums).
 */
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import type { EstimationMode, KfacStatistics, ShardReduction } from '../curvature/kronecker-estimator.js';
import type { LayerSample } from '../curvature/kronecker.js';
import type { Communicator } from './communicator.js';

/** A curvature operator built once at a point (as `Objective.ggnOperator` returns). */
export interface ShardOperator<P> { apply(v: P): P; dispose(): void }

/** The methods of an objective this wrapper reduces (structurally `optim`'s `Objective`/`ModelObjective`). */
export interface ShardObjective<P extends PyTree = PyTree> {
  valueAndGrad(params: P): [number, P];
  value?(params: P): number;
  hvp?(params: P, v: P): P;
  ggnvp?(params: P, v: P): P;
  fisherVp?(params: P, v: P): P;
  ggnOperator?(params: P): ShardOperator<P>;
  hvpOperator?(params: P): ShardOperator<P>;
  diagEmpiricalFisher?(params: P): P;
  subsample?(fraction: number, seed: number, block?: number): ShardObjective<P>;
  readonly examples?: number;
  ggnGram?(params: P, vectors: readonly P[]): number[][];
  kfacStatistics?(params: P, options: { mode: EstimationMode; rng: Rng }): KfacStatistics<P>;
  requestKfacStatistics?(params: P, options: { mode: EstimationMode; rng: Rng }): void;
}

export interface DistributedObjectiveOptions {
  communicator: Communicator;
  /** Examples in this rank's shard (n_r). */
  examples: number;
  /** The loss's batch weight w(n) (default 1/n, a mean; `loss.batchWeight` of an nn loss). */
  batchWeight?: (n: number) => number;
  /** Examples on all ranks (N); default: summed over the ranks here (a collective). */
  total?: number;
  /**
   * Global index of this shard's first example (default: the sizes of the ranks before this
   * one, summed — `shardBatch`'s contiguous shards in rank order; a collective). K-FAC's sampled
   * targets are keyed by it.
   */
  offset?: number;
}

function scaledCopy(t: Tensor, c: number): Tensor {
  const d = t.dtype === 'float64' ? new Float64Array(t.size) : new Float32Array(t.size);
  const s = t.data;
  for (let i = 0; i < d.length; i++) d[i] = s[i] * c;
  return new Tensor(d, t.shape);
}

/** The mixing of a seed with a rank (distinct streams per rank, the same on every run). */
function rankSeed(seed: number, rank: number): number {
  return ((Math.floor(seed) ^ Math.imul(rank + 1, 0x9e3779b1)) >>> 0);
}

/**
 * The objective on the union of all ranks' shards, from the objective of this rank's shard;
 * see the module comment. Every rank must call every method in the same order (they are
 * collectives); the optimizers here do, given the same numbers.
 */
export function distributedObjective<P extends PyTree, O extends ShardObjective<P>>(obj: O, options: DistributedObjectiveOptions): O {
  const comm = options.communicator;
  if (obj === null || typeof obj !== 'object' || typeof obj.valueAndGrad !== 'function') throw new TypeError('distributedObjective: expected an objective (from objective(...) or modelObjective(...))');
  const n = options.examples;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`distributedObjective: option 'examples' must be a positive integer (this rank's shard size), got ${n}`);
  const weight = options.batchWeight ?? ((k: number) => 1 / k);
  // Every rank's shard size, when the total or this rank's offset must be worked out (a collective).
  const sizes = options.total === undefined || options.offset === undefined ? Array.from(comm.allGather(new Float64Array([n]))) : [];
  const total = options.total ?? sizes.reduce((a, b) => a + b, 0);
  const offset = options.offset ?? sizes.slice(0, comm.rank).reduce((a, b) => a + b, 0);

  if (!Number.isSafeInteger(total) || total < n) throw new RangeError(`distributedObjective: option 'total' (${total}) must be an integer at least this rank's ${n} examples`);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + n > total) throw new RangeError(`distributedObjective: option 'offset' (${offset}) must be an integer in [0, total − examples] = [0, ${total - n}]`);
  if (comm.size === 1 && total === n) return obj;
  const c = weight(total) / weight(n);
  if (!(Number.isFinite(c) && c > 0)) throw new RangeError(`distributedObjective: batchWeight gives a non-positive or non-finite shard weight ${c}`);

  // Scale this rank's contribution by c, then sum over ranks (new tensors: the inner results may be cached).
  const reduceTree = (t: P): P => {
    const leaves = treeLeaves(t).map((l) => scaledCopy(l, c));
    comm.allReduce(leaves);
    return treeUnflatten(t, leaves);
  };
  const reduceNumbers = (xs: number[]): number[] => {
    const t = new Tensor(Float64Array.from(xs, (x) => x * c), [xs.length]);
    comm.allReduce(t);
    return Array.from(t.data);
  };
  const out: ShardObjective<P> & Record<string, unknown> = {
    ...(obj as ShardObjective<P>),
    // Where optimizers look for it (`communicatorOf`): K-FAC's round-robin inverses.
    communicator: comm,
    // All ranks' examples: a share of them (Hessian-free's curvatureExamples / examples) is then
    // drawn from every shard alike.
    examples: total,
    valueAndGrad: (p) => {
      const [v, g] = obj.valueAndGrad(p);
      // The loss travels with the gradient: one collective per leaf plus one scalar.
      const leaves = treeLeaves(g).map((l) => scaledCopy(l, c));
      const loss = new Tensor(new Float64Array([v * c]), [1]);
      comm.allReduce([loss, ...leaves]);
      return [loss.data[0], treeUnflatten(g, leaves)];
    },
    value: (p) => reduceNumbers([obj.value ? obj.value(p) : obj.valueAndGrad(p)[0]])[0],
  };
  for (const k of ['hvp', 'ggnvp', 'fisherVp'] as const) {
    const prod = obj[k];
    if (prod) out[k] = (p: P, v: P) => reduceTree(prod.call(obj, p, v));
  }
  for (const k of ['ggnOperator', 'hvpOperator'] as const) {
    const make = obj[k];
    if (make) {
      out[k] = (p: P) => {
        const op = make.call(obj, p);
        return { apply: (v: P) => reduceTree(op.apply(v)), dispose: () => op.dispose() };
      };
    }
  }
  const diag = obj.diagEmpiricalFisher;
  if (diag) out.diagEmpiricalFisher = (p: P) => reduceTree(diag.call(obj, p));
  const gram = obj.ggnGram;
  if (gram) {
    out.ggnGram = (p: P, vs: readonly P[]) => {
      const g = gram.call(obj, p, vs);
      const flat = reduceNumbers(g.flat());
      return g.map((row, i) => row.map((_, j) => flat[i * row.length + j]));
    };
  }
  const sub = obj.subsample;
  if (sub) {
    out.subsample = (fraction: number, seed: number, block?: number) => {
      // Each rank draws its own sub-shard (the same rule as modelObjective's: round, at least one).
      const k = Math.min(n, Math.max(1, Math.round(fraction * n)));
      return distributedObjective(sub.call(obj, fraction, rankSeed(seed, comm.rank), block), { ...options, examples: k, total: undefined });
    };
  }
  const stats = obj.kfacStatistics;
  if (stats) {
    // The same derived options object for a request and the statistics it asks for: the inner
    // objective matches them by identity (statistics from the gradient's own pass).
    type StatsOptions = { mode: EstimationMode; rng: Rng; exampleOffset?: number; diagonalPasses?: boolean };
    const derived = new WeakMap<object, StatsOptions>();
    const shardOptions = (o: StatsOptions): StatsOptions => {
      let d = derived.get(o);
      // The passes' raw gradients come along, so the diagonal blocks' estimate is the combined batch's.
      if (d === undefined) { d = { ...o, exampleOffset: (o.exampleOffset ?? 0) + offset, diagonalPasses: true }; derived.set(o, d); }
      return d;
    };
    const request = obj.requestKfacStatistics;
    if (request) out.requestKfacStatistics = (p: P, o: StatsOptions) => request.call(obj, p, shardOptions(o));
    const shard: ShardReduction = {
      exampleWeight: n / total,
      reduce: (values) => { comm.allReduce(new Tensor(values, [values.length])); },
    };
    out.kfacStatistics = (p: P, o: StatsOptions & { subset?: unknown }) => {
      if (o.subset !== undefined) throw new RangeError('kfac: option \'statisticsFraction\' below 1 is not supported on a data-parallel objective (each rank would draw its own sub-batch); use 1');
      return shardStatistics(stats.call(obj, p, shardOptions(o)), c, shard);
    };
  }
  return out as unknown as O;
}

/**
 * This shard's K-FAC statistics, marked for reduction: output gradients rescaled by √c (so G sums
 * over shards), the diagonal by c; `updateEstimator` sums the factor estimates over the ranks.
 */
function shardStatistics<P extends PyTree>(s: KfacStatistics<P>, c: number, shard: ShardReduction): KfacStatistics<P> {
  const r = Math.sqrt(c);
  const layers = s.layers.map((l): LayerSample => ({ ...l, g: l.g.map((g) => (r === 1 ? g : scaledCopy(g, r))) }) as LayerSample);
  const diagonal = treeUnflatten(s.diagonal, treeLeaves(s.diagonal).map((l) => scaledCopy(l, c)));
  // Pass gradients scale by √c, like the output gradients: Σ_shards √c·ĝ_shard is the combined batch's ĝ.
  const diagonalPasses = s.diagonalPasses?.map((pass) => pass.map((l) => (l === null ? null : r === 1 ? l : scaledCopy(l, r))));
  return { ...s, layers, diagonal, shard, ...(diagonalPasses === undefined ? {} : { diagonalPasses }) };
}

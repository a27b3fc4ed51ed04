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
 * weights n_r/N. K-FAC's per-example samples are gathered in rank order (output gradients
 * rescaled by √c_r), so the Kronecker factors are those of the combined batch; the diagonal
 * estimate for parameters no tap covers is the c-weighted sum, which has the same expectation as
 * the combined batch's but not the same value (it is a square of sums).
 */
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import type { EstimationMode, KfacStatistics } from '../curvature/kronecker-estimator.js';
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
  subsample?(fraction: number, seed: number): ShardObjective<P>;
  ggnGram?(params: P, vectors: readonly P[]): number[][];
  kfacStatistics?(params: P, options: { mode: EstimationMode; rng: Rng }): KfacStatistics<P>;
}

export interface DistributedObjectiveOptions {
  communicator: Communicator;
  /** Examples in this rank's shard (n_r). */
  examples: number;
  /** The loss's batch weight w(n) (default 1/n, a mean; `loss.batchWeight` of an nn loss). */
  batchWeight?: (n: number) => number;
  /** Examples on all ranks (N); default: summed over the ranks here (a collective). */
  total?: number;
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
  const total = options.total ?? comm.allReduce(new Tensor(new Float64Array([n]), [1])).data[0];
  if (!Number.isSafeInteger(total) || total < n) throw new RangeError(`distributedObjective: option 'total' (${total}) must be an integer at least this rank's ${n} examples`);
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
    out.subsample = (fraction: number, seed: number) => {
      // Each rank draws its own sub-shard (the same rule as modelObjective's: round, at least one).
      const k = Math.min(n, Math.max(1, Math.round(fraction * n)));
      return distributedObjective(sub.call(obj, fraction, rankSeed(seed, comm.rank)), { ...options, examples: k, total: undefined });
    };
  }
  const stats = obj.kfacStatistics;
  if (stats) {
    out.kfacStatistics = (p: P, o: { mode: EstimationMode; rng: Rng }) => {
      // One draw from the shared generator on every rank keeps it identical across ranks (it is
      // optimizer state); the rank's own stream samples its targets.
      const rng = new Rng(rankSeed(o.rng.nextFloat() * 2 ** 32, comm.rank));
      const s = stats.call(obj, p, { ...o, rng });
      return gatherStatistics(s, comm, c);
    };
  }
  return out as unknown as O;
}

/** The combined batch's K-FAC samples: every tensor gathered along its first axis in rank order. */
function gatherStatistics<P extends PyTree>(s: KfacStatistics<P>, comm: Communicator, c: number): KfacStatistics<P> {
  const gatherRows = (t: Tensor, scale: number): Tensor => {
    const local = scale === 1 ? t.data : scaledCopy(t, scale).data;
    const all = comm.allGather(local);
    const row = t.shape[0] === 0 ? 0 : t.size / t.shape[0];
    return new Tensor(all, [row === 0 ? 0 : all.length / row, ...t.shape.slice(1)]);
  };
  const layers = s.layers.map((l): LayerSample => ({ ...l, a: gatherRows(l.a, 1), g: l.g.map((g) => gatherRows(g, Math.sqrt(c))) }));
  const leaves = treeLeaves(s.diagonal).map((l) => scaledCopy(l, c));
  comm.allReduce(leaves);
  return { layers, diagonal: treeUnflatten(s.diagonal, leaves) };
}

/**
 * Round-robin work sharing for per-layer computations every rank needs the result of (K-FAC's
 * and Shampoo's inverses: eigendecompositions, matrix roots), as KFAC-JAX and Distributed
 * Shampoo do: item i is computed by rank i mod K and broadcast to the others, so each rank does
 * 1/K of the work and all end with the same results. Results are trees of tensors with any
 * static structure; the owner sends the structure (as JSON) before the values.
 */
import { Tensor } from '../tensor/tensor.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import type { Communicator } from './communicator.js';
import { broadcastText } from './text.js';

/** Which rank computes item `index` of a round-robin assignment. */
export function ownerOf(index: number, size: number): number {
  return index % size;
}

const LEAF = '__hessianLeaf';
const NUMBER = '__hessianNumber';

/**
 * `compute(i)` for i < count, each computed on rank i mod K only and broadcast from there; every
 * rank returns all `count` results in order. Every rank must call it with the same `count`.
 * On one rank it is `Array.from({length: count}, (_, i) => compute(i))`.
 */
export function shareRoundRobin<T extends PyTree>(count: number, compute: (index: number) => T, comm: Communicator): T[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`shareRoundRobin: count must be a non-negative integer, got ${count}`);
  const out: T[] = [];
  for (let i = 0; i < count; i++) {
    const owner = ownerOf(i, comm.size);
    if (comm.size === 1) { out.push(compute(i)); continue; }
    const mine = comm.rank === owner ? compute(i) : undefined;
    // The structure, with each tensor as {dtype, shape}: receivers allocate, then take the values.
    const shape = comm.rank === owner ? JSON.stringify(mine, (_, v: unknown) => (v instanceof Tensor ? { [LEAF]: [v.dtype, v.shape] } : typeof v === 'number' && !Number.isFinite(v) ? { [NUMBER]: String(v) } : v)) : '';
    const parsed = JSON.parse(broadcastText(comm, shape, owner) || 'null') as unknown;
    if (comm.rank === owner) {
      comm.broadcast(treeLeaves(mine), owner);
      out.push(mine as T);
    } else {
      const revive = (v: unknown): unknown => {
        if (Array.isArray(v)) return v.map(revive);
        if (v !== null && typeof v === 'object') {
          const leaf = (v as Record<string, unknown>)[LEAF] as [string, number[]] | undefined;
          const num = (v as Record<string, unknown>)[NUMBER];
          if (typeof num === 'string') return Number(num); // NaN and ±Infinity, which JSON lacks
          if (leaf !== undefined) {
            const size = leaf[1].reduce((p, d) => p * d, 1);
            return new Tensor(leaf[0] === 'float64' ? new Float64Array(size) : new Float32Array(size), leaf[1]);
          }
          return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
        }
        return v;
      };
      const tree = revive(parsed) as T;
      const leaves = treeLeaves(tree);
      comm.broadcast(leaves, owner);
      out.push(treeUnflatten(tree, leaves));
    }
  }
  return out;
}

/**
 * `items.map(f)`, with each item computed on rank i mod K and broadcast (`shareRoundRobin`) when
 * `comm` has several ranks and `share` is true (e.g. only on steps that recompute inverses).
 * The hook for K-FAC's per-layer updates: every rank holds the same blocks afterwards.
 */
export function mapRoundRobin<T, R extends PyTree>(items: readonly T[], f: (item: T, index: number) => R, comm: Communicator | undefined, share = true): R[] {
  if (comm === undefined || comm.size === 1 || !share) return items.map(f);
  return shareRoundRobin(items.length, (i) => f(items[i], i), comm);
}

/** The communicator of a `distributedObjective` (undefined for any other objective). */
export function communicatorOf(objective: object): Communicator | undefined {
  const c = (objective as { communicator?: unknown }).communicator;
  return c !== null && typeof c === 'object' && typeof (c as Communicator).allReduce === 'function' ? c as Communicator : undefined;
}

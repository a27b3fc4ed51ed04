/**
 * Before the first step every rank must hold the same tree (same leaf paths, dtypes and shapes):
 * a rank with another model would otherwise sum unrelated numbers, or wait forever in a
 * collective the others never call. `checkSameTree` compares a signature of each leaf with rank
 * 0's through collectives and throws, on every rank, an error naming the first differing path.
 */
import { Tensor } from '../tensor/tensor.js';
import { treeLeaves, treePaths, type PyTree } from '../autodiff/pytree.js';
import type { Communicator } from './communicator.js';
import { broadcastText } from './text.js';

function describeLeaf(path: string, t: Tensor): string {
  return `'${path}' ${t.dtype}[${t.shape.join(', ')}]`;
}

/** FNV-1a of a string, 32 bits (exact in a float64). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Throws on every rank when `tree` differs across ranks, naming the first leaf (in `treeLeaves`
 * order) whose path, dtype or shape differs from rank 0's, or a missing leaf; `what` names the
 * tree in the message ('parameters', 'optimizer state').
 */
export function checkSameTree(tree: PyTree, comm: Communicator, what: string): void {
  if (comm.size === 1) return;
  const leaves = treeLeaves(tree);
  const paths = treePaths(tree);
  const sigs = leaves.map((l, i) => describeLeaf(paths[i], l));
  const count = new Tensor(new Float64Array([sigs.length]), [1]);
  comm.broadcast(count, 0);
  const n0 = count.data[0];
  const h0 = new Tensor(Float64Array.from({ length: n0 }, (_, i) => (comm.rank === 0 ? hash(sigs[i]) : 0)), [n0]);
  comm.broadcast(h0, 0);
  let first = Math.max(n0, sigs.length);
  for (let i = 0; i < Math.max(n0, sigs.length); i++) {
    if (i >= n0 || i >= sigs.length || h0.data[i] !== hash(sigs[i])) { first = i; break; }
  }
  if (first === sigs.length && sigs.length === n0) first = Number.MAX_SAFE_INTEGER;
  const firsts = comm.allGather(new Float64Array([first]));
  let at = Number.MAX_SAFE_INTEGER;
  let rank = -1;
  firsts.forEach((f, r) => { if (f < at) { at = f; rank = r; } });
  if (rank < 0) return;
  const mine = (i: number) => (i < sigs.length ? sigs[i] : 'no leaf there');
  const theirs = broadcastText(comm, comm.rank === rank ? mine(at) : '', rank);
  const zero = broadcastText(comm, comm.rank === 0 ? mine(at) : '', 0);
  throw new Error(`distributed: the ${what} differ across ranks at leaf ${at}: rank 0 has ${zero}, rank ${rank} has ${theirs} (every rank must build the same model and optimizer)`);
}

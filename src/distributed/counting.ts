/**
 * A communicator that counts what its collectives move: bytes of the payload each rank hands to
 * allReduce, broadcast (counted on the root: what it sends) and allGather, and the number of calls.
 * For benchmarks (K-FAC's bytes per step) and tests (did round-robin sharing broadcast anything).
 */
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { Tensor } from '../tensor/tensor.js';
import type { Communicator } from './communicator.js';

/** Bytes and calls per kind of collective, since the counter was made or last reset. */
export interface CollectiveCounts {
  allReduceBytes: number;
  allReduceCalls: number;
  broadcastBytes: number;
  broadcastCalls: number;
  allGatherBytes: number;
  allGatherCalls: number;
}

function bytesOf(tree: PyTree): number {
  const leaves = tree instanceof Tensor ? [tree] : treeLeaves(tree);
  return leaves.reduce((s, l) => s + l.data.byteLength, 0);
}

/** `comm` with every collective counted into `counts` (which the caller may reset). */
export function countingCommunicator(comm: Communicator): { comm: Communicator; counts: CollectiveCounts } {
  const counts: CollectiveCounts = { allReduceBytes: 0, allReduceCalls: 0, broadcastBytes: 0, broadcastCalls: 0, allGatherBytes: 0, allGatherCalls: 0 };
  return {
    counts,
    comm: {
      ...comm,
      allReduce: (tree, op) => { counts.allReduceBytes += bytesOf(tree); counts.allReduceCalls++; return comm.allReduce(tree, op); },
      broadcast: (tree, root = 0) => {
        if (comm.rank === root) counts.broadcastBytes += bytesOf(tree);
        counts.broadcastCalls++;
        return comm.broadcast(tree, root);
      },
      allGather: (values) => { counts.allGatherBytes += values.byteLength; counts.allGatherCalls++; return comm.allGather(values); },
    },
  };
}

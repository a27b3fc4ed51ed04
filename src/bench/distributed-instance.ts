/**
 * A problem instance for one rank of a data-parallel run: its `full` and `batch(k, b)`
 * objectives are built on this rank's shard of the same rows and all-reduced
 * (`distributedObjective`), so every optimizer takes the step one process would take on the
 * whole batch. Evaluation (the curve) stays whole on every rank: it is outside the timed work
 * and gives every rank the same numbers.
 */
import { Tensor } from '../tensor/tensor.js';
import { gather } from '../tensor/shape-ops.js';
import type { PyTree } from '../autodiff/pytree.js';
import { withL2, modelObjective } from '../optim/objective.js';
import type { Objective, OptimizerState } from '../optim/types.js';
import type { Communicator } from '../distributed/communicator.js';
import { shardRange } from '../distributed/shard.js';
import { distributedObjective } from '../distributed/objective.js';
import { checkSameTree } from '../distributed/tree-check.js';
import type { ProblemInstance } from './problems.js';

/** `inst` with objectives sharded over `comm`'s ranks; throws for a problem without a model and data. */
export function distributedInstance(problemId: string, inst: ProblemInstance, comm: Communicator): ProblemInstance {
  const { model, loss, data, batchIndices } = inst;
  if (model === undefined || loss === undefined || data === undefined || batchIndices === undefined) {
    throw new RangeError(`problem '${problemId}' cannot run distributed: data parallelism needs a model trained on examples (a test function has none to shard)`);
  }
  const train = data.train;
  const l2 = inst.l2 ?? 0;
  const objectiveOf = (rows: readonly number[]): Objective => {
    if (rows.length < comm.size) throw new RangeError(`a batch of ${rows.length} examples cannot give each of ${comm.size} ranks one (use a larger batch size or fewer ranks)`);
    const [a, b] = shardRange(rows.length, comm.rank, comm.size);
    const mine = rows.slice(a, b);
    const shard = modelObjective(model, loss, { x: gather(train.x, mine, 0), y: gather(train.y, mine, 0) });
    return withL2(distributedObjective(shard, { communicator: comm, examples: mine.length, total: rows.length, batchWeight: loss.batchWeight }), l2);
  };
  const all = Array.from({ length: train.x.shape[0] }, (_, i) => i);
  return {
    ...inst,
    full: objectiveOf(all),
    batch: (k, b) => objectiveOf(batchIndices(k, b)),
  };
}

/** Before the first step: every rank must hold the same parameter and state trees (throws naming the first difference). */
export function checkRanksAgree(params: PyTree, state: OptimizerState, comm: Communicator): void {
  checkSameTree(params, comm, 'parameters');
  checkSameTree(state, comm, 'optimizer states');
}

/** Rank 0's value on every rank (step times, so that a seconds budget ends every rank at the same step). */
export function fromRankZero(comm: Communicator | undefined, value: number): number {
  if (comm === undefined || comm.size === 1) return value;
  const t = new Tensor(new Float64Array([value]), [1]);
  comm.broadcast(t, 0);
  return t.data[0];
}

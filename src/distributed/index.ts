/**
 * Data-parallel training over MPI (Open MPI): the communicator (`init`, `rank`, `size`,
 * `allReduce`, `broadcast`, `barrier`), batch sharding, the distributed objective that makes
 * every optimizer data-parallel, the cross-rank tree check and round-robin work sharing.
 */
export { init, requireMpi, underMpirun, mpiUnavailableReason, localCommunicator, type Communicator, type ReduceOp } from './communicator.js';
export { shardRange, shardBatch } from './shard.js';
export { distributedObjective, type DistributedObjectiveOptions, type ShardObjective, type ShardOperator } from './objective.js';
export { checkSameTree } from './tree-check.js';
export { shareRoundRobin, mapRoundRobin, communicatorOf, ownerOf } from './round-robin.js';
export { broadcastText } from './text.js';

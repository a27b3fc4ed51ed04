import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { mlp } from '../nn/models.js';
import { mse } from '../nn/losses.js';
import { modelObjective } from '../optim/objective.js';
import { init, localCommunicator, underMpirun } from './communicator.js';
import { distributedObjective } from './objective.js';
import { checkSameTree } from './tree-check.js';
import { shareRoundRobin } from './round-robin.js';

test('outside mpirun init() is the local world of one rank, whose collectives leave values as they are', { skip: underMpirun() ? 'under mpirun' : false }, () => {
  const comm = init();
  assert.equal(comm.rank, 0);
  assert.equal(comm.size, 1);
  assert.equal(comm.mpi, false);
  const t = new Tensor(new Float64Array([1.5, -2]), [2]);
  assert.equal(comm.allReduce(t, 'mean'), t);
  assert.deepEqual(Array.from(t.data), [1.5, -2]);
  comm.broadcast(t, 0);
  assert.deepEqual(Array.from(comm.allGather(new Float32Array([3, 4]))), [3, 4]);
  assert.throws(() => comm.broadcast(t, 1), /root 1 is not a rank of a world of 1/);
});

test('on one rank the distributed objective is the objective itself, and the tree check and round-robin are plain', () => {
  const model = mlp([2, 3, 1]);
  const rng = new Rng(3);
  const obj = modelObjective(model, mse(), { x: rng.normal([4, 2], { dtype: 'float64' }), y: rng.normal([4, 1], { dtype: 'float64' }) });
  assert.equal(distributedObjective(obj, { communicator: localCommunicator, examples: 4 }), obj);
  checkSameTree(model.init(new Rng(0)), localCommunicator, 'parameters');
  assert.deepEqual(shareRoundRobin(3, (i) => i * 2, localCommunicator), [0, 2, 4]);
});

test('distributedObjective refuses a shard size that is not a positive integer, a total below it, and an offset past the end', () => {
  const obj = { valueAndGrad: () => [0, null] as [number, null] };
  assert.throws(() => distributedObjective(obj, { communicator: localCommunicator, examples: 0 }), /option 'examples' must be a positive integer/);
  assert.throws(() => distributedObjective(obj, { communicator: localCommunicator, examples: 5, total: 3 }), /option 'total' \(3\) must be an integer at least this rank's 5 examples/);
  assert.throws(() => distributedObjective(obj, { communicator: localCommunicator, examples: 5, total: 8, offset: 4 }), /option 'offset' \(4\) must be an integer in \[0, total − examples\] = \[0, 3\]/);
});

test("a data-parallel objective counts all ranks' examples, so that Hessian-free's curvatureExamples is a share of the combined batch", () => {
  const model = mlp([2, 3, 1]);
  const rng = new Rng(4);
  const shard = modelObjective(model, mse(), { x: rng.normal([10, 2], { dtype: 'float64' }), y: rng.normal([10, 1], { dtype: 'float64' }) });
  assert.equal(shard.examples, 10);
  // Rank 0 of two (its collectives leave values as they are); the other rank holds 14 examples.
  const twoRanks = { ...localCommunicator, size: 2, rank: 0 };
  assert.equal(distributedObjective(shard, { communicator: twoRanks, examples: 10, total: 24, offset: 0 }).examples, 24);
});

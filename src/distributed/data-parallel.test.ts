// Data parallelism under `mpirun -np 2`: this file is both the test (run by node --test, it
// starts mpirun on itself) and the worker (run by mpirun, it computes on every rank and rank 0
// prints one RESULT line per scenario). Skips with a line where Open MPI is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { eigh } from '../tensor/linalg.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { mlp } from '../nn/models.js';
import { LayerNorm, Linear, Tanh } from '../nn/layers.js';
import { Sequential } from '../nn/module.js';
import { mse } from '../nn/losses.js';
import { modelObjective } from '../optim/objective.js';
import { optimizerEntry } from '../optim/registry.js';
import { train } from '../train/train.js';
import type { Objective, OptimizerState } from '../optim/types.js';
import { init, type Communicator } from './communicator.js';
import { shardBatch } from './shard.js';
import { distributedObjective } from './objective.js';
import { checkSameTree } from './tree-check.js';
import { mapRoundRobin, shareRoundRobin } from './round-robin.js';
import { isMpiWorker, mpirunCommand, runUnderMpirun } from './mpi-harness.js';
import { countingCommunicator } from './counting.js';

// [label, registry id, options]. kfac and ekfac run in the default sampled ('true') mode too,
// with inverses every 2 steps so that round-robin sharing happens after the first step as well.
const OPTIMIZERS: [string, string, Record<string, unknown>][] = [
  ['sgd', 'sgd', { lr: 0.1 }],
  ['adam', 'adam', { lr: 0.01 }],
  ['lbfgs', 'lbfgs', {}],
  ['hessian-free', 'hessian-free', {}],
  ['kfac-empirical', 'kfac', { estimationMode: 'empirical' }],
  ['kfac', 'kfac', { inverseUpdatePeriod: 2 }],
  ['ekfac', 'ekfac', { inverseUpdatePeriod: 2 }],
  ['shampoo', 'shampoo', { lr: 0.01, preconditionPeriod: 2 }],
  // SOAP with exact bases: its default power-QR refresh sorts columns by estimated eigenvalues,
  // and ties in the factors' null space make it chaotic here — a 1e-15 relative change of the
  // gradient moves one process's parameters by 5e-4 after 4 steps (measured) — so no split of
  // the sums can match it to 1e-10; power-QR is checked for sharing below.
  // Even with exact bases, Adam's ε = 1e-8 against rotated coordinates near zero amplifies a 1e-15
  // change of the gradient to 6.6e-10 (one process, measured); ε = 1e-6 gives 6e-12.
  ['soap', 'soap', { lr: 0.01, preconditionPeriod: 2, basisRefresh: 'eigh', eps: 1e-6 }],
];
/** Runs checked only for round-robin sharing (equal to every rank computing everything itself). */
const SHARING_ONLY: [string, string, Record<string, unknown>][] = [['soap-power-qr', 'soap', { lr: 0.01, preconditionPeriod: 2 }]];
/** The methods whose per-block inverses/roots/bases are shared round-robin across ranks. */
const ROUND_ROBIN = ['kfac', 'ekfac', 'shampoo', 'soap', 'soap-power-qr'];
const STEPS = 4;

function problem(dtype: 'float32' | 'float64') {
  const rng = new Rng(7);
  const n = 23; // odd on purpose: unequal shards
  const x = rng.normal([n, 3], { dtype });
  const y = rng.normal([n, 2], { dtype });
  const model = mlp([3, 5, 2]);
  const params = model.init(new Rng(1), { dtype });
  return { model, loss: mse(), batch: { x, y }, params };
}

/** K steps of a registered optimizer on `objective`; the final parameters, flattened, and the state. */
function runWithState(id: string, options: Record<string, unknown>, params: PyTree, objective: Objective): { params: number[]; state: OptimizerState } {
  const opt = optimizerEntry(id).create(options);
  let p = params;
  let s: OptimizerState = opt.init(p);
  for (let k = 0; k < STEPS; k++) ({ params: p, state: s } = opt.step(p, s, objective));
  return { params: treeLeaves(p).flatMap((l) => Array.from(l.data)), state: s };
}

function run(id: string, options: Record<string, unknown>, params: PyTree, objective: Objective): number[] {
  return runWithState(id, options, params, objective).params;
}

/** K-FAC's Kronecker factors A and G of every block in a state, flattened in block order. */
function factorsOf(state: OptimizerState): number[] {
  const blocks = (JSON.parse(JSON.stringify(state, (_, v: unknown) => (v instanceof Tensor ? Array.from(v.data) : v))) as { inner: { curvature: { blocks: { A?: number[]; G?: number[] }[] } } }).inner.curvature.blocks;
  return blocks.flatMap((b) => [...(b.A ?? []), ...(b.G ?? [])]);
}

/** Are `values` bit-identical on every rank (rank 0's broadcast, compared everywhere, then agreed)? */
function sameOnEveryRank(values: number[], comm: Communicator): boolean {
  const r0 = new Tensor(Float64Array.from(values), [values.length]);
  comm.broadcast(r0, 0);
  const differs = new Tensor(new Float64Array([values.some((v, i) => !Object.is(v, r0.data[i])) ? 1 : 0]), [1]);
  comm.allReduce(differs);
  return differs.data[0] === 0;
}

function relativeError(a: number[], b: number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i] - b[i])); den = Math.max(den, Math.abs(b[i])); }
  return num / den;
}

function worker(comm: Communicator): Record<string, unknown> {
  const out: Record<string, unknown> = { size: comm.size };
  // Collectives: in place, sums and means, a root other than 0, uneven gathers.
  const a = new Tensor(new Float64Array([comm.rank + 1, 0.5]), [2]);
  const b = new Tensor(new Float32Array([comm.rank * 10]), [1]);
  comm.allReduce([a, b]);
  const m = new Tensor(new Float64Array([comm.rank]), [1]);
  comm.allReduce(m, 'mean');
  const bc = new Tensor(new Float64Array([comm.rank === 1 ? 42 : -1]), [1]);
  comm.broadcast(bc, 1);
  const g = comm.allGather(new Float64Array(comm.rank + 1).fill(comm.rank));
  comm.barrier();
  out.collectives = { sum: Array.from(a.data), sum32: Array.from(b.data), mean: m.data[0], bcast: bc.data[0], gather: Array.from(g) };

  // Every optimizer: distributed on shards == single process on the combined batch.
  for (const dtype of ['float64', 'float32'] as const) {
    const errors: Record<string, number> = {};
    for (const [label, id, options] of OPTIMIZERS) {
      const { model, loss, batch, params } = problem(dtype);
      const single = runWithState(id, options, params, modelObjective(model, loss, batch));
      const shard = shardBatch(batch, comm);
      const dist = distributedObjective(modelObjective(model, loss, shard), { communicator: comm, examples: shard.x.shape[0], batchWeight: loss.batchWeight });
      const parallel = runWithState(id, options, params, dist);
      // Every rank must hold the same parameters, bit for bit.
      errors[label] = Math.max(relativeError(parallel.params, single.params), sameOnEveryRank(parallel.params, comm) ? 0 : Infinity);
      if (dtype === 'float64' && id === 'kfac') {
        // The factors after the all-reduce and the EMA: identical on the ranks, the single process's.
        const f = factorsOf(parallel.state);
        out[`factors-${label}`] = { identical: sameOnEveryRank(f, comm), error: relativeError(f, factorsOf(single.state)), count: f.length };
      }
    }
    out[`equivalence-${dtype}`] = errors;
  }

  // Untapped parameters (LayerNorm) get K-FAC's diagonal blocks: their estimate is the square of
  // the pass gradient, so the shards' pass gradients are summed before squaring. Sampled and
  // empirical Fisher, float64: the same as one process.
  {
    const errors: Record<string, number> = {};
    for (const [label, options] of [['sampled', { inverseUpdatePeriod: 2 }], ['empirical', { estimationMode: 'empirical' }]] as const) {
      const rng = new Rng(7);
      const n = 23;
      const x = rng.normal([n, 3], { dtype: 'float64' });
      const y = rng.normal([n, 2], { dtype: 'float64' });
      const model = new Sequential([new Linear(3, 5), new LayerNorm(5), new Tanh(), new Linear(5, 2)]);
      const params = model.init(new Rng(1), { dtype: 'float64' });
      const batch = { x, y };
      const single = runWithState('kfac', options, params, modelObjective(model, mse(), batch));
      const shard = shardBatch(batch, comm);
      const dist = distributedObjective(modelObjective(model, mse(), shard), { communicator: comm, examples: shard.x.shape[0], batchWeight: mse().batchWeight });
      const parallel = runWithState('kfac', options, params, dist);
      const diagonalBlocks = (JSON.parse(JSON.stringify(single.state, (_, v: unknown) => (v instanceof Tensor ? null : v))) as { inner: { curvature: { blocks: { kind: string }[] } } })
        .inner.curvature.blocks.filter((b) => b.kind === 'diagonal').length;
      errors[label] = diagonalBlocks === 0 ? Infinity : relativeError(parallel.params, single.params);
    }
    out.diagonalBlocks = errors;
  }

  // Round-robin sharing against every rank computing every inverse/root/basis itself (an
  // objective that hides its communicator): the same parameters, bit for bit, and the shared
  // run did broadcast.
  {
    const sharing: Record<string, { equal: boolean; broadcastBytes: number }> = {};
    for (const [label, id, options] of [...OPTIMIZERS, ...SHARING_ONLY].filter(([l]) => ROUND_ROBIN.includes(l))) {
      const { model, loss, batch, params } = problem('float64');
      const shard = shardBatch(batch, comm);
      const counted = countingCommunicator(comm);
      const make = (c: Communicator) => distributedObjective(modelObjective(model, loss, shard), { communicator: c, examples: shard.x.shape[0], batchWeight: loss.batchWeight });
      const shared = run(id, options, params, make(counted.comm));
      const local = run(id, options, params, { ...make(comm), communicator: undefined } as Objective);
      sharing[label] = { equal: shared.every((v, i) => Object.is(v, local[i])), broadcastBytes: counted.counts.broadcastBytes };
    }
    out.sharing = sharing;
  }

  // train(): mini-batches of a seeded order, each sharded; the same parameters as one process.
  {
    const { model, loss, batch } = problem('float64');
    const opts = { optimizer: 'adam', optimizerOptions: { lr: 0.05 }, steps: 5, batchSize: 8, seed: 3, progress: false } as const;
    const one = train(model, loss, batch, opts);
    const two = train(model, loss, batch, { ...opts, distributed: comm });
    out.train = relativeError(treeLeaves(two.params).flatMap((l) => Array.from(l.data)), treeLeaves(one.params).flatMap((l) => Array.from(l.data)));
  }

  // Mismatched trees: rank 1 has an extra hidden unit in its first layer.
  try {
    checkSameTree(mlp([3, comm.rank === 1 ? 6 : 5, 2]).init(new Rng(0)), comm, 'parameters');
    out.mismatch = 'no error';
  } catch (e) {
    out.mismatch = (e as Error).message;
  }
  checkSameTree(mlp([3, 5, 2]).init(new Rng(0)), comm, 'parameters');

  // Round-robin: each matrix decomposed on one rank, the same results everywhere.
  const mats = [3, 4, 2].map((d, i) => {
    const r = new Rng(100 + i).normal([d, d], { dtype: 'float64' });
    const s = new Tensor(new Float64Array(d * d), [d, d]);
    for (let p = 0; p < d; p++) for (let q = 0; q < d; q++) s.data[p * d + q] = r.data[p * d + q] + r.data[q * d + p];
    return s;
  });
  let computedHere = 0;
  const shared = shareRoundRobin(mats.length, (i) => { computedHere++; const e = eigh(mats[i]); return { values: e.eigenvalues, vectors: e.eigenvectors, order: i }; }, comm);
  const local = mats.map((s) => eigh(s));
  // Block-like states: nested structure, strings, nulls, non-finite numbers, both dtypes.
  const blocks = mapRoundRobin([0, 1, 2], (i) => ({ kind: 'dense', scope: `${i}`, count: i, scaling: i === 1 ? Infinity : null, bad: NaN, A: new Tensor(new Float32Array([i, 2 * i]), [2]), inv: { U: [new Tensor(new Float64Array([i / 3]), [1])] } }), comm);
  out.blocks = blocks.map((b, i) => [b.kind, b.scope, b.count, String(b.scaling), String(b.bad), b.A.dtype, Array.from(b.A.data), b.inv.U[0].dtype, b.inv.U[0].data[0] === i / 3]);
  out.roundRobin = {
    equal: shared.every((r, i) => r.order === i && r.values.data.every((v, j) => v === local[i].eigenvalues.data[j]) && r.vectors.data.every((v, j) => v === local[i].eigenvectors.data[j])),
    computedHere,
  };
  return out;
}

if (isMpiWorker()) {
  const comm = init();
  const result = worker(comm);
  if (comm.rank === 0) console.log(`RESULT ${JSON.stringify(result)}`);
} else {
  const mpi = mpirunCommand();
  const skip = 'skip' in mpi ? mpi.skip : false;
  if (skip !== false) console.log(`# data-parallel tests skipped: ${skip}`);
  let result: Record<string, unknown> | undefined;
  const results = (): Record<string, unknown> => {
    if (result === undefined) {
      const r = runUnderMpirun(fileURLToPath(import.meta.url), 2);
      const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
      assert.ok(r.status === 0 && line !== undefined, `mpirun failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
      result = JSON.parse(line.slice(7)) as Record<string, unknown>;
    }
    return result;
  };

  test('collectives under mpirun -np 2 sum, average, broadcast from rank 1 and gather uneven parts in rank order', { skip }, () => {
    const r = results();
    assert.equal(r.size, 2);
    assert.deepEqual(r.collectives, { sum: [3, 1], sum32: [10], mean: 0.5, bcast: 42, gather: [0, 1, 1] });
  });

  test('float64: K steps of sgd, adam, lbfgs, hessian-free, kfac and ekfac (sampled and empirical Fisher), shampoo and soap on 2 ranks equal one process on the combined batch to 1e-10', { skip }, () => {
    const errors = results()['equivalence-float64'] as Record<string, number>;
    for (const [label] of OPTIMIZERS) assert.ok(errors[label] <= 1e-10, `${label}: relative error ${errors[label]}`);
  });

  test('float64: K-FAC\'s factors after the all-reduce are bit-identical on both ranks and equal the single process\'s to 1e-10', { skip }, () => {
    for (const label of ['kfac-empirical', 'kfac']) {
      const f = results()[`factors-${label}`] as { identical: boolean; error: number; count: number };
      assert.ok(f.count > 0, `${label}: no factors in the state`);
      assert.ok(f.identical, `${label}: factors differ across ranks`);
      assert.ok(f.error <= 1e-10, `${label}: factors' relative error ${f.error}`);
    }
  });

  test('float64: K-FAC with diagonal blocks (LayerNorm, untapped) on 2 ranks equals one process to 1e-10, sampled and empirical Fisher', { skip }, () => {
    const errors = results().diagonalBlocks as Record<string, number>;
    for (const label of ['sampled', 'empirical']) assert.ok(errors[label] <= 1e-10, `${label}: relative error ${errors[label]} (Infinity: no diagonal block was laid out)`);
  });

  test('round-robin inverses, roots and bases (kfac, ekfac, shampoo, soap with eigh and power-QR refreshes) equal every rank computing them itself, bit for bit', { skip }, () => {
    const sharing = results().sharing as Record<string, { equal: boolean; broadcastBytes: number }>;
    for (const label of ROUND_ROBIN) {
      assert.ok(sharing[label].equal, `${label}: shared results differ from the local computation`);
      assert.ok(sharing[label].broadcastBytes > 0, `${label}: nothing was broadcast (no sharing happened)`);
    }
  });

  test('float32: the same runs agree to STEPS·40·eps32 relative (the reordered sums rounded anew at every step; EKFAC 10x that)', { skip }, () => {
    const errors = results()['equivalence-float32'] as Record<string, number>;
    // ≈ 1.9e-5; measured at most 4.3e-6 (kfac, sampled Fisher). EKFAC divides by its moments
    // s + λ (λ = 1e-3 here), so a small moment's relative rounding is amplified by up to s_max/λ:
    // it gets 10× the bound (1.9e-4; measured 4.6e-5).
    const bound = STEPS * 40 * 2 ** -23;
    for (const [label] of OPTIMIZERS) {
      const b = label === 'ekfac' ? 10 * bound : bound;
      assert.ok(errors[label] <= b, `${label}: relative error ${errors[label]} > ${b}`);
    }
  });

  test('train() with distributed: 5 adam steps on sharded mini-batches equal one process to 1e-10 (float64)', { skip }, () => {
    assert.ok((results().train as number) <= 1e-10, `relative error ${String(results().train)}`);
  });

  test('mismatched parameter trees across ranks fail on every rank naming the first differing path', { skip }, () => {
    assert.match(String(results().mismatch), /differ across ranks at leaf 0: rank 0 has '0\.weight' float32\[5, 3\], rank 1 has '0\.weight' float32\[6, 3\]/);
  });

  test('round-robin sharing computes each item on one rank and gives every rank the same results', { skip }, () => {
    assert.deepEqual(results().roundRobin, { equal: true, computedHere: 2 });
    assert.deepEqual(results().blocks, [0, 1, 2].map((i) => ['dense', `${i}`, i, i === 1 ? 'Infinity' : 'null', 'NaN', 'float32', [i, 2 * i], 'float64', true]));
  });
}

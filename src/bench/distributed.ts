/**
 * `npm run bench:distributed`: data-parallel training over MPI on this machine (loopback).
 *
 * 1. Throughput, examples per second, of training steps on 1 and 2 ranks (`mpirun -np K`, one
 *    native thread per rank) with the same global batch, for the MNIST autoencoder and the CNN,
 *    in the same run; each step's time split into compute and all-reduce (timed inside the
 *    communicator).
 * 2. The all-reduce's cost against message size on 2 ranks (float32; our reduce + broadcast;
 *    median of repetitions that each start at a barrier): t = α + bytes/β, α from one float,
 *    β the median rate over messages of 40 kB and more.
 * 3. A model of step time against ranks K (strong scaling, fixed global batch):
 *      T(K) = C/K + L·2⌈log₂K⌉α + 2·bytes/B
 *    with C the measured one-rank compute per batch, L the number of all-reduced leaves (one
 *    collective each, latency-bound), bytes the gradient size and B the network bandwidth (a
 *    parameter). Shown for the autoencoder and a 100M-parameter dense model whose compute is
 *    scaled from the autoencoder's measured rate (6·P flops per example).
 * 4. K-FAC's bytes per step and rank on the autoencoder, by collective (counted by
 *    `countingCommunicator`; `--no-kfac-bytes` skips it).
 * Benchmarks measure; they assert nothing. Options: --steps=8, --batch=256, --size=small,
 * --ranks=2, --bandwidths=10,100 (Gbit/s). Skips with one line where MPI is unavailable.
 */
import { fileURLToPath } from 'node:url';
import { Tensor } from '../tensor/tensor.js';
import { treeLeaves } from '../autodiff/pytree.js';
import { kernels } from '../kernels/index.js';
import { optimizerEntry } from '../optim/registry.js';
import type { OptimizerState } from '../optim/types.js';
import { closeScope, detachedScope, runInScope, sweepScope } from '../tensor/scope.js';
import { init, type Communicator } from '../distributed/communicator.js';
import { isMpiWorker, mpirunCommand, runUnderMpirun } from '../distributed/mpi-harness.js';
import { countingCommunicator, type CollectiveCounts } from '../distributed/counting.js';
import { distributedInstance } from './distributed-instance.js';
import { problemById, type DataSize } from './problems.js';
import { table } from './util.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const STEPS = Number(opt('steps', '8'));
const BATCH = Number(opt('batch', '256'));
const SIZE = opt('size', 'small') as DataSize;
const RANKS = Number(opt('ranks', '2'));
const BANDWIDTHS = opt('bandwidths', '10,100').split(',').map(Number);
const PROBLEMS = ['autoencoder-mnist', 'cnn-mnist'];

/** A communicator that adds the time spent in its collectives to `spent.seconds`. */
function timed(comm: Communicator, spent: { seconds: number }): Communicator {
  const wrap = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    const t0 = performance.now();
    try { return f(...a); } finally { spent.seconds += (performance.now() - t0) / 1000; }
  };
  return { ...comm, allReduce: wrap(comm.allReduce), broadcast: wrap(comm.broadcast), allGather: wrap(comm.allGather), barrier: wrap(comm.barrier) };
}

interface Throughput { problem: string; ranks: number; params: number; leaves: number; stepSeconds: number; commSeconds: number; examplesPerSecond: number }

function throughput(comm: Communicator, problemId: string, optimizer: string): Throughput {
  const spent = { seconds: 0 };
  const c = timed(comm, spent);
  const inst = distributedInstance(problemId, problemById(problemId).build(0, { size: SIZE }), c);
  const o = optimizerEntry(optimizer).create({});
  let params = inst.params;
  let state: OptimizerState = o.init(params);
  const carried = detachedScope();
  let seconds = 0;
  let commSeconds = 0;
  for (let k = 0; k < STEPS + 1; k++) {
    comm.barrier();
    spent.seconds = 0;
    const t0 = performance.now();
    const res = runInScope(carried, () => o.step(params, state, inst.batch(k, BATCH)));
    const dt = (performance.now() - t0) / 1000;
    if (k > 0) { seconds += dt; commSeconds += spent.seconds; } // step 0 warms up
    params = res.params;
    state = res.state;
    sweepScope(carried, [params, state]);
  }
  closeScope(carried, [params, state]);
  // The slowest rank sets the pace.
  const t = new Tensor(new Float64Array([seconds / STEPS, commSeconds / STEPS]), [2]);
  const all = comm.allGather(t.data);
  let step = 0;
  let commMax = 0;
  for (let r = 0; r < comm.size; r++) { step = Math.max(step, all[2 * r]); commMax = Math.max(commMax, all[2 * r + 1]); }
  const leaves = treeLeaves(params);
  return { problem: problemId, ranks: comm.size, params: leaves.reduce((s, l) => s + l.size, 0), leaves: leaves.length, stepSeconds: step, commSeconds: commMax, examplesPerSecond: BATCH / step };
}

function allReduceCost(comm: Communicator): { floats: number; seconds: number }[] {
  const out: { floats: number; seconds: number }[] = [];
  for (const floats of [1, 1e3, 1e4, 1e5, 1e6, 4e6]) {
    const t = new Tensor(new Float32Array(floats).fill(1), [floats]);
    const reps = floats >= 1e6 ? 9 : 31;
    comm.allReduce(t);
    // Each repetition starts together (barrier); the median resists a rank being descheduled.
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      comm.barrier();
      const t0 = performance.now();
      comm.allReduce(t);
      times.push((performance.now() - t0) / 1000);
    }
    times.sort((a, b) => a - b);
    const m = new Tensor(new Float64Array([times[reps >> 1]]), [1]);
    comm.broadcast(m, 0);
    out.push({ floats, seconds: m.data[0] });
  }
  return out;
}

/** Bytes this rank hands to each kind of collective per K-FAC step on the autoencoder (steps after the first: no inverse refresh). */
function kfacBytes(comm: Communicator): CollectiveCounts {
  const counted = countingCommunicator(comm);
  const inst = distributedInstance('autoencoder-mnist', problemById('autoencoder-mnist').build(0, { size: SIZE }), counted.comm);
  const o = optimizerEntry('kfac').create({});
  let params = inst.params;
  let state: OptimizerState = o.init(params);
  const steps = 2;
  for (let k = 0; k <= steps; k++) {
    if (k === 1) for (const key of Object.keys(counted.counts) as (keyof CollectiveCounts)[]) counted.counts[key] = 0;
    ({ params, state } = o.step(params, state, inst.batch(k, BATCH)));
  }
  const c = counted.counts;
  return { allReduceBytes: c.allReduceBytes / steps, allReduceCalls: c.allReduceCalls / steps, broadcastBytes: c.broadcastBytes / steps, broadcastCalls: c.broadcastCalls / steps, allGatherBytes: c.allGatherBytes / steps, allGatherCalls: c.allGatherCalls / steps };
}

function worker(): void {
  kernels().setThreads(1);
  const comm = init();
  const result: Record<string, unknown> = { ranks: comm.size, throughput: PROBLEMS.map((p) => throughput(comm, p, 'adam')) };
  if (comm.size > 1) result.allReduce = allReduceCost(comm);
  if (comm.size > 1 && !args.includes('--no-kfac-bytes')) result.kfacBytes = kfacBytes(comm);
  if (comm.rank === 0) console.log(`RESULT ${JSON.stringify(result)}`);
}

/**
 * t = α + bytes/β: α from the smallest message; β the median over messages of 40 kB and more
 * of bytes/(t − α) (one size hit by descheduling on a loaded machine does not set it).
 */
function fit(points: { floats: number; seconds: number }[]): { alpha: number; beta: number } {
  const alpha = points[0].seconds;
  const rates = points.filter((p) => p.floats >= 1e4).map((p) => (4 * p.floats) / Math.max(p.seconds - alpha, 1e-9)).sort((a, b) => a - b);
  return { alpha, beta: rates[rates.length >> 1] };
}

function stepModel(computeOneRank: number, leaves: number, bytes: number, alpha: number, bandwidth: number, k: number): number {
  if (k === 1) return computeOneRank;
  return computeOneRank / k + leaves * 2 * Math.ceil(Math.log2(k)) * alpha + (2 * bytes) / bandwidth;
}

function main(): void {
  const mpi = mpirunCommand();
  if ('skip' in mpi) {
    console.log(`bench:distributed skipped: ${mpi.skip}`);
    return;
  }
  const file = fileURLToPath(import.meta.url);
  const results: Record<number, { throughput: Throughput[]; allReduce?: { floats: number; seconds: number }[] }> = {};
  for (const k of [1, RANKS]) {
    const r = runUnderMpirun(file, k, args, {}, 1_800_000);
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (r.status !== 0 || line === undefined) throw new Error(`mpirun -np ${k} failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
    results[k] = JSON.parse(line.slice(7)) as (typeof results)[number];
  }
  console.log(`data-parallel training, adam, global batch ${BATCH}, ${STEPS} steps, MNIST size '${SIZE}', one native thread per rank, loopback (same run)`);
  console.log('(time in collectives includes waiting for the slower rank)');
  const rows = PROBLEMS.flatMap((p) => [1, RANKS].map((k) => {
    const t = results[k].throughput.find((x) => x.problem === p) as Throughput;
    const base = results[1].throughput.find((x) => x.problem === p) as Throughput;
    return [p, String(k), t.params.toLocaleString('en-US'), (1000 * t.stepSeconds).toFixed(1), (1000 * t.commSeconds).toFixed(1), t.examplesPerSecond.toFixed(0), (t.examplesPerSecond / base.examplesPerSecond).toFixed(2)];
  }));
  console.log(table(['problem', 'ranks', 'parameters', 'step ms', 'in collectives ms', 'examples/s', 'speed-up'], rows));
  const ar = results[RANKS].allReduce ?? [];
  console.log(`\nall-reduce (reduce + broadcast, float32, ${RANKS} ranks, loopback)`);
  console.log(table(['floats', 'bytes', 'ms', 'GB/s'], ar.map((p) => [p.floats.toLocaleString('en-US'), (4 * p.floats).toLocaleString('en-US'), (1000 * p.seconds).toFixed(3), ((4 * p.floats) / p.seconds / 1e9).toFixed(2)])));
  const kb = (results[RANKS] as { kfacBytes?: CollectiveCounts }).kfacBytes;
  if (kb !== undefined) {
    const mb = (b: number) => (b / 1e6).toFixed(2);
    console.log(`\nK-FAC on autoencoder-mnist, ${RANKS} ranks, global batch ${BATCH}: per rank per step (no inverse refresh), all-reduce ${mb(kb.allReduceBytes)} MB in ${kb.allReduceCalls} calls (gradient, curvature products and the factors: one buffer of upper triangles), all-gather ${mb(kb.allGatherBytes)} MB, broadcast ${mb(kb.broadcastBytes)} MB`);
  }
  const { alpha, beta } = fit(ar);
  console.log(`fit: latency α = ${(1e6 * alpha).toFixed(1)} µs, loopback bandwidth β = ${(beta / 1e9).toFixed(2)} GB/s`);

  const ae = results[1].throughput.find((x) => x.problem === 'autoencoder-mnist') as Throughput;
  const compute = ae.stepSeconds; // one rank: no communication
  const flopsRate = (6 * ae.params * BATCH) / compute;
  const models = [
    { name: `autoencoder-mnist (${(ae.params / 1e6).toFixed(2)}M)`, compute, leaves: ae.leaves, bytes: 4 * ae.params },
    { name: '100M dense (scaled)', compute: (6 * 1e8 * BATCH) / flopsRate, leaves: 200, bytes: 4e8 },
  ];
  const ks = [1, 2, 4, 8, 16, 32, 64];
  console.log(`\nstep-time model, global batch ${BATCH} (strong scaling): T(K) = C/K + L·2⌈log₂K⌉·α + 2·bytes/B, α = ${(1e6 * alpha).toFixed(1)} µs, C measured on one rank (${(flopsRate / 1e9).toFixed(1)} GFLOP/s), float32 gradients`);
  for (const bw of [...BANDWIDTHS.map((g) => ({ label: `${g} Gbit/s`, bytesPerSecond: (g * 1e9) / 8 })), { label: 'loopback (measured)', bytesPerSecond: beta }]) {
    console.log(`\nnetwork ${bw.label}`);
    console.log(table(['model', ...ks.map((k) => `K=${k} ms`), 'best K'], models.map((m) => {
      const ts = ks.map((k) => stepModel(m.compute, m.leaves, m.bytes, alpha, bw.bytesPerSecond, k));
      const best = ks[ts.indexOf(Math.min(...ts))];
      return [m.name, ...ts.map((t) => (1000 * t).toFixed(1)), String(best)];
    })));
  }
}

if (isMpiWorker()) worker();
else main();

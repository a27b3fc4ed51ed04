/**
 * `hessian bench`: a suite (quick by default, see bench/suites.ts) or chosen optimizers on chosen
 * problems for several seeds, each run under a budget and ending early when it converges or
 * diverges (bench/stopping.ts); writes DIR/results.json (schema in bench/schema.ts and the README)
 * and a self-contained DIR/report.html, and prints a headline per problem, then a table of time
 * and steps to a target loss with ratios to Adam. Where Debian's python3-torch is installed, the
 * suite's peer problems also run in PyTorch (Adam, SGD with momentum, L-BFGS) in the same invocation.
 */
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import cliProgress from 'cli-progress';
import { info } from '../info.js';
import { problemById, type DataSize } from '../bench/problems.js';
import { OPTIMIZERS, optimizerEntry } from '../optim/registry.js';
import { BatchSizeError, divergenceWarning, parseBudget, runOne, type Budget, type RunRecord } from '../bench/runner.js';
import { hyperFor, TUNE_GRID, type Hyper } from '../bench/hyper.js';
import { applyHyperArgs, type HyperArgs } from './hyper-args.js';
import { hasRelL2, renderReport, summarize } from '../bench/report.js';
import { headlines } from '../bench/headline.js';
import { resolveStopping } from '../bench/stopping.js';
import { suiteById, suiteHyper, SUITES, type Suite } from '../bench/suites.js';
import type { Results } from '../bench/schema.js';
import { runTorchPeers } from '../bench/peers.js';
import { table } from '../bench/util.js';
import { UsageError } from './errors.js';
import { seqLengthArg, sizeArg } from './train.js';
import { distributedWorld, quietUnlessLeader } from './distributed-args.js';
import type { Communicator } from '../distributed/communicator.js';

export type { Results } from '../bench/schema.js';

export interface BenchArgs extends HyperArgs {
  suite?: string;
  problems?: string;
  optimizers?: string;
  budget?: string;
  seeds?: string;
  out?: string;
  size?: string;
  tune?: boolean;
  'no-peers'?: boolean;
  /** Run every run to its budget (no convergence or divergence stops). */
  'no-stop'?: boolean;
  /** Top Hessian eigenvalue and trace at the curve points of every N-th step. */
  'curvature-every'?: string;
  /** Sequence length of the rnn-* problems. */
  'seq-length'?: string;
  json?: boolean;
  /** Under mpirun: every run data-parallel over the ranks; rank 0 alone prints and writes. */
  distributed?: boolean;
}

/** The default suite (`--suite quick`). */
export const DEFAULT_SUITE = SUITES.quick;

function list(name: string, v: string | undefined, dflt: string[], valid: (id: string) => void): string[] {
  const ids = v === undefined ? dflt : v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ids.length === 0) throw new UsageError(`--${name} is empty`);
  for (const id of ids) {
    try {
      valid(id);
    } catch (e) {
      throw new UsageError(e instanceof Error ? e.message : String(e));
    }
  }
  return ids;
}

function tune(problem: string, optimizer: string, budget: Budget, size: DataSize, suite: Suite, distributed: Communicator | undefined, seqLength?: number): Hyper {
  const base = suiteHyper(suite, problem, optimizer, hyperFor(problem, problemById(problem).kind, optimizer));
  const grid = TUNE_GRID[optimizer];
  if (grid === undefined) return base;
  let best = base;
  let bestLoss = Infinity;
  const short: Budget = budget.seconds !== undefined ? { seconds: budget.seconds / 4 } : { steps: Math.max(1, Math.floor((budget.steps ?? 100) / 4)) };
  for (const lr of grid) {
    const h: Hyper = { options: { ...base.options, lr }, batchSize: base.batchSize };
    const { record } = runOne(problem, optimizer, 0, short, { size, seqLength, hyper: h, distributed });
    const l = record.final.trainLoss;
    if (Number.isFinite(l) && l < bestLoss) {
      bestLoss = l;
      best = h;
    }
  }
  return best;
}

/** A run's final line of the progress log. */
function runLine(r: RunRecord): string {
  return `${r.optimizer} on ${r.problem} (seed ${r.seed}): ${r.final.step} steps, ${r.final.seconds.toFixed(2)}s, train loss ${r.final.trainLoss.toPrecision(5)}${r.final.relL2 === undefined ? '' : `, relative L2 error ${r.final.relL2.toPrecision(3)}`}, ${r.final.stopped} (${r.final.stopReason})`;
}

export async function runBench(a: BenchArgs): Promise<number> {
  const comm = a.distributed === true ? distributedWorld('npx hessian bench') : undefined;
  const restore = quietUnlessLeader(comm);
  try {
    return await benchOnRanks(a, comm);
  } finally {
    restore();
  }
}

async function benchOnRanks(a: BenchArgs, comm: Communicator | undefined): Promise<number> {
  const leader = comm === undefined || comm.rank === 0;
  let suite;
  try {
    suite = suiteById(a.suite ?? 'quick');
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  // Explicit lists replace the suite's; the suite name records what the defaults came from.
  const custom = a.problems !== undefined && a.optimizers !== undefined && a.suite === undefined;
  const suiteOptimizers = suite.optimizers.filter((o) => OPTIMIZERS.has(o));
  const problems = list('problems', a.problems, [...suite.problems], (id) => problemById(id));
  const optimizers = list('optimizers', a.optimizers, suiteOptimizers, (id) => optimizerEntry(id));
  let budget: Budget;
  try {
    budget = parseBudget(a.budget ?? suite.budget);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const seeds = a.seeds === undefined ? suite.seeds : Number(a.seeds);
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > 100) throw new UsageError(`--seeds must be an integer in [1, 100], got '${a.seeds}'`);
  const size: DataSize = a.size === undefined ? suite.size : sizeArg(a.size);
  const seqLength = seqLengthArg(a['seq-length'], problems);
  const tuned = a.tune === true || (a.tune === undefined && suite.tune);
  const ce = a['curvature-every'];
  const curvatureEvery = ce === undefined ? undefined : Number(ce);
  if (curvatureEvery !== undefined && (!Number.isSafeInteger(curvatureEvery) || curvatureEvery < 1)) throw new UsageError(`--curvature-every must be a positive integer, got '${ce}'`);
  const overrides = a.lr !== undefined || a['batch-size'] !== undefined || (a.set ?? []).length > 0;
  if (overrides && a.tune === true) throw new UsageError('--tune chooses the learning rate itself: give --tune or --lr/--batch-size/--set, not both');
  const hyperOf = (p: string, o: string): Hyper => {
    const base = suiteHyper(suite, p, o, hyperFor(p, problemById(p).kind, o));
    return overrides ? applyHyperArgs(o, base, a) : base;
  };
  // Flags that an optimizer refuses fail before any run starts, and so does a batch size larger
  // than a problem's training set (each problem built once at this size to read it).
  if (overrides) for (const p of problems) for (const o of optimizers) hyperOf(p, o);
  // A share (25%) fits every training set; a count is checked against each.
  const givenBatch = a['batch-size'] === undefined || a['batch-size'] === 'full' || a['batch-size'].includes('%') ? undefined : Number(a['batch-size']);
  if (givenBatch !== undefined) {
    for (const p of problems) {
      const n = problemById(p).build(0, { size, seqLength }).trainSize;
      if (givenBatch > n) throw new UsageError(`--batch-size: ${new BatchSizeError(givenBatch, n, p).message}`);
    }
  }
  const stopping = a['no-stop'] === true ? false as const : resolveStopping();
  const stoppingSettings = stopping === false ? false as const
    : { gradientTolerance: stopping.gradientTolerance, lossTolerance: stopping.lossTolerance, patience: stopping.patience, decreaseTolerance: stopping.decreaseTolerance };
  // The peer runs the suite's peer problems, or every model problem when the lists were given.
  // (The peer has no recurrent models: rnn-* problems run without it.)
  const peerProblems = (a.problems === undefined ? problems.filter((p) => suite.peerProblems.includes(p)) : problems).filter((p) => !p.startsWith('rnn-'));
  const out = resolve(a.out ?? 'bench-out');
  if (leader) try {
    mkdirSync(out, { recursive: true });
    const probe = join(out, '.hessian-write-test');
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    throw new UsageError(`cannot write to output directory '${out}': ${e instanceof Error ? e.message : String(e)}`);
  }
  const total = problems.length * optimizers.length * seeds;
  const tty = process.stdout.isTTY === true && !a.json;
  const bar = tty ? new cliProgress.SingleBar({ format: 'bench |{bar}| {value}/{total} runs | {what}', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(total, 0, { what: '' });
  const log = (s: string) => { if (!tty && !a.json) console.log(s); };
  const runs: RunRecord[] = [];
  let done = 0;
  const started = performance.now();
  for (const p of problems) {
    for (const o of optimizers) {
      const hyper = tuned && !overrides ? tune(p, o, budget, size, suite, comm, seqLength) : hyperOf(p, o);
      for (let seed = 0; seed < seeds; seed++) {
        bar?.update(done, { what: `${o} on ${p}, seed ${seed}` });
        const { record } = runOne(p, o, seed, budget, { size, seqLength, hyper, stopping: stopping === false ? false : true, curvatureEvery, distributed: comm });
        runs.push(record);
        done++;
        log(`[${done}/${total}] ${runLine(record)}`);
        const warning = divergenceWarning(record);
        if (warning !== undefined) console.warn(warning);
      }
    }
  }
  bar?.update(done, { what: 'PyTorch peers' });
  const peer = a['no-peers'] ? { available: false, reason: 'disabled with --no-peers', runs: [] as RunRecord[] }
    : !leader ? { available: false, reason: 'run by rank 0', runs: [] as RunRecord[] }
    : peerProblems.length === 0 ? { available: false, reason: `the ${suite.id} suite runs no peer problem among these`, runs: [] as RunRecord[] }
      : runTorchPeers(peerProblems, seeds, budget, size);
  for (const r of peer.runs) {
    // The peer has no stopping rules: its runs end on the budget or a non-finite loss.
    r.final.stopReason ??= r.final.stopped === 'budget' ? 'the budget ran out (the PyTorch peer has no stopping rules)' : 'the training loss became non-finite';
    runs.push(r);
  }
  const wall = (performance.now() - started) / 1000;
  bar?.stop();
  const i = info();
  const results: Results = {
    version: i.version,
    created: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, backend: i.backend, simd: i.simd, threads: i.threads, node: i.node, ...(comm !== undefined ? { ranks: comm.size } : {}) },
    settings: { budget, seeds, size, tuned, suite: custom ? 'custom' : suite.id, stopping: stoppingSettings, ...(seqLength !== undefined ? { seqLength } : {}) },
    headlines: headlines(runs),
    runs,
    peers: { torch: { available: peer.available, reason: peer.reason, version: 'version' in peer ? (peer as { version?: string }).version : undefined } },
  };
  if (!leader) return 0;
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 1));
  writeFileSync(join(out, 'report.html'), renderReport(results));
  if (a.json) {
    console.log(JSON.stringify({ out, results: join(out, 'results.json'), report: join(out, 'report.html'), runs: runs.length }));
    return 0;
  }
  console.log(`\n${results.headlines.map((h) => h.text).join('\n')}`);
  for (const s of summarize(results)) {
    console.log(`\n${s.problem} (target loss ${s.target.toPrecision(4)}: the highest final loss of the Adam runs; medians over seeds)`);
    const rel = hasRelL2(s);
    console.log(table(['optimizer', 'final loss', 'steps to target', 'seconds to target', 'time vs adam', 'steps vs adam', 'stopped', ...(rel ? ['rel. L2 error'] : [])], s.rows.map((r) => [
      r.optimizer, r.finalLoss.toPrecision(4), r.stepsToTarget ?? '-', r.secondsToTarget === undefined ? '-' : r.secondsToTarget.toFixed(2),
      r.timeRatio === undefined ? '-' : r.timeRatio.toFixed(2), r.stepRatio === undefined ? '-' : r.stepRatio.toFixed(2), r.stopped,
      ...(rel ? [r.finalRelL2 === undefined ? '-' : r.finalRelL2.toPrecision(3)] : []),
    ])));
  }
  if (!peer.available) console.log(`\nPyTorch peer skipped: ${peer.reason}`);
  console.log(`\n${runs.length} runs in ${wall.toFixed(0)} s of wall-clock time (suite ${results.settings.suite})`);
  console.log(`\nwrote ${join(out, 'results.json')} and ${join(out, 'report.html')} (open the report in a browser: it is one offline file)`);
  return 0;
}

/**
 * `hessian bench`: every chosen optimizer on every chosen problem for several seeds, under a
 * budget; writes DIR/results.json (schema in the README) and a self-contained DIR/report.html,
 * and prints a table of time and steps to a target loss with ratios to Adam. Where Debian's
 * python3-torch is installed, the same model problems also run in PyTorch (Adam, SGD with
 * momentum, L-BFGS) in the same invocation.
 */
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import cliProgress from 'cli-progress';
import { info } from '../info.js';
import { problemById, type DataSize } from '../bench/problems.js';
import { OPTIMIZERS, optimizerEntry } from '../optim/registry.js';
import { divergenceWarning, parseBudget, runOne, type Budget, type RunRecord } from '../bench/runner.js';
import { hyperFor, TUNE_GRID, type Hyper } from '../bench/hyper.js';
import { renderReport, summarize } from '../bench/report.js';
import { runTorchPeers } from '../bench/peers.js';
import { table } from '../bench/util.js';
import { UsageError } from './errors.js';
import { sizeArg } from './train.js';

export interface BenchArgs {
  problems?: string;
  optimizers?: string;
  budget?: string;
  seeds?: string;
  out?: string;
  size?: string;
  tune?: boolean;
  'no-peers'?: boolean;
  json?: boolean;
}

/** The default suite: about five minutes on 2 cores. */
export const DEFAULT_SUITE = {
  problems: ['mgh/rosenbrock', 'mlp-iris', 'logreg-mnist', 'autoencoder-curves'],
  optimizers: ['sgd', 'momentum', 'adam', 'lbfgs', 'hessian-free', 'kfac'],
  budget: '8s',
};

export interface Results {
  version: string;
  created: string;
  machine: { cpu: string; cores: number; backend: string; simd: string; threads: number; node: string };
  settings: { budget: Budget; seeds: number; size: DataSize; tuned: boolean };
  runs: RunRecord[];
  peers: { torch: { available: boolean; reason?: string; version?: string } };
}

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

function tune(problem: string, optimizer: string, budget: Budget, size: DataSize): Hyper {
  const base = hyperFor(problem, problemById(problem).kind, optimizer);
  const grid = TUNE_GRID[optimizer];
  if (grid === undefined) return base;
  let best = base;
  let bestLoss = Infinity;
  const short: Budget = budget.seconds !== undefined ? { seconds: budget.seconds / 4 } : { steps: Math.max(1, Math.floor((budget.steps ?? 100) / 4)) };
  for (const lr of grid) {
    const h: Hyper = { options: { ...base.options, lr }, batchSize: base.batchSize };
    const { record } = runOne(problem, optimizer, 0, short, { size, hyper: h });
    const l = record.final.trainLoss;
    if (Number.isFinite(l) && l < bestLoss) {
      bestLoss = l;
      best = h;
    }
  }
  return best;
}

export async function runBench(a: BenchArgs): Promise<number> {
  const suiteOptimizers = DEFAULT_SUITE.optimizers.filter((o) => OPTIMIZERS.has(o));
  const problems = list('problems', a.problems, DEFAULT_SUITE.problems, (id) => problemById(id));
  const optimizers = list('optimizers', a.optimizers, suiteOptimizers, (id) => optimizerEntry(id));
  let budget: Budget;
  try {
    budget = parseBudget(a.budget ?? DEFAULT_SUITE.budget);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const seeds = a.seeds === undefined ? 1 : Number(a.seeds);
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > 100) throw new UsageError(`--seeds must be an integer in [1, 100], got '${a.seeds}'`);
  const size = sizeArg(a.size);
  const out = resolve(a.out ?? 'bench-out');
  try {
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
  for (const p of problems) {
    for (const o of optimizers) {
      const hyper = a.tune ? tune(p, o, budget, size) : hyperFor(p, problemById(p).kind, o);
      for (let seed = 0; seed < seeds; seed++) {
        bar?.update(done, { what: `${o} on ${p}, seed ${seed}` });
        const { record } = runOne(p, o, seed, budget, { size, hyper });
        runs.push(record);
        done++;
        log(`[${done}/${total}] ${o} on ${p} (seed ${seed}): ${record.final.step} steps, ${record.final.seconds.toFixed(2)}s, train loss ${record.final.trainLoss.toPrecision(5)} (${record.final.stopped})`);
        const warning = divergenceWarning(record);
        if (warning !== undefined) console.warn(warning);
      }
    }
  }
  bar?.update(done, { what: 'PyTorch peers' });
  const peer = a['no-peers'] ? { available: false, reason: 'disabled with --no-peers', runs: [] as RunRecord[] } : runTorchPeers(problems, seeds, budget, size);
  runs.push(...peer.runs);
  bar?.stop();
  const i = info();
  const results: Results = {
    version: i.version,
    created: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, backend: i.backend, simd: i.simd, threads: i.threads, node: i.node },
    settings: { budget, seeds, size, tuned: a.tune === true },
    runs,
    peers: { torch: { available: peer.available, reason: peer.reason, version: 'version' in peer ? (peer as { version?: string }).version : undefined } },
  };
  writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 1));
  writeFileSync(join(out, 'report.html'), renderReport(results));
  if (a.json) {
    console.log(JSON.stringify({ out, results: join(out, 'results.json'), report: join(out, 'report.html'), runs: runs.length }));
    return 0;
  }
  for (const s of summarize(results)) {
    console.log(`\n${s.problem} (target loss ${s.target.toPrecision(4)}: the best Adam reached; median over seeds)`);
    console.log(table(['optimizer', 'final loss', 'steps to target', 'seconds to target', 'time vs adam', 'steps vs adam'], s.rows.map((r) => [
      r.optimizer, r.finalLoss.toPrecision(4), r.stepsToTarget ?? '-', r.secondsToTarget === undefined ? '-' : r.secondsToTarget.toFixed(2),
      r.timeRatio === undefined ? '-' : r.timeRatio.toFixed(2), r.stepRatio === undefined ? '-' : r.stepRatio.toFixed(2),
    ])));
  }
  if (!peer.available) console.log(`\nPyTorch peer skipped: ${peer.reason}`);
  console.log(`\nwrote ${join(out, 'results.json')} and ${join(out, 'report.html')} (open the report in a browser: it is one offline file)`);
  return 0;
}

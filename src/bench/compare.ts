/**
 * Shared driver of the method benchmarks (`bench:hf`, `bench:kfac`): several optimizers on
 * several problems, same seed and data, each under the same budget; a table per problem with
 * final losses, time and steps to the loss Adam reaches, and method-specific columns.
 */
import { runOne, runSteps, parseBudget, type RunRecord } from './runner.js';
import { hyperFor, mergeOptions, type BatchGrowth, type BatchSize } from './hyper.js';
import { problemById } from './problems.js';
import type { DataSize } from './problems.js';
import { table } from './util.js';
import { summarize } from './report.js';
import type { Results } from './schema.js';
import { info } from '../info.js';

export interface CompareArgs {
  problems: string[];
  optimizers: string[];
  budget: string;
  size: DataSize;
  seed: number;
  /**
   * Options merged over the hyper-parameter table's, per optimizer id (e.g. bench:kfac's --kfac).
   * An entry of `optimizers` may be a variant `id@label` (bench:hf's --variants): it runs optimizer
   * `id` with the table's row for `id` and the options and batch size given under `id@label`, and
   * its row in the table is labelled `id@label`.
   */
  options?: Record<string, Record<string, unknown>>;
  /** Batch sizes over the table's, per optimizer id (e.g. bench:kfac's --kfac-batch). */
  batchSizes?: Record<string, BatchSize>;
  /** Batch growth (Hyper.batchGrowth) over the table's, per optimizer id or variant. */
  batchGrowth?: Record<string, BatchGrowth>;
  /**
   * `--interleave`: a problem's optimizers run in one loop, each step going to the run with the
   * least optimizer time so far, so that every run sees the same machine load (on a shared
   * machine the load can double between one run and the next). Default: one after the other.
   */
  interleave?: boolean;
  /**
   * `--clock=cpu`: budgets and times in CPU seconds of this process (user + system, all threads)
   * instead of wall seconds, for a machine shared with other work (see RunOptions.clock).
   */
  clock?: 'wall' | 'cpu';
}

function clockOf(v: string): 'wall' | 'cpu' {
  if (v !== 'wall' && v !== 'cpu') throw new RangeError(`--clock must be 'wall' or 'cpu', got '${v}'`);
  return v;
}

export function argsFrom(argv: string[], defaults: CompareArgs): CompareArgs {
  const get = (k: string) => argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
  return {
    problems: get('problems')?.split(',') ?? defaults.problems,
    optimizers: get('optimizers')?.split(',') ?? defaults.optimizers,
    budget: get('budget') ?? defaults.budget,
    size: (get('size') as DataSize | undefined) ?? defaults.size,
    seed: Number(get('seed') ?? defaults.seed),
    interleave: argv.includes('--interleave') || defaults.interleave === true,
    clock: clockOf(get('clock') ?? defaults.clock ?? 'wall'),
  };
}

export function compare(a: CompareArgs, extra: (r: RunRecord) => Record<string, string | number>): RunRecord[] {
  const budget = parseBudget(a.budget);
  const i = info();
  console.log(`backend ${i.backend} (${i.simd}, ${i.threads} threads); budget ${a.budget} per run; data size ${a.size}; seed ${a.seed}${a.interleave === true ? '; runs interleaved' : ''}${a.clock === 'cpu' ? '; times in CPU seconds (user + system, all threads)' : ''}`);
  const runs: RunRecord[] = [];
  const idOf = (o: string) => o.split('@')[0];
  const hyperOf = (p: string, o: string) => {
    const extra = a.options?.[o];
    const batchSize = a.batchSizes?.[o];
    const batchGrowth = a.batchGrowth?.[o];
    const listed = hyperFor(p, problemById(p).kind, idOf(o));
    return extra === undefined && batchSize === undefined && batchGrowth === undefined ? undefined
      : { ...listed, options: mergeOptions(listed.options, extra), ...(batchSize === undefined ? {} : { batchSize }), ...(batchGrowth === undefined ? {} : { batchGrowth }) };
  };
  const done = (p: string, o: string, record: RunRecord, t0: number) => {
    runs.push(o === record.optimizer ? record : { ...record, optimizer: o });
    console.log(`  ${o} on ${p}: ${record.final.step} steps, ${record.final.seconds.toFixed(1)}s optimizer ${a.clock === 'cpu' ? 'CPU ' : ''}time (${((Date.now() - t0) / 1000).toFixed(1)}s with evaluations), train loss ${record.final.trainLoss.toPrecision(5)}`);
  };
  for (const p of a.problems) {
    if (a.interleave === true) {
      const t0 = Date.now();
      const live = a.optimizers.map((o) => ({ o, gen: runSteps(p, idOf(o), a.seed, budget, { size: a.size, hyper: hyperOf(p, o), clock: a.clock }), seconds: 0 }));
      while (live.length > 0) {
        let k = 0;
        for (let j = 1; j < live.length; j++) if (live[j].seconds < live[k].seconds) k = j;
        const next = live[k].gen.next();
        if (next.done === true) {
          done(p, live[k].o, next.value.record, t0);
          live.splice(k, 1);
        } else {
          live[k].seconds = next.value.seconds;
        }
      }
      continue;
    }
    for (const o of a.optimizers) {
      const t0 = Date.now();
      const { record } = runOne(p, idOf(o), a.seed, budget, { size: a.size, hyper: hyperOf(p, o), clock: a.clock });
      done(p, o, record, t0);
    }
  }
  const results = { runs, settings: { seeds: 1 } } as unknown as Results;
  for (const s of summarize(results)) {
    const rs = runs.filter((r) => r.problem === s.problem);
    console.log(`\n${s.problem}: target loss ${s.target.toPrecision(5)} (what Adam reached)`);
    const cols = Object.keys(extra(rs[0]));
    console.log(table(['optimizer', 'final loss', ...cols, 'steps', 'seconds to target', 'steps to target', 'time vs adam', 'steps vs adam'], s.rows.map((row) => {
      const r = rs.find((x) => x.optimizer === row.optimizer) as RunRecord;
      const e = extra(r);
      return [row.optimizer, row.finalLoss.toPrecision(5), ...cols.map((c) => e[c]), r.final.step,
        row.secondsToTarget?.toFixed(2) ?? '-', row.stepsToTarget ?? '-', row.timeRatio?.toFixed(2) ?? '-', row.stepRatio?.toFixed(2) ?? '-'];
    })));
  }
  return runs;
}

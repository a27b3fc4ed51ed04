/**
 * `npm run bench:rnn`: the pathological long-term tasks (Hochreiter & Schmidhuber 1997, as in
 * Martens & Sutskever 2011) at T = 30 and 50: Hessian-free with structural damping, Adam and SGD
 * with momentum (the papers' baselines), and a K-FAC slot (reported "not applicable" while K-FAC
 * has no recurrent blocks). A run is solved when fewer than 1% of 10,000 fresh test sequences are
 * wrong (screened every tenth of the budget on 1,000 others first); the table gives per seed the
 * optimizer time to solve, or the final error; then the longest T each method solved.
 * Options: --budget=20 (seconds of optimizer time per run) --seeds=3 --lengths=30,50
 * --tasks=addition,... --optimizers=hessian-free,adam,momentum,kfac --size=small --out=FILE.json
 */
import { writeFileSync } from 'node:fs';
import type { PyTree } from '../autodiff/pytree.js';
import { detachedScope, runInScope, sweepScope, closeScope, tidy } from '../tensor/scope.js';
import { optimizerEntry } from '../optim/registry.js';
import type { OptimizerState } from '../optim/types.js';
import { SEQUENCE_TASKS, generateSequenceTask, sequenceTaskError } from '../data/sequence-tasks.js';
import { problemById, type DataSize } from './problems.js';
import { hyperFor } from './hyper.js';
import { table } from './util.js';
import { info } from '../info.js';

interface RnnRun {
  task: string;
  length: number;
  optimizer: string;
  seed: number;
  /** Optimizer seconds to the first confirmed success, or null. */
  solvedAt: number | null;
  /** Test error on the 10,000 sequences at the end (or at success). */
  testError: number | null;
  steps: number;
  /** Why the method could not run here ("not applicable"), if so. */
  notApplicable?: string;
}

const argv = process.argv.slice(2);
const get = (k: string) => argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
const budget = Number(get('budget') ?? 20);
const seeds = Number(get('seeds') ?? 3);
const lengths = (get('lengths') ?? '30,50').split(',').map(Number);
const tasks = (get('tasks') ?? SEQUENCE_TASKS.join(',')).split(',');
const optimizers = (get('optimizers') ?? 'hessian-free,adam,momentum,kfac').split(',');
const size = (get('size') ?? 'small') as DataSize;
const out = get('out');
if (!(budget > 0) || !Number.isInteger(seeds) || seeds < 1 || lengths.some((t) => !Number.isInteger(t) || t < 1)) {
  throw new RangeError('bench:rnn: --budget must be positive seconds, --seeds a positive integer, --lengths positive integers');
}

function runOneRnn(task: string, length: number, optimizer: string, seed: number): RnnRun {
  const id = `rnn-${task}`;
  const problem = problemById(id);
  const inst = problem.build(seed, { size, seqLength: length });
  const hyper = hyperFor(id, problem.kind, optimizer);
  const base: RnnRun = { task, length, optimizer, seed, solvedAt: null, testError: null, steps: 0 };
  const model = inst.model;
  if (model === undefined) throw new Error(`${id}: no model`);
  const screen = generateSequenceTask(task, { n: 1000, length, seed: 77_000 + seed });
  let params: PyTree = inst.params;
  let state: OptimizerState;
  let opt;
  try {
    opt = optimizerEntry(optimizer).create(hyper.options);
    state = opt.init(params);
  } catch (e) {
    return { ...base, notApplicable: e instanceof Error ? e.message : String(e) };
  }
  const carried = detachedScope();
  let seconds = 0;
  let nextScreen = budget / 10;
  const full = (p: PyTree) => tidy(() => inst.evaluate(p).testError ?? 1);
  try {
    while (seconds < budget) {
      const t0 = process.hrtime.bigint();
      let res;
      try {
        const k = base.steps;
        res = runInScope(carried, () => opt.step(params, state, hyper.batchSize === 'full' ? inst.full : inst.batch(k, hyper.batchSize)));
      } catch (e) {
        // A method without recurrent curvature blocks (K-FAC today) fails at its first step.
        if (base.steps === 0) return { ...base, notApplicable: e instanceof Error ? e.message : String(e) };
        throw e;
      }
      seconds += Number(process.hrtime.bigint() - t0) / 1e9;
      params = res.params;
      state = res.state;
      sweepScope(carried, [params, state]);
      base.steps++;
      if (seconds >= nextScreen || seconds >= budget) {
        nextScreen = seconds + budget / 10;
        const p = params;
        const quick = tidy(() => sequenceTaskError(task, model.apply(p as never, screen.x), screen.y));
        if (quick < 0.01) {
          const err = full(p);
          if (err < 0.01) return { ...base, solvedAt: seconds, testError: err };
        }
      }
    }
    return { ...base, testError: full(params) };
  } finally {
    closeScope(carried, []);
  }
}

const i = info();
console.log(`backend ${i.backend} (${i.threads} threads); ${budget} s of optimizer time per run; ${seeds} seeds; data size ${size} (hidden 32, 1000 training sequences, fresh mini-batches of 100 for the baselines)`);
const runs: RnnRun[] = [];
const rows: string[][] = [];
for (const task of tasks) {
  for (const length of lengths) {
    for (const optimizer of optimizers) {
      const rs: RnnRun[] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const r = runOneRnn(task, length, optimizer, seed);
        rs.push(r);
        runs.push(r);
        if (r.notApplicable !== undefined) break;
      }
      const na = rs[0].notApplicable;
      const solved = rs.filter((r) => r.solvedAt !== null).length;
      rows.push([task, String(length), optimizer, na !== undefined ? 'not applicable' : `${solved}/${rs.length}`,
        na !== undefined ? na.slice(0, 60) : rs.map((r) => (r.solvedAt !== null ? `${r.solvedAt.toFixed(1)}s` : `- (${r.testError === null ? '?' : (100 * r.testError).toFixed(1)}% wrong, ${r.steps} st.)`)).join('; ')]);
      console.log(rows[rows.length - 1].join(' | '));
    }
  }
}
console.log('');
console.log(table(['task', 'T', 'optimizer', 'solved', 'time to solve per seed (or final test error, steps)'], rows));
console.log('\nlongest T solved (by at least one seed) within the budget:');
for (const optimizer of optimizers) {
  const line = tasks.map((task) => {
    const ok = runs.filter((r) => r.task === task && r.optimizer === optimizer && r.solvedAt !== null).map((r) => r.length);
    return `${task} ${ok.length > 0 ? Math.max(...ok) : '-'}`;
  });
  console.log(`  ${optimizer}: ${line.join(', ')}`);
}
if (out !== undefined) writeFileSync(out, JSON.stringify({ budgetSeconds: budget, seeds, size, runs }, null, 1));

/**
 * The benchmark of `npm run bench:rnn` as a function: the pathological long-term tasks
 * (Hochreiter & Schmidhuber 1997, as in Martens & Sutskever 2011) per task × length T × method ×
 * seed, each run until it is solved (the papers' criterion: fewer than 1% of the test sequences
 * wrong) or its budget of CPU seconds is spent. CPU time (user + system of this process, over the
 * optimizer's steps only) is the budget because the machine is shared: wall time is reported
 * beside it. A run is screened every twentieth of its budget on 1,000 fresh sequences; when
 * those pass, the full test set decides (10,000 fresh sequences at size small), so `solved` is
 * exactly `testError < criterion` on the full test set.
 */
import type { PyTree } from '../autodiff/pytree.js';
import { detachedScope, runInScope, sweepScope, closeScope, tidy } from '../tensor/scope.js';
import { optimizerEntry } from '../optim/registry.js';
import type { Optimizer, OptimizerState } from '../optim/types.js';
import { SEQUENCE_TASKS, generateSequenceTask, sequenceTaskError, type SequenceTaskName } from '../data/sequence-tasks.js';
import { rnnProblemInstance, RNN_SIZES, SPECTRAL_RADIUS, type RnnDataSize } from './rnn-problems.js';
import { table } from './util.js';

/** A method of the benchmark: an optimizer with its settings on these problems, and why. */
export interface RnnMethod {
  readonly optimizer: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** Sequences per step: fresh ones every step (M&S's infinite-data regime), or the fixed training set. */
  readonly batchSize: number | 'full';
  readonly why: string;
}

/**
 * The methods and their settings (the same model for all), tried on rnn-addition at T = 30,
 * seed 0 only (CPU was scarce); nothing is tuned per task.
 */
export const RNN_METHODS: Readonly<Record<string, RnnMethod>> = {
  'hessian-free': {
    optimizer: 'hessian-free',
    options: { damping: 1, curvatureFraction: 0.25, cgMaxIter: 100, structuralDamping: { weight: 1 / 30 }, preconditioner: false },
    batchSize: 1000,
    why: 'M&S 2011: structural damping μ = λ/30 adapted with λ, Gauss-Newton products on a quarter of the batch; 1000 fresh sequences per step (on the fixed 1000-sequence training set HF overfits: the fresh-data loss rose from step 10 on temporal order and at T = 50)',
  },
  'kfac': {
    optimizer: 'kfac',
    options: {},
    batchSize: 100,
    why: 'K-FAC with the recurrent blocks of Martens, Ba & Johnson 2018, default quadratic-model step and damping (addition, T = 30: 14% wrong after 1400 steps, 35 CPU s, still falling)',
  },
  'adam': {
    optimizer: 'adam',
    options: { lr: 3e-3 },
    batchSize: 100,
    why: 'the baseline of the later literature; lr 3e-3 (at 1e-2 it still predicted the mean after 4000 steps on addition, T = 30)',
  },
  'momentum': {
    optimizer: 'momentum',
    options: { lr: 0.01, momentum: 0.9 },
    batchSize: 100,
    why: 'the papers\' baseline (SGD with momentum 0.9); untried beyond the smoke test',
  },
};

export interface RnnBenchOptions {
  tasks?: readonly string[];
  seqLengths?: readonly number[];
  methods?: readonly string[];
  seeds?: number;
  /** CPU seconds of optimizer steps per run. */
  budgetSeconds?: number;
  size?: RnnDataSize;
  /** A run is solved below this fraction wrong (the papers': 0.01). */
  criterion?: number;
  /** Called after each run (progress lines). */
  onRun?: (r: RnnRun) => void;
}

/** One run: a task at one length, one method, one seed. */
export interface RnnRun {
  task: string;
  seqLength: number;
  method: string;
  seed: number;
  /** `testError < criterion` on the full test set, at the check that ended the run or at the end. */
  solved: boolean;
  /** The fraction wrong on the full test set (`testSequences` fresh sequences), or null when the method could not run. */
  testError: number | null;
  testSequences: number;
  steps: number;
  cpuSeconds: number;
  wallSeconds: number;
  /** Steps, CPU and wall seconds at the check that found the run solved (null when unsolved). */
  stepsToSolve: number | null;
  cpuSecondsToSolve: number | null;
  wallSecondsToSolve: number | null;
  /** Why the method could not run here, if so. */
  notApplicable?: string;
}

export interface RnnReport {
  settings: { tasks: string[]; seqLengths: number[]; methods: string[]; seeds: number; budgetSeconds: number; size: RnnDataSize; criterion: number; hidden: number; spectralRadius: number; testSequences: number };
  methods: Record<string, RnnMethod>;
  runs: RnnRun[];
  /** Per method and task, the longest T that at least one seed solved within the budget (null: none). */
  longestSolved: Record<string, Record<string, number | null>>;
}

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function checkOptions(o: RnnBenchOptions) {
  const tasks = [...(o.tasks ?? SEQUENCE_TASKS)];
  for (const t of tasks) if (!(SEQUENCE_TASKS as readonly string[]).includes(t)) throw new RangeError(`bench:rnn: unknown task '${t}' in --tasks; valid: ${SEQUENCE_TASKS.join(', ')}`);
  const methods = [...(o.methods ?? Object.keys(RNN_METHODS))];
  for (const m of methods) if (RNN_METHODS[m] === undefined) throw new RangeError(`bench:rnn: unknown method '${m}' in --methods; valid: ${Object.keys(RNN_METHODS).join(', ')}`);
  const seqLengths = [...(o.seqLengths ?? [30, 50])];
  for (const t of seqLengths) if (!Number.isSafeInteger(t) || t < 1) throw new RangeError(`bench:rnn: --seq-lengths must be positive integers, got ${String(t)}`);
  const seeds = o.seeds ?? 3;
  if (!Number.isSafeInteger(seeds) || seeds < 1) throw new RangeError(`bench:rnn: --seeds must be a positive integer, got ${String(seeds)}`);
  const budgetSeconds = o.budgetSeconds ?? 180;
  if (typeof budgetSeconds !== 'number' || !(budgetSeconds > 0) || !Number.isFinite(budgetSeconds)) throw new RangeError(`bench:rnn: --budget must be a positive number of CPU seconds, got ${String(budgetSeconds)}`);
  const size = o.size ?? 'small';
  if (RNN_SIZES[size] === undefined) throw new RangeError(`bench:rnn: --size must be one of ${Object.keys(RNN_SIZES).join(', ')}, got ${String(size)}`);
  const criterion = o.criterion ?? 0.01;
  if (!(criterion > 0 && criterion <= 1)) throw new RangeError(`bench:rnn: criterion must be in (0, 1], got ${String(criterion)}`);
  return { tasks, methods, seqLengths, seeds, budgetSeconds, size, criterion };
}

/** One run of `method` on `task` at length `seqLength` from `seed`. */
export function runRnnTask(task: string, seqLength: number, method: string, seed: number, budgetSeconds: number, size: RnnDataSize, criterion: number): RnnRun {
  const m = RNN_METHODS[method];
  const inst = rnnProblemInstance(task as SequenceTaskName, seed, { size, seqLength });
  const testSequences = RNN_SIZES[size].test;
  const run: RnnRun = { task, seqLength, method, seed, solved: false, testError: null, testSequences, steps: 0, cpuSeconds: 0, wallSeconds: 0, stepsToSolve: null, cpuSecondsToSolve: null, wallSecondsToSolve: null };
  let opt: Optimizer;
  let state: OptimizerState;
  let params: PyTree = inst.params;
  try {
    opt = optimizerEntry(m.optimizer).create({ ...m.options });
    state = opt.init(params);
  } catch (e) {
    return { ...run, notApplicable: e instanceof Error ? e.message : String(e) };
  }
  const screen = generateSequenceTask(task, { n: 1000, length: seqLength, seed: 77_000 + seed });
  const carried = detachedScope();
  const every = budgetSeconds / 20;
  let nextCheck = every;
  const fullError = (p: PyTree) => tidy(() => inst.evaluate(p).testError);
  try {
    while (run.cpuSeconds < budgetSeconds) {
      const c0 = cpuNow();
      const w0 = process.hrtime.bigint();
      const k = run.steps;
      const res = runInScope(carried, () => opt.step(params, state, m.batchSize === 'full' ? inst.full : inst.batch(k, m.batchSize)));
      run.cpuSeconds += cpuNow() - c0;
      run.wallSeconds += Number(process.hrtime.bigint() - w0) / 1e9;
      params = res.params;
      state = res.state;
      sweepScope(carried, [params, state]);
      run.steps++;
      if (run.cpuSeconds >= nextCheck && run.cpuSeconds < budgetSeconds) {
        nextCheck = run.cpuSeconds + every;
        const p = params;
        const quick = tidy(() => sequenceTaskError(task, inst.model.apply(p as never, screen.x), screen.y));
        if (quick < criterion) {
          const err = fullError(p);
          if (err < criterion) return { ...run, solved: true, testError: err, stepsToSolve: run.steps, cpuSecondsToSolve: run.cpuSeconds, wallSecondsToSolve: run.wallSeconds };
        }
      }
    }
    const err = fullError(params);
    const solved = err < criterion;
    return { ...run, solved, testError: err, ...(solved ? { stepsToSolve: run.steps, cpuSecondsToSolve: run.cpuSeconds, wallSecondsToSolve: run.wallSeconds } : {}) };
  } finally {
    closeScope(carried, []);
  }
}

/** Runs the benchmark: every task × length × method × seed, in that order. */
export function runRnnBench(options: RnnBenchOptions = {}): RnnReport {
  const o = checkOptions(options);
  const runs: RnnRun[] = [];
  for (const task of o.tasks) {
    for (const seqLength of o.seqLengths) {
      for (const method of o.methods) {
        for (let seed = 0; seed < o.seeds; seed++) {
          const r = runRnnTask(task, seqLength, method, seed, o.budgetSeconds, o.size, o.criterion);
          runs.push(r);
          options.onRun?.(r);
          if (r.notApplicable !== undefined) break;
        }
      }
    }
  }
  const longestSolved: RnnReport['longestSolved'] = {};
  for (const method of o.methods) {
    longestSolved[method] = {};
    for (const task of o.tasks) {
      const ok = runs.filter((r) => r.method === method && r.task === task && r.solved).map((r) => r.seqLength);
      longestSolved[method][task] = ok.length > 0 ? Math.max(...ok) : null;
    }
  }
  return {
    settings: { ...o, hidden: RNN_SIZES[o.size].hidden, spectralRadius: SPECTRAL_RADIUS, testSequences: RNN_SIZES[o.size].test },
    methods: Object.fromEntries(o.methods.map((m) => [m, RNN_METHODS[m]])),
    runs,
    longestSolved,
  };
}

/** One line per run. */
export function formatRnnRun(r: RnnRun): string {
  if (r.notApplicable !== undefined) return `${r.task} T=${r.seqLength} ${r.method} seed ${r.seed}: not applicable (${r.notApplicable.slice(0, 80)})`;
  const err = r.testError === null ? '?' : `${(100 * r.testError).toFixed(2)}% wrong`;
  return r.solved
    ? `${r.task} T=${r.seqLength} ${r.method} seed ${r.seed}: solved at step ${r.stepsToSolve} after ${(r.cpuSecondsToSolve ?? 0).toFixed(1)} CPU s (${(r.wallSecondsToSolve ?? 0).toFixed(1)} s wall), ${err}`
    : `${r.task} T=${r.seqLength} ${r.method} seed ${r.seed}: not solved, ${err} after ${r.steps} steps, ${r.cpuSeconds.toFixed(1)} CPU s (${r.wallSeconds.toFixed(1)} s wall)`;
}

/** The report as text: a table per task × T × method, then the longest T solved. */
export function formatRnnReport(report: RnnReport): string {
  const s = report.settings;
  const rows: string[][] = [];
  for (const task of s.tasks) {
    for (const seqLength of s.seqLengths) {
      for (const method of s.methods) {
        const rs = report.runs.filter((r) => r.task === task && r.seqLength === seqLength && r.method === method);
        if (rs.length === 0) continue;
        const na = rs[0].notApplicable;
        const solved = rs.filter((r) => r.solved).length;
        rows.push([task, String(seqLength), method, na !== undefined ? 'n/a' : `${solved}/${rs.length}`,
          na !== undefined ? na.slice(0, 60) : rs.map((r) => (r.solved ? `${r.stepsToSolve} st., ${(r.cpuSecondsToSolve ?? 0).toFixed(0)} cpu-s` : `- (${r.testError === null ? '?' : (100 * r.testError).toFixed(1)}%, ${r.steps} st.)`)).join('; ')]);
      }
    }
  }
  const lines = [
    `budget ${s.budgetSeconds} CPU s per run; ${s.seeds} seeds; tanh RNN, ${s.hidden} hidden, sparse init at spectral radius ${s.spectralRadius}; solved: < ${100 * s.criterion}% wrong on ${s.testSequences} fresh sequences`,
    table(['task', 'T', 'method', 'solved', 'per seed: steps and CPU s to solve (or final % wrong, steps)'], rows),
    '',
    `longest T solved (by at least one seed) within ${s.budgetSeconds} CPU s:`,
    ...s.methods.map((m) => `  ${m}: ${s.tasks.map((t) => `${t} ${report.longestSolved[m][t] ?? '-'}`).join(', ')}`),
  ];
  return lines.join('\n');
}

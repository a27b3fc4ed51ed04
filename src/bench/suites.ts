/**
 * Benchmark suites by purpose, for `hessian bench --suite NAME`:
 * - quick (the default): one problem of each kind (a test function, a convex model, a small net,
 *   a deep autoencoder) with the baselines and the main second-order methods, in a few minutes;
 * - deep: the deep autoencoders and the CNN, second-order methods against first-order baselines
 *   whose learning rates are tuned on a grid first;
 * - paper: the same at the papers' data sizes and budgets, over three seeds (hours).
 * A suite's fields are defaults: --problems, --optimizers, --budget, --seeds, --size and --tune
 * replace them one by one.
 */
import { parseBudget, type Budget } from './runner.js';
import type { DataSize } from './problems.js';
import { TUNE_GRID, mergeOptions, type Hyper } from './hyper.js';

export type SuiteId = 'quick' | 'deep' | 'paper';

export interface Suite {
  id: SuiteId;
  purpose: string;
  problems: readonly string[];
  optimizers: readonly string[];
  budget: string;
  seeds: number;
  size: DataSize;
  tune: boolean;
  /** Problems the PyTorch peer runs (its runs use the whole budget: it has no stopping rules). */
  peerProblems: readonly string[];
  /** Options over the hyper-parameter table, by problem then optimizer (merged into hyperFor's). */
  hyper?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;
}

export const SUITES: Readonly<Record<SuiteId, Suite>> = {
  quick: {
    id: 'quick',
    purpose: 'one problem of each kind (test function, convex model, small net, deep autoencoder): a few minutes',
    problems: ['mgh/rosenbrock', 'logreg-mnist', 'mlp-iris', 'autoencoder-curves'],
    optimizers: ['sgd', 'momentum', 'adam', 'lbfgs', 'hessian-free', 'kfac'],
    budget: '5s',
    seeds: 1,
    size: 'small',
    tune: false,
    peerProblems: ['autoencoder-curves'],
    // One Hessian-free step at the table's settings costs several times the 5 s budget on the
    // autoencoder, most of it the diagonal preconditioner's per-example gradients over all 2,000
    // images (measured: 2 steps 50 s with it, 12 s without, under load). Without it, and with 10
    // CG iterations on 50 examples (a tenth of the table's batch), the run takes a few steps. The
    // deep and paper suites keep the table's settings.
    hyper: { 'autoencoder-curves': { 'hessian-free': { preconditioner: false, cgMaxIter: 10, curvatureExamples: 50 } } },
  },
  deep: {
    id: 'deep',
    purpose: 'deep autoencoders and the CNN: second-order methods against tuned first-order baselines',
    problems: ['autoencoder-curves', 'autoencoder-mnist', 'cnn-mnist'],
    optimizers: ['sgd', 'momentum', 'adam', 'lbfgs', 'hessian-free', 'kfac', 'ekfac'],
    budget: '30s',
    seeds: 3,
    size: 'small',
    tune: true,
    peerProblems: ['autoencoder-curves', 'autoencoder-mnist', 'cnn-mnist'],
  },
  paper: {
    id: 'paper',
    purpose: "the deep suite at the papers' data sizes and longer budgets",
    problems: ['autoencoder-curves', 'autoencoder-mnist', 'cnn-mnist'],
    optimizers: ['sgd', 'momentum', 'adam', 'lbfgs', 'hessian-free', 'kfac', 'ekfac'],
    budget: '10m',
    seeds: 3,
    size: 'paper',
    tune: true,
    peerProblems: ['autoencoder-curves', 'autoencoder-mnist', 'cnn-mnist'],
  },
};

/** The table's hyper-parameters with the suite's options over them. */
export function suiteHyper(s: Pick<Suite, 'hyper'>, problem: string, optimizer: string, base: Hyper): Hyper {
  const over = s.hyper?.[problem]?.[optimizer];
  return over === undefined ? base : { ...base, options: mergeOptions(base.options, over) };
}

export function suiteById(id: string): Suite {
  const s = (SUITES as Record<string, Suite | undefined>)[id];
  if (s === undefined) throw new RangeError(`unknown suite '${id}'; valid: ${Object.keys(SUITES).join(', ')}`);
  return s;
}

/** How many runs a suite makes (tuning, ours, the peer's three optimizers). */
export function suiteRunCount(s: Pick<Suite, 'problems' | 'optimizers' | 'seeds' | 'tune' | 'peerProblems'>, peers: boolean): { tuning: number; runs: number; peer: number } {
  const tuning = s.tune ? s.problems.length * s.optimizers.reduce((a, o) => a + (TUNE_GRID[o]?.length ?? 0), 0) : 0;
  const model = s.peerProblems.filter((p) => s.problems.includes(p) && !p.startsWith('mgh/')).length;
  return { tuning, runs: s.problems.length * s.optimizers.length * s.seeds, peer: peers ? model * 3 * s.seeds : 0 };
}

/**
 * The most optimizer time a suite can take: every run spends its whole budget (tuning runs a
 * quarter of it). Runs that converge or diverge end earlier, evaluations for the curves add to it.
 */
export function suiteBudgetSeconds(s: Pick<Suite, 'problems' | 'optimizers' | 'seeds' | 'tune' | 'peerProblems' | 'budget'>, peers: boolean): number | undefined {
  const b: Budget = parseBudget(s.budget);
  if (b.seconds === undefined) return undefined;
  const n = suiteRunCount(s, peers);
  return b.seconds * (n.runs + n.peer + n.tuning / 4);
}

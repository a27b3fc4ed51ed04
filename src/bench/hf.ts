/**
 * `npm run bench:hf`: the CURVES and MNIST deep autoencoders from sparse initialization,
 * Hessian-free vs Adam vs SGD with momentum, same run, same seed; Martens' training error
 * (per-case sum of squared reconstruction errors) against wall-clock and steps, and CG
 * iterations per HF step. Options: --budget=120s (one budget for every problem; by default
 * each problem gets the budget of issue #13's target: 120 s on CURVES, 300 s on MNIST)
 * --size=small|paper --problems=... --optimizers=... --seed=0 --interleave (a problem's runs step
 * in turns by optimizer time, so that each sees the same load; see `compare.ts`).
 * --profile [--steps=10 --warmup=3]: one HF step split into its parts instead (`hf-profile.ts`).
 * Hessian-free runs as the hyper-parameter table says (bench/hyper.ts): mini-batch HF on the
 * autoencoders (gradient on 500 examples, curvature on 100, trial losses on another 100, 8 CG
 * iterations).
 *
 * Published (GPU-hours, full data): HF 0.11 (CURVES) and 1.4 (MNIST) in Martens 2010; tuned HF
 * 0.058 / 0.69 and Nesterov momentum 0.074 / 0.73 after 750k updates (Sutskever et al. 2013).
 */
import { argsFrom, compare } from './compare.js';
import type { RunRecord } from './runner.js';
import { profileHf } from './hf-profile.js';

/** The budget each problem gets when `--budget` is not given. */
const DEFAULT_BUDGETS: Record<string, string> = { 'autoencoder-curves': '120s', 'autoencoder-mnist': '300s' };

const argv = process.argv.slice(2);
const a = argsFrom(argv, {
  problems: ['autoencoder-curves', 'autoencoder-mnist'], optimizers: ['hessian-free', 'adam', 'momentum'], budget: '120s', size: 'small', seed: 0,
});
if (argv.includes('--profile')) {
  const get = (k: string) => argv.find((x) => x.startsWith(`--${k}=`))?.slice(k.length + 3);
  profileHf({ problems: a.problems, steps: Number(get('steps') ?? 10), warmup: Number(get('warmup') ?? 3), size: a.size, seed: a.seed });
  process.exit(0);
}
const givenBudget = argv.some((x) => x.startsWith('--budget='));
const columns = (r: RunRecord) => {
  const err = r.final.trainReconstructionError;
  const cgPerStep = r.optimizer === 'hessian-free' && r.final.step > 0 ? (r.final.curvatureProducts / r.final.step).toFixed(1) : '-';
  return { 'recon. error': err === undefined ? '-' : err.toFixed(3), 'evals': r.final.evals, 'CG it./step': cgPerStep };
};
// One problem at a time, so that each gets its own budget; the optimizers of a problem run
// one after the other in this process (the same machine load for each, as far as it can be).
for (const problem of a.problems) compare({ ...a, problems: [problem], budget: givenBudget ? a.budget : DEFAULT_BUDGETS[problem] ?? a.budget }, columns);
console.log('\npublished training errors (full data, GPU-hours): HF 0.11 CURVES / 1.4 MNIST (Martens 2010); tuned HF 0.058 / 0.69, Nesterov 0.074 / 0.73 (Sutskever et al. 2013)');

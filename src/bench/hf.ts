/**
 * `npm run bench:hf`: the CURVES and MNIST deep autoencoders from sparse initialization,
 * Hessian-free vs Adam vs SGD with momentum, same run, same seed; Martens' training error
 * (per-case sum of squared reconstruction errors) against wall-clock and steps, and CG
 * iterations per HF step. Options: --budget=120s (one budget for every problem; by default
 * each problem gets the budget of issue #13's target: 120 s on CURVES, 300 s on MNIST)
 * --size=small|paper --problems=... --optimizers=... --seed=0 --interleave (a problem's runs step
 * in turns by optimizer time, so that each sees the same load; see `compare.ts`) --clock=cpu
 * (budgets and times in CPU seconds of this process, all threads: for a shared machine).
 * --variants='{"nopc":{"options":{"preconditioner":false}},"b250":{"batchSize":250}}': Hessian-free
 * variants run beside the listed optimizers, each as `hessian-free@label` with the table's row plus
 * its options and batch size (candidates for the table, compared in one process with --interleave).
 * After each problem's table, per HF run: what one step is worth in Adam steps (the step at which
 * Adam's curve first reached the run's final loss, over HF's steps) against what it costs (Adam's
 * steps per second over HF's); HF gains on the wall clock where the first exceeds the second.
 * --profile [--steps=10 --warmup=3]: one HF step split into its parts instead (`hf-profile.ts`).
 * Hessian-free runs as the hyper-parameter table says (bench/hyper.ts): mini-batch HF on the
 * autoencoders (gradient on 500 examples, curvature on 100, trial losses on another 100, 8 CG
 * iterations; on MNIST a quarter of the training set, λ floored at 0.03, 16 iterations).
 *
 * Published (GPU-hours, full data): HF 0.11 (CURVES) and 1.4 (MNIST) in Martens 2010; tuned HF
 * 0.058 / 0.69 and Nesterov momentum 0.074 / 0.73 after 750k updates (Sutskever et al. 2013).
 */
import { argsFrom, compare } from './compare.js';
import type { RunRecord } from './runner.js';
import { profileHf } from './hf-profile.js';
import type { BatchGrowth, BatchSize } from './hyper.js';

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
const variantsText = argv.find((x) => x.startsWith('--variants='))?.slice('--variants='.length);
if (variantsText !== undefined) {
  let variants: Record<string, { options?: Record<string, unknown>; batchSize?: BatchSize; batchGrowth?: BatchGrowth }>;
  try {
    variants = JSON.parse(variantsText) as typeof variants;
    if (variants === null || typeof variants !== 'object' || Array.isArray(variants)) throw new Error('not an object');
    for (const [label, v] of Object.entries(variants)) {
      if (v === null || typeof v !== 'object' || Object.keys(v).some((k) => k !== 'options' && k !== 'batchSize' && k !== 'batchGrowth')) throw new Error(`variant '${label}' takes "options", "batchSize" and "batchGrowth"`);
    }
  } catch (e) {
    console.error(`bench:hf: --variants must be a JSON object {"label": {"options": {...}, "batchSize": N or {"fraction": F}}}, got ${variantsText} (${(e as Error).message})`);
    process.exit(2);
  }
  a.options = {};
  a.batchSizes = {};
  for (const [label, v] of Object.entries(variants)) {
    const key = `hessian-free@${label}`;
    a.optimizers.push(key);
    if (v.options !== undefined) a.options[key] = v.options;
    if (v.batchSize !== undefined) a.batchSizes[key] = v.batchSize;
    if (v.batchGrowth !== undefined) (a.batchGrowth ??= {})[key] = v.batchGrowth;
  }
}
const columns = (r: RunRecord) => {
  const err = r.final.trainReconstructionError;
  const cgPerStep = r.optimizer.startsWith('hessian-free') && r.final.step > 0 ? (r.final.curvatureProducts / r.final.step).toFixed(1) : '-';
  // The training loss at a quarter and at half of the run's time (the last curve point before).
  const at = (f: number) => {
    const pts = r.curve.filter((c) => c.seconds <= f * r.final.seconds);
    return pts.length === 0 ? '-' : pts[pts.length - 1].trainLoss.toPrecision(4);
  };
  return { 'recon. error': err === undefined ? '-' : err.toFixed(3), 'evals': r.final.evals, 'CG it./step': cgPerStep, 'loss at 1/4': at(0.25), 'at 1/2': at(0.5) };
};
// One problem at a time, so that each gets its own budget; the optimizers of a problem run
// one after the other in this process (the same machine load for each, as far as it can be).
for (const problem of a.problems) {
  const runs = compare({ ...a, problems: [problem], budget: givenBudget ? a.budget : DEFAULT_BUDGETS[problem] ?? a.budget }, columns);
  // What an HF step is worth against what it costs, in Adam steps: the step at which Adam's curve
  // first reached the HF run's final loss, per HF step, against Adam's steps per second over HF's.
  const adam = runs.find((r) => r.optimizer === 'adam');
  if (adam === undefined) continue;
  for (const r of runs.filter((x) => x.optimizer.startsWith('hessian-free') && x.final.step > 0)) {
    const reached = adam.curve.find((c) => c.trainLoss <= r.final.trainLoss);
    const cost = (adam.final.step / adam.final.seconds) / (r.final.step / r.final.seconds);
    const worth = reached === undefined ? `more than ${(adam.final.step / r.final.step).toFixed(1)} (Adam never reached ${r.final.trainLoss.toPrecision(4)})`
      : `${(reached.step / r.final.step).toFixed(1)} (Adam reached ${r.final.trainLoss.toPrecision(4)} at step ${reached.step}, ${reached.seconds.toFixed(1)} s)`;
    console.log(`${r.optimizer}: one step is worth ${worth} Adam steps and costs ${cost.toFixed(1)}`);
  }
}
console.log('\npublished training errors (full data, GPU-hours): HF 0.11 CURVES / 1.4 MNIST (Martens 2010); tuned HF 0.058 / 0.69, Nesterov 0.074 / 0.73 (Sutskever et al. 2013)');

/**
 * `hessian train`: one problem, one optimizer, one seed; progress on the terminal (a bar on a
 * TTY, plain lines otherwise) or JSON lines with `--json`; `--save` / `--resume` checkpoints
 * (safetensors layout) that continue bit for bit: `--steps N` is the TOTAL step count.
 * With `--save`, the checkpoint is also written every `--save-every N` steps and/or
 * `--save-every-seconds S`, and on SIGINT / SIGTERM before exiting (130 / 143); the save path is
 * checked before training starts. `--curvature-every N` samples the top eigenvalue (power
 * iteration) and the trace (Hutchinson) of the full-loss Hessian every N steps, outside the
 * timed work.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import { CheckpointError } from '../nn/checkpoint.js';
import { problemById, type DataSize } from '../bench/problems.js';
import { optimizerEntry } from '../optim/registry.js';
import { BatchSizeError, MAX_STEPS, divergenceWarning, parseBudget, runSteps, type Budget, type Checkpoint, type CurvePoint, type RunRecord } from '../bench/runner.js';
import { UsageError } from './errors.js';
import { checkSavePath, loadRunCheckpoint, saveRunCheckpoint } from './run-checkpoint.js';
import { batchSizeText, hyperFor } from '../bench/hyper.js';
import { applyHyperArgs, type HyperArgs } from './hyper-args.js';
import { registerDataProblem, type DataArgs } from './data-problem.js';
import { curvatureSampler, type CurvatureSample } from '../curvature/diagnostics.js';
import { distributedWorld, quietUnlessLeader, ranksAgree } from './distributed-args.js';

export interface TrainArgs extends HyperArgs, DataArgs {
  problem?: string;
  optimizer?: string;
  steps?: string;
  budget?: string;
  seed?: string;
  save?: string;
  'save-every'?: string;
  'save-every-seconds'?: string;
  resume?: string;
  size?: string;
  'curvature-every'?: string;
  'seq-length'?: string;
  json?: boolean;
  distributed?: boolean;
}

/** The exit code of a run stopped by a signal after saving: 128 + the signal's number, as a shell reports it. */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };
/** How often the training loop lets signal handlers run (milliseconds of work between turns). */
const YIELD_MS = 20;

function intArg(name: string, v: string | undefined, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  if (n > max) throw new UsageError(`--${name} must be at most ${max}, got '${v}'`);
  return n;
}

function secondsArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number of seconds, got '${v}'`);
  return n;
}

/** `--seq-length T` for the rnn-* problems (undefined: the problem's default). */
export function seqLengthArg(v: string | undefined, problems: readonly string[]): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 1 || n > 100000) throw new UsageError(`--seq-length must be an integer in [1, 100000], got '${v}'`);
  const other = problems.filter((p) => !p.startsWith('rnn-'));
  if (other.length === problems.length) throw new UsageError(`--seq-length applies to the rnn-* problems, not to ${other.join(', ')}`);
  return n;
}

export function sizeArg(v: string | undefined): DataSize {
  if (v === undefined) return 'small';
  if (v !== 'tiny' && v !== 'small' && v !== 'paper') throw new UsageError(`--size must be 'tiny', 'small' or 'paper', got '${v}'`);
  return v;
}

export async function runTrain(args: TrainArgs): Promise<number> {
  // Under mpirun every rank runs this; rank 0 alone prints and writes the checkpoint.
  const comm = args.distributed === true ? distributedWorld('npx hessian train') : undefined;
  const restore = quietUnlessLeader(comm);
  try {
    return await trainOnRanks(args, comm);
  } finally {
    restore();
  }
}

async function trainOnRanks(args: TrainArgs, comm: ReturnType<typeof distributedWorld> | undefined): Promise<number> {
  const a = { ...args };
  const leader = comm === undefined || comm.rank === 0;
  let trainSize: number | undefined;
  if (a.data !== undefined) {
    if (a.problem !== undefined) throw new UsageError('give --problem or --data, not both');
    if (a.size !== undefined) throw new UsageError('--size applies to the shipped problems, not to --data');
    const reg = registerDataProblem(a);
    a.problem = reg.id;
    trainSize = reg.trainSize;
  } else {
    for (const k of ['labels', 'model', 'loss', 'test-fraction'] as const) if (a[k] !== undefined) throw new UsageError(`--${k} needs --data FILE`);
  }
  if (a.problem === undefined) throw new UsageError('train needs --problem (see hessian list) or --data FILE --model SPEC');
  if (a.optimizer === undefined) throw new UsageError('train needs --optimizer (see hessian list)');
  try {
    problemById(a.problem);
    optimizerEntry(a.optimizer);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (a.steps !== undefined && a.budget !== undefined) throw new UsageError('give either --steps or --budget, not both');
  let budget: Budget;
  try {
    budget = a.steps !== undefined ? { steps: intArg('steps', a.steps, 0, 1, MAX_STEPS) } : parseBudget(a.budget ?? '100steps');
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const seed = intArg('seed', a.seed, 0, 0);
  const size = sizeArg(a.size);
  const seqLength = seqLengthArg(a['seq-length'], [a.problem]);
  const problem = problemById(a.problem);
  const hyper = applyHyperArgs(a.optimizer, hyperFor(a.problem, problem.kind, a.optimizer), a, trainSize);
  const saveEvery = a['save-every'] === undefined ? undefined : intArg('save-every', a['save-every'], 0, 1, MAX_STEPS);
  const saveEverySeconds = secondsArg('save-every-seconds', a['save-every-seconds']);
  if (a.save === undefined && (saveEvery !== undefined || saveEverySeconds !== undefined)) {
    throw new UsageError(`--${saveEvery !== undefined ? 'save-every' : 'save-every-seconds'} needs --save FILE`);
  }
  if (a.save !== undefined && leader) await checkSavePath(a.save);
  const resume = a.resume !== undefined ? await loadRunCheckpoint(a.resume) : undefined;
  if (resume !== undefined && (resume.problem !== a.problem || resume.optimizer !== a.optimizer || resume.seed !== seed)) {
    throw new UsageError(`cannot resume: '${a.resume}' is a checkpoint of problem '${resume.problem}', optimizer '${resume.optimizer}', seed ${resume.seed}, not '${a.problem}', '${a.optimizer}', ${seed}`);
  }
  if (resume !== undefined && budget.steps !== undefined && resume.step > budget.steps) {
    throw new UsageError(`--steps ${budget.steps} is below the ${resume.step} steps the checkpoint already made (--steps is the total)`);
  }
  const curvatureEvery = a['curvature-every'] === undefined ? undefined : intArg('curvature-every', a['curvature-every'], 0, 1, MAX_STEPS);
  // The Hessian of the full training loss, on an instance of its own (same seed, same data).
  const sample = curvatureEvery === undefined ? undefined : curvatureSampler(problemById(a.problem).build(seed, { size, seqLength }).full, curvatureEvery, { seed });
  const curvature: (CurvatureSample & { step: number })[] = [];
  const tty = process.stdout.isTTY === true && !a.json;
  const bar = tty ? new cliProgress.SingleBar({ format: `${a.optimizer} on ${a.problem} |{bar}| {percentage}% | step {step} | loss {loss}`, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  if (bar) bar.start(100, 0, { step: 0, loss: '-' });
  const onPoint = (p: CurvePoint, b: Budget): void => {
    const frac = Math.min(1, b.steps !== undefined ? p.step / b.steps : (p.seconds / (b.seconds ?? 1)));
    if (a.json) console.log(JSON.stringify({ step: p.step, seconds: p.seconds, trainLoss: p.trainLoss, ...(p.testLoss !== undefined ? { testLoss: p.testLoss } : {}), ...(p.testError !== undefined ? { testError: p.testError } : {}) }));
    else if (bar) bar.update(Math.round(frac * 100), { step: p.step, loss: p.trainLoss.toPrecision(5) });
    else console.log(`step ${p.step}  ${p.seconds.toFixed(2)}s  train loss ${p.trainLoss.toPrecision(6)}${p.testLoss !== undefined ? `  test loss ${p.testLoss.toPrecision(6)}` : ''}${p.testAccuracy !== undefined ? `  test accuracy ${(100 * p.testAccuracy).toFixed(2)}%` : ''}${p.testError !== undefined ? `  test error ${(100 * p.testError).toFixed(2)}%` : ''}`);
  };
  const save = a.save;
  const run = runSteps(a.problem, a.optimizer, seed, budget, { size, seqLength, onPoint, resume, hyper, distributed: comm, strictBatchSize: a['batch-size'] !== undefined });
  const write = async (file: string, c: Checkpoint): Promise<void> => { if (leader) await saveRunCheckpoint(file, c); };
  let result: { record: RunRecord; checkpoint: Checkpoint } | undefined;
  let stopSignal: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM'): void => {
    // A second signal while the last checkpoint is written stops at once; the rename keeps the
    // previous file whole.
    if (stopSignal !== undefined) process.exit(SIGNAL_EXIT[sig]);
    stopSignal = sig;
  };
  // Without --save there is nothing to keep: the signals keep their default (immediate exit).
  if (save !== undefined) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    let lastTurn = performance.now();
    let lastSave = performance.now();
    let last: Checkpoint | undefined;
    for (;;) {
      let r;
      try {
        r = run.next();
      } catch (e) {
        // The runner checks a resumed checkpoint's trees before the first step.
        if (e instanceof CheckpointError && a.resume !== undefined) throw new UsageError(`cannot resume from '${a.resume}': ${e.message}`);
        if (e instanceof BatchSizeError) throw new UsageError(`--batch-size: ${e.message}`);
        throw e;
      }
      if (r.done === true) {
        result = r.value;
        break;
      }
      if (sample !== undefined && r.value.step % (curvatureEvery ?? 1) === 0) {
        const c = sample(r.value.step, r.value.checkpoint().params);
        if (c !== undefined) {
          curvature.push(c);
          if (a.json) console.log(JSON.stringify({ step: c.step, topEigenvalue: c.topEigenvalue, hessianTrace: c.trace, hessianTraceStderr: c.traceStderr }));
          else if (!bar) console.log(`step ${c.step}  top Hessian eigenvalue ${c.topEigenvalue.toPrecision(5)}  trace ${c.trace.toPrecision(5)} ± ${c.traceStderr.toPrecision(2)}`);
        }
      }
      if (save !== undefined) {
        const now = performance.now();
        const due = (saveEvery !== undefined && r.value.step % saveEvery === 0) || (saveEverySeconds !== undefined && now - lastSave >= 1000 * saveEverySeconds);
        last = r.value.checkpoint();
        if (due) {
          await write(save, last);
          lastSave = performance.now();
        }
        if (now - lastTurn >= YIELD_MS) {
          await nextTurn(); // lets the signal handlers run
          lastTurn = performance.now();
        }
        // Ranks stop at the same step: one that stopped alone would leave the others in a collective.
        if (comm !== undefined && ranksAgree(comm, stopSignal !== undefined) && stopSignal === undefined) stopSignal = 'SIGTERM';
        if (stopSignal !== undefined) {
          bar?.stop();
          await write(save, last);
          if (leader) console.error(`hessian: stopped by ${stopSignal} after step ${last.step}; saved to ${save} (continue with --resume ${save})`);
          return SIGNAL_EXIT[stopSignal];
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const { record, checkpoint } = result;
  bar?.stop();
  const warning = divergenceWarning(record);
  if (warning !== undefined) console.warn(warning);
  if (save !== undefined) await write(save, checkpoint);
  const f = record.final;
  const summary = { problem: a.problem, optimizer: a.optimizer, seed, steps: f.step, seconds: f.seconds, trainLoss: f.trainLoss, testLoss: f.testLoss ?? null, testAccuracy: f.testAccuracy ?? null, ...(f.testError !== undefined ? { testError: f.testError } : {}), evals: f.evals, stopped: f.stopped, hyper: record.hyper, ...(curvature.length > 0 ? { curvature } : {}) };
  if (a.json) console.log(JSON.stringify(summary));
  else {
    console.log(`done: ${f.step} steps in ${f.seconds.toFixed(2)}s (${f.stopped}); train loss ${f.trainLoss.toPrecision(6)}${f.testLoss !== undefined ? `, test loss ${f.testLoss.toPrecision(6)}` : ''}${f.testAccuracy !== undefined ? `, test accuracy ${(100 * f.testAccuracy).toFixed(2)}%` : ''}${f.testError !== undefined ? `, test error ${(100 * f.testError).toFixed(2)}%` : ''}`);
    console.log(`hyper-parameters: ${JSON.stringify(hyper.options)}, batch size ${record.hyper.batchSize}${typeof hyper.batchSize === 'object' ? ` (${batchSizeText(hyper.batchSize)})` : ''}`);
    if (a.save !== undefined) console.log(`saved to ${a.save}`);
  }
  return 0;
}

/**
 * `hessian train`: one problem, one optimizer, one seed; progress on the terminal (a bar on a
 * TTY, plain lines otherwise) or JSON lines with `--json`; `--save` / `--resume` checkpoints
 * (safetensors layout) that continue bit for bit: `--steps N` is the TOTAL step count.
 */
import cliProgress from 'cli-progress';
import type { PyTree } from '../autodiff/pytree.js';
import { loadTree, saveTree } from '../nn/checkpoint.js';
import { problemById, type DataSize } from '../bench/problems.js';
import { optimizerEntry } from '../optim/registry.js';
import { divergenceWarning, parseBudget, runOne, type Budget, type Checkpoint, type CurvePoint } from '../bench/runner.js';
import type { OptimizerState } from '../optim/types.js';
import { UsageError } from './errors.js';

export interface TrainArgs {
  problem?: string;
  optimizer?: string;
  steps?: string;
  budget?: string;
  seed?: string;
  save?: string;
  resume?: string;
  size?: string;
  json?: boolean;
}

const META_KEY = 'hessian.run';

function intArg(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

export function sizeArg(v: string | undefined): DataSize {
  if (v === undefined) return 'small';
  if (v !== 'tiny' && v !== 'small' && v !== 'paper') throw new UsageError(`--size must be 'tiny', 'small' or 'paper', got '${v}'`);
  return v;
}

async function loadCheckpoint(file: string): Promise<Checkpoint> {
  let loaded;
  try {
    loaded = await loadTree(file);
  } catch (e) {
    throw new UsageError(`cannot resume from '${file}': ${e instanceof Error ? e.message : String(e)}`);
  }
  const meta = loaded.metadata[META_KEY];
  if (meta === undefined) throw new UsageError(`cannot resume from '${file}': not a 'hessian train' checkpoint (no ${META_KEY} metadata)`);
  const m = JSON.parse(meta) as Omit<Checkpoint, 'params' | 'state'>;
  const tree = loaded.tree as { params: PyTree; state: OptimizerState };
  return { ...m, params: tree.params, state: tree.state };
}

async function saveCheckpoint(file: string, c: Checkpoint): Promise<void> {
  const { params, state, ...meta } = c;
  try {
    await saveTree(file, { params, state } as PyTree, { [META_KEY]: JSON.stringify(meta) });
  } catch (e) {
    throw new UsageError(`cannot write checkpoint '${file}': ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function runTrain(a: TrainArgs): Promise<number> {
  if (a.problem === undefined) throw new UsageError('train needs --problem (see hessian list)');
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
    budget = a.steps !== undefined ? { steps: intArg('steps', a.steps, 0, 1) } : parseBudget(a.budget ?? '100steps');
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const seed = intArg('seed', a.seed, 0, 0);
  const size = sizeArg(a.size);
  const resume = a.resume !== undefined ? await loadCheckpoint(a.resume) : undefined;
  if (resume !== undefined && (resume.problem !== a.problem || resume.optimizer !== a.optimizer || resume.seed !== seed)) {
    throw new UsageError(`cannot resume: '${a.resume}' is a checkpoint of problem '${resume.problem}', optimizer '${resume.optimizer}', seed ${resume.seed}, not '${a.problem}', '${a.optimizer}', ${seed}`);
  }
  if (resume !== undefined && budget.steps !== undefined && resume.step > budget.steps) {
    throw new UsageError(`--steps ${budget.steps} is below the ${resume.step} steps the checkpoint already made (--steps is the total)`);
  }
  const tty = process.stdout.isTTY === true && !a.json;
  const bar = tty ? new cliProgress.SingleBar({ format: `${a.optimizer} on ${a.problem} |{bar}| {percentage}% | step {step} | loss {loss}`, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  if (bar) bar.start(100, 0, { step: 0, loss: '-' });
  const onPoint = (p: CurvePoint, b: Budget): void => {
    const frac = Math.min(1, b.steps !== undefined ? p.step / b.steps : (p.seconds / (b.seconds ?? 1)));
    if (a.json) console.log(JSON.stringify({ step: p.step, seconds: p.seconds, trainLoss: p.trainLoss, ...(p.testLoss !== undefined ? { testLoss: p.testLoss } : {}) }));
    else if (bar) bar.update(Math.round(frac * 100), { step: p.step, loss: p.trainLoss.toPrecision(5) });
    else console.log(`step ${p.step}  ${p.seconds.toFixed(2)}s  train loss ${p.trainLoss.toPrecision(6)}${p.testLoss !== undefined ? `  test loss ${p.testLoss.toPrecision(6)}` : ''}${p.testAccuracy !== undefined ? `  test accuracy ${(100 * p.testAccuracy).toFixed(2)}%` : ''}`);
  };
  const { record, checkpoint } = runOne(a.problem, a.optimizer, seed, budget, { size, onPoint, resume });
  bar?.stop();
  const warning = divergenceWarning(record);
  if (warning !== undefined) console.warn(warning);
  if (a.save !== undefined) await saveCheckpoint(a.save, checkpoint);
  const f = record.final;
  const summary = { problem: a.problem, optimizer: a.optimizer, seed, steps: f.step, seconds: f.seconds, trainLoss: f.trainLoss, testLoss: f.testLoss ?? null, testAccuracy: f.testAccuracy ?? null, evals: f.evals, stopped: f.stopped };
  if (a.json) console.log(JSON.stringify(summary));
  else {
    console.log(`done: ${f.step} steps in ${f.seconds.toFixed(2)}s (${f.stopped}); train loss ${f.trainLoss.toPrecision(6)}${f.testLoss !== undefined ? `, test loss ${f.testLoss.toPrecision(6)}` : ''}${f.testAccuracy !== undefined ? `, test accuracy ${(100 * f.testAccuracy).toFixed(2)}%` : ''}`);
    if (a.save !== undefined) console.log(`saved to ${a.save}`);
  }
  return 0;
}

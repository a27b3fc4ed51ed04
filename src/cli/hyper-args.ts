/**
 * Hyper-parameters from the command line: `--lr X`, `--batch-size N|P%|full` and repeatable
 * `--set key=value`, applied over the table's defaults for (problem, optimizer) and checked by
 * the optimizer's own option validation before anything runs.
 */
import { optimizerEntry } from '../optim/registry.js';
import { mergeOptions, type Hyper } from '../bench/hyper.js';
import { UsageError } from './errors.js';

export interface HyperArgs {
  lr?: string;
  'batch-size'?: string;
  set?: string[];
}

/** `3`, `1e-3`, `true`, `null`, `[1,2]`, `"x"` as JSON; anything else as a string ('eigen'). */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Apply the command line's hyper-parameters to `base`; throws a UsageError naming the flag. */
export function applyHyperArgs(optimizer: string, base: Hyper, a: HyperArgs, trainSize?: number): Hyper {
  const given: Record<string, unknown> = {};
  let batchSize = base.batchSize;
  if (a.lr !== undefined) {
    const lr = Number(a.lr);
    if (a.lr.trim() === '' || !Number.isFinite(lr) || lr <= 0) throw new UsageError(`--lr must be a positive number, got '${a.lr}'`);
    given.lr = lr;
  }
  for (const kv of a.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set needs key=value, got '${kv}'`);
    const key = kv.slice(0, eq).trim();
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key)) throw new UsageError(`--set: '${key}' is not an option name`);
    given[key] = parseValue(kv.slice(eq + 1).trim());
  }
  // A given option replaces the row's alternatives to it (curvatureFraction for curvatureExamples).
  const options = mergeOptions(base.options, given);
  const bs = a['batch-size'];
  if (bs !== undefined) {
    const share = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$/.exec(bs);
    if (bs === 'full') batchSize = 'full';
    else if (share !== null) {
      const fraction = Number(share[1]) / 100;
      if (!(fraction > 0 && fraction <= 1)) throw new UsageError(`--batch-size as a share of the training set must lie in (0%, 100%], got '${bs}'`);
      batchSize = { fraction };
    } else {
      const n = Number(bs);
      if (bs.trim() === '' || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--batch-size must be a positive integer, a share of the training set such as 25%, or 'full', got '${bs}'`);
      if (trainSize !== undefined && n > trainSize) throw new UsageError(`--batch-size ${n} exceeds the ${trainSize} training examples`);
      batchSize = n;
    }
  }
  try {
    optimizerEntry(optimizer).create(options);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  // The row's other fields (batch growth) stay.
  return { ...base, options, batchSize };
}

/**
 * `hessian spectrum --problem P [--resume F] [--per-layer] [--out DIR]`: the Hessian of the
 * full training loss at the initial (or a checkpoint's) parameters, as PyHessian reports it:
 * top eigenvalues (Lanczos), trace (Hutch++), spectral density (stochastic Lanczos quadrature),
 * for the whole model and, with --per-layer, for each layer's diagonal block. Writes
 * DIR/spectrum.json and a self-contained DIR/spectrum.html (no scripts, inline SVG).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { treePaths, type PyTree } from '../autodiff/pytree.js';
import { CheckpointError } from '../nn/checkpoint.js';
import { tidy } from '../tensor/scope.js';
import { hessianOperator, spectrumMatvecs, spectrumSummary, type SpectrumOptions, type SpectrumSummary } from '../curvature/diagnostics.js';
import { problemById } from '../bench/problems.js';
import { resumedParams } from '../bench/resume.js';
import { UsageError } from './errors.js';
import { sizeArg } from './train.js';
import { loadRunCheckpoint } from './run-checkpoint.js';
import { spectrumHtml, type SpectrumReport } from './spectrum-html.js';

export interface SpectrumArgs {
  problem?: string;
  resume?: string;
  'per-layer'?: boolean;
  out?: string;
  size?: string;
  seed?: string;
  k?: string;
  runs?: string;
  steps?: string;
  json?: boolean;
}

export type { SpectrumReport } from './spectrum-html.js';

function intArg(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got '${v}'`);
  return n;
}

/** Layer paths: the parameter paths without their last component ('0.weight' → '0'), in order. */
export function layerPaths(params: PyTree): string[] {
  const out: string[] = [];
  for (const p of treePaths(params)) {
    const i = p.lastIndexOf('.');
    const layer = i < 0 ? p : p.slice(0, i);
    if (!out.includes(layer)) out.push(layer);
  }
  return out;
}

export async function runSpectrum(a: SpectrumArgs): Promise<number> {
  if (a.problem === undefined) throw new UsageError('spectrum needs --problem (see hessian list)');
  let problem;
  try {
    problem = problemById(a.problem);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const size = sizeArg(a.size);
  const seed = intArg('seed', a.seed, 0, 0, 2 ** 31);
  const options: SpectrumOptions = {
    k: intArg('k', a.k, 5, 1, 1000),
    runs: intArg('runs', a.runs, 3, 1, 1000),
    steps: intArg('steps', a.steps, 40, 2, 10000),
    seed,
  };
  const out = a.out ?? 'spectrum';
  const resume = a.resume !== undefined ? await loadRunCheckpoint(a.resume) : undefined;
  if (resume !== undefined && resume.problem !== a.problem) {
    throw new UsageError(`'${a.resume}' is a checkpoint of problem '${resume.problem}', not '${a.problem}'`);
  }
  const inst = problem.build(resume?.seed ?? seed, { size });
  let params: PyTree = inst.params;
  if (resume !== undefined) {
    try {
      params = resumedParams(resume.params, inst.params);
    } catch (e) {
      if (e instanceof CheckpointError) throw new UsageError(`cannot read parameters from '${a.resume}': ${e.message}`);
      throw e;
    }
  }
  const op = hessianOperator(inst.full, params);
  const layers = a['per-layer'] === true ? layerPaths(params) : [];
  const blocks = layers.map((path) => op.block(path));
  const total = spectrumMatvecs(op.size, options) + blocks.reduce((s, b) => s + spectrumMatvecs(b.size, options), 0);
  const tty = process.stdout.isTTY === true && !a.json;
  const bar = tty ? new cliProgress.SingleBar({ format: `spectrum of ${a.problem} |{bar}| {value}/{total} Hessian-vector products | {what}`, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(total, 0, { what: 'model' });
  let done = 0;
  const t0 = performance.now();
  const run = (o: typeof op | (typeof blocks)[number], what: string): SpectrumSummary => {
    const before = done;
    if (!tty && !a.json) console.log(`${what}: ${o.size} parameters`);
    const s = tidy(() => spectrumSummary(o, options, (m) => {
      done = before + m;
      bar?.update(done, { what });
    }));
    return s;
  };
  const model = run(op, 'model');
  const perLayer = blocks.map((b, i) => ({ ...run(b, `layer ${layers[i]}`), name: layers[i] }));
  bar?.update(total, { what: 'done' });
  bar?.stop();
  const report: SpectrumReport = {
    problem: a.problem, seed: resume?.seed ?? seed, size,
    checkpoint: resume !== undefined && a.resume !== undefined ? { file: a.resume, step: resume.step } : null,
    parameters: op.size, seconds: (performance.now() - t0) / 1000, model, layers: perLayer,
  };
  try {
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'spectrum.json'), `${JSON.stringify(report, null, 1)}\n`);
    await writeFile(join(out, 'spectrum.html'), spectrumHtml(report));
  } catch (e) {
    throw new UsageError(`cannot write to '${out}': ${e instanceof Error ? e.message : String(e)}`);
  }
  if (a.json) console.log(JSON.stringify({ problem: report.problem, parameters: report.parameters, topEigenvalues: model.topEigenvalues, trace: model.trace, traceStderr: model.traceStderr, out }));
  else {
    console.log(`top eigenvalues ${model.topEigenvalues.map((x) => x.toPrecision(5)).join(', ')}; trace ${model.trace.toPrecision(5)} ± ${model.traceStderr.toPrecision(2)}`);
    for (const l of perLayer) console.log(`  layer ${l.name} (${l.size}): top ${l.topEigenvalues[0].toPrecision(5)}, trace ${l.trace.toPrecision(5)}`);
    console.log(`wrote ${join(out, 'spectrum.json')} and ${join(out, 'spectrum.html')} (${report.seconds.toFixed(1)} s)`);
  }
  return 0;
}

#!/usr/bin/env node
/**
 * The `hessian` command: `bench`, `train`, `spectrum`, `list`, `info`, `--version`.
 * Bad arguments get a one-line error and a non-zero exit (a stack trace only with --verbose).
 */
import { parseArgs } from 'node:util';
import { info, VERSION } from '../info.js';
import { runBench } from './bench.js';
import { runTrain } from './train.js';
import { runSpectrum } from './spectrum.js';
import { listText } from './list.js';
import { UsageError } from './errors.js';

const HELP: Record<string, string> = {
  bench: `hessian bench: run optimizers on problems, write DIR/results.json and DIR/report.html
  [--suite quick|deep|paper] [--problems a,b] [--optimizers x,y]
  [--budget 60s|500steps] [--seeds 3] [--out DIR] [--size tiny|small|paper]
  [--lr X] [--batch-size N|P%|full] [--set key=value ...]
  [--curvature-every N] [--tune] [--no-peers] [--no-stop] [--json] [--seq-length T] [--distributed]
  --seq-length T: sequence length of the rnn-* problems (default 30);
  --distributed: under \`mpirun -np K\`, every run data-parallel over the K ranks;
  the suite (default quick) gives the defaults; runs end early when they
  converge or diverge unless --no-stop; --lr, --batch-size and --set override
  the hyper-parameters of every chosen optimizer (checked by each optimizer);
  --batch-size 25% takes a quarter of each problem's training set.`,
  train: `hessian train: train one problem with one optimizer
  --problem P | --data FILE [--labels FILE] --model SPEC [--loss ce|bce|mse] [--test-fraction 0.2]
  --optimizer O [--steps N | --budget 60s|2m|500steps] [--seed K]
  [--lr X] [--batch-size N|P%|full] [--set key=value ...]
  [--save FILE [--save-every N] [--save-every-seconds S]] [--resume FILE]
  [--size tiny|small|paper] [--curvature-every N] [--json] [--seq-length T] [--distributed]
  --seq-length T: sequence length of the rnn-* problems (default 30).
  --distributed: under \`mpirun -np K\`, data-parallel over K ranks (each takes
  its shard of every batch; rank 0 prints and saves; --resume works with any K).
  --curvature-every N: top Hessian eigenvalue and trace every N steps (outside the timed work).
  --steps N is the total count (at most 1000000000), also when resuming;
  with --save the checkpoint is written at the end, every N steps or S seconds
  if asked, and on SIGINT/SIGTERM before exiting (code 130/143).
  --data reads CSV (label in the last column unless --labels), .npy (+ --labels),
  .npz (arrays x and y) or MNIST idx files (gzip or not; bytes scaled to [0, 1]);
  --model is mlp:784-256-10[:relu], linear:784-10, autoencoder:784-400-30 or cnn:10.
  --lr, --batch-size and --set override the defaults (hessian list shows the
  optimizers; unknown or out-of-range options are refused by the optimizer);
  --batch-size 25% takes a quarter of the training set.`,
  spectrum: `hessian spectrum: Hessian eigenvalues, trace and spectral density, written to DIR/spectrum.json and .html
  --problem P [--resume FILE] [--per-layer] [--out DIR] [--size tiny|small|paper]
  [--seed K] [--k 5] [--runs 3] [--steps 40] [--json]`,
  list: 'hessian list: problems, optimizers and datasets   [--json]',
  info: 'hessian info: version, kernel backend, threads, SIMD level   [--json]',
};

const USAGE = `usage: hessian <command> [options]

commands:
${Object.values(HELP).map((h) => `  ${h.replace(/^hessian /, '').replace(/\n/g, '\n  ')}`).join('\n')}
  --version

'hessian <command> --help' shows one command's options.
options for every command: --verbose (stack traces on errors)
environment: HESSIAN_BACKEND=native|wasm|ts forces a kernel backend`;

async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  const args = argv.filter((a) => a !== '--verbose');
  const cmd = args[0];
  try {
    if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
      console.log(VERSION);
      return 0;
    }
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      console.log(USAGE);
      return cmd === undefined ? 1 : 0;
    }
    const rest = args.slice(1);
    if (HELP[cmd] !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
      console.log(HELP[cmd]);
      return 0;
    }
    if (cmd === 'info') {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      const i = info();
      if (values.json) console.log(JSON.stringify(i));
      else {
        console.log(`hessian ${i.version}`);
        console.log(`backend   ${i.backend} (available: ${i.available.join(', ')})`);
        console.log(`threads   ${i.threads}`);
        console.log(`simd      ${i.simd}`);
        console.log(`node      ${i.node}`);
      }
      return 0;
    }
    if (cmd === 'list') {
      const { values } = parse(rest, { json: { type: 'boolean' } });
      console.log(listText(values.json === true));
      return 0;
    }
    if (cmd === 'train') {
      const { values } = parse(rest, {
        problem: { type: 'string' }, optimizer: { type: 'string' }, steps: { type: 'string' }, budget: { type: 'string' },
        seed: { type: 'string' }, save: { type: 'string' }, 'save-every': { type: 'string' }, 'save-every-seconds': { type: 'string' },
        resume: { type: 'string' }, size: { type: 'string' }, 'curvature-every': { type: 'string' }, json: { type: 'boolean' }, 'seq-length': { type: 'string' },
        data: { type: 'string' }, labels: { type: 'string' }, model: { type: 'string' }, loss: { type: 'string' }, 'test-fraction': { type: 'string' },
        lr: { type: 'string' }, 'batch-size': { type: 'string' }, set: { type: 'string', multiple: true }, distributed: { type: 'boolean' },
      });
      return await runTrain(values as never);
    }
    if (cmd === 'spectrum') {
      const { values } = parse(rest, {
        problem: { type: 'string' }, resume: { type: 'string' }, 'per-layer': { type: 'boolean' }, out: { type: 'string' }, size: { type: 'string' },
        seed: { type: 'string' }, k: { type: 'string' }, runs: { type: 'string' }, steps: { type: 'string' }, json: { type: 'boolean' },
      });
      return await runSpectrum(values);
    }
    if (cmd === 'bench') {
      const { values } = parse(rest, {
        suite: { type: 'string' }, problems: { type: 'string' }, optimizers: { type: 'string' }, budget: { type: 'string' }, seeds: { type: 'string' },
        out: { type: 'string' }, size: { type: 'string' }, tune: { type: 'boolean' }, 'no-peers': { type: 'boolean' }, 'no-stop': { type: 'boolean' }, json: { type: 'boolean' },
        lr: { type: 'string' }, 'batch-size': { type: 'string' }, set: { type: 'string', multiple: true }, 'curvature-every': { type: 'string' },
        distributed: { type: 'boolean' },
        'seq-length': { type: 'string' },
      });
      return await runBench(values as never);
    }
    throw new UsageError(`unknown command '${cmd}' (commands: bench, train, spectrum, list, info; see 'hessian --help')`);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`hessian: ${msg.split('\n')[0]}`);
    if (verbose && e instanceof Error) console.error(e.stack);
    return e instanceof UsageError ? 2 : 1;
  }
}

type Spec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/**
 * `--steps -1` as `--steps=-1`: parseArgs takes a value that starts with '-' for an option and
 * calls it ambiguous; joining it lets the option's own check say what is wrong with the number.
 */
export function joinNegativeValues(args: readonly string[], spec: Spec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : undefined;
    const next = args[i + 1];
    if (name !== undefined && spec[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

function parse<S extends Spec>(args: string[], spec: S): { values: { [K in keyof S]?: S[K]['type'] extends 'boolean' ? boolean : string } } {
  try {
    return parseArgs({ args: joinNegativeValues(args, spec), options: spec, strict: true, allowPositionals: false }) as never;
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.replace(/\. To specify.*$/, '') : String(e));
  }
}

process.exitCode = await main(process.argv.slice(2));

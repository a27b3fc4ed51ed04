#!/usr/bin/env node
/**
 * The `hessian` command. Commands grow with the library: `--version`, `info` now;
 * `train`, `bench` and `list` arrive with the benchmark suite.
 */
import { info, VERSION } from '../info.js';

const USAGE = `usage: hessian <command> [options]

commands:
  info        version, active kernel backend, threads and SIMD level
  --version   print the version

environment:
  HESSIAN_BACKEND=native|wasm|ts   force a kernel backend`;

function main(argv: string[]): number {
  const verbose = argv.includes('--verbose');
  const args = argv.filter((a) => a !== '--verbose');
  const cmd = args[0];
  try {
    if (cmd === '--version' || cmd === '-v') {
      console.log(VERSION);
      return 0;
    }
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      console.log(USAGE);
      return cmd === undefined ? 1 : 0;
    }
    if (cmd === 'info') {
      const i = info();
      if (args.includes('--json')) {
        console.log(JSON.stringify(i));
      } else {
        console.log(`hessian ${i.version}`);
        console.log(`backend   ${i.backend} (available: ${i.available.join(', ')})`);
        console.log(`threads   ${i.threads}`);
        console.log(`simd      ${i.simd}`);
        console.log(`node      ${i.node}`);
      }
      return 0;
    }
    console.error(`hessian: unknown command '${cmd}'\n${USAGE}`);
    return 2;
  } catch (e) {
    console.error(`hessian: ${e instanceof Error ? e.message : String(e)}`);
    if (verbose && e instanceof Error) console.error(e.stack);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));

/**
 * `--distributed` for `hessian train` and `hessian bench`: the MPI world (or a one-line usage
 * error saying how to start the command under mpirun), quiet ranks other than 0, and agreement
 * across ranks on stopping.
 */
import { Tensor } from '../tensor/tensor.js';
import { requireMpi, type Communicator } from '../distributed/communicator.js';
import { UsageError } from './errors.js';

/**
 * The MPI world for `--distributed`; a UsageError (one line) outside mpirun or without the
 * binding, whose hint repeats the user's own arguments after `command` ('npx hessian train').
 */
export function distributedWorld(command: string): Communicator {
  const args = process.argv.slice(3).filter((x) => x !== '--distributed').map((x) => (/^[\w@%+=:,./-]+$/.test(x) ? x : `'${x}'`));
  try {
    return requireMpi([command, ...args].join(' '));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/** Silences console.log/info/warn on ranks other than 0 (errors still print); returns the undo. */
export function quietUnlessLeader(comm: Communicator | undefined): () => void {
  if (comm === undefined || comm.rank === 0) return () => {};
  const saved = { log: console.log, info: console.info, warn: console.warn };
  const none = (): void => {};
  console.log = none;
  console.info = none;
  console.warn = none;
  return () => Object.assign(console, saved);
}

/** True on every rank when `flag` is true on any rank (a collective: every rank calls it). */
export function ranksAgree(comm: Communicator, flag: boolean): boolean {
  if (comm.size === 1) return flag;
  const t = new Tensor(new Float64Array([flag ? 1 : 0]), [1]);
  comm.allReduce(t);
  return t.data[0] > 0;
}

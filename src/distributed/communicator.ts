/**
 * The MPI communicator: `init()` loads the Open MPI binding (`build/native/hessian-mpi.node`,
 * built at install where `mpicxx` exists) and joins the job `mpirun` started; without the
 * binding, or outside `mpirun`, it returns a world of one rank in which every collective is the
 * identity, so code written for many ranks runs unchanged on one.
 *
 * Collectives operate on tensors' storage in place (the typed arrays go to MPI as they are).
 * Sums are bit-identical on every rank (one rank reduces, then broadcasts), so every rank takes
 * the same branch on the same numbers. A failing MPI call throws an Error naming the call.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { Tensor } from '../tensor/tensor.js';
import type { FloatArray } from '../kernels/types.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';

/** The binding's exports (see `src/distributed/native/mpi.cc`). */
interface MpiAddon {
  readonly abiVersion: number;
  init(): [number, number];
  allReduceSum(a: FloatArray): void;
  broadcast(a: FloatArray, root: number): void;
  allGather(send: FloatArray, recv: FloatArray, counts: number[]): void;
  barrier(): void;
  abort(code: number): void;
  finalize(): void;
}

/** How collectives combine: 'sum', or 'mean' (the sum divided by the number of ranks). */
export type ReduceOp = 'sum' | 'mean';

/** A group of ranks running the same program (SPMD): MPI_COMM_WORLD, or a world of one. */
export interface Communicator {
  /** This process's rank, 0 ≤ rank < size. */
  readonly rank: number;
  readonly size: number;
  /** True when backed by MPI (a world of one under `mpirun -np 1` too); false for the local world. */
  readonly mpi: boolean;
  /** Every leaf of `tree` replaced in place by its sum (or mean) over the ranks; returns `tree`. */
  allReduce<T extends PyTree>(tree: T, op?: ReduceOp): T;
  /** Every leaf of `tree` overwritten in place by rank `root`'s values; returns `tree`. */
  broadcast<T extends PyTree>(tree: T, root?: number): T;
  /** Each rank's `values` concatenated in rank order (sizes may differ per rank). */
  allGather(values: FloatArray): FloatArray;
  /** Waits until every rank has called it. */
  barrier(): void;
  /** Ends every rank of the job with `code` (after an error other ranks would wait on forever). */
  abort(code: number): void;
}

const ABI_VERSION = 1;

/** `<package root>/build/native/hessian-mpi.node`; this module is `<root>/dist/distributed/communicator.js`. */
export function mpiAddonPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'native', 'hessian-mpi.node');
}

let addon: MpiAddon | null | undefined;
let loadError: string | undefined;

function loadAddon(): MpiAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  const file = mpiAddonPath();
  if (!fs.existsSync(file)) {
    loadError = `the MPI binding is not built (${file}); install Open MPI (openmpi-bin, libopenmpi-dev) and run \`npm run build:native\``;
    return null;
  }
  try {
    const mod = createRequire(import.meta.url)(file) as MpiAddon;
    if (mod.abiVersion !== ABI_VERSION) throw new Error(`ABI version ${String(mod.abiVersion)}, expected ${ABI_VERSION} (stale build?)`);
    addon = mod;
  } catch (e) {
    loadError = `cannot load ${file}: ${e instanceof Error ? e.message : String(e)}`;
  }
  return addon;
}

/** True when this process was started by `mpirun`/`mpiexec` (Open MPI sets OMPI_COMM_WORLD_SIZE). */
export function underMpirun(): boolean {
  return process.env.OMPI_COMM_WORLD_SIZE !== undefined || process.env.PMI_SIZE !== undefined || process.env.PMIX_RANK !== undefined;
}

/** Why MPI is unavailable (the binding is missing or fails to load), or undefined when it loads. */
export function mpiUnavailableReason(): string | undefined {
  loadAddon();
  return addon === null ? loadError : undefined;
}

function leavesOf(tree: PyTree, op: string): FloatArray[] {
  if (tree instanceof Tensor) return [tree.data];
  const leaves = treeLeaves(tree);
  if (leaves.length === 0 && tree !== null && typeof tree === 'object' && !Array.isArray(tree) && Object.keys(tree).length > 0) {
    throw new TypeError(`distributed.${op}: expects a tree of tensors`);
  }
  return leaves.map((l) => l.data);
}

/** A world of one rank: collectives are identities. */
export const localCommunicator: Communicator = {
  rank: 0,
  size: 1,
  mpi: false,
  allReduce: (tree) => { leavesOf(tree, 'allReduce'); return tree; },
  broadcast: (tree, root = 0) => {
    if (root !== 0) throw new RangeError(`distributed.broadcast: root ${root} is not a rank of a world of 1`);
    return tree;
  },
  allGather: (values) => values.slice(),
  barrier: () => {},
  abort: (code) => process.exit(code),
};

let world: Communicator | undefined;

function mpiCommunicator(a: MpiAddon): Communicator {
  const [rank, size] = a.init();
  // MPI_Finalize on the way out: Open MPI treats a rank that exits without it as a crash.
  process.once('exit', () => { try { a.finalize(); } catch { /* already failing */ } });
  return {
    rank,
    size,
    mpi: true,
    allReduce(tree, op = 'sum') {
      if (op !== 'sum' && op !== 'mean') throw new RangeError(`distributed.allReduce: op must be 'sum' or 'mean', got ${JSON.stringify(op)}`);
      for (const d of leavesOf(tree, 'allReduce')) {
        a.allReduceSum(d);
        if (op === 'mean' && size > 1) for (let i = 0; i < d.length; i++) d[i] /= size;
      }
      return tree;
    },
    broadcast(tree, root = 0) {
      if (!Number.isInteger(root) || root < 0 || root >= size) throw new RangeError(`distributed.broadcast: root ${root} is not a rank of a world of ${size}`);
      for (const d of leavesOf(tree, 'broadcast')) a.broadcast(d, root);
      return tree;
    },
    allGather(values) {
      const counts = new Float64Array(size);
      counts[rank] = values.length;
      a.allReduceSum(counts);
      const total = counts.reduce((s, c) => s + c, 0);
      const out = values instanceof Float64Array ? new Float64Array(total) : new Float32Array(total);
      a.allGather(values, out, Array.from(counts));
      return out;
    },
    barrier: () => a.barrier(),
    abort: (code) => a.abort(code),
  };
}

/**
 * Join the MPI job this process runs in (idempotent): the world communicator, with `rank` and
 * `size` from `mpirun`. Without the binding or outside `mpirun`: the local world of one rank.
 */
export function init(): Communicator {
  if (world !== undefined) return world;
  const a = underMpirun() ? loadAddon() : null;
  world = a === null ? localCommunicator : mpiCommunicator(a);
  return world;
}

/**
 * The MPI world for `--distributed`, or an Error with a one-line message saying how to start it
 * (outside `mpirun`, or with the binding missing). `command` is what the user ran, for the hint.
 */
export function requireMpi(command: string): Communicator {
  if (!underMpirun()) throw new Error(`--distributed runs under MPI: start it as \`mpirun -np 2 ${command} --distributed\` (Open MPI; add --allow-run-as-root as root)`);
  const reason = mpiUnavailableReason();
  if (reason !== undefined) throw new Error(`--distributed is unavailable: ${reason}`);
  return init();
}

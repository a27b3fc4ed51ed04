/**
 * The files `hessian train --save` writes and `--resume` reads: a safetensors checkpoint (see
 * nn/checkpoint.ts) holding `{ params, state }`, with the run's identity and counters as JSON in
 * `__metadata__["hessian.run"]`. Every error names the file.
 */
import { constants } from 'node:fs';
import { access, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { PyTree } from '../autodiff/pytree.js';
import { loadTree, saveTree } from '../nn/checkpoint.js';
import { validateRunMetadata, type Checkpoint } from '../bench/runner.js';
import type { OptimizerState } from '../optim/types.js';
import { UsageError } from './errors.js';

export const RUN_METADATA_KEY = 'hessian.run';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Reads and checks a run checkpoint (metadata fields, tree present); trees are checked by the runner. */
export async function loadRunCheckpoint(file: string): Promise<Checkpoint> {
  const fail = (why: string): never => {
    throw new UsageError(`cannot resume from '${file}': ${why}`);
  };
  let loaded;
  try {
    loaded = await loadTree(file);
  } catch (e) {
    return fail(message(e));
  }
  const text = loaded.metadata[RUN_METADATA_KEY];
  if (text === undefined) return fail(`not a 'hessian train' checkpoint (no ${RUN_METADATA_KEY} metadata)`);
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    return fail(`__metadata__['${RUN_METADATA_KEY}'] is not valid JSON (${message(e)})`);
  }
  try {
    validateRunMetadata(meta);
  } catch (e) {
    return fail(message(e));
  }
  const tree = loaded.tree as Record<string, unknown>;
  // A file without the structure key loads as a flat { 'params.0.weight': Tensor } object: it
  // would resume from freshly initialized weights if the missing tree were not an error.
  if (!Object.hasOwn(tree, 'params') || !Object.hasOwn(tree, 'state')) {
    return fail("it holds no 'params' and 'state' trees: __metadata__['hessian.tree'] (the tree's structure) is missing or describes another tree");
  }
  return { ...(meta as Omit<Checkpoint, 'params' | 'state'>), params: tree.params as PyTree, state: tree.state as OptimizerState };
}

/** Writes a run checkpoint atomically (temporary file, then rename). */
export async function saveRunCheckpoint(file: string, c: Checkpoint): Promise<void> {
  const { params, state, ...meta } = c;
  try {
    await saveTree(file, { params, state } as PyTree, { [RUN_METADATA_KEY]: JSON.stringify(meta) });
  } catch (e) {
    throw new UsageError(`cannot write checkpoint '${file}': ${message(e)}`);
  }
}

/**
 * Checks before training that `file` can be saved: its directory exists and is writable, and
 * the temporary file the atomic write uses can be created. A run is not spent only to find that
 * its result cannot be kept.
 */
export async function checkSavePath(file: string): Promise<void> {
  const fail = (why: string): never => {
    throw new UsageError(`cannot save to '${file}': ${why}`);
  };
  const dir = dirname(resolve(file));
  const d = await stat(dir).catch(() => undefined);
  if (d === undefined) fail(`the directory '${dir}' does not exist`);
  if (d !== undefined && !d.isDirectory()) fail(`'${dir}' is not a directory`);
  const f = await stat(file).catch(() => undefined);
  if (f !== undefined && f.isDirectory()) fail('it is a directory');
  try {
    await access(dir, constants.W_OK);
    await writeFile(`${file}.tmp`, '');
    await rm(`${file}.tmp`, { force: true });
  } catch (e) {
    fail(`the directory is not writable (${message(e)})`);
  }
}

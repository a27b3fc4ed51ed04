/**
 * `hessian train` checkpoints you can trust: every bad file is refused naming the file and
 * what is wrong (never a hang, never fresh weights), periodic and on-signal saves resume bit for
 * bit, and the save path is checked before training. Runs the compiled CLI as a child process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { treeLeaves, treePaths, type PyTree } from '../autodiff/pytree.js';
import { deserializeTree, serializeTree } from '../nn/checkpoint.js';
import { Tensor } from '../tensor/tensor.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
/** A hang shows as a timeout (status null), not as a test that never ends. */
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
const TRAIN = ['train', '--problem', 'mlp-spirals', '--size', 'tiny', '--json'];
const RUN_KEY = 'hessian.run';

function withDir(f: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-train-test-'));
    try {
      await f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

interface File {
  tree: { params: PyTree; state: PyTree };
  run: Record<string, unknown>;
}

function readCheckpoint(path: string): File {
  const { tree, metadata } = deserializeTree(readFileSync(path));
  return { tree: tree as File['tree'], run: JSON.parse(metadata[RUN_KEY]) as Record<string, unknown> };
}

function writeCheckpoint(path: string, tree: PyTree, runText: string): void {
  writeFileSync(path, serializeTree(tree, { [RUN_KEY]: runText }));
}

/** Replaces the leaf at `path` (a treePaths entry) of a loaded tree. */
function replaceLeaf(tree: PyTree, path: string, f: (t: Tensor) => Tensor): void {
  const parts = path.split('.');
  let node = tree as Record<string, PyTree>;
  for (const p of parts.slice(0, -1)) node = node[p] as Record<string, PyTree>;
  const last = parts[parts.length - 1];
  node[last] = f(node[last] as Tensor);
}

/** Trees equal tensor for tensor, bit for bit. */
function assertSameTensors(a: PyTree, b: PyTree, what: string): void {
  assert.deepEqual(treePaths(a), treePaths(b), `${what}: paths`);
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  la.forEach((t, i) => {
    assert.deepEqual(t.shape, lb[i].shape, `${what}: shape of ${treePaths(a)[i]}`);
    assert.deepEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), new Uint8Array(lb[i].data.buffer, lb[i].data.byteOffset, lb[i].data.byteLength), `${what}: bits of ${treePaths(a)[i]}`);
  });
}

function refused(r: ReturnType<typeof cli>, file: string, pattern: RegExp): void {
  assert.notEqual(r.status, null, `timed out (a hang): ${r.stderr}`);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].startsWith(`hessian: cannot resume from '${file}': `), lines[0]);
  assert.match(lines[0], pattern);
}

describe('train --resume refuses bad checkpoints, naming the file and the problem', () => {
  it('every run-metadata field is validated: a non-numeric step no longer hangs, a negative one is refused', withDir((dir) => {
    const good = join(dir, 'good');
    assert.equal(cli([...TRAIN, '--optimizer', 'adam', '--steps', '3', '--save', good]).status, 0);
    const { tree, run } = readCheckpoint(good);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ step: 'abc' }, /field 'step' must be a non-negative integer, got "abc"/],
      [{ step: -1 }, /field 'step' must be a non-negative integer, got -1/],
      [{ step: 2.5 }, /field 'step'/],
      [{ step: 2e9 }, /field 'step' must be at most 1000000000/],
      [{ seed: null }, /field 'seed'/],
      [{ evals: -3 }, /field 'evals'/],
      [{ curvatureProducts: '0' }, /field 'curvatureProducts'/],
      [{ seconds: -1 }, /field 'seconds' must be a finite number >= 0/],
      [{ problem: 'nope' }, /field 'problem' is not a known problem/],
      [{ optimizer: 7 }, /field 'optimizer' must be a string/],
      [{ hyper: { options: {}, batchSize: 0 } }, /field 'hyper.batchSize'/],
      [{ hyper: null }, /field 'hyper'/],
      [{ extra: 1 }, /field 'extra' is not a field of a run checkpoint/],
    ];
    const bad = join(dir, 'bad');
    for (const [change, pattern] of cases) {
      writeCheckpoint(bad, tree, JSON.stringify({ ...run, ...change }));
      refused(cli([...TRAIN, '--optimizer', 'adam', '--steps', '5', '--resume', bad, '--save', join(dir, 'out')]), bad, pattern);
    }
    writeCheckpoint(bad, tree, '{"step": 3,');
    refused(cli([...TRAIN, '--optimizer', 'adam', '--resume', bad]), bad, /__metadata__\['hessian.run'\] is not valid JSON/);
  }));

  it('a checkpoint without its tree structure is refused instead of resuming from fresh weights', withDir((dir) => {
    const good = join(dir, 'good');
    assert.equal(cli([...TRAIN, '--optimizer', 'adam', '--steps', '3', '--save', good]).status, 0);
    // Rewrite the header without __metadata__['hessian.tree']: the file then loads as a flat object.
    const bytes = readFileSync(good);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as { __metadata__: Record<string, string> };
    delete header.__metadata__['hessian.tree'];
    const text = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    const bad = join(dir, 'bad');
    writeFileSync(bad, Buffer.concat([len, text, bytes.subarray(8 + n)]));
    refused(cli([...TRAIN, '--optimizer', 'adam', '--steps', '5', '--resume', bad]), bad, /hessian\.tree'\] \(the tree's structure\) is missing/);
  }));

  it('a transposed weight of the same size, and NaN or Inf in parameters or optimizer state, are refused naming the tensor', withDir((dir) => {
    const good = join(dir, 'good');
    assert.equal(cli([...TRAIN, '--optimizer', 'adam', '--steps', '3', '--save', good]).status, 0);
    const weight = treePaths(readCheckpoint(good).tree.params)[0];
    const bad = join(dir, 'bad');
    const variants: [string, (t: Tensor) => Tensor, RegExp][] = [
      [`params.${weight}`, (t) => new Tensor(t.data, t.shape.slice().reverse()), new RegExp(`tensor 'params\\.${weight}' has shape \\[\\d+, \\d+\\], the model needs`)],
      [`params.${weight}`, (t) => { const d = t.data.slice(); d[1] = NaN; return new Tensor(d, t.shape); }, new RegExp(`tensor 'params\\.${weight}' holds a non-finite value \\(NaN at flat index 1\\)`)],
      ['state.inner.0.mu.0.weight', (t) => { const d = t.data.slice(); d[0] = -Infinity; return new Tensor(d, t.shape); }, /tensor 'state\.inner\.0\.mu\.0\.weight' holds a non-finite value \(-Infinity/],
    ];
    for (const [path, f, pattern] of variants) {
      const { tree, run } = readCheckpoint(good);
      replaceLeaf(tree as unknown as PyTree, path, f);
      writeCheckpoint(bad, tree as unknown as PyTree, JSON.stringify(run));
      refused(cli([...TRAIN, '--optimizer', 'adam', '--steps', '5', '--resume', bad]), bad, pattern);
    }
  }));

  it('a flipped byte in the data section is detected by the checksum', withDir((dir) => {
    const f = join(dir, 'ckpt');
    assert.equal(cli([...TRAIN, '--optimizer', 'adam', '--steps', '3', '--save', f]).status, 0);
    const bytes = readFileSync(f);
    bytes[bytes.length - 5] ^= 0x10;
    writeFileSync(f, bytes);
    refused(cli([...TRAIN, '--optimizer', 'adam', '--steps', '5', '--resume', f]), f, /data section is corrupt/);
  }));
});

/** Spawns a long run, waits until it has printed a progress line at step >= `atStep`, then kills it with `signal`. */
async function interrupt(args: string[], atStep: number, signal: NodeJS.Signals): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let buffered = '';
  let sent = false;
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) {
      const step = (JSON.parse(l) as { step?: number }).step;
      if (!sent && step !== undefined && step >= atStep) {
        sent = true;
        child.kill(signal);
      }
    }
  });
  return new Promise((resolve) => child.on('close', (status, sig) => resolve({ status, signal: sig, stderr })));
}

/** The run resumed from `file` ends bit for bit where an uninterrupted run of the same length ends. */
function assertResumesExactly(dir: string, optimizer: string, file: string): void {
  const { run } = readCheckpoint(file);
  const total = (run.step as number) + 4;
  const whole = join(dir, 'whole');
  const resumed = join(dir, 'resumed');
  const w = cli([...TRAIN, '--optimizer', optimizer, '--steps', `${total}`, '--save', whole]);
  const r = cli([...TRAIN, '--optimizer', optimizer, '--steps', `${total}`, '--resume', file, '--save', resumed]);
  assert.equal(w.status, 0, w.stderr);
  assert.equal(r.status, 0, r.stderr);
  const a = readCheckpoint(whole);
  const b = readCheckpoint(resumed);
  assertSameTensors(b.tree.params, a.tree.params, `${optimizer} params`);
  assertSameTensors(b.tree.state, a.tree.state, `${optimizer} state`);
  assert.equal(JSON.stringify(b.tree.state, (k, v) => (v instanceof Tensor ? null : v)), JSON.stringify(a.tree.state, (k, v) => (v instanceof Tensor ? null : v)), 'static state');
  assert.equal(b.run.step, total);
  const last = (out: string) => JSON.parse(out.trim().split('\n').pop() as string) as { trainLoss: number };
  assert.equal(last(r.stdout).trainLoss, last(w.stdout).trainLoss);
}

describe('train saves on signals and periodically, and those saves resume bit for bit', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} mid-run saves the checkpoint and exits ${code}`, { timeout: 180_000 }, withDir(async (dir) => {
      const f = join(dir, 'ckpt');
      const r = await interrupt([...TRAIN, '--optimizer', 'lbfgs', '--steps', '1000000', '--save', f], 3, signal);
      assert.equal(r.status, code, r.stderr);
      assert.match(r.stderr, new RegExp(`^hessian: stopped by ${signal} after step \\d+; saved to `));
      assert.ok((readCheckpoint(f).run.step as number) >= 3);
      assertResumesExactly(dir, 'lbfgs', f);
    }));
  }

  it('after kill -9 the last periodic save (--save-every N) loads and resumes bit for bit', { timeout: 180_000 }, withDir(async (dir) => {
    const f = join(dir, 'ckpt');
    const r = await interrupt([...TRAIN, '--optimizer', 'adam', '--steps', '1000000', '--save', f, '--save-every', '2'], 9, 'SIGKILL');
    assert.equal(r.signal, 'SIGKILL');
    const step = readCheckpoint(f).run.step as number;
    assert.ok(step >= 2 && step % 2 === 0, `saved at step ${step}`);
    assertResumesExactly(dir, 'adam', f);
  }));

  it('--save-every-seconds saves while the run goes on', { timeout: 120_000 }, withDir(async (dir) => {
    const f = join(dir, 'ckpt');
    const r = await interrupt([...TRAIN, '--optimizer', 'adam', '--steps', '1000000', '--save', f, '--save-every-seconds', '0.01'], 30, 'SIGKILL');
    assert.equal(r.signal, 'SIGKILL');
    assert.ok((readCheckpoint(f).run.step as number) >= 1);
  }));
});

describe('train arguments', () => {
  it('the save path is checked before training: a missing directory or a directory fails at once', withDir((dir) => {
    for (const [save, pattern] of [[join(dir, 'missing', 'f'), /the directory '.*missing' does not exist/], [dir, /it is a directory/]] as const) {
      const t0 = Date.now();
      const r = cli([...TRAIN, '--optimizer', 'adam', '--steps', '1000000000', '--save', save]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr.trim(), new RegExp(`^hessian: cannot save to '${save.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': ${pattern.source}$`));
      assert.ok(Date.now() - t0 < 30_000);
    }
  }));

  it('negative and absurd step counts, bad save intervals and a bad backend get one clear line', () => {
    const cases: [string[], RegExp, Record<string, string>?][] = [
      [['--steps', '-1'], /^hessian: --steps must be an integer >= 1, got '-1'$/],
      [['--seed', '-3'], /^hessian: --seed must be an integer >= 0, got '-3'$/],
      [['--steps', '99999999999999999999'], /^hessian: --steps must be at most 1000000000, got '99999999999999999999'$/],
      [['--budget', '99999999999999999999steps'], /at most 1000000000 steps/],
      [['--save-every', '3'], /^hessian: --save-every needs --save FILE$/],
      [['--save-every-seconds', '-1', '--save', join(tmpdir(), 'x')], /^hessian: --save-every-seconds must be a positive number of seconds, got '-1'$/],
      [['--steps', '2', '--batch-size', '100000'], /^hessian: --batch-size: batch size 100000 exceeds the \d+ training examples of 'mlp-spirals': give at most \d+, or 'full'$/],
      [['--steps', '2'], /^hessian: HESSIAN_BACKEND=bogus: unknown kernel backend 'bogus'; expected one of native, wasm, ts$/, { HESSIAN_BACKEND: 'bogus' }],
    ];
    for (const [args, pattern, env] of cases) {
      const r = cli([...TRAIN, '--optimizer', 'adam', ...args], env);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.notEqual(r.status, null, `${args.join(' ')} timed out`);
      assert.match(r.stderr.trim(), pattern);
    }
  });

  it('--batch-size 25% trains on a quarter of the training set, reported as the count; a share outside (0%, 100%] is refused', () => {
    const r = cli([...TRAIN, '--optimizer', 'adam', '--steps', '2', '--batch-size', '25%']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { hyper: { batchSize: unknown } };
    // Without --json the line says the count and the share.
    const whole = cli(['train', '--problem', 'mlp-spirals', '--size', 'tiny', '--optimizer', 'adam', '--steps', '1', '--batch-size', '100%']);
    assert.equal(whole.status, 0, whole.stderr);
    const total = Number(/batch size (\d+) \(100% of the training set\)/.exec(whole.stdout)?.[1]);
    assert.ok(total > 4, whole.stdout);
    assert.equal(summary.hyper.batchSize, Math.round(total / 4));
    for (const bad of ['0%', '150%', '-5%', 'a%']) {
      const b = cli([...TRAIN, '--optimizer', 'adam', '--steps', '1', '--batch-size', bad]);
      assert.equal(b.status, 2, bad);
      assert.match(b.stderr.trim(), bad === 'a%' || bad === '-5%' ? /^hessian: --batch-size must be a positive integer, a share of the training set such as 25%, or 'full', got/ : /^hessian: --batch-size as a share of the training set must lie in \(0%, 100%\], got/);
    }
  });

  it('a batch size up to the training set runs; one above it is refused by bench too, before any run', () => {
    const ok = cli([...TRAIN, '--optimizer', 'adam', '--steps', '2', '--batch-size', 'full']);
    assert.equal(ok.status, 0, ok.stderr);
    const r = cli(['bench', '--problems', 'mlp-spirals', '--optimizers', 'adam', '--size', 'tiny', '--budget', '2steps', '--no-peers', '--batch-size', '100000', '--out', join(tmpdir(), 'hessian-bs-test')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.trim(), /^hessian: --batch-size: batch size 100000 exceeds the \d+ training examples of 'mlp-spirals'/);
    assert.doesNotMatch(r.stdout, /\[1\//, 'no run started');
  });
});

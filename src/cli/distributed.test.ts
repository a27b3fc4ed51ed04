/**
 * `hessian train --distributed` under `mpirun -np 2`: one line saying how to start it outside
 * mpirun; rank 0 alone prints; checkpoints resume across a different number of ranks to the run
 * one process makes; a rank killed mid-run ends the job within seconds with the last checkpoint
 * whole. Skips with a line where Open MPI or the binding is absent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserializeTree } from '../nn/checkpoint.js';
import { mpirunCommand, mpirunFlags, runUnderMpirun } from '../distributed/mpi-harness.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const BASE = ['train', '--problem', 'mlp-spirals', '--size', 'tiny', '--json'];
const TRAIN = [...BASE, '--optimizer', 'kfac', '--set', 'estimationMode=empirical'];
const mpi = mpirunCommand();
const skip = 'skip' in mpi ? mpi.skip : false;
if (skip !== false) console.log(`# --distributed CLI tests skipped: ${skip}`);

const single = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
const summary = (stdout: string): Record<string, number> => JSON.parse(stdout.trim().split('\n').filter((l) => l.includes('"problem"')).pop() ?? '{}') as Record<string, number>;

function withDir(f: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-distributed-test-'));
    try { await f(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

test('--distributed outside mpirun fails with one line saying how to start it', () => {
  const r = single([...TRAIN, '--steps', '2', '--distributed']);
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /--distributed runs under MPI: start it as `mpirun -np 2 npx hessian train --problem mlp-spirals .* --distributed`/);
});

test('a checkpoint of 2 ranks resumes in 1 process, and one of 1 process on 2 ranks, to the run of 1 process (rank 0 alone prints)', { skip }, withDir((dir) => {
  const reference = summary(single([...TRAIN, '--steps', '6']).stdout);
  const a = join(dir, 'a.ckpt');
  const two = runUnderMpirun(CLI, 2, [...TRAIN, '--steps', '3', '--save', a, '--distributed']);
  assert.equal(two.status, 0, two.stderr);
  assert.equal(two.stdout.split('\n').filter((l) => l.includes('"problem"')).length, 1, `one summary line expected:\n${two.stdout}`);
  const fromTwo = summary(single([...TRAIN, '--steps', '6', '--resume', a]).stdout);
  const b = join(dir, 'b.ckpt');
  assert.equal(single([...TRAIN, '--steps', '3', '--save', b]).status, 0);
  const onTwo = runUnderMpirun(CLI, 2, [...TRAIN, '--steps', '6', '--resume', b, '--distributed']);
  assert.equal(onTwo.status, 0, onTwo.stderr);
  // float32 parameters: the reordered sums round differently, by a few ulps per step.
  for (const r of [fromTwo, summary(onTwo.stdout)]) {
    assert.equal(r.steps, 6);
    assert.ok(Math.abs(r.trainLoss - reference.trainLoss) <= 1e-5 * reference.trainLoss, `${r.trainLoss} vs ${reference.trainLoss}`);
  }
}));

/** The pids of mpirun's children and their ranks (Linux: read from /proc). */
function rankPids(parent: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const rank = /(?:^|\0)OMPI_COMM_WORLD_RANK=(\d+)/.exec(readFileSync(`/proc/${name}/environ`, 'utf8'));
      if (rank !== null) out.set(Number(rank[1]), Number(name));
    } catch { /* gone, or not ours */ }
  }
  return out;
}

test('a rank killed mid-run makes the job exit within seconds, with the last checkpoint intact', { skip: skip !== false ? skip : process.platform !== 'linux' ? 'needs /proc' : false }, withDir(async (dir) => {
  const ckpt = join(dir, 'run.ckpt');
  const child = spawn('mpirun', [...mpirunFlags(2), process.execPath, CLI, ...BASE, '--optimizer', 'adam', '--steps', '1000000', '--save', ckpt, '--save-every', '1', '--distributed'], {
    stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, OMPI_MCA_btl_vader_single_copy_mechanism: 'none' },
  });
  let gone = false;
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => { gone = true; res(code); }));
  const deadline = Date.now() + 60_000;
  while (!existsSync(ckpt) && !gone && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(ckpt), 'no checkpoint within 60 s');
  await new Promise((r) => setTimeout(r, 500)); // a few more steps, saves in flight
  const victim = rankPids(child.pid ?? -1).get(1);
  assert.ok(victim !== undefined, 'rank 1 not found among mpirun\'s children');
  const killedAt = Date.now();
  process.kill(victim, 'SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(timer);
  const seconds = (Date.now() - killedAt) / 1000;
  console.log(`# rank 1 killed: mpirun exited with ${code} after ${seconds.toFixed(2)} s`);
  assert.notEqual(code, 0);
  assert.ok(seconds < 10, `the job took ${seconds} s to end after rank 1 was killed`);
  const loaded = deserializeTree(readFileSync(ckpt));
  assert.ok(Number(JSON.parse(loaded.metadata['hessian.run']).step) >= 1);
  const r = single([...BASE, '--optimizer', 'adam', '--steps', String(Number(JSON.parse(loaded.metadata['hessian.run']).step) + 1), '--resume', ckpt]);
  assert.equal(r.status, 0, r.stderr);
}));

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { deserializeTree } from '../nn/checkpoint.js';
import { validateRunMetadata } from './resume.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeLeaves } from '../autodiff/pytree.js';
import { hasStructuralDamping } from '../optim/krylov/structural-damping.js';
import { SEQUENCE_TASKS } from '../data/sequence-tasks.js';
import { problemById } from './problems.js';
import { runOne } from './runner.js';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('rnn-<task> problems', () => {
  it('every task is registered; an instance has the length asked for, structural products and a test error in [0, 1]', () => {
    for (const task of SEQUENCE_TASKS) {
      const inst = problemById(`rnn-${task}`).build(0, { size: 'tiny', seqLength: 12 });
      assert.ok(hasStructuralDamping(inst.full), `${task}: the objective offers structural damping`);
      assert.ok(hasStructuralDamping(inst.batch(0, 8)));
      assert.equal(inst.data?.train.x.shape[1], 12);
      const e = inst.evaluate(inst.params);
      assert.ok(e.testError !== undefined && e.testError >= 0 && e.testError <= 1, `${task}: testError ${e.testError}`);
      assert.ok(Number.isFinite(e.trainLoss) && Number.isFinite(e.testLoss));
    }
  });

  it('mini-batch k is fresh data drawn from (seed, k): the same k gives the same loss, another k another', () => {
    const inst = problemById('rnn-addition').build(3, { size: 'tiny', seqLength: 15 });
    const loss = (k: number) => inst.batch(k, 16).valueAndGrad(inst.params)[0];
    assert.equal(loss(4), loss(4));
    assert.notEqual(loss(4), loss(5));
    // The same seed builds the same parameters; another seed others.
    const again = problemById('rnn-addition').build(3, { size: 'tiny', seqLength: 15 });
    assert.deepEqual(treeLeaves(again.params).map((l) => Array.from(l.data)), treeLeaves(inst.params).map((l) => Array.from(l.data)));
  });

  it('a sequence length the task does not allow is refused naming the problem', () => {
    assert.throws(() => problemById('rnn-memorization').build(0, { size: 'tiny', seqLength: 10 }), /rnn-memorization: seqLength must be an integer >= 11, got 10/);
  });

  it('Hessian-free with structural damping and Adam lower the training loss of rnn-xor (T = 10)', () => {
    for (const o of ['hessian-free', 'adam']) {
      const { record } = runOne('rnn-xor', o, 0, { steps: o === 'adam' ? 30 : 4 }, { size: 'tiny', seqLength: 10 });
      assert.ok(record.final.trainLoss < record.curve[0].trainLoss, `${o}: ${record.curve[0].trainLoss} -> ${record.final.trainLoss}`);
      assert.ok(record.final.testError !== undefined);
    }
  });

  it('train --seq-length: testError in the final --json line; refused for a problem without sequences', () => {
    const r = cli(['train', '--problem', 'rnn-temporal-order-2', '--optimizer', 'adam', '--steps', '2', '--size', 'tiny', '--seq-length', '20', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, unknown>;
    assert.equal(typeof last.testError, 'number');
    assert.ok((last.testError as number) >= 0 && (last.testError as number) <= 1);
    const bad = cli(['train', '--problem', 'mlp-spirals', '--optimizer', 'adam', '--steps', '1', '--seq-length', '20']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--seq-length applies to the rnn-\* problems, not to mlp-spirals/);
    const zero = cli(['train', '--problem', 'rnn-xor', '--optimizer', 'adam', '--steps', '1', '--seq-length', '0']);
    assert.match(zero.stderr, /--seq-length must be an integer in \[1, 100000\], got '0'/);
  });

  it('bench --seq-length: results.json records the length and each run\'s testError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-rnn-bench-'));
    try {
      const r = cli(['bench', '--problems', 'rnn-xor', '--optimizers', 'adam', '--budget', '2steps', '--seeds', '1', '--size', 'tiny', '--seq-length', '12', '--no-peers', '--out', dir]);
      assert.equal(r.status, 0, r.stderr);
      const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { settings: { seqLength?: number }; runs: { final: { testError?: number } }[] };
      assert.equal(results.settings.seqLength, 12);
      assert.equal(typeof results.runs[0].final.testError, 'number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a checkpoint records seqLength: resuming without --seq-length continues at 50 bit for bit, asking for another length is refused naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hessian-rnn-resume-'));
    try {
      const run = ['train', '--problem', 'rnn-addition', '--optimizer', 'adam', '--size', 'tiny', '--json'];
      const meta = (f: string) => JSON.parse(deserializeTree(readFileSync(f)).metadata['hessian.run']) as Record<string, unknown>;
      const lastLoss = (out: string) => (JSON.parse(out.trim().split('\n').pop() as string) as { trainLoss: number }).trainLoss;
      const half = join(dir, 'half');
      const a = cli([...run, '--seq-length', '50', '--steps', '2', '--save', half]);
      assert.equal(a.status, 0, a.stderr);
      assert.equal(meta(half).seqLength, 50);
      const whole = cli([...run, '--seq-length', '50', '--steps', '4']);
      const resumed = cli([...run, '--steps', '4', '--resume', half, '--save', join(dir, 'resumed')]);
      assert.equal(whole.status, 0, whole.stderr);
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.equal(lastLoss(resumed.stdout), lastLoss(whole.stdout), 'the resumed run is the uninterrupted run at T = 50');
      assert.equal(meta(join(dir, 'resumed')).seqLength, 50);
      const other = cli([...run, '--seq-length', '30', '--steps', '4', '--resume', half]);
      assert.equal(other.status, 2, other.stderr);
      assert.match(other.stderr, /cannot resume from '.*half': run metadata field 'seqLength' is 50: .* this run asks for --seq-length 30/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const base = { problem: 'rnn-xor', optimizer: 'adam', seed: 0, step: 1, seconds: 0, evals: 1, curvatureProducts: 0, hyper: { options: {}, batchSize: 10 } };
    assert.doesNotThrow(() => validateRunMetadata({ ...base, seqLength: 12 }));
    assert.throws(() => validateRunMetadata({ ...base, seqLength: 0 }), /field 'seqLength' must be a positive integer, got 0/);
    assert.throws(() => validateRunMetadata({ ...base, seqLength: '12' }), /field 'seqLength' must be a positive integer, got "12"/);
    assert.throws(() => validateRunMetadata({ ...base, problem: 'mlp-spirals', seqLength: 12 }), /field 'seqLength' applies to the rnn-\* problems, not to 'mlp-spirals'/);
  });
});

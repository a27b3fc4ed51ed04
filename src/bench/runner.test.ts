/**
 * Resuming a run: the runner refuses checkpoints it cannot continue (missing trees, wrong
 * shapes or dtypes, non-finite values, bad counters, other hyper-parameters) before the first
 * step, and `runSteps` yields checkpoints from which a resumed run ends bit for bit where the
 * uninterrupted one ends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { treeLeaves, treeMap } from '../autodiff/pytree.js';
import { CheckpointError } from '../nn/checkpoint.js';
import { Tensor } from '../tensor/tensor.js';
import { MAX_STEPS, runOne, runSteps, validateRunMetadata, type Checkpoint } from './runner.js';

const start = (opt = 'adam'): Checkpoint => runOne('mlp-spirals', opt, 1, { steps: 2 }, { size: 'tiny' }).checkpoint;
const resumeFrom = (c: Checkpoint, steps = 4) => runOne('mlp-spirals', c.optimizer, 1, { steps }, { size: 'tiny', resume: c });

function throwsCheckpoint(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof CheckpointError && pattern.test(e.message));
}

describe('runner resume', () => {
  it('a checkpoint without parameters or state is an error, not a run from fresh weights', () => {
    const c = start();
    throwsCheckpoint(() => resumeFrom({ ...c, params: undefined as never }), /holds no parameter tree/);
    throwsCheckpoint(() => resumeFrom({ ...c, state: undefined as never }), /holds no optimizer state/);
    throwsCheckpoint(() => resumeFrom({ ...c, params: {} as never }), /does not match the problem's model: missing 'params\./);
  });

  it('parameters of another shape (same size) or dtype, and non-finite values, are named', () => {
    const c = start();
    const transposed = treeMap(c.params, (t) => (t.ndim === 2 ? new Tensor(t.data, [t.shape[1], t.shape[0]]) : t));
    throwsCheckpoint(() => resumeFrom({ ...c, params: transposed }), /tensor 'params\.0\.weight' has shape \[2, 32\], the model needs \[32, 2\]/);
    const f64 = treeMap(c.params, (t) => t.astype('float64'));
    throwsCheckpoint(() => resumeFrom({ ...c, params: f64 }), /tensor 'params\.0\.weight' is float64, the model needs float32/);
    const inf = treeMap(c.params, (t, i) => (i === 1 ? new Tensor(t.data.map((v, j) => (j === 2 ? Infinity : v)), t.shape) : t));
    throwsCheckpoint(() => resumeFrom({ ...c, params: inf }), /tensor 'params\.0\.bias' holds a non-finite value \(Infinity at flat index 2\)/);
    const nanState = treeMap(c.state, (t) => new Tensor(t.data.map(() => NaN), t.shape));
    throwsCheckpoint(() => resumeFrom({ ...c, state: nanState }), /tensor 'state\..*' holds a non-finite value \(NaN/);
    const wrongState = treeMap(c.state, (t) => (t.ndim === 2 ? new Tensor(t.data, [t.shape[1], t.shape[0]]) : t));
    throwsCheckpoint(() => resumeFrom({ ...c, state: wrongState }), /tensor 'state\.inner\.0\.mu\.0\.weight' has shape \[2, 32\], the optimizer needs \[32, 2\]/);
  });

  it('counters that are not non-negative integers, and other hyper-parameters, are refused before any step', () => {
    const c = start();
    for (const [field, value] of [['step', 'abc'], ['step', -1], ['step', NaN], ['step', MAX_STEPS + 1], ['seed', 1.5], ['evals', -1], ['seconds', Infinity]] as const) {
      throwsCheckpoint(() => resumeFrom({ ...c, [field]: value }), new RegExp(`field '${field}'`));
    }
    throwsCheckpoint(() => resumeFrom({ ...c, hyper: { ...c.hyper, options: { lr: 0.5 } } }), /made with hyper-parameters .*this run uses/);
    assert.doesNotThrow(() => validateRunMetadata(JSON.parse(JSON.stringify({ ...c, params: undefined, state: undefined }))));
  });

  it('runSteps yields after every step, and a run resumed from any yielded checkpoint ends bit for bit where the whole run ends', () => {
    for (const opt of ['kfac', 'lbfgs']) {
      const whole = runOne('mlp-spirals', opt, 2, { steps: 6 }, { size: 'tiny' });
      const yielded: Checkpoint[] = [];
      const run = runSteps('mlp-spirals', opt, 2, { steps: 6 }, { size: 'tiny' });
      for (let r = run.next(); r.done !== true; r = run.next()) yielded.push(r.value.checkpoint());
      assert.deepEqual(yielded.map((c) => c.step), [1, 2, 3, 4, 5, 6]);
      for (const at of [1, 4]) {
        const resumed = runOne('mlp-spirals', opt, 2, { steps: 6 }, { size: 'tiny', resume: yielded[at - 1] });
        const a = treeLeaves(whole.checkpoint.params);
        treeLeaves(resumed.checkpoint.params).forEach((t, i) => assert.deepEqual(Array.from(t.data), Array.from(a[i].data), `${opt} from step ${at}: parameter ${i}`));
        assert.equal(resumed.record.final.trainLoss, whole.record.final.trainLoss);
      }
    }
  });
});

describe('runner clock', () => {
  it("clock 'cpu' times steps in this process's CPU seconds: the same trajectory as wall time, and no more seconds than the process used", () => {
    const wall = runOne('mlp-spirals', 'adam', 3, { steps: 5 }, { size: 'tiny' });
    const c0 = process.cpuUsage();
    const cpu = runOne('mlp-spirals', 'adam', 3, { steps: 5 }, { size: 'tiny', clock: 'cpu' });
    const used = process.cpuUsage(c0);
    assert.deepEqual(cpu.record.curve.map((p) => p.trainLoss), wall.record.curve.map((p) => p.trainLoss));
    assert.ok(cpu.record.final.seconds > 0, `cpu seconds ${cpu.record.final.seconds}`);
    assert.ok(cpu.record.final.seconds <= (used.user + used.system) / 1e6 + 1e-6, `cpu seconds ${cpu.record.final.seconds} exceed the process's ${(used.user + used.system) / 1e6}`);
    // A CPU budget ends the run once the steps' CPU time reaches it.
    const budgeted = runOne('mlp-spirals', 'adam', 3, { seconds: 0.05 }, { size: 'tiny', clock: 'cpu' });
    const last = budgeted.record.curve[budgeted.record.curve.length - 1];
    assert.ok(last.seconds >= 0.05 && budgeted.record.final.step > 0);
  });

  it('refuses an unknown clock, naming the option', () => {
    assert.throws(() => runOne('mlp-spirals', 'adam', 3, { steps: 1 }, { size: 'tiny', clock: 'gpu' as never }), /option 'clock' must be 'wall' or 'cpu', got "gpu"/);
  });
});

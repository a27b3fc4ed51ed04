import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Rng } from '../tensor/random.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { softmaxCrossEntropy, mse } from '../nn/losses.js';
import { mlp } from '../nn/models.js';
import { deserializeTree } from '../nn/checkpoint.js';
import { OPTIMIZERS } from '../optim/registry.js';
import { fromArrays, split, takeRows, type Dataset } from '../data/files/dataset.js';
import { registerProblem } from '../bench/problems.js';
import { runOne } from '../bench/runner.js';
import { train } from './train.js';

/** Three Gaussian blobs in 2-D, 32 points each, labels 0..2 (float64). */
function blobs(seed = 0): Dataset {
  const rng = new Rng(seed);
  const centers = [[0, 2], [-2, -1], [2, -1]];
  const x: number[][] = [];
  const y: number[] = [];
  const noise = rng.normal([96, 2], { dtype: 'float64' }).data;
  for (let i = 0; i < 96; i++) {
    const c = i % 3;
    x.push([centers[c][0] + 0.6 * noise[2 * i], centers[c][1] + 0.6 * noise[2 * i + 1]]);
    y.push(c);
  }
  return fromArrays(x, y, { dtype: 'float64', classes: 3 });
}

test('every registered optimizer trains a user problem through train(), with L2 on the weights; K-FAC and EKFAC get Kronecker blocks', () => {
  const { train: tr, test: te } = split(blobs(), { test: 0.25, seed: 1 });
  for (const id of OPTIMIZERS.keys()) {
    const r = train(mlp([2, 8, 3]), softmaxCrossEntropy(), tr, {
      optimizer: id, steps: 25, batchSize: 24, seed: 3, l2: 1e-4, l2Exclude: 'biases', test: te, progress: false,
      // Sophia's default rate (1e-4, its authors' code, sized for language models) moves each weight by at most 25e-4 here.
      ...(id.startsWith('sophia') ? { optimizerOptions: { lr: 0.01 } } : {}),
    });
    const first = r.curve[0].trainLoss;
    const last = r.final.trainLoss;
    assert.ok(Number.isFinite(last) && last < 0.9 * first, `${id}: loss ${first} -> ${last}`);
    assert.equal(r.final.step, 25);
    assert.ok(r.final.testAccuracy !== undefined && r.final.testAccuracy >= 0 && r.final.testAccuracy <= 1);
    if (id === 'kfac' || id === 'ekfac') {
      const blocks = (r.state as unknown as { inner: { curvature: { blocks: { kind: string }[] } } }).inner.curvature.blocks;
      assert.ok(blocks.length > 0 && blocks.every((b) => b.kind === 'dense'), `${id}: blocks ${blocks.map((b) => b.kind).join(',')}`);
    }
  }
});

test('a registered problem runs in the benchmark runner like a shipped one', () => {
  const data = blobs(2);
  registerProblem({ id: 'test-blobs', kind: 'classifier', model: () => mlp([2, 8, 3]), loss: softmaxCrossEntropy(), data: { train: data, test: data } });
  const { record } = runOne('test-blobs', 'adam', 0, { steps: 30 });
  assert.ok(record.final.trainLoss < record.curve[0].trainLoss);
  assert.ok(record.final.testAccuracy !== undefined && record.final.testAccuracy > 0.5);
  assert.throws(() => registerProblem({ id: 'test-blobs', kind: 'classifier', model: mlp([2, 3]), loss: mse(), data: { train: data } }), /already registered/);
  assert.throws(() => registerProblem({ id: 'Bad Id', kind: 'classifier', model: mlp([2, 3]), loss: mse(), data: { train: data } }), /not kebab-case/);
  assert.throws(() => registerProblem({ id: 'test-x', kind: 'clustering' as never, model: mlp([2, 3]), loss: mse(), data: { train: data } }), /kind must be/);
  assert.throws(() => registerProblem({ id: 'test-y', kind: 'regression', model: mlp([2, 3]), loss: mse(), data: { train: { x: data.x, y: takeRows(data.y, [0, 1, 2]) } } }), /data.train.x has 96 examples and data.train.y 3/);
});

test('budgets: epochs count batches of batchSize, steps stop, a callback stops; the same seed repeats the run bit for bit', () => {
  const data = blobs();
  const base = { optimizer: 'sgd', batchSize: 32, seed: 5, progress: false } as const;
  const e = train(mlp([2, 4, 3]), softmaxCrossEntropy(), data, { ...base, epochs: 2 });
  assert.equal(e.final.step, 6);
  assert.equal(e.final.stopped, 'epochs');
  assert.equal(e.final.epoch, 2);
  const c = train(mlp([2, 4, 3]), softmaxCrossEntropy(), data, { ...base, steps: 100, callbacks: { onStep: (k) => k < 4 } });
  assert.equal(c.final.step, 4);
  assert.equal(c.final.stopped, 'callback');
  const bits = (t: PyTree) => treeLeaves(t).map((l) => Array.from(l.data).join(',')).join('|');
  const a1 = train(mlp([2, 4, 3]), softmaxCrossEntropy(), data, { ...base, optimizer: 'adam', steps: 10 });
  const a2 = train(mlp([2, 4, 3]), softmaxCrossEntropy(), data, { ...base, optimizer: 'adam', steps: 10 });
  const a3 = train(mlp([2, 4, 3]), softmaxCrossEntropy(), data, { ...base, optimizer: 'adam', steps: 10, seed: 6 });
  assert.equal(bits(a1.params), bits(a2.params));
  assert.notEqual(bits(a1.params), bits(a3.params));
});

test('a checkpoint holds the final parameters and optimizer state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hessian-train-'));
  const path = join(dir, 'run.safetensors');
  const r = train(mlp([2, 4, 3]), softmaxCrossEntropy(), blobs(), { optimizer: 'adam', steps: 7, checkpoint: { path, every: 3 }, progress: false });
  const loaded = deserializeTree(new Uint8Array(readFileSync(path)), { params: r.params, state: r.state } as unknown as PyTree);
  const got = treeLeaves((loaded.tree as { params: PyTree }).params).map((l) => Array.from(l.data));
  assert.deepEqual(got, treeLeaves(r.params).map((l) => Array.from(l.data)));
  assert.equal(JSON.parse(loaded.metadata['hessian.train']).step, 7);
});

test('bad options fail naming the option', () => {
  const data = blobs();
  const net = mlp([2, 3]);
  const loss = softmaxCrossEntropy();
  assert.throws(() => train(net, loss, data, { optimizer: 'adam' }), /give a budget: steps, epochs and\/or seconds/);
  assert.throws(() => train(net, loss, data, { optimizer: 'adam', steps: 1, batchSize: 97 }), /'batchSize' \(97\) exceeds the 96 training examples/);
  assert.throws(() => train(net, loss, data, { optimizer: 'adam', steps: 0 }), /'steps' must be a positive integer/);
  assert.throws(() => train(net, loss, data, { optimizer: 'adamm', steps: 1 }), /unknown optimizer 'adamm'/);
  assert.throws(() => train((p: PyTree, x) => x, loss, data, { optimizer: 'adam', steps: 1 }), /needs initial parameters/);
  assert.throws(() => train(net, loss, { x: data.x, y: takeRows(data.y, [0, 1]) }, { optimizer: 'adam', steps: 1 }), /data.x has 96 examples, data.y has 2/);
  assert.throws(() => train(net, loss, data, { optimizer: 'adam', optimizerOptions: { lr: -1 }, steps: 1 }), /lr/);
  assert.throws(() => train(net, loss, data, { optimizer: 'adam', steps: 1, jit: 'on' as unknown as boolean }), /train: option 'jit' must be a boolean/);
});

test('jit: true trains to the same parameters bit for bit (mini-batch Adam, full-batch L-BFGS)', () => {
  const data = blobs();
  const bits = (t: PyTree) => treeLeaves(t).map((l) => Array.from(l.data).join(',')).join('|');
  for (const [optimizer, batchSize] of [['adam', 32], ['lbfgs', 'full']] as const) {
    const base = { optimizer, batchSize, seed: 3, steps: 8, progress: false } as const;
    const eager = train(mlp([2, 5, 3]), softmaxCrossEntropy(), data, base);
    const jitted = train(mlp([2, 5, 3]), softmaxCrossEntropy(), data, { ...base, jit: true });
    assert.equal(bits(jitted.params), bits(eager.params), optimizer);
  }
});

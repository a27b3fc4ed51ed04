/**
 * Storage reuse never changes a number: training runs of second-order optimizers give
 * bit-identical parameters with the pool on and off, and a training loop's live memory is flat.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { memory, emptyPool } from '../tensor/memory.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Tanh } from '../nn/layers.js';
import { Sequential } from '../nn/module.js';
import { mse, softmaxCrossEntropy } from '../nn/losses.js';
import { kfacObjective } from './kronecker/kfac-objective.js';
import { optimizerEntry } from './registry.js';
import { runOne } from '../bench/runner.js';
import { withPoolBytes } from '../testing/helpers.js';

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

function problem() {
  const rng = new Rng(1);
  const x = rng.normal([32, 12]);
  const model = new Sequential([new Linear(12, 6), new Tanh(), new Linear(6, 3), new Tanh(), new Linear(3, 12)]);
  return { model, params: model.init(new Rng(2)) as PyTree, batch: { x, y: x }, loss: mse() };
}

/** Steps of a README-style loop; returns the parameters' bits and every loss. */
function train(id: string, steps: number): { params: string; losses: number[] } {
  const { model, params: p0, batch, loss } = problem();
  const opt = optimizerEntry(id).create();
  const obj = kfacObjective(model, loss, batch);
  let params = p0;
  let state = opt.init(params);
  const losses: number[] = [];
  for (let k = 0; k < steps; k++) {
    const r = opt.step(params, state, obj);
    ({ params, state } = r);
    losses.push(r.info.loss);
  }
  return { params: bits(params), losses };
}

describe('pooling never changes a number', () => {
  for (const id of ['lbfgs', 'hessian-free', 'kfac']) {
    it(`${id}: 6 steps give bit-identical parameters and losses with the pool on and off`, () => {
      const off = withPoolBytes(0, () => {
        emptyPool();
        return train(id, 6);
      });
      const on = train(id, 6);
      const again = train(id, 6); // a warm pool full of the last run's values
      assert.ok(off.losses.every(Number.isFinite));
      assert.ok(off.losses[5] < off.losses[0], `${id} makes progress: ${off.losses[0]} -> ${off.losses[5]}`);
      assert.deepEqual(on.losses, off.losses);
      assert.equal(on.params, off.params);
      assert.equal(again.params, off.params);
    });
  }
});

describe('a training loop reuses memory', () => {
  it('the benchmark runner: live bytes flat over 40 steps, steady-state buffers come from the pool', () => {
    const samples: { step: number; live: number; misses: number }[] = [];
    runOne('mlp-spirals', 'kfac', 1, { steps: 40 }, {
      onPoint: (p) => samples.push({ step: p.step, live: memory().liveBytes, misses: memory().poolMisses }),
    });
    const late = samples.filter((s) => s.step >= 10);
    assert.ok(late.length >= 3, `points at steps ${samples.map((s) => s.step).join(', ')}`);
    const lives = late.map((s) => s.live);
    assert.equal(Math.max(...lives), Math.min(...lives), `live bytes over steps 10..40: ${lives.join(', ')}`);
    const last = late[late.length - 1];
    const first = late[0];
    const perStep = (last.misses - first.misses) / (last.step - first.step);
    assert.ok(perStep < 2, `fresh allocations per step after warm-up: ${perStep}`);
  });

  for (const id of ['sgd', 'kfac', 'ekfac']) {
    it(`a conv net (${id}): live bytes flat over steps, not growing with the batch's activations`, () => {
      // conv(bias) -> relu -> maxpool -> linear: the conv bias gradient is a sum over axes
      // [0, 2, 3], whose scratch copy (the conv output's size) stayed live on every step.
      const model = new Sequential([new Conv2d(1, 3, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(3 * 4 * 4, 4)]);
      const rng = new Rng(5);
      const x = rng.normal([16, 1, 8, 8]);
      const y = new Tensor(Float32Array.from({ length: 16 }, (_, i) => i % 4), [16]);
      const opt = optimizerEntry(id).create();
      const obj = kfacObjective(model, softmaxCrossEntropy(), { x, y });
      let params = model.init(new Rng(6)) as PyTree;
      let state = opt.init(params);
      const live: number[] = [];
      const losses: number[] = [];
      for (let k = 0; k < 8; k++) {
        const r = opt.step(params, state, obj);
        ({ params, state } = r);
        live.push(memory().liveBytes);
        losses.push(r.info.loss);
      }
      assert.ok(losses.every(Number.isFinite) && losses[7] < losses[0], `${id} trains: ${losses.join(', ')}`);
      const late = live.slice(2);
      assert.equal(Math.max(...late), Math.min(...late), `live bytes after steps 3..8: ${late.join(', ')}`);
    });
  }

  it('a README-style loop: nothing a step made stays live after it', () => {
    const { model, params: p0, batch, loss } = problem();
    const opt = optimizerEntry('lbfgs').create();
    const obj = kfacObjective(model, loss, batch);
    let params = p0;
    let state = opt.init(params);
    const live: number[] = [];
    for (let k = 0; k < 20; k++) {
      ({ params, state } = opt.step(params, state, obj));
      live.push(memory().liveBytes);
    }
    assert.equal(Math.max(...live), Math.min(...live), live.join(', '));
    assert.ok(treeLeaves(params).every((t: Tensor) => !t.isDisposed));
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { concat } from '../tensor/shape-ops.js';
import { mse, sigmoidBinaryCrossEntropy, softmaxCrossEntropy, type Loss } from '../nn/losses.js';
import { exampleSeed, sampleTargetsByExample } from './sampled-targets.js';

const LOSSES: [string, Loss][] = [['mse', mse()], ['softmaxCrossEntropy', softmaxCrossEntropy()], ['sigmoidBinaryCrossEntropy', sigmoidBinaryCrossEntropy()]];

function rows(t: Tensor, a: number, b: number): Tensor {
  const row = t.size / t.shape[0];
  return new Tensor(t.data.slice(a * row, b * row), [b - a, ...t.shape.slice(1)]);
}

test('targets drawn for a batch equal those drawn for its shards at their offsets (any split, every loss)', () => {
  const z = new Rng(3).normal([11, 3], { dtype: 'float64' });
  for (const [name, loss] of LOSSES) {
    const whole = sampleTargetsByExample(loss, z, 12345, 0);
    for (const cuts of [[5], [1, 7], [3, 4, 10]]) {
      const bounds = [0, ...cuts, 11];
      const parts = bounds.slice(1).map((b, i) => sampleTargetsByExample(loss, rows(z, bounds[i], b), 12345, bounds[i]));
      assert.deepEqual(Array.from(concat(parts, 0).data), Array.from(whole.data), `${name}, cuts ${cuts.join(',')}`);
    }
    assert.deepEqual(whole.shape, loss.sampleTargets(z, new Rng(0)).shape, `${name}: the loss's own target shape`);
  }
});

test('each example draws from its own stream: another key or another index gives other targets', () => {
  const z = new Tensor(new Float64Array(8 * 2), [8, 2]); // every example the same output
  const t = sampleTargetsByExample(mse(), z, 7, 0);
  const firstRows = new Set(Array.from({ length: 8 }, (_, i) => `${t.data[2 * i]},${t.data[2 * i + 1]}`));
  assert.equal(firstRows.size, 8, 'identical outputs must still get distinct draws per example');
  assert.notDeepEqual(Array.from(sampleTargetsByExample(mse(), z, 8, 0).data), Array.from(t.data));
  assert.notEqual(exampleSeed(1, 0), exampleSeed(1, 1));
  assert.notEqual(exampleSeed(1, 0), exampleSeed(2, 0));
});

test('sampled mse targets keep the predictive distribution: mean z and variance 1/(2c) per element', () => {
  const n = 4000;
  const z = new Tensor(new Float64Array(n).fill(0.5), [n, 1]);
  const t = sampleTargetsByExample(mse(), z, 99, 0).data;
  let m = 0;
  for (const v of t) m += v / n;
  let v2 = 0;
  for (const v of t) v2 += (v - m) ** 2 / (n - 1);
  assert.ok(Math.abs(m - 0.5) < 4 * Math.sqrt(0.5 / n), `mean ${m}`); // c = 1 → σ² = 1/2
  assert.ok(Math.abs(v2 - 0.5) < 0.05, `variance ${v2}`);
});

test('a negative or fractional offset is refused naming the option', () => {
  const z = new Tensor(new Float64Array(2), [2, 1]);
  assert.throws(() => sampleTargetsByExample(mse(), z, 1, -1), /offset must be a non-negative integer/);
  assert.throws(() => sampleTargetsByExample(mse(), z, 1, 0.5), /offset must be a non-negative integer/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../tensor/random.js';
import { treeLeaves } from '../autodiff/pytree.js';
import { cnn, deepAutoencoder, mlp } from './models.js';

test('builders give the layer sizes asked for and outputs of the right shape', () => {
  const rng = new Rng(0);
  const m = mlp([5, 7, 3], { activation: 'relu' });
  const pm = m.init(rng);
  assert.deepEqual(treeLeaves(pm).map((l) => l.shape.join('x')), ['7x5', '7', '3x7', '3']);
  assert.deepEqual(m.apply(pm, rng.normal([4, 5])).shape, [4, 3]);
  const ae = deepAutoencoder([6, 4, 2]);
  const pa = ae.init(rng);
  assert.deepEqual(ae.apply(pa, rng.normal([3, 6])).shape, [3, 6]);
  assert.equal(ae.toString().split('Sigmoid').length - 1, 2); // 6-4 σ 4-2 (code, linear) 2-4 σ 4-6 (outputs)
  const c = cnn({ channels: 2, size: 8, filters: [3], classes: 5 });
  assert.deepEqual(c.apply(c.init(rng), rng.normal([2, 2, 8, 8])).shape, [2, 5]);
});

test('bad sizes, activations and image sizes fail naming the builder', () => {
  assert.throws(() => mlp([5]), /mlp: sizes must be at least 2 positive integers/);
  assert.throws(() => mlp([5, 0]), /mlp: sizes/);
  assert.throws(() => mlp([5, 2], { activation: 'swish' as never }), /mlp: activation must be one of/);
  assert.throws(() => deepAutoencoder([3]), /deepAutoencoder: sizes/);
  assert.throws(() => cnn({ size: 6 }), /cnn: image size 6 must be divisible by 2\^2/);
  assert.throws(() => cnn({ classes: 0 }), /cnn: classes must be a positive integer/);
});

/**
 * Buffers are reused, not leaked: 10,000 iterations of a training-sized op sequence
 * (a dense layer forward and backward) keep resident memory flat.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randn } from './random.js';
import { matmul } from './matmul.js';
import { add, mul, sub, sum, tanh } from './ops.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

it('10,000 iterations of a dense-layer step keep resident memory flat', () => {
  const x = randn([32, 64], { seed: 1 });
  let w = randn([64, 64], { seed: 2 });
  const b = randn([64], { seed: 3 });
  const step = () => {
    const h = tanh(add(matmul(x, w), b));
    const gh = mul(sub(1, mul(h, h)), h); // d/dz of 0.5*|tanh z|^2
    const gw = matmul(x, gh, { transposeA: true });
    w = sub(w, mul(gw, 1e-4));
    return sum(h).item();
  };
  for (let i = 0; i < 1000; i++) step();
  gc();
  const before = process.memoryUsage().rss;
  let last = 0;
  for (let i = 0; i < 10000; i++) last = step();
  gc();
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  assert.ok(Number.isFinite(last));
  assert.ok(grown < 16, `resident memory grew by ${grown.toFixed(1)} MiB over 10,000 iterations`);
});

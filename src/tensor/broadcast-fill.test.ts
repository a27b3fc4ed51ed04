/**
 * broadcastTo of a one-element tensor takes a fill instead of the strided copy kernel: the
 * same bits as the kernel on every backend (signed zeros, NaN, infinities, subnormals), for
 * every target shape and both dtypes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableBackends, backend, withBackend } from '../kernels/index.js';
import { Tensor } from './tensor.js';
import { broadcastStrides } from './ops.js';
import { broadcastTo } from './shape-ops.js';

const VALUES = [0, -0, NaN, Infinity, -Infinity, 5e-324, 1.5e-45, -3.25, 1 / 3];
const CASES: [number[], number[]][] = [[[], [3, 4]], [[1], [5]], [[1, 1], [2, 3]], [[1, 1, 1], [2, 1, 5]], [[1], [0, 3]], [[], []]];

describe('broadcastTo of one value', () => {
  for (const name of availableBackends()) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${name} ${dtype}: equals the strided copy kernel bit for bit`, () => withBackend(name, () => {
        const k = backend(name);
        for (const v of VALUES) {
          for (const [from, to] of CASES) {
            const d = dtype === 'float32' ? Float32Array.of(v) : Float64Array.of(v);
            const x = new Tensor(d, from);
            const y = broadcastTo(x, to);
            assert.deepEqual(y.shape, to);
            const ref = dtype === 'float32' ? new Float32Array(y.size) : new Float64Array(y.size);
            if (ref.length > 0) k.copyStrided(d, broadcastStrides(from, to), to, ref);
            for (let i = 0; i < ref.length; i++) assert.ok(Object.is(y.data[i], ref[i]), `${v} ${JSON.stringify(from)}->${JSON.stringify(to)} [${i}]`);
          }
        }
      }));
    }
  }

  it('a released input still throws, and a shape that does not broadcast is an error naming both shapes', () => {
    const x = new Tensor(Float64Array.of(2), [1]);
    const z = new Tensor(Float64Array.of(1, 2), [2]);
    assert.throws(() => broadcastTo(z, [3]), /cannot broadcast|do not broadcast/);
    x.dispose();
    assert.throws(() => broadcastTo(x, [3]), /released/);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { treeMul, treeScale } from './tree-math.js';

function leaf(dtype: 'float32' | 'float64', values: number[], shape: number[]): Tensor {
  return new Tensor(dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values), shape);
}

describe('tree arithmetic through the kernels', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`treeScale equals alpha * x in the tensor's dtype entry by entry, non-finite entries included (${dtype})`, () => {
      const rng = new Rng(3);
      const vals = Array.from({ length: 37 }, () => rng.nextNormal());
      vals[3] = Infinity; vals[4] = -Infinity; vals[5] = NaN; vals[6] = 0; vals[7] = -0;
      const x = { a: leaf(dtype, vals, [37]), b: [leaf(dtype, [1, 2, 3, 4, 5, 6], [2, 3]), leaf(dtype, [], [0])] };
      for (const alpha of [0, -1.5, 1e-3, 3]) {
        const y = treeScale(alpha, x);
        const ref = (t: Tensor) => Array.from(t.data, (v) => (dtype === 'float32' ? Math.fround(Math.fround(alpha) * v) : alpha * v));
        assert.deepEqual(Array.from(y.a.data), ref(x.a));
        assert.deepEqual(Array.from(y.b[0].data), ref(x.b[0]));
        assert.deepEqual(y.b[0].shape, [2, 3]);
        assert.equal(y.b[1].size, 0);
      }
    });
    it(`treeMul is the leafwise elementwise product (${dtype})`, () => {
      const x = [leaf(dtype, [1, -2, 3.5, Infinity], [2, 2]), leaf(dtype, [4], [1])];
      const y = [leaf(dtype, [0.5, 0.25, -2, 2], [2, 2]), leaf(dtype, [-3], [1])];
      const z = treeMul(x, y);
      assert.deepEqual(Array.from(z[0].data), [0.5, -0.5, -7, Infinity]);
      assert.deepEqual(Array.from(z[1].data), [-12]);
    });
  }
  it('treeMul names the tensor whose shape differs', () => {
    assert.throws(() => treeMul([leaf('float64', [1, 2], [2])], [leaf('float64', [1, 2, 3], [3])]), /treeMul: tensor 0 is float64 \[2\]/);
  });
});

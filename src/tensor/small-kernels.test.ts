import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableBackends, backend, withBackend } from '../kernels/index.js';
import type { DType, FloatArray } from '../kernels/types.js';
import { Rng } from './random.js';
import { SMALL_BINARY_ELEMENTS, smallBinary, smallBinaryLimit, smallUnary, smallUnaryLimit } from './small-kernels.js';
import { Tensor, tensor, zeros } from './tensor.js';
import { add, binaryOp, div, mul, sub, sum, unaryOp } from './ops.js';
import { tidy } from './scope.js';

/** Values that expose any difference in rounding or special cases: signed zeros, NaN, infinities, subnormals, huge and tiny. */
function nasty(rng: Rng, dtype: DType, n: number): FloatArray {
  const special = [0, -0, NaN, Infinity, -Infinity, 5e-324, -2.5e-320, 1.5e-45, 3.4e38, -1e308, 1, -1, 0.1, 1 / 3];
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = i < special.length ? special[i] : (rng.nextFloat() - 0.5) * 10 ** Math.floor(rng.nextFloat() * 20 - 10);
  return out;
}

function sameBits(a: FloatArray, b: FloatArray, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}: [${i}] ${a[i]} vs kernel ${b[i]}`);
}

describe('small-op JavaScript loops give the same bits as every backend kernel', () => {
  for (const name of availableBackends()) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${name} ${dtype}: add, sub, mul, div (same shape and with a broadcast scalar), neg, square, sqrt`, () => {
        const k = backend(name);
        const rng = new Rng(7);
        const n = 300;
        const a = nasty(rng, dtype, n);
        const b = nasty(rng, dtype, n).reverse();
        for (const op of ['add', 'sub', 'mul', 'div'] as const) {
          for (const [sa, sb] of [[1, 1], [1, 0], [0, 1]]) {
            const mine = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
            const theirs = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
            const A = sa === 1 ? a : a.subarray(0, 1);
            const B = sb === 1 ? b : b.subarray(3, 4);
            assert.equal(smallBinary(op, A, sa, B, sb, mine, n), true);
            k.binary(op, A, [sa], B, [sb], theirs, [n]);
            sameBits(mine, theirs, `${op} strides ${sa},${sb}`);
          }
        }
        for (const op of ['neg', 'square', 'sqrt'] as const) {
          const mine = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
          const theirs = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
          assert.equal(smallUnary(op, a, mine), true);
          k.unary(op, a, theirs);
          sameBits(mine, theirs, op);
        }
      });
    }
  }

  it('covers only exactly rounded ops: transcendental functions, comparisons and pow keep the kernel', () => {
    for (const op of ['pow', 'maximum', 'eq', 'lt'] as const) assert.equal(smallBinaryLimit(op), 0, op);
    for (const op of ['exp', 'tanh', 'log', 'sigmoid', 'rsqrt', 'abs', 'relu'] as const) assert.equal(smallUnaryLimit(op), 0, op);
    const out = new Float64Array(2);
    assert.equal(smallBinary('pow', new Float64Array(2), 1, new Float64Array(2), 1, out, 2), false);
    assert.equal(smallUnary('exp', new Float64Array(2), out), false);
  });

  it('the tensor ops give the same values below and above the size limit, on every backend', () => {
    const rng = new Rng(3);
    for (const n of [5, SMALL_BINARY_ELEMENTS, SMALL_BINARY_ELEMENTS + 1]) {
      const a = rng.normal([n], { dtype: 'float64' });
      const b = rng.normal([n], { dtype: 'float64' });
      const ref = withBackend('ts', () => [add(a, b), sub(a, 2), mul(3, b), div(a, b), unaryOp('square', a)]);
      for (const name of availableBackends()) {
        const got = withBackend(name, () => [add(a, b), sub(a, 2), mul(3, b), div(a, b), unaryOp('square', a)]);
        got.forEach((t, i) => sameBits(t.data, ref[i].data, `${name} n=${n} case ${i}`));
      }
    }
    assert.throws(() => binaryOp('add', tensor([1, 2]), tensor([1, 2, 3])), /do not broadcast/);
  });
});

describe('small buffers made outside scopes', () => {
  it('are independent, correctly sized and zero where zeros are asked for, across many slabs', () => {
    const made: Tensor[] = [];
    for (let i = 0; i < 200; i++) {
      const z = zeros([i % 37 + 1], { dtype: i % 2 === 0 ? 'float64' : 'float32' });
      assert.ok(z.data.every((v) => v === 0), `zeros ${i}`);
      z.data.fill(i);
      made.push(z);
    }
    made.forEach((t, i) => assert.ok(t.data.every((v) => v === i), `tensor ${i} was overwritten`));
    const s = sum(made[5]);
    assert.equal(s.item(), 5 * made[5].size);
  });

  it('inside tidy still come from the pool and are released with it', () => {
    const kept = tidy(() => {
      const a = tensor([1, 2, 3], undefined, { dtype: 'float64' });
      const b = add(a, a);
      void add(b, b);
      return b;
    });
    assert.deepEqual(kept.toFlatArray(), [2, 4, 6]);
    assert.equal(kept.isDisposed, false);
  });
});

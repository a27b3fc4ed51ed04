/**
 * The eager grad's fast paths: grad/valueAndGrad (one scope, nodes as data, gradients moved to
 * slab views when they leave every scope) give the same bits as the general vjp path, keep
 * the pool warm across calls, and leave tensors inside an enclosing scope where they were.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { memory } from '../tensor/memory.js';
import { tidy } from '../tensor/scope.js';
import * as O from './ops.js';
import { grad, retainGrad, valueAndGrad, vjp } from './vjp.js';

type Params = { w: Tensor; b: Tensor; c: Tensor };

/** A net with broadcasting (bias rows, a scalar-shaped factor), a reshape view and repeated use of one input. */
function net(p: Params, x: Tensor): Tensor {
  const h = O.tanh(O.add(O.matmul(x, p.w), p.b));
  const v = O.reshape(O.mul(h, p.c), [-1]);
  return O.sum(O.add(O.mul(v, v), O.sigmoid(v)));
}

function sameBits(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  const x = a.data;
  const y = b.data;
  for (let i = 0; i < x.length; i++) assert.ok(Object.is(x[i], y[i]), `${what}[${i}]: ${x[i]} vs ${y[i]}`);
}

function setup(dtype: 'float32' | 'float64', seed: number, rows: number, cols: number): { p: Params; x: Tensor } {
  const rng = new Rng(seed);
  const o = { dtype };
  return {
    p: { w: rng.normal([cols, 5], o), b: rng.normal([1, 5], o), c: rng.normal([1], o) },
    x: rng.normal([rows, cols], o),
  };
}

describe('eager grad fast path', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`${dtype}: grad and valueAndGrad equal the general vjp path bit for bit on random shapes`, () => {
      for (let seed = 1; seed <= 4; seed++) {
        const { p, x } = setup(dtype, seed, 2 + seed, 1 + 2 * seed);
        const g = grad((q: Params) => net(q, x))(p);
        const [v, g2] = valueAndGrad((q: Params) => net(q, x))(p);
        const [out, back] = vjp((q: Params) => net(q, x), p);
        const one = new Tensor(dtype === 'float32' ? Float32Array.of(1) : Float64Array.of(1), []);
        const [ref] = back(one);
        back.dispose();
        sameBits(v as Tensor, out, 'value');
        for (const k of ['w', 'b', 'c'] as const) {
          sameBits(g[k], ref[k], `grad ${k}`);
          sameBits(g2[k], ref[k], `valueAndGrad ${k}`);
        }
      }
    });
  }

  it('a small gradient leaving every scope takes no fresh buffer on the next call (the pool serves it)', () => {
    const { p, x } = setup('float64', 9, 4, 3);
    const g = grad((q: Params) => net(q, x));
    const first = g(p);
    const before = memory();
    for (let i = 0; i < 5; i++) g(p);
    const after = memory();
    assert.equal(after.poolMisses - before.poolMisses, 0, 'no pool miss in steady state');
    assert.ok(after.poolHits > before.poolHits);
    // The moved gradient still holds the values, and later calls did not overwrite them.
    sameBits(first.w, g(p).w, 'first result unchanged');
  });

  it('inside tidy, gradients stay tracked by the enclosing scope and are released with it', () => {
    const { p, x } = setup('float64', 3, 3, 2);
    let inner!: Params;
    const kept = tidy(() => {
      inner = grad((q: Params) => net(q, x))(p);
      return inner.w;
    });
    assert.equal(kept, inner.w);
    assert.equal(inner.b.isDisposed, true, 'b was not returned from tidy: released');
    assert.throws(() => O.add(inner.b, inner.b), /released/);
    assert.equal(kept.isDisposed, false);
  });

  it('retainGrad still reports the cotangent of an intermediate, equal to grad of the same function by that value', () => {
    const { p, x } = setup('float64', 5, 3, 2);
    let handle!: { grad: Tensor | null };
    const g = grad((q: Params) => {
      const h = O.matmul(x, q.w);
      handle = retainGrad(h);
      return O.sum(O.tanh(h));
    })(p);
    assert.ok(g.w instanceof Tensor);
    const h0 = O.matmul(x, p.w);
    const direct = grad((h: Tensor) => O.sum(O.tanh(h)))(h0);
    assert.ok(handle.grad !== null);
    sameBits(handle.grad, direct, 'retained cotangent');
  });
});

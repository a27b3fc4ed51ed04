/**
 * A plain backward pass releases what it no longer needs as it goes (dead cotangents; in
 * valueAndGrad and grad also the forward residuals whose last reader has run), so a deep
 * network's first step needs fewer fresh buffers; results stay bit-identical, and nothing the
 * caller can still reach is released.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { emptyPool, memory, setMemoryOptions, getMemoryOptions } from '../tensor/memory.js';
import { tidy } from '../tensor/scope.js';
import * as O from './ops.js';
import { grad, retainGrad, valueAndGrad, vjp } from './vjp.js';
import { jvp } from './jvp.js';

const WIDTH = 192; // 192 x 192 float64: 288 KiB, a slab-sized buffer per activation
const DEPTH = 8;

function chain(ws: Tensor[], x: Tensor): Tensor {
  let h = x;
  for (const w of ws) h = O.tanh(O.matmul(h, w));
  return O.sum(O.mul(h, h));
}

function setup(): { ws: Tensor[]; x: Tensor } {
  const rng = new Rng(3);
  const ws = Array.from({ length: DEPTH }, () => O.mul(rng.normal([WIDTH, WIDTH], { dtype: 'float64' }), 1 / Math.sqrt(WIDTH)));
  return { ws, x: rng.normal([WIDTH, WIDTH], { dtype: 'float64' }) };
}

function bits(t: Tensor): number[] {
  return Array.from(t.data);
}

describe('early release in the backward pass', () => {
  it('the first gradient of a deep chain takes fewer fresh buffers than the tensors it makes', () => {
    const { ws, x } = setup();
    emptyPool();
    const before = memory();
    tidy(() => { grad((p: Tensor[]) => chain(p, x))(ws); });
    const after = memory();
    const made = after.poolMisses - before.poolMisses + after.poolHits - before.poolHits;
    const fresh = after.poolMisses - before.poolMisses;
    // Forward: 2 per layer; backward: 3 per layer (tanh', input and weight cotangents). Without
    // release every one is fresh; with it the backward reuses the dead ones.
    assert.ok(made >= 5 * DEPTH, `made ${made}`);
    assert.ok(fresh <= 3 * DEPTH + 4, `fresh buffers ${fresh} of ${made}`);
  });

  it('gradients equal, bit for bit, those computed with pooling off and through a reusable vjp', () => {
    const { ws, x } = setup();
    const f = (p: Tensor[]) => chain(p, x);
    const cap = getMemoryOptions().poolBytes;
    let off: number[][];
    try {
      setMemoryOptions({ poolBytes: 0 });
      off = grad(f)(ws).map(bits);
    } finally {
      setMemoryOptions({ poolBytes: cap });
    }
    const first = tidy(() => grad(f)(ws).map(bits));
    const again = tidy(() => grad(f)(ws).map(bits));
    const [, back] = vjp(f, ws);
    const seed = O.add(O.mul(x, 0), 1);
    const one = O.sum(O.mul(seed, 0)); // a scalar seed of the caller's own
    const viaVjp = back(O.add(one, 1))[0].map(bits);
    const viaVjpAgain = back(O.add(one, 1))[0].map(bits); // the residuals survived the first call
    back.dispose();
    assert.deepEqual(first, off);
    assert.deepEqual(again, off);
    assert.deepEqual(viaVjp, off);
    assert.deepEqual(viaVjpAgain, off);
  });

  it('hasAux intermediates, retained gradients and the value stay readable; a residual captured aside is released', () => {
    const { ws, x } = setup();
    let aside: Tensor | null = null;
    let handle!: ReturnType<typeof retainGrad>;
    const [[value, aux], g] = valueAndGrad<Tensor[], [], { h1: Tensor; h2: Tensor }>((p: Tensor[]) => {
      const h1 = O.tanh(O.matmul(x, p[0]));
      handle = retainGrad(h1);
      const h2 = O.tanh(O.matmul(h1, p[1]));
      aside = h2;
      return [O.sum(O.mul(h2, h2)), { h1, h2 }] as [Tensor, { h1: Tensor; h2: Tensor }];
    }, { hasAux: true })(ws) as [[Tensor, { h1: Tensor; h2: Tensor }], Tensor[]];
    assert.ok(Number.isFinite(value.item()));
    assert.equal(aux.h1.data.length, WIDTH * WIDTH, 'aux h1 readable');
    assert.equal(aux.h2.data.length, WIDTH * WIDTH, 'aux h2 readable');
    assert.ok(handle.grad !== null && handle.grad.data.every(Number.isFinite), 'retained gradient readable');
    assert.equal(g[0].shape[0], WIDTH);
    assert.ok(aside !== null, 'f ran');
    let lost: Tensor | null = null;
    grad((p: Tensor[]) => {
      const h = O.tanh(O.matmul(x, p[0]));
      lost = h;
      return O.sum(h);
    })(ws);
    assert.throws(() => (lost as unknown as Tensor).data, /was released/, 'use after release throws');
  });

  it('under an enclosing transformation nothing is released early (forward-over-reverse)', () => {
    const { ws, x } = setup();
    const f = (p: Tensor[]) => chain(p.slice(0, 2), x);
    const v = ws.slice(0, 2).map((w) => O.mul(w, 0.5));
    const [g, hv] = jvp((p: Tensor[]) => grad(f)(p), [ws.slice(0, 2)], [v]);
    // Against a central difference of the gradient along v (float64).
    const eps = 1e-5;
    const gp = grad(f)(ws.slice(0, 2).map((w, i) => O.add(w, O.mul(v[i], eps))));
    const gm = grad(f)(ws.slice(0, 2).map((w, i) => O.sub(w, O.mul(v[i], eps))));
    for (let i = 0; i < 2; i++) {
      assert.equal(g[i].shape[0], WIDTH);
      const fd = O.div(O.sub(gp[i], gm[i]), 2 * eps).data;
      const d = hv[i].data;
      let err = 0;
      let scale = 0;
      for (let k = 0; k < d.length; k++) {
        err = Math.max(err, Math.abs(d[k] - fd[k]));
        scale = Math.max(scale, Math.abs(fd[k]));
      }
      assert.ok(err <= 1e-5 * scale + 1e-8, `hvp block ${i}: error ${err} against scale ${scale}`);
    }
  });
});

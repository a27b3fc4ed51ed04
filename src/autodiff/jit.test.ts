import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as O from './ops.js';
import { grad, valueAndGrad, vjp } from './vjp.js';
import { jvp } from './jvp.js';
import { hvp } from './compose.js';
import { jit } from './jit.js';
import { treeLeaves, type PyTree } from './pytree.js';
import { UNARY_OPS, BINARY_OPS } from '../kernels/types.js';
import { kernels, withBackend } from '../kernels/index.js';

const f64 = { dtype: 'float64' as const };

/** Every leaf equal bit for bit (NaN equal to NaN, -0 distinct from 0), same shapes and dtypes. */
function assertSameBits(a: unknown, b: unknown, what: string): void {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  assert.equal(la.length, lb.length, `${what}: leaf count`);
  la.forEach((x, i) => {
    const y = lb[i];
    assert.equal(x.dtype, y.dtype, `${what}: leaf ${i} dtype`);
    assert.deepEqual(x.shape, y.shape, `${what}: leaf ${i} shape`);
    for (let j = 0; j < x.size; j++) {
      assert.ok(Object.is(x.data[j], y.data[j]), `${what}: leaf ${i}[${j}] jit ${x.data[j]} vs eager ${y.data[j]}`);
    }
  });
}

/**
 * jit(f) against f on four calls with fresh inputs of one signature: the two tracing calls,
 * then two replays, which must see the new values (not the traced ones).
 */
function checkAgainstEager(name: string, f: (...xs: Tensor[]) => PyTree, make: (rng: Rng) => Tensor[], seed = 1): void {
  const jf = jit(f);
  const rng = new Rng(seed);
  for (let call = 0; call < 4; call++) {
    const xs = make(rng);
    assertSameBits(jf(...xs), f(...xs), `${name}, call ${call}`);
  }
  assert.equal(jf.jitInfo.traces, 2, `${name}: traced once per signature, plus the check`);
  assert.equal(jf.jitInfo.replays, 2, `${name}: replays from the third call`);
}

const mat = (r: number, c: number, low = -2, high = 2) => (rng: Rng) => rng.uniform([r, c], { low, high, ...f64 });

describe('jit equals eager bit for bit', () => {
  for (const op of UNARY_OPS) {
    it(`unary ${op}, and the gradient through it`, () => {
      const positive = ['log', 'log1p', 'sqrt', 'rsqrt', 'reciprocal'].includes(op);
      const make = (rng: Rng) => [mat(3, 4, positive ? 0.1 : -2, 2)(rng)];
      const f = (O as unknown as Record<string, (x: Tensor) => Tensor>)[op];
      checkAgainstEager(op, (x) => f(x), make);
      checkAgainstEager(`grad ${op}`, grad((x: Tensor) => O.sum(O.mul(f(x), x))), make);
    });
  }

  const BINARY_NAMES: Record<string, string> = { eq: 'equal', ne: 'notEqual', gt: 'greater', ge: 'greaterEqual', lt: 'less', le: 'lessEqual' };
  for (const op of BINARY_OPS) {
    it(`binary ${op} with broadcasting, with a scalar, and its gradient`, () => {
      const name = BINARY_NAMES[op] ?? op;
      const f = (O as unknown as Record<string, (a: O.TensorLike, b: O.TensorLike) => Tensor>)[name];
      const make = (rng: Rng) => [mat(3, 4, 0.5, 2)(rng), mat(1, 4, 0.5, 2)(rng)];
      checkAgainstEager(op, (a, b) => f(a, b), make);
      checkAgainstEager(`${op} scalar`, (a) => f(a, 1.5), make);
      checkAgainstEager(`grad ${op}`, (a, b) => grad((ab: Tensor[]) => O.sum(f(ab[0], ab[1])))([a, b]), make);
    });
  }

  it('reductions, softmax and shape primitives, and their gradients', () => {
    const make = (rng: Rng) => [rng.uniform([2, 3, 4], { low: -2, high: 2, ...f64 })];
    const cases: Record<string, (x: Tensor) => Tensor> = {
      sum: (x) => O.sum(x, [0, 2], true),
      mean: (x) => O.mean(x, 1),
      max: (x) => O.max(x, 2),
      min: (x) => O.min(x),
      logsumexp: (x) => O.logsumexp(x, 1),
      softmax: (x) => O.softmax(x, 1),
      logSoftmax: (x) => O.logSoftmax(x),
      reshape: (x) => O.reshape(x, [6, 4]),
      transpose: (x) => O.transpose(x, [2, 0, 1]),
      broadcastTo: (x) => O.broadcastTo(O.sum(x, 1, true), [2, 3, 4]),
      slice: (x) => O.slice(x, [0, 1], [2, 3]),
      concat: (x) => O.concat([x, O.neg(x)], 1),
      gather: (x) => O.gather(x, [2, 0, 2], 1),
      takeAlongAxis: (x) => O.takeAlongAxis(x, [0, 1, 2, 3, 0, 1], 2),
      where: (x) => O.where(O.greater(x, 0), x, O.square(x)),
      cast: (x) => O.cast(O.cast(x, 'float32'), 'float64'),
      avgPool2d: (x) => O.avgPool2d(O.reshape(x, [1, 2, 3, 4]), 2, { stride: 1 }),
    };
    for (const [name, f] of Object.entries(cases)) {
      checkAgainstEager(name, f, make);
      checkAgainstEager(`grad ${name}`, grad((x: Tensor) => O.sum(O.mul(f(x), f(x)))), make);
    }
  });

  it('matmul with transpose flags, vectors and batches; conv2d and its two backward primitives', () => {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
      checkAgainstEager(`matmul ${tA} ${tB}`, (a, b) => grad((ab: Tensor[]) => O.sum(O.tanh(O.matmul(ab[0], ab[1], { transposeA: tA, transposeB: tB }))))([a, b]), (rng) => [mat(5, 5)(rng), mat(5, 5)(rng)]);
    }
    checkAgainstEager('batched matmul with a vector', (a, v) => O.matmul(a, v), (rng) => [rng.uniform([3, 4, 5], f64), rng.uniform([5], f64)]);
    const conv = (x: Tensor, w: Tensor) => O.sum(O.square(O.conv2d(x, w, { padding: 1, stride: 2 })));
    checkAgainstEager('conv2d', (x, w) => valueAndGrad((p: Tensor[]) => conv(p[0], p[1]))([x, w]), (rng) => [rng.uniform([2, 3, 7, 7], f64), rng.uniform([4, 3, 3, 3], f64)]);
  });

  it('the networks of the autodiff tests: an MLP value and gradient, its Hessian-vector product, a jvp and a vjp', () => {
    const rng0 = new Rng(3);
    type P = { w1: Tensor; b1: Tensor; w2: Tensor };
    const mlp = (p: P, x: Tensor) => O.matmul(O.sigmoid(O.add(O.matmul(x, p.w1), p.b1)), p.w2);
    const labels = [0, 2, 1, 1, 0, 2];
    const loss = (p: P, x: Tensor) => O.mean(O.neg(O.takeAlongAxis(O.logSoftmax(mlp(p, x)), labels, 1)));
    const params = (rng: Rng): P => ({ w1: rng.normal([4, 8], f64), b1: rng.normal([8], f64), w2: rng.normal([8, 3], f64) });
    const jvg = jit((p: P, x: Tensor) => valueAndGrad((q: P) => loss(q, x))(p));
    const jh = jit((p: P, v: P, x: Tensor) => hvp((q: P) => loss(q, x), p, v));
    const jj = jit((p: P, v: P, x: Tensor) => jvp((q: P) => mlp(q, x), [p], [v]));
    const jv = jit((p: P, x: Tensor, ct: Tensor) => vjp((q: P) => O.tanh(mlp(q, x)), p)[1](ct));
    for (let call = 0; call < 4; call++) {
      const p = params(rng0);
      const v = params(rng0);
      const x = rng0.normal([6, 4], f64);
      const ct = rng0.normal([6, 3], f64);
      assertSameBits(jvg(p, x), valueAndGrad((q: P) => loss(q, x))(p), `valueAndGrad call ${call}`);
      assertSameBits(jh(p, v, x), hvp((q: P) => loss(q, x), p, v), `hvp call ${call}`);
      assertSameBits(jj(p, v, x), jvp((q: P) => mlp(q, x), [p], [v]), `jvp call ${call}`);
      assertSameBits(jv(p, x, ct), vjp((q: P) => O.tanh(mlp(q, x)), p)[1](ct), `vjp call ${call}`);
    }
    assert.equal(jvg.jitInfo.replays, 2);
    assert.equal(jh.jitInfo.replays, 2);
  });
});

describe('jit plans', () => {
  it('merge repeated subexpressions and equal constants: fewer steps, same bits, and repeated outputs stay distinct tensors', () => {
    const b = new Rng(5).normal([4, 4], f64);
    // The same product, tanh and scale twice (2 is lifted twice as a constant), and one output returned twice.
    const f = (x: Tensor) => {
      const u = O.mul(O.tanh(O.matmul(x, b)), 2);
      const v = O.mul(O.tanh(O.matmul(x, b)), 2);
      const w = O.add(u, v);
      return [w, O.add(u, v), O.sum(w)];
    };
    const jf = jit(f);
    const rng = new Rng(6);
    for (let call = 0; call < 4; call++) {
      const x = rng.normal([3, 4], f64);
      assertSameBits(jf(x), f(x), `call ${call}`);
    }
    // Without merging: 2 × (matmul, tanh, mul) + 2 adds + sum = 9 steps.
    assert.equal(jf.jitInfo.plans[0].steps, 5, 'matmul, tanh, mul, add, sum');
    const [w1, w2] = jf(rng.normal([3, 4], f64)) as Tensor[];
    assert.notEqual(w1, w2, 'two outputs, two tensors');
    w1.dispose();
    assert.ok(Number.isFinite(w2.data[0]), 'disposing one output leaves the other usable');
  });

  it('replays empty tensors, zero inner dimensions and mixed dtypes (casts between program runs) bit for bit', () => {
    const w = new Rng(3).normal([3, 4], f64);
    checkAgainstEager('empty batch', (x) => O.sum(O.tanh(O.add(O.matmul(x, w), 1))), () => [new Tensor(new Float64Array(0), [0, 3])]);
    checkAgainstEager('k = 0', (x, y) => O.add(O.matmul(x, y), 2), () => [new Tensor(new Float64Array(0), [4, 0]), new Tensor(new Float64Array(0), [0, 5])]);
    checkAgainstEager('mixed dtypes', (x) => O.sum(O.mul(O.cast(O.exp(x), 'float32'), O.cast(x, 'float32'))), (rng) => [mat(5, 6)(rng)]);
    checkAgainstEager('gradient through a cast', grad((x: Tensor) => O.sum(O.cast(O.tanh(x), 'float32'))), (rng) => [mat(5, 6)(rng)]);
  });

  it('run the kernel steps as one backend program where the backend has programs, bit-identical in float32 and float64', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const rng0 = new Rng(11);
      const w = rng0.normal([5, 3], { dtype });
      const bias = rng0.normal([3], { dtype });
      // Every instruction kind: matmul (all four transposes), broadcast and scalar binaries,
      // unary ops (JavaScript-sized and kernel-sized), the fused tanh derivative, full
      // reductions, broadcastTo; and a reshape (a JavaScript step) reading a program result.
      const f = (x: Tensor) => valueAndGrad((p: Tensor[]) => {
        const h = O.tanh(O.add(O.matmul(x, p[0]), p[1]));
        const q = O.matmul(O.matmul(x, x, { transposeA: true }), O.matmul(x, x, { transposeA: true }), { transposeA: true, transposeB: true });
        const g = O.matmul(O.matmul(h, p[0], { transposeB: true }), q);
        const r = O.reshape(O.square(O.neg(g)), [g.size]);
        const s = O.add(O.sum(O.exp(O.mul(r, 0.01))), O.max(O.sub(h, 1)));
        return O.add(s, O.sum(O.broadcastTo(O.sum(h, 0, true), [4, 3])));
      })([w, bias]);
      const jf = jit(f);
      const rng = new Rng(12);
      for (let call = 0; call < 4; call++) {
        const x = rng.normal([4, 5], { dtype });
        assertSameBits(jf(x), f(x), `${dtype} call ${call}`);
      }
      const info = jf.jitInfo.plans[0];
      if (kernels().programRun !== undefined) {
        assert.ok(info.programSteps >= info.steps - 6, `${dtype}: most steps in the program (${info.programSteps} of ${info.steps})`);
      } else {
        assert.equal(info.programSteps, 0, 'no programs on this backend');
      }
      // A plan made on this backend replays step by step on another, with that backend's bits.
      const x = rng.normal([4, 5], { dtype });
      withBackend('ts', () => assertSameBits(jf(x), f(x), `${dtype} replayed on the ts backend`));
    }
  });

  it('drop steps whose results nobody reads and write intermediates into buffers of their own', () => {
    const b = new Rng(4).normal([6, 6], f64);
    const f = (x: Tensor) => {
      void O.exp(x); // dead
      return O.sum(O.tanh(O.matmul(x, b)));
    };
    const jg = jit(grad(f));
    const rng = new Rng(8);
    for (let i = 0; i < 4; i++) {
      const x = rng.normal([6, 6], f64);
      assertSameBits(jg(x), grad(f)(x), `call ${i}`);
    }
    const [plan] = jg.jitInfo.plans;
    // matmul, tanh, (sum: the value grad drops), reshape + broadcastTo of the seed, fused tanh', matmul
    assert.ok(plan.steps <= 6, `dead steps kept: ${plan.steps}`);
    assert.ok(plan.ownBuffers >= 3, `own buffers: ${plan.ownBuffers}`);
  });
});

describe('jit through nested reverse passes', () => {
  it('equals eager on a physics-informed loss: second input derivatives by a disposed vjp, inside a parameter gradient', () => {
    const rng = new Rng(11);
    const e0 = tensor([1, 0, 1, 0, 1, 0], [3, 2], f64);
    const e1 = tensor([0, 1, 0, 1, 0, 1], [3, 2], f64);
    const net = (p: Tensor[], x: Tensor) => O.matmul(O.tanh(O.add(O.matmul(x, p[0]), p[1])), p[2]);
    const loss = (p: Tensor[], x: Tensor) => {
      const [, back] = vjp((xi: Tensor) => grad((xj: Tensor) => O.sum(net(p, xj)))(xi), x);
      const [h0] = back(e0);
      const [h1] = back(e1);
      back.dispose(); // releases what only this vjp read, while the outer tape still holds its own
      return O.mean(O.square(O.sum(O.add(O.mul(h0, e0), O.mul(h1, e1)), 1)));
    };
    const jvg = jit((p: Tensor[], x: Tensor) => valueAndGrad((q: Tensor[]) => loss(q, x))(p));
    for (let call = 0; call < 4; call++) {
      const p = [rng.normal([2, 5], f64), rng.normal([5], f64), rng.normal([5, 1], f64)];
      const x = rng.uniform([3, 2], f64);
      assertSameBits(jvg(p, x), valueAndGrad((q: Tensor[]) => loss(q, x))(p), `call ${call}`);
    }
    assert.equal(jvg.jitInfo.replays, 2);
  });

  it('records the differentiable fused derivative (hvp and grad of grad through tanh and sigmoid) as program steps, bit for bit', () => {
    const rng = new Rng(13);
    const w = rng.normal([6, 8], f64);
    const f = (x: Tensor) => O.sum(O.sigmoid(O.matmul(O.tanh(O.matmul(x, w)), O.transpose(w))));
    const hv = (x: Tensor, v: Tensor) => hvp(f, x, v);
    const gg = (x: Tensor, v: Tensor) => grad((y: Tensor) => O.sum(O.mul(grad(f)(y), v)))(x);
    for (const [name, fn] of [['hvp', hv], ['grad of grad', gg]] as const) {
      const jf = jit(fn);
      for (let call = 0; call < 4; call++) {
        const x = rng.normal([40, 6], f64);
        const v = rng.normal([40, 6], f64);
        assertSameBits(jf(x, v), fn(x, v), `${name} call ${call}`);
      }
      const info = jf.jitInfo.plans[0];
      if (kernels().programRun !== undefined) assert.equal(info.programSteps, info.steps, `${name}: every step (matmul, transpose as a flag, the fused primitive, products) in the program`);
    }
  });
});

describe('jit signatures, pytrees and constants', () => {
  it('retraces on a new signature (shape, dtype, structure, static argument) and only then', () => {
    let calls = 0;
    const jf = jit((x: Tensor, k: number) => {
      calls++;
      return O.mul(x, k);
    });
    const x = tensor([1, 2, 3], undefined, f64);
    for (let i = 0; i < 5; i++) assert.deepEqual(jf(x, 2).toFlatArray(), [2, 4, 6]);
    assert.equal(calls, 2, 'f runs for the trace and its check only');
    assert.deepEqual(jf.jitInfo, { traces: 2, replays: 3, eager: false, plans: [{ steps: 1, ownBuffers: 0, programSteps: kernels().programRun !== undefined ? 1 : 0 }] });
    jf(tensor([1, 2], undefined, f64), 2);
    assert.equal(jf.jitInfo.traces, 3, 'new shape');
    jf(tensor([1, 2, 3]), 2);
    assert.equal(jf.jitInfo.traces, 4, 'new dtype');
    assert.deepEqual(jf(x, 3).toFlatArray(), [3, 6, 9]);
    assert.equal(jf.jitInfo.traces, 5, 'new static argument');
    jf(x, 2);
    assert.equal(jf.jitInfo.traces, 5, 'a known signature replays');
  });

  it('handles pytree arguments and results, passes non-tensor outputs through, and closes over constants', () => {
    const scale = tensor([10, 20], undefined, f64);
    const jf = jit((p: { a: Tensor; rest: [Tensor, { b: Tensor }] }) => ({
      s: O.add(O.mul(p.a, scale), p.rest[1].b),
      list: [p.rest[0], O.sum(p.a)],
      tag: 'ok',
    }));
    const rng = new Rng(5);
    for (let i = 0; i < 4; i++) {
      const p = { a: rng.normal([2], f64), rest: [rng.normal([3], f64), { b: rng.normal([2], f64) }] as [Tensor, { b: Tensor }] };
      const r = jf(p);
      assert.equal(r.tag, 'ok');
      assert.equal(r.list[0], p.rest[0], 'an argument returned as is stays the same tensor');
      assertSameBits([r.s, r.list[1]], [O.add(O.mul(p.a, scale), p.rest[1].b), O.sum(p.a)], `call ${i}`);
    }
  });

  it('keeps the constants of the plan when the closed-over tensor is disposed, and returns a fresh copy of a constant output', () => {
    const c = tensor([1, 2], undefined, f64);
    const jf = jit((x: Tensor) => [O.add(x, c), c]);
    const x = tensor([1, 1], undefined, f64);
    jf(x);
    jf(x);
    c.dispose();
    const [y, k] = jf(x);
    assert.deepEqual(y.toFlatArray(), [2, 3]);
    assert.deepEqual(k.toFlatArray(), [1, 2]);
    k.dispose();
    assert.deepEqual(jf(x)[1].toFlatArray(), [1, 2]);
  });

  it('runs f inside other transformations: grad(jit(f)) equals grad(f)', () => {
    const f = (x: Tensor) => O.sum(O.tanh(O.mul(x, x)));
    const jf = jit(f);
    const x = tensor([0.5, -1, 2], undefined, f64);
    for (let i = 0; i < 3; i++) assertSameBits(grad(jf)(x), grad(f)(x), `call ${i}`);
    assert.equal(jf.jitInfo.traces, 0);
  });
});

describe('jit rejects what it cannot replay', () => {
  it('errors, naming the function, when the output structure changes between calls of one signature', () => {
    let n = 0;
    const jf = jit(function growing(x: Tensor) {
      n++;
      return n === 1 ? [x] : [x, x];
    });
    const x = tensor([1], undefined, f64);
    jf(x);
    assert.throws(() => jf(x), /jit\(growing\).*output structure changed/);
  });

  it('errors when f draws random numbers or reads a closed-over tensor that is replaced between calls', () => {
    const rng = new Rng(1);
    const noisy = jit((x: Tensor) => O.add(x, rng.normal([2], f64)));
    const x = tensor([1, 2], undefined, f64);
    noisy(x);
    assert.throws(() => noisy(x), /constant 0 .* other values/);
    let w = tensor([1, 1], undefined, f64);
    const jf = jit((y: Tensor) => O.mul(y, w));
    jf(x);
    w = tensor([2, 2], undefined, f64);
    assert.throws(() => jf(x), /other values/);
  });

  it('falls back to eager evaluation with one warning when f branches on tensor values', () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    const branchy = jit(function branchy(x: Tensor) {
      return O.sum(x).item() > 0 ? O.exp(x) : O.neg(x);
    });
    const pos = tensor([1, 2], undefined, f64);
    const neg = tensor([-1, -2], undefined, f64);
    for (let i = 0; i < 3; i++) {
      assertSameBits(branchy(pos), O.exp(pos), `positive ${i}`);
      assertSameBits(branchy(neg), O.neg(neg), `negative ${i}`);
    }
    assert.equal(branchy.jitInfo.eager, true);
    return new Promise<void>((resolve) => setImmediate(() => {
      process.off('warning', onWarning);
      assert.equal(warnings.filter((m) => m.includes('jit(branchy)')).length, 1);
      assert.match(warnings[0], /reads the values of a traced tensor/);
      resolve();
    }));
  });

  it('falls back for maxPool2d (its routing depends on values) and still equals eager', () => {
    const f = (x: Tensor) => O.sum(O.maxPool2d(x, 2));
    const jf = jit(f);
    const rng = new Rng(2);
    for (let i = 0; i < 3; i++) {
      const x = rng.normal([1, 1, 4, 4], f64);
      assertSameBits(jf(x), f(x), `call ${i}`);
    }
    assert.equal(jf.jitInfo.eager, true);
  });

  it('rejects bad arguments and released tensors with errors naming them', () => {
    assert.throws(() => jit(3 as never), /jit: expected a function/);
    const jf = jit((x: Tensor) => x, { name: 'ident' });
    assert.throws(() => jf((() => 1) as never), /jit\(ident\): argument #0 is a function/);
    const jg = jit((_x: Tensor, _p: unknown) => 1, { name: 'two' });
    assert.throws(() => jg(tensor([1]), { a: [tensor([2]), new Map()] } as never), /jit\(two\): argument #1\.a\[1\] is a Map/);
    const t = tensor([1]);
    t.dispose();
    assert.throws(() => jf(t), /released/);
  });
});

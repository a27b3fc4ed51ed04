/**
 * `linearize` against the two modes it replaces: on every primitive (float64) the linear map
 * equals `jvp` and its transpose equals `vjp` to 1e-12; the same for the linearization of a
 * gradient (which records the adjoint primitives: sliceAdjoint, gatherAdjoint, conv backward,
 * pooling scatter); `f` runs once; it composes with `grad` both ways; bad input and use after
 * `dispose` fail with errors that name the expected tree and shapes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import * as T from '../tensor/ops.js';
import * as D from './ops.js';
import { jvp } from './jvp.js';
import { grad, vjp } from './vjp.js';
import { linearize } from './linearize.js';
import { hvp, hvpOperatorFn } from './compose.js';
import { treeLeaves, treeUnflatten } from './pytree.js';
import { memory } from '../tensor/memory.js';
import { tidy } from '../tensor/scope.js';
import { relErr } from '../testing/helpers.js';
import { kernels, type Kernels } from '../kernels/index.js';

const rng = new Rng(4242);

function rand(shape: readonly number[], lo = -1, hi = 1): Tensor {
  return rng.uniform(shape.slice(), { low: lo, high: hi, dtype: 'float64' });
}

interface Case { name: string; f: (...xs: Tensor[]) => Tensor; inputs: () => Tensor[] }

const sq = (x: Tensor) => D.mul(x, x);
const unaryOps = ['neg', 'abs', 'exp', 'expm1', 'tanh', 'sigmoid', 'softplus', 'sin', 'cos', 'erf', 'square', 'relu'] as const;
const positiveOps = ['log', 'log1p', 'sqrt', 'rsqrt', 'reciprocal'] as const;
const ops = D as unknown as Record<string, (x: Tensor) => Tensor>;
const cases: Case[] = [
  ...unaryOps.map((op) => ({ name: op, f: (x: Tensor) => ops[op](x), inputs: () => [rand([3, 4], -2, 2)] })),
  ...positiveOps.map((op) => ({ name: op, f: (x: Tensor) => ops[op](x), inputs: () => [rand([5], 0.5, 2)] })),
  { name: 'add (broadcast)', f: D.add, inputs: () => [rand([2, 3]), rand([3])] },
  { name: 'sub (broadcast)', f: D.sub, inputs: () => [rand([2, 1]), rand([1, 3])] },
  { name: 'mul', f: D.mul, inputs: () => [rand([2, 3]), rand([2, 3])] },
  { name: 'div', f: D.div, inputs: () => [rand([4]), rand([4], 0.5, 2)] },
  { name: 'pow', f: D.pow, inputs: () => [rand([4], 0.5, 2), rand([4], -1, 2)] },
  { name: 'maximum', f: D.maximum, inputs: () => [rand([5]), rand([5])] },
  { name: 'minimum', f: D.minimum, inputs: () => [rand([5]), rand([1])] },
  { name: 'sum', f: (x) => D.sum(sq(x), [0, 2]), inputs: () => [rand([2, 3, 4])] },
  { name: 'mean keepdims', f: (x) => D.mean(sq(x), 1, true), inputs: () => [rand([2, 3])] },
  { name: 'max', f: (x) => D.max(x, 1), inputs: () => [rand([3, 5])] },
  { name: 'min', f: (x) => D.min(x), inputs: () => [rand([3, 5])] },
  { name: 'logsumexp', f: (x) => D.logsumexp(x, -1), inputs: () => [rand([3, 4], -3, 3)] },
  { name: 'softmax', f: (x) => D.softmax(x, 0), inputs: () => [rand([4, 3], -3, 3)] },
  { name: 'logSoftmax', f: (x) => D.logSoftmax(x), inputs: () => [rand([3, 5], -3, 3)] },
  { name: 'reshape+transpose', f: (x) => D.transpose(D.reshape(sq(x), [3, 2, 2]), [1, 2, 0]), inputs: () => [rand([2, 6])] },
  { name: 'broadcastTo', f: (x) => D.mul(D.broadcastTo(x, [3, 2, 4]), D.broadcastTo(x, [3, 2, 4])), inputs: () => [rand([2, 1])] },
  { name: 'slice', f: (x) => sq(D.slice(x, [1, -3], [3, undefined], [1, 2])), inputs: () => [rand([4, 5])] },
  { name: 'concat+stack', f: (x, y) => sq(D.concat([x, D.stack([y, y], 0)], 0)), inputs: () => [rand([1, 3]), rand([3])] },
  { name: 'gather', f: (x) => sq(D.gather(x, [2, 0, 2], 1)), inputs: () => [rand([2, 3])] },
  { name: 'takeAlongAxis', f: (x) => sq(D.takeAlongAxis(x, [1, 0, 1], 1)), inputs: () => [rand([3, 2])] },
  { name: 'where', f: (x, y) => sq(D.where(tensor([1, 0, 1], [3], { dtype: 'float64' }), x, y)), inputs: () => [rand([3]), rand([2, 3])] },
  { name: 'cast', f: (x) => D.cast(sq(D.cast(x, 'float32')), 'float64'), inputs: () => [rand([4])] },
  { name: 'matmul', f: (a, b) => D.matmul(a, b), inputs: () => [rand([3, 4]), rand([4, 2])] },
  { name: 'matmul transposed, batched', f: (a, b) => D.matmul(a, b, { transposeA: true, transposeB: true }), inputs: () => [rand([2, 1, 4, 3]), rand([3, 2, 4])] },
  { name: 'conv2d', f: (x, w) => D.conv2d(x, w, { stride: [2, 1], padding: 1, dilation: [1, 2] }), inputs: () => [rand([2, 2, 5, 6]), rand([3, 2, 3, 2])] },
  { name: 'conv2dBackwardInput', f: (gy, w) => D.conv2dBackwardInput(gy, w, [1, 2, 5, 5], { stride: 2 }), inputs: () => [rand([1, 3, 2, 2]), rand([3, 2, 3, 3])] },
  { name: 'conv2dBackwardFilter', f: (x, gy) => D.conv2dBackwardFilter(x, gy, [3, 2, 3, 3], { padding: 1 }), inputs: () => [rand([1, 2, 4, 4]), rand([1, 3, 4, 4])] },
  { name: 'maxPool2d', f: (x) => sq(D.maxPool2d(x, 2)), inputs: () => [rand([1, 2, 4, 4])] },
  { name: 'avgPool2d', f: (x) => sq(D.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false })), inputs: () => [rand([1, 2, 5, 5])] },
  { name: 'dense layer', f: (x, w, b) => D.sigmoid(D.add(D.matmul(x, w, { transposeB: true }), b)), inputs: () => [rand([3, 4]), rand([2, 4]), rand([2])] },
];

const TOL = 1e-12;

function checkAgainstModes(f: (...xs: Tensor[]) => Tensor, xs: Tensor[]): void {
  const [y, lin] = linearize(f, ...xs);
  const [y0, jv] = jvp(f as (...a: never[]) => Tensor, xs, xs.map((x) => rand(x.shape)));
  assert.equal(relErr(y, y0), 0, 'linearize returns f(x)');
  for (let trial = 0; trial < 2; trial++) {
    const vs = xs.map((x) => rand(x.shape));
    const ref = jvp(f as (...a: never[]) => Tensor, xs, vs)[1];
    const got = lin(...vs);
    assert.deepEqual(got.shape, ref.shape);
    assert.ok(relErr(got, ref) <= TOL, `J v: relative error ${relErr(got, ref)} (trial ${trial})`);
    const u = rand(y.shape);
    const back = vjp(f, ...xs)[1](u);
    const tr = lin.transpose(u);
    tr.forEach((g, i) => assert.ok(relErr(g, back[i]) <= TOL, `J^T u, argument ${i}: relative error ${relErr(g, back[i])}`));
  }
  assert.ok(jv.shape.length === y.shape.length);
  lin.dispose();
}

describe('linearize equals jvp and vjp on every primitive (float64)', () => {
  for (const c of cases) {
    it(`${c.name}: lin(v) = jvp and lin.transpose(u) = vjp to 1e-12`, () => checkAgainstModes(c.f, c.inputs()));
  }
  for (const c of cases) {
    it(`${c.name}: the linearized gradient (recording the adjoint primitives) equals jvp(grad) and vjp(grad) to 1e-12`, () => {
      const xs = c.inputs();
      const u = rand(c.f(...xs).shape);
      // g(x0) = ∇_x0 <u, f(x0, rest)>: its linearization is the Hessian of <u, f> in x0.
      const g = (x0: Tensor) => grad((z: Tensor) => D.sum(D.mul(u, c.f(z, ...xs.slice(1)))))(x0);
      checkAgainstModes(g, [xs[0]]);
    });
  }
});

describe('linearize on pytrees and compositions', () => {
  const params = { w: rand([4, 3]), layers: [{ b: rand([4]) }] };
  type P = typeof params;
  const x = rand([5, 3]);
  const f = (p: P) => ({ h: D.tanh(D.add(D.matmul(x, p.w, { transposeB: true }), p.layers[0].b)), s: D.sum(sq(p.w)), c: rand([2]) });

  it('runs f once; applying and transposing never re-run it', () => {
    let calls = 0;
    const [, lin] = linearize((p: P) => { calls++; return f(p); }, params);
    const v = treeUnflatten(params, treeLeaves(params).map((l) => rand(l.shape)));
    for (let i = 0; i < 3; i++) lin(v);
    lin.transpose({ h: rand([5, 4]), s: rand([]), c: rand([2]) });
    assert.equal(calls, 1);
    lin.dispose();
  });

  it('applying and transposing run no transcendental kernel (no exp, tanh, sigmoid, softmax, softplus\': only products, sums and polynomial factors)', () => {
    const g = (p: P) => D.sum(D.logSoftmax(D.mul(D.add(D.sigmoid(D.matmul(x, p.w, { transposeB: true })), D.softplus(D.matmul(x, p.w, { transposeB: true }))), D.exp(D.tanh(p.layers[0].b)))));
    const [, lin] = linearize((p: P) => grad(g)(p), params); // a Hessian: nonlinear work on both passes
    const v = treeUnflatten(params, treeLeaves(params).map((l) => rand(l.shape)));
    const k = kernels() as { -readonly [K in keyof Kernels]: Kernels[K] };
    const saved = { unary: k.unary, unaryGrad: k.unaryGrad, softmax: k.softmax };
    const seen: string[] = [];
    k.unary = (op, a, out) => { if (op !== 'neg') seen.push(op); saved.unary.call(k, op, a, out); };
    // the fused g·(1 − y²), g·y(1 − y), g·y, g·[x > 0] read a recorded residual and are products;
    // g·σ(x) (softplus) would evaluate an exp on every application
    k.unaryGrad = (op, a, b, out) => { if (op === 'softplus') seen.push(`${op}'`); saved.unaryGrad.call(k, op, a, b, out); };
    k.softmax = (...args) => { seen.push('softmax'); saved.softmax.apply(k, args); };
    let applied: string[];
    try {
      lin(v);
      lin.transpose(v);
      applied = seen.slice();
      grad(g)(params); // the probe sees a gradient's nonlinear work
    } finally {
      Object.assign(k, saved);
    }
    assert.deepEqual(applied, []);
    assert.ok(seen.includes('sigmoid') && seen.includes('softmax') && seen.includes("softplus'"), `the probe saw ${seen.join(', ')}`);
    lin.dispose();
  });

  it('keeps the tree structure; an output that does not depend on the inputs has a zero tangent', () => {
    const [out, lin] = linearize(f, params);
    const v = treeUnflatten(params, treeLeaves(params).map((l) => rand(l.shape)));
    const got = lin(v);
    const ref = jvp(f, [params], [v])[1];
    assert.ok(relErr(got.h, ref.h) <= TOL && relErr(got.s, ref.s) <= TOL);
    assert.deepEqual(Array.from(got.c.data), [0, 0]);
    const u = { h: rand([5, 4]), s: rand([]), c: rand([2]) };
    const gt = lin.transpose(u)[0];
    const gv = vjp(f, params)[1](u)[0];
    assert.ok(relErr(gt.w, gv.w) <= TOL && relErr(gt.layers[0].b, gv.layers[0].b) <= TOL);
    assert.equal(out.c.shape[0], 2);
    lin.dispose();
  });

  it('composes with grad: a linearization built and applied inside a differentiated function', () => {
    const v = rand([4, 3]);
    const u = rand([5, 4]);
    const h = (w: Tensor) => D.sigmoid(D.matmul(x, w, { transposeB: true }));
    // d/dw of |J(w) v|² and of <J(w)^T u, v>, through linearize and through jvp / vjp.
    const viaLin = grad((w: Tensor) => { const [, lin] = linearize(h, w); return D.sum(sq(lin(v))); })(params.w);
    const viaJvp = grad((w: Tensor) => D.sum(sq(jvp(h, [w], [v])[1])))(params.w);
    assert.ok(relErr(viaLin, viaJvp) <= 1e-12, `grad through lin: ${relErr(viaLin, viaJvp)}`);
    const viaT = grad((w: Tensor) => { const [, lin] = linearize(h, w); return D.vdot(lin.transpose(u)[0], v); })(params.w);
    const viaVjp = grad((w: Tensor) => D.vdot(vjp(h, w)[1](u)[0], v))(params.w);
    assert.ok(relErr(viaT, viaVjp) <= 1e-12, `grad through lin.transpose: ${relErr(viaT, viaVjp)}`);
  });

  it('composes with jvp: forward mode through a linearization equals jvp of jvp', () => {
    const v = rand([4, 3]);
    const dw = rand([4, 3]);
    const h = (w: Tensor) => D.tanh(D.matmul(x, w, { transposeB: true }));
    const viaLin = jvp((w: Tensor) => { const [, lin] = linearize(h, w); return lin(v); }, [params.w], [dw])[1];
    const viaJvp = jvp((w: Tensor) => jvp(h, [w], [v])[1], [params.w], [dw])[1];
    assert.ok(relErr(viaLin, viaJvp) <= 1e-12, `${relErr(viaLin, viaJvp)}`);
  });

  it('float32 maps stay float32 and agree with jvp and vjp to float32 rounding', () => {
    const w32 = params.w.astype('float32');
    const x32 = x.astype('float32');
    const h = (w: Tensor) => D.sigmoid(D.matmul(x32, w, { transposeB: true }));
    const [, lin] = linearize(h, w32);
    const v = rand([4, 3]).astype('float32');
    const got = lin(v);
    assert.equal(got.dtype, 'float32');
    assert.ok(relErr(got, jvp(h, [w32], [v])[1]) < 1e-6);
    const u = rand([5, 4]).astype('float32');
    const back = lin.transpose(u)[0];
    assert.equal(back.dtype, 'float32');
    assert.ok(relErr(back, vjp(h, w32)[1](u)[0]) < 1e-6);
    lin.dispose();
  });

  it('a linear map built outside is differentiable in the vector it is applied to', () => {
    const h = (w: Tensor) => D.tanh(D.matmul(x, w, { transposeB: true }));
    const [, lin] = linearize(h, params.w);
    const u = rand([5, 4]);
    // <u, J v> is linear in v with gradient J^T u.
    const g = grad((v: Tensor) => D.vdot(u, lin(v)))(rand([4, 3]));
    assert.ok(relErr(g, lin.transpose(u)[0]) <= 1e-12);
    lin.dispose();
  });
});

describe('linearize: a sum of matrix products accumulates by GEMM', () => {
  it('dense layers (products with coefficients, a product read twice, a bias broadcast) equal jvp/vjp to 1e-12; the products accumulate with beta = 1, no broadcast is copied out, the tangents are left as they were', () => {
    const x = rand([6, 5]);
    const f = (w: Tensor, v: Tensor, b: Tensor, z: Tensor) => {
      const xw = D.matmul(x, w, { transposeB: true }); // read twice: not fused
      const h = D.tanh(D.add(D.sub(D.mul(D.matmul(z, v), 2), xw), b));
      return D.add(D.mul(D.sigmoid(D.add(D.matmul(h, w), D.matmul(xw, w))), 3), D.matmul(h, w));
    };
    const xs = [rand([4, 5]), rand([3, 4]), rand([4]), rand([6, 3])];
    checkAgainstModes(f, xs);
    const [, lin] = linearize(f, xs[0], xs[1], xs[2], xs[3]);
    const vs = xs.map((t) => rand(t.shape));
    const before = vs.map((t) => Array.from(t.data));
    const k = kernels() as { -readonly [K in keyof Kernels]: Kernels[K] };
    const saved = { gemm: k.gemm, copyStrided: k.copyStrided };
    let accumulated = 0;
    let copies = 0;
    k.gemm = (...args) => { if (args[12] === 1) accumulated++; saved.gemm.apply(k, args); };
    k.copyStrided = (...args) => { copies++; saved.copyStrided.apply(k, args); };
    let got: Tensor;
    try {
      got = lin(vs[0], vs[1], vs[2], vs[3]);
    } finally {
      Object.assign(k, saved);
    }
    assert.ok(accumulated >= 1, `GEMMs with beta = 1: ${accumulated}`);
    assert.equal(copies, 0, 'the bias tangent is added with broadcasting strides, not copied out');
    assert.ok(relErr(got, jvp(f as (...a: never[]) => Tensor, xs, vs)[1]) <= TOL);
    vs.forEach((t, i) => assert.deepEqual(Array.from(t.data), before[i], `tangent ${i} unchanged`));
    lin.dispose();
  });
});

describe('hvpOperatorFn', () => {
  it('every apply equals the forward-over-reverse hvp to 1e-12; dispose ends it', () => {
    const x = rand([4, 3]);
    const y = rand([4, 2]);
    const p0 = { w1: rand([3, 5]), w2: rand([5, 2]), b: rand([5]) };
    type P = typeof p0;
    const f = (p: P) => D.sum(sq(D.sub(D.matmul(D.softplus(D.add(D.matmul(x, p.w1), p.b)), p.w2), y)));
    const op = hvpOperatorFn(f, p0);
    for (let k = 0; k < 3; k++) {
      const v = treeUnflatten(p0, treeLeaves(p0).map((l) => rand(l.shape)));
      const ref = hvp(f, p0, v);
      const got = op.apply(v);
      treeLeaves(got).forEach((g, i) => assert.ok(relErr(g, treeLeaves(ref)[i]) <= TOL, `apply ${k}, leaf ${i}: ${relErr(g, treeLeaves(ref)[i])}`));
    }
    op.dispose();
    assert.ok(op.disposed);
    assert.throws(() => op.apply(p0), /disposed linear map/);
  });
});

describe('linearize: bad input and lifetimes', () => {
  const w = rand([2, 3]);
  const h = (p: { w: Tensor }) => D.exp(p.w);

  it('a tangent of the wrong structure or shape names the expected tree and shapes', () => {
    const [, lin] = linearize(h, { w });
    assert.throws(() => lin({ w: rand([3, 2]) }), /linearize: tangent tensor 0 is float64 \[3, 2\], expected \[w: float64 \[2, 3\]\]/);
    assert.throws(() => (lin as unknown as (...a: unknown[]) => unknown)({ w }, { w }), /tangent has 2 arguments, expected \[w: float64 \[2, 3\]\]/);
    assert.throws(() => lin({ w: w.astype('float32') } as { w: Tensor }), /tangent tensor 0 is float32 \[2, 3\], expected/);
    assert.throws(() => lin.transpose(rand([3])), /cotangent tensor 0 is float64 \[3\], expected \[float64 \[2, 3\]\]/);
    lin.dispose();
  });

  it('after dispose, applying throws naming the tree, disposing twice throws, and the residuals are released', () => {
    tidy(() => {
      const before = memory().liveBytes;
      const [, lin] = linearize((p: { w: Tensor }) => D.sum(D.sigmoid(D.matmul(p.w, p.w, { transposeB: true }))), { w });
      assert.ok(memory().liveBytes > before, 'residuals are held while the map lives');
      lin.dispose();
      assert.ok(lin.disposed);
      assert.throws(() => lin({ w }), /linearize: apply on a disposed linear map .* built for \[w: float64 \[2, 3\]\]/);
      assert.throws(() => lin.transpose(rand([])), /transpose on a disposed linear map/);
      assert.throws(() => lin.dispose(), /already disposed/);
    });
  });

  it('the linear map stays valid after the scope that built it ends', () => {
    const lin = tidy(() => linearize((z: Tensor) => D.sigmoid(D.mul(z, z)), w)[1]);
    const v = rand([2, 3]);
    assert.ok(relErr(lin(v), jvp((z: Tensor) => D.sigmoid(D.mul(z, z)), [w], [v])[1]) <= TOL);
    lin.dispose();
  });

  it('the value agrees with f and the map is linear (T.axpby of inputs gives axpby of outputs)', () => {
    const [y, lin] = linearize((z: Tensor) => D.softplus(D.mul(z, 3)), w);
    assert.equal(relErr(y, D.softplus(D.mul(w, 3))), 0);
    const a = rand([2, 3]);
    const b = rand([2, 3]);
    const lhs = lin(T.axpby(2, a, -0.5, b));
    const rhs = T.axpby(2, lin(a), -0.5, lin(b));
    assert.ok(relErr(lhs, rhs) <= 1e-14);
    lin.dispose();
  });
});

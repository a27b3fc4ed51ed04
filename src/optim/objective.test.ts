import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import { treeLeaves, treeMap, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { treeVdot } from '../autodiff/tree-math.js';
import { Linear, Tanh } from '../nn/layers.js';
import { Sequential } from '../nn/module.js';
import { mse } from '../nn/losses.js';
import { modelObjective, objective, withL2 } from './objective.js';
import { hasKfacStatistics } from './kronecker/kfac-objective.js';
import { kfac } from './kronecker/kfac.js';

const f64 = { dtype: 'float64' as const };

function setup() {
  const rng = new Rng(3);
  const net = new Sequential([new Linear(3, 4), new Tanh(), new Linear(4, 2)]);
  const params = net.init(rng, f64);
  const x = rng.normal([8, 3], f64);
  const y = rng.normal([8, 2], f64);
  return { net, params, batch: { x, y } };
}

const sumSq = (leaves: Tensor[]) => leaves.reduce((s, l) => s + Array.from(l.data).reduce((a, v) => a + v * v, 0), 0);

test('withL2 excluding biases penalizes the weights only, in value, gradient and every product', () => {
  const { net, params, batch } = setup();
  const base = modelObjective(net, mse(), batch);
  const lam = 0.3;
  const reg = withL2(base, lam, { exclude: 'biases' });
  const weights = treeLeaves(params).filter((l) => l.ndim === 2);
  const [v0, g0] = base.valueAndGrad(params);
  const [v1, g1] = reg.valueAndGrad(params);
  assert.ok(Math.abs(v1 - (v0 + 0.5 * lam * sumSq(weights))) < 1e-12);
  treeLeaves(g1).forEach((g, i) => {
    const p = treeLeaves(params)[i];
    const want = treeLeaves(g0)[i].data.map((gv, j) => gv + (p.ndim === 2 ? lam * p.data[j] : 0));
    for (let j = 0; j < g.size; j++) assert.ok(Math.abs(g.data[j] - want[j]) < 1e-12);
  });
  // Finite differences of the regularized value along a random direction agree with the gradient.
  const rng = new Rng(9);
  const d = treeMap(params, (l) => rng.normal(l.shape, f64));
  const h = 1e-6;
  const shift = (s: number) => treeUnflatten(params, treeLeaves(params).map((l, i) => new Tensor(l.data.map((v, j) => v + s * treeLeaves(d)[i].data[j]) as Float64Array, l.shape)));
  const fd = (reg.value!(shift(h)) - reg.value!(shift(-h))) / (2 * h);
  assert.ok(Math.abs(fd - treeVdot(g1, d)) < 1e-6 * Math.max(1, Math.abs(fd)));
  for (const k of ['hvp', 'ggnvp'] as const) {
    const a = base[k]!(params, d);
    const b = reg[k]!(params, d);
    treeLeaves(b).forEach((l, i) => {
      const extra = treeLeaves(params)[i].ndim === 2 ? lam : 0;
      for (let j = 0; j < l.size; j++) assert.ok(Math.abs(l.data[j] - (treeLeaves(a)[i].data[j] + extra * treeLeaves(d)[i].data[j])) < 1e-12);
    });
  }
  const gram = reg.ggnGram(params, [d]);
  assert.ok(Math.abs(gram[0][0] - (base.ggnGram(params, [d])[0][0] + lam * sumSq(treeLeaves(d).filter((_, i) => treeLeaves(params)[i].ndim === 2)))) < 1e-10);
  // A predicate: leave out everything under layer 2.
  const only0 = withL2(base, lam, { exclude: (path) => path.startsWith('2.') });
  const [v2] = only0.valueAndGrad(params);
  assert.ok(Math.abs(v2 - (v0 + 0.5 * lam * sumSq(treeLeaves(params).slice(0, 2)))) < 1e-12);
});

test('modelObjective and withL2(modelObjective) give K-FAC its Kronecker blocks, with L2 in the damping', () => {
  const { net, params, batch } = setup();
  for (const obj of [modelObjective(net, mse(), batch), withL2(modelObjective(net, mse(), batch), 1e-3)]) {
    assert.ok(hasKfacStatistics(obj));
    const opt = kfac<PyTree>();
    const r = opt.step(params, opt.init(params), obj);
    const kinds = r.state.inner.curvature.blocks.map((b) => b.kind);
    assert.deepEqual([...new Set(kinds)], ['dense']);
  }
  assert.equal(withL2(withL2(modelObjective(net, mse(), batch), 0.1), 0.2).l2, 0.30000000000000004);
});

test('bad objectives and options fail naming the problem', () => {
  const { net, batch } = setup();
  assert.throws(() => modelObjective(net, mse(), { x: batch.x } as never), /modelObjective: batch must be \{x: Tensor, y: Tensor\}/);
  assert.throws(() => modelObjective(42 as never, mse(), batch), /model must be an nn Module or a function/);
  assert.throws(() => withL2(modelObjective(net, mse(), batch), 0.1, { exclude: 'weights' as never }), /exclude must be 'none', 'biases' or a function/);
  assert.throws(() => withL2(modelObjective(net, mse(), batch), -1), /l2/);
  const bad = withL2(modelObjective(net, mse(), batch), 0.1, { exclude: () => 1 as never });
  assert.throws(() => bad.valueAndGrad(setup().params), /exclude must return true or false, got number for '0.weight'/);
});

test('K-FAC on a model that records no layer taps fails at the first step naming the missing piece, unless diagonalFallback', () => {
  const { net, params, batch } = setup();
  const plain = (p: PyTree, x: Tensor) => net.apply(p as never, x); // drops ctx: no taps
  const opt = kfac<PyTree>();
  assert.throws(() => opt.step(params, opt.init(params), modelObjective(plain, mse(), batch)), /kfac: the model recorded no layer taps, so there are no Kronecker blocks/);
  const fallback = kfac<PyTree>({ diagonalFallback: true });
  const r = fallback.step(params, fallback.init(params), modelObjective(plain, mse(), batch));
  assert.ok(r.state.inner.curvature.blocks.every((b) => b.kind === 'diagonal'));
  assert.throws(() => kfac({ diagonalFallback: 'yes' as never }), /option 'diagonalFallback' must be true or false/);
});

/** Every leaf of two trees equal bit for bit. */
function sameBits(a: PyTree, b: PyTree, what: string): void {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  assert.equal(la.length, lb.length, what);
  la.forEach((x, i) => {
    for (let j = 0; j < x.size; j++) assert.ok(Object.is(x.data[j], lb[i].data[j]), `${what}: leaf ${i}[${j}]`);
  });
}

test('objective({ jit: true }) equals the eager objective bit for bit in value, gradient and hvp, and replays', () => {
  const { net, params } = setup();
  const rng = new Rng(5);
  const x = rng.normal([8, 3], f64);
  const y = new Tensor(new Float64Array(16).fill(0.5), [8, 2]);
  const f = (p: typeof params) => mse().value(net.apply(p, x), y);
  const eager = objective(f);
  const jitted = objective(f, { jit: true });
  for (let call = 0; call < 4; call++) {
    const p = treeMap(params, (l) => rng.normal(l.shape, f64));
    const d = treeMap(params, (l) => rng.normal(l.shape, f64));
    const [v0, g0] = eager.valueAndGrad(p);
    const [v1, g1] = jitted.valueAndGrad(p);
    assert.ok(Object.is(v0, v1), `call ${call}: value ${v0} vs ${v1}`);
    sameBits(g1, g0, `call ${call}: gradient`);
    assert.ok(Object.is(eager.value!(p), jitted.value!(p)), `call ${call}: value()`);
    sameBits(jitted.hvp!(p, d), eager.hvp!(p, d), `call ${call}: hvp`);
  }
  assert.throws(() => objective(f, { jit: 'yes' as unknown as boolean }), /objective: jit must be a boolean/);
});

test('modelObjective({ jit: true }) shares its plans across batches (objectives built per batch replay from the third), bit-identical to eager', () => {
  const { net, params } = setup();
  const rng = new Rng(7);
  const loss = mse();
  let calls = 0;
  const model = (p: typeof params, x: Tensor) => {
    calls++;
    return net.apply(p, x);
  };
  for (let step = 0; step < 5; step++) {
    const batch = { x: rng.normal([8, 3], f64), y: rng.normal([8, 2], f64) };
    const a = modelObjective(net, loss, batch);
    const b = modelObjective(model, loss, batch, { jit: true });
    const [v0, g0] = a.valueAndGrad(params);
    const [v1, g1] = b.valueAndGrad(params);
    assert.ok(Object.is(v0, v1), `step ${step}: ${v0} vs ${v1}`);
    sameBits(g1, g0, `step ${step}: gradient`);
    assert.ok(Object.is(a.value!(params), b.value!(params)), `step ${step}: value()`);
  }
  // Two traces each of value-and-gradient and of value, on the first two batches; replays after.
  assert.equal(calls, 4, 'the model ran only while tracing');
  assert.throws(() => modelObjective(net, loss, { x: rng.normal([8, 3], f64), y: rng.normal([8, 2], f64) }, { jit: true, dropoutSeed: 3 }), /jit cannot be combined with dropoutSeed/);
  assert.throws(() => modelObjective(net, loss, { x: rng.normal([8, 3], f64), y: rng.normal([8, 2], f64) }, { jit: 1 as unknown as boolean }), /modelObjective: jit must be a boolean/);
});

test("modelObjective's value at the point of its last Gram comes from the Gram's forward pass, bit for bit", () => {
  const { net, params, batch } = setup();
  let forwards = 0;
  const counted = (p: PyTree, x: Tensor, ctx?: object) => {
    forwards++;
    return net.apply(p as never, x, ctx as never);
  };
  const obj = modelObjective(counted, mse(), batch);
  const fresh = modelObjective(net, mse(), batch);
  const d = treeMap(params, (l: Tensor) => new Tensor(l.data.map((_, i) => Math.sin(i + 1)), l.shape));
  obj.ggnGram(params, [d, params]);
  const n = forwards;
  const v = (obj.value as (p: PyTree) => number)(params);
  assert.equal(forwards, n, 'no forward pass of its own');
  assert.equal(v, (fresh.value as (p: PyTree) => number)(params));
  // Another point (a new object) is evaluated as before; and through withL2 the penalty is added.
  const other = treeMap(params, (l: Tensor) => new Tensor(l.data.map((x) => x * 0.5), l.shape));
  assert.equal((obj.value as (p: PyTree) => number)(other), (fresh.value as (p: PyTree) => number)(other));
  assert.equal(forwards, n + 1);
  const reg = withL2(modelObjective(counted, mse(), batch), 0.2);
  reg.ggnGram(params, [d]);
  assert.ok(Math.abs((reg.value as (p: PyTree) => number)(params) - (v + 0.1 * sumSq(treeLeaves(params)))) < 1e-12);
});

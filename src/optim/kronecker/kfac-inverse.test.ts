/**
 * K-FAC's factor inverses: a Cholesky inverse of the damped factors follows λ when asked
 * (refreshed when λ changes) or holds the λ of its last refresh (what K-FAC's step asks between
 * refreshes, unless a fault boost is active), 'auto' picks Cholesky for K-FAC and the eigenbasis
 * for EKFAC, and both inverse methods give the same steps when they are refreshed every step.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { matmul } from '../../tensor/matmul.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { mse } from '../../nn/losses.js';
import { assertClose } from '../../testing/helpers.js';
import { DenseKronecker, type KroneckerState } from '../../curvature/kronecker.js';
import { kfacObjective } from './kfac-objective.js';
import { kfac, kfacPreconditioner, type KfacOptions, type KfacState } from './kfac.js';
import { ekfac } from './ekfac.js';
import type { OptimizerState } from '../types.js';

const f64 = { dtype: 'float64' as const };

function psd(rng: Rng, n: number): Tensor {
  const x = rng.normal([n, n + 2], f64);
  return matmul(x, x, { transposeB: true });
}

function problem() {
  const rng = new Rng(6);
  const net = new Sequential([new Linear(4, 6), new Tanh(), new Linear(6, 2)]);
  return { net, params: net.init(rng, f64), batch: { x: rng.normal([16, 4], f64), y: rng.normal([16, 2], f64) } };
}

function run(options: KfacOptions, steps: number, make = kfac) {
  const { net, params, batch } = problem();
  const opt = make<PyTree[]>(options);
  let p = params;
  let s = opt.init(p);
  const states: OptimizerState<KfacState<PyTree[]>>[] = [];
  for (let k = 0; k < steps; k++) {
    const r = opt.step(p, s, kfacObjective(net, mse(), batch));
    ({ params: p, state: s } = r);
    states.push(s);
  }
  return { p, states };
}

const firstBlock = (s: OptimizerState<KfacState<PyTree[]>>) => s.inner.curvature.blocks[0] as KroneckerState;

describe('K-FAC factor inverses', () => {
  it('a Cholesky inverse is refreshed when λ changes and kept when it does not; it then equals the eigen inverse at the new λ', () => {
    const rng = new Rng(2);
    const block = new DenseKronecker('', ['w', 'b'], [3, 4]);
    const base = { ...block.init('float64'), A: psd(rng, 5), G: psd(rng, 3), count: 1 };
    const opts = { decay: 0.95, recomputeInverse: true, inverseMethod: 'cholesky' as const, damping: 0.1 };
    const s1 = block.update(base, undefined, opts).state;
    const same = block.update(s1, undefined, { ...opts, recomputeInverse: false }).state;
    assert.equal(same.inverse, s1.inverse, 'same λ: the inverse is kept');
    const held = block.update(s1, undefined, { ...opts, recomputeInverse: false, damping: 0.02, holdDamping: true }).state;
    assert.equal(held.inverse, s1.inverse, 'another λ, held: the inverse is kept');
    const s2 = block.update(s1, undefined, { ...opts, recomputeInverse: false, damping: 0.02 }).state;
    assert.notEqual(s2.inverse, s1.inverse);
    const refreshed = block.update(s1, undefined, { ...opts, damping: 0.02, holdDamping: true }).state;
    assert.equal((refreshed.inverse as { damping: number }).damping, 0.02, 'a refresh takes the new λ even when holding');
    const eig = block.update(base, undefined, { ...opts, inverseMethod: 'eigen' }).state;
    const grads = [rng.normal([3, 4], f64), rng.normal([3], f64)];
    const got = block.precondition(s2, grads, 0.02);
    const want = block.precondition(eig, grads, 0.02);
    got.forEach((t, i) => assertClose(t.data, want[i].data, { rtol: 1e-9, atol: 1e-12, msg: `part ${i}` }));
  });

  it("'auto' (the default) takes Cholesky inverses for K-FAC and the eigenbasis for EKFAC and a damping schedule", () => {
    assert.equal(firstBlock(run({}, 1).states[0]).inverse?.method, 'cholesky');
    assert.equal(firstBlock(run({}, 1, ekfac).states[0]).inverse?.method, 'eigen');
    const { net, params, batch } = problem();
    for (const [damping, method] of [[1e-2, 'cholesky'], [(k: number) => 1e-2 / (1 + k), 'eigen']] as const) {
      const t = kfacPreconditioner<PyTree[]>({ damping });
      const obj = kfacObjective(net, mse(), batch);
      const [, g] = obj.valueAndGrad(params);
      const [, s] = t.update(g, t.init(params), params, { step: 0, loss: 0, objective: obj, counters: { evals: 0, curvatureProducts: 0 }, events: [] });
      assert.equal((s.blocks[0] as KroneckerState).inverse?.method, method);
    }
  });

  it('with adapting damping and inverses refreshed every step, Cholesky and eigen inverses give the same K-FAC steps (float64)', () => {
    const options: KfacOptions = { dampingAdaptationPeriod: 1, damping: 1e-2, curvatureUpdatePeriod: 3, inverseUpdatePeriod: 1 };
    const a = run({ ...options, inverseMethod: 'cholesky' }, 6);
    const b = run({ ...options, inverseMethod: 'eigen' }, 6);
    const lambdas = a.states.map((s) => s.inner.damping);
    assert.ok(new Set(lambdas).size > 1, `λ adapted: ${lambdas.join(', ')}`);
    treeLeaves(a.p).forEach((l, i) => assertClose(l.data, treeLeaves(b.p)[i].data, { rtol: 1e-7, atol: 1e-10, msg: `leaf ${i}` }));
  });

  it('with adapting damping, Cholesky inverses are refreshed only every inverseUpdatePeriod steps, at the λ of that step', () => {
    const period = 3;
    const { states } = run({ dampingAdaptationPeriod: 1, damping: 1e-2, inverseUpdatePeriod: period }, 8);
    const lambdas = states.map((s) => s.inner.damping);
    assert.ok(new Set(lambdas).size > 2, `λ adapted: ${lambdas.join(', ')}`);
    const inverses = states.map((s) => firstBlock(s).inverse);
    const changes = inverses.flatMap((inv, k) => (k > 0 && inv !== inverses[k - 1] ? [k] : []));
    assert.deepEqual(changes, [3, 6]);
    // Step k runs with the λ the previous step left (1e-2 at step 0); its refresh holds that λ.
    for (const k of [0, 3, 6]) assert.equal((inverses[k] as { damping: number }).damping, k === 0 ? 1e-2 : lambdas[k - 1], `step ${k}`);
  });

  it('under a fault boost the Cholesky inverses take the boosted λ at once', () => {
    const { net, params, batch } = problem();
    const opt = kfac<PyTree[]>({ damping: 1e-2, adaptDamping: false });
    const base = kfacObjective(net, mse(), batch);
    let p = params;
    let s = opt.init(p);
    ({ params: p, state: s } = opt.step(p, s, base));
    const poisoned = { ...base, value: () => NaN };
    const rejected = opt.step(p, s, poisoned);
    assert.equal(rejected.state.inner.faultBoost, 10);
    const next = opt.step(p, rejected.state, base);
    assert.ok(next.info.accepted);
    const inv = firstBlock(next.state).inverse as { damping: number };
    assert.ok(Math.abs(inv.damping - 1e-1) < 1e-15, `inverse λ ${inv.damping}`);
  });

  it('with fixed damping, inverses are recomputed every inverseUpdatePeriod steps (default 20) and reused between', () => {
    const { states } = run({ adaptDamping: false }, 22);
    const inverses = states.map((s) => firstBlock(s).inverse);
    const changes = inverses.flatMap((inv, k) => (k > 0 && inv !== inverses[k - 1] ? [k] : []));
    assert.deepEqual(changes, [20]);
  });
});

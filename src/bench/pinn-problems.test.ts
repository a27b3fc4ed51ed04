/**
 * Physics-informed problems: the losses equal the PDE residuals and condition misfits computed
 * independently by float64 finite differences of the network; mini-batches are seeded and
 * cover the full objective; relL2 is the relative L2 error; and the Adam → L-BFGS hybrid reaches
 * a lower error than Adam alone on pinn-poisson-1d in the same number of steps, with the runner
 * giving its L-BFGS phase the full objective on a mini-batch run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';
import type { PyTree } from '../autodiff/pytree.js';
import { adam } from '../optim/first-order/baselines.js';
import { lbfgs } from '../optim/quasi-newton/lbfgs.js';
import { registerOptimizer } from '../optim/registry.js';
import { switching } from '../optim/hybrids/switching.js';
import type { Objective, Optimizer, OptimizerState } from '../optim/types.js';
import { HEAT_ALPHA, heatSetup, poissonSetup, relativeL2 } from './pinn-problems.js';
import { problemById } from './problems.js';
import { runOne } from './runner.js';

const f64 = { dtype: 'float64' as const };
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('PINN problems', () => {
  it('pinn-poisson-1d: the loss is mean (u\'\' + (2π)² sin 2πx)² + mean u(0)², u(1)² with u\'\' by finite differences', () => {
    const s = poissonSetup(2, 'tiny');
    const p = s.model.init(new Rng(5), f64);
    const u = (x: number): number => s.model.apply(p, tensor([[x]], undefined, f64)).data[0];
    const h = 1e-4;
    const w = 2 * Math.PI;
    const res = [...s.points.interior.data].map((x) => (u(x + h) - 2 * u(x) + u(x - h)) / (h * h) + w * w * Math.sin(w * x));
    const expected = mean(res.map((r) => r * r)) + mean([u(0) ** 2, u(1) ** 2]);
    const got = s.loss(p, 'all').item();
    assert.ok(Math.abs(got - expected) < 1e-6 * expected, `${got} vs ${expected}`);
  });

  it('pinn-heat-1d: the loss is mean (u_t − α u_xx)² + initial misfit to sin πx + boundary values, by finite differences', () => {
    const s = heatSetup(1, 'tiny');
    const p = s.model.init(new Rng(6), f64);
    const u = (x: number, t: number): number => s.model.apply(p, tensor([[x, t]], undefined, f64)).data[0];
    const h = 1e-4;
    const X = s.points.interior.data;
    const res: number[] = [];
    for (let i = 0; i < X.length / 2; i++) {
      const [x, t] = [X[2 * i], X[2 * i + 1]];
      const ut = (u(x, t + h) - u(x, t - h)) / (2 * h);
      const uxx = (u(x + h, t) - 2 * u(x, t) + u(x - h, t)) / (h * h);
      res.push(ut - HEAT_ALPHA * uxx);
    }
    const I = s.points.initial.data;
    const ic = Array.from({ length: I.length / 2 }, (_, i) => (u(I[2 * i], 0) - Math.sin(Math.PI * I[2 * i])) ** 2);
    const B = s.points.sides.data;
    const bc = Array.from({ length: B.length / 2 }, (_, i) => u(B[2 * i], B[2 * i + 1]) ** 2);
    assert.ok(Array.from({ length: B.length / 2 }, (_, i) => B[2 * i]).every((x) => x === 0 || x === 1));
    assert.ok(Array.from({ length: I.length / 2 }, (_, i) => I[2 * i + 1]).every((t) => t === 0));
    const expected = mean(res.map((r) => r * r)) + mean(ic) + mean(bc);
    const got = s.loss(p, 'all').item();
    assert.ok(Math.abs(got - expected) < 1e-6 * expected, `${got} vs ${expected}`);
  });

  it('relativeL2 is ‖u − u*‖ / ‖u*‖', () => {
    assert.equal(relativeL2([3, 4], [3, 4]), 0);
    assert.ok(Math.abs(relativeL2([3.3, 4.4], [3, 4]) - 0.1) < 1e-12);
    assert.ok(Math.abs(relativeL2([0, 0], [3, 4]) - 1) < 1e-12);
    assert.throws(() => relativeL2([1], [1, 2]), /1 predictions for 2 exact values/);
  });

  it('mini-batches are seeded (the same on a fresh instance) and a batch of every point is the full objective', () => {
    for (const id of ['pinn-poisson-1d', 'pinn-heat-1d']) {
      const a = problemById(id).build(4, { size: 'tiny' });
      const b = problemById(id).build(4, { size: 'tiny' });
      const full = a.full.valueAndGrad(a.params)[0];
      const all = a.batch(0, a.trainSize).valueAndGrad(a.params)[0];
      assert.ok(Math.abs(all - full) < 1e-12 * full, `${id}: ${all} vs ${full}`);
      for (const k of [0, 3, 9]) assert.equal(b.batch(k, 8).valueAndGrad(b.params)[0], a.batch(k, 8).valueAndGrad(a.params)[0], `${id} batch ${k}`);
      assert.notEqual(a.batch(0, 8).valueAndGrad(a.params)[0], a.batch(1, 8).valueAndGrad(a.params)[0]);
      const e = a.evaluate(a.params);
      assert.ok(e.relL2 !== undefined && e.relL2 > 0.5, `${id}: an untrained network is far from the solution (relL2 ${e.relL2})`);
    }
  });

  it('adam-lbfgs reaches a lower relative L2 error than Adam alone on pinn-poisson-1d in the same steps', () => {
    const budget = { steps: 150 };
    const hybrid = runOne('pinn-poisson-1d', 'adam-lbfgs', 0, budget, { size: 'tiny', hyper: { options: { after: 20 }, batchSize: 'full' } }).record;
    const plain = runOne('pinn-poisson-1d', 'adam', 0, budget, { size: 'tiny', hyper: { options: { lr: 1e-3 }, batchSize: 'full' } }).record;
    const [h, a] = [hybrid.final.relL2, plain.final.relL2];
    assert.ok(h !== undefined && a !== undefined);
    assert.ok(h < 0.05 && h < a / 10, `adam-lbfgs relL2 ${h}, adam ${a}`);
  });

  it('on a mini-batch run the runner gives the L-BFGS phase the full objective and the Adam phase mini-batches', () => {
    // An instance like the runner's (same seed and size): its full objective is the oracle.
    const inst = problemById('pinn-poisson-1d').build(0, { size: 'tiny' });
    const isFull: boolean[] = [];
    const record = (opt: Optimizer): Optimizer => ({
      ...opt,
      step: ((p: PyTree, s: OptimizerState, o: Objective) => {
        isFull.push(o.valueAndGrad(p)[0] === inst.full.valueAndGrad(p)[0]);
        return opt.step(p, s, o);
      }) as Optimizer['step'],
    });
    registerOptimizer({
      id: 'test-spy-switch', title: 'spy', reference: '-', needs: [], stochastic: true,
      create: () => switching(record(adam({ lr: 1e-3 })), record(lbfgs()), { after: 3, fullBatch: { second: true } }) as unknown as Optimizer<PyTree, PyTree>,
    });
    runOne('pinn-poisson-1d', 'test-spy-switch', 0, { steps: 6 }, { size: 'tiny', hyper: { options: {}, batchSize: 8 } });
    assert.deepEqual(isFull, [false, false, false, true, true, true]);
  });
});

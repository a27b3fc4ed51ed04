import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import * as O from '../../autodiff/ops.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { objective } from '../objective.js';
import type { Objective, StepResult } from '../types.js';
import { adahessian } from './adahessian.js';
import { blobsClassifier, diagonalQuadratic, type QuadParams } from './fixtures.js';

const flat = (t: unknown) => treeLeaves(t).flatMap((l) => Array.from(l.data));

describe('adahessian: steps against the update computed by hand', () => {
  it('the first step on a diagonal quadratic is θ − lr·aθ/(|a| + ε) (bias corrections cancel the EMAs)', () => {
    const { params, obj } = diagonalQuadratic();
    const opt = adahessian();
    const p0 = params();
    const r = opt.step(p0, opt.init(p0), obj);
    const got = flat(r.params);
    // Worked by hand with lr 0.15 and ε 1e-4: 1 − 0.15·2/2.0001, −2 − 0.15·1/0.5001, 0.5 − 0.15·2/4.0001.
    const want = [0.8500074996250188, -2.2999400119976006, 0.4250018749531262];
    want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) < 1e-15, `coordinate ${i}: ${got[i]} vs ${w}`));
    assert.equal(r.info.curvatureProducts, 1);
  });

  it('five steps with k = 0.5, weight decay, a Hessian period of 2 and blocks of 2 equal a naive scalar implementation', () => {
    const { a, theta0, params, obj } = diagonalQuadratic();
    const o = { lr: 0.1, b1: 0.8, b2: 0.95, eps: 1e-3, hessianPower: 0.5, weightDecay: 0.05, hessianPeriod: 2, blockSize: 2 };
    // Spatially averaged |a|: w's rows [2, -0.5, 4 | 1, 3, 0.25] in blocks of 2 along the last axis, b [6, 0.5, 1.5] likewise.
    const rows = [[0, 3], [3, 6], [6, 9]];
    const avg = new Array<number>(9);
    for (const [s, e] of rows) {
      for (let i = s; i < e; i += 2) {
        const end = Math.min(i + 2, e);
        let sum = 0;
        for (let j = i; j < end; j++) sum += Math.abs(a[j]);
        for (let j = i; j < end; j++) avg[j] = sum / (end - i);
      }
    }
    const th = [...theta0];
    const m = new Array<number>(9).fill(0);
    const v = new Array<number>(9).fill(0);
    let estimates = 0;
    for (let t = 1; t <= 5; t++) {
      const fresh = (t - 1) % o.hessianPeriod === 0;
      if (fresh) estimates++;
      for (let i = 0; i < 9; i++) {
        const g = a[i] * th[i];
        if (fresh) v[i] = o.b2 * v[i] + (1 - o.b2) * avg[i] ** 2;
        m[i] = o.b1 * m[i] + (1 - o.b1) * g;
        const mh = m[i] / (1 - o.b1 ** t);
        const vh = v[i] / (1 - o.b2 ** estimates);
        th[i] -= o.lr * (mh / (Math.sqrt(vh) ** o.hessianPower + o.eps) + o.weightDecay * th[i]);
      }
    }
    const opt = adahessian(o);
    let p: QuadParams = params();
    let s = opt.init(p);
    let products = 0;
    for (let t = 0; t < 5; t++) {
      const r: StepResult<QuadParams> = opt.step(p, s, obj);
      ({ params: p, state: s } = r);
      products += r.info.curvatureProducts;
    }
    assert.equal(products, 3, 'estimates at steps 0, 2 and 4');
    flat(p).forEach((x, i) => assert.ok(Math.abs(x - th[i]) < 1e-13, `coordinate ${i}: ${x} vs ${th[i]}`));
  });

  it('a conv kernel gets one second moment per (out, in) pair: the average over its spatial positions', () => {
    const coeff = new Tensor(Float64Array.from({ length: 8 }, (_, i) => 1 + i), [1, 2, 2, 2]);
    const obj = objective((p: { k: Tensor }) => O.mul(0.5, O.sum(O.mul(coeff, O.square(p.k)))));
    const p0 = { k: new Tensor(Float64Array.from({ length: 8 }, () => 1), [1, 2, 2, 2]) };
    const opt = adahessian({ b2: 0.5 });
    const r = opt.step(p0, opt.init(p0), obj);
    const nu = flat((r.state.inner as { nu: PyTree }[])[0].nu);
    // Hessian diag 1..8: spatial means 2.5 (first input channel) and 6.5 (second); ν = (1 − β2)·mean².
    nu.forEach((x, i) => assert.ok(Math.abs(x - 0.5 * (i < 4 ? 2.5 : 6.5) ** 2) < 1e-12, `entry ${i}: ${x}`));
  });
});

describe('adahessian: training and robustness', () => {
  it('trains a small softmax classifier: the loss falls by more than half in 60 steps', () => {
    const { params, obj } = blobsClassifier();
    const opt = adahessian({ lr: 0.05 });
    let p = params;
    let s = opt.init(p);
    const first = obj.valueAndGrad(p)[0];
    for (let t = 0; t < 60; t++) {
      const r: StepResult<PyTree> = opt.step(p, s, obj);
      assert.ok(r.info.accepted, r.info.events.join('; '));
      ({ params: p, state: s } = r);
    }
    const last = obj.valueAndGrad(p)[0];
    assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
  });

  it('a non-finite first estimate rejects the step; a later one is dropped with an event and the previous kept', () => {
    const { params, obj } = diagonalQuadratic();
    let poison = true;
    const faulty: Objective<QuadParams> = {
      ...obj,
      hvp: (p, v) => {
        const hv = obj.hvp?.(p, v) as QuadParams;
        if (!poison) return hv;
        const w = hv.w.clone();
        w.data[1] = NaN;
        return { ...hv, w };
      },
    };
    const opt = adahessian();
    const p0 = params();
    const s0 = opt.init(p0);
    const r0 = opt.step(p0, s0, faulty);
    assert.equal(r0.info.accepted, false);
    assert.deepEqual(flat(r0.params), flat(p0));
    assert.ok(r0.info.events.some((e) => e.includes('non-finite Hessian diagonal')));
    poison = false;
    const r1 = opt.step(r0.params, r0.state, faulty);
    assert.ok(r1.info.accepted);
    poison = true;
    const r2 = opt.step(r1.params, r1.state, faulty);
    assert.ok(r2.info.accepted);
    assert.ok(r2.info.events.some((e) => e.includes('dropped')));
    assert.ok(flat(r2.params).every(Number.isFinite));
    assert.ok(flat(r2.state).every(Number.isFinite));
  });

  it('bad options are errors naming the option', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ hessianPeriod: 0 }, /'hessianPeriod'/],
      [{ hessianPeriod: 1.5 }, /'hessianPeriod'/],
      [{ lr: -0.1 }, /'lr'/],
      [{ b1: 1 }, /'b1'/],
      [{ b2: -0.1 }, /'b2'/],
      [{ eps: 0 }, /'eps'/],
      [{ hessianPower: 1.5 }, /'hessianPower'/],
      [{ blockSize: 0 }, /'blockSize'/],
      [{ probes: 0 }, /'probes'/],
      [{ probes: 1e9 }, /'probes'/],
      [{ seed: 1e308 }, /'seed'/],
      [{ weightDecay: -1 }, /'weightDecay'/],
      [{ spatialAveraging: 'yes' }, /'spatialAveraging'/],
      [{ betas: [0.9, 0.999] }, /unknown option 'betas'/],
    ];
    for (const [options, message] of cases) assert.throws(() => adahessian(options), message, JSON.stringify(options));
  });

  it('an objective without Hessian-vector products is an error naming hvp at the first step', () => {
    const opt = adahessian();
    const p = { x: new Tensor(Float64Array.from([1, 2]), [2]) };
    const obj: Objective<typeof p> = { valueAndGrad: (q) => [1, q] };
    assert.throws(() => opt.step(p, opt.init(p), obj), /adahessian: .*hvp/);
  });
});

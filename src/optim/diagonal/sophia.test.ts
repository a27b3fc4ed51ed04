import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { objective } from '../objective.js';
import * as O from '../../autodiff/ops.js';
import { optimizerEntry } from '../registry.js';
import type { Objective, StepResult } from '../types.js';
import { sophia, type SophiaOptions } from './sophia.js';
import { blobsClassifier, diagonalQuadratic, type QuadParams } from './fixtures.js';

const flat = (t: unknown) => treeLeaves(t).flatMap((l) => Array.from(l.data));

describe('sophia: steps against the update computed by hand', () => {
  it('the first step on a diagonal quadratic (β2 0, γ 1): θ − lr·clip((1−β1)aθ / max(a, ε), 1); negative curvature gives a full sign step', () => {
    const { params, obj } = diagonalQuadratic();
    const opt = sophia({ lr: 0.1, gamma: 1, b2: 0 });
    const p0 = params();
    const got = flat(opt.step(p0, opt.init(p0), obj).params);
    // By hand: m = 0.035·aθ; 1 − 0.1·0.07/2; −2 − 0.1·clip(0.035/1e-12) = −2.1; 0.5 − 0.1·0.07/4.
    const want = [0.9965, -2.1, 0.49825];
    want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) < 1e-15, `coordinate ${i}: ${got[i]} vs ${w}`));
  });

  it('with the paper defaults the first estimate is only (1−β2)·ĥ, so every coordinate moves by exactly lr·sign(m)', () => {
    const { a, theta0, params, obj } = diagonalQuadratic();
    const opt = sophia();
    const p0 = params();
    const got = flat(opt.step(p0, opt.init(p0), obj).params);
    got.forEach((x, i) => assert.equal(x, theta0[i] - 1e-4 * Math.sign(a[i] * theta0[i])));
  });

  for (const estimator of ['hutchinson', 'gnb'] as const) {
    it(`${estimator}: seven steps with k = 3 and weight decay equal a naive scalar implementation`, () => {
      const { a, theta0, params, obj } = diagonalQuadratic();
      const o: SophiaOptions = { estimator, lr: 0.05, b1: 0.9, b2: 0.6, gamma: 0.5, eps: 1e-12, hessianPeriod: 3, weightDecay: 0.1 };
      // GNB on a quadratic: an objective whose estimate is exact (the Gauss-Newton diagonal of Σ ½aθ² is a).
      const exact: Objective<QuadParams> = { ...obj, gnbDiagonal: () => ({ w: new Tensor(Float64Array.from(a.slice(0, 6)), [2, 3]), b: new Tensor(Float64Array.from(a.slice(6)), [3]) }) };
      const th = [...theta0];
      const m = new Array<number>(9).fill(0);
      const h = new Array<number>(9).fill(0);
      for (let t = 0; t < 7; t++) {
        for (let i = 0; i < 9; i++) {
          const g = a[i] * th[i];
          if (t % 3 === 0) h[i] = 0.6 * h[i] + 0.4 * a[i];
          m[i] = 0.9 * m[i] + 0.1 * g;
          const r = Math.min(1, Math.max(-1, m[i] / Math.max(0.5 * h[i], 1e-12)));
          th[i] = th[i] - 0.05 * 0.1 * th[i] - 0.05 * r;
        }
      }
      const opt = sophia(o);
      let p: QuadParams = params();
      let s = opt.init(p);
      let evals = 0;
      for (let t = 0; t < 7; t++) {
        const r: StepResult<QuadParams> = opt.step(p, s, exact);
        ({ params: p, state: s } = r);
        evals += estimator === 'gnb' ? r.info.evals - 1 : r.info.curvatureProducts;
      }
      assert.equal(evals, 3, 'estimates at steps 0, 3 and 6');
      flat(p).forEach((x, i) => assert.ok(Math.abs(x - th[i]) < 1e-14, `coordinate ${i}: ${x} vs ${th[i]}`));
    });
  }
});

describe('sophia: clipping, training and robustness', () => {
  for (const id of ['sophia-h', 'sophia-g'] as const) {
    it(`${id}: no coordinate ever moves by more than lr in a step, and the bound is reached`, () => {
      const { params, obj } = blobsClassifier(1);
      const lr = 0.01;
      const opt = optimizerEntry(id).create({ lr, hessianPeriod: 2 });
      let p = params;
      let s = opt.init(p);
      let atBound = 0;
      for (let t = 0; t < 20; t++) {
        const r: StepResult<PyTree> = opt.step(p, s, obj);
        const before = flat(p);
        const after = flat(r.params);
        for (let i = 0; i < before.length; i++) {
          const d = Math.abs(after[i] - before[i]);
          assert.ok(d <= lr * (1 + 1e-12), `step ${t}, coordinate ${i}: moved ${d}`);
          if (d >= lr * (1 - 1e-9)) atBound++;
        }
        ({ params: p, state: s } = r);
      }
      assert.ok(atBound > 0, 'the clip never acted: the test would not see a missing clip');
    });

    it(`${id}: trains a small softmax classifier (the loss falls by more than half in 60 steps)`, () => {
      const { params, obj } = blobsClassifier();
      const opt = optimizerEntry(id).create({ lr: 0.05 });
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
  }

  it('a non-finite first estimate rejects the step, and a later one is dropped with an event', () => {
    const { params, obj } = diagonalQuadratic();
    let poison = true;
    const faulty: Objective<QuadParams> = {
      ...obj,
      hvp: (p, v) => {
        const hv = obj.hvp?.(p, v) as QuadParams;
        return poison ? { ...hv, b: new Tensor(new Float64Array(3).fill(Infinity), [3]) } : hv;
      },
    };
    const opt = sophia({ hessianPeriod: 1 });
    const p0 = params();
    const r0 = opt.step(p0, opt.init(p0), faulty);
    assert.equal(r0.info.accepted, false);
    assert.deepEqual(flat(r0.params), flat(p0));
    poison = false;
    const r1 = opt.step(r0.params, r0.state, faulty);
    poison = true;
    const r2 = opt.step(r1.params, r1.state, faulty);
    assert.ok(r1.info.accepted && r2.info.accepted);
    assert.ok(r2.info.events.some((e) => e.includes('dropped')));
    assert.ok(flat(r2.state).every(Number.isFinite));
  });

  it('bad options are errors naming the option', () => {
    const cases: [SophiaOptions & Record<string, unknown>, RegExp][] = [
      [{ hessianPeriod: 0 }, /'hessianPeriod'/],
      [{ lr: -1 }, /'lr'/],
      [{ b1: 1 }, /'b1'/],
      [{ b2: -0.5 }, /'b2'/],
      [{ b2: 1.2 }, /'b2'/],
      [{ gamma: 0 }, /'gamma'/],
      [{ eps: -1 }, /'eps'/],
      [{ estimator: 'exact' as 'gnb' }, /'estimator'/],
      [{ estimator: 'gnb', probes: 4 }, /sophia-g: option 'probes'/],
      [{ rho: 0.04 }, /unknown option 'rho'/],
    ];
    for (const [options, message] of cases) assert.throws(() => sophia(options), message, JSON.stringify(options));
    assert.throws(() => optimizerEntry('sophia-h').create({ estimator: 'gnb' }), /sophia-h: option 'estimator'/);
  });

  it('sophia-g on an objective without a model to sample from is an error naming gnbDiagonal', () => {
    const opt = sophia({ estimator: 'gnb' });
    const p = { x: new Tensor(Float64Array.from([1, 2]), [2]) };
    const obj = objective((q: typeof p) => O.sum(O.square(q.x)));
    assert.throws(() => opt.step(p, opt.init(p), obj), /sophia-g: .*gnbDiagonal/);
  });
});

/**
 * SOAP against its defining property: on gradients G_t = U D_t Vᵀ whose statistics keep the
 * eigenbases U, V, SOAP's update is Adam's on the coordinates D_t mapped back, U·Adam(D)·Vᵀ
 * (Adam computed here by a naive loop) — with exact bases refreshed every step and with the
 * power-iteration refresh. Also: orthogonal iteration converges to the eigenbasis, 1-D tensors
 * take Adam's steps, and options are checked by name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { Objective } from '../types.js';
import { adam } from '../first-order/baselines.js';
import { matmul, qrOrthogonal } from './dense.js';
import { eigenbasis, powerQrStep, soap } from './soap.js';

function sequence<P extends PyTree>(grads: P[]): Objective<P> {
  let i = 0;
  return { valueAndGrad: () => [1, grads[Math.min(i++, grads.length - 1)]] };
}
function randomOrthogonal(rng: Rng, n: number): Float64Array {
  return qrOrthogonal(Float64Array.from({ length: n * n }, () => rng.nextNormal()), n);
}

describe('SOAP is Adam in the eigenbasis', () => {
  const m = 3;
  const n = 4;
  const rng = new Rng(21);
  const u = randomOrthogonal(rng, m);
  const v = randomOrthogonal(rng, n);
  const scales = [1, 3, 9]; // well separated eigenvalues of Σ D Dᵀ and Σ Dᵀ D
  const steps = 8;
  const ds = Array.from({ length: steps }, () => scales.map((c) => c * (rng.nextFloat() < 0.5 ? -1 : 1) * (0.8 + 0.4 * rng.nextFloat())));
  const grads = ds.map((d) => {
    const dm = new Float64Array(m * n);
    d.forEach((x, i) => { dm[i * n + i] = x; });
    return new Tensor(matmul(matmul(u, dm, m, m, n), v, m, n, n, false, true), [m, n]);
  });
  const lr = 0.01;
  const b1 = 0.9;
  const b2 = 0.99;
  // Round-off leaves ~1e-15 in D's zero entries, which Adam scales to ~1e-15/ε: an ε well above it keeps them negligible.
  const eps = 1e-4;
  // Naive Adam on the coordinates d (the other entries of D are 0 and stay 0), mapped back.
  const expected: Float64Array[] = [];
  {
    const mu = [0, 0, 0];
    const nu = [0, 0, 0];
    ds.forEach((d, t) => {
      const step = new Float64Array(m * n);
      d.forEach((x, i) => {
        mu[i] = b1 * mu[i] + (1 - b1) * x;
        nu[i] = b2 * nu[i] + (1 - b2) * x * x;
        step[i * n + i] = -lr * (mu[i] / (1 - b1 ** (t + 1))) / (Math.sqrt(nu[i] / (1 - b2 ** (t + 1))) + eps);
      });
      expected.push(matmul(matmul(u, step, m, m, n), v, m, n, n, false, true));
    });
  }

  for (const basisRefresh of ['eigh', 'power-qr'] as const) {
    it(`update = U·Adam(D)·Vᵀ with bases refreshed every step by ${basisRefresh}`, () => {
      const opt = soap<Tensor>({ lr, b1, b2, eps, preconditionPeriod: 1, basisRefresh });
      let p = new Tensor(new Float64Array(m * n), [m, n]);
      let state = opt.init(p);
      const obj = sequence(grads);
      for (let t = 0; t < steps; t++) {
        const r = opt.step(p, state, obj);
        assert.ok(r.info.accepted);
        for (let k = 0; k < m * n; k++) {
          const got = r.params.data[k] - p.data[k];
          assert.ok(Math.abs(got - expected[t][k]) < 1e-9 * lr, `step ${t} [${k}]: ${got} vs ${expected[t][k]}`);
        }
        p = r.params;
        state = r.state;
      }
    });
  }

  it("1-D tensors take Adam's steps", () => {
    type P = { w: Tensor; b: Tensor };
    const r2 = new Rng(4);
    const gs: P[] = Array.from({ length: 4 }, () => ({ w: new Tensor(Float64Array.from({ length: 4 }, () => r2.nextNormal()), [2, 2]), b: new Tensor(Float64Array.from({ length: 3 }, () => r2.nextNormal()), [3]) }));
    const p0: P = { w: new Tensor(new Float64Array(4), [2, 2]), b: new Tensor(new Float64Array(3), [3]) };
    const run = (opt: ReturnType<typeof adam<P>>) => {
      let p = p0;
      let s = opt.init(p);
      const obj = sequence(gs);
      const out: P[] = [];
      for (let k = 0; k < gs.length; k++) {
        ({ params: p, state: s } = opt.step(p, s, obj));
        out.push(p);
      }
      return out;
    };
    const a = run(soap<P>({ lr: 0.01, b1: 0.9, b2: 0.999 }));
    const b = run(adam<P>({ lr: 0.01, b1: 0.9, b2: 0.999 }));
    a.forEach((x, k) => x.b.data.forEach((val, i) => assert.ok(Math.abs(val - b[k].b.data[i]) < 1e-15, `step ${k}`)));
  });
});

describe('SOAP bases', () => {
  it('repeated power-iteration + QR steps converge to the eigenvectors (Qᵀ A Q diagonal, sorted descending)', () => {
    const rng = new Rng(8);
    const n = 6;
    const q0 = randomOrthogonal(rng, n);
    const lambdas = [10, 5, 3, 2, 1, 0.5];
    const a = matmul(matmul(q0, Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? lambdas[k / (n + 1)] : 0)), n, n, n), q0, n, n, n, false, true);
    let q = randomOrthogonal(rng, n);
    for (let i = 0; i < 200; i++) q = powerQrStep(a, q, n);
    const d = matmul(matmul(q, a, n, n, n, true, false), q, n, n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) assert.ok(Math.abs(d[i * n + j] - (i === j ? lambdas[i] : 0)) < 1e-8, `[${i},${j}] = ${d[i * n + j]}`);
    }
    // The eigh basis is a fixed point of the step.
    const e = eigenbasis(a, n);
    const e2 = powerQrStep(a, e, n);
    assert.ok(e.every((x, k) => Math.abs(x - e2[k]) < 1e-10));
  });
});

describe('SOAP options', () => {
  for (const [opts, name] of [
    [{ preconditionPeriod: 0 }, 'preconditionPeriod'], [{ blockSize: 0 }, 'blockSize'], [{ b1: 1 }, 'b1'], [{ basisRefresh: 'svd' }, 'basisRefresh'], [{ eps: 0 }, 'eps'],
  ] as const) {
    it(`rejects ${JSON.stringify(opts)} naming '${name}'`, () => {
      assert.throws(() => soap(opts as Record<string, unknown>), (e: Error) => e.message.includes(`'${name}'`));
    });
  }
});

/**
 * Shampoo (eigh and Newton roots) and SOAP on the statistics that break implementations (issue
 * 15; SOAP #14): rank-1 gradients, exactly zero gradients, and entries spread from 1e-30 to
 * 1e30, in float32, for 1,000 steps each: every step accepted, parameters and state finite.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import type { Objective, Optimizer } from '../types.js';
import { shampoo } from './shampoo.js';
import { soap } from './soap.js';

type P = { w: Tensor; conv: Tensor; b: Tensor };
const shapes = { w: [5, 3], conv: [2, 2, 2, 2], b: [3] } as const;
const STEPS = 1000;

function f32(shape: readonly number[], f: (i: number) => number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: n }, (_, i) => f(i)), shape);
}

const scenarios: Record<string, (rng: Rng) => () => P> = {
  'rank-1 gradients (u vᵀ, the same directions every step)': (rng) => {
    const u = Array.from({ length: 5 }, () => rng.nextNormal());
    const v = Array.from({ length: 8 }, () => rng.nextNormal());
    return () => {
      const c = rng.nextNormal();
      return { w: f32(shapes.w, (i) => c * u[Math.floor(i / 3)] * v[i % 3]), conv: f32(shapes.conv, (i) => c * u[Math.floor(i / 8)] * v[i % 8]), b: f32(shapes.b, (i) => c * v[i]) };
    };
  },
  'exactly zero gradients': () => () => ({ w: f32(shapes.w, () => 0), conv: f32(shapes.conv, () => 0), b: f32(shapes.b, () => 0) }),
  'entries from 1e-30 to 1e30': (rng) => {
    const entry = () => (rng.nextFloat() < 0.5 ? -1 : 1) * Math.pow(10, -30 + 60 * rng.nextFloat());
    return () => ({ w: f32(shapes.w, entry), conv: f32(shapes.conv, entry), b: f32(shapes.b, entry) });
  },
};

const optimizers: Record<string, () => Optimizer<PyTree, P>> = {
  'shampoo (eigh)': () => shampoo<P>({ preconditionPeriod: 5 }),
  'shampoo (newton)': () => shampoo<P>({ preconditionPeriod: 5, rootMethod: 'newton' }),
  'soap': () => soap<P>({ preconditionPeriod: 5 }),
};

function allFinite(tree: PyTree): boolean {
  return treeLeaves(tree).every((t) => t.data.every(Number.isFinite));
}

for (const [oname, make] of Object.entries(optimizers)) {
  describe(`${oname}: no NaN or Inf in float32 for ${STEPS} steps`, () => {
    for (const [sname, scenario] of Object.entries(scenarios)) {
      it(sname, () => {
        const rng = new Rng(99);
        const next = scenario(rng);
        const opt = make();
        let params: P = { w: f32(shapes.w, () => 0.1), conv: f32(shapes.conv, () => -0.1), b: f32(shapes.b, () => 0) };
        let state = opt.init(params);
        for (let k = 0; k < STEPS; k++) {
          const g = next();
          const obj: Objective<P> = { valueAndGrad: () => [1, g] };
          const r = opt.step(params, state, obj);
          assert.ok(r.info.accepted, `step ${k} rejected: ${r.info.events.join('; ')}`);
          params = r.params;
          state = r.state;
          assert.ok(allFinite(params), `parameters not finite at step ${k}`);
          assert.ok(allFinite(state), `state not finite at step ${k}`);
          assert.equal(params.w.dtype, 'float32');
        }
      });
    }
  });
}

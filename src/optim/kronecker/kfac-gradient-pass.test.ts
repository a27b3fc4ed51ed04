/**
 * K-FAC and EKFAC take their statistics from the gradient's own pass when the objective offers
 * it (`requestKfacStatistics`): the same step as with separate passes (float64), one forward
 * pass fewer per step, and one evaluation fewer in the step's report.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential, type ApplyContext } from '../../nn/module.js';
import { mse } from '../../nn/losses.js';
import { assertClose } from '../../testing/helpers.js';
import { kfacObjective, type KfacObjective } from './kfac-objective.js';
import { kfac, type KfacOptions } from './kfac.js';
import { ekfac } from './ekfac.js';
import type { EstimationMode } from '../../curvature/kronecker-estimator.js';

const f64 = { dtype: 'float64' as const };

function problem() {
  const rng = new Rng(4);
  const net = new Sequential([new Linear(5, 7), new Tanh(), new Linear(7, 3)]);
  let forwards = 0;
  const model = (p: PyTree[], x: Tensor, ctx: ApplyContext) => {
    forwards++;
    return net.apply(p, x, ctx);
  };
  return { model, params: net.init(rng, f64), batch: { x: rng.normal([12, 5], f64), y: rng.normal([12, 3], f64) }, forwards: () => forwards };
}

/** The objective without `requestKfacStatistics`: K-FAC falls back to its own statistics passes. */
function separate(obj: KfacObjective<PyTree[]>): KfacObjective<PyTree[]> {
  const { requestKfacStatistics: _, ...rest } = obj;
  return rest;
}

describe('K-FAC statistics from the gradient pass', () => {
  for (const [name, make] of [['kfac', kfac], ['ekfac', ekfac]] as const) {
    for (const mode of ['empirical', 'true'] as EstimationMode[]) {
      it(`${name} (${mode}): the same steps as with separate statistics passes, one forward pass and one evaluation fewer per step`, () => {
        const options: KfacOptions = { estimationMode: mode, inverseUpdatePeriod: 2 };
        const run = (joint: boolean) => {
          const pr = problem();
          const opt = make<PyTree[]>(options);
          let p = pr.params;
          let s = opt.init(p);
          const evals: number[] = [];
          for (let k = 0; k < 3; k++) {
            const obj = kfacObjective(pr.model, mse(), pr.batch, { l2: 1e-3 });
            const r = opt.step(p, s, joint ? obj : separate(obj));
            assert.ok(r.info.accepted, r.info.events.join('; '));
            evals.push(r.info.evals);
            ({ params: p, state: s } = r);
          }
          return { p, evals, forwards: pr.forwards() };
        };
        const a = run(true);
        const b = run(false);
        treeLeaves(a.p).forEach((l, i) => assertClose(l.data, treeLeaves(b.p)[i].data, { rtol: 1e-10, atol: 1e-13, msg: `leaf ${i}` }));
        assert.equal(b.forwards - a.forwards, 3, 'one forward pass fewer per step');
        assert.deepEqual(a.evals.map((e, k) => b.evals[k] - e), [1, 1, 1]);
      });
    }
  }
});

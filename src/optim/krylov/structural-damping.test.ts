import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../../autodiff/pytree.js';
import { RNN } from '../../nn/recurrent.js';
import { SequenceReadout, type SequenceReadoutParams } from '../../nn/sequence-model.js';
import { mse } from '../../nn/losses.js';
import { modelObjective } from '../objective.js';
import { fromObjective } from '../../curvature/operators/from-objective.js';
import { assertClose } from '../../testing/helpers.js';
import { structuralDampingTerm, structuralObjective } from './structural-damping.js';
import { hessianFree } from './hessian-free.js';

const f64 = { dtype: 'float64' as const };
type P = SequenceReadoutParams;

function tinyProblem() {
  const model = new SequenceReadout(new RNN(2, 3), 2);
  const params = model.init(new Rng(1), f64);
  const rng = new Rng(2);
  const batch = { x: rng.normal([4, 5, 2], f64), y: rng.normal([4, 2], f64) };
  const states = (p: P, x: Tensor) => model.outputsAndStates(p, x).states;
  const obj = structuralObjective(modelObjective(model, mse(), batch), states, batch.x);
  return { model, params, batch, states, obj };
}

function flatten(p: PyTree): number[] {
  return treeLeaves(p).flatMap((l) => Array.from(l.data));
}

function unflatten(like: P, v: number[]): P {
  let k = 0;
  return treeUnflatten(like, treeLeaves(like).map((l) => new Tensor(Float64Array.from(v.slice(k, (k += l.size))), l.shape)));
}

/** Dense Jacobian [m, n] of θ ↦ f(θ) by central differences in float64. */
function jacobianFd(f: (p: P) => Tensor, params: P, eps = 1e-6): number[][] {
  const theta = flatten(params);
  const cols = theta.map((_, j) => {
    const at = (d: number) => Array.from(f(unflatten(params, theta.map((t, i) => (i === j ? t + d : t)))).data);
    const a = at(eps);
    const b = at(-eps);
    return a.map((ai, i) => (ai - b[i]) / (2 * eps));
  });
  return cols[0].map((_, i) => cols.map((c) => c[i]));
}

/** AᵀA scaled, dense. */
function gram(a: number[][], scale: number): number[][] {
  const n = a[0].length;
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => scale * a.reduce((s, row) => s + row[i] * row[j], 0)));
}

describe('structural damping (Martens & Sutskever 2011)', () => {
  it('the damped curvature G + λI + μS equals the dense Gauss-Newton of loss + μ·D(h(θ0), h(θ)) (float64, finite-difference Jacobians)', () => {
    const { model, params, batch, states, obj } = tinyProblem();
    const lambda = 0.3;
    const weight = 0.5;
    const mu = weight * lambda;
    const B = fromObjective(obj, params, 'ggn').damped(lambda).plus(structuralDampingTerm({ weight }, obj, params, lambda) as never);
    const dense = B.toDense();
    // The combined objective's Gauss-Newton: mse over N·2 outputs has H_L = 2/(N·2) I;
    // D(h0, h) = ‖h − h0‖²/(2N) has H_D = I/N.
    const n = batch.x.shape[0];
    const jz = jacobianFd((p) => model.apply(p, batch.x), params);
    const jh = jacobianFd((p) => states(p, batch.x), params);
    const gz = gram(jz, 2 / (n * 2));
    const gh = gram(jh, mu / n);
    const size = gz.length;
    const expected = gz.map((row, i) => row.map((v, j) => v + gh[i][j] + (i === j ? lambda : 0)));
    assert.equal(dense.shape[0], size);
    assertClose(dense.toFlatArray(), expected.flat(), { rtol: 1e-6, atol: 1e-8 });
    // μS is not negligible in this check: without it the matrices differ.
    assert.ok(gh.flat().some((v) => Math.abs(v) > 1e-3));
    B.dispose();
  });

  it('μ follows λ: the structural product enters scaled by weight·λ', () => {
    const { params, obj } = tinyProblem();
    const v = unflatten(params, flatten(params).map((_, i) => Math.sin(i + 1)));
    const s = flatten(obj.structuralGgnvp(params, v));
    for (const lambda of [0.1, 2]) {
      const term = structuralDampingTerm({ weight: 0.25 }, obj, params, lambda);
      assert.ok(term !== undefined);
      assertClose(flatten(term.matvec(v)), s.map((x) => 0.25 * lambda * x), { rtol: 1e-12, atol: 1e-14 });
      term.dispose();
    }
    assert.equal(structuralDampingTerm({ weight: 0 }, obj, params, 1), undefined);
  });

  it('a sub-sampled objective keeps the structural products, on its own rows', () => {
    const { params, obj, states, batch } = tinyProblem();
    const sub = obj.subsample?.(0.5, 3) as typeof obj;
    assert.equal(typeof sub.structuralGgnvp, 'function');
    const v = unflatten(params, flatten(params).map((_, i) => Math.cos(i)));
    const rows = new Rng(3).permutation(4).slice(0, 2).sort((a, b) => a - b);
    const direct = structuralObjective(obj, states, new Tensor(Float64Array.from(rows.flatMap((r) => Array.from(batch.x.data.slice(r * 10, r * 10 + 10)))), [2, 5, 2]));
    assertClose(flatten(sub.structuralGgnvp(params, v)), flatten(direct.structuralGgnvp(params, v)), { rtol: 1e-12, atol: 1e-14 });
  });

  it('Hessian-free with structural damping lowers the loss of a tiny RNN; a plain objective gets an error naming the missing products', () => {
    const { params, obj, model, batch } = tinyProblem();
    const opt = hessianFree<P>({ structuralDamping: { weight: 1 / 30 }, damping: 1 });
    let p = params;
    let state = opt.init(p);
    const before = obj.valueAndGrad(p)[0];
    for (let k = 0; k < 5; k++) ({ params: p, state } = opt.step(p, state, obj));
    assert.ok(obj.valueAndGrad(p)[0] < 0.9 * before);
    const plain = modelObjective(model, mse(), batch);
    assert.throws(() => opt.step(params, opt.init(params), plain), /structuralDamping.*structuralObjective/);
    assert.throws(() => hessianFree({ structuralDamping: { weight: -1 } }), /option 'structuralDamping' must be/);
  });
});

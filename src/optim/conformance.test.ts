/**
 * The conformance suite every registered optimizer passes: parameter shapes and structure
 * kept, state that round-trips through a checkpoint and resumes bit for bit, zero gradients
 * that produce no NaN, and non-finite losses or gradients rejected without touching the
 * parameters or the state.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import * as O from '../autodiff/ops.js';
import { treeLeaves, type PyTree } from '../autodiff/pytree.js';
import { deserializeTree, serializeTree } from '../nn/checkpoint.js';
import { modelObjective, objective } from './objective.js';
import { mse } from '../nn/losses.js';
import { OPTIMIZERS } from './registry.js';
import type { Objective } from './types.js';

const f64 = { dtype: 'float64' as const };
type Params = { layer: { w: Tensor; b: Tensor }; scale: Tensor[]; note: string };
const params0 = (): Params => ({
  layer: { w: tensor([[0.5, -1, 2], [1, 0, -0.5]], undefined, f64), b: tensor([0.1, -0.2], undefined, f64) },
  scale: [tensor([3], undefined, f64)],
  note: 'static',
});
// A convex quadratic with different curvature per leaf.
const quad = (p: Params) => O.add(O.add(O.sum(O.square(O.sub(p.layer.w, 1))), O.mul(10, O.sum(O.square(p.layer.b)))), O.mul(0.5, O.sum(O.square(O.sub(p.scale[0], 2)))));
// The same quadratic as a model (its residuals, one example) under a summed squared error, for
// methods that sample targets from a model (Sophia-G's gnbDiagonal).
const residuals = (p: Params) => O.reshape(O.concat([
  O.reshape(O.sub(p.layer.w, 1), [6]), O.mul(Math.sqrt(10), p.layer.b), O.mul(Math.sqrt(0.5), O.sub(p.scale[0], 2)),
]), [1, 9]);
const quadModel = modelObjective((p: Params) => residuals(p), mse({ reduction: 'sum' }), { x: tensor([[0]], undefined, f64), y: new Tensor(new Float64Array(9), [1, 9]) });

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

for (const [id, entry] of OPTIMIZERS) {
  describe(`optimizer conformance: ${id}`, () => {
    const base = objective(quad);
    // quad is a sum of squares of affine maps: its Gauss-Newton matrix is its Hessian.
    const obj = { ...base, ggnvp: base.hvp, gnbDiagonal: quadModel.gnbDiagonal } as Objective<PyTree>;
    const make = () => entry.create(id === 'sgd' || id === 'momentum' ? { lr: 0.01 } : {});

    it('keeps the structure, shapes and dtypes of the parameters, and lowers a convex loss', () => {
      const opt = make();
      let p: PyTree = params0();
      let s = opt.init(p);
      const [f0] = obj.valueAndGrad(p);
      for (let i = 0; i < 5; i++) ({ params: p, state: s } = opt.step(p, s, obj));
      const q = p as Params;
      assert.equal(q.note, 'static');
      assert.deepEqual(q.layer.w.shape, [2, 3]);
      assert.equal(q.layer.w.dtype, 'float64');
      assert.deepEqual(q.scale[0].shape, [1]);
      assert.ok(obj.valueAndGrad(p)[0] < f0);
    });

    it('state saves and loads, and the resumed run matches the uninterrupted one bit for bit', () => {
      const opt = make();
      let a: PyTree = params0();
      let sa = opt.init(a);
      for (let i = 0; i < 4; i++) ({ params: a, state: sa } = opt.step(a, sa, obj));
      let b: PyTree = params0();
      let sb = opt.init(b);
      for (let i = 0; i < 2; i++) ({ params: b, state: sb } = opt.step(b, sb, obj));
      const saved = serializeTree({ params: b, state: sb });
      const loaded = deserializeTree(saved).tree as { params: PyTree; state: typeof sb };
      const opt2 = make();
      b = loaded.params;
      sb = loaded.state;
      for (let i = 0; i < 2; i++) ({ params: b, state: sb } = opt2.step(b, sb, obj));
      assert.equal(bits(b), bits(a));
      assert.equal(bits(sb), bits(sa));
    });

    it('zero gradients produce no NaN and (without decoupled decay) no movement', () => {
      const opt = id === 'adamw' ? entry.create({ weightDecay: 0 }) : make();
      // A constant function: zero gradient and zero curvature.
      const zeroObj: Objective<PyTree> = { valueAndGrad: (p) => [1, treeZeros(p)], value: () => 1, hvp: (p) => treeZeros(p), gnbDiagonal: (p) => treeZeros(p) };
      let p: PyTree = params0();
      let s = opt.init(p);
      for (let i = 0; i < 3; i++) ({ params: p, state: s } = opt.step(p, s, zeroObj));
      for (const l of treeLeaves(p)) assert.ok(l.toFlatArray().every(Number.isFinite));
      assert.equal(bits(p), bits(params0()));
    });

    it('a NaN gradient or a non-finite loss is rejected without touching the parameters or the state', () => {
      const opt = make();
      const p = params0();
      const s = opt.init(p);
      const nanGrad: Objective<PyTree> = { valueAndGrad: (q) => [1, withNaN(q)] };
      const r = opt.step(p, s, nanGrad);
      assert.equal(r.info.accepted, false);
      assert.ok(r.info.events.some((e) => e.includes('non-finite gradient')));
      assert.equal(bits(r.params), bits(params0()));
      assert.equal(r.state, s);
      const infLoss: Objective<PyTree> = { valueAndGrad: (q) => [Infinity, treeZeros(q)] };
      const r2 = opt.step(p, s, infLoss);
      assert.equal(r2.info.accepted, false);
      assert.equal(r2.params, p);
    });
  });
}

function treeZeros(p: PyTree): PyTree {
  const q = p as Params;
  return { layer: { w: O.mul(q.layer.w, 0), b: O.mul(q.layer.b, 0) }, scale: [O.mul(q.scale[0], 0)], note: q.note };
}

function withNaN(p: PyTree): PyTree {
  const z = treeZeros(p) as Params;
  const w = z.layer.w.clone();
  w.data[3] = NaN;
  return { ...z, layer: { ...z.layer, w } };
}

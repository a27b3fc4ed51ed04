/**
 * The driver's evaluation cache (issue 10, item 3): a line search's evaluation at the point it
 * returned may be reused only by a step on the same objective; a new batch (a new objective)
 * is evaluated afresh, and an objective that returns only NaN is never accepted. Checked for
 * every registered optimizer, so a method added later is covered.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import * as O from '../autodiff/ops.js';
import { treeLeaves, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { objective } from './objective.js';
import { OPTIMIZERS } from './registry.js';
import type { Objective } from './types.js';

const f64 = { dtype: 'float64' as const };
type Params = { w: Tensor; b: Tensor };
const params0 = (): PyTree => ({ w: tensor([[0.5, -1], [2, 0.25]], undefined, f64), b: tensor([0.1, -0.2], undefined, f64) });

/** A convex quadratic centred at `c` (sum of squares of affine maps: GGN = Hessian). */
function quadratic(c: number, weight: number): Objective<PyTree> {
  const base = objective((p: PyTree) => {
    const q = p as Params;
    return O.add(O.mul(weight, O.sum(O.square(O.sub(q.w, c)))), O.sum(O.square(O.sub(q.b, -c))));
  });
  // Its Gauss-Newton diagonal (the expectation of Sophia-G's sampled estimate) is the Hessian's.
  const gnbDiagonal = () => ({ w: tensor([[2 * weight, 2 * weight], [2 * weight, 2 * weight]], undefined, f64), b: tensor([2, 2], undefined, f64) });
  return { ...base, ggnvp: base.hvp, gnbDiagonal } as Objective<PyTree>;
}

const nanTree = (p: PyTree): PyTree => treeUnflatten(p, treeLeaves(p).map((l) => O.mul(l, NaN)));
const allNaN: Objective<PyTree> = {
  valueAndGrad: (p) => [NaN, nanTree(p)],
  value: () => NaN,
  hvp: (_p, v) => nanTree(v),
  ggnvp: (_p, v) => nanTree(v),
  fisherVp: (_p, v) => nanTree(v),
  gnbDiagonal: (p) => nanTree(p),
};

function optionsFor(id: string): Record<string, unknown> {
  return id === 'sgd' || id === 'momentum' ? { lr: 0.01 } : {};
}

function bits(tree: PyTree): string {
  return treeLeaves(tree).map((l) => Buffer.from(l.data.buffer, l.data.byteOffset, l.data.byteLength).toString('hex')).join('|');
}

for (const [id, entry] of OPTIMIZERS) {
  describe(`optimizer driver: ${id}`, () => {
    it('reports the loss of the objective it was given, not a value cached from the previous batch', () => {
      const opt = entry.create(optionsFor(id));
      const a = quadratic(1, 1);
      const b = quadratic(-3, 5);
      let p = params0();
      let s = opt.init(p);
      for (let i = 0; i < 2; i++) ({ params: p, state: s } = opt.step(p, s, a));
      const r = opt.step(p, s, b);
      assert.equal(r.info.loss, b.valueAndGrad(p)[0]);
      assert.notEqual(r.info.loss, a.valueAndGrad(p)[0]);
    });

    it('never accepts a step on an objective that returns only NaN, and leaves the parameters as they were', () => {
      const opt = entry.create(optionsFor(id));
      const a = quadratic(1, 1);
      let p = params0();
      let s = opt.init(p);
      for (let i = 0; i < 2; i++) ({ params: p, state: s } = opt.step(p, s, a));
      const before = bits(p);
      const r = opt.step(p, s, allNaN);
      assert.equal(r.info.accepted, false);
      assert.ok(Number.isNaN(r.info.loss), `loss ${r.info.loss}`);
      assert.equal(bits(r.params), before);
      assert.equal(r.state, s);
      assert.ok(r.info.events.some((e) => e.includes('non-finite')), r.info.events.join('; '));
    });

    it('still reuses the line search evaluation when the next step gets the same objective', { skip: id !== 'lbfgs' && id !== 'lbfgsb' }, () => {
      const opt = entry.create(optionsFor(id));
      const a = quadratic(1, 1);
      const seen: PyTree[] = [];
      const counted: Objective<PyTree> = { ...a, valueAndGrad: (q) => { seen.push(q); return a.valueAndGrad(q); } };
      let p = params0();
      let s = opt.init(p);
      ({ params: p, state: s } = opt.step(p, s, counted));
      seen.length = 0;
      const second = opt.step(p, s, counted);
      assert.equal(second.info.loss, a.valueAndGrad(p)[0]);
      assert.ok(!seen.includes(p), 'the start point was evaluated again');
    });
  });
}

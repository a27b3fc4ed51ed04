/**
 * graft(direction, magnitude) per tensor: the direction's unit vector times the magnitude's norm
 * (checked against the two transforms run on their own), the magnitude's update where the
 * direction says it does not precondition, zero for a zero direction, and arguments checked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../tensor/tensor.js';
import type { PyTree } from '../autodiff/pytree.js';
import { graft, type DirectionTransform } from './graft.js';
import { scale, scaleByAdam, scaleByRms } from './transforms.js';
import type { Transform, UpdateContext } from './types.js';

const f64 = { dtype: 'float64' as const };
type P = { w: Tensor; b: Tensor };
const ctx = (step: number): UpdateContext<P> => ({ step, loss: 0, objective: { valueAndGrad: () => { throw new Error('unused'); } }, counters: { evals: 0, curvatureProducts: 0 }, events: [] });
const norm = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0));
const grads: P[] = [
  { w: tensor([[1, -2], [3, 0.5]], undefined, f64), b: tensor([0.1, -4], undefined, f64) },
  { w: tensor([[-1, 1], [2, 2]], undefined, f64), b: tensor([3, 1], undefined, f64) },
];

/** A direction that is not parallel to the gradient: g with its entries cubed. */
const cube: DirectionTransform<PyTree, P> = {
  name: 'cube', init: () => null,
  update: (g) => [{ w: new Tensor(g.w.data.map((v) => v ** 3), g.w.shape), b: new Tensor(g.b.data.map((v) => v ** 3), g.b.shape) }, null],
};

function run<S extends PyTree>(t: Transform<S, P>): P[] {
  let s = t.init(grads[0]);
  return grads.map((g, k) => {
    const [u, ns] = t.update(g, s, g, ctx(k));
    s = ns;
    return u;
  });
}

describe('graft', () => {
  it("gives each tensor the direction's unit vector times the magnitude's norm (Adam and RMSprop magnitudes)", () => {
    for (const magnitude of [() => scaleByAdam<P>(), () => scaleByRms<P>()]) {
      const grafted = run(graft(cube, magnitude()));
      const dirs = run(cube);
      const mags = run(magnitude() as Transform<PyTree, P>);
      grafted.forEach((u, k) => {
        for (const key of ['w', 'b'] as const) {
          const d = dirs[k][key].data;
          const want = Array.from(d, (v) => (v / norm(d)) * norm(mags[k][key].data));
          u[key].data.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-12, `step ${k} ${key}[${i}]`));
        }
      });
    }
  });

  it("SGD grafting (scale(1)) keeps each tensor's gradient norm", () => {
    run(graft(cube, scale<P>(1))).forEach((u, k) => {
      assert.ok(Math.abs(norm(u.w.data) - norm(grads[k].w.data)) < 1e-12);
      assert.ok(Math.abs(norm(u.b.data) - norm(grads[k].b.data)) < 1e-12);
    });
  });

  it("takes the magnitude's update for tensors the direction does not precondition", () => {
    // Leaves in tree order: w (0), b (1); only b is preconditioned.
    const partial: DirectionTransform<PyTree, P> = { ...cube, preconditions: (_s, leaf) => leaf === 1 };
    const u = run(graft(partial, scaleByAdam<P>()));
    const a = run(scaleByAdam<P>() as Transform<PyTree, P>);
    u.forEach((x, k) => x.w.data.forEach((v, i) => assert.equal(v, a[k].w.data[i])));
  });

  it('a zero direction gives a zero update, never NaN', () => {
    const zero: DirectionTransform<PyTree, P> = { name: 'zero', init: () => null, update: (g) => [{ w: new Tensor(new Float64Array(4), g.w.shape), b: new Tensor(new Float64Array(2), g.b.shape) }, null] };
    run(graft(zero, scaleByAdam<P>())).forEach((u) => assert.ok([...u.w.data, ...u.b.data].every((v) => v === 0)));
  });

  it('rejects arguments that are not transforms, naming which', () => {
    assert.throws(() => graft(null as unknown as DirectionTransform, scaleByAdam()), /graft: direction is not a transform/);
    assert.throws(() => graft(cube as DirectionTransform, {} as Transform), /graft: magnitude is not a transform/);
  });
});

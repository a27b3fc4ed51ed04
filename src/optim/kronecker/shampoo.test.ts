/**
 * Shampoo against its definition: its roots are the floored eigh roots of the summed statistics
 * (computed here from the gradients with tensor/linalg's eigh), Newton roots agree with them,
 * steps worked by hand, Adam's steps before the first roots and on biases, blocks that behave as
 * independent tensors, and options that are checked by name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../tensor/tensor.js';
import { eigh } from '../../tensor/linalg.js';
import { Rng } from '../../tensor/random.js';
import type { PyTree } from '../../autodiff/pytree.js';
import type { Objective, Optimizer, OptimizerState, UpdateContext } from '../types.js';
import { adam } from '../first-order/baselines.js';
import { shampoo, shampooPreconditioner, type ShampooState } from './shampoo.js';

const f64 = { dtype: 'float64' as const };

/** An objective that returns the next gradient of a fixed sequence, whatever the parameters. */
function sequence<P extends PyTree>(grads: P[]): Objective<P> {
  let i = 0;
  return { valueAndGrad: () => [1, grads[Math.min(i++, grads.length - 1)]] };
}
function runAll<P extends PyTree>(opt: Optimizer<PyTree, P>, p0: P, grads: P[]): { params: P[]; state: OptimizerState } {
  let p = p0;
  let state = opt.init(p0);
  const obj = sequence(grads);
  const out: P[] = [];
  for (let k = 0; k < grads.length; k++) {
    const r = opt.step(p, state, obj);
    assert.ok(r.info.accepted, r.info.events.join('; '));
    p = r.params;
    state = r.state;
    out.push(p);
  }
  return { params: out, state };
}
function randomMatrix(rng: Rng, m: number, n: number): Tensor {
  return new Tensor(Float64Array.from({ length: m * n }, () => rng.nextNormal()), [m, n]);
}
/** Independent reference: (A)^(-1/p) with eigenvalues floored at eps·λ_max, via tensor/linalg's eigh. */
function referenceRoot(a: number[][], p: number, eps: number): number[][] {
  const n = a.length;
  const { eigenvalues, eigenvectors } = eigh(tensor(a, undefined, f64));
  const w = eigenvalues.toFlatArray();
  const v = eigenvectors.toArray() as number[][];
  const lmax = Math.max(...w);
  const f = w.map((l) => Math.pow(Math.max(l, eps * lmax), -1 / p));
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => f.reduce((s, fk, k) => s + v[i][k] * fk * v[j][k], 0)));
}
function gramSum(gs: Tensor[], side: 'left' | 'right'): number[][] {
  const [m, n] = gs[0].shape;
  const d = side === 'left' ? m : n;
  const out = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const g of gs) {
    const x = g.toArray() as number[][];
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let s = 0;
        if (side === 'left') for (let k = 0; k < n; k++) s += x[i][k] * x[j][k];
        else for (let k = 0; k < m; k++) s += x[k][i] * x[k][j];
        out[i][j] += s;
      }
    }
  }
  return out;
}
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('Shampoo roots', () => {
  const rng = new Rng(11);
  const grads = Array.from({ length: 6 }, () => randomMatrix(rng, 3, 5));
  const p0 = new Tensor(new Float64Array(15), [3, 5]);

  it("equal the eigh roots of the summed statistics (floored at eps·λ_max; R is rank-deficient)", () => {
    // 6 gradients of rank 3 in 5 columns: R = Σ GᵀG has rank ≤ 5 but each step's is 3.
    const { state } = runAll(shampoo<Tensor>({ preconditionPeriod: 3, eps: 1e-6 }), p0, grads);
    const s = (state.inner as PyTree[])[0] as { direction: ShampooState };
    const block = s.direction.leaves[0][0];
    assertClose(block.left.data, gramSum(grads, 'left').flat(), 1e-12, 'L');
    assertClose(block.leftRoot.data, referenceRoot(gramSum(grads, 'left'), 4, 1e-6).flat(), 1e-9, 'L^(-1/4)');
    assertClose(block.rightRoot.data, referenceRoot(gramSum(grads, 'right'), 4, 1e-6).flat(), 1e-9, 'R^(-1/4)');
  });

  it("rootMethod 'newton' gives the eigh roots to 1e-6 (rootOrder 2 and 4)", () => {
    for (const rootOrder of [2, 4]) {
      const get = (rootMethod: 'eigh' | 'newton') => {
        const { state } = runAll(shampoo<Tensor>({ preconditionPeriod: 6, rootOrder, rootMethod, eps: 1e-8 }), p0, grads.map((g) => g.clone()));
        return ((state.inner as PyTree[])[0] as { direction: ShampooState }).direction.leaves[0][0];
      };
      const e = get('eigh');
      const n = get('newton');
      // R has full rank 5 after 6 steps: the floor and the ridge are both negligible.
      assertClose(n.leftRoot.data, e.leftRoot.data, 1e-6, `L root p=${rootOrder}`);
      assertClose(n.rightRoot.data, e.rightRoot.data, 1e-6, `R root p=${rootOrder}`);
    }
  });
});

describe('Shampoo steps', () => {
  it('two steps worked by hand (diagonal gradients, SGD grafting, no momentum)', () => {
    // G₁ = diag(3, −4): L = diag(9, 16) = R, L^(-1/4) G R^(-1/4) = diag(1, −1), norm √2;
    // SGD grafting rescales it to ‖G₁‖ = 5: Δ₁ = −lr·(5/√2)·diag(1, −1).
    // G₂ = I: L = R = diag(10, 17), direction diag(1/√10, 1/√17), rescaled to ‖G₂‖ = √2.
    const lr = 0.1;
    const g1 = tensor([[3, 0], [0, -4]], undefined, f64);
    const g2 = tensor([[1, 0], [0, 1]], undefined, f64);
    const opt = shampoo<Tensor>({ lr, momentum: 0, grafting: 'sgd', preconditionPeriod: 1 });
    const { params } = runAll(opt, tensor([[0, 0], [0, 0]], undefined, f64), [g1, g2]);
    const s1 = 5 / Math.SQRT2;
    assertClose(params[0].toFlatArray(), [-lr * s1, 0, 0, lr * s1], 1e-12, 'step 1');
    const d = [1 / Math.sqrt(10), 1 / Math.sqrt(17)];
    const k = Math.SQRT2 / Math.hypot(d[0], d[1]);
    assertClose(params[1].toFlatArray(), [-lr * s1 - lr * k * d[0], 0, 0, lr * s1 - lr * k * d[1]], 1e-12, 'step 2');
  });

  it("takes Adam's steps (β₁ = 0) before its first roots and on 1-D tensors always", () => {
    const rng = new Rng(2);
    type P = { w: Tensor; b: Tensor };
    const grads: P[] = Array.from({ length: 5 }, () => ({ w: randomMatrix(rng, 3, 2), b: new Tensor(Float64Array.from([rng.nextNormal(), rng.nextNormal()]), [2]) }));
    const p0: P = { w: new Tensor(new Float64Array(6), [3, 2]), b: new Tensor(new Float64Array(2), [2]) };
    const sh = runAll(shampoo<P>({ lr: 0.01, momentum: 0, preconditionPeriod: 3 }), p0, grads).params;
    const ad = runAll(adam<P>({ lr: 0.01, b1: 0 }), p0, grads).params;
    for (let k = 0; k < 5; k++) assertClose(sh[k].b.data, ad[k].b.data, 1e-12, `bias, step ${k}`);
    for (let k = 0; k < 2; k++) assertClose(sh[k].w.data, ad[k].w.data, 1e-12, `weight before roots, step ${k}`);
    assert.ok(Math.abs(sh[2].w.data[0] - ad[2].w.data[0]) > 1e-6, 'the third step uses the roots');
  });

  it('blocks are independent: a 4x6 weight with blockSize 3 gets the directions of its four 2x3 sub-matrices preconditioned alone', () => {
    const rng = new Rng(7);
    const grads = Array.from({ length: 4 }, () => randomMatrix(rng, 4, 6));
    const sub = (g: Tensor, r0: number, c0: number) => new Tensor(Float64Array.from({ length: 6 }, (_, k) => g.data[(r0 + Math.floor(k / 3)) * 6 + c0 + (k % 3)]), [2, 3]);
    const corners = [[0, 0], [0, 3], [2, 0], [2, 3]];
    const ctx = <P extends PyTree>(step: number): UpdateContext<P> => ({ step, loss: 1, objective: sequence<P>([]), counters: { evals: 0, curvatureProducts: 0 }, events: [] });
    const whole = shampooPreconditioner<Tensor>({ blockSize: 3, preconditionPeriod: 2 });
    const parts = shampooPreconditioner<Tensor[]>({ blockSize: 3, preconditionPeriod: 2 });
    let sw = whole.init(grads[0]);
    let sp = parts.init(corners.map(([r, c]) => sub(grads[0], r, c)));
    assert.equal(sw.leaves[0].length, 4);
    grads.forEach((g, k) => {
      const [dw, nsw] = whole.update(g, sw, g, ctx(k));
      const gp = corners.map(([r, c]) => sub(g, r, c));
      const [dp, nsp] = parts.update(gp, sp, gp, ctx(k));
      sw = nsw;
      sp = nsp;
      assert.equal(whole.preconditions?.(sw, 0), k >= 1);
      corners.forEach(([r, c], b) => assertClose(sub(dw, r, c).data, dp[b].data, 1e-12, `step ${k} block ${b}`));
    });
  });

  it('momentum is a bias-corrected EMA of the grafted steps, and weight decay shrinks by lr·wd (SGD grafting, before roots)', () => {
    const lr = 0.1;
    const mu = 0.9;
    const wd = 0.5;
    const g1 = tensor([[1, 2], [3, 4]], undefined, f64);
    const g2 = tensor([[-2, 0], [1, 1]], undefined, f64);
    const p0 = tensor([[1, -1], [2, 0]], undefined, f64);
    const opt = shampoo<Tensor>({ lr, momentum: mu, weightDecay: wd, grafting: 'sgd', preconditionPeriod: 100 });
    const { params } = runAll(opt, p0, [g1, g2]);
    // m₁ = (1−μ)g₁ / (1−μ) = g₁; m₂ = (μ(1−μ)g₁ + (1−μ)g₂) / (1−μ²).
    const x1 = p0.toFlatArray().map((x, i) => x - lr * (g1.data[i] + wd * x));
    const m2 = g1.toFlatArray().map((a, i) => (mu * (1 - mu) * a + (1 - mu) * g2.data[i]) / (1 - mu * mu));
    const x2 = x1.map((x, i) => x - lr * (m2[i] + wd * x));
    assertClose(params[0].toFlatArray(), x1, 1e-12, 'step 1');
    assertClose(params[1].toFlatArray(), x2, 1e-12, 'step 2');
  });

  it('a zero gradient gives a zero step and no NaN in parameters or state', () => {
    const z = new Tensor(new Float64Array(6), [2, 3]);
    const { params, state } = runAll(shampoo<Tensor>({ preconditionPeriod: 1 }), z.clone(), [z, z, z]);
    assert.ok(params[2].toFlatArray().every((v) => v === 0));
    const s = ((state.inner as PyTree[])[0] as { direction: ShampooState }).direction.leaves[0][0];
    assert.ok([s.left, s.right, s.leftRoot, s.rightRoot].every((t) => t.toFlatArray().every(Number.isFinite)));
  });
});

describe('Shampoo options', () => {
  for (const [opts, name] of [
    [{ blockSize: 0 }, 'blockSize'], [{ rootOrder: 3 }, 'rootOrder'], [{ rootOrder: 0 }, 'rootOrder'], [{ preconditionPeriod: 0 }, 'preconditionPeriod'],
    [{ rootMethod: 'svd' }, 'rootMethod'], [{ grafting: 'lion' }, 'grafting'], [{ eps: 0 }, 'eps'], [{ statisticsDecay: 0 }, 'statisticsDecay'],
  ] as const) {
    it(`rejects ${JSON.stringify(opts)} naming '${name}'`, () => {
      assert.throws(() => shampoo(opts as Record<string, unknown>), (e: Error) => e.message.includes(`'${name}'`));
    });
  }
});

/**
 * Each first-order baseline against a step worked by hand from its published update rule
 * (and PyTorch's conventions), plus schedules and the composable pieces.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor } from '../../tensor/tensor.js';
import type { Objective } from '../types.js';
import { adagrad, adam, adamw, momentum, rmsprop, sgd } from './baselines.js';
import { cosineDecay, stepDecay, warmup } from '../schedules.js';
import { chain, clipByGlobalNorm, scaleByLearningRate } from '../transforms.js';
import { createOptimizer } from '../optimizer.js';

const f64 = { dtype: 'float64' as const };
/** A fixed gradient sequence, whatever the parameters. */
function gradients(seq: number[][]): Objective<Tensor> {
  let i = 0;
  return { valueAndGrad: () => [1, tensor(seq[Math.min(i++, seq.length - 1)], undefined, f64)] };
}

function run(opt: ReturnType<typeof sgd>, x0: number[], seq: number[][]): number[][] {
  let x: Tensor = tensor(x0, undefined, f64);
  let state = opt.init(x);
  const obj = gradients(seq);
  const out: number[][] = [];
  for (let k = 0; k < seq.length; k++) {
    const r = opt.step(x, state, obj);
    x = r.params as Tensor;
    state = r.state;
    out.push(x.toFlatArray());
  }
  return out;
}

const close = (a: number[][], b: number[][], tol = 1e-12) => a.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - b[i][j]) <= tol, `step ${i} [${j}]: ${v} vs ${b[i][j]}`)));

describe('first-order baselines, worked by hand', () => {
  const g = [[1, -2], [0.5, 0.5]];

  it('sgd: x ← x − lr·(g + λx)', () => {
    close(run(sgd({ lr: 0.1 }), [1, 1], g), [[0.9, 1.2], [0.85, 1.15]]);
    // coupled weight decay 0.5: g1 = [1 + 0.5, -2 + 0.5] → x1 = [0.85, 1.15]
    close(run(sgd({ lr: 0.1, weightDecay: 0.5 }), [1, 1], [[1, -2]]), [[0.85, 1.15]]);
  });

  it('momentum: buffer b ← μb + g (b = g first), x ← x − lr·b; Nesterov uses g + μb', () => {
    // b1 = [1,-2] → x1 = [0.9, 1.2]; b2 = 0.9*[1,-2] + [0.5,0.5] = [1.4,-1.3] → x2 = [0.76, 1.33]
    close(run(momentum({ lr: 0.1, momentum: 0.9 }), [1, 1], g), [[0.9, 1.2], [0.76, 1.33]]);
    // nesterov: u1 = g1 + 0.9 b1 = [1.9, -3.8] → x1 = [0.81, 1.38]; u2 = [0.5,0.5] + 0.9*[1.4,-1.3] = [1.76, -0.67] → x2 = [0.634, 1.447]
    close(run(momentum({ lr: 0.1, momentum: 0.9, nesterov: true }), [1, 1], g), [[0.81, 1.38], [0.634, 1.447]]);
  });

  it('adam: bias-corrected moments (Kingma & Ba, Alg. 1)', () => {
    // step 1: m̂ = g, v̂ = g², update = g/(|g| + eps) ≈ sign(g) → x1 = x0 − lr·sign(g)
    const lr = 0.01;
    const eps = 1e-8;
    const m1 = [1, -2].map((v) => 0.1 * v);
    const v1 = [1, -2].map((v) => 0.001 * v * v);
    const x1 = [1, 1].map((x, i) => x - lr * (m1[i] / 0.1) / (Math.sqrt(v1[i] / 0.001) + eps));
    const m2 = m1.map((m, i) => 0.9 * m + 0.1 * g[1][i]);
    const v2 = v1.map((v, i) => 0.999 * v + 0.001 * g[1][i] ** 2);
    const c1 = 1 - 0.9 ** 2;
    const c2 = 1 - 0.999 ** 2;
    const x2 = x1.map((x, i) => x - lr * (m2[i] / c1) / (Math.sqrt(v2[i] / c2) + eps));
    close(run(adam({ lr }), [1, 1], g), [x1, x2]);
  });

  it('adamw: decoupled decay x ← x − lr·(adam update + λx)', () => {
    const lr = 0.01;
    const wd = 0.1;
    const x1 = [1, 1].map((x, i) => x - lr * (Math.sign(g[0][i]) * (Math.abs(g[0][i]) / (Math.abs(g[0][i]) + 1e-8)) + wd * x));
    close(run(adamw({ lr, weightDecay: wd }), [1, 1], [g[0]]), [x1]);
  });

  it('rmsprop: v ← αv + (1−α)g², x ← x − lr·g/(sqrt(v) + eps)', () => {
    const v1 = [1, 4].map((v) => 0.01 * v);
    const x1 = [1, 1].map((x, i) => x - 0.01 * g[0][i] / (Math.sqrt(v1[i]) + 1e-8));
    close(run(rmsprop(), [1, 1], [g[0]]), [x1]);
  });

  it('adagrad: s ← s + g², x ← x − lr·g/(sqrt(s) + eps)', () => {
    const x1 = [1, 1].map((x, i) => x - 0.1 * g[0][i] / (Math.abs(g[0][i]) + 1e-10));
    const s2 = [1 + 0.25, 4 + 0.25];
    const x2 = x1.map((x, i) => x - 0.1 * g[1][i] / (Math.sqrt(s2[i]) + 1e-10));
    close(run(adagrad({ lr: 0.1 }), [1, 1], g), [x1, x2]);
  });

  it('options are validated when the optimizer is built, naming the option and the range', () => {
    assert.throws(() => adam({ lr: -1 }), /adam: option 'lr' must be a finite number >= 0, got -1/);
    assert.throws(() => adam({ b1: 1 }), /adam: option 'b1' must be a finite number >= 0 < 1, got 1/);
    assert.throws(() => sgd({ learningRate: 0.1 } as never), /sgd: unknown option 'learningRate'; known options: lr, weightDecay, clipNorm/);
    assert.throws(() => momentum({ nesterov: 'yes' as never }), /option 'nesterov' must be true or false/);
    assert.throws(() => sgd().step(tensor([1]), sgd().init(tensor([1])), {} as never), /needs an objective with valueAndGrad/);
  });
});

describe('schedules and composition', () => {
  it('step, cosine and warm-up schedules', () => {
    const s = stepDecay(1, 10, 0.5);
    assert.deepEqual([s(0), s(9), s(10), s(25)], [1, 1, 0.5, 0.25]);
    const c = cosineDecay(2, 100, 0.1);
    assert.equal(c(0), 2);
    assert.ok(Math.abs(c(50) - (0.9 * 0.5 * 2 + 0.2)) < 1e-12);
    assert.ok(Math.abs(c(100) - 0.2) < 1e-12 && Math.abs(c(1000) - 0.2) < 1e-12);
    const w = warmup(4, 1);
    assert.deepEqual([0, 1, 2, 3, 4, 9].map(w), [0.2, 0.4, 0.6, 0.8, 1, 1]);
  });

  it('a schedule drives the learning rate; clipping composes in a chain', () => {
    const opt = sgd({ lr: (step) => (step === 0 ? 0.1 : 0.01) });
    close(run(opt, [0, 0], [[1, 1], [1, 1]]), [[-0.1, -0.1], [-0.11, -0.11]]);
    const clipped = createOptimizer('clipped-sgd', chain(clipByGlobalNorm(1), scaleByLearningRate(1)), {});
    close(run(clipped as ReturnType<typeof sgd>, [0, 0], [[3, 4]]), [[-0.6, -0.8]]);
  });
});

/**
 * The Fisher operator: the empirical one equals w Σ_i ∇L_i ∇L_iᵀ from per-example gradients
 * (each by its own backward pass on a batch of one); the true one is one fixed symmetric PSD
 * matrix per seed, the empirical Fisher at the targets the seed samples, and its expectation
 * over the model's predictive distribution (by enumerating classes) is the GGN; bad options are
 * named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../tensor/tensor.js';
import { Rng } from '../../tensor/random.js';
import { eigh } from '../../tensor/linalg.js';
import { grad } from '../../autodiff/vjp.js';
import { slice } from '../../autodiff/ops.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { Linear, Tanh } from '../../nn/layers.js';
import { Sequential } from '../../nn/module.js';
import { softmaxCrossEntropy } from '../../nn/losses.js';
import { fisher } from './fisher.js';
import { ggn } from './ggn.js';

const f64 = { dtype: 'float64' as const };
const N = 5;
const net = new Sequential([new Linear(2, 2), new Tanh(), new Linear(2, 3)]);
const params = net.init(new Rng(12), f64);
const x = new Rng(13).normal([N, 2], f64);
const y = new Tensor(Float64Array.from([0, 2, 1, 1, 0]), [N]);
const loss = softmaxCrossEntropy();

function frobRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

test('the empirical Fisher equals the weighted outer products of per-example gradients', () => {
  const op = fisher(net, loss, params, { x, y }, { kind: 'empirical' });
  const n = op.size;
  const want = new Float64Array(n * n);
  const w = 1 / N; // the mean reduction's batch weight
  for (let i = 0; i < N; i++) {
    // The loss of example i alone (a batch of one: its mean is its own loss).
    const gi = treeLeaves(grad((p: PyTree[]) => loss.value(net.apply(p, slice(x, [i], [i + 1])), slice(y, [i], [i + 1])))(params)).flatMap((l) => Array.from(l.data));
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) want[a * n + b] += w * gi[a] * gi[b];
  }
  const got = op.toDense().data;
  for (let i = 0; i < n * n; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-13, `entry ${i}: ${got[i]} vs ${want[i]}`);
});

test('the true Fisher is a fixed symmetric PSD matrix per seed and differs between seeds', () => {
  const a = fisher(net, loss, params, { x, y }, { seed: 3 });
  assert.equal(a.psd, true);
  const d1 = a.toDense();
  const d2 = a.toDense();
  assert.deepEqual(Array.from(d1.data), Array.from(d2.data));
  const n = a.size;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.ok(Math.abs(d1.data[i * n + j] - d1.data[j * n + i]) < 1e-14);
  assert.ok(eigh(d1).eigenvalues.data[0] > -1e-14);
  const other = fisher(net, loss, params, { x, y }, { seed: 4 }).toDense();
  assert.ok(frobRel(other.data, d1.data) > 1e-3);
});

test('the true Fisher of a seed is the empirical Fisher at the targets that seed samples from the model', () => {
  const z = net.apply(params, x);
  for (const seed of [0, 5]) {
    const sampled = loss.sampleTargets(z, new Rng(seed));
    const want = fisher(net, loss, params, { x, y: sampled }, { kind: 'empirical' }).toDense().data;
    const got = fisher(net, loss, params, { x, y }, { seed }).toDense().data;
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-15, `seed ${seed} entry ${i}`);
  }
});

test("the Fisher's expectation over the model's predictive distribution is the GGN (exact, by enumerating classes)", () => {
  // E_y[F] = w Σ_i Σ_c p_i(c) ∇L_i(c) ∇L_i(c)ᵀ; each term is the empirical Fisher of example i
  // alone with target c (batch weight 1 there, 1/N in the batch).
  const G = ggn(net, loss, params, { x, y }).toDense().data;
  const expect = new Float64Array(G.length);
  const z = net.apply(params, x).data;
  for (let i = 0; i < N; i++) {
    const row = [0, 1, 2].map((c) => Math.exp(z[i * 3 + c]));
    const total = row.reduce((a, b) => a + b, 0);
    for (let c = 0; c < 3; c++) {
      const Fi = fisher(net, loss, params, { x: slice(x, [i], [i + 1]), y: new Tensor(Float64Array.from([c]), [1]) }, { kind: 'empirical' }).toDense().data;
      for (let k = 0; k < G.length; k++) expect[k] += (row[c] / total / N) * Fi[k];
    }
  }
  assert.ok(frobRel(expect, G) < 1e-12, `relative error ${frobRel(expect, G)}`);
  // A single sampled Fisher is only an estimate of it.
  assert.ok(frobRel(fisher(net, loss, params, { x, y }, { seed: 1 }).toDense().data, G) > 1e-3);
});

test('bad options name the fisher operator and what it expected', () => {
  assert.throws(() => fisher(net, loss, params, { x, y }, { kind: 'exact' as 'true' }), /fisher: option 'kind' must be 'true' or 'empirical', got "exact"/);
  assert.throws(() => fisher(net, loss, params, { x, y }, { seed: 0.5 }), /fisher: option 'seed' must be an integer, got 0.5/);
  assert.throws(() => fisher(net, loss, params, { x, y }, { samples: 3 } as object), /fisher: unknown option 'samples'; known: kind, seed/);
  assert.throws(() => fisher(net, loss, params, { x: x, y: slice(y, [0], [3]) }), /fisher: batch inputs \[5, 2\] and targets \[3\] must share their first \(batch\) axis/);
});

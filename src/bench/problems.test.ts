/**
 * The benchmark problems' mini-batch order: a function of (seed, step) that matches seeded
 * epoch permutations drawn in sequence, whatever order the batches are asked for in, and that
 * keeps memory bounded however many epochs a run covers (issue 10, item 6).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Rng } from '../tensor/random.js';
import { gather } from '../tensor/shape-ops.js';
import { kfacObjective } from '../optim/kronecker/kfac-objective.js';
import type { Module } from '../nn/module.js';
import type { Loss } from '../nn/losses.js';
import { epochOrders, problemById } from './problems.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

it('epoch e is the e-th permutation of a generator seeded once, asked for in any order', () => {
  const n = 37;
  const oracle = new Rng(5);
  const expected = Array.from({ length: 12 }, () => oracle.permutation(n));
  const orders = epochOrders(n, 5);
  for (const e of [0, 3, 3, 11, 2, 0, 7, 11, 1]) assert.deepEqual(orders(e), expected[e], `epoch ${e}`);
  assert.throws(() => orders(-1), /epoch must be a non-negative integer/);
  assert.throws(() => orders(1.5), /epoch must be a non-negative integer/);
});

it('a problem batch k is the loss on the rows of its epoch permutation, the same on a fresh instance (resume)', () => {
  const seed = 3;
  const b = 100;
  const a = problemById('mlp-spirals').build(seed);
  const fresh = problemById('mlp-spirals').build(seed);
  const train = a.data?.train;
  assert.ok(train !== undefined && a.model !== undefined && a.loss !== undefined);
  const oracle = new Rng(seed + 1);
  const perms = Array.from({ length: 4 }, () => oracle.permutation(512));
  const per = Math.floor(512 / b);
  const oracleLoss = (k: number) => {
    const idx = perms[Math.floor(k / per)].slice((k % per) * b, (k % per + 1) * b);
    return kfacObjective(a.model as Module, a.loss as Loss, { x: gather(train.x, idx, 0), y: gather(train.y, idx, 0) }).valueAndGrad(a.params)[0];
  };
  const ks = [0, 4, 5, 13, 19];
  const losses = ks.map((k) => a.batch(k, b).valueAndGrad(a.params)[0]);
  ks.forEach((k, i) => assert.equal(losses[i], oracleLoss(k), `batch ${k}`));
  // A resumed run asks a fresh instance for late batches first: same batches, same losses.
  for (let i = ks.length - 1; i >= 0; i--) assert.equal(fresh.batch(ks[i], b).valueAndGrad(fresh.params)[0], losses[i], `batch ${ks[i]} on a fresh instance`);
});

it('asking for 40,000 mini-batches (10,000 epochs) keeps the heap bounded', () => {
  const inst = problemById('mlp-spirals').build(1);
  for (let k = 0; k < 2000; k++) inst.batch(k, 128);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let k = 2000; k < 42000; k++) inst.batch(k, 128);
  gc();
  const grown = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  // The instance is still in use here, so the GC could not have dropped what it holds.
  assert.ok(Number.isFinite(inst.batch(0, 128).valueAndGrad(inst.params)[0]));
  // Keeping every epoch's order costs 10,000 × 512 indices (≥ 20 MiB); one epoch is 4 KiB.
  assert.ok(grown < 4, `heap grew by ${grown.toFixed(1)} MiB over 10,000 epochs`);
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../tensor/tensor.js';
import { SEQUENCE_TASKS, generateSequenceTask, sequenceTask, sequenceTaskError } from './sequence-tasks.js';

const T = 40;
const n = 200;

/** x[i, t, k] of a generated batch. */
function reader(x: Tensor) {
  const [, steps, f] = x.shape;
  return (i: number, t: number, k: number) => x.data[(i * steps + t) * f + k];
}

/** The answers a perfect model gives, as the model's output layout [n, steps·outputs]. */
function perfectOutputs(name: string, y: Tensor): Tensor {
  const spec = sequenceTask(name);
  const width = spec.outputSteps * spec.outputSize;
  const z = new Float64Array(y.shape[0] * width);
  for (let i = 0; i < y.shape[0]; i++) {
    if (spec.kind === 'regression') z[i] = y.data[i];
    else if (spec.kind === 'binary') for (let k = 0; k < spec.outputSteps; k++) z[i * width + k] = y.data[i * spec.outputSteps + k] === 1 ? 3 : -3;
    else z[i * width + y.data[i]] = 5;
  }
  return new Tensor(z, [y.shape[0], width]);
}

describe('sequence tasks (Hochreiter & Schmidhuber 1997, as in Martens & Sutskever 2011)', () => {
  it('every task: shapes, one seed one dataset, another seed another', () => {
    for (const name of SEQUENCE_TASKS) {
      const spec = sequenceTask(name);
      const a = generateSequenceTask(name, { n, length: T, seed: 1 });
      assert.deepEqual(a.x.shape, [n, T, spec.inputSize]);
      assert.deepEqual(a.y.shape, spec.kind === 'classification' ? [n] : [n, spec.outputSteps]);
      assert.deepEqual(generateSequenceTask(name, { n, length: T, seed: 1 }).x.toFlatArray(), a.x.toFlatArray());
      assert.notDeepEqual(generateSequenceTask(name, { n, length: T, seed: 2 }).x.toFlatArray(), a.x.toFlatArray());
      assert.equal(sequenceTaskError(name, perfectOutputs(name, a.y), a.y), 0, `${name}: the perfect answers make no errors`);
    }
  });

  // The windows of the marked steps, written out from the sources (not read from the module):
  // [first step, one past the last] at length T.
  const window = (a: number, w: number, steps: number): [number, number] => [Math.floor(a * steps), Math.floor(a * steps) + Math.floor(w * steps)];
  const PAPER_WINDOWS: Record<string, [number, number][]> = {
    addition: [[0, 0.1], [0.1, 0.4]],
    'temporal-order-2': [[0.1, 0.1], [0.5, 0.1]],
    'temporal-order-3': [[0.1, 0.1], [0.3, 0.1], [0.6, 0.1]],
  };

  it('addition, multiplication, xor: two markers, one in [0, 0.1T), one in [0.1T, 0.5T), every step of each window used; the target is the mean, product, xor of the marked values', () => {
    for (const name of ['addition', 'multiplication', 'xor']) {
      const big = 2000;
      const { x, y } = generateSequenceTask(name, { n: big, length: T, seed: 3 });
      const at = reader(x);
      const [w1, w2] = PAPER_WINDOWS.addition.map(([a, w]) => window(a, w, T));
      const seen = [new Set<number>(), new Set<number>()];
      for (let i = 0; i < big; i++) {
        const marked = [];
        for (let t = 0; t < T; t++) {
          const m = at(i, t, 1);
          assert.ok(m === 0 || m === 1);
          if (m === 1) marked.push(t);
        }
        assert.equal(marked.length, 2);
        assert.ok(marked[0] >= w1[0] && marked[0] < w1[1] && marked[1] >= w2[0] && marked[1] < w2[1], `${name}: markers at ${marked}`);
        seen[0].add(marked[0]);
        seen[1].add(marked[1]);
        const [a, b] = marked.map((t) => at(i, t, 0));
        if (name === 'xor') assert.ok((a === 0 || a === 1) && (b === 0 || b === 1));
        else assert.ok(a >= 0 && a < 1 && b >= 0 && b < 1);
        const expected = name === 'addition' ? (a + b) / 2 : name === 'multiplication' ? a * b : a !== b ? 1 : 0;
        assert.ok(Math.abs(y.data[i] - expected) < 1e-6);
      }
      assert.equal(seen[0].size, w1[1] - w1[0], `${name}: the first marker covers its window`);
      assert.equal(seen[1].size, w2[1] - w2[0], `${name}: the second marker covers its window`);
    }
  });

  it('temporal order: one-hot symbols, the bit symbols (channels 0, 1) only once in each window, every step of a window used; the class is v0 + 2 v1 (+ 4 v2)', () => {
    for (const name of ['temporal-order-2', 'temporal-order-3']) {
      const windows = PAPER_WINDOWS[name].map(([a, w]) => window(a, w, T));
      const big = 1000;
      const { x, y } = generateSequenceTask(name, { n: big, length: T, seed: 4 });
      const at = reader(x);
      const seen = windows.map(() => new Set<number>());
      const classes = new Set<number>();
      for (let i = 0; i < big; i++) {
        const bits: number[] = [];
        for (let t = 0; t < T; t++) {
          let ones = 0;
          for (let k = 0; k < 6; k++) ones += at(i, t, k);
          assert.equal(ones, 1);
          const bit = at(i, t, 0) === 1 ? 0 : at(i, t, 1) === 1 ? 1 : -1;
          if (bit < 0) continue;
          const w = windows[bits.length];
          assert.ok(w !== undefined && t >= w[0] && t < w[1], `${name}: a bit symbol at step ${t}`);
          seen[bits.length].add(t);
          bits.push(bit);
        }
        assert.equal(bits.length, windows.length);
        assert.equal(y.data[i], bits.reduce((c, b, j) => c + b * 2 ** j, 0));
        classes.add(y.data[i]);
      }
      windows.forEach((w, j) => assert.equal(seen[j].size, w[1] - w[0], `${name}: window ${j} covered`));
      assert.equal(classes.size, 2 ** windows.length);
    }
  });

  it('every length from the task\'s minimum up is generated with the markers inside the sequence; shorter is refused naming the minimum', () => {
    for (const name of SEQUENCE_TASKS) {
      const spec = sequenceTask(name);
      for (let steps = spec.minLength; steps <= 60; steps++) {
        const { x, y } = generateSequenceTask(name, { n: 20, length: steps, seed: steps });
        assert.deepEqual(x.shape, [20, steps, spec.inputSize]);
        assert.ok(x.toFlatArray().every(Number.isFinite) && y.toFlatArray().every(Number.isFinite));
        assert.equal(sequenceTaskError(name, perfectOutputs(name, y), y), 0, `${name} at T = ${steps}`);
        if (spec.kind !== 'regression' && name !== 'xor') continue;
        const at = reader(x);
        for (let i = 0; i < 20; i++) {
          let marked = 0;
          for (let t = 0; t < steps; t++) marked += at(i, t, 1);
          assert.equal(marked, 2, `${name} at T = ${steps}: two distinct marked steps`);
        }
      }
      assert.throws(() => generateSequenceTask(name, { n: 1, length: spec.minLength - 1, seed: 0 }), new RegExp(`length must be an integer >= ${spec.minLength}, got ${spec.minLength - 1}`));
    }
  });

  it('random permutation: the target is the first symbol (0 or 1), later symbols come from 2..99', () => {
    const { x, y } = generateSequenceTask('random-permutation', { n, length: T, seed: 5 });
    const at = reader(x);
    for (let i = 0; i < n; i++) {
      assert.equal(at(i, 0, y.data[i]), 1);
      for (let t = 1; t < T; t++) { assert.equal(at(i, t, 0), 0); assert.equal(at(i, t, 1), 0); }
    }
  });

  it('memorization: 5 bits first, the trigger at T - 6, blanks elsewhere; the targets are the bits', () => {
    const { x, y } = generateSequenceTask('memorization', { n, length: T, seed: 6 });
    const at = reader(x);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < 5; t++) assert.equal(at(i, t, y.data[i * 5 + t]), 1);
      for (let t = 5; t < T; t++) assert.equal(at(i, t, t === T - 6 ? 3 : 2), 1);
    }
  });

  it('the error counts a sequence wrong by the papers\' criteria (0.04 for regression, any wrong bit)', () => {
    const y = new Tensor(Float64Array.from([0.5, 1.0, 1.5, 0.2]), [4, 1]);
    const z = new Tensor(Float64Array.from([0.539, 1.05, 1.5, NaN]), [4, 1]);
    assert.equal(sequenceTaskError('addition', z, y), 0.5);
    const bits = new Tensor(Float64Array.from([1, 0, 1, 1, 0, 1, 0, 1, 1, 0]), [2, 5]);
    const logits = new Tensor(Float64Array.from([2, -1, 3, 1, -2, 2, -1, 1, 1, 0.5]), [2, 5]);
    assert.equal(sequenceTaskError('memorization', logits, bits), 0.5);
    assert.throws(() => sequenceTaskError('temporal-order-2', new Tensor(new Float64Array(6), [2, 3]), new Tensor(new Float64Array(2), [2])), /outputs must be \[2, 4\], got \[2, 3\]/);
  });

  it('bad names and lengths get errors naming them', () => {
    assert.throws(() => generateSequenceTask('adding', { n: 1, length: 10, seed: 0 }), /unknown sequence task 'adding'; valid: addition/);
    assert.throws(() => generateSequenceTask('memorization', { n: 1, length: 10, seed: 0 }), /memorization': length must be an integer >= 11, got 10/);
    assert.throws(() => generateSequenceTask('xor', { n: 0, length: 10, seed: 0 }), /n must be a positive integer/);
  });
});

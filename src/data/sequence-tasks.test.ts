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

  it('addition, multiplication, xor: two markers, one in the first 10%, one in the second half; the target is their sum, product, xor', () => {
    for (const name of ['addition', 'multiplication', 'xor']) {
      const { x, y } = generateSequenceTask(name, { n, length: T, seed: 3 });
      const at = reader(x);
      for (let i = 0; i < n; i++) {
        const marked = [];
        for (let t = 0; t < T; t++) if (at(i, t, 1) === 1) marked.push(t);
        assert.equal(marked.length, 2);
        assert.ok(marked[0] < T / 10 && marked[1] >= T / 2, `${name}: markers at ${marked}`);
        const [a, b] = marked.map((t) => at(i, t, 0));
        const expected = name === 'addition' ? a + b : name === 'multiplication' ? a * b : a !== b ? 1 : 0;
        assert.ok(Math.abs(y.data[i] - expected) < 1e-6);
      }
    }
  });

  it('temporal order: one-hot symbols, X/Y only in the windows, the class reads them in order', () => {
    for (const [name, windows] of [['temporal-order-2', [[0.1, 0.2], [0.5, 0.6]]], ['temporal-order-3', [[0.1, 0.2], [0.33, 0.43], [0.66, 0.76]]]] as const) {
      const { x, y } = generateSequenceTask(name, { n, length: T, seed: 4 });
      const at = reader(x);
      for (let i = 0; i < n; i++) {
        let cls = 0;
        let found = 0;
        for (let t = 0; t < T; t++) {
          let ones = 0;
          for (let k = 0; k < 6; k++) ones += at(i, t, k);
          assert.equal(ones, 1);
          const bit = at(i, t, 4) === 1 ? 0 : at(i, t, 5) === 1 ? 1 : -1;
          if (bit < 0) continue;
          const w = windows[found];
          assert.ok(t >= Math.floor(w[0] * T) && t < Math.floor(w[1] * T), `${name}: X/Y at step ${t}`);
          cls = 2 * cls + bit;
          found++;
        }
        assert.equal(found, windows.length);
        assert.equal(y.data[i], cls);
      }
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

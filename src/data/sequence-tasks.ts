/**
 * The pathological long-term-dependency tasks of Hochreiter & Schmidhuber (1997) in the form
 * Martens & Sutskever (2011, sec. 4) trained on, generated from a seed for any length T.
 * Inputs are `[N, T, F]` (batch first); the answer is due at the end of the sequence, and each
 * task says when an answer is wrong (the papers' success criterion: < 1% wrong on 10,000 fresh
 * sequences).
 *
 * Checked against: Hochreiter & Schmidhuber (1997), experiments 4–6 (addition, multiplication,
 * temporal order) for the criteria, and the task generators Pascanu, Mikolov & Bengio (2013)
 * published for "On the difficulty of training RNNs" (addition.py, tempOrder.py,
 * tempOrder3bit.py, permutation.py, republished in nmanchev/tptt), which restate Martens &
 * Sutskever's tasks with their marker windows. Per task below: what was checked, and where we
 * deviate on purpose. One deviation holds for all: every sequence has exactly T steps (Pascanu's
 * addition draws a length in [T, 1.1T) per batch), so that a batch is one `[N, T, F]` tensor and
 * T is the minimal lag the papers quote.
 *
 * - addition / multiplication: F = 2 (a value from U[0, 1], a marker bit); the first marked step
 *   is uniform in [0, ⌊0.1T⌋), the second in [⌊0.1T⌋, ⌊0.1T⌋ + ⌊0.4T⌋) (both in the first half,
 *   as in H&S's "one of the first T/2 − 1 pairs" and Pascanu's generator). The addition target is
 *   the mean of the two values (Pascanu's (a + b)/2, H&S's target range [0, 1] with their 0.04
 *   tolerance; M&S write "the sum": the mean keeps 0.04 at H&S's scale); multiplication's is the
 *   product. Squared-error loss, linear output; wrong when |output − target| > 0.04 (H&S).
 * - xor: as addition with random bits for values; the target is the XOR of the two marked bits
 *   (one logit, cross-entropy); wrong when the thresholded output differs.
 * - temporal-order-2 / -3: one-hot symbols (F = 6): the two bit symbols (H&S's X, Y; Pascanu's
 *   A, B) at channels 0, 1, distractors at 2..5; one bit symbol at a step uniform in each window
 *   [⌊aT⌋, ⌊aT⌋ + ⌊0.1T⌋) with a = 0.1, 0.5 (2-bit) or a = 0.1, 0.3, 0.6 (3-bit), as in Pascanu's
 *   generators; the class is v0 + 2·v1 (+ 4·v2) (4 or 8 classes, softmax cross-entropy); wrong
 *   when the argmax differs.
 * - random-permutation: one-hot symbols out of 100; the first is 0 or 1, the rest are drawn from
 *   2..99; the answer after the last step is the first symbol (100-way softmax, as Pascanu's
 *   generator); wrong when the argmax differs.
 * - memorization (noiseless): symbols {0, 1, blank, trigger} one-hot (F = 4); 5 random bits in
 *   the first 5 steps, blanks, the trigger at step T − 6, blanks; the 5 bits are due at the last
 *   5 steps (one logit each); wrong when any of the 5 is wrong. T is the whole length (≥ 11).
 *   Not checked: no public generator was found; this is M&S 2011's description as recalled
 *   (5 bits, blanks, a trigger, the bits back), with T counting every step.
 */
import type { DType } from '../kernels/types.js';
import { Tensor, allocate, describe } from '../tensor/tensor.js';
import { Rng } from '../tensor/random.js';

export const SEQUENCE_TASKS = ['addition', 'multiplication', 'xor', 'temporal-order-2', 'temporal-order-3', 'random-permutation', 'memorization'] as const;
export type SequenceTaskName = typeof SEQUENCE_TASKS[number];

/** How a task is scored and which loss fits it. */
export type SequenceTaskKind = 'regression' | 'binary' | 'classification';

export interface SequenceTaskSpec {
  readonly name: SequenceTaskName;
  readonly kind: SequenceTaskKind;
  /** Features per step. */
  readonly inputSize: number;
  /** Outputs per answering step (classes for classification). */
  readonly outputSize: number;
  /** How many final steps answer (memorization: 5, else 1). */
  readonly outputSteps: number;
  /** Shortest sequence the task is defined for. */
  readonly minLength: number;
}

const SPECS: Record<SequenceTaskName, SequenceTaskSpec> = {
  'addition': { name: 'addition', kind: 'regression', inputSize: 2, outputSize: 1, outputSteps: 1, minLength: 2 },
  'multiplication': { name: 'multiplication', kind: 'regression', inputSize: 2, outputSize: 1, outputSteps: 1, minLength: 2 },
  'xor': { name: 'xor', kind: 'binary', inputSize: 2, outputSize: 1, outputSteps: 1, minLength: 2 },
  'temporal-order-2': { name: 'temporal-order-2', kind: 'classification', inputSize: 6, outputSize: 4, outputSteps: 1, minLength: 10 },
  'temporal-order-3': { name: 'temporal-order-3', kind: 'classification', inputSize: 6, outputSize: 8, outputSteps: 1, minLength: 10 },
  'random-permutation': { name: 'random-permutation', kind: 'classification', inputSize: 100, outputSize: 100, outputSteps: 1, minLength: 2 },
  'memorization': { name: 'memorization', kind: 'binary', inputSize: 4, outputSize: 1, outputSteps: 5, minLength: 11 },
};

/** The task's shape and scoring, by name (throws on an unknown name, listing the valid ones). */
export function sequenceTask(name: string): SequenceTaskSpec {
  const s = (SPECS as Record<string, SequenceTaskSpec | undefined>)[name];
  if (s === undefined) throw new RangeError(`unknown sequence task ${describe(name)}; valid: ${SEQUENCE_TASKS.join(', ')}`);
  return s;
}

export interface SequenceTaskOptions {
  /** Number of sequences. */
  n: number;
  /** Sequence length T. */
  length: number;
  seed: number;
  dtype?: DType;
}

/** Sequences `x [n, T, F]` and targets `y` (regression/binary `[n, outputSteps]`, classification `[n]` class indices). */
export interface SequenceData {
  x: Tensor;
  y: Tensor;
}

/**
 * A step drawn uniformly from the window [⌊a·T⌋, ⌊a·T⌋ + ⌊w·T⌋) (Pascanu's `randint(int(l·w)) +
 * int(l·a)`); at the shortest lengths, where ⌊w·T⌋ = 0, the window is the one step ⌊a·T⌋.
 */
function stepIn(rng: Rng, steps: number, a: number, w: number): number {
  const lo = Math.floor(a * steps);
  return lo + rng.nextInt(Math.max(1, Math.floor(w * steps)));
}

/** The windows [a, a + w) of a task's marked steps, as fractions of T. */
export const MARKER_WINDOWS: Readonly<Record<string, readonly (readonly [number, number])[]>> = {
  'addition': [[0, 0.1], [0.1, 0.4]],
  'multiplication': [[0, 0.1], [0.1, 0.4]],
  'xor': [[0, 0.1], [0.1, 0.4]],
  'temporal-order-2': [[0.1, 0.1], [0.5, 0.1]],
  'temporal-order-3': [[0.1, 0.1], [0.3, 0.1], [0.6, 0.1]],
};

/** Generate `n` sequences of length `length` of a task, reproducibly from `seed`. */
export function generateSequenceTask(name: string, options: SequenceTaskOptions): SequenceData {
  const spec = sequenceTask(name);
  if (options === null || typeof options !== 'object') throw new TypeError(`generateSequenceTask: options must be {n, length, seed}, got ${describe(options)}`);
  const { n, length: steps, seed } = options;
  const dtype = options.dtype ?? 'float32';
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`generateSequenceTask '${name}': n must be a positive integer, got ${describe(n)}`);
  if (!Number.isInteger(steps) || steps < spec.minLength) throw new RangeError(`generateSequenceTask '${name}': length must be an integer >= ${spec.minLength}, got ${describe(steps)}`);
  if (!Number.isInteger(seed)) throw new RangeError(`generateSequenceTask '${name}': seed must be an integer, got ${describe(seed)}`);
  const rng = new Rng(seed);
  const f = spec.inputSize;
  const x = allocate(dtype, n * steps * f);
  const yCols = spec.kind === 'classification' ? 1 : spec.outputSteps;
  const y = allocate(dtype, n * yCols);
  const at = (i: number, t: number, k: number) => (i * steps + t) * f + k;
  for (let i = 0; i < n; i++) {
    switch (spec.name) {
      case 'addition': case 'multiplication': case 'xor': {
        for (let t = 0; t < steps; t++) x[at(i, t, 0)] = spec.name === 'xor' ? rng.nextInt(2) : rng.nextFloat();
        const [w1, w2] = MARKER_WINDOWS[spec.name];
        const t1 = stepIn(rng, steps, w1[0], w1[1]);
        // At T < 10 the first window is step 0 and the second could be too: take the next step.
        let t2 = stepIn(rng, steps, w2[0], w2[1]);
        if (t2 === t1) t2 = t1 + 1;
        x[at(i, t1, 1)] = 1;
        x[at(i, t2, 1)] = 1;
        const a = x[at(i, t1, 0)];
        const b = x[at(i, t2, 0)];
        y[i] = spec.name === 'addition' ? (a + b) / 2 : spec.name === 'multiplication' ? a * b : (a + b) % 2;
        break;
      }
      case 'temporal-order-2': case 'temporal-order-3': {
        for (let t = 0; t < steps; t++) x[at(i, t, 2 + rng.nextInt(4))] = 1;
        let cls = 0;
        MARKER_WINDOWS[spec.name].forEach(([a, w], j) => {
          const t = stepIn(rng, steps, a, w);
          const bit = rng.nextInt(2);
          for (let k = 0; k < f; k++) x[at(i, t, k)] = 0;
          x[at(i, t, bit)] = 1;
          cls += bit << j;
        });
        y[i] = cls;
        break;
      }
      case 'random-permutation': {
        const first = rng.nextInt(2);
        x[at(i, 0, first)] = 1;
        for (let t = 1; t < steps; t++) x[at(i, t, 2 + rng.nextInt(98))] = 1;
        y[i] = first;
        break;
      }
      case 'memorization': {
        for (let t = 0; t < steps; t++) x[at(i, t, 2)] = 1;
        for (let t = 0; t < 5; t++) {
          const bit = rng.nextInt(2);
          x[at(i, t, 2)] = 0;
          x[at(i, t, bit)] = 1;
          y[i * 5 + t] = bit;
        }
        x[at(i, steps - 6, 2)] = 0;
        x[at(i, steps - 6, 3)] = 1;
        break;
      }
    }
  }
  return { x: new Tensor(x, [n, steps, f]), y: new Tensor(y, spec.kind === 'classification' ? [n] : [n, yCols]) };
}

/**
 * The fraction of sequences answered wrongly by the papers' criterion: regression |z − y| > 0.04;
 * binary a logit on the wrong side of 0 for any answering step; classification argmax ≠ label.
 * `outputs` are the model's `[n, outputSteps·outputSize]`.
 */
export function sequenceTaskError(name: string, outputs: Tensor, targets: Tensor): number {
  const spec = sequenceTask(name);
  const n = targets.shape[0];
  const width = spec.outputSteps * spec.outputSize;
  if (!(outputs instanceof Tensor) || outputs.ndim !== 2 || outputs.shape[0] !== n || outputs.shape[1] !== width) {
    throw new RangeError(`sequenceTaskError '${name}': outputs must be [${n}, ${width}], got ${outputs instanceof Tensor ? `[${outputs.shape.join(', ')}]` : describe(outputs)}`);
  }
  const z = outputs.data;
  const y = targets.data;
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    let bad = false;
    if (spec.kind === 'regression') bad = !(Math.abs(z[i] - y[i]) <= 0.04);
    else if (spec.kind === 'binary') {
      for (let k = 0; k < spec.outputSteps; k++) if (!((z[i * width + k] > 0) === (y[i * spec.outputSteps + k] === 1))) bad = true;
    } else {
      let best = 0;
      for (let k = 1; k < width; k++) if (z[i * width + k] > z[i * width + best]) best = k;
      bad = best !== y[i] || !Number.isFinite(z[i * width + best]);
    }
    if (bad) wrong++;
  }
  return wrong / n;
}

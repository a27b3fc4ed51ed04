/**
 * A recurrent layer read out by a linear layer at the last `steps` time steps: the model of the
 * long-term-dependency tasks (Hochreiter & Schmidhuber 1997; Martens & Sutskever 2011), where
 * the answer is due at the end of the sequence. Outputs `[N, steps·outputSize]` (step-major).
 * `hiddenStates` exposes the recurrent states, which Hessian-free's structural damping penalizes.
 */
import type { DType } from '../kernels/types.js';
import { Tensor, describe } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';
import { reshape, slice } from '../autodiff/ops.js';
import { Linear, type LinearParams } from './layers.js';
import { Module, childContext, type ApplyContext, type InitOptions } from './module.js';
import type { GRU, LSTM, RNN, RecurrentParams } from './recurrent.js';

/** Parameters of a `SequenceReadout`: the recurrent layer's and the readout's. */
export interface SequenceReadoutParams {
  rnn: RecurrentParams;
  head: LinearParams;
  [key: string]: RecurrentParams | LinearParams;
}

export interface SequenceReadoutOptions {
  /** Read out at the last `steps` time steps (default 1: the last). */
  steps?: number;
}

/** `head(h_t)` for the last `steps` steps t of a recurrent layer's outputs. */
export class SequenceReadout extends Module<SequenceReadoutParams> {
  readonly steps: number;
  readonly head: Linear;

  constructor(readonly rnn: RNN | LSTM | GRU, readonly outputSize: number, options: SequenceReadoutOptions = {}) {
    super();
    if (rnn === null || typeof rnn !== 'object' || typeof (rnn as { forward?: unknown }).forward !== 'function') throw new TypeError(`SequenceReadout: expects an RNN, LSTM or GRU layer, got ${describe(rnn)}`);
    const steps = options.steps ?? 1;
    if (!Number.isInteger(steps) || steps <= 0) throw new RangeError(`SequenceReadout: steps must be a positive integer, got ${String(steps)}`);
    this.steps = steps;
    this.head = new Linear(rnn.hiddenSize, outputSize, { init: 'glorotUniform' });
  }

  toString(): string {
    return `SequenceReadout(${this.rnn.toString()}, last ${this.steps} step${this.steps > 1 ? 's' : ''} -> ${this.outputSize})`;
  }

  init(rng: Rng, options: InitOptions = {}): SequenceReadoutParams {
    const dtype: DType = options.dtype ?? 'float32';
    return { rnn: this.rnn.init(rng, { dtype }), head: this.head.init(rng, { dtype }) };
  }

  apply(params: SequenceReadoutParams, x: Tensor, ctx?: ApplyContext): Tensor {
    return this.outputsAndStates(params, x, ctx).outputs;
  }

  /** The readout and the recurrent layer's hidden state after every step (`[N, T, H]`). */
  outputsAndStates(params: SequenceReadoutParams, x: Tensor, ctx?: ApplyContext): { outputs: Tensor; states: Tensor } {
    const r = this.rnn.forward(params.rnn, x, {}, childContext(ctx, 'rnn'));
    const [n, steps, h] = r.output.shape;
    if (steps < this.steps) throw new RangeError(`${this.toString()}: input has ${steps} steps, fewer than the ${this.steps} read out`);
    const last = slice(r.output, [0, steps - this.steps, 0], [n, steps, h]);
    const y = this.head.apply(params.head, last, childContext(ctx, 'head'));
    return { outputs: reshape(y, [n, this.steps * this.outputSize]), states: r.output };
  }
}

/**
 * Recurrent layers with PyTorch's names, layouts, gate orders and equations, batch-first:
 * input `[N, T, F]`, outputs `[N, T, H]`, states `[N, H]` (one layer, one direction).
 *
 * - `RNN`:  h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh (default) or relu.
 * - `LSTM`: gates i, f, g, o (in that order in the stacked weights `[4H, ·]`):
 *           c' = σ(f)⊙c + σ(i)⊙tanh(g),  h' = σ(o)⊙tanh(c').
 * - `GRU`:  gates r, z, n (`[3H, ·]`): r = σ(·), z = σ(·),
 *           n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)),  h' = (1 − z)⊙n + z⊙h.
 *
 * Everything is built from the differentiable ops, so `grad`, `jvp`, `hvp`, `ggnvp` and
 * `linearize` work through time, at O(T) cost: two small matmuls per step.
 *
 * Masks `[N, T]` (1 = real step, 0 = padding) give variable lengths: where the mask is 0 the
 * state is held (h_t = h_{t−1}, and c likewise) and the output is zero, so the returned last
 * state is each sequence's state after its last real step. Truncated backpropagation through
 * time (`truncate: k`) stops the gradient on the state entering every k-th step (t = k, 2k,
 * ...): no gradient flows back more than k steps. RNN and LSTM record K-FAC taps (a recurrent tap
 * of the map [x_t; h_{t−1}] → s_t shared across time); GRU records none (diagonal blocks).
 */
import type { DType } from '../kernels/types.js';
import { Tensor, allocate, describe, fmtShape, type Shape } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';
import { add, concat, matmul, mul, relu, reshape, sigmoid, slice, stack, sub, tanh } from '../autodiff/ops.js';
import { stopGradient } from '../autodiff/core.js';
import { Module, type ApplyContext, type InitOptions } from './module.js';

/** Parameters of one recurrent layer, PyTorch names (`weight_ih_l0` without the layer suffix). */
export interface RecurrentParams {
  /** `[G·H, F]`, the G gates stacked in PyTorch's order. */
  weight_ih: Tensor;
  /** `[G·H, H]`. */
  weight_hh: Tensor;
  bias_ih?: Tensor;
  bias_hh?: Tensor;
  [key: string]: Tensor | undefined;
}

export interface RecurrentOptions {
  /** Biases b_ih and b_hh, default true. */
  bias?: boolean;
  /** Truncated BPTT: the gradient flows back at most this many steps (default: through all). */
  truncate?: number;
}

export interface RnnOptions extends RecurrentOptions {
  /** Default 'tanh'. */
  nonlinearity?: 'tanh' | 'relu';
}

/** Optional inputs of a recurrent forward pass. */
export interface RecurrentInputs {
  /** Initial hidden state `[N, H]` (default zeros). */
  h0?: Tensor;
  /** Initial cell state `[N, H]` (LSTM only; default zeros). */
  c0?: Tensor;
  /** `[N, T]` of 0/1: 0 holds the state and zeroes the output at that step. */
  mask?: Tensor;
}

/** What a recurrent forward pass returns. */
export interface RecurrentResult {
  /** All outputs `[N, T, H]` (zero at masked steps). */
  output: Tensor;
  /** The last hidden state `[N, H]`. */
  h: Tensor;
  /** The last cell state `[N, H]` (LSTM only). */
  c?: Tensor;
  /** The hidden state after every step, `h_1 … h_T` (each `[N, H]`), for structural damping. */
  states: Tensor[];
}

function positiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new RangeError(`${layer}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** PyTorch's initialization of every recurrent weight and bias: U(−1/√H, 1/√H). */
function uniform(rng: Rng, shape: Shape, dtype: DType, bound: number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const d = allocate(dtype, size);
  for (let i = 0; i < size; i++) d[i] = bound * (2 * rng.nextFloat() - 1);
  return new Tensor(d, shape);
}

/** The state a recurrent cell carries between steps: h, and c for LSTM. */
export interface CellState {
  h: Tensor;
  c?: Tensor;
}

abstract class RecurrentBase extends Module<RecurrentParams> {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly bias: boolean;
  readonly truncate: number | undefined;
  /** Gates stacked in the weights (RNN 1, GRU 3, LSTM 4). */
  protected abstract readonly gates: number;
  protected abstract readonly hasCell: boolean;

  constructor(readonly layerName: string, inputSize: number, hiddenSize: number, options: RecurrentOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError(`${layerName}: options must be an object, got ${describe(options)}`);
    this.inputSize = positiveInt(layerName, 'inputSize', inputSize);
    this.hiddenSize = positiveInt(layerName, 'hiddenSize', hiddenSize);
    this.bias = options.bias ?? true;
    if (typeof this.bias !== 'boolean') throw new TypeError(`${layerName}: bias must be true or false, got ${describe(options.bias)}`);
    this.truncate = options.truncate === undefined ? undefined : positiveInt(layerName, 'truncate', options.truncate);
  }

  toString(): string {
    return `${this.layerName}(${this.inputSize} -> ${this.hiddenSize}${this.bias ? '' : ', no bias'}${this.truncate === undefined ? '' : `, truncate ${this.truncate}`})`;
  }

  init(rng: Rng, options: InitOptions = {}): RecurrentParams {
    const dtype: DType = options.dtype ?? 'float32';
    const g = this.gates * this.hiddenSize;
    const k = 1 / Math.sqrt(this.hiddenSize);
    const p: RecurrentParams = {
      weight_ih: uniform(rng, [g, this.inputSize], dtype, k),
      weight_hh: uniform(rng, [g, this.hiddenSize], dtype, k),
    };
    if (this.bias) {
      p.bias_ih = uniform(rng, [g], dtype, k);
      p.bias_hh = uniform(rng, [g], dtype, k);
    }
    return p;
  }

  /** All outputs `[N, T, H]` (the Module interface); `forward` also returns the last state. */
  apply(params: RecurrentParams, x: Tensor, ctx?: ApplyContext): Tensor {
    return this.forward(params, x, {}, ctx).output;
  }

  /** The layer over the whole sequence: outputs, last state and every step's hidden state. */
  forward(params: RecurrentParams, x: Tensor, inputs: RecurrentInputs = {}, ctx?: ApplyContext): RecurrentResult {
    const name = this.toString();
    this.checkParams(name, params);
    if (!(x instanceof Tensor)) throw new TypeError(`${name}: input must be a Tensor, got ${describe(x)}`);
    if (x.ndim !== 3 || x.shape[2] !== this.inputSize) throw new RangeError(`${name}: input has shape ${fmtShape(x.shape)}, expected [N, T, ${this.inputSize}] (batch first)`);
    const [n, steps] = x.shape;
    if (steps === 0) throw new RangeError(`${name}: input has shape ${fmtShape(x.shape)}: a sequence needs at least one step (T = 0)`);
    if (n === 0) throw new RangeError(`${name}: input has shape ${fmtShape(x.shape)}: empty batch`);
    if (inputs === null || typeof inputs !== 'object') throw new TypeError(`${name}: the optional inputs must be an object {h0, c0, mask}, got ${describe(inputs)}`);
    const hs = this.hiddenSize;
    const state = (what: string, s: Tensor | undefined): Tensor | undefined => {
      if (s === undefined) return undefined;
      if (!(s instanceof Tensor)) throw new TypeError(`${name}: ${what} must be a Tensor, got ${describe(s)}`);
      if (s.ndim !== 2 || s.shape[0] !== n || s.shape[1] !== hs) throw new RangeError(`${name}: ${what} has shape ${fmtShape(s.shape)}, expected [${n}, ${hs}] for input ${fmtShape(x.shape)}`);
      if (s.dtype !== x.dtype) throw new TypeError(`${name}: ${what} is ${s.dtype} but the input is ${x.dtype}`);
      return s;
    };
    const h0 = state('initial state h0', inputs.h0);
    const c0 = state('initial cell state c0', inputs.c0);
    if (c0 !== undefined && !this.hasCell) throw new RangeError(`${name}: c0 is given but only LSTM has a cell state`);
    const mask = inputs.mask;
    if (mask !== undefined) {
      if (!(mask instanceof Tensor)) throw new TypeError(`${name}: mask must be a Tensor, got ${describe(mask)}`);
      if (mask.ndim !== 2 || mask.shape[0] !== n || mask.shape[1] !== steps) throw new RangeError(`${name}: mask has shape ${fmtShape(mask.shape)}, expected [${n}, ${steps}] for input ${fmtShape(x.shape)}`);
      const md = stopGradient(mask).data;
      for (let i = 0; i < md.length; i++) if (md[i] !== 0 && md[i] !== 1) throw new RangeError(`${name}: mask entries must be 0 or 1, got ${md[i]} at flat index ${i}`);
    }
    const zeros = () => new Tensor(allocate(x.dtype, n * hs), [n, hs]);
    let cur: CellState = { h: h0 ?? zeros(), c: this.hasCell ? c0 ?? zeros() : undefined };
    const outputs: Tensor[] = [];
    const states: Tensor[] = [];
    // K-FAC taps (RNN, LSTM: one affine map s_t = W_ih x_t + W_hh h_{t-1} + b shared across time):
    // the map's input [x_t; h_{t-1}] and its output s_t at every step.
    const taps = ctx?.taps;
    const tapInputs: Tensor[] = [];
    const tapOutputs: Tensor[] = [];
    // The mask is data, not differentiated; held in the input's dtype for the products below.
    const maskData = mask === undefined ? undefined : new Tensor(Float64Array.from(stopGradient(mask).data), mask.shape).astype(x.dtype);
    for (let t = 0; t < steps; t++) {
      if (this.truncate !== undefined && t > 0 && t % this.truncate === 0) {
        cur = { h: stopGradient(cur.h), c: cur.c === undefined ? undefined : stopGradient(cur.c) };
      }
      // The input projection step by step: slicing one [N, T, G·H] projection instead would make
      // the backward pass O(T²) (each slice's adjoint is a full-size tensor).
      const xRaw = reshape(slice(x, [0, t, 0], [n, t + 1, this.inputSize]), [n, this.inputSize]);
      let xt = matmul(xRaw, params.weight_ih, { transposeB: true });
      if (params.bias_ih !== undefined) xt = add(xt, params.bias_ih);
      let hw = matmul(cur.h, params.weight_hh, { transposeB: true });
      if (params.bias_hh !== undefined) hw = add(hw, params.bias_hh);
      const z = this.sharedMap ? add(xt, hw) : undefined;
      if (taps !== undefined && z !== undefined) {
        tapInputs.push(concat([xRaw, cur.h], 1));
        tapOutputs.push(z);
      }
      const next = this.cell(xt, hw, cur, z);
      if (maskData === undefined) {
        cur = next;
        outputs.push(next.h);
      } else {
        const m = reshape(slice(maskData, [0, t], [n, t + 1]), [n, 1]);
        // Held state where m = 0: prev + m·(next − prev); the output is m·next.
        const hold = (prev: Tensor, nxt: Tensor) => add(prev, mul(m, sub(nxt, prev)));
        cur = { h: hold(cur.h, next.h), c: next.c === undefined || cur.c === undefined ? undefined : hold(cur.c, next.c) };
        outputs.push(mul(m, next.h));
      }
      states.push(cur.h);
    }
    if (taps !== undefined && tapOutputs.length > 0) {
      const biases = [...(params.bias_ih !== undefined ? ['bias_ih'] : []), ...(params.bias_hh !== undefined ? ['bias_hh'] : [])];
      const info = { bias: biases.length > 0, weights: ['weight_ih', 'weight_hh'], biases };
      taps.recordSequence(ctx?.scope ?? '', 'recurrent', tapInputs, tapOutputs, maskData === undefined ? info : { ...info, mask: maskData });
    }
    const result: RecurrentResult = { output: stack(outputs, 1), h: cur.h, states };
    if (cur.c !== undefined) result.c = cur.c;
    return result;
  }

  /** The gate columns [k·H, (k+1)·H) of a `[N, G·H]` pre-activation. */
  protected gate(z: Tensor, k: number): Tensor {
    const hs = this.hiddenSize;
    return slice(z, [0, k * hs], [z.shape[0], (k + 1) * hs]);
  }

  /**
   * Whether the gates' pre-activation is one affine map of [x_t; h_{t−1}] (RNN, LSTM: K-FAC taps
   * it as a recurrent layer); GRU's candidate gate multiplies W_hn h by r, so it records none.
   */
  protected abstract readonly sharedMap: boolean;

  /**
   * The next state from the projected input W_ih x + b_ih and W_hh h + b_hh; `z` is their sum
   * when `sharedMap` (the tapped pre-activation, which the cell must use).
   */
  protected abstract cell(xw: Tensor, hw: Tensor, prev: CellState, z: Tensor | undefined): CellState;

  private checkParams(name: string, params: RecurrentParams): void {
    if (params === null || typeof params !== 'object') throw new TypeError(`${name}: parameters must be {weight_ih, weight_hh, bias_ih, bias_hh}, got ${describe(params)}`);
    const g = this.gates * this.hiddenSize;
    const expect = (key: string, shape: number[], optional: boolean) => {
      const t = params[key];
      if (t === undefined && optional) return;
      if (!(t instanceof Tensor)) throw new TypeError(`${name}: parameter '${key}' must be a Tensor, got ${describe(t)}`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) throw new RangeError(`${name}: parameter '${key}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
    };
    expect('weight_ih', [g, this.inputSize], false);
    expect('weight_hh', [g, this.hiddenSize], false);
    expect('bias_ih', [g], true);
    expect('bias_hh', [g], true);
  }
}

/** Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu), as `torch.nn.RNN`. */
export class RNN extends RecurrentBase {
  protected readonly gates = 1;
  protected readonly hasCell = false;
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(inputSize: number, hiddenSize: number, options: RnnOptions = {}) {
    super('RNN', inputSize, hiddenSize, options);
    const nl = options.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') throw new RangeError(`RNN: nonlinearity must be 'tanh' or 'relu', got ${describe(nl)}`);
    this.nonlinearity = nl;
  }

  override toString(): string {
    return this.nonlinearity === 'tanh' ? super.toString() : super.toString().replace(/\)$/, ', relu)');
  }

  protected readonly sharedMap = true;

  protected cell(xw: Tensor, hw: Tensor, _prev: CellState, z: Tensor | undefined): CellState {
    const s = z ?? add(xw, hw);
    return { h: this.nonlinearity === 'tanh' ? tanh(s) : relu(s) };
  }
}

/** Long short-term memory, gates i, f, g, o, as `torch.nn.LSTM`. */
export class LSTM extends RecurrentBase {
  protected readonly gates = 4;
  protected readonly hasCell = true;

  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('LSTM', inputSize, hiddenSize, options);
  }

  protected readonly sharedMap = true;

  protected cell(xw: Tensor, hw: Tensor, prev: CellState, zIn: Tensor | undefined): CellState {
    const z = zIn ?? add(xw, hw);
    const i = sigmoid(this.gate(z, 0));
    const f = sigmoid(this.gate(z, 1));
    const g = tanh(this.gate(z, 2));
    const o = sigmoid(this.gate(z, 3));
    const c = add(mul(f, prev.c as Tensor), mul(i, g));
    return { h: mul(o, tanh(c)), c };
  }
}

/** Gated recurrent unit, gates r, z, n, as `torch.nn.GRU` (r applied to W_hn h + b_hn). */
export class GRU extends RecurrentBase {
  protected readonly gates = 3;
  protected readonly hasCell = false;

  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('GRU', inputSize, hiddenSize, options);
  }

  protected readonly sharedMap = false;

  protected cell(xw: Tensor, hw: Tensor, prev: CellState): CellState {
    const r = sigmoid(add(this.gate(xw, 0), this.gate(hw, 0)));
    const z = sigmoid(add(this.gate(xw, 1), this.gate(hw, 1)));
    const nGate = tanh(add(this.gate(xw, 2), mul(r, this.gate(hw, 2))));
    // (1 − z)·n + z·h = n + z·(h − n)
    return { h: add(nGate, mul(z, sub(prev.h, nGate))) };
  }
}

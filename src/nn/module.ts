/**
 * Modules: a network is a pair of pure functions, as in Flax/Haiku — `init(rng)` makes its
 * parameter tree, `apply(params, x, ctx)` runs it — so that every transformation (grad, hvp,
 * ggnvp, per-example gradients) sees parameters as ordinary inputs. Parameter trees are plain
 * nested objects and arrays of tensors with PyTorch-style names (`0.weight`, `0.bias`, ...).
 *
 * Free composition is plain code: any `(params, x) => Tensor` built from the differentiable ops
 * and other modules' `apply` is as good as a Module (residual connections, shared weights, ...).
 */
import type { DType } from '../kernels/types.js';
import { Tensor, allocate, describe, fmtShape } from '../tensor/tensor.js';
import { stack } from '../tensor/shape-ops.js';
import { Rng } from '../tensor/random.js';
import { add } from '../autodiff/ops.js';
import { retainGrad, type RetainedGrad } from '../autodiff/vjp.js';
import { stopGradient } from '../autodiff/core.js';
import { escape } from '../tensor/scope.js';
import type { PyTree } from '../autodiff/pytree.js';
import type { Pair } from '../tensor/conv.js';

/** Geometry a dense layer's tap records. */
export interface DenseTapInfo {
  readonly bias: boolean;
}

/** Geometry a conv2d layer's tap records (the layer's options, unresolved: a number or a pair). */
export interface Conv2dTapInfo {
  readonly bias: boolean;
  readonly kernel: Pair;
  readonly stride?: Pair;
  readonly padding?: Pair;
  readonly dilation?: Pair;
}

/**
 * A recurrent layer's tap: ONE shared affine map s_t = W ā_t applied at every time step t, so
 * the tap's `a` is `[N, T, in]` (the map's input at each step, e.g. [x_t; h_{t-1}] for an Elman
 * RNN) and its output `[N, T, out]` (the pre-activations). The weight W is shared across time:
 * it is the column-wise concatenation of the parameters named in `weights` (in the order of a's
 * features, each `[out, in_k]`), and the bias the sum of the vectors named in `biases` (PyTorch
 * keeps two, `bias_ih` and `bias_hh`, whose gradients are equal). Names are relative to the tap's
 * scope. Martens, Ba & Johnson (ICLR 2018) build K-FAC blocks for it from these per-step rows.
 */
export interface RecurrentTapInfo {
  readonly bias: boolean;
  readonly weights: readonly string[];
  readonly biases: readonly string[];
  /**
   * Which steps are real, `[N, T]` of 0/1 (the layer's mask; absent: all). Padded steps carry
   * an input but no gradient, so the curvature factors must leave them out.
   */
  readonly mask?: Tensor;
}

/**
 * Per layer kind, what its tap records besides `a` and the output. A new kind of layer that
 * curvature blocks understand starts here: the curvature grid (`curvature/kronecker-grid.ts`)
 * is typed over these keys, so a kind without blocks is a compile error there.
 */
export interface TapInfoByKind {
  dense: DenseTapInfo;
  conv2d: Conv2dTapInfo;
  recurrent: RecurrentTapInfo;
}

/** The layer kinds that record taps. */
export type TapKind = keyof TapInfoByKind;

/** A tap of one kind: what a layer saw in one forward pass. */
export interface TapOf<K extends TapKind> {
  /** Scope of the layer, the prefix of its parameters' paths (e.g. `2` for `2.weight`). */
  readonly scope: string;
  readonly kind: K;
  /** The layer's input (concrete, not differentiated). */
  readonly a: Tensor;
  /** The layer's pre-activation output and, after the backward pass, its gradient. */
  readonly output: RetainedGrad;
  /** Layer geometry and whether it has a bias. */
  readonly info: TapInfoByKind[K];
}

/** What a layer saw in one forward pass, for Kronecker-factored curvature (K-FAC, Shampoo): a union over kinds. */
export type Tap = { [K in TapKind]: TapOf<K> }[TapKind];

/** Collects taps during a forward pass run inside `grad` / `valueAndGrad`. */
export class TapRecorder {
  readonly taps: Tap[] = [];

  record<K extends TapKind>(scope: string, kind: K, a: Tensor, s: Tensor, info: TapInfoByKind[K]): void {
    // The tap leaves the transformation through this recorder, not its result: let it out.
    const tap: TapOf<K> = { scope, kind, a: escape(stopGradient(a)), output: retainGrad(s), info };
    this.taps.push(tap as unknown as Tap);
  }

  /**
   * A recurrent layer's tap from its time steps: the shared map's input ā_t `[N, in]` and
   * pre-activation s_t `[N, out]` at each step t, recorded as one tap with `a` `[N, T, in]` and
   * an output whose gradient, after a backward pass, is the steps' gradients stacked `[N, T, out]`
   * (steps the backward pass did not reach count as zero).
   */
  recordSequence(scope: string, kind: 'recurrent', inputs: readonly Tensor[], outputs: readonly Tensor[], info: RecurrentTapInfo): void {
    if (inputs.length === 0 || inputs.length !== outputs.length) {
      throw new RangeError(`TapRecorder: recurrent tap '${scope}' needs one input and one output per time step, got ${inputs.length} and ${outputs.length}`);
    }
    const a = escape(stack(inputs.map((x) => stopGradient(x)), 1));
    const steps = outputs.map((s) => retainGrad(s));
    const value = escape(stack(steps.map((h) => h.value), 1));
    const output: RetainedGrad = {
      value,
      get grad(): Tensor | null {
        if (steps.every((h) => h.grad === null)) return null;
        return stack(steps.map((h) => h.grad ?? new Tensor(allocate(h.value.dtype, h.value.size), h.value.shape)), 1);
      },
      set grad(_: Tensor | null) {
        throw new Error(`TapRecorder: the gradient of recurrent tap '${scope}' is read-only (it stacks its steps' gradients)`);
      },
    };
    // The mask is data the tap outlives the forward pass with, like `a`.
    const kept = info.mask === undefined ? info : { ...info, mask: escape(stopGradient(info.mask)) };
    this.taps.push({ scope, kind, a, output, info: kept });
  }

  /** The tap of a layer by scope (the last one recorded, for layers applied more than once use `taps`). */
  get(scope: string): Tap | undefined {
    for (let i = this.taps.length - 1; i >= 0; i--) if (this.taps[i].scope === scope) return this.taps[i];
    return undefined;
  }

  clear(): void {
    this.taps.length = 0;
  }
}

export interface ApplyContext {
  /** Training mode: dropout active. Default false (evaluation). */
  training?: boolean;
  /** Randomness for dropout; the same seed gives the same masks (HF needs this for its curvature). */
  rng?: Rng;
  /** Record layer inputs and output gradients here. */
  taps?: TapRecorder;
  /** Path prefix of the current module's parameters; containers extend it for their children. */
  scope?: string;
}

export function childContext(ctx: ApplyContext | undefined, name: string | number): ApplyContext | undefined {
  if (ctx === undefined) return undefined;
  const scope = ctx.scope === undefined || ctx.scope === '' ? `${name}` : `${ctx.scope}.${name}`;
  return { ...ctx, scope };
}

export interface InitOptions {
  dtype?: DType;
}

export abstract class Module<P extends PyTree = PyTree> {
  /** A short description, e.g. `Linear(784 -> 1000)`. */
  abstract toString(): string;
  /** A fresh parameter tree, from `rng` (the same seed gives the same parameters). */
  abstract init(rng: Rng, options?: InitOptions): P;
  /** Run the module on `x` with parameters `params`. */
  abstract apply(params: P, x: Tensor, ctx?: ApplyContext): Tensor;
}

/** Throw a clear error when a layer gets an input of the wrong shape. */
export function expectInput(layer: string, x: unknown, check: (shape: readonly number[]) => boolean, expected: string): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${layer}: input must be a Tensor, got ${describe(x)}`);
  if (!check(x.shape)) throw new RangeError(`${layer}: input has shape ${fmtShape(x.shape)}, expected ${expected}`);
  return x;
}

/** Layers applied in order; parameters are an array, one entry per layer. */
export class Sequential extends Module<PyTree[]> {
  readonly layers: readonly Module[];

  constructor(layers: readonly Module[]) {
    super();
    if (!Array.isArray(layers as unknown) || layers.some((l) => !(l instanceof Module))) {
      throw new TypeError('Sequential: expects an array of modules');
    }
    this.layers = layers.slice();
  }

  toString(): string {
    return `Sequential(\n${this.layers.map((l, i) => `  (${i}) ${l.toString()}`).join('\n')}\n)`;
  }

  init(rng: Rng, options: InitOptions = {}): PyTree[] {
    return this.layers.map((l) => l.init(rng, options));
  }

  apply(params: PyTree[], x: Tensor, ctx?: ApplyContext): Tensor {
    if (!Array.isArray(params) || params.length !== this.layers.length) {
      throw new RangeError(`Sequential: expected parameters for ${this.layers.length} layers, got ${Array.isArray(params) ? params.length : describe(params)}`);
    }
    let h = x;
    this.layers.forEach((l, i) => { h = l.apply(params[i], h, childContext(ctx, i)); });
    return h;
  }
}

/** `x + f(x)`: a residual block around any module with input shape = output shape. */
export class Residual<P extends PyTree = PyTree> extends Module<{ body: P }> {
  constructor(readonly body: Module<P>) {
    super();
  }

  toString(): string {
    return `Residual(${this.body.toString()})`;
  }

  init(rng: Rng, options: InitOptions = {}): { body: P } {
    return { body: this.body.init(rng, options) };
  }

  apply(params: { body: P }, x: Tensor, ctx?: ApplyContext): Tensor {
    return add(x, this.body.apply(params.body, x, childContext(ctx, 'body')));
  }
}

/** A parameter-free module from a function (activations, reshapes, anything differentiable). */
export class Lambda extends Module<Record<string, never>> {
  constructor(readonly name: string, readonly fn: (x: Tensor, ctx?: ApplyContext) => Tensor) {
    super();
  }

  toString(): string {
    return this.name;
  }

  init(): Record<string, never> {
    return {};
  }

  apply(_params: Record<string, never>, x: Tensor, ctx?: ApplyContext): Tensor {
    return this.fn(x, ctx);
  }
}

/**
 * Layers and activations. Dense and conv layers record taps (input `a`, output gradient `g`)
 * when the apply context carries a `TapRecorder`, for Kronecker-factored curvature.
 */
import type { DType } from '../kernels/types.js';
import { Tensor, ones } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';
import type { Pair, Pool2dOptions } from '../tensor/conv.js';
import {
  add, avgPool2d, conv2d, div, erf, matmul, maxPool2d, mean, mul, relu, reshape, sigmoid, softmax, softplus, sqrt, square, sub, tanh,
} from '../autodiff/ops.js';
import { Lambda, Module, expectInput, type ApplyContext, type InitOptions } from './module.js';
import { glorotUniform, heUniform, resolveInitializer, zerosInit, type Initializer, type InitializerName } from './init.js';

function positiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new RangeError(`${layer}: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export interface LinearOptions {
  bias?: boolean;
  /** Weight initializer; default Glorot uniform. Biases start at zero. */
  init?: InitializerName | Initializer;
}

export interface LinearParams {
  weight: Tensor;
  bias?: Tensor;
  [key: string]: Tensor | undefined;
}

/** `y = x W^T + b` with W `[out, in]` (PyTorch layout); x `[..., in]`. */
export class Linear extends Module<LinearParams> {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
  private readonly initW: Initializer;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    this.inFeatures = positiveInt('Linear', 'inFeatures', inFeatures);
    this.outFeatures = positiveInt('Linear', 'outFeatures', outFeatures);
    this.bias = options.bias ?? true;
    this.initW = resolveInitializer('Linear', options.init, glorotUniform);
  }

  toString(): string {
    return `Linear(${this.inFeatures} -> ${this.outFeatures}${this.bias ? '' : ', no bias'})`;
  }

  init(rng: Rng, options: InitOptions = {}): LinearParams {
    const dtype: DType = options.dtype ?? 'float32';
    const p: LinearParams = { weight: this.initW(rng, [this.outFeatures, this.inFeatures], dtype) };
    if (this.bias) p.bias = zerosInit(rng, [this.outFeatures], dtype);
    return p;
  }

  apply(params: LinearParams, x: Tensor, ctx?: ApplyContext): Tensor {
    const name = this.toString();
    expectInput(name, x, (s) => s.length >= 1 && s[s.length - 1] === this.inFeatures, `[..., ${this.inFeatures}]`);
    let s = matmul(x, params.weight, { transposeB: true });
    if (params.bias !== undefined) s = add(s, params.bias);
    if (ctx?.taps !== undefined) ctx.taps.record(ctx.scope ?? '', 'dense', x, s, { bias: params.bias !== undefined });
    return s;
  }
}

export interface Conv2dLayerOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  bias?: boolean;
  /** Weight initializer; default He uniform. */
  init?: InitializerName | Initializer;
}

/** 2-D convolution layer, NCHW, weight `[out, in, kh, kw]`. */
export class Conv2d extends Module<LinearParams> {
  readonly kernel: [number, number];
  private readonly initW: Initializer;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, readonly options: Conv2dLayerOptions = {}) {
    super();
    positiveInt('Conv2d', 'inChannels', inChannels);
    positiveInt('Conv2d', 'outChannels', outChannels);
    const k = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    this.kernel = [positiveInt('Conv2d', 'kernelSize', k[0]), positiveInt('Conv2d', 'kernelSize', k[1])];
    this.initW = resolveInitializer('Conv2d', options.init, heUniform);
  }

  toString(): string {
    return `Conv2d(${this.inChannels} -> ${this.outChannels}, kernel ${this.kernel.join('x')})`;
  }

  init(rng: Rng, options: InitOptions = {}): LinearParams {
    const dtype: DType = options.dtype ?? 'float32';
    const p: LinearParams = { weight: this.initW(rng, [this.outChannels, this.inChannels, ...this.kernel], dtype) };
    if (this.options.bias ?? true) p.bias = zerosInit(rng, [this.outChannels], dtype);
    return p;
  }

  apply(params: LinearParams, x: Tensor, ctx?: ApplyContext): Tensor {
    expectInput(this.toString(), x, (s) => s.length === 4 && s[1] === this.inChannels, `[N, ${this.inChannels}, H, W]`);
    const geom = { stride: this.options.stride, padding: this.options.padding, dilation: this.options.dilation };
    const s = conv2d(x, params.weight, { ...geom, bias: params.bias });
    if (ctx?.taps !== undefined) ctx.taps.record(ctx.scope ?? '', 'conv2d', x, s, { ...geom, kernel: this.kernel, bias: params.bias !== undefined });
    return s;
  }
}

export class MaxPool2d extends Lambda {
  constructor(kernelSize: Pair, options: Pool2dOptions = {}) {
    super(`MaxPool2d(${JSON.stringify(kernelSize)})`, (x) => maxPool2d(x, kernelSize, options));
  }
}

export class AvgPool2d extends Lambda {
  constructor(kernelSize: Pair, options: Pool2dOptions & { countIncludePad?: boolean } = {}) {
    super(`AvgPool2d(${JSON.stringify(kernelSize)})`, (x) => avgPool2d(x, kernelSize, options));
  }
}

/** Flatten all axes but the first (batch). */
export class Flatten extends Lambda {
  constructor() {
    super('Flatten', (x) => {
      expectInput('Flatten', x, (s) => s.length >= 1, '[N, ...]');
      return reshape(x, [x.shape[0], -1]);
    });
  }
}

/**
 * Inverted dropout: in training mode, zero each entry with probability p and scale the rest by
 * 1/(1-p); the identity in evaluation mode. Masks come from `ctx.rng`, so one seed reproduces
 * them (Hessian-free evaluates its curvature with the gradient's masks this way).
 */
export function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), got ${String(p)}`);
  if (p === 0) return x;
  const mask = rng.bernoulli(x.shape, 1 - p, { dtype: x.dtype });
  return mul(x, div(mask, 1 - p));
}

export class Dropout extends Module<Record<string, never>> {
  constructor(readonly p: number) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${String(p)}`);
  }

  toString(): string {
    return `Dropout(p=${this.p})`;
  }

  init(): Record<string, never> {
    return {};
  }

  apply(_params: Record<string, never>, x: Tensor, ctx?: ApplyContext): Tensor {
    if (!ctx?.training || this.p === 0) return x;
    if (ctx.rng === undefined) throw new Error('Dropout: training mode needs ctx.rng (a seeded Rng) so that masks are reproducible');
    return dropout(x, this.p, ctx.rng);
  }
}

/** Layer normalization over the last axis: (x - mean) / sqrt(var + eps) * weight + bias. */
export function layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps = 1e-5): Tensor {
  const mu = mean(x, -1, true);
  const xc = sub(x, mu);
  const v = mean(square(xc), -1, true);
  let y = div(xc, sqrt(add(v, eps)));
  if (weight !== undefined) y = mul(y, weight);
  if (bias !== undefined) y = add(y, bias);
  return y;
}

export class LayerNorm extends Module<LinearParams | Record<string, never>> {
  constructor(readonly features: number, readonly options: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    positiveInt('LayerNorm', 'features', features);
    const eps = options.eps ?? 1e-5;
    if (!(eps > 0)) throw new RangeError(`LayerNorm: eps must be > 0, got ${eps}`);
  }

  toString(): string {
    return `LayerNorm(${this.features})`;
  }

  init(rng: Rng, options: InitOptions = {}): LinearParams | Record<string, never> {
    if (this.options.elementwiseAffine === false) return {};
    const dtype = options.dtype ?? 'float32';
    return { weight: ones([this.features], { dtype }), bias: zerosInit(rng, [this.features], dtype) };
  }

  apply(params: LinearParams | Record<string, never>, x: Tensor, _ctx?: ApplyContext): Tensor {
    expectInput(this.toString(), x, (s) => s.length >= 1 && s[s.length - 1] === this.features, `[..., ${this.features}]`);
    const p = params as Partial<LinearParams>;
    return layerNorm(x, p.weight, p.bias, this.options.eps ?? 1e-5);
  }
}

/** GELU, exact form 0.5·x·(1 + erf(x/√2)) (Hendrycks & Gimpel 2016). */
export function gelu(x: Tensor): Tensor {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

export class ReLU extends Lambda { constructor() { super('ReLU', relu); } }
export class Tanh extends Lambda { constructor() { super('Tanh', tanh); } }
export class Sigmoid extends Lambda { constructor() { super('Sigmoid', sigmoid); } }
export class Softplus extends Lambda { constructor() { super('Softplus', softplus); } }
export class GELU extends Lambda { constructor() { super('GELU', gelu); } }
export class Softmax extends Lambda { constructor(axis = -1) { super('Softmax', (x) => softmax(x, axis)); } }

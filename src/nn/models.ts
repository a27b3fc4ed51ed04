/**
 * Model builders the benchmark problems use, for a user's own data: a multilayer perceptron,
 * the deep autoencoder of Hinton & Salakhutdinov (2006) / Martens (2010), and a small CNN.
 * Each returns an `nn.Sequential` of `Linear`/`Conv2d` layers, so K-FAC gets its Kronecker
 * blocks.
 */
import { Conv2d, Flatten, GELU, Linear, MaxPool2d, ReLU, Sigmoid, Softplus, Tanh } from './layers.js';
import { Sequential, type Module } from './module.js';
import type { Initializer } from './init.js';

export type Activation = 'tanh' | 'relu' | 'sigmoid' | 'softplus' | 'gelu';

const ACTIVATIONS: Record<Activation, () => Module> = {
  tanh: () => new Tanh(), relu: () => new ReLU(), sigmoid: () => new Sigmoid(), softplus: () => new Softplus(), gelu: () => new GELU(),
};

function checkSizes(op: string, sizes: unknown, min: number): number[] {
  if (!Array.isArray(sizes) || sizes.length < min || sizes.some((s) => !Number.isSafeInteger(s) || s < 1)) {
    throw new RangeError(`${op}: sizes must be at least ${min} positive integers, got ${JSON.stringify(sizes)}`);
  }
  return sizes as number[];
}

function activation(op: string, a: unknown): () => Module {
  const f = ACTIVATIONS[a as Activation];
  if (f === undefined) throw new RangeError(`${op}: activation must be one of ${Object.keys(ACTIVATIONS).join(', ')}, got ${JSON.stringify(a)}`);
  return f;
}

export interface MlpOptions {
  /** Hidden units' nonlinearity (default 'tanh'); the output layer is linear. */
  activation?: Activation;
  /** Weight initializer of every Linear layer (default: the layer's own). */
  init?: Initializer;
}

/** `mlp([784, 256, 10])`: Linear layers with the activation between them, linear outputs. */
export function mlp(sizes: readonly number[], options: MlpOptions = {}): Sequential {
  const s = checkSizes('mlp', sizes, 2);
  const act = activation('mlp', options.activation ?? 'tanh');
  const layers: Module[] = [];
  for (let i = 0; i < s.length - 1; i++) {
    layers.push(new Linear(s[i], s[i + 1], options.init ? { init: options.init } : {}));
    if (i < s.length - 2) layers.push(act());
  }
  return new Sequential(layers);
}

/**
 * Deep autoencoder `deepAutoencoder([784, 1000, 500, 250, 30])`: the encoder's sizes, mirrored
 * for the decoder; sigmoid units, a linear code layer and linear outputs (logits for a sigmoid
 * cross-entropy loss).
 */
export function deepAutoencoder(encoder: readonly number[], init?: Initializer): Sequential {
  const e = checkSizes('deepAutoencoder', encoder, 2);
  const sizes = [...e, ...e.slice(0, -1).reverse()];
  const layers: Module[] = [];
  const code = e.length - 2;
  for (let i = 0; i < sizes.length - 1; i++) {
    layers.push(new Linear(sizes[i], sizes[i + 1], init ? { init } : {}));
    if (i !== code && i !== sizes.length - 2) layers.push(new Sigmoid());
  }
  return new Sequential(layers);
}

export interface CnnOptions {
  /** Input channels and square image side (default 1 and 28, MNIST). */
  channels?: number;
  size?: number;
  /** Output channels of each 5×5 conv block (conv-relu-maxpool2), default [8, 16]. */
  filters?: readonly number[];
  /** Number of classes (default 10). */
  classes?: number;
}

/** A small CNN: conv5×5-relu-maxpool2 blocks, then a linear classifier. Input [N, C, H, H]. */
export function cnn(options: CnnOptions = {}): Sequential {
  const channels = options.channels ?? 1;
  const size = options.size ?? 28;
  const filters = checkSizes('cnn', options.filters ?? [8, 16], 1);
  const classes = options.classes ?? 10;
  for (const [k, v] of Object.entries({ channels, size, classes })) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`cnn: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (size % 2 ** filters.length !== 0) throw new RangeError(`cnn: image size ${size} must be divisible by 2^${filters.length} (one 2×2 max-pool per block)`);
  const layers: Module[] = [];
  let c = channels;
  for (const f of filters) {
    layers.push(new Conv2d(c, f, 5, { padding: 2 }), new ReLU(), new MaxPool2d(2));
    c = f;
  }
  const side = size / 2 ** filters.length;
  layers.push(new Flatten(), new Linear(c * side * side, classes));
  return new Sequential(layers);
}

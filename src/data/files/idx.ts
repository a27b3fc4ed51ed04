/**
 * The idx format of the MNIST files (LeCun et al.): two zero bytes, a type byte, the number of
 * dimensions, then each dimension as a big-endian uint32, then the values big-endian, row-major.
 * Gzip-compressed files (`train-images-idx3-ubyte.gz`) are read as they are.
 */
import type { DType } from '../../kernels/types.js';
import { Tensor, checkDType } from '../../tensor/tensor.js';
import { DataFileError, readBytes } from './read.js';

const TYPES: Record<number, { name: string; bytes: number; read: (v: DataView, o: number) => number }> = {
  0x08: { name: 'uint8', bytes: 1, read: (v, o) => v.getUint8(o) },
  0x09: { name: 'int8', bytes: 1, read: (v, o) => v.getInt8(o) },
  0x0b: { name: 'int16', bytes: 2, read: (v, o) => v.getInt16(o, false) },
  0x0c: { name: 'int32', bytes: 4, read: (v, o) => v.getInt32(o, false) },
  0x0d: { name: 'float32', bytes: 4, read: (v, o) => v.getFloat32(o, false) },
  0x0e: { name: 'float64', bytes: 8, read: (v, o) => v.getFloat64(o, false) },
};

export interface IdxOptions {
  /** Result dtype (default float32). */
  dtype?: DType;
  /** Multiply every value (e.g. 1/255 for pixels); default 1. */
  scale?: number;
}

/** Parse idx bytes; `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file: string, options: IdxOptions = {}): Tensor {
  const dtype = checkDType('loadIdx', options.dtype ?? 'float32');
  const scale = options.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`loadIdx: scale must be finite, got ${scale}`);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    const got = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DataFileError(file, `not an idx file: wrong magic number (first bytes ${got || 'none'}, expected 00 00 <type> <ndim>)`);
  }
  const type = TYPES[bytes[2]];
  if (type === undefined) throw new DataFileError(file, `unknown idx value type 0x${bytes[2].toString(16)} (known: 08, 09, 0b, 0c, 0d, 0e)`);
  const ndim = bytes[3];
  if (ndim === 0) throw new DataFileError(file, 'idx header declares 0 dimensions');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new DataFileError(file, `truncated idx header: ${ndim} dimensions need ${header} bytes, the file has ${bytes.length}`);
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const n = shape.reduce((a, b) => a * b, 1);
  const expected = header + n * type.bytes;
  if (bytes.length !== expected) {
    throw new DataFileError(file, `idx header says ${type.name} [${shape.join(', ')}] (${expected} bytes), the file has ${bytes.length} bytes`);
  }
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = type.read(view, header + i * type.bytes) * scale;
    if (!Number.isFinite(x)) throw new DataFileError(file, `value ${i} (index [${unravel(i, shape).join(', ')}]) is ${x}`);
    out[i] = x;
  }
  return new Tensor(out, shape);
}

function unravel(i: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Read an idx file (optionally gzip-compressed) into a tensor of its declared shape. */
export function loadIdx(path: string, options: IdxOptions = {}): Tensor {
  return parseIdx(readBytes(path), path, options);
}

/**
 * NumPy's `.npy` (format versions 1–3) and `.npz` (a zip of `.npy` members, stored or deflated,
 * as `np.savez` and `np.savez_compressed` write them). Numeric dtypes of either byte order are
 * read (float16/32/64, signed and unsigned integers of 1–8 bytes, bool); Fortran order is
 * transposed into row-major. Object arrays (pickles) are refused: they would run code.
 */
import { inflateRawSync } from 'node:zlib';
import type { DType } from '../../kernels/types.js';
import { Tensor, checkDType } from '../../tensor/tensor.js';
import { DataFileError, readBytes } from './read.js';

export interface NpyOptions {
  /** Result dtype (default: float64 for float64 files, float32 otherwise). */
  dtype?: DType;
}

type Reader = (v: DataView, o: number) => number;

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f === 0 ? s * Infinity : NaN;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function readerFor(descr: string, file: string): { bytes: number; read: Reader; float64: boolean } {
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  if (m === null) throw new DataFileError(file, `unsupported npy dtype '${descr}' (numeric dtypes only; object and string arrays are refused)`);
  const little = m[1] !== '>';
  const kind = m[2];
  const bytes = Number(m[3]);
  const key = `${kind}${bytes}`;
  const readers: Record<string, Reader> = {
    f2: (v, o) => halfToFloat(v.getUint16(o, little)),
    f4: (v, o) => v.getFloat32(o, little),
    f8: (v, o) => v.getFloat64(o, little),
    i1: (v, o) => v.getInt8(o),
    i2: (v, o) => v.getInt16(o, little),
    i4: (v, o) => v.getInt32(o, little),
    i8: (v, o) => Number(v.getBigInt64(o, little)),
    u1: (v, o) => v.getUint8(o),
    u2: (v, o) => v.getUint16(o, little),
    u4: (v, o) => v.getUint32(o, little),
    u8: (v, o) => Number(v.getBigUint64(o, little)),
    b1: (v, o) => v.getUint8(o),
  };
  const read = readers[key];
  if (read === undefined) throw new DataFileError(file, `unsupported npy dtype '${descr}'`);
  return { bytes, read, float64: key === 'f8' };
}

/** Parse the bytes of one `.npy` array; `file` names the source in errors. */
export function parseNpy(bytes: Uint8Array, file: string, options: NpyOptions = {}): Tensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new DataFileError(file, 'not a .npy file: wrong magic number (expected \\x93NUMPY)');
  const major = bytes[6];
  if (major < 1 || major > 3) throw new DataFileError(file, `unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (bytes.length < start + headerLen) throw new DataFileError(file, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new DataFileError(file, `malformed .npy header ${JSON.stringify(header.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const d = Number(s.replace(/L$/, ''));
    if (!Number.isSafeInteger(d) || d < 0) throw new DataFileError(file, `bad dimension '${s}' in the .npy shape (${shapeText})`);
    return d;
  });
  const { bytes: width, read, float64 } = readerFor(descr, file);
  const dtype = checkDType('loadNpy', options.dtype ?? (float64 ? 'float64' : 'float32'));
  const n = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  if (bytes.length - dataStart !== n * width) {
    throw new DataFileError(file, `.npy header says '${descr}' (${shape.join(', ')}) = ${n * width} bytes of data, the file has ${bytes.length - dataStart}`);
  }
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  if (fortran === 'True' && shape.length > 1) {
    // Fortran order: the first index varies fastest; write each value at its row-major position.
    const idx = new Array<number>(shape.length).fill(0);
    const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    for (let i = 0; i < n; i++) {
      let dst = 0;
      for (let d = 0; d < shape.length; d++) dst += idx[d] * strides[d];
      out[dst] = read(view, dataStart + i * width);
      for (let d = 0; d < shape.length; d++) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = read(view, dataStart + i * width);
  }
  return new Tensor(out, shape);
}

/** Read a `.npy` file (format 1–3, numeric dtypes). */
export function loadNpy(path: string, options: NpyOptions = {}): Tensor {
  return parseNpy(readBytes(path), path, options);
}

/** The members of a zip archive: name → bytes (stored or deflated; no zip64, no encryption). */
export function readZip(bytes: Uint8Array, file: string): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new DataFileError(file, 'not a zip archive (.npz): no end-of-central-directory record');
  const count = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const out = new Map<string, Uint8Array>();
  const decoder = new TextDecoder();
  for (let k = 0; k < count; k++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) throw new DataFileError(file, `corrupt zip central directory at entry ${k}`);
    const method = view.getUint16(p + 10, true);
    const compressed = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const local = view.getUint32(p + 42, true);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    if (compressed === 0xffffffff || local === 0xffffffff) throw new DataFileError(file, `member '${name}' needs zip64, which is not supported`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) throw new DataFileError(file, `corrupt local header of member '${name}'`);
    const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const raw = bytes.subarray(dataStart, dataStart + compressed);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) {
      try {
        data = new Uint8Array(inflateRawSync(raw));
      } catch (e) {
        throw new DataFileError(file, `member '${name}' does not inflate (${e instanceof Error ? e.message : String(e)})`);
      }
    } else throw new DataFileError(file, `member '${name}' uses zip compression method ${method} (only stored and deflated are supported)`);
    if (data.length !== size) throw new DataFileError(file, `member '${name}' is ${data.length} bytes, its header says ${size}`);
    out.set(name, data);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Read a `.npz` archive: its arrays by name (without the `.npy` suffix), as `np.load` gives them. */
export function loadNpz(path: string, options: NpyOptions = {}): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, data] of readZip(readBytes(path), path)) {
    if (!name.endsWith('.npy')) continue;
    out[name.slice(0, -4)] = parseNpy(data, `${path}:${name}`, options);
  }
  if (Object.keys(out).length === 0) throw new DataFileError(path, 'the archive holds no .npy arrays');
  return out;
}

/**
 * Checkpoints: parameter trees (and any pytree of plain data, such as optimizer state) saved in
 * the safetensors layout, readable by the `safetensors` libraries of other ecosystems, and plain
 * safetensors files written by them readable here.
 *
 * ## On-disk format (the project's documented binary format)
 *
 * ```
 * offset 0      8 bytes   N, the header length: unsigned 64-bit integer, little-endian
 * offset 8      N bytes   header: UTF-8 JSON object, padded at the end with spaces (0x20)
 *                         so that 8 + N is a multiple of 8
 * offset 8 + N  rest      data: the raw tensor bytes, little-endian, row-major, packed
 * ```
 *
 * The header maps each tensor's name to its description, plus one optional `__metadata__`
 * entry whose values are all strings:
 *
 * ```json
 * { "__metadata__": { "hessian.tree": "...", "step": "100" },
 *   "layers.0.weight": { "dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48] },
 *   "layers.0.bias":   { "dtype": "F64", "shape": [4],    "data_offsets": [48, 80] } }
 * ```
 *
 * - Names are the tree's `treePaths` (`layers.0.weight`; the empty string for a tree that is a
 *   single tensor). `dtype` is `F32` (float32) or `F64` (float64); other safetensors dtypes
 *   (F16, BF16, integers, ...) are rejected on load with an error naming the tensor.
 * - `data_offsets` = [begin, end) in bytes, relative to the start of the data section. This
 *   writer packs the tensors in tree order with no gaps; the reader accepts any order, but the
 *   ranges must tile the data section exactly (no overlap, no gap, no trailing bytes) and each
 *   range must be `prod(shape) * itemsize` bytes long, as the reference implementation demands.
 * - The header length may be at most 100,000,000 bytes (the reference implementation's limit).
 * - `__metadata__["hessian.tree"]` describes the tree's structure, so a file can be loaded
 *   without a template. It is the JSON text of `{ "version": 1, "root": node }`, where a node is
 *   - `{ "kind": "tensor" }` — a tensor leaf, stored under the leaf's path;
 *   - `{ "kind": "array", "items": [node, ...] }`;
 *   - `{ "kind": "object", "entries": [["key", node], ...] }` (keys in `Object.keys` order);
 *   - `{ "kind": "value", "value": v }` — a static leaf: a string, a boolean, null, or a finite
 *     number other than -0;
 *   - `{ "kind": "number", "value": "NaN" | "Infinity" | "-Infinity" | "-0" }`;
 *   - `{ "kind": "undefined" }`.
 *   Files without this key (written by other tools) load, without a template, as a flat object
 *   `{ name: Tensor }`. The metadata returned by a load omits `hessian.tree`.
 * - `__metadata__["hessian.data-crc32"]` is the CRC-32 (IEEE, as zlib) of the whole data section
 *   as 8 lowercase hex digits. A load verifies it and rejects a file whose data do not match
 *   (flipped or damaged bytes). Files without it (written by other tools, or by versions of
 *   this library before 0.2) still load, unverified. The metadata returned omits it too.
 *
 * Loading copies the data out of the file's bytes (tensors never alias the input) and reads
 * through offsets of any alignment.
 */
import { Tensor, allocate, describe, fmtShape, sameShape, type DType, type FloatArray } from '../tensor/tensor.js';
import { treeLeaves, treePaths, treeUnflatten, type PyTree } from '../autodiff/pytree.js';
import { crc32 } from './crc32.js';

/** The `__metadata__` key that holds the tree's structure. */
export const TREE_METADATA_KEY = 'hessian.tree';
/** The `__metadata__` key that holds the CRC-32 of the data section (8 lowercase hex digits). */
export const CHECKSUM_METADATA_KEY = 'hessian.data-crc32';
/** The largest header this reader accepts, in bytes (as the reference implementation). */
export const MAX_HEADER_BYTES = 100_000_000;
const FORMAT_VERSION = 1;
/** The deepest tree structure a file may describe (deeper would overflow the reader's stack). */
export const MAX_TREE_DEPTH = 1000;

/** Thrown for a file that is not a valid checkpoint or does not match its template. */
export class CheckpointError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CheckpointError';
  }
}

export interface LoadedTree<T> {
  readonly tree: T;
  /** The file's `__metadata__`, without the `hessian.tree` entry. */
  readonly metadata: Record<string, string>;
}

const FILE_DTYPE: Record<DType, string> = { float32: 'F32', float64: 'F64' };
const FROM_FILE_DTYPE: Record<string, DType> = { F32: 'float32', F64: 'float64' };
const ITEMSIZE: Record<DType, number> = { float32: 4, float64: 8 };
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type StructureNode =
  | { kind: 'tensor' }
  | { kind: 'array'; items: StructureNode[] }
  | { kind: 'object'; entries: [string, StructureNode][] }
  | { kind: 'value'; value: string | number | boolean | null }
  | { kind: 'number'; value: 'NaN' | 'Infinity' | '-Infinity' | '-0' }
  | { kind: 'undefined' };

function fail(message: string, cause?: unknown): never {
  throw new CheckpointError(`checkpoint: ${message}`, cause === undefined ? undefined : { cause });
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** Sets `o[key]` as an own property, even for keys such as `__proto__`. */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function displayPath(path: string): string {
  return path === '' ? '(root)' : path;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** The structure of `tree` as a `hessian.tree` node; throws on values a checkpoint cannot hold. */
function describeStructure(tree: unknown): StructureNode {
  const ancestors = new Set<object>();
  const walk = (t: unknown, path: string): StructureNode => {
    if (t instanceof Tensor) return { kind: 'tensor' };
    if (t === undefined) return { kind: 'undefined' };
    if (t === null || typeof t === 'string' || typeof t === 'boolean') return { kind: 'value', value: t };
    if (typeof t === 'number') {
      if (Number.isNaN(t)) return { kind: 'number', value: 'NaN' };
      if (t === Infinity) return { kind: 'number', value: 'Infinity' };
      if (t === -Infinity) return { kind: 'number', value: '-Infinity' };
      if (Object.is(t, -0)) return { kind: 'number', value: '-0' };
      return { kind: 'value', value: t };
    }
    if (Array.isArray(t) || isPlainObject(t)) {
      if (ancestors.has(t)) throw new TypeError(`serializeTree: the tree contains a cycle at '${displayPath(path)}'`);
      ancestors.add(t);
      const child = (k: string): string => (path === '' ? k : `${path}.${k}`);
      const node: StructureNode = Array.isArray(t)
        ? { kind: 'array', items: t.map((c: unknown, i) => walk(c, child(`${i}`))) }
        : { kind: 'object', entries: Object.keys(t).map((k): [string, StructureNode] => [k, walk(t[k], child(k))]) };
      ancestors.delete(t);
      return node;
    }
    throw new TypeError(
      `serializeTree: '${displayPath(path)}' is ${describe(t)} (${typeof t}); a checkpoint holds tensors, plain objects, arrays, ` +
        'numbers, strings, booleans, null and undefined',
    );
  };
  return walk(tree, '');
}

/** Writes `src`'s values into `dest` at `offset`, little-endian whatever the host. */
function writeLittleEndian(dest: Uint8Array, offset: number, src: Tensor): void {
  const data = src.data;
  if (HOST_LITTLE_ENDIAN) {
    dest.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }
  const view = new DataView(dest.buffer, dest.byteOffset + offset, data.byteLength);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  else for (let i = 0; i < data.length; i++) view.setFloat64(8 * i, data[i], true);
}

/**
 * The bytes of a safetensors file holding `tree`'s tensors (named by their `treePaths`), its
 * structure (under `__metadata__["hessian.tree"]`) and `metadata` (string values only; the key
 * `hessian.tree` is reserved). See the module comment for the format.
 */
export function serializeTree(tree: PyTree, metadata: Record<string, string> = {}): Uint8Array {
  if (!isPlainObject(metadata)) throw new TypeError(`serializeTree: metadata must be a plain object of strings, got ${describe(metadata)}`);
  for (const [k, v] of Object.entries(metadata)) {
    if (k === TREE_METADATA_KEY) throw new TypeError(`serializeTree: metadata key '${TREE_METADATA_KEY}' is reserved for the tree's structure`);
    if (k === CHECKSUM_METADATA_KEY) throw new TypeError(`serializeTree: metadata key '${CHECKSUM_METADATA_KEY}' is reserved for the data checksum`);
    if (typeof v !== 'string') throw new TypeError(`serializeTree: metadata['${k}'] must be a string, got ${describe(v)}`);
  }
  const structure = describeStructure(tree);
  const leaves = treeLeaves(tree);
  const paths = treePaths(tree);
  const seen = new Set<string>();
  for (const p of paths) {
    if (p === '__metadata__') throw new TypeError(`serializeTree: a tensor path cannot be '__metadata__' (the header's metadata key)`);
    if (seen.has(p)) throw new TypeError(`serializeTree: two tensors have the path '${displayPath(p)}' (a key contains a '.'?)`);
    seen.add(p);
  }

  // The checksum has a fixed width, so the header's length is known before the data are
  // written; the header is encoded again with the real checksum once the data are in place.
  const headerJson = (checksum: string): Uint8Array => {
    const fullMetadata: Record<string, string> = {};
    setOwn(fullMetadata, TREE_METADATA_KEY, JSON.stringify({ version: FORMAT_VERSION, root: structure }));
    setOwn(fullMetadata, CHECKSUM_METADATA_KEY, checksum);
    for (const [k, v] of Object.entries(metadata)) setOwn(fullMetadata, k, v);
    // Built as text entry by entry so that the key order is the tree order (a JS object would
    // move integer-like keys such as '0' to the front).
    const parts = [`${JSON.stringify('__metadata__')}:${JSON.stringify(fullMetadata)}`];
    let offset = 0;
    for (let i = 0; i < leaves.length; i++) {
      const t = leaves[i];
      const end = offset + t.data.byteLength;
      parts.push(`${JSON.stringify(paths[i])}:${JSON.stringify({ dtype: FILE_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, end] })}`);
      offset = end;
    }
    return new TextEncoder().encode(`{${parts.join(',')}}`);
  };
  let dataLength = 0;
  for (const t of leaves) dataLength += t.data.byteLength;
  const placeholder = headerJson('00000000');
  const headerLength = placeholder.length + ((8 - (placeholder.length % 8)) % 8);
  if (headerLength > MAX_HEADER_BYTES) throw new RangeError(`serializeTree: the header would be ${headerLength} bytes, over the limit of ${MAX_HEADER_BYTES}`);

  const out = new Uint8Array(8 + headerLength + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  let pos = 8 + headerLength;
  for (const t of leaves) {
    writeLittleEndian(out, pos, t);
    pos += t.data.byteLength;
  }
  const json = headerJson(crc32(out.subarray(8 + headerLength)).toString(16).padStart(8, '0'));
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface Entry {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

interface ParsedFile {
  readonly entries: Map<string, Entry>;
  readonly metadata: Record<string, string>;
  /** The raw `hessian.tree` text, if present. */
  readonly structure: string | undefined;
  /** The recorded CRC-32 of the data section, if present. */
  readonly checksum: number | undefined;
  /** Where the data section starts in the input. */
  readonly dataStart: number;
}

function parseEntry(name: string, raw: unknown, dataLength: number): Entry {
  const where = `tensor '${name}'`;
  if (!isPlainObject(raw)) fail(`${where}: expected an object with dtype, shape and data_offsets, got ${describe(raw)}`);
  const fileDtype = raw.dtype;
  if (typeof fileDtype !== 'string') fail(`${where}: dtype must be a string, got ${describe(fileDtype)}`);
  const dtype = Object.hasOwn(FROM_FILE_DTYPE, fileDtype) ? FROM_FILE_DTYPE[fileDtype] : undefined;
  if (dtype === undefined) fail(`${where}: unknown or unsupported dtype '${fileDtype}' (this library loads F32 and F64)`);

  const shape = raw.shape;
  if (!Array.isArray(shape)) fail(`${where}: shape must be an array, got ${describe(shape)}`);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`${where}: shape must hold non-negative integers, got ${JSON.stringify(shape)}`);
    }
  }
  const offsets = raw.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${where}: data_offsets must be [begin, end], got ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets as unknown[];
  if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < 0) {
    fail(`${where}: data_offsets must be non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  if (begin > end) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) fail(`${where}: data_offsets [${begin}, ${end}] are out of range: the data section is ${dataLength} bytes`);

  // prod(shape) * itemsize, computed so that a huge shape cannot overflow into a match.
  let expectedBytes = ITEMSIZE[dtype];
  for (const d of shape as number[]) expectedBytes *= d;
  if (expectedBytes !== end - begin) {
    fail(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape ${fmtShape(shape as number[])} of ${fileDtype} ` +
        `needs ${expectedBytes}`,
    );
  }
  return { name, dtype, shape: (shape as number[]).slice(), begin, end };
}

function parseFile(bytes: Uint8Array): ParsedFile {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`deserializeTree: bytes must be a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 8) fail(`the file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`header length ${declared} is absurdly large (the limit is ${MAX_HEADER_BYTES} bytes); not a safetensors file?`);
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) fail(`header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch (e) {
    fail('the header is not valid UTF-8', e);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`, e);
  }
  if (!isPlainObject(header)) fail(`the header must be a JSON object, got ${Array.isArray(header) ? 'an array' : describe(header)}`);

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  let structure: string | undefined;
  let checksum: number | undefined;
  const entries = new Map<string, Entry>();
  for (const name of Object.keys(header)) {
    const raw = header[name];
    if (name === '__metadata__') {
      if (!isPlainObject(raw)) fail(`__metadata__ must be an object of strings, got ${describe(raw)}`);
      for (const k of Object.keys(raw)) {
        const v = raw[k];
        if (typeof v !== 'string') fail(`__metadata__['${k}'] must be a string, got ${describe(v)}`);
        if (k === TREE_METADATA_KEY) structure = v;
        else if (k === CHECKSUM_METADATA_KEY) {
          if (!/^[0-9a-f]{8}$/.test(v)) fail(`__metadata__['${CHECKSUM_METADATA_KEY}'] must be 8 lowercase hex digits, got ${JSON.stringify(v.slice(0, 40))}`);
          checksum = parseInt(v, 16);
        } else setOwn(metadata, k, v);
      }
      continue;
    }
    entries.set(name, parseEntry(name, raw, dataLength));
  }

  // The ranges must tile the data section: sorted by begin, each starts where the last ended.
  // (Zero-length tensors take no room, so they may share an offset with their neighbours.)
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < covered) {
      fail(`tensors '${previous?.name}' and '${e.name}' overlap: [${previous?.begin}, ${previous?.end}] and [${e.begin}, ${e.end}]`);
    }
    if (e.begin > covered) fail(`bytes [${covered}, ${e.begin}) of the data section belong to no tensor (a gap before '${e.name}')`);
    if (e.end > e.begin) {
      covered = e.end;
      previous = e;
    }
  }
  if (covered !== dataLength) fail(`the tensors cover ${covered} bytes but the data section is ${dataLength} bytes (trailing bytes)`);
  if (checksum !== undefined) {
    const actual = crc32(bytes.subarray(dataStart));
    if (actual !== checksum) {
      const hex = (c: number) => c.toString(16).padStart(8, '0');
      fail(`the data section is corrupt: its CRC-32 is ${hex(actual)}, the header records ${hex(checksum)} (damaged or flipped bytes)`);
    }
  }
  return { entries, metadata, structure, checksum, dataStart };
}

/** A tensor holding a copy of the entry's bytes (never a view of `bytes`, at any alignment). */
function readTensor(bytes: Uint8Array, dataStart: number, e: Entry): Tensor {
  const start = bytes.byteOffset + dataStart + e.begin;
  const length = e.end - e.begin;
  const count = length / ITEMSIZE[e.dtype];
  let data: FloatArray;
  if (HOST_LITTLE_ENDIAN) {
    // A fresh buffer is aligned for any element type; copy the bytes into it, then view it.
    const copy = new Uint8Array(length);
    copy.set(new Uint8Array(bytes.buffer, start, length));
    data = e.dtype === 'float32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer);
  } else {
    data = allocate(e.dtype, count);
    const view = new DataView(bytes.buffer, start, length);
    if (e.dtype === 'float32') for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    else for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, true);
  }
  return new Tensor(data, e.shape);
}

function parseStructure(text: string): StructureNode {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(`__metadata__['${TREE_METADATA_KEY}'] is not valid JSON (${(e as Error).message})`, e);
  }
  const bad = (why: string): never => fail(`__metadata__['${TREE_METADATA_KEY}'] is not a valid tree description: ${why}`);
  if (!isPlainObject(parsed)) return bad(`expected an object, got ${describe(parsed)}`);
  if (parsed.version !== FORMAT_VERSION) return bad(`unsupported version ${describe(parsed.version)} (this reader knows version ${FORMAT_VERSION})`);
  const check = (n: unknown, path: string, depth = 0): StructureNode => {
    const at = `at '${displayPath(path)}'`;
    if (depth > MAX_TREE_DEPTH) return bad(`${at}: nested deeper than ${MAX_TREE_DEPTH} levels`);
    if (!isPlainObject(n)) return bad(`${at}: expected a node object, got ${describe(n)}`);
    const child = (k: string): string => (path === '' ? k : `${path}.${k}`);
    switch (n.kind) {
      case 'tensor':
      case 'undefined':
        return { kind: n.kind };
      case 'array':
        if (!Array.isArray(n.items)) return bad(`${at}: array node without items`);
        return { kind: 'array', items: n.items.map((c: unknown, i) => check(c, child(`${i}`), depth + 1)) };
      case 'object': {
        if (!Array.isArray(n.entries)) return bad(`${at}: object node without entries`);
        const entries = n.entries.map((en: unknown): [string, StructureNode] => {
          if (!Array.isArray(en) || en.length !== 2 || typeof en[0] !== 'string') return bad(`${at}: object entries must be [key, node] pairs`);
          return [en[0], check(en[1], child(en[0]), depth + 1)];
        });
        return { kind: 'object', entries };
      }
      case 'value': {
        const v = n.value;
        if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return { kind: 'value', value: v };
        return bad(`${at}: a value node must hold a string, number, boolean or null`);
      }
      case 'number':
        if (n.value === 'NaN' || n.value === 'Infinity' || n.value === '-Infinity' || n.value === '-0') return { kind: 'number', value: n.value };
        return bad(`${at}: unknown special number ${describe(n.value)}`);
      default:
        return bad(`${at}: unknown node kind ${describe(n.kind)}`);
    }
  };
  return check(parsed.root, '');
}

const SPECIAL_NUMBERS = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 } as const;

function rebuild(root: StructureNode, tensorAt: (path: string) => Tensor): unknown {
  const walk = (n: StructureNode, path: string): unknown => {
    const child = (k: string): string => (path === '' ? k : `${path}.${k}`);
    switch (n.kind) {
      case 'tensor':
        return tensorAt(path);
      case 'array':
        return n.items.map((c, i) => walk(c, child(`${i}`)));
      case 'object': {
        const o: Record<string, unknown> = {};
        for (const [k, c] of n.entries) setOwn(o, k, walk(c, child(k)));
        return o;
      }
      case 'value':
        return n.value;
      case 'number':
        return SPECIAL_NUMBERS[n.value];
      case 'undefined':
        return undefined;
    }
  };
  return walk(root, '');
}

/**
 * Rebuilds a tree from the bytes of a safetensors file.
 *
 * - With `template`: the result has the template's structure (and static leaves); every
 *   template tensor must be in the file with the same shape and dtype, and the file may hold no
 *   other tensors. Errors name the path and the expected and found shape or dtype.
 * - Without: the structure stored in `__metadata__["hessian.tree"]`; for a file without it
 *   (written by another tool), a flat object `{ name: Tensor }` in header order.
 *
 * Throws `CheckpointError` for a corrupt file, saying what is wrong. Tensors own their data.
 */
export function deserializeTree<T extends PyTree>(bytes: Uint8Array, template: T): LoadedTree<T>;
export function deserializeTree(bytes: Uint8Array, template?: PyTree): LoadedTree<PyTree>;
export function deserializeTree(bytes: Uint8Array, template?: PyTree): LoadedTree<PyTree> {
  const file = parseFile(bytes);
  const load = (e: Entry): Tensor => readTensor(bytes, file.dataStart, e);

  if (template !== undefined) {
    const leaves = treeLeaves(template);
    const paths = treePaths(template);
    const wanted = new Set(paths);
    for (const name of file.entries.keys()) {
      if (!wanted.has(name)) fail(`the file has tensor '${name}', which the template does not have`);
    }
    const loaded = leaves.map((leaf, i) => {
      const path = paths[i];
      const e = file.entries.get(path);
      if (e === undefined) fail(`'${displayPath(path)}' is in the template but not in the file`);
      if (!sameShape(e.shape, leaf.shape)) fail(`'${displayPath(path)}' has shape ${fmtShape(e.shape)} in the file, expected ${fmtShape(leaf.shape)}`);
      if (e.dtype !== leaf.dtype) fail(`'${displayPath(path)}' has dtype ${e.dtype} in the file, expected ${leaf.dtype}`);
      return load(e);
    });
    return { tree: treeUnflatten(template, loaded), metadata: file.metadata };
  }

  if (file.structure === undefined) {
    const flat: Record<string, Tensor> = {};
    for (const e of file.entries.values()) setOwn(flat, e.name, load(e));
    return { tree: flat, metadata: file.metadata };
  }

  const structure = parseStructure(file.structure);
  const used = new Set<string>();
  const tree = rebuild(structure, (path) => {
    const e = file.entries.get(path);
    if (e === undefined) fail(`the stored structure has a tensor at '${displayPath(path)}', which is not in the file`);
    if (used.has(path)) fail(`the stored structure names the tensor '${displayPath(path)}' twice`);
    used.add(path);
    return load(e);
  });
  for (const name of file.entries.keys()) {
    if (!used.has(name)) fail(`the file has tensor '${name}', which the stored structure does not place`);
  }
  return { tree: tree as PyTree, metadata: file.metadata };
}

// ---------------------------------------------------------------------------------------------
// Files (Node only; `node:fs` is imported on first use so that this module loads in a browser)

function withFile(op: string, path: string, e: unknown): never {
  const message = e instanceof Error ? e.message : String(e);
  const text = `${op}: '${path}': ${message}`;
  if (e instanceof CheckpointError) throw new CheckpointError(text, { cause: e });
  if (e instanceof TypeError) throw new TypeError(text, { cause: e });
  if (e instanceof RangeError) throw new RangeError(text, { cause: e });
  throw new Error(text, { cause: e });
}

/**
 * Writes `serializeTree(tree, metadata)` to `path`: first to `path + '.tmp'` (flushed to disk),
 * then renamed over `path`, so a crash leaves the old checkpoint or the new one, never half of
 * one. Errors name the file.
 */
export async function saveTree(path: string, tree: PyTree, metadata: Record<string, string> = {}): Promise<void> {
  const fs = await import('node:fs/promises');
  const tmp = `${path}.tmp`;
  let bytes: Uint8Array;
  try {
    bytes = serializeTree(tree, metadata);
  } catch (e) {
    withFile('saveTree', path, e);
  }
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    withFile('saveTree', path, e);
  }
}

/** Reads the checkpoint at `path` (see `deserializeTree`). Errors name the file. */
export async function loadTree<T extends PyTree>(path: string, template: T): Promise<LoadedTree<T>>;
export async function loadTree(path: string, template?: PyTree): Promise<LoadedTree<PyTree>>;
export async function loadTree(path: string, template?: PyTree): Promise<LoadedTree<PyTree>> {
  const fs = await import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    withFile('loadTree', path, e);
  }
  try {
    return deserializeTree(bytes, template);
  } catch (e) {
    withFile('loadTree', path, e);
  }
}

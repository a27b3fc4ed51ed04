import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { Tensor, tensor } from '../tensor/tensor.js';
import { treeLeaves, treePaths, type PyTree } from '../autodiff/pytree.js';
import { CHECKSUM_METADATA_KEY, CheckpointError, MAX_HEADER_BYTES, deserializeTree, loadTree, saveTree, serializeTree } from './checkpoint.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Trees equal in structure, static leaves (Object.is) and tensors (shape, dtype, exact bits). */
function assertTreesIdentical(actual: unknown, expected: unknown, path = '(root)'): void {
  if (expected instanceof Tensor) {
    assert.ok(actual instanceof Tensor, `${path}: expected a tensor`);
    assert.deepEqual(actual.shape, expected.shape, `${path}: shape`);
    assert.equal(actual.dtype, expected.dtype, `${path}: dtype`);
    assert.deepEqual(bytesOf(actual), bytesOf(expected), `${path}: bits`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected an array`);
    assert.equal(actual.length, expected.length, `${path}: length`);
    expected.forEach((e, i) => assertTreesIdentical(actual[i], e, `${path}.${i}`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${path}: expected an object`);
    assert.deepEqual(Object.keys(actual), Object.keys(expected), `${path}: keys`);
    for (const k of Object.keys(expected)) {
      assertTreesIdentical((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
    }
  } else {
    assert.ok(Object.is(actual, expected), `${path}: ${String(actual)} vs ${String(expected)}`);
  }
}

/** A file in the safetensors layout, built by hand: u64 LE length, header text as given, data. */
function buildFile(header: unknown, data: Uint8Array = new Uint8Array(0), pad = 0): Uint8Array {
  const text = (typeof header === 'string' ? header : JSON.stringify(header)) + ' '.repeat(pad);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

function f64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat64(8 * i, v, true));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function headerOf(bytes: Uint8Array): { length: number; text: string; json: Record<string, unknown> } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { length, text, json: JSON.parse(text) as Record<string, unknown> };
}

/** A float64 array whose elements have exactly these 64-bit patterns (hi, lo words). */
function f64FromBits(words: [number, number][]): Float64Array {
  const a = new Float64Array(words.length);
  const view = new DataView(a.buffer);
  words.forEach(([hi, lo], i) => {
    view.setUint32(8 * i, lo, true);
    view.setUint32(8 * i + 4, hi, true);
  });
  return a;
}

function throwsCheckpoint(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

const mixedTree = () => ({
  layers: [
    { weight: tensor([[1, 2, 3], [4, 5, 6]]), bias: tensor([0.5, -0.25], undefined, { dtype: 'float64' }) },
    { weight: tensor([[7], [8]], undefined, { dtype: 'float64' }), bias: tensor([Math.PI]), activation: 'tanh' },
  ],
  scale: tensor(2.5), // 0-d
  empty: tensor(new Float32Array(0), [0, 3]), // 0-size
  emptyF64: tensor(new Float64Array(0), [2, 0]),
  config: { lr: 0.1, steps: 100, nesterov: true, name: 'adam', none: null, missing: undefined, nan: NaN, inf: -Infinity, negZero: -0 },
  emptyList: [],
  emptyObject: {},
});

// ---------------------------------------------------------------------------------------------
// Round trips

test('round trip without template rebuilds nested structure, dtypes, 0-d and 0-size tensors and static leaves', () => {
  const tree = mixedTree();
  const { tree: back, metadata } = deserializeTree(serializeTree(tree));
  assertTreesIdentical(back, tree);
  assert.deepEqual(metadata, {});
  assert.ok(Object.hasOwn(back as object, 'config') && Object.hasOwn((back as { config: object }).config, 'missing'), 'undefined leaf keeps its key');
});

test('round trip with a template takes structure from the template and data from the file', () => {
  const tree = mixedTree();
  const template = {
    ...mixedTree(),
    layers: tree.layers.map((l) => ({ ...l, weight: new Tensor(l.weight.data.map(() => 0), l.weight.shape) })),
  };
  const { tree: back } = deserializeTree(serializeTree(tree), template);
  assertTreesIdentical(back, tree);
  assert.notEqual(back.layers[0].weight, template.layers[0].weight);
});

test('a template with integer-like keys and a root array round trips in order', () => {
  const tree = [{ 10: tensor([1]), 2: tensor([2]), b: tensor([3]) }, tensor([[4, 5]], undefined, { dtype: 'float64' })];
  const bytes = serializeTree(tree);
  assertTreesIdentical(deserializeTree(bytes).tree, tree);
  assertTreesIdentical(deserializeTree(bytes, tree).tree, tree);
  assert.deepEqual(treePaths(deserializeTree(bytes).tree), ['0.2', '0.10', '0.b', '1']);
});

test('a tree that is a single tensor is stored under the empty name', () => {
  const t = tensor([[1, 2], [3, 4]], undefined, { dtype: 'float64' });
  const bytes = serializeTree(t);
  assert.deepEqual(Object.keys(headerOf(bytes).json).filter((k) => k !== '__metadata__'), ['']);
  assertTreesIdentical(deserializeTree(bytes).tree, t);
  assertTreesIdentical(deserializeTree(bytes, tensor([[0, 0], [0, 0]], undefined, { dtype: 'float64' })).tree, t);
});

test('float64 data is bit-exact: NaN payloads, -0, infinities, subnormals, extremes', () => {
  const data = f64FromBits([
    [0x7ff80000, 0x00000000], // canonical quiet NaN
    [0x7ff80000, 0xdeadbeef], // quiet NaN with payload
    [0xfff00000, 0x00000001], // negative signalling NaN
    [0x7ff7ffff, 0xffffffff], // signalling NaN, all payload bits
    [0x80000000, 0x00000000], // -0
    [0x7ff00000, 0x00000000], // +Infinity
    [0xfff00000, 0x00000000], // -Infinity
    [0x00000000, 0x00000001], // smallest subnormal
    [0x7fefffff, 0xffffffff], // largest finite
    [0x3fb99999, 0x9999999a], // 0.1
  ]);
  const tree = { x: new Tensor(data, [10]) };
  const back = deserializeTree(serializeTree(tree)).tree as { x: Tensor };
  assert.deepEqual(bytesOf(back.x), bytesOf(tree.x));
  assert.ok(Object.is(back.x.data[4], -0));
});

test('float32 data is bit-exact, NaN payloads included', () => {
  const raw = new Uint32Array([0x7fc00000, 0x7fc0beef, 0xff800001, 0x80000000, 0x7f800000, 0x00000001, 0x3dcccccd]);
  const tree = { x: new Tensor(new Float32Array(raw.buffer), [7]) };
  const back = deserializeTree(serializeTree(tree), { x: tensor(new Float32Array(7), [7]) }).tree;
  assert.deepEqual(bytesOf(back.x), bytesOf(tree.x));
});

test('tensors that are views into a larger buffer serialize only their own elements', () => {
  const buffer = new Float64Array([9, 9, 1, 2, 3, 9]).buffer;
  const view = new Tensor(new Float64Array(buffer, 16, 3), [3]);
  const back = deserializeTree(serializeTree({ v: view })).tree as { v: Tensor };
  assert.deepEqual(Array.from(back.v.data), [1, 2, 3]);
});

test('user metadata round trips and the structure key is not returned', () => {
  const meta = { step: '1200', note: 'ünïcode ✓', '': 'empty key' };
  const { metadata } = deserializeTree(serializeTree({ w: tensor([1]) }, meta));
  assert.deepEqual(metadata, meta);
});

test('loaded tensors own their data: changing the input bytes afterwards changes nothing', () => {
  const bytes = serializeTree({ a: tensor([1, 2, 3]), b: tensor([4], undefined, { dtype: 'float64' }) });
  const back = deserializeTree(bytes).tree as { a: Tensor; b: Tensor };
  assert.notEqual(back.a.data.buffer, bytes.buffer);
  bytes.fill(0xff, headerOf(bytes).length + 8);
  assert.deepEqual(Array.from(back.a.data), [1, 2, 3]);
  assert.deepEqual(Array.from(back.b.data), [4]);
});

// ---------------------------------------------------------------------------------------------
// The layout itself

test('the writer produces the safetensors layout: u64 LE length, padded JSON header, packed LE data', () => {
  const tree = { layers: [{ weight: tensor([[1, 2], [3, 4]]), bias: tensor([0.5, -1.5], undefined, { dtype: 'float64' }) }], n: 3 };
  const bytes = serializeTree(tree, { step: '7' });
  const { length, text, json } = headerOf(bytes);
  assert.equal((8 + length) % 8, 0, 'data section starts 8-byte aligned');
  assert.equal(text, text.trimEnd() + ' '.repeat(length - text.trimEnd().length), 'padding is spaces');
  assert.ok(length - text.trimEnd().length < 8, 'padding is minimal');
  assert.deepEqual(Object.keys(json), ['__metadata__', 'layers.0.weight', 'layers.0.bias']);
  assert.deepEqual(json['layers.0.weight'], { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
  assert.deepEqual(json['layers.0.bias'], { dtype: 'F64', shape: [2], data_offsets: [16, 32] });
  const meta = json.__metadata__ as Record<string, string>;
  assert.equal(meta.step, '7');
  assert.deepEqual(JSON.parse(meta['hessian.tree']), {
    version: 1,
    root: {
      kind: 'object',
      entries: [
        ['layers', { kind: 'array', items: [{ kind: 'object', entries: [['weight', { kind: 'tensor' }], ['bias', { kind: 'tensor' }]] }] }],
        ['n', { kind: 'value', value: 3 }],
      ],
    },
  });
  assert.deepEqual(bytes.subarray(8 + length), concat(f32Bytes([1, 2, 3, 4]), f64Bytes([0.5, -1.5])));
  assert.equal(bytes.length, 8 + length + 32);
});

test('a file built by hand in the safetensors layout loads (unaligned offsets, any order, no structure key)', () => {
  // Tensors stored in reverse order; header length 1 mod 8, so every tensor sits unaligned.
  const a = [1.5, -2, 3.25, 1e-3, 7, 8];
  const b = [Math.E, -Math.PI, 1e300];
  const dataB = f64Bytes(b);
  const dataA = f32Bytes(a);
  const header = {
    __metadata__: { format: 'pt' },
    'encoder.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [dataB.length, dataB.length + dataA.length] },
    'encoder.bias': { dtype: 'F64', shape: [3], data_offsets: [0, dataB.length] },
    scalar: { dtype: 'F32', shape: [], data_offsets: [dataB.length + dataA.length, dataB.length + dataA.length + 4] },
  };
  let text = JSON.stringify(header);
  while ((8 + text.length) % 8 !== 1) text += ' ';
  const file = buildFile(text, concat(dataB, dataA, f32Bytes([42])));
  // Also at an odd offset within a larger buffer.
  const shifted = new Uint8Array(file.length + 3);
  shifted.set(file, 3);
  for (const input of [file, shifted.subarray(3)]) {
    const { tree, metadata } = deserializeTree(input);
    assert.deepEqual(metadata, { format: 'pt' });
    const flat = tree as Record<string, Tensor>;
    assert.deepEqual(Object.keys(flat), ['encoder.weight', 'encoder.bias', 'scalar']);
    assert.deepEqual(flat['encoder.weight'].shape, [2, 3]);
    assert.equal(flat['encoder.weight'].dtype, 'float32');
    assert.deepEqual(Array.from(flat['encoder.weight'].data), Array.from(new Float32Array(a)));
    assert.equal(flat['encoder.bias'].dtype, 'float64');
    assert.deepEqual(Array.from(flat['encoder.bias'].data), b);
    assert.deepEqual(flat.scalar.shape, []);
    assert.equal(flat.scalar.item(), 42);
    // And into a nested template whose paths are the file's names.
    const template = { encoder: { weight: tensor(new Float32Array(6), [2, 3]), bias: tensor(new Float64Array(3), [3]) }, scalar: tensor(0) };
    const nested = deserializeTree(input, template).tree;
    assert.deepEqual(Array.from(nested.encoder.bias.data), b);
    assert.equal(nested.scalar.item(), 42);
  }
});

test('the reference example file (one 2x2 F32 zero tensor, header padded to 64) loads', () => {
  // The bytes the reference implementation writes for {"test": zeros(2, 2)}.
  const text = '{"test":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}';
  const file = buildFile(text, new Uint8Array(16), 64 - text.length);
  assert.equal(file[0], 64);
  const { tree } = deserializeTree(file);
  const t = (tree as Record<string, Tensor>).test;
  assert.deepEqual(t.shape, [2, 2]);
  assert.deepEqual(Array.from(t.data), [0, 0, 0, 0]);
});

test('zero-size tensors may share offsets, and an empty file header loads as an empty tree', () => {
  const file = buildFile({
    e1: { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
    x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
    e2: { dtype: 'F64', shape: [3, 0], data_offsets: [8, 8] },
    e3: { dtype: 'F32', shape: [0], data_offsets: [0, 0] },
  }, f64Bytes([5]));
  const flat = deserializeTree(file).tree as Record<string, Tensor>;
  assert.deepEqual(flat.e2.shape, [3, 0]);
  assert.equal(flat.x.item(), 5);
  assert.deepEqual(deserializeTree(buildFile({})).tree, {});
  assert.deepEqual(deserializeTree(buildFile('{}   ')).tree, {});
});

// ---------------------------------------------------------------------------------------------
// Corrupt files

test('a file shorter than 8 bytes is rejected', () => {
  throwsCheckpoint(() => deserializeTree(new Uint8Array(0)), /0 bytes, too short/);
  throwsCheckpoint(() => deserializeTree(new Uint8Array(7)), /7 bytes, too short/);
});

test('a header length beyond the file or absurdly large is rejected', () => {
  const file = buildFile({});
  new DataView(file.buffer).setUint32(0, 100, true);
  throwsCheckpoint(() => deserializeTree(file), /header length 100 runs past the end of the file \(10 bytes\)/);
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
  throwsCheckpoint(() => deserializeTree(huge), /absurdly large/);
  new DataView(huge.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
  throwsCheckpoint(() => deserializeTree(huge), /absurdly large/);
});

test('a header that is not UTF-8, not JSON, or not an object is rejected', () => {
  const badUtf8 = buildFile('{}');
  badUtf8[9] = 0xff;
  throwsCheckpoint(() => deserializeTree(badUtf8), /not valid UTF-8/);
  throwsCheckpoint(() => deserializeTree(buildFile('{"a": ')), /header is not valid JSON/);
  throwsCheckpoint(() => deserializeTree(buildFile('')), /header is not valid JSON/);
  throwsCheckpoint(() => deserializeTree(buildFile([1, 2])), /header must be a JSON object, got an array/);
  throwsCheckpoint(() => deserializeTree(buildFile('null')), /header must be a JSON object, got null/);
  throwsCheckpoint(() => deserializeTree(buildFile('3')), /header must be a JSON object, got 3/);
});

test('unknown or unsupported dtypes are rejected with the tensor name', () => {
  throwsCheckpoint(() => deserializeTree(buildFile({ w: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4))), /tensor 'w'.*dtype 'BF16'/);
  throwsCheckpoint(() => deserializeTree(buildFile({ w: { dtype: 'Q7', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))), /tensor 'w'.*unknown or unsupported dtype 'Q7'/);
  throwsCheckpoint(() => deserializeTree(buildFile({ w: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))), /tensor 'w': dtype must be a string/);
  throwsCheckpoint(() => deserializeTree(buildFile({ w: { dtype: 'constructor', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))), /unsupported dtype 'constructor'/);
  throwsCheckpoint(() => deserializeTree(buildFile({ w: [1, 2] }, new Uint8Array(4))), /tensor 'w': expected an object/);
});

test('bad shapes are rejected: negative, fractional, non-numeric, not an array', () => {
  const entry = (shape: unknown) => buildFile({ w: { dtype: 'F32', shape, data_offsets: [0, 4] } }, new Uint8Array(4));
  throwsCheckpoint(() => deserializeTree(entry([-1])), /tensor 'w': shape must hold non-negative integers, got \[-1\]/);
  throwsCheckpoint(() => deserializeTree(entry([1.5])), /shape must hold non-negative integers, got \[1\.5\]/);
  throwsCheckpoint(() => deserializeTree(entry(['1'])), /shape must hold non-negative integers/);
  throwsCheckpoint(() => deserializeTree(entry([2 ** 60])), /shape must hold non-negative integers/);
  throwsCheckpoint(() => deserializeTree(entry(4)), /tensor 'w': shape must be an array/);
});

test('offsets out of range, reversed or malformed are rejected', () => {
  const entry = (data_offsets: unknown, dataBytes = 8) => buildFile({ w: { dtype: 'F32', shape: [2], data_offsets } }, new Uint8Array(dataBytes));
  throwsCheckpoint(() => deserializeTree(entry([0, 8], 4)), /tensor 'w': data_offsets \[0, 8\] are out of range: the data section is 4 bytes/);
  throwsCheckpoint(() => deserializeTree(entry([8, 0])), /tensor 'w': data_offsets \[8, 0\] end before they begin/);
  throwsCheckpoint(() => deserializeTree(entry([-8, 0])), /data_offsets must be non-negative integers/);
  throwsCheckpoint(() => deserializeTree(entry([0, 7.5])), /data_offsets must be non-negative integers/);
  throwsCheckpoint(() => deserializeTree(entry([0])), /data_offsets must be \[begin, end\]/);
  throwsCheckpoint(() => deserializeTree(entry('0-8')), /data_offsets must be \[begin, end\]/);
});

test('a byte length other than prod(shape) * itemsize is rejected', () => {
  throwsCheckpoint(
    () => deserializeTree(buildFile({ w: { dtype: 'F64', shape: [2, 3], data_offsets: [0, 24] } }, new Uint8Array(24))),
    /tensor 'w': data_offsets \[0, 24\] span 24 bytes, but shape \[2, 3\] of F64 needs 48/,
  );
  throwsCheckpoint(() => deserializeTree(buildFile({ s: { dtype: 'F32', shape: [], data_offsets: [0, 0] } })), /tensor 's'.*needs 4/);
});

test('overlapping ranges, gaps and trailing bytes are rejected', () => {
  const overlap = buildFile({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
  }, new Uint8Array(12));
  throwsCheckpoint(() => deserializeTree(overlap), /tensors 'a' and 'b' overlap/);
  const same = buildFile({
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    b: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
  }, new Uint8Array(8));
  throwsCheckpoint(() => deserializeTree(same), /overlap/);
  const gap = buildFile({
    a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
  }, new Uint8Array(12));
  throwsCheckpoint(() => deserializeTree(gap), /bytes \[4, 8\) of the data section belong to no tensor \(a gap before 'b'\)/);
  const trailing = buildFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(6));
  throwsCheckpoint(() => deserializeTree(trailing), /cover 4 bytes but the data section is 6 bytes/);
  const leadingGap = buildFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8));
  throwsCheckpoint(() => deserializeTree(leadingGap), /bytes \[0, 4\)/);
});

test('a truncated file is rejected rather than read short', () => {
  const bytes = serializeTree({ a: tensor([1, 2, 3, 4]) });
  throwsCheckpoint(() => deserializeTree(bytes.subarray(0, bytes.length - 1)), /out of range/);
  throwsCheckpoint(() => deserializeTree(bytes.subarray(0, 20)), /runs past the end of the file/);
});

test('bad __metadata__ is rejected', () => {
  throwsCheckpoint(() => deserializeTree(buildFile({ __metadata__: { step: 3 } })), /__metadata__\['step'\] must be a string/);
  throwsCheckpoint(() => deserializeTree(buildFile({ __metadata__: ['x'] })), /__metadata__ must be an object of strings/);
});

test('a bad stored structure is rejected, and must match the file\'s tensors', () => {
  const withStructure = (structure: string, header: Record<string, unknown> = {}, data?: Uint8Array) =>
    buildFile({ __metadata__: { 'hessian.tree': structure }, ...header }, data);
  throwsCheckpoint(() => deserializeTree(withStructure('{oops')), /'hessian.tree'\] is not valid JSON/);
  throwsCheckpoint(() => deserializeTree(withStructure('{"version":99,"root":{"kind":"undefined"}}')), /unsupported version 99/);
  throwsCheckpoint(() => deserializeTree(withStructure('{"version":1,"root":{"kind":"set"}}')), /unknown node kind 'set'/);
  throwsCheckpoint(
    () => deserializeTree(withStructure('{"version":1,"root":{"kind":"object","entries":[["a",{"kind":"array","items":[{"kind":"value","value":{}}]}]]}}')),
    /at 'a.0': a value node must hold/,
  );
  const x = { x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
  throwsCheckpoint(
    () => deserializeTree(withStructure('{"version":1,"root":{"kind":"object","entries":[["y",{"kind":"tensor"}]]}}', x, new Uint8Array(4))),
    /tensor at 'y', which is not in the file/,
  );
  throwsCheckpoint(
    () => deserializeTree(withStructure('{"version":1,"root":{"kind":"object","entries":[]}}', x, new Uint8Array(4))),
    /the file has tensor 'x', which the stored structure does not place/,
  );
  // With a template the stored structure is not consulted.
  const t = deserializeTree(withStructure('{oops', x, f32Bytes([2])), { x: tensor([0]) }).tree;
  assert.equal(t.x.item(), 2);
});

// ---------------------------------------------------------------------------------------------
// Templates that do not match

test('a template that does not match the file names the path and what differs', () => {
  const bytes = serializeTree({ layers: [{ weight: tensor(new Float32Array(12), [3, 4]), bias: tensor([1, 2, 3]) }] });
  const template = (weight: Tensor, bias: Tensor = tensor([0, 0, 0])): PyTree => ({ layers: [{ weight, bias }] });
  throwsCheckpoint(
    () => deserializeTree(bytes, template(tensor(new Float32Array(12), [4, 3]))),
    /^checkpoint: 'layers\.0\.weight' has shape \[3, 4\] in the file, expected \[4, 3\]$/,
  );
  throwsCheckpoint(
    () => deserializeTree(bytes, template(tensor(new Float64Array(12), [3, 4]))),
    /'layers\.0\.weight' has dtype float32 in the file, expected float64/,
  );
  throwsCheckpoint(
    () => deserializeTree(bytes, { layers: [{ weight: tensor(new Float32Array(12), [3, 4]), bias: tensor([0, 0, 0]), gain: tensor([1]) }] }),
    /'layers\.0\.gain' is in the template but not in the file/,
  );
  throwsCheckpoint(
    () => deserializeTree(bytes, { layers: [{ weight: tensor(new Float32Array(12), [3, 4]) }] }),
    /the file has tensor 'layers\.0\.bias', which the template does not have/,
  );
  // A matching template loads.
  const ok = deserializeTree(bytes, template(tensor(new Float32Array(12), [3, 4]))).tree as { layers: { bias: Tensor }[] };
  assert.deepEqual(Array.from(ok.layers[0].bias.data), [1, 2, 3]);
  assert.equal(treeLeaves(ok).length, 2);
});

// ---------------------------------------------------------------------------------------------
// Trees that cannot be written

test('serializeTree rejects what a checkpoint cannot hold, naming it', () => {
  assert.throws(() => serializeTree({ a: { b: (() => 1) as unknown as PyTree } }), /serializeTree: 'a\.b' is .*function/);
  assert.throws(() => serializeTree({ when: new Date(0) as unknown as PyTree }), /'when' is object/);
  const cyclic: Record<string, unknown> = { x: tensor([1]) };
  cyclic.self = cyclic;
  assert.throws(() => serializeTree(cyclic as PyTree), /cycle at 'self'/);
  assert.throws(() => serializeTree({ 'a.b': tensor([1]), a: { b: tensor([2]) } }), /two tensors have the path 'a\.b'/);
  assert.throws(() => serializeTree({ __metadata__: tensor([1]) }), /cannot be '__metadata__'/);
  assert.throws(() => serializeTree({ x: tensor([1]) }, { step: 3 as unknown as string }), /metadata\['step'\] must be a string/);
  assert.throws(() => serializeTree({ x: tensor([1]) }, { 'hessian.tree': '{}' }), /reserved/);
});

// ---------------------------------------------------------------------------------------------
// Files

test('saveTree and loadTree round trip through a file, atomically, and overwrite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hessian-checkpoint-'));
  try {
    const path = join(dir, 'model.safetensors');
    const tree = mixedTree();
    await saveTree(path, tree, { epoch: '3' });
    assert.deepEqual(readdirSync(dir), ['model.safetensors'], 'no temporary file left behind');
    const loaded = await loadTree(path);
    assertTreesIdentical(loaded.tree, tree);
    assert.deepEqual(loaded.metadata, { epoch: '3' });
    const withTemplate = await loadTree(path, mixedTree());
    assertTreesIdentical(withTemplate.tree, tree);

    await saveTree(path, { only: tensor([9]) });
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    assert.equal(((await loadTree(path)).tree as { only: Tensor }).only.item(), 9);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file errors name the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hessian-checkpoint-'));
  try {
    const missing = join(dir, 'missing.safetensors');
    await assert.rejects(loadTree(missing), (e: Error) => e.message.includes(missing) && /ENOENT|no such file/.test(e.message));
    const corrupt = join(dir, 'corrupt.safetensors');
    writeFileSync(corrupt, new Uint8Array([1, 2, 3]));
    await assert.rejects(loadTree(corrupt), (e: Error) => e instanceof CheckpointError && e.message.includes(corrupt) && /too short/.test(e.message));
    const good = join(dir, 'good.safetensors');
    await saveTree(good, { w: tensor([1, 2]) });
    await assert.rejects(loadTree(good, { w: tensor([1, 2, 3]) }), (e: Error) => e.message.includes(good) && /'w' has shape \[2\] in the file, expected \[3\]/.test(e.message));
    const inMissingDir = join(dir, 'no', 'such', 'dir', 'x.safetensors');
    await assert.rejects(saveTree(inMissingDir, { w: tensor([1]) }), (e: Error) => e.message.includes(inMissingDir));
    await assert.rejects(saveTree(join(dir, 'bad.safetensors'), { f: (() => 0) as unknown as PyTree }), (e: Error) => e instanceof TypeError && e.message.includes('bad.safetensors'));
    assert.ok(!existsSync(join(dir, 'bad.safetensors')) && !existsSync(join(dir, 'bad.safetensors.tmp')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The data checksum

test('the header records the CRC-32 of the data section, and it is not returned as metadata', () => {
  const bytes = serializeTree(mixedTree(), { step: '3' });
  const { length, json } = headerOf(bytes);
  const meta = json.__metadata__ as Record<string, string>;
  assert.equal(meta[CHECKSUM_METADATA_KEY], zlibCrc32(bytes.subarray(8 + length)).toString(16).padStart(8, '0'));
  assert.deepEqual(deserializeTree(bytes).metadata, { step: '3' });
  assert.throws(() => serializeTree({ w: tensor([1]) }, { [CHECKSUM_METADATA_KEY]: '00000000' }), /reserved for the data checksum/);
});

test('every single flipped bit in the data section is detected by the checksum', () => {
  const bytes = serializeTree({ w: tensor([[1, 2], [3, 4]]), b: tensor([0.5, -1.5], undefined, { dtype: 'float64' }) });
  const start = 8 + headerOf(bytes).length;
  for (let bit = 0; bit < (bytes.length - start) * 8; bit++) {
    const copy = bytes.slice();
    copy[start + (bit >> 3)] ^= 1 << (bit & 7);
    throwsCheckpoint(() => deserializeTree(copy), /data section is corrupt: its CRC-32 is [0-9a-f]{8}, the header records [0-9a-f]{8}/);
  }
});

test('a file without a checksum (older versions, other tools) still loads; a malformed checksum is rejected', () => {
  const data = f32Bytes([1, 2]);
  const header = (meta: Record<string, string>) => ({ __metadata__: meta, w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
  const old = deserializeTree(buildFile(header({ step: '1' }), data));
  assert.deepEqual(Array.from((old.tree as { w: Tensor }).w.data), [1, 2]);
  const good = zlibCrc32(data).toString(16).padStart(8, '0');
  assert.deepEqual(deserializeTree(buildFile(header({ [CHECKSUM_METADATA_KEY]: good }), data)).metadata, {});
  for (const bad of ['', 'xyz', good.toUpperCase(), `${good}0`, '-1']) {
    if (bad === good) continue;
    throwsCheckpoint(() => deserializeTree(buildFile(header({ [CHECKSUM_METADATA_KEY]: bad }), data)), /hessian\.data-crc32'\] must be 8 lowercase hex digits/);
  }
});

/**
 * Property-based tests of the checkpoint parser (fast-check, seeded): random bytes and
 * mutations of valid files (truncation, flipped bits, edited header JSON, huge declared lengths
 * and offsets, wrong dtypes) give either a correct load or a `CheckpointError` whose message
 * says what is wrong — never another exception, a hang or a crash. Every test has a time limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Tensor } from '../tensor/tensor.js';
import { treeLeaves, treePaths, type PyTree } from '../autodiff/pytree.js';
import { CheckpointError, deserializeTree, serializeTree } from './checkpoint.js';

const LIMIT = { timeout: 60_000 };

/** Loads `bytes`; a failure must be a CheckpointError with a message. Returns the tree or undefined. */
function loadOrCleanError(bytes: Uint8Array): PyTree | undefined {
  try {
    return deserializeTree(bytes).tree;
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw new Error(`expected a CheckpointError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
    assert.match(e.message, /^checkpoint: \S.{8,}/);
    return undefined;
  }
}

const tensorArb = fc
  .record({
    dtype: fc.constantFrom('float32' as const, 'float64' as const),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
    seed: fc.integer(),
  })
  .map(({ dtype, shape, seed }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
    let s = seed | 0;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) | 0;
      data[i] = s / 2 ** 20;
    }
    return new Tensor(data, shape);
  });

const treeArb: fc.Arbitrary<PyTree> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tensorArb,
    fc.constantFrom(1.5, 'adam', true, null, NaN),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('w', 'b', 'mu', 'nu', '0', 'x y'), tie('node'), { maxKeys: 3 }),
  ),
})).node as fc.Arbitrary<PyTree>;

const validFileArb = fc.tuple(treeArb, fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 8 }), { maxKeys: 2 })).map(([tree, meta]) => {
  delete (meta as Record<string, string>)['hessian.tree'];
  delete (meta as Record<string, string>)['hessian.data-crc32'];
  return { tree, bytes: serializeTree(tree, meta) };
});

function headerLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

/** The file with its header replaced by `json` (length field updated), data section unchanged. */
function withHeader(bytes: Uint8Array, json: string): Uint8Array {
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + bytes.length - 8 - headerLength(bytes));
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + headerLength(bytes)), 8 + text.length);
  return out;
}

function sameBits(a: Tensor, b: Tensor): boolean {
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return a.dtype === b.dtype && a.shape.join() === b.shape.join() && x.length === y.length && x.every((v, i) => v === y[i]);
}

test('random bytes give a clean error or a load', LIMIT, () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => void loadOrCleanError(bytes)), { seed: 101, numRuns: 2000 });
  // with a plausible header length, so that the JSON parser and validator are reached
  const withLength = fc.tuple(fc.integer({ min: 0, max: 64 }), fc.uint8Array({ maxLength: 100 })).map(([n, rest]) => {
    const out = new Uint8Array(8 + rest.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
    out.set(rest, 8);
    return out;
  });
  fc.assert(fc.property(withLength, (bytes) => void loadOrCleanError(bytes)), { seed: 102, numRuns: 2000 });
});

test('valid files of random trees load back exactly', LIMIT, () => {
  fc.assert(fc.property(validFileArb, ({ tree, bytes }) => {
    const back = deserializeTree(bytes).tree;
    assert.deepEqual(treePaths(back), treePaths(tree));
    const a = treeLeaves(tree);
    treeLeaves(back).forEach((t, i) => assert.ok(sameBits(t, a[i]), treePaths(tree)[i]));
  }), { seed: 103, numRuns: 300 });
});

test('a truncated file is always an error', LIMIT, () => {
  fc.assert(fc.property(validFileArb, fc.nat(), ({ bytes }, cut) => {
    const short = bytes.subarray(0, cut % bytes.length);
    assert.equal(loadOrCleanError(short), undefined, `${short.length} of ${bytes.length} bytes loaded`);
  }), { seed: 104, numRuns: 500 });
});

test('a flipped bit is an error in the data section, and an error or a load in the header', LIMIT, () => {
  fc.assert(fc.property(validFileArb, fc.nat(), ({ bytes }, at) => {
    const bit = at % (bytes.length * 8);
    const copy = bytes.slice();
    copy[bit >> 3] ^= 1 << (bit & 7);
    const back = loadOrCleanError(copy);
    if ((bit >> 3) >= 8 + headerLength(bytes)) assert.equal(back, undefined, `flipped data bit ${bit} loaded`);
  }), { seed: 105, numRuns: 1000 });
});

const hugeNumber = fc.constantFrom(2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e300, -1, -0, 0.5, NaN, Number.MAX_SAFE_INTEGER, 2 ** 31, 2 ** 32);
const edit = fc.oneof(
  fc.record({ field: fc.constantFrom('dtype', 'shape', 'data_offsets'), value: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ field: fc.constant('dtype'), value: fc.constantFrom('F16', 'BF16', 'I64', 'U8', 'BOOL', 'f32', 'F32 ', '', '__proto__') }),
  fc.record({ field: fc.constant('shape'), value: fc.array(hugeNumber, { maxLength: 3 }) }),
  fc.record({ field: fc.constant('data_offsets'), value: fc.tuple(hugeNumber, hugeNumber) }),
  fc.record({ field: fc.constant('delete'), value: fc.constantFrom('dtype', 'shape', 'data_offsets') }),
  fc.record({ field: fc.constant('metadata'), value: fc.dictionary(fc.constantFrom('hessian.tree', 'hessian.data-crc32', 'x'), fc.jsonValue({ maxDepth: 2 })) }),
  fc.record({ field: fc.constant('rename'), value: fc.string({ maxLength: 6 }) }),
);

test('edited header JSON (wrong dtypes, huge shapes and offsets, bad metadata) gives a clean error or a load', LIMIT, () => {
  fc.assert(fc.property(validFileArb, fc.array(fc.tuple(fc.nat(), edit), { minLength: 1, maxLength: 3 }), ({ bytes }, edits) => {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength(bytes)))) as Record<string, Record<string, unknown>>;
    for (const [pick, { field, value }] of edits) {
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      if (field === 'metadata') {
        header.__metadata__ = { ...header.__metadata__, ...(value as Record<string, unknown>) };
        continue;
      }
      if (names.length === 0) continue;
      const name = names[pick % names.length];
      if (field === 'rename') {
        header[value as string] = header[name];
        delete header[name];
      } else if (field === 'delete') delete header[name][value as string];
      else header[name] = { ...header[name], [field]: value };
    }
    const back = loadOrCleanError(withHeader(bytes, JSON.stringify(header)));
    if (back !== undefined) {
      // A load is a correct one: the tensors are exactly the data section, nothing more or less.
      const total = treeLeaves(back).reduce((n, t) => n + t.data.byteLength, 0);
      assert.equal(total, bytes.length - 8 - headerLength(bytes));
    }
  }), { seed: 106, numRuns: 1000 });
});

test('a huge declared header length is an error, not an allocation', LIMIT, () => {
  fc.assert(fc.property(validFileArb, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), ({ bytes }, n) => {
    const copy = bytes.slice();
    new DataView(copy.buffer).setBigUint64(0, n, true);
    const back = loadOrCleanError(copy);
    if (n !== BigInt(headerLength(bytes))) assert.equal(back, undefined);
  }), { seed: 107, numRuns: 500 });
});

test('a deeply nested stored structure is a clean error, not a stack overflow', LIMIT, () => {
  const depth = 100_000;
  const structure = `{"version":1,"root":${'{"kind":"array","items":['.repeat(depth)}${']}'.repeat(depth)}}`;
  const header = JSON.stringify({ __metadata__: { 'hessian.tree': structure } });
  const bytes = withHeader(new Uint8Array(8), header);
  assert.equal(loadOrCleanError(bytes), undefined);
});

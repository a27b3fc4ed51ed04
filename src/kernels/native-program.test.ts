// Native programs (the jit's replay of kernel steps in one call): each instruction gives the
// bits of the entry point of the same name, and bad programs or arrays are refused with an
// error naming the problem before any memory is touched. Skips without the native build.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BINARY_OPS, REDUCE_OPS, UNARY_GRAD_OPS, UNARY_OPS, type Kernels } from './types.js';
import { loadNativeKernels, nativeLoadError } from './native-backend.js';

const loaded = loadNativeKernels();
const skip = loaded === null || loaded.programCreate === undefined ? `native programs unavailable: ${nativeLoadError() ?? 'stale build'}` : false;
const k = loaded as Required<Kernels>;

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>, what: string): void => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

describe('native programs', { skip }, () => {
  test('every instruction equals its entry point bit for bit (float64 and float32)', () => {
    for (const C of [Float64Array, Float32Array]) {
      const d = C === Float64Array ? 1 : 0;
      // slots: 0 x[3x4], 1 w[4x2], 2 b[2] (bound), 3 h[3x2], 4 t[3x2], 5 g[3x2], 6 s[1], 7 bc[3x2], 8 e[3x2]
      const x = new C(Array.from({ length: 12 }, (_, i) => Math.sin(i + 1)));
      const w = new C(Array.from({ length: 8 }, (_, i) => Math.cos(i)));
      const b = new C([0.25, -0.5]);
      const lengths = Float64Array.from([12, 8, 2, 6, 6, 6, 1, 6, 6]);
      const code = [
        3, d, 0, 0, 3, 2, 4, 0, 4, 1, 2, 3, // h = x @ w
        2, d, BINARY_OPS.indexOf('add'), 3, 2, 4, 2, 3, 2, 2, 1, 0, 1, // t = h + b (broadcast over rows)
        1, d, UNARY_OPS.indexOf('tanh'), 4, 4, 6, // t = tanh(t) in place
        4, d, UNARY_GRAD_OPS.indexOf('tanh'), 4, 3, 5, 6, // g = tanh'(t) h
        5, d, REDUCE_OPS.indexOf('sum'), 5, 1, 6, 1, 6, 1, // s = sum(g)
        6, d, 6, 7, 2, 3, 2, 0, 0, // bc = broadcast s to [3, 2]
        2, d, BINARY_OPS.indexOf('mul'), 5, 6, 8, 1, 6, 1, 0, // e = g * s (scalar)
      ];
      const prog = k.programCreate(Float64Array.from(code), lengths, new Uint8Array(9).fill(d));
      k.programBind(prog, 2, b);
      const out = [3, 4, 5, 6, 7, 8].map((s) => new C(lengths[s]));
      k.programRun(prog, 0, 7, [x, w, ...out], Int32Array.from([0, 1, 3, 4, 5, 6, 7, 8]));
      // The same calls through the entry points.
      const h = new C(6), t = new C(6), g = new C(6), s = new C(1), bc = new C(6), e = new C(6);
      k.gemm(false, false, 3, 2, 4, 1, x, 4, 0, w, 2, 0, 0, h, 2, 6, 1);
      k.binary('add', h, [2, 1], b, [0, 1], t, [3, 2]);
      k.unary('tanh', t, t);
      k.unaryGrad('tanh', t, h, g);
      k.reduce('sum', g, 1, 6, 1, s);
      k.copyStrided(s, [0, 0], [3, 2], bc);
      k.binary('mul', g, [1], s, [0], e, [6]);
      [h, t, g, s, bc, e].forEach((want, i) => sameBits(out[i], want, `${C.name} slot ${[3, 4, 5, 6, 7, 8][i]}`));
      // Runs of a subrange, with the arrays of the earlier results handed in.
      const e2 = new C(6);
      k.programRun(prog, 6, 7, [out[2], out[3], e2], Int32Array.from([5, 6, 8]));
      sameBits(e2, e, `${C.name} a run of the last instruction alone`);
    }
  });

  test('refuses malformed code, extents beyond a slot, and mixed dtypes, naming the problem', () => {
    const lens = Float64Array.from([4, 4]);
    const f64 = new Uint8Array([1, 1]);
    const create = (code: number[], l = lens, f = f64) => k.programCreate(Float64Array.from(code), l, f);
    assert.throws(() => create([9, 1]), /opcode must be .*<= 6/);
    assert.throws(() => create([1, 1, 0, 0]), /code ends inside an instruction/);
    assert.throws(() => create([1, 1, 0, 0, 2, 4]), /out must be a non-negative integer <= 1, got 2/);
    assert.throws(() => create([1, 1, 0, 0, 1, 5]), /x slot is shorter/);
    assert.throws(() => create([1, 1, 99, 0, 1, 4]), /unary op must be/);
    assert.throws(() => create([3, 1, 0, 0, 3, 2, 2, 0, 2, 1, 2, 1]), /a slot is shorter|c slot is shorter/);
    assert.throws(() => create([1, 1, 0, 0, 1, 4], lens, new Uint8Array([1, 0])), /another dtype/);
    assert.throws(() => k.programCreate(new Float32Array(2) as unknown as Float64Array, lens, f64), /code has the wrong typed-array type/);
    assert.throws(() => k.programCreate(new Float64Array(0), lens, new Uint8Array(1)), /differ in length/);
  });

  test('refuses short or wrong-dtype arrays at bind and run, and forgets per-run arrays after each run', () => {
    const prog = k.programCreate(Float64Array.from([1, 1, UNARY_OPS.indexOf('neg'), 0, 1, 4]), Float64Array.from([4, 4]), new Uint8Array([1, 1]));
    assert.throws(() => k.programBind(prog, 0, new Float64Array(3)), /shorter than its slot/);
    assert.throws(() => k.programBind(prog, 0, new Float32Array(4)), /another dtype/);
    assert.throws(() => k.programBind(prog, 2, new Float64Array(4)), /slot must be/);
    assert.throws(() => k.programBind({} as unknown, 0, new Float64Array(4)), /program handle/);
    const x = Float64Array.from([1, -2, 3, -4]);
    const out = new Float64Array(4);
    assert.throws(() => k.programRun(prog, 0, 1, [x], Int32Array.from([0, 1])), /differ in length/);
    assert.throws(() => k.programRun(prog, 0, 2, [x, out], Int32Array.from([0, 1])), /to must be/);
    assert.throws(() => k.programRun(prog, 0, 1, [x, new Float64Array(2)], Int32Array.from([0, 1])), /shorter than its slot/);
    assert.deepEqual(Array.from(out), [0, 0, 0, 0], 'nothing written by a refused run');
    k.programRun(prog, 0, 1, [x, out], Int32Array.from([0, 1]));
    assert.deepEqual(Array.from(out), [-1, 2, -3, 4]);
    // The arrays of that run are not remembered: a run without them is refused, not a read of freed memory.
    assert.throws(() => k.programRun(prog, 0, 1, [], new Int32Array(0)), /has no array/);
    k.programBind(prog, 0, x);
    assert.throws(() => k.programRun(prog, 0, 1, [], new Int32Array(0)), /has no array/, 'out is still missing');
  });
});

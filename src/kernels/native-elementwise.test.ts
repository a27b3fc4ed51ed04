// Accuracy of the native exp, expm1, log, log1p, tanh, sigmoid and softplus over the full range,
// on every instruction set this machine runs (avx512, avx2, and the scalar libm loops), against
// an oracle evaluated in x87 long double (64-bit mantissa) and rounded once to the dtype:
//   float32: within 2 ulp of the correctly rounded result (distance in representable floats);
//   float64: within 1e-15 relative where the result is normal, 2 subnormal steps below that.
// Inputs: every special value, a few ulps around each overflow / underflow / subnormal
// threshold, a dense sweep of [-800, 800], every binade from the smallest subnormal to the
// largest finite (both signs), and seeded random bit patterns. Zeros must keep their sign,
// NaN must stay NaN, infinities must be exact.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloatArray, UnaryOp } from './types.js';
import { loadNativeAddon, nativeLoadError } from './native-backend.js';
import { uniformSource } from '../testing/helpers.js';

const addon = loadNativeAddon();
const skip = addon === null ? `native backend unavailable: ${nativeLoadError() ?? 'unknown'}` : false;

const OPS: readonly UnaryOp[] = ['exp', 'expm1', 'log', 'log1p', 'tanh', 'sigmoid', 'softplus'];
type Dtype = 'float32' | 'float64';

/** The neighbours of v: `k` representable values on each side (v itself included). */
function around(dtype: Dtype, v: number, k: number): number[] {
  const out: number[] = [];
  if (dtype === 'float32') {
    const f = new Float32Array([v]);
    const i = new Int32Array(f.buffer);
    const base = i[0];
    for (let d = -k; d <= k; d++) {
      i[0] = base + d;
      out.push(f[0]);
    }
  } else {
    const f = new Float64Array([v]);
    const i = new BigInt64Array(f.buffer);
    const base = i[0];
    for (let d = -k; d <= k; d++) {
      i[0] = base + BigInt(d);
      out.push(f[0]);
    }
  }
  return out;
}

function inputs(dtype: Dtype, seed: number): FloatArray {
  const f32 = dtype === 'float32';
  const vals: number[] = [0, -0, Infinity, -Infinity, NaN, 1, -1, 2, 0.5, -0.5];
  const maxExp = f32 ? 127 : 1023;
  const minExp = f32 ? -149 : -1074;
  const thresholds = f32
    ? [88.72283935546875, -87.33654475, -103.97208, -103.27893, 1, -1, 2 ** -126, 2 ** -149, 3.4028234663852886e38, 2 ** -12, 10, 9.01, 0.5493]
    : [709.782712893384, -708.3964185322641, -745.1332191019411, -744.4400719213812, 1, -1, 2 ** -1022, 2 ** -1074, Number.MAX_VALUE, 2 ** -28, 22, 0.5493, 38];
  for (const t of thresholds) vals.push(...around(dtype, t, 24), ...around(dtype, -t, 24));
  // every binade, both signs, 16 mantissas each
  for (let e = minExp; e <= maxExp; e++) {
    for (let m = 0; m < 16; m++) {
      const v = 2 ** e * (1 + m / 16);
      vals.push(v, -v);
    }
  }
  // dense sweep over the range where the ops do not saturate
  const n = 1 << 15;
  for (let i = 0; i <= n; i++) vals.push(-800 + (1600 * i) / n);
  for (let i = 0; i <= n; i++) vals.push(-2 + (4 * i) / n);
  const out = f32 ? new Float32Array(vals.length + (1 << 15)) : new Float64Array(vals.length + (1 << 15));
  out.set(vals);
  // random bit patterns
  const rnd = uniformSource(seed);
  const words = new Uint32Array(out.buffer, vals.length * out.BYTES_PER_ELEMENT);
  for (let i = 0; i < words.length; i++) words[i] = Math.floor(rnd() * 2 ** 32) >>> 0;
  return out;
}

/** Ordered integer of a float32 bit pattern: adjacent floats differ by 1, -0 and +0 meet at 0. */
function orderedF32(bits: number): number {
  return bits < 0 ? -(bits & 0x7fffffff) : bits;
}

/** Index and size of the worst violation, or null. */
function worst(dtype: Dtype, x: FloatArray, got: FloatArray, want: FloatArray): string | null {
  let bad: string | null = null;
  let worstErr = 0;
  const gBits = dtype === 'float32' ? new Int32Array(got.buffer, got.byteOffset, got.length) : null;
  const wBits = dtype === 'float32' ? new Int32Array(want.buffer, want.byteOffset, want.length) : null;
  for (let i = 0; i < x.length; i++) {
    const g = got[i];
    const w = want[i];
    let err: number;
    if (Number.isNaN(w) || Number.isNaN(g)) err = Number.isNaN(w) && Number.isNaN(g) ? 0 : Infinity;
    else if (g === w) err = Object.is(g, 0) === Object.is(w, 0) ? 0 : Infinity; // the sign of zero counts
    else if (!Number.isFinite(w) || !Number.isFinite(g)) err = Infinity;
    else if (gBits !== null && wBits !== null) {
      err = Math.abs(orderedF32(gBits[i]) - orderedF32(wBits[i])) / 2; // limit 2 ulp -> 1
    } else if (Math.abs(w) >= 2 ** -1022) {
      err = Math.abs(g - w) / Math.abs(w) / 1e-15;
    } else {
      err = Math.abs(g - w) / 2 ** -1074 / 2;
    }
    if (err > 1 && err > worstErr) {
      worstErr = err;
      bad = `x = ${x[i]}: got ${g}, oracle ${w} (${dtype === 'float32' ? `${2 * err} ulp` : `${err} x the limit`})`;
    }
  }
  return bad;
}

describe('native vectorized elementwise math: accuracy over the full range', { skip }, () => {
  const isas = ['avx512', 'avx2', 'scalar'].filter((name) => addon?.selectElementwiseIsa(name) === true);
  addon?.selectElementwiseIsa('auto');

  test('the instruction set can be forced and reported; unknown names are refused', () => {
    assert.ok(addon !== null);
    assert.ok(isas.includes('scalar'));
    for (const name of isas) {
      assert.equal(addon.selectElementwiseIsa(name), true);
      assert.equal(addon.elementwiseIsa(), name);
    }
    assert.equal(addon.selectElementwiseIsa('sse9'), false);
    assert.equal(addon.selectElementwiseIsa('auto'), true);
    assert.equal(addon.elementwiseIsa(), isas[0]);
  });

  for (const isa of isas) {
    for (const dtype of ['float32', 'float64'] as const) {
      test(`${isa} ${dtype}: every op within ${dtype === 'float32' ? '2 ulp' : '1e-15 relative'} of the long-double oracle`, () => {
        assert.ok(addon !== null);
        const x = inputs(dtype, dtype === 'float32' ? 11 : 12);
        const got = dtype === 'float32' ? new Float32Array(x.length) : new Float64Array(x.length);
        const want = dtype === 'float32' ? new Float32Array(x.length) : new Float64Array(x.length);
        const failures: string[] = [];
        try {
          assert.equal(addon.selectElementwiseIsa(isa), true);
          for (const op of OPS) {
            addon.unary(op, x, got);
            addon.unaryReference(op, x, want);
            const bad = worst(dtype, x, got, want);
            if (bad !== null) failures.push(`${op}: ${bad}`);
            // odd lengths exercise the vector tail; in place must agree with out of place
            const head = x.slice(0, 13);
            addon.unary(op, head, head);
            for (let i = 0; i < 13; i++) assert.ok(Object.is(head[i], got[i]), `${op} in place / tail, element ${i}`);
          }
        } finally {
          addon.selectElementwiseIsa('auto');
        }
        assert.deepEqual(failures, []);
      });
    }
  }

  test('multi-threaded chunks agree with one call per element block (large arrays)', () => {
    assert.ok(addon !== null);
    const rnd = uniformSource(5);
    const n = (1 << 18) + 7;
    for (const C of [Float32Array, Float64Array]) {
      const x = new C(n);
      for (let i = 0; i < n; i++) x[i] = (rnd() * 2 - 1) * 30;
      for (const op of OPS) {
        const whole = new C(n);
        addon.unary(op, x, whole);
        const piece = new C(1000);
        for (let s = 0; s + 1000 <= n; s += 65_537) {
          addon.unary(op, x.subarray(s, s + 1000), piece);
          for (let i = 0; i < 1000; i++) assert.ok(Object.is(piece[i], whole[s + i]), `${op} element ${s + i}`);
        }
      }
    }
  });
});

// axpby and dot run AVX2 builds of their loops where the CPU has them (elementwise.cc); those
// builds must give the bits of the baseline loops: each axpby element in float64 rounded once
// (no FMA), dot's eight float64 accumulators summed in their fixed order.
describe('native axpby and dot give the bits of their definition', { skip }, () => {
  const a = addon as NonNullable<typeof addon>;
  const next = uniformSource(31);
  for (const dtype of ['float32', 'float64'] as Dtype[]) {
    test(dtype, () => {
      const make = (n: number, f: () => number): FloatArray => {
        const v = Float64Array.from({ length: n }, f);
        return dtype === 'float32' ? Float32Array.from(v) : v;
      };
      const round = (v: number): number => (dtype === 'float32' ? Math.fround(v) : v);
      // Below 65,536 elements dot runs as one part, whose order the emulation follows.
      for (const n of [0, 1, 7, 8, 9, 63, 1001, 4099, 65535, 200000]) {
        const x = make(n, () => next() - 0.5);
        const y = make(n, () => 4 * next() - 2);
        const out = make(n, () => 0);
        a.axpby(0.3, x, -1.7, y, out);
        for (let i = 0; i < n; i++) {
          const want = round(0.3 * x[i] + -1.7 * y[i]);
          if (!Object.is(out[i], want)) assert.fail(`axpby ${dtype} n=${n}: element ${i} is ${out[i]}, want ${want}`);
        }
        if (n >= 65536) continue;
        const acc = new Float64Array(8);
        let i = 0;
        for (; i + 8 <= n; i += 8) for (let l = 0; l < 8; l++) acc[l] += x[i + l] * y[i + l];
        let s = 0;
        for (; i < n; i++) s += x[i] * y[i];
        const want = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + s;
        assert.equal(a.dot(x, y), want, `dot ${dtype} n=${n}`);
      }
    });
  }
});

// The fused derivative kernels (Kernels.unaryGrad) equal the composed rules of
// src/autodiff/derivatives.ts, evaluated op by op in the dtype, on every backend and (native)
// every instruction set: exactly for relu and exp (one multiply either way), and within
// 4 eps |g| (1 + v^2) for sigmoid, tanh and softplus, where the fused kernel may round once
// (or fuse 1 - y*y) instead of once per op. Non-finite values must agree exactly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UNARY_GRAD_OPS, type FloatArray, type Kernels, type UnaryGradOp } from './types.js';
import { availableBackends, backend, tsKernels } from './index.js';
import { loadNativeAddon } from './native-backend.js';
import { uniformSource } from '../testing/helpers.js';

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Residuals in each op's domain (y in [0, 1] for sigmoid, [-1, 1] for tanh), with edge values. */
function residuals(op: UnaryGradOp, C: Ctor, n: number, rnd: () => number): FloatArray {
  const v = new C(n);
  for (let i = 0; i < n; i++) {
    const u = rnd();
    v[i] = op === 'sigmoid' ? u : op === 'tanh' ? 2 * u - 1 : op === 'exp' ? Math.exp(40 * u - 20) : 60 * u - 30;
  }
  const edges = op === 'sigmoid' ? [0, 1, 1 - 2 ** -24, 2 ** -30, NaN]
    : op === 'tanh' ? [1, -1, 0, -0, 1 - 2 ** -24, NaN]
      : op === 'exp' ? [0, Infinity, 1e-40, NaN]
        : [0, -0, Infinity, -Infinity, NaN, 2 ** -140, -(2 ** -140), 800, -800];
  edges.forEach((e, i) => { if (i < n) v[i] = e; });
  return v;
}

function cotangents(C: Ctor, n: number, rnd: () => number): FloatArray {
  const g = new C(n);
  for (let i = 0; i < n; i++) g[i] = (rnd() * 2 - 1) * 4;
  [0, -0, Infinity, -1e30, NaN].forEach((e, i) => { if (n > 20 + i) g[20 + i] = e; });
  return g;
}

/** The composed rule, one rounding per op (as the autodiff ops compute it). */
function composed(op: UnaryGradOp, v: FloatArray, g: FloatArray): FloatArray {
  const f32 = v instanceof Float32Array;
  const r = f32 ? Math.fround : (x: number): number => x;
  const sig = new (f32 ? Float32Array : Float64Array)(v.length);
  if (op === 'softplus') tsKernels.unary('sigmoid', v, sig);
  const out = new (f32 ? Float32Array : Float64Array)(v.length);
  for (let i = 0; i < v.length; i++) {
    const y = v[i];
    const d = op === 'sigmoid' ? r(y * r(1 - y)) : op === 'tanh' ? r(1 - r(y * y)) : op === 'softplus' ? sig[i] : op === 'relu' ? (y > 0 ? 1 : 0) : y;
    out[i] = r(g[i] * d);
  }
  return out;
}

function check(k: Kernels, label: string): void {
  const rnd = uniformSource(77);
  for (const [C, eps] of [[Float32Array, 2 ** -23], [Float64Array, 2 ** -52]] as const) {
    for (const op of UNARY_GRAD_OPS) {
      for (const n of [1, 7, 33, 1000, 70_001]) {
        const v = residuals(op, C, n, rnd);
        const g = cotangents(C, n, rnd);
        const want = composed(op, v, g);
        const got = new C(n);
        k.unaryGrad(op, v, g, got);
        const exact = op === 'relu' || op === 'exp';
        for (let i = 0; i < n; i++) {
          const a = got[i];
          const b = want[i];
          const where = `${label} ${C.name} ${op} n=${n} i=${i}: v=${v[i]} g=${g[i]} fused ${a} composed ${b}`;
          if (exact || !Number.isFinite(a) || !Number.isFinite(b)) {
            assert.ok(Object.is(a, b) || (a === b), where);
            continue;
          }
          assert.ok(Math.abs(a - b) <= 4 * eps * Math.abs(g[i]) * (1 + v[i] * v[i]), where);
        }
        // in place over the cotangent gives the same values
        const inPlace = g.slice();
        k.unaryGrad(op, v, inPlace, inPlace);
        for (let i = 0; i < n; i++) assert.ok(Object.is(inPlace[i], got[i]), `${label} ${op} in place, element ${i}`);
      }
    }
  }
}

describe('fused derivative kernels equal the composed rules', () => {
  for (const name of availableBackends()) {
    if (name !== 'native') {
      test(`${name} backend`, () => check(backend(name), name));
      continue;
    }
    const addon = loadNativeAddon();
    const isas = ['avx512', 'avx2', 'scalar'].filter((isa) => addon?.selectElementwiseIsa(isa) === true);
    addon?.selectElementwiseIsa('auto');
    for (const isa of isas) {
      test(`native backend, ${isa}`, () => {
        try {
          addon?.selectElementwiseIsa(isa);
          check(backend('native'), `native ${isa}`);
        } finally {
          addon?.selectElementwiseIsa('auto');
        }
      });
    }
  }
});

describe('unaryGrad refuses bad arguments with an error naming the problem', () => {
  const addon = loadNativeAddon();
  test('native addon: unknown op, mixed dtypes, short arrays', { skip: addon === null ? 'native backend unavailable' : false }, () => {
    assert.ok(addon !== null);
    const f = new Float32Array(4);
    const d = new Float64Array(4);
    const call = (...a: unknown[]): void => (addon.unaryGrad as (...x: unknown[]) => void)(...a);
    assert.throws(() => call('cos', f, f, f), { name: 'RangeError', message: /unaryGrad: unknown op 'cos'/ });
    assert.throws(() => call('tanh', f, d, f), { name: 'TypeError', message: /unaryGrad: mixed dtypes: v is Float32Array but g is Float64Array/ });
    assert.throws(() => call('tanh', f, f.subarray(0, 2), f), { name: 'RangeError', message: /unaryGrad: g has 2 elements but the sizes given need 4/ });
    assert.throws(() => call('tanh', f, f), { name: 'TypeError', message: /unaryGrad: expected 4 arguments/ });
  });
});

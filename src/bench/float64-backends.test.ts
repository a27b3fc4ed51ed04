/**
 * Float64 runs across kernel backends. Float32 second-order runs drift apart between backends
 * (summation order and libm differences grow through the iterations: a documented limitation).
 * In float64 the aim is bit-identical runs. Measured state: wasm equals the ts reference bit
 * for bit except for `dot`, whose SIMD version (n >= 64) sums in lanes; native differs in GEMM
 * (blocked, FMA) and in exp/log/sin/cos/erf (the C library, not V8's). The first test pins
 * the wasm result; the second is the goal, marked todo until the kernels sum in one order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { treeLeaves } from '../autodiff/pytree.js';
import { availableBackends, backend, withBackend, type BackendName } from '../kernels/index.js';
import { runOne } from './runner.js';

const OPTIMIZERS = ['kfac', 'hessian-free', 'lbfgs'];

function run(b: BackendName, optimizer: string): Float64Array[] {
  const { checkpoint } = withBackend(b, () => runOne('mlp-iris', optimizer, 0, { steps: 5 }));
  return treeLeaves(checkpoint.params).map((t) => Float64Array.from(t.data));
}

function firstDifference(a: Float64Array[], b: Float64Array[]): string | undefined {
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i].length; j++) if (!Object.is(a[i][j], b[i][j])) return `leaf ${i}[${j}]: ${a[i][j]} vs ${b[i][j]}`;
  }
  return undefined;
}

describe('float64 runs across backends', () => {
  it('wasm runs equal the ts reference bit for bit once dot sums in the reference order', { skip: !availableBackends().includes('wasm') && 'wasm not built' }, () => {
    const wasm = backend('wasm');
    const own = Object.getOwnPropertyDescriptor(wasm, 'dot');
    Object.defineProperty(wasm, 'dot', { value: backend('ts').dot, configurable: true, writable: true });
    try {
      for (const opt of OPTIMIZERS) assert.equal(firstDifference(run('wasm', opt), run('ts', opt)), undefined, opt);
    } finally {
      if (own !== undefined) Object.defineProperty(wasm, 'dot', own);
    }
  });

  it('a float64 second-order run is identical on every backend that loads', { todo: 'native GEMM (FMA, blocking), native libm and SIMD dot sum in other orders than the ts reference' }, () => {
    for (const opt of OPTIMIZERS) {
      const ref = run('ts', opt);
      for (const b of availableBackends()) assert.equal(firstDifference(run(b, opt), ref), undefined, `${opt} on ${b}`);
    }
  });
});

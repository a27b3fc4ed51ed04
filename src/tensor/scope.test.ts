/**
 * Lifetimes: tidy / keep / dispose, reshape views and the pool, use after release, and the
 * transformations releasing their own intermediates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Tensor, full, tensor, zeros, eye } from './tensor.js';
import { bufferRefs, emptyPool, memory, setMemoryOptions } from './memory.js';
import { keep, tidy } from './scope.js';
import { randn } from './random.js';
import * as O from '../autodiff/ops.js';
import { grad, valueAndGrad, vjp } from '../autodiff/vjp.js';
import { jvp } from '../autodiff/jvp.js';
import { hvp } from '../autodiff/compose.js';
import { withPoolBytes } from '../testing/helpers.js';

const f64 = { dtype: 'float64' as const };

/** A smooth scalar function with nonlinear ops, constants and a reshape view. */
function loss(p: { w: Tensor; b: Tensor }, x: Tensor): Tensor {
  const h = O.tanh(O.add(O.matmul(x, p.w), p.b));
  const v = O.reshape(h, [-1]);
  return O.mean(O.mul(O.sigmoid(v), O.mul(v, 0.5)));
}

describe('tidy, keep and dispose', () => {
  it('releases what the result does not reach, through arrays, objects and Maps', () => {
    let a!: Tensor;
    let b!: Tensor;
    let c!: Tensor;
    let d!: Tensor;
    const out = tidy(() => {
      a = O.exp(tensor([1, 2, 3]));
      b = O.add(a, 1);
      c = O.mul(b, 2);
      d = O.neg(c);
      return { list: [b], map: new Map([['c', c]]) };
    });
    assert.equal(a.isDisposed, true);
    assert.equal(d.isDisposed, true);
    assert.equal(b.isDisposed, false);
    assert.equal(out.map.get('c'), c);
    assert.deepEqual(c.toFlatArray().map((v) => Math.round(v * 1e4)), [1, 2, 3].map((x) => Math.round(2 * (Math.exp(x) + 1) * 1e4)));
  });

  it('nests: an inner result moves to the outer scope and goes when the outer one ends', () => {
    let inner!: Tensor;
    let kept!: Tensor;
    const outer = tidy(() => {
      inner = tidy(() => O.square(tensor([3])));
      assert.equal(inner.isDisposed, false, 'the inner result survives the inner scope');
      kept = O.add(inner, 1);
      return O.mul(kept, 2);
    });
    assert.equal(inner.isDisposed, true, 'not reachable from the outer result');
    assert.equal(kept.isDisposed, true);
    assert.equal(outer.item(), 20);
  });

  it('keep exempts a tensor from every scope; dispose still releases it', () => {
    let k!: Tensor;
    tidy(() => {
      tidy(() => {
        k = keep(O.exp(tensor([0])));
      });
    });
    assert.equal(k.item(), 1);
    k.dispose();
    assert.equal(k.isDisposed, true);
  });

  it('a released tensor throws naming the operation, never reads recycled data', () => {
    const t = O.exp(tensor([[1, 2], [3, 4]]));
    t.dispose();
    assert.throws(() => O.exp(t), /exp: Tensor\(float32, \[2, 2\], released\) was released/);
    assert.throws(() => O.matmul(t, t), /matmul: .*was released/);
    assert.throws(() => O.add(t, 1), /add: .*was released/);
    assert.throws(() => t.data, /data: .*was released/);
    assert.throws(() => t.toArray(), /was released/);
    const escaped = tidy(() => {
      const x = O.exp(tensor([1]));
      return () => O.neg(x);
    });
    assert.throws(() => escaped(), /neg: .*was released/, 'a tensor captured by a closure is not reachable: released');
  });

  it('releasing twice is an error naming the tensor', () => {
    const t = O.exp(tensor([1]));
    t.dispose();
    assert.throws(() => t.dispose(), /dispose: Tensor\(float32, \[1\], released\) was already released/);
    const u = tidy(() => O.exp(tensor([1])));
    const v = O.reshape(u, [1, 1]);
    u.dispose();
    assert.equal(v.item(), Math.fround(Math.E), 'a view outlives the tensor it was made from');
  });

  it('rejects a bad fn and an async fn', () => {
    assert.throws(() => tidy(42 as unknown as () => void), /tidy: expected a function/);
    assert.throws(() => tidy(async () => 1), /tidy: fn must be synchronous/);
    assert.throws(() => keep(3 as unknown as Tensor), /keep: argument must be a Tensor/);
  });
});

describe('the pool', () => {
  it('hands a released buffer out again, zero-filled where the op reads before it writes', () => {
    tidy(() => {
      full([4096], NaN);
    });
    const hits = memory().poolHits;
    const z = tidy(() => zeros([4096]));
    assert.ok(memory().poolHits > hits, 'zeros reused the released buffer');
    assert.ok(z.data.every((v) => v === 0));
    tidy(() => {
      full([64, 64], NaN);
    });
    const e = tidy(() => eye(64));
    assert.equal(O.sum(e).item(), 64);
    assert.ok(e.data.every((v) => v === 0 || v === 1));
  });

  it('never hands out a buffer a reshape view still uses', () => {
    let view!: Tensor;
    tidy(() => {
      const a = O.exp(randn([1000], { seed: 3 }));
      view = keep(O.reshape(a, [10, 100]));
    });
    const snapshot = Array.from(view.data);
    assert.equal(bufferRefs(view.data), 1, 'the view holds the buffer after its base was released');
    // Many allocations of the same size: none may be the view's buffer.
    const made = tidy(() => {
      const out: Tensor[] = [];
      for (let i = 0; i < 20; i++) out.push(O.mul(randn([1000], { seed: i }), 3));
      return out;
    });
    for (const t of made) assert.notEqual(t.data.buffer, view.data.buffer);
    assert.deepEqual(Array.from(view.data), snapshot);
    view.dispose();
    assert.equal(bufferRefs(made[0].data), 1);
  });

  it('a cap of 0 turns pooling off; bad caps are errors naming the option', () => {
    withPoolBytes(0, () => {
      emptyPool();
      tidy(() => O.exp(randn([5000], { seed: 1 })));
      assert.equal(memory().pooledBytes, 0);
      const hits = memory().poolHits;
      tidy(() => O.exp(randn([5000], { seed: 1 })));
      assert.equal(memory().poolHits, hits);
    });
    assert.throws(() => setMemoryOptions({ poolBytes: -1 }), /poolBytes must be a non-negative number/);
    assert.throws(() => setMemoryOptions({ poolBytes: NaN }), /poolBytes must be a non-negative number/);
    assert.throws(() => setMemoryOptions({ poolBytes: 'x' as unknown as number }), /poolBytes/);
    assert.throws(() => setMemoryOptions({ pool: 1 } as unknown as { poolBytes: number }), /unknown option 'pool'/);
  });

  it('HESSIAN_POOL_BYTES sets the cap; a bad value is an error naming it', () => {
    const mod = fileURLToPath(new URL('./tensor.js', import.meta.url));
    const script = `import(${JSON.stringify(mod)}).then((m) => { m.zeros([4]); return import(${JSON.stringify(mod.replace(/tensor\.js$/, 'memory.js'))}); }).then((m) => console.log(m.memory().poolBytesCap))`;
    const run = (v: string) => spawnSync(process.execPath, ['-e', script], { env: { ...process.env, HESSIAN_POOL_BYTES: v }, encoding: 'utf8' });
    assert.equal(run('12345').stdout.trim(), '12345');
    const bad = run('-5');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /HESSIAN_POOL_BYTES must be a non-negative number of bytes/);
  });
});

describe('reductions release their scratch', () => {
  it('a sum over non-adjacent axes (a conv bias gradient, [0, 2, 3]) leaves only its result live, and the same values', () => {
    const x = randn([3, 4, 5, 6], { seed: 4, ...f64 });
    // The reference: the same sum by a naive loop in float64.
    const ref = new Float64Array(4);
    for (let n = 0; n < 3; n++) for (let c = 0; c < 4; c++) for (let i = 0; i < 30; i++) ref[c] += x.data[(n * 4 + c) * 30 + i];
    const base = memory().liveBytes;
    const pooled = memory().pooledBuffers;
    tidy(() => {
      for (let round = 0; round < 3; round++) {
        const s = O.sum(x, [0, 2, 3]);
        // Before the fix the permuted copy (x's size) stayed counted as live on every call.
        assert.equal(memory().liveBytes - base, (round + 1) * s.data.byteLength, `round ${round}: live bytes = the sums so far`);
        for (let c = 0; c < 4; c++) assert.ok(Math.abs(s.data[c] - ref[c]) < 1e-12, `sum[${c}] ${s.data[c]} vs ${ref[c]}`);
        const m = O.max(x, [0, 2]);
        m.dispose();
      }
    });
    assert.equal(memory().liveBytes, base);
    assert.ok(memory().pooledBuffers > pooled, 'the scratch copies went back to the pool');
  });
});

describe('transformations release their own intermediates', () => {
  const x = randn([8, 5], { seed: 1, ...f64 });
  const params = { w: randn([5, 4], { seed: 2, ...f64 }), b: randn([4], { seed: 3, ...f64 }) };

  it('grad, valueAndGrad, jvp and hvp leave only their results live, and never release the inputs', () => {
    const base = memory().liveBytes;
    tidy(() => {
      const g = grad(loss)(params, x);
      const [v, g2] = valueAndGrad(loss)(params, x) as [Tensor, typeof params];
      const [y, t] = jvp((p: typeof params) => loss(p, x), [params], [params]);
      const h = hvp((p: typeof params) => loss(p, x), params, params);
      const resultBytes = [g.w, g.b, v, g2.w, g2.b, y, t, h.w, h.b].reduce((s, r) => s + r.data.byteLength, 0);
      assert.equal(memory().liveBytes - base, resultBytes, 'live bytes = the results, nothing else');
    });
    assert.equal(memory().liveBytes, base);
    assert.equal(params.w.isDisposed, false);
    assert.equal(x.isDisposed, false);
    assert.ok(Number.isFinite(loss(params, x).item()));
  });

  it('results are the same inside and outside scopes, with pooling on and off', () => {
    const ref = withPoolBytes(0, () => grad(loss)(params, x));
    const hRef = withPoolBytes(0, () => hvp((p: typeof params) => loss(p, x), params, ref));
    for (let round = 0; round < 3; round++) {
      const [g, h] = tidy(() => {
        const gg = grad(loss)(params, x);
        return [gg, hvp((p: typeof params) => loss(p, x), params, gg)];
      });
      assert.deepEqual(Array.from(g.w.data), Array.from(ref.w.data));
      assert.deepEqual(Array.from(h.w.data), Array.from(hRef.w.data));
      assert.deepEqual(Array.from(h.b.data), Array.from(hRef.b.data));
    }
  });

  it('a vjp function escaping a tidy keeps its residuals until disposed', () => {
    const [value, back] = tidy(() => vjp((p: typeof params) => loss(p, x), params));
    tidy(() => O.exp(randn([5000], { seed: 9 }))); // churn the pool
    const [g] = back(tensor(1, [], f64));
    const ref = grad(loss)(params, x);
    assert.deepEqual(Array.from(g.w.data), Array.from(ref.w.data));
    assert.equal(value.item(), loss(params, x).item());
    back.dispose();
    assert.throws(() => back(tensor(1, [], f64)), /vjp: this vjp function was disposed/);
    assert.throws(() => back.dispose(), /already disposed/);
  });

  it('a residual of a pending reverse pass cannot be disposed; a tracer can', () => {
    const y = O.exp(tensor([0.5], undefined, f64));
    const [, back] = vjp((t: Tensor) => O.sum(O.mul(O.sin(t), y)), tensor([0.3], undefined, f64));
    assert.throws(() => y.dispose(), /dispose: .*still needed by a reverse-mode pass/);
    back.dispose();
    y.dispose();
    const g = grad((t: Tensor) => {
      const h = O.sin(t);
      const s = O.sum(O.mul(h, h));
      h.dispose(); // the tracer goes; the tape still has its primal
      return s;
    })(tensor([0.3], undefined, f64));
    assert.ok(Math.abs(g.item() - Math.sin(0.6)) < 1e-12);
  });

  it('tidy inside a differentiated function keeps what the tape still needs', () => {
    const plain = grad(loss)(params, x);
    const tidied = grad((p: typeof params) => tidy(() => loss(p, x)))(params);
    assert.deepEqual(Array.from(tidied.w.data), Array.from(plain.w.data));
    const hPlain = hvp((p: typeof params) => loss(p, x), params, plain);
    const hTidied = hvp((p: typeof params) => tidy(() => {
      O.exp(p.w); // an unrelated intermediate, released at once
      return loss(p, x);
    }), params, plain);
    assert.deepEqual(Array.from(hTidied.w.data), Array.from(hPlain.w.data));
  });

  it('nested: grad of grad and jvp of grad inside tidy match the closed forms', () => {
    // f(t) = sum(sin(t)^3): f' = 3 sin^2 cos, f'' = 6 sin cos^2 - 3 sin^3.
    const f = (t: Tensor) => O.sum(O.pow(O.sin(t), 3));
    const t0 = tensor([0.3, -1.1, 2], undefined, f64);
    const d2 = (s: number) => 6 * Math.sin(s) * Math.cos(s) ** 2 - 3 * Math.sin(s) ** 3;
    const [gg, jg] = tidy((): Tensor[] => [
      grad((t: Tensor) => O.sum(grad(f)(t)))(t0) as Tensor,
      jvp((t: Tensor) => grad(f)(t), [t0], [tensor([1, 1, 1], undefined, f64)])[1],
    ]);
    t0.toFlatArray().forEach((s, i) => {
      assert.ok(Math.abs(gg.data[i] - d2(s)) < 1e-12, `grad of grad at ${s}`);
      assert.ok(Math.abs(jg.data[i] - d2(s)) < 1e-12, `jvp of grad at ${s}`);
    });
  });
});

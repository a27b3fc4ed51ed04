import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tensor, zeros } from '../tensor/tensor.js';
import { add, conv2d, matmul, mul, sum, square, tanh, sin, exp } from './ops.js';
import { grad, valueAndGrad, vjp, retainGrad } from './vjp.js';
import { jvp } from './jvp.js';
import { hessian, jacfwd } from './compose.js';
import { stopGradient } from './core.js';

const f64 = { dtype: 'float64' as const };

describe('autodiff API', () => {
  it('grad returns gradients in the structure of the parameter tree', () => {
    const params = { w: tensor([[1, 2], [3, 4]], undefined, f64), layers: [{ b: tensor([0.5, -1], undefined, f64) }], lr: 0.1 };
    const x = tensor([1, -1], undefined, f64);
    const f = (p: typeof params) => sum(square(add(matmul(p.w, x), p.layers[0].b)));
    const g = grad(f)(params);
    // d/dW sum((Wx+b)^2) = 2 (Wx+b) x^T ; Wx+b = [-0.5, -2]
    assert.deepEqual(g.w.toArray(), [[-1, 1], [-4, 4]]);
    assert.deepEqual(g.layers[0].b.toFlatArray(), [-1, -4]);
    assert.equal(g.lr, 0.1); // static leaves pass through
  });

  it('valueAndGrad with and without aux', () => {
    const x = tensor([2], undefined, f64);
    const [v, g] = valueAndGrad((p: Tensor) => sum(mul(p, p)))(x) as [Tensor, Tensor];
    assert.equal(v.item(), 4);
    assert.equal(g.item(), 4);
    const [[v2, aux], g2] = valueAndGrad((p: Tensor) => [sum(exp(p)), { note: 'hi' }] as [Tensor, { note: string }], { hasAux: true })(x) as [[Tensor, { note: string }], Tensor];
    assert.equal(aux.note, 'hi');
    assert.ok(Math.abs(v2.item() - Math.exp(2)) < 1e-12 && Math.abs(g2.item() - Math.exp(2)) < 1e-12);
  });

  it('higher derivatives by composition: d^3/dx^3 sin = -cos', () => {
    const d1 = grad((x: Tensor) => sum(sin(x)));
    const d2 = grad((x: Tensor) => sum(d1(x)));
    const d3 = grad((x: Tensor) => sum(d2(x)));
    const x = tensor([0.3, 1.1], undefined, f64);
    const r = d3(x).toFlatArray();
    assert.ok(Math.abs(r[0] + Math.cos(0.3)) < 1e-12 && Math.abs(r[1] + Math.cos(1.1)) < 1e-12);
    // forward over forward over reverse
    const [, t] = jvp((y: Tensor) => jvp((z: Tensor) => d1(z), [y], [tensor([1, 1], undefined, f64)])[1], [x], [tensor([1, 1], undefined, f64)]);
    assert.ok(Math.abs(t.data[0] + Math.cos(0.3)) < 1e-12);
  });

  it('no perturbation confusion: nested derivatives of closures over outer variables', () => {
    // d/dx [x * d/dy (x + y)] at any x = 1 (Siskind & Pearlmutter's example)
    const outer = grad((x: Tensor) => mul(x, grad((y: Tensor) => sum(add(x, y)))(tensor([1], undefined, f64))));
    assert.equal(outer(tensor([5], undefined, f64)).item(), 1);
  });

  it('dense hessian and jacobian of small functions', () => {
    const f = (x: Tensor) => sum(mul(square(x), tensor([1, 2, 3], undefined, f64)));
    const H = hessian(f, tensor([0.1, 0.2, 0.3], undefined, f64));
    assert.deepEqual(H.toArray(), [[2, 0, 0], [0, 4, 0], [0, 0, 6]]);
    const J = jacfwd((x: Tensor) => tanh(x), tensor([0, 0], undefined, f64));
    assert.deepEqual(J.toArray(), [[1, 0], [0, 1]]);
  });

  it('vjp of a function with several arguments and a tree output', () => {
    const [out, back] = vjp((a: Tensor, b: Tensor) => ({ s: mul(a, b), d: add(a, b) }), tensor([2], undefined, f64), tensor([3], undefined, f64));
    assert.equal(out.s.item(), 6);
    const [ga, gb] = back({ s: tensor([1], undefined, f64), d: tensor([10], undefined, f64) });
    assert.equal(ga.item(), 13);
    assert.equal(gb.item(), 12);
  });

  it('retainGrad reports the cotangent of an intermediate value; stopGradient blocks it', () => {
    let handle: ReturnType<typeof retainGrad> | undefined;
    const g = grad((x: Tensor) => {
      const h = mul(x, 3);
      handle = retainGrad(h);
      return sum(mul(h, stopGradient(h)));
    })(tensor([2], undefined, f64));
    assert.equal(g.item(), 18);          // d/dx (3x * 6) = 18 with the second factor frozen
    assert.equal(handle?.grad?.item(), 6);
  });

  it('clear errors: non-scalar grad, mismatched tangents and cotangents', () => {
    assert.throws(() => grad((x: Tensor) => mul(x, 2))(zeros([3])), /valueAndGrad: f must return a scalar \(one element\), got a tensor of shape \[3\]/);
    assert.throws(() => jvp((x: Tensor) => x, [zeros([2])], [zeros([3])]), /jvp: tangent 0 of argument 0 is Tensor\(float32, \[3\]\), expected the primal's Tensor\(float32, \[2\]\)/);
    assert.throws(() => jvp((x: Tensor) => x, [zeros([2])], []), /1 primals but 0 tangents/);
    const [, back] = vjp((x: Tensor) => mul(x, 2), zeros([2]));
    assert.throws(() => back(zeros([4])), /vjp: cotangent 0 is Tensor\(float32, \[4\]\), expected the output's float32 \[2\]/);
    assert.throws(() => grad((x: Tensor) => add(x, zeros([3])))(zeros([2])), /add: shapes \[2\] and \[3\] do not broadcast/);
  });
});

describe('conv2d shape errors', () => {
  it('name the real shapes (batch dimension included) on a channel mismatch', () => {
    const x = zeros([2, 3, 5, 5]);
    assert.throws(() => conv2d(x, zeros([4, 2, 3, 3])), /^RangeError: conv2d: weight \[4, 2, 3, 3\] expects 2 input channels, input \[2, 3, 5, 5\] has 3$/);
    assert.throws(() => conv2d(x, zeros([4, 3, 3, 3], { dtype: 'float64' })), /conv2d: dtype mismatch/);
  });
});

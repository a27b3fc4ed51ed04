import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFormula, FormulaError } from './formula.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { grad } from '../autodiff/vjp.js';
import { slice, reshape } from '../autodiff/ops.js';

const at = (text: string, x: number, y: number): number =>
  parseFormula(text).evaluate(tensor([x], [1], { dtype: 'float64' }), tensor([y], [1], { dtype: 'float64' })).data[0];

describe('parseFormula', () => {
  it('evaluates like the same expression written in JavaScript (precedence, associativity, functions)', () => {
    const cases: [string, (x: number, y: number) => number][] = [
      ['(1 - x)^2 + 100*(y - x^2)^2', (x, y) => (1 - x) ** 2 + 100 * (y - x * x) ** 2],
      ['-x^2 + y', (x, y) => -(x * x) + y],
      ['2^3^2 + x', (x) => 2 ** 9 + x],
      ['x - y - 1', (x, y) => x - y - 1],
      ['x / y / 2', (x, y) => x / y / 2],
      ['sin(x) * cos(y) + exp(-x^2) + sqrt(abs(y)) + tanh(x*y)', (x, y) => Math.sin(x) * Math.cos(y) + Math.exp(-(x * x)) + Math.sqrt(Math.abs(y)) + Math.tanh(x * y)],
      ['x**2 + pi*e + 1.5e-1', (x) => x * x + Math.PI * Math.E + 0.15],
      ['x^-2 + y^0.5', (x, y) => x ** -2 + y ** 0.5],
      ['3', () => 3],
    ];
    fc.assert(fc.property(fc.double({ min: 0.1, max: 3, noNaN: true }), fc.double({ min: 0.1, max: 3, noNaN: true }), (x, y) => {
      for (const [text, ref] of cases) {
        const got = at(text, x, y);
        const want = ref(x, y);
        assert.ok(Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)), `${text} at (${x}, ${y}): ${got} vs ${want}`);
      }
    }), { seed: 7, numRuns: 40 });
  });

  it('evaluates elementwise on a whole grid, constants included', () => {
    const xs = tensor([0, 1, 2, 3], [2, 2], { dtype: 'float64' });
    const ys = tensor([1, 1, 1, 1], [2, 2], { dtype: 'float64' });
    assert.deepEqual([...parseFormula('x*y + 1').evaluate(xs, ys).data], [1, 2, 3, 4]);
    const c = parseFormula('sin(2)').evaluate(xs, ys);
    assert.deepEqual(c.shape, [2, 2]);
    assert.ok([...c.data].every((v) => Math.abs(v - Math.sin(2)) < 1e-15));
  });

  it('has the gradient of central finite differences in float64', () => {
    const f = parseFormula('(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + log(1 + x^2) * sigmoid(y) + softplus(x - y)');
    const fv = (p: Tensor) => f.evaluate(reshape(slice(p, [0], [1]), []), reshape(slice(p, [1], [2]), []));
    const g = grad(fv);
    for (const [x, y] of [[0.3, -0.7], [1.2, 0.4], [-2, 1.1]]) {
      const p = tensor([x, y], [2], { dtype: 'float64' });
      const gv = g(p).data;
      const h = 1e-6;
      const val = (a: number, b: number) => fv(tensor([a, b], [2], { dtype: 'float64' })).data[0];
      const fd = [(val(x + h, y) - val(x - h, y)) / (2 * h), (val(x, y + h) - val(x, y - h)) / (2 * h)];
      for (let i = 0; i < 2; i++) assert.ok(Math.abs(gv[i] - fd[i]) < 1e-6 * Math.max(1, Math.abs(fd[i])), `d/d${i} at (${x}, ${y}): ${gv[i]} vs ${fd[i]}`);
    }
  });

  it('rejects bad formulas with a FormulaError naming the problem and its column', () => {
    const bad: [string, RegExp, number][] = [
      ['x + z', /unknown symbol 'z'/, 5],
      ['foo(x)', /unknown function 'foo'/, 1],
      ['(x + y', /expected '\)' at the end/, 7],
      ['x + * y', /unexpected '\*'/, 5],
      ['x y', /unexpected 'y'/, 3],
      ['x $ 2', /unexpected character '\$'/, 3],
      ['', /empty/, 1],
      ['sin x', /needs parentheses/, 1],
      ['atan2(x, y)', /unknown function 'atan2'/, 1],
      ['exp(x, y)', /takes one argument/, 6],
      ['constructor', /unknown symbol 'constructor'/, 1],
      ['__proto__(x)', /unknown function '__proto__'/, 1],
    ];
    for (const [text, re, col] of bad) {
      assert.throws(() => parseFormula(text), (e: unknown) => e instanceof FormulaError && re.test(e.message) && e.column === col, `'${text}'`);
    }
    assert.throws(() => parseFormula(undefined as unknown as string), /expects a string/);
  });

  it('never evaluates JavaScript: code in the text is a parse error, not executed', () => {
    let touched = false;
    (globalThis as { __formulaProbe?: () => void }).__formulaProbe = () => { touched = true; };
    for (const text of ['__formulaProbe()', 'globalThis.__formulaProbe()', '(() => __formulaProbe())()', 'x; __formulaProbe()']) {
      assert.throws(() => parseFormula(text).evaluate(tensor([1], [1]), tensor([1], [1])), FormulaError, text);
    }
    assert.equal(touched, false);
    delete (globalThis as { __formulaProbe?: () => void }).__formulaProbe;
  });
});

// The tensor-level fused derivative: values of the kernel, shapes kept, and clear errors for
// an unknown op, mixed dtypes, mismatched shapes and non-tensors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from './tensor.js';
import { unaryGrad } from './fused.js';
import type { UnaryGradOp } from '../kernels/types.js';

describe('unaryGrad (tensor level)', () => {
  test('computes g times the derivative from the residual, keeping the shape', () => {
    const y = tensor([0.25, 0.5, 0.75, 0.1], [2, 2], { dtype: 'float64' });
    const g = tensor([2, -1, 4, 0.5], [2, 2], { dtype: 'float64' });
    const out = unaryGrad('sigmoid', y, g);
    assert.deepEqual(out.shape, [2, 2]);
    assert.deepEqual(out.toFlatArray(), [2 * 0.25 * 0.75, -0.25, 4 * 0.75 * 0.25, 0.5 * 0.1 * 0.9]);
    assert.deepEqual(unaryGrad('relu', tensor([1, -1, 0, 2], [2, 2], { dtype: 'float64' }), g).toFlatArray(), [2, -0, 0, 0.5]);
  });

  test('bad input: unknown op, mixed dtypes, shapes that differ, non-tensors', () => {
    const a = tensor([1, 2, 3]);
    assert.throws(() => unaryGrad('cos' as UnaryGradOp, a, a), { name: 'RangeError', message: /unaryGrad: op must be one of sigmoid, tanh, softplus, relu, exp/ });
    assert.throws(() => unaryGrad('tanh', a, tensor([1, 2, 3], [3], { dtype: 'float64' })), /unaryGrad/);
    assert.throws(() => unaryGrad('tanh', a, tensor([1, 2], [2])), { name: 'RangeError', message: /unaryGrad: residual \[3\] and cotangent \[2\] must have one shape/ });
    assert.throws(() => unaryGrad('tanh', [1, 2, 3] as never, a), { name: 'TypeError', message: /unaryGrad: residual must be a Tensor/ });
  });
});

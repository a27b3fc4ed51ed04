/**
 * Validation shared by the operator builders: every bad argument fails at construction with the
 * operator's name, what was expected and what was given, never later inside a kernel.
 */
import { Tensor, fmtShape } from '../../tensor/tensor.js';
import { treeLeaves, type PyTree } from '../../autodiff/pytree.js';
import { tidy } from '../../tensor/scope.js';
import { Module } from '../../nn/module.js';
import type { Loss } from '../../nn/losses.js';
import type { Batch, ModelFn } from '../products.js';

function describe(x: unknown): string {
  if (x instanceof Tensor) return `a ${x.dtype} tensor of shape ${fmtShape(x.shape)}`;
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of ${x.length}`;
  return typeof x;
}

/** The parameters: a tree with at least one tensor and nothing else at its leaves. */
export function checkParams(op: string, params: unknown): void {
  if (params === null || params === undefined) throw new TypeError(`${op}: params must be a tree of tensors, got ${describe(params)}`);
  const leaves = treeLeaves(params);
  if (leaves.length === 0) throw new RangeError(`${op}: params must hold at least one tensor, got a tree with none`);
}

export function checkLoss(op: string, loss: unknown): asserts loss is Loss {
  const l = loss as Partial<Loss> | null;
  const needs = ['value', 'perExample', 'batchWeight', 'outputHvp', 'sampleTargets'] as const;
  if (l === null || typeof l !== 'object' || needs.some((k) => typeof l[k] !== 'function')) {
    throw new TypeError(`${op}: loss must be a Loss from nn.losses (mse(), softmaxCrossEntropy(), ...) with ${needs.join(', ')}, got ${describe(loss)}`);
  }
}

export function checkBatch(op: string, batch: unknown): asserts batch is Batch {
  const b = batch as Partial<Batch> | null;
  if (b === null || typeof b !== 'object' || !(b.x instanceof Tensor) || !(b.y instanceof Tensor)) {
    throw new TypeError(`${op}: batch must be {x: Tensor, y: Tensor}, got ${describe(batch)}`);
  }
  if (b.x.ndim < 1 || b.y.ndim < 1 || b.x.shape[0] !== b.y.shape[0]) {
    throw new RangeError(`${op}: batch inputs ${fmtShape(b.x.shape)} and targets ${fmtShape(b.y.shape)} must share their first (batch) axis`);
  }
}

export function modelFn<P extends PyTree>(op: string, model: ModelFn<P> | Module<P>): ModelFn<P> {
  if (model instanceof Module) return (p, x) => model.apply(p, x);
  if (typeof model !== 'function') throw new TypeError(`${op}: model must be a Module or a function (params, x) => outputs, got ${describe(model)}`);
  return model;
}

/**
 * One forward pass at construction: the outputs must keep the batch axis and the loss must be a
 * scalar, so that a wrong model or loss fails here with the operator's name.
 */
export function checkForward<P extends PyTree>(op: string, f: ModelFn<P>, loss: Loss, params: P, batch: Batch): void {
  tidy(() => {
    const z = f(params, batch.x);
    if (!(z instanceof Tensor)) throw new TypeError(`${op}: the model must return a Tensor, got ${describe(z)}`);
    if (z.ndim < 1 || z.shape[0] !== batch.x.shape[0]) {
      throw new RangeError(`${op}: the model's outputs ${fmtShape(z.shape)} must keep the batch axis of the inputs ${fmtShape(batch.x.shape)}`);
    }
    const value = loss.value(z, batch.y);
    if (!(value instanceof Tensor) || value.size !== 1) throw new RangeError(`${op}: the loss must be a scalar, got ${describe(value)}`);
    return null;
  });
}

/** Throws unless `options` holds only the named keys. */
export function checkOptions(op: string, options: unknown, known: readonly string[]): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError(`${op}: options must be an object, got ${describe(options)}`);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new RangeError(`${op}: unknown option '${k}'; known: ${known.join(', ')}`);
  }
}

/** The losses of this library are convex in the network outputs, so their GGN and Fisher are PSD. */
export function isConvexLoss(loss: Loss): boolean {
  return ['mse', 'softmaxCrossEntropy', 'sigmoidBinaryCrossEntropy'].includes(loss.name);
}

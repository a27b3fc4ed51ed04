/**
 * hessian — second-order optimization of neural networks.
 *
 * The root exports the differentiable tensor API (NumPy/JAX names), the transformations
 * (`grad`, `valueAndGrad`, `vjp`, `jvp`, `hvp`, `hessian`), curvature products (`ggnvp`,
 * `fisherVp`, `perExampleGrads`), the `nn` module system and losses, dense `linalg`, and the
 * kernel backends.
 */
export {
  Tensor, tensor, zeros, ones, full, zerosLike, onesLike, fullLike, arange, linspace, eye, isTensor,
  type DType, type Shape, type NestedArray, type TensorOptions,
} from './tensor/tensor.js';
export { Rng, manualSeed, randn, rand, bernoulli, rademacher, type RandomOptions } from './tensor/random.js';
export {
  neg, abs, sign, step, exp, expm1, log, log1p, sqrt, rsqrt, square, reciprocal, tanh, sigmoid, relu, softplus, sin, cos, erf,
  add, sub, mul, div, pow, maximum, minimum, equal, notEqual, greater, greaterEqual, less, lessEqual, clip,
  sum, mean, max, min, logsumexp, softmax, logSoftmax, vdot,
  reshape, flatten, expandDims, squeeze, transpose, swapAxes, broadcastTo, slice, concat, stack, gather, takeAlongAxis, where, cast,
  matmul, outer, conv2d, conv2dBackwardInput, conv2dBackwardFilter, maxPool2d, avgPool2d,
  type TensorLike, type MatmulOptions, type Axes,
} from './autodiff/ops.js';
export { argmax, argmin, axpby, norm, broadcastShapes } from './tensor/ops.js';
export { oneHot } from './tensor/shape-ops.js';
export type { Conv2dOptions, Pool2dOptions, Pair } from './tensor/conv.js';
export * as linalg from './tensor/linalg.js';
export { tidy, keep } from './tensor/scope.js';
export { memory, setMemoryOptions, getMemoryOptions, emptyPool, type MemoryInfo, type MemoryOptions } from './tensor/memory.js';

export { grad, valueAndGrad, vjp, retainGrad, type GradOptions, type RetainedGrad, type VjpFn } from './autodiff/vjp.js';
export { jvp } from './autodiff/jvp.js';
export { linearize, type LinearizedFn } from './autodiff/linearize.js';
export { hvp, hvpOperatorFn, hessian, jacfwd, type HvpOperatorFn } from './autodiff/compose.js';
export { stopGradient } from './autodiff/core.js';
export { jit, type JitOptions, type JitInfo, type Jitted } from './autodiff/jit.js';
export { treeLeaves, treeUnflatten, treeMap, treeMap2, treePaths, type PyTree } from './autodiff/pytree.js';

export * as nn from './nn/index.js';
export * as models from './nn/models.js';
export { saveTree, loadTree, serializeTree, deserializeTree } from './nn/checkpoint.js';
export { ggnvp, fisherVp, ggnOperatorFn, fisherOperatorFn, perExampleGrads, type Batch, type ModelFn, type FisherOptions, type CurvatureOperatorFn } from './curvature/products.js';
export * as curvature from './curvature/index.js';

export * as optim from './optim/index.js';
export { sgd, momentum, adam, adamw, rmsprop, adagrad } from './optim/first-order/baselines.js';
export { lbfgs } from './optim/quasi-newton/lbfgs.js';
export { olbfgs } from './optim/quasi-newton/olbfgs.js';
export { hessianFree } from './optim/krylov/hessian-free.js';
export { saddleFreeNewton } from './optim/krylov/saddle-free-newton.js';
export { subsampledNewton } from './optim/krylov/subsampled-newton.js';
export { kfac } from './optim/kronecker/kfac.js';
export { ekfac } from './optim/kronecker/ekfac.js';
export { shampoo } from './optim/kronecker/shampoo.js';
export { soap } from './optim/kronecker/soap.js';
export { muon } from './optim/kronecker/muon.js';
export { kfacObjective } from './optim/kronecker/kfac-objective.js';
export { adahessian, type AdahessianOptions } from './optim/diagonal/adahessian.js';
export { sophia, type SophiaOptions } from './optim/diagonal/sophia.js';
export { minimize, type MinimizeOptions, type MinimizeResult } from './optim/minimize/minimize.js';
export { objective, modelObjective, withL2, type ModelObjective, type ModelObjectiveOptions, type ObjectiveOptions, type L2Options, type L2Exclude } from './optim/objective.js';
export type { Objective, Optimizer, Transform, Schedule, StepResult, StepInfo, OptimizerState } from './optim/types.js';

export * as distributed from './distributed/index.js';
export * as data from './data/index.js';
export { train, type TrainOptions, type TrainResult, type TrainPoint, type TrainCallbacks, type CurvePointBase } from './train/train.js';
export { registerProblem, type ProblemSpec, type Problem, type ProblemInstance, type ProblemKind, type Split, type Evaluation, type DataSize, type BuildOptions } from './bench/problems.js';
export { registerOptimizer, type OptimizerEntry } from './optim/registry.js';

export { kernels, setBackend, withBackend, availableBackends, backend } from './kernels/index.js';
export type { BackendName, Kernels, FloatArray } from './kernels/types.js';
export { VERSION, info, type Info } from './info.js';

/** The `optim` namespace: the optimizer contract, transforms, schedules and every method. */
export type { Objective, Optimizer, OptimizerState, Schedule, StepInfo, Transform, UpdateContext } from './types.js';
export { createOptimizer } from './optimizer.js';
export { objective, modelObjective, withL2 } from './objective.js';
export {
  chain, scale, scaleByLearningRate, traceMomentum, scaleByAdam, scaleByRms, scaleByAdagrad, addDecayedWeights, addL2Gradient, clipByGlobalNorm,
} from './transforms.js';
export { constant, stepDecay, cosineDecay, warmup } from './schedules.js';
export { sgd, momentum, adam, adamw, rmsprop, adagrad } from './baselines.js';
export { lbfgs, lbfgsTransform, twoLoop, type LbfgsOptions, type LbfgsState } from './lbfgs.js';
export { olbfgs, type OlbfgsOptions } from './olbfgs.js';
export { strongWolfe, armijo, type LinePoint, type LineSearchResult } from './line-search.js';
export { minimize, MINIMIZE_METHODS, type MinimizeOptions, type MinimizeResult, type MinimizeMethod } from './minimize.js';
export { lbfgsb, lbfgsbTransform, lbfgsbOptimizer, type LbfgsbOptions, type LbfgsbResult, type LbfgsbState, type LbfgsbTransformOptions } from './lbfgsb.js';
export { OPTIMIZERS, optimizerEntry, registerOptimizer, type OptimizerEntry } from './registry.js';
export { treeAxpby, treeVdot, treeNorm, treeScale, treeZerosLike } from '../autodiff/tree-math.js';
export { hessianFree, hessianFreeTransform, type HessianFreeOptions, type HessianFreeState } from './hessian-free.js';
export { subsampledNewton, type SubsampledNewtonOptions } from './subsampled-newton.js';
export { kfac, kfacTransform, kfacPreconditioner, quadraticModelStep, gramFromProduct, levenbergMarquardt, type KfacOptions, type KfacState, type KfacPreconditionerOptions } from './kfac.js';
export { ekfac } from './ekfac.js';
export { kfacObjective, type KfacObjective, type KfacObjectiveOptions } from './kfac-objective.js';
export { divergenceMonitor, type DivergenceEvent, type DivergenceMonitor, type DivergenceOptions } from './divergence.js';

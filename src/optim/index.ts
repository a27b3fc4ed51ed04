/** The `optim` namespace: the optimizer contract, transforms, schedules and every method. */
export type { Objective, Optimizer, OptimizerState, Schedule, StepInfo, Transform, UpdateContext } from './types.js';
export { createOptimizer } from './optimizer.js';
export { objective, modelObjective, withL2 } from './objective.js';
export {
  chain, scale, scaleByLearningRate, traceMomentum, scaleByAdam, scaleByRms, scaleByAdagrad, addDecayedWeights, addL2Gradient, clipByGlobalNorm,
} from './transforms.js';
export { constant, stepDecay, cosineDecay, warmup } from './schedules.js';
export { sgd, momentum, adam, adamw, rmsprop, adagrad } from './first-order/baselines.js';
export { lbfgs, lbfgsTransform, twoLoop, type LbfgsOptions, type LbfgsState } from './quasi-newton/lbfgs.js';
export { olbfgs, type OlbfgsOptions } from './quasi-newton/olbfgs.js';
export { strongWolfe, armijo, type LinePoint, type LineSearchResult } from './quasi-newton/line-search.js';
export { minimize, MINIMIZE_METHODS, type MinimizeOptions, type MinimizeResult, type MinimizeMethod } from './minimize/minimize.js';
export { lbfgsb, lbfgsbTransform, lbfgsbOptimizer, type LbfgsbOptions, type LbfgsbResult, type LbfgsbState, type LbfgsbTransformOptions } from './quasi-newton/lbfgsb.js';
export { OPTIMIZERS, optimizerEntry, registerOptimizer, type OptimizerEntry } from './registry.js';
export { treeAxpby, treeVdot, treeNorm, treeScale, treeZerosLike } from '../autodiff/tree-math.js';
export { hessianFree, hessianFreeTransform, type HessianFreeOptions, type HessianFreeState } from './krylov/hessian-free.js';
export {
  structuralObjective, structuralOperator, hasStructuralDamping,
  type StructuralObjective, type StructuralOperator, type StructuralDampingOption, type HiddenStatesFn,
} from './krylov/structural-damping.js';
export { subsampledNewton, type SubsampledNewtonOptions } from './krylov/subsampled-newton.js';
export { kfac, kfacTransform, kfacPreconditioner, quadraticModelStep, gramFromProduct, levenbergMarquardt, type KfacOptions, type KfacState, type KfacPreconditionerOptions } from './kronecker/kfac.js';
export { ekfac } from './kronecker/ekfac.js';
export { kfacObjective, type KfacObjective, type KfacObjectiveOptions } from './kronecker/kfac-objective.js';
export { divergenceMonitor, type DivergenceEvent, type DivergenceMonitor, type DivergenceOptions } from './divergence.js';
// Types the public signatures above refer to (checked by `npm run docs`: nothing documented is missing).
export type { Counters, StepResult } from './types.js';
export type { SgdOptions, MomentumOptions, AdamOptions, RmspropOptions, AdagradOptions } from './first-order/baselines.js';
export type { Empty, MomentumState, AdamState, RmsState, AdagradState } from './transforms.js';
export type { ScheduleFn } from './schedules.js';
export type { LbfgsHistory } from './quasi-newton/lbfgs.js';
export type { OlbfgsState } from './quasi-newton/olbfgs.js';
export type { LbfgsbStatus, LbfgsbObjective } from './quasi-newton/lbfgsb.js';
export type { Phi, ArmijoOptions, StrongWolfeOptions } from './quasi-newton/line-search.js';
export type { Gram, QuadraticModelStep } from './kronecker/kfac.js';
export type { ModelObjective, ModelObjectiveOptions, ObjectiveOptions, L2Options, L2Exclude } from './objective.js';
export type { EstimationMode, TappedModel, KfacStatistics, EstimatorState, ShardReduction } from '../curvature/kronecker-estimator.js';
export type { InverseMethod, Approximation, BlockState, LayerSample, LayerSampleOf, KroneckerState, DiagonalState, LayerKind, EigenInverse, CholeskyInverse, RecurrentApproximation } from '../curvature/kronecker.js';
export { saddleFreeNewton, saddleFreeNewtonTransform, type SaddleFreeNewtonOptions, type SaddleFreeNewtonState } from './krylov/saddle-free-newton.js';
export { graft, type DirectionTransform, type GraftState } from './graft.js';
export { shampoo, shampooPreconditioner, shampooRoot, graftingMagnitude, type ShampooOptions, type ShampooPreconditionerOptions, type ShampooState, type ShampooBlockState, type RootMethod, type GraftingMethod } from './kronecker/shampoo.js';
export { soap, soapTransform, type SoapOptions, type SoapState, type SoapBlockState, type SoapLeafState, type BasisRefresh } from './kronecker/soap.js';
export { muon, muonTransform, newtonSchulz, type MuonOptions, type MuonState, type MuonLeafState } from './kronecker/muon.js';
export { adahessian, scaleByAdahessian, type AdahessianOptions, type AdahessianState } from './diagonal/adahessian.js';
export { sophia, scaleBySophia, type SophiaOptions, type SophiaState } from './diagonal/sophia.js';
export { spatialAverage, type DiagonalEstimator } from './diagonal/curvature-estimate.js';
export { switching, type SwitchingOptions, type SwitchingState, type SwitchCondition } from './hybrids/switching.js';
export { intermittent, type IntermittentOptions, type IntermittentState } from './hybrids/intermittent.js';
export { adamLbfgs, ADAM_LBFGS_DEFAULT_AFTER, type AdamLbfgsOptions } from './hybrids/adam-lbfgs.js';

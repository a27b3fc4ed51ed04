/**
 * The `curvature` namespace of the package: curvature matrices as linear operators over
 * parameter trees (after curvlinops), their builders, and the solvers and estimators that take
 * any operator. `import { curvature } from 'hessian'; const G = curvature.ggn(model, loss, params,
 * batch); curvature.cg(G.damped(1e-3), rhs)`.
 */
export { LinearOperator, linearOperator, DENSE_LIMIT, type LinearOperatorSpec } from './operators/linear-operator.js';
export { hessian } from './operators/hessian.js';
export { ggn } from './operators/ggn.js';
export { fisher, type FisherOperatorOptions } from './operators/fisher.js';
export { kfac, kfacOperator, type KfacOperatorOptions } from './operators/kfac.js';
export { fromObjective, type CurvatureKind, type CurvatureProducts, type FromObjectiveOptions } from './operators/from-objective.js';
export { cg, conjugateGradient, type CgOptions, type CgOperatorOptions, type CgResult } from './cg.js';
export { ggnvp, fisherVp, ggnOperatorFn, fisherOperatorFn, perExampleGrads, type Batch, type ModelFn, type FisherOptions, type CurvatureOperatorFn } from './products.js';
export { diagEmpiricalFisher } from './diag-fisher.js';

// Estimators, eigensolvers and low-rank methods on any operator.
export * from './estimators/index.js';
export * from './lowrank/index.js';
export { curvatureSample, curvatureSampler, spectrumSummary, hessianOperator, type CurvatureSample, type CurvatureSampleOptions, type SpectrumOptions, type SpectrumSummary, type HvpSource } from './diagnostics.js';

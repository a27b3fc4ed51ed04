/** Estimators and eigensolvers on any LinearOperator (for the package's `curvature` namespace). */
export { lanczos, type LanczosOptions, type LanczosResult, type LanczosWhich } from './lanczos.js';
export { powerIteration, type PowerIterationOptions, type PowerIterationResult } from './power-iteration.js';
export { trace, type TraceMethod, type TraceOptions, type TraceResult } from './trace.js';
export { diagonal, type DiagonalOptions } from './diagonal.js';
export { spectralDensity, type SpectralDensity, type SpectralDensityOptions } from './spectral-density.js';

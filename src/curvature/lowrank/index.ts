/** Low-rank curvature methods (for the package's `curvature` namespace). */
export { nystromPreconditioner, cgPreconditioner, type NystromOptions, type NystromPreconditioner, type CgPreconditionerKind } from './nystrom.js';
export { saddleFreeDirection, type SaddleFreeDirection } from './saddle-free.js';

// GEMM kernels for the scalar instruction set (see gemm_impl.h); selected at run time.
#define HESSIAN_ISA_NS isa_scalar
#define HESSIAN_ISA_TABLE gemm_isa_scalar
#include "gemm_impl.h"

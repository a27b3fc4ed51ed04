// GEMM kernels for the avx2 instruction set (see gemm_impl.h); selected at run time.
#define HESSIAN_ISA_NS isa_avx2
#define HESSIAN_ISA_TABLE gemm_isa_avx2
#include "gemm_impl.h"

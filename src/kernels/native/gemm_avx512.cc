// GEMM kernels for the avx512 instruction set (see gemm_impl.h); selected at run time.
#define HESSIAN_ISA_NS isa_avx512
#define HESSIAN_ISA_TABLE gemm_isa_avx512
#include "gemm_impl.h"

// Vectorized elementwise kernels for the avx2 instruction set (see vmath_impl.h); selected at run time.
#define HESSIAN_ISA_NS vmath_avx2
#define HESSIAN_VMATH_TABLE vmath_isa_avx2
#define HESSIAN_VMATH_NAME "avx2"
#define HESSIAN_VMATH_LANES 4
#include "vmath_impl.h"

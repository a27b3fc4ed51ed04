// Vectorized elementwise kernels for the avx512 instruction set (see vmath_impl.h); selected at run time.
#define HESSIAN_ISA_NS vmath_avx512
#define HESSIAN_VMATH_TABLE vmath_isa_avx512
#define HESSIAN_VMATH_NAME "avx512"
#define HESSIAN_VMATH_LANES 8
#include "vmath_impl.h"

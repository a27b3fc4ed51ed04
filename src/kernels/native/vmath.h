// Vectorized transcendental and fused-derivative kernels, compiled once per instruction set
// (vmath_avx512.cc, vmath_avx2.cc from vmath_impl.h) and chosen at load time like the GEMM.
// The "scalar" choice is no table at all: elementwise.cc's libm loops (the previous path).
#pragma once
#include <cstdint>

#include "kernels.h"

namespace hessian {

struct VmathIsa {
  const char* name;
  // out[i] = op(x[i]) for the vectorized ops (exp, expm1, log, log1p, tanh, sigmoid,
  // softplus); returns false, touching nothing, for any other op.
  bool (*unary32)(UnaryOp op, const float* x, float* out, int64_t n);
  bool (*unary64)(UnaryOp op, const double* x, double* out, int64_t n);
  void (*grad32)(UnaryGradOp op, const float* v, const float* g, float* out, int64_t n);
  void (*grad64)(UnaryGradOp op, const double* v, const double* g, double* out, int64_t n);
  // out[i] = a[i*sa] op b[i*sb] for + - * / with strides 0 or 1 (exactly rounded, so the same
  // bits as the scalar loop at any width); false, touching nothing, for other ops or strides.
  bool (*arith32)(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n);
  bool (*arith64)(BinaryOp op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n);
};

#ifdef HESSIAN_HAVE_AVX2
extern const VmathIsa vmath_isa_avx2;
#endif
#ifdef HESSIAN_HAVE_AVX512
extern const VmathIsa vmath_isa_avx512;
#endif

// The table in use, or null for the scalar libm loops.
const VmathIsa* vmathActive();

}  // namespace hessian

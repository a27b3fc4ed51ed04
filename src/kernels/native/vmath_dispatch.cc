// Picks the vectorized elementwise table at load time (as gemm_dispatch.cc does for the GEMM),
// lets tests and benchmarks force one, and holds the long-double oracle the accuracy tests use.
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "vmath.h"

namespace hessian {
namespace {

const VmathIsa* detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#ifdef HESSIAN_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma")) {
    return &vmath_isa_avx512;
  }
#endif
#ifdef HESSIAN_HAVE_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &vmath_isa_avx2;
#endif
#endif
  return nullptr;
}

const VmathIsa* active = detect();

template <typename T>
long double referenceOf(UnaryOp op, long double x) {
  switch (op) {
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::expm1: return std::expm1(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::log1p: return std::log1p(x);
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::sigmoid: return x >= 0 ? 1.0L / (1.0L + std::exp(-x)) : std::exp(x) / (1.0L + std::exp(x));
    case UnaryOp::softplus: return (x > 0 ? x : 0.0L) + std::log1p(std::exp(-std::fabs(x)));
    default: return std::numeric_limits<long double>::quiet_NaN();
  }
}

}  // namespace

const VmathIsa* vmathActive() { return active; }

const char* elementwiseIsaName() { return active == nullptr ? "scalar" : active->name; }

bool elementwiseSelectIsa(const char* name) {
  const VmathIsa* best = detect();
  if (std::strcmp(name, "auto") == 0) {
    active = best;
    return true;
  }
  if (std::strcmp(name, "scalar") == 0) {
    active = nullptr;
    return true;
  }
#ifdef HESSIAN_HAVE_AVX2
  if (std::strcmp(name, "avx2") == 0 && best != nullptr) {
    active = &vmath_isa_avx2;
    return true;
  }
#endif
#ifdef HESSIAN_HAVE_AVX512
  if (std::strcmp(name, "avx512") == 0 && best == &vmath_isa_avx512) {
    active = best;
    return true;
  }
#endif
  return false;
}

template <typename T>
void unaryReferenceKernel(UnaryOp op, const T* x, T* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = T(referenceOf<T>(op, (long double)x[i]));
}
template void unaryReferenceKernel<float>(UnaryOp, const float*, float*, int64_t);
template void unaryReferenceKernel<double>(UnaryOp, const double*, double*, int64_t);

}  // namespace hessian

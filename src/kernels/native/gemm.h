// Shared declarations of the native GEMM: one implementation per instruction set, compiled in
// separate translation units (gemm_avx512.cc, gemm_avx2.cc, gemm_scalar.cc) from gemm_impl.h.
#pragma once
#include <cstdint>

namespace hessian {

// One (non-batched) GEMM on a window of C: rows [m0, m1), columns [n0, n1) of
// C = alpha * op(A) * op(B) + beta * C. Pointers are to the start of A_p, B_p, C_p.
template <typename T>
struct GemmArgs {
  bool transA, transB;
  int64_t m, n, k;
  T alpha, beta;
  const T* a; int64_t lda;
  const T* b; int64_t ldb;
  T* c; int64_t ldc;
};

template <typename T>
using GemmWindowFn = void (*)(const GemmArgs<T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

struct GemmIsa {
  const char* name;
  int mr32, nr32, mr64, nr64;  // micro-tile shapes, used to split work across threads
  GemmWindowFn<float> packed32;  // BLIS-style packed path
  GemmWindowFn<double> packed64;
  void (*shared32)(const GemmArgs<float>& g, int threads);  // packed path on the thread pool,
  void (*shared64)(const GemmArgs<double>& g, int threads);  // B panels packed once and shared
  GemmWindowFn<float> direct32;  // unpacked loops for small problems
  GemmWindowFn<double> direct64;
};

extern const GemmIsa gemm_isa_scalar;
#ifdef HESSIAN_HAVE_AVX2
extern const GemmIsa gemm_isa_avx2;
#endif
#ifdef HESSIAN_HAVE_AVX512
extern const GemmIsa gemm_isa_avx512;
#endif

}  // namespace hessian

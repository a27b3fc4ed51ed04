// GEMM front end: picks the instruction set at load time (__builtin_cpu_supports), chooses the
// direct or packed path, and splits work across the thread pool.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "kernels.h"
#include "pool.h"

namespace hessian {
namespace {

const GemmIsa* detectIsa() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#ifdef HESSIAN_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma")) {
    return &gemm_isa_avx512;
  }
#endif
#ifdef HESSIAN_HAVE_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &gemm_isa_avx2;
#endif
#endif
  return &gemm_isa_scalar;
}

const GemmIsa* activeIsa = detectIsa();
// Diagnostics: HESSIAN_GEMM_WINDOWS=1 disables the shared-panel threaded path entirely.
const bool noShared = [] {
  const char* v = std::getenv("HESSIAN_GEMM_WINDOWS");
  return v != nullptr && v[0] == '1';
}();

// Below this many multiply-adds (m*n*k) one GEMM runs unpacked (measured: packing wins from 8^3).
constexpr int64_t kDirectMax = 8 * 8 * 8;
// Below this many multiply-adds a whole call stays on the calling thread.
constexpr int64_t kParallelMin = 96 * 96 * 96;

template <typename T> GemmWindowFn<T> packedFn(const GemmIsa& isa);
template <> GemmWindowFn<float> packedFn<float>(const GemmIsa& isa) { return isa.packed32; }
template <> GemmWindowFn<double> packedFn<double>(const GemmIsa& isa) { return isa.packed64; }
template <typename T> GemmWindowFn<T> directFn(const GemmIsa& isa);
template <> GemmWindowFn<float> directFn<float>(const GemmIsa& isa) { return isa.direct32; }
template <> GemmWindowFn<double> directFn<double>(const GemmIsa& isa) { return isa.direct64; }

void sharedRun(const GemmIsa& isa, const GemmArgs<float>& g, int nt) { isa.shared32(g, nt); }
void sharedRun(const GemmIsa& isa, const GemmArgs<double>& g, int nt) { isa.shared64(g, nt); }

}  // namespace

const char* gemmIsaName() { return activeIsa->name; }

bool gemmSelectIsa(const char* name) {
  const GemmIsa* best = detectIsa();
  const GemmIsa* want = nullptr;
  if (std::strcmp(name, "scalar") == 0) want = &gemm_isa_scalar;
#ifdef HESSIAN_HAVE_AVX2
  if (std::strcmp(name, "avx2") == 0 && best != &gemm_isa_scalar) want = &gemm_isa_avx2;
#endif
#ifdef HESSIAN_HAVE_AVX512
  if (std::strcmp(name, "avx512") == 0 && best == &gemm_isa_avx512) want = &gemm_isa_avx512;
#endif
  if (std::strcmp(name, "auto") == 0) want = best;
  if (want == nullptr) return false;
  activeIsa = want;
  return true;
}

template <typename T>
void gemmBatched(bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 int64_t strideA, const T* b, int64_t ldb, int64_t strideB, T beta, T* c, int64_t ldc,
                 int64_t strideC, int64_t batch) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  const GemmIsa& isa = *activeIsa;
  const int64_t work = m * n * std::max<int64_t>(k, 1);
  const bool direct = work <= kDirectMax || m == 1 || n == 1;
  const GemmWindowFn<T> fn = direct ? directFn<T>(isa) : packedFn<T>(isa);
  const int nt = poolThreads();
  auto args = [&](int64_t p) {
    return GemmArgs<T>{transA, transB, m, n, k, alpha, beta, a + p * strideA, lda, b + p * strideB, ldb,
                       c + p * strideC, ldc};
  };
  const bool cDisjoint = batch == 1 || strideC >= (m - 1) * ldc + n;
  if (nt <= 1 || work * batch < kParallelMin) {
    for (int64_t p = 0; p < batch; p++) fn(args(p), 0, m, 0, n);
    return;
  }
  if (work < kParallelMin) {
    if (!cDisjoint || batch < nt) {
      for (int64_t p = 0; p < batch; p++) fn(args(p), 0, m, 0, n);
      return;
    }
    // many small products: one contiguous range of the batch per thread
    parallelFor(nt, [&](int t) {
      int64_t lo, hi;
      chunkRange(batch, nt, t, 1, &lo, &hi);
      for (int64_t p = lo; p < hi; p++) fn(args(p), 0, m, 0, n);
    });
    return;
  }
  const int mr = sizeof(T) == 4 ? isa.mr32 : isa.mr64;
  const int nr = sizeof(T) == 4 ? isa.nr32 : isa.nr64;
  const int64_t tilesN = (n + nr - 1) / nr, tilesM = (m + mr - 1) / mr;
  // Wide enough: each thread a window of columns (measured ~4% more GFLOP per CPU-second than the
  // shared-panel path on Zen 5 at n = 1024: fewer barriers). Tall and narrow: row blocks on the pool, with
  // the B panels packed once and shared.
  const bool byN = tilesN >= 2 * nt || tilesN >= tilesM;
  // Narrow products (n within one tile) run unpacked per row window (see narrowWindow), not on shared panels.
  if (!byN && !direct && !noShared && tilesM >= 4 * nt && n > nr) {
    for (int64_t p = 0; p < batch; p++) sharedRun(isa, args(p), nt);
    return;
  }
  for (int64_t p = 0; p < batch; p++) {
    const GemmArgs<T> g = args(p);
    parallelFor(nt, [&](int t) {
      int64_t lo, hi;
      if (byN) {
        chunkRange(n, nt, t, nr, &lo, &hi);
        fn(g, 0, m, lo, hi);
      } else {
        chunkRange(m, nt, t, mr, &lo, &hi);
        fn(g, lo, hi, 0, n);
      }
    });
  }
}

template void gemmBatched<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t,
                                 const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int64_t);
template void gemmBatched<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, int64_t,
                                  const double*, int64_t, int64_t, double, double*, int64_t, int64_t, int64_t);

}  // namespace hessian

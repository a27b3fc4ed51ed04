// Plain C++ kernels behind the N-API layer (addon.cc validates arguments before calling these).
#pragma once
#include <cstdint>

namespace hessian {

enum class UnaryOp { neg, abs, sign, step, exp, expm1, log, log1p, sqrt, rsqrt, square, reciprocal,
                     tanh, sigmoid, relu, softplus, sin, cos, erf };
enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum, eq, ne, gt, ge, lt, le };
// Fused derivative times cotangent; v is the output y (sigmoid, tanh, exp) or the input x
// (softplus, relu) of the op: out = g*y(1-y), g*(1-y^2), g*sigmoid(x), g*[x > 0], g*y.
enum class UnaryGradOp { sigmoid, tanh, softplus, relu, exp };
enum class ReduceOp { sum, max, min, argmax, argmin, logsumexp };

constexpr int kMaxDims = 64;

// Whether the CPU runs AVX2, detected once: the loops built for it with target("avx2") (no FMA,
// so the same bits as the baseline build) check this. False off x86-64 or without GCC/Clang.
inline bool cpuHasAvx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has = [] {
    __builtin_cpu_init();  // may run before libgcc's own initializer
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

template <typename T> void unaryKernel(UnaryOp op, const T* x, T* out, int64_t n);
template <typename T> void unaryGradKernel(UnaryGradOp op, const T* v, const T* g, T* out, int64_t n);
// The op in long double (x87, 64-bit mantissa) libm, rounded once to T: the accuracy tests' oracle.
template <typename T> void unaryReferenceKernel(UnaryOp op, const T* x, T* out, int64_t n);
template <typename T> void binaryKernel(BinaryOp op, const T* a, const int64_t* as, const T* b,
                                        const int64_t* bs, T* out, const int64_t* shape, int nd);
template <typename T> void copyStridedKernel(const T* x, const int64_t* xs, T* out, const int64_t* shape, int nd);
template <typename T> void axpbyKernel(double alpha, const T* x, double beta, const T* y, T* out, int64_t n);
template <typename T> double dotKernel(const T* x, const T* y, int64_t n);
template <typename T> void reduceKernel(ReduceOp op, const T* x, int64_t outer, int64_t n, int64_t inner, T* out);
template <typename T> void softmaxKernel(const T* x, int64_t outer, int64_t n, int64_t inner, T* out, bool log);
template <typename T> void im2colKernel(const T* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                                        int64_t sH, int64_t sW, int64_t pH, int64_t pW, int64_t dH, int64_t dW,
                                        int64_t oH, int64_t oW, T* cols);
template <typename T> void col2imKernel(const T* cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw,
                                        int64_t sH, int64_t sW, int64_t pH, int64_t pW, int64_t dH, int64_t dW,
                                        int64_t oH, int64_t oW, T* x);

// GEMM over a batch, threaded; arguments already validated.
template <typename T>
void gemmBatched(bool transA, bool transB, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                 int64_t strideA, const T* b, int64_t ldb, int64_t strideB, T beta, T* c, int64_t ldc,
                 int64_t strideC, int64_t batch);

// Dense linear algebra (linalg.cc), float64 internally; semantics of src/kernels/ts/linalg.ts.
// Outputs may alias inputs (inputs are copied first).
template <typename T> bool choleskyKernel(int64_t n, const T* a, T* l);
template <typename T> void solveTriangularKernel(int64_t n, int64_t m, const T* t, const T* b, T* x, bool lower,
                                                 bool transpose, bool unitDiagonal);
// kAuto: Householder tridiagonalization, then divide and conquer with a blocked back-transformation
// (n > 32) or implicit QL with accumulated Q (small n, or when D&C fails); cyclic Jacobi when QL
// does not converge. kQl skips divide and conquer, kJacobi runs cyclic Jacobi alone (for tests).
enum class EighMethod { kAuto, kQl, kJacobi };
template <typename T> void eighKernel(int64_t n, const T* a, T* w, T* v, EighMethod method);

// The instruction set chosen at load ("avx512", "avx2", "scalar").
const char* gemmIsaName();
// Force an instruction set (for tests/benchmarks); false if it is not available here.
bool gemmSelectIsa(const char* name);

// Instruction set of the vectorized elementwise kernels ("avx512", "avx2", "scalar" = libm loops).
const char* elementwiseIsaName();
// Force it (for tests/benchmarks; "auto" = best here); false if it is not available here.
bool elementwiseSelectIsa(const char* name);

}  // namespace hessian

// Elementwise, reduction, softmax, strided-copy and im2col kernels. Semantics follow the
// TypeScript reference (src/kernels/ts-backend.ts): NaN propagation, first index on ties,
// float64 accumulation for sums. Large arrays are split across the thread pool.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <limits>
#include <vector>

#include "kernels.h"
#include "pool.h"
#include "vmath.h"

namespace hessian {
namespace {

constexpr int64_t kParallelElems = 1 << 16;  // cheap ops: below this, one thread
constexpr int64_t kParallelTransc = 1 << 13;  // transcendental ops

// Run body(lo, hi) over [0, n), split across threads when n is at least `minPar`.
template <typename F>
void forRange(int64_t n, int64_t minPar, int64_t grain, F&& body) {
  const int nt = poolThreads();
  if (nt <= 1 || n < minPar) {
    if (n > 0) body(int64_t(0), n);
    return;
  }
  // a few chunks per thread, claimed dynamically: a thread the OS delays holds nobody back
  const int parts = int(std::min<int64_t>(int64_t(nt) * 4, (n + grain - 1) / grain));
  parallelFor(parts, [&](int t) {
    int64_t lo, hi;
    chunkRange(n, parts, t, grain, &lo, &hi);
    if (hi > lo) body(lo, hi);
  });
}

template <typename T> inline bool isNan(T x) { return x != x; }

// Branch-free forms of the reference's piecewise definitions (random signs mispredict).
// Select without a branch (a data-dependent branch here costs ~7 ns per element).
template <typename T>
inline T selectBits(bool c, T a, T b) {
  using U = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
  U ua, ub;
  std::memcpy(&ua, &a, sizeof(T));
  std::memcpy(&ub, &b, sizeof(T));
  const U mask = U(0) - U(c);
  const U r = (ua & mask) | (ub & ~mask);
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}
template <typename T>
inline T sigmoidF(T x) {
  const T e = std::exp(-std::fabs(x));  // exp(-x) for x >= 0, exp(x) for x < 0
  const T d = T(1) + e;
  return selectBits(x >= T(0), T(1) / d, e / d);
}
template <typename T>
inline T softplusF(T x) {
  return (x > T(0) ? x : T(0)) + std::log1p(std::exp(-std::fabs(x)));
}
// glibc's tanhf/expm1f are slow (~12 ns); for float32, go through double exp, whose extra
// precision absorbs the cancellation in t - 1 (series below 2^-12, where it would not).
inline float tanhF(float x) {
  const double a = std::fabs(double(x));
  double r;
  if (a < 0x1p-12) r = a - a * a * a / 3.0;
  else if (a > 10.0) r = 1.0;
  else {
    const double t = std::exp(2.0 * a);
    r = (t - 1.0) / (t + 1.0);
  }
  return float(std::copysign(r, double(x)));  // NaN in, NaN out
}
inline double tanhF(double x) { return std::tanh(x); }
inline float expm1F(float x) {
  const double d = double(x);
  if (std::fabs(d) < 0x1p-12) return float(d * (1.0 + d * (0.5 + d / 6.0)));  // keeps -0
  return float(std::exp(d) - 1.0);
}
inline double expm1F(double x) { return std::expm1(x); }

template <typename T, typename F>
void mapUnary(const T* x, T* out, int64_t n, int64_t minPar, F f) {
  forRange(n, minPar, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = f(x[i]);
  });
}

// JS Math.pow differs from C pow for pow(+-1, +-Infinity) and pow(1, NaN): NaN in JS.
inline double jsPow(double a, double b) {
  if (isNan(b)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(b) && std::fabs(a) == 1.0) return std::numeric_limits<double>::quiet_NaN();
  return std::pow(a, b);
}

struct OpAdd { template <typename T> static T f(T a, T b) { return a + b; } };
struct OpSub { template <typename T> static T f(T a, T b) { return a - b; } };
struct OpMul { template <typename T> static T f(T a, T b) { return a * b; } };
struct OpDiv { template <typename T> static T f(T a, T b) { return a / b; } };
struct OpPow { template <typename T> static T f(T a, T b) { return T(jsPow(double(a), double(b))); } };
struct OpMax {
  template <typename T> static T f(T a, T b) {
    return isNan(a) || isNan(b) ? std::numeric_limits<T>::quiet_NaN() : a > b ? a : b;
  }
};
struct OpMin {
  template <typename T> static T f(T a, T b) {
    return isNan(a) || isNan(b) ? std::numeric_limits<T>::quiet_NaN() : a < b ? a : b;
  }
};
struct OpEq { template <typename T> static T f(T a, T b) { return a == b ? T(1) : T(0); } };
struct OpNe { template <typename T> static T f(T a, T b) { return a != b ? T(1) : T(0); } };
struct OpGt { template <typename T> static T f(T a, T b) { return a > b ? T(1) : T(0); } };
struct OpGe { template <typename T> static T f(T a, T b) { return a >= b ? T(1) : T(0); } };
struct OpLt { template <typename T> static T f(T a, T b) { return a < b ? T(1) : T(0); } };
struct OpLe { template <typename T> static T f(T a, T b) { return a <= b ? T(1) : T(0); } };

// A strided iteration space after dropping unit axes and merging axes that are contiguous
// in every operand (out is contiguous). Rows are runs along the last axis.
struct Space {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t s1[kMaxDims];
  int64_t s2[kMaxDims];
};

Space simplify(const int64_t* shape, const int64_t* s1, const int64_t* s2, int nd) {
  Space sp;
  for (int d = 0; d < nd; d++) {
    if (shape[d] == 1) continue;
    if (sp.nd > 0) {
      const int e = sp.nd - 1;
      if (sp.s1[e] == s1[d] * shape[d] && sp.s2[e] == s2[d] * shape[d]) {
        sp.shape[e] *= shape[d];
        sp.s1[e] = s1[d];
        sp.s2[e] = s2[d];
        continue;
      }
    }
    sp.shape[sp.nd] = shape[d];
    sp.s1[sp.nd] = s1[d];
    sp.s2[sp.nd] = s2[d];
    sp.nd++;
  }
  if (sp.nd == 0) {
    sp.nd = 1;
    sp.shape[0] = 1;
    sp.s1[0] = 0;
    sp.s2[0] = 0;
  }
  return sp;
}

// rowFn(outOffset, offset1, offset2, length) for every row (or chunk of a row) of the space, split across threads.
template <typename F>
void forRows(const Space& sp, F&& rowFn) {
  const int nd = sp.nd;
  const int64_t last = sp.shape[nd - 1];
  int64_t rows = 1;
  for (int d = 0; d < nd - 1; d++) rows *= sp.shape[d];
  if (nd == 1) {
    // one run: split it into chunks
    forRange(last, kParallelElems, 256, [&](int64_t lo, int64_t hi) { rowFn(lo, lo * sp.s1[0], lo * sp.s2[0], hi - lo); });
    return;
  }
  const int64_t minRows = std::max<int64_t>(1, kParallelElems / std::max<int64_t>(last, 1));
  forRange(rows, minRows, 1, [&](int64_t r0, int64_t r1) {
    int64_t idx[kMaxDims];
    int64_t o1 = 0, o2 = 0;
    int64_t rem = r0;
    for (int d = nd - 2; d >= 0; d--) {
      idx[d] = rem % sp.shape[d];
      rem /= sp.shape[d];
      o1 += idx[d] * sp.s1[d];
      o2 += idx[d] * sp.s2[d];
    }
    for (int64_t r = r0; r < r1; r++) {
      rowFn(r * last, o1, o2, last);
      for (int d = nd - 2; d >= 0; d--) {
        idx[d]++;
        o1 += sp.s1[d];
        o2 += sp.s2[d];
        if (idx[d] < sp.shape[d]) break;
        o1 -= sp.s1[d] * sp.shape[d];
        o2 -= sp.s2[d] * sp.shape[d];
        idx[d] = 0;
      }
    }
  });
}

template <typename T, typename Op>
void binaryLoop(const T* a, const int64_t* as, const T* b, const int64_t* bs, T* out, const int64_t* shape, int nd) {
  const Space sp = simplify(shape, as, bs, nd);
  const int64_t sa = sp.s1[sp.nd - 1], sb = sp.s2[sp.nd - 1];
  forRows(sp, [&](int64_t o, int64_t ao, int64_t bo, int64_t last) {
    T* dst = out + o;
    const T* pa = a + ao;
    const T* pb = b + bo;
    if (sa == 1 && sb == 1) {
      for (int64_t j = 0; j < last; j++) dst[j] = Op::f(pa[j], pb[j]);
    } else if (sa == 1 && sb == 0) {
      const T vb = pb[0];
      for (int64_t j = 0; j < last; j++) dst[j] = Op::f(pa[j], vb);
    } else if (sa == 0 && sb == 1) {
      const T va = pa[0];
      for (int64_t j = 0; j < last; j++) dst[j] = Op::f(va, pb[j]);
    } else {
      for (int64_t j = 0; j < last; j++) dst[j] = Op::f(pa[j * sa], pb[j * sb]);
    }
  });
}

bool vectorArith(const VmathIsa* v, BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  return v->arith32(op, a, sa, b, sb, out, n);
}
bool vectorArith(const VmathIsa* v, BinaryOp op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n) {
  return v->arith64(op, a, sa, b, sb, out, n);
}

// + - * / with the rows' inner strides 0 or 1 at the vector width of this CPU (vmath table),
// else the loops above.
template <typename T, typename Op>
void arithLoop(BinaryOp op, const T* a, const int64_t* as, const T* b, const int64_t* bs, T* out, const int64_t* shape, int nd) {
  const VmathIsa* vec = vmathActive();
  const Space sp = simplify(shape, as, bs, nd);
  const int64_t sa = sp.s1[sp.nd - 1], sb = sp.s2[sp.nd - 1];
  if (vec == nullptr || sa < 0 || sa > 1 || sb < 0 || sb > 1 || (sa == 0 && sb == 0)) {
    binaryLoop<T, Op>(a, as, b, bs, out, shape, nd);
    return;
  }
  forRows(sp, [&](int64_t o, int64_t ao, int64_t bo, int64_t last) { vectorArith(vec, op, a + ao, sa, b + bo, sb, out + o, last); });
}

bool vectorUnary(const VmathIsa* v, UnaryOp op, const float* x, float* out, int64_t n) { return v->unary32(op, x, out, n); }
bool vectorUnary(const VmathIsa* v, UnaryOp op, const double* x, double* out, int64_t n) { return v->unary64(op, x, out, n); }
void vectorGrad(const VmathIsa* v, UnaryGradOp op, const float* a, const float* g, float* out, int64_t n) { v->grad32(op, a, g, out, n); }
void vectorGrad(const VmathIsa* v, UnaryGradOp op, const double* a, const double* g, double* out, int64_t n) { v->grad64(op, a, g, out, n); }

bool isVectorized(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::expm1 || op == UnaryOp::log || op == UnaryOp::log1p ||
         op == UnaryOp::tanh || op == UnaryOp::sigmoid || op == UnaryOp::softplus;
}

}  // namespace

template <typename T>
void unaryKernel(UnaryOp op, const T* x, T* out, int64_t n) {
  const int64_t P = kParallelElems, Q = kParallelTransc;
  const VmathIsa* vec = vmathActive();
  if (vec != nullptr && isVectorized(op)) {
    // ~8x cheaper per element than the libm loops: split only where the cheap ops split
    forRange(n, P, 256, [&](int64_t lo, int64_t hi) { vectorUnary(vec, op, x + lo, out + lo, hi - lo); });
    return;
  }
  switch (op) {
    case UnaryOp::neg: return mapUnary(x, out, n, P, [](T v) { return -v; });
    case UnaryOp::abs: return mapUnary(x, out, n, P, [](T v) { return std::fabs(v); });
    case UnaryOp::sign: return mapUnary(x, out, n, P, [](T v) { return v > T(0) ? T(1) : v < T(0) ? T(-1) : v; });
    case UnaryOp::step: return mapUnary(x, out, n, P, [](T v) { return v > T(0) ? T(1) : isNan(v) ? v : T(0); });
    case UnaryOp::exp: return mapUnary(x, out, n, Q, [](T v) { return std::exp(v); });
    case UnaryOp::expm1: return mapUnary(x, out, n, Q, [](T v) { return expm1F(v); });
    case UnaryOp::log: return mapUnary(x, out, n, Q, [](T v) { return std::log(v); });
    case UnaryOp::log1p: return mapUnary(x, out, n, Q, [](T v) { return std::log1p(v); });
    case UnaryOp::sqrt: return mapUnary(x, out, n, P, [](T v) { return std::sqrt(v); });
    case UnaryOp::rsqrt: return mapUnary(x, out, n, P, [](T v) { return T(1) / std::sqrt(v); });
    case UnaryOp::square: return mapUnary(x, out, n, P, [](T v) { return v * v; });
    case UnaryOp::reciprocal: return mapUnary(x, out, n, P, [](T v) { return T(1) / v; });
    case UnaryOp::tanh: return mapUnary(x, out, n, Q, [](T v) { return tanhF(v); });
    case UnaryOp::sigmoid: return mapUnary(x, out, n, Q, [](T v) { return sigmoidF(v); });
    case UnaryOp::relu: return mapUnary(x, out, n, P, [](T v) { return v > T(0) ? v : isNan(v) ? v : T(0); });
    case UnaryOp::softplus: return mapUnary(x, out, n, Q, [](T v) { return softplusF(v); });
    case UnaryOp::sin: return mapUnary(x, out, n, Q, [](T v) { return std::sin(v); });
    case UnaryOp::cos: return mapUnary(x, out, n, Q, [](T v) { return std::cos(v); });
    case UnaryOp::erf: return mapUnary(x, out, n, Q, [](T v) { return std::erf(v); });
  }
}

template <typename T>
void unaryGradKernel(UnaryGradOp op, const T* v, const T* g, T* out, int64_t n) {
  const VmathIsa* vec = vmathActive();
  const int64_t minPar = op == UnaryGradOp::softplus && vec == nullptr ? kParallelTransc : kParallelElems;
  forRange(n, minPar, 256, [&](int64_t lo, int64_t hi) {
    const T* a = v + lo;
    const T* b = g + lo;
    T* o = out + lo;
    const int64_t m = hi - lo;
    if (vec != nullptr) return vectorGrad(vec, op, a, b, o, m);
    // the scalar path: the same expressions as the composed rules, libm for sigmoid
    switch (op) {
      case UnaryGradOp::sigmoid: for (int64_t i = 0; i < m; i++) o[i] = b[i] * (a[i] * (T(1) - a[i])); break;
      case UnaryGradOp::tanh: for (int64_t i = 0; i < m; i++) o[i] = b[i] * (T(1) - a[i] * a[i]); break;
      case UnaryGradOp::exp: for (int64_t i = 0; i < m; i++) o[i] = b[i] * a[i]; break;
      case UnaryGradOp::relu: for (int64_t i = 0; i < m; i++) o[i] = b[i] * (a[i] > T(0) ? T(1) : T(0)); break;
      case UnaryGradOp::softplus: for (int64_t i = 0; i < m; i++) o[i] = b[i] * sigmoidF(a[i]); break;
    }
  });
}

template <typename T>
void binaryKernel(BinaryOp op, const T* a, const int64_t* as, const T* b, const int64_t* bs, T* out,
                  const int64_t* shape, int nd) {
  switch (op) {
    case BinaryOp::add: return arithLoop<T, OpAdd>(op, a, as, b, bs, out, shape, nd);
    case BinaryOp::sub: return arithLoop<T, OpSub>(op, a, as, b, bs, out, shape, nd);
    case BinaryOp::mul: return arithLoop<T, OpMul>(op, a, as, b, bs, out, shape, nd);
    case BinaryOp::div: return arithLoop<T, OpDiv>(op, a, as, b, bs, out, shape, nd);
    case BinaryOp::pow: return binaryLoop<T, OpPow>(a, as, b, bs, out, shape, nd);
    case BinaryOp::maximum: return binaryLoop<T, OpMax>(a, as, b, bs, out, shape, nd);
    case BinaryOp::minimum: return binaryLoop<T, OpMin>(a, as, b, bs, out, shape, nd);
    case BinaryOp::eq: return binaryLoop<T, OpEq>(a, as, b, bs, out, shape, nd);
    case BinaryOp::ne: return binaryLoop<T, OpNe>(a, as, b, bs, out, shape, nd);
    case BinaryOp::gt: return binaryLoop<T, OpGt>(a, as, b, bs, out, shape, nd);
    case BinaryOp::ge: return binaryLoop<T, OpGe>(a, as, b, bs, out, shape, nd);
    case BinaryOp::lt: return binaryLoop<T, OpLt>(a, as, b, bs, out, shape, nd);
    case BinaryOp::le: return binaryLoop<T, OpLe>(a, as, b, bs, out, shape, nd);
  }
}

template <typename T>
void copyStridedKernel(const T* x, const int64_t* xs, T* out, const int64_t* shape, int nd) {
  int64_t zeros[kMaxDims] = {0};
  const Space sp = simplify(shape, xs, zeros, nd);
  const int nd2 = sp.nd;
  if (nd2 >= 2 && sp.s1[nd2 - 2] == 1 && sp.s1[nd2 - 1] != 1 && sp.shape[nd2 - 1] >= 8 && sp.shape[nd2 - 2] >= 8) {
    // the last two axes are a transpose: copy in square tiles so reads and writes both stay in cache
    const int64_t R = sp.shape[nd2 - 2], Cn = sp.shape[nd2 - 1], sc = sp.s1[nd2 - 1];
    int64_t planes = 1;
    for (int d = 0; d < nd2 - 2; d++) planes *= sp.shape[d];
    constexpr int64_t TB = 32;
    const int64_t rowTiles = (R + TB - 1) / TB;
    forRange(planes * rowTiles, std::max<int64_t>(1, kParallelElems / (TB * Cn)), 1, [&](int64_t lo, int64_t hi) {
      for (int64_t q = lo; q < hi; q++) {
        const int64_t plane = q / rowTiles, r0 = (q % rowTiles) * TB, r1 = std::min(R, r0 + TB);
        int64_t off = 0, rem = plane;
        for (int d = nd2 - 3; d >= 0; d--) {
          off += (rem % sp.shape[d]) * sp.s1[d];
          rem /= sp.shape[d];
        }
        const T* src = x + off;
        T* dst = out + plane * R * Cn;
        for (int64_t c0 = 0; c0 < Cn; c0 += TB) {
          const int64_t c1 = std::min(Cn, c0 + TB);
          for (int64_t r = r0; r < r1; r++) {
            for (int64_t c = c0; c < c1; c++) dst[r * Cn + c] = src[r + c * sc];
          }
        }
      }
    });
    return;
  }
  const int64_t s = sp.s1[sp.nd - 1];
  forRows(sp, [&](int64_t o, int64_t xo, int64_t, int64_t last) {
    T* dst = out + o;
    const T* src = x + xo;
    if (s == 1) {
      for (int64_t j = 0; j < last; j++) dst[j] = src[j];
    } else if (s == 0) {
      const T v = src[0];
      for (int64_t j = 0; j < last; j++) dst[j] = v;
    } else {
      for (int64_t j = 0; j < last; j++) dst[j] = src[j * s];
    }
  });
}

namespace {

// axpby's and dot's loops over [lo, hi): computed in float64 and rounded once, as the reference
// does; dot in eight float64 accumulators, combined in a fixed order.
template <typename T>
inline __attribute__((always_inline)) void axpbyRange(double alpha, const T* x, double beta, const T* y, T* out,
                                                      int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; i++) out[i] = T(alpha * double(x[i]) + beta * double(y[i]));
}

template <typename T>
inline __attribute__((always_inline)) double dotRange(const T* x, const T* y, int64_t lo, int64_t hi) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = lo;
  for (; i + 8 <= hi; i += 8) {
    for (int l = 0; l < 8; l++) acc[l] += double(x[i + l]) * double(y[i + l]);
  }
  double s = 0;
  for (; i < hi; i++) s += double(x[i]) * double(y[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + s;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same loops compiled for AVX2 (no FMA, and the same accumulators in the same order, so
// every result is the same bits), chosen at run time when the CPU has it, as linalg.cc's
// rotations are, unless the elementwise instruction set is forced to 'scalar' (the reference
// that bench:elementwise times them against). This file is otherwise built for the baseline
// x86-64 (SSE2), and these loops are the vector work of CG, L-BFGS's two loops and the
// optimizers' updates.
template <typename T>
__attribute__((target("avx2"))) void axpbyRangeAvx2(double alpha, const T* x, double beta, const T* y, T* out,
                                                    int64_t lo, int64_t hi) {
  axpbyRange(alpha, x, beta, y, out, lo, hi);
}
template <typename T>
__attribute__((target("avx2"))) double dotRangeAvx2(const T* x, const T* y, int64_t lo, int64_t hi) {
  return dotRange(x, y, lo, hi);
}
#endif

template <typename T>
void axpbyAt(double alpha, const T* x, double beta, const T* y, T* out, int64_t lo, int64_t hi) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpuHasAvx2() && vmathActive() != nullptr) return axpbyRangeAvx2(alpha, x, beta, y, out, lo, hi);
#endif
  axpbyRange(alpha, x, beta, y, out, lo, hi);
}

template <typename T>
double dotAt(const T* x, const T* y, int64_t lo, int64_t hi) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpuHasAvx2() && vmathActive() != nullptr) return dotRangeAvx2(x, y, lo, hi);
#endif
  return dotRange(x, y, lo, hi);
}

}  // namespace

template <typename T>
void axpbyKernel(double alpha, const T* x, double beta, const T* y, T* out, int64_t n) {
  forRange(n, kParallelElems, 64, [&](int64_t lo, int64_t hi) { axpbyAt(alpha, x, beta, y, out, lo, hi); });
}

template <typename T>
double dotKernel(const T* x, const T* y, int64_t n) {
  const int nt = poolThreads();
  const int parts = (nt > 1 && n >= kParallelElems) ? std::min(nt * 4, 64) : 1;
  double partial[64] = {0};
  auto body = [&](int t) {
    int64_t lo, hi;
    chunkRange(n, parts, t, 64, &lo, &hi);
    partial[t] = dotAt(x, y, lo, hi);
  };
  if (parts == 1) body(0);
  else parallelFor(parts, body);
  double s = 0;
  for (int t = 0; t < parts; t++) s += partial[t];
  return s;
}

template <typename T>
void reduceKernel(ReduceOp op, const T* x, int64_t outer, int64_t n, int64_t inner, T* out) {
  const int64_t total = outer * inner;
  const int64_t minPar = std::max<int64_t>(1, kParallelElems / std::max<int64_t>(n, 1));
  // Each task owns a range of output elements; within one `o`, it walks the n axis row by row
  // over its contiguous run of `i` (cache-friendly for inner > 1).
  if (inner == 1 && (op == ReduceOp::sum || op == ReduceOp::max || op == ReduceOp::min)) {
    // contiguous rows: one output per row
    forRange(outer, minPar, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; o++) {
        const T* row = x + o * n;
        if (op == ReduceOp::sum) {
          double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          int64_t j = 0;
          for (; j + 8 <= n; j += 8) {
            for (int l = 0; l < 8; l++) acc[l] += double(row[j + l]);
          }
          double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
          for (; j < n; j++) s += double(row[j]);
          out[o] = T(s);
        } else {
          const bool mx = op == ReduceOp::max;
          T r = row[0];
          for (int64_t j = 1; j < n && !isNan(r); j++) {
            const T v = row[j];
            if (isNan(v) || (mx ? v > r : v < r)) r = v;
          }
          out[o] = r;
        }
      }
    });
    return;
  }
  forRange(total, minPar, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc, best;
    std::vector<int64_t> arg;
    for (int64_t q = lo; q < hi;) {
      const int64_t o = q / inner, i0 = q % inner;
      const int64_t i1 = std::min(inner, i0 + (hi - q));
      const int64_t w = i1 - i0;
      const T* base = x + o * n * inner;
      T* dst = out + o * inner;
      acc.assign(size_t(w), 0.0);
      switch (op) {
        case ReduceOp::sum: {
          for (int64_t j = 0; j < n; j++) {
            const T* row = base + j * inner + i0;
            for (int64_t i = 0; i < w; i++) acc[i] += double(row[i]);
          }
          for (int64_t i = 0; i < w; i++) dst[i0 + i] = T(acc[i]);
          break;
        }
        case ReduceOp::max:
        case ReduceOp::min: {
          const bool mx = op == ReduceOp::max;
          for (int64_t i = 0; i < w; i++) acc[i] = double(base[i0 + i]);
          for (int64_t j = 1; j < n; j++) {
            const T* row = base + j * inner + i0;
            for (int64_t i = 0; i < w; i++) {
              const double v = double(row[i]);
              if (isNan(v) || (mx ? v > acc[i] : v < acc[i])) acc[i] = v;
            }
          }
          for (int64_t i = 0; i < w; i++) dst[i0 + i] = T(acc[i]);
          break;
        }
        case ReduceOp::argmax:
        case ReduceOp::argmin: {
          const bool mx = op == ReduceOp::argmax;
          arg.assign(size_t(w), 0);
          for (int64_t i = 0; i < w; i++) acc[i] = double(base[i0 + i]);
          for (int64_t j = 1; j < n; j++) {
            const T* row = base + j * inner + i0;
            for (int64_t i = 0; i < w; i++) {
              const double v = double(row[i]);
              if (!isNan(acc[i]) && (isNan(v) || (mx ? v > acc[i] : v < acc[i]))) {
                acc[i] = v;
                arg[i] = j;
              }
            }
          }
          for (int64_t i = 0; i < w; i++) dst[i0 + i] = T(arg[i]);
          break;
        }
        case ReduceOp::logsumexp: {
          best.assign(size_t(w), -std::numeric_limits<double>::infinity());
          for (int64_t j = 0; j < n; j++) {
            const T* row = base + j * inner + i0;
            for (int64_t i = 0; i < w; i++) {
              const double v = double(row[i]);
              if (v > best[i] || isNan(v)) best[i] = v;
            }
          }
          for (int64_t j = 0; j < n; j++) {
            const T* row = base + j * inner + i0;
            for (int64_t i = 0; i < w; i++) acc[i] += std::exp(double(row[i]) - best[i]);
          }
          for (int64_t i = 0; i < w; i++) {
            const double m = best[i];
            dst[i0 + i] = T(isNan(m) || std::isinf(m) ? m : m + std::log(acc[i]));
          }
          break;
        }
      }
      q += w;
    }
  });
}

template <typename T>
void softmaxKernel(const T* x, int64_t outer, int64_t n, int64_t inner, T* out, bool log) {
  const int64_t total = outer * inner;
  const int64_t minPar = std::max<int64_t>(1, kParallelTransc / std::max<int64_t>(n, 1));
  forRange(total, minPar, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> mx, sum;
    for (int64_t q = lo; q < hi;) {
      const int64_t o = q / inner, i0 = q % inner;
      const int64_t i1 = std::min(inner, i0 + (hi - q));
      const int64_t w = i1 - i0;
      const T* base = x + o * n * inner;
      T* dst = out + o * n * inner;
      mx.assign(size_t(w), -std::numeric_limits<double>::infinity());
      sum.assign(size_t(w), 0.0);
      for (int64_t j = 0; j < n; j++) {
        const T* row = base + j * inner + i0;
        for (int64_t i = 0; i < w; i++) {
          const double v = double(row[i]);
          if (v > mx[i] || isNan(v)) mx[i] = v;
        }
      }
      for (int64_t i = 0; i < w; i++) {
        if (std::isinf(mx[i])) mx[i] = 0;  // an all -inf (or any +inf) row gives NaN, as NumPy
      }
      if (log) {
        for (int64_t j = 0; j < n; j++) {
          const T* row = base + j * inner + i0;
          for (int64_t i = 0; i < w; i++) sum[i] += std::exp(double(row[i]) - mx[i]);
        }
        for (int64_t i = 0; i < w; i++) sum[i] = std::log(sum[i]);
        for (int64_t j = 0; j < n; j++) {
          const T* row = base + j * inner + i0;
          T* orow = dst + j * inner + i0;
          for (int64_t i = 0; i < w; i++) orow[i] = T(double(row[i]) - mx[i] - sum[i]);
        }
      } else {
        // out may alias x: each element is read before it is written
        for (int64_t j = 0; j < n; j++) {
          const T* row = base + j * inner + i0;
          T* orow = dst + j * inner + i0;
          for (int64_t i = 0; i < w; i++) {
            const double e = std::exp(double(row[i]) - mx[i]);
            sum[i] += e;
            orow[i] = T(e);  // exact for float64; for float32 one extra rounding (< 1 ulp)
          }
        }
        for (int64_t i = 0; i < w; i++) sum[i] = 1.0 / sum[i];
        for (int64_t j = 0; j < n; j++) {
          T* orow = dst + j * inner + i0;
          for (int64_t i = 0; i < w; i++) orow[i] = T(double(orow[i]) * sum[i]);
        }
      }
      q += w;
    }
  });
}

template <typename T>
void im2colKernel(const T* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sH, int64_t sW,
                  int64_t pH, int64_t pW, int64_t dH, int64_t dW, int64_t oH, int64_t oW, T* cols) {
  const int64_t L = oH * oW;
  const int64_t rows = C * kh * kw;
  forRange(rows, std::max<int64_t>(1, kParallelElems / std::max<int64_t>(L, 1)), 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const int64_t c = r / (kh * kw), i = (r / kw) % kh, j = r % kw;
      T* dst = cols + r * L;
      const T* plane = x + c * H * W;
      for (int64_t oy = 0; oy < oH; oy++) {
        const int64_t y = oy * sH - pH + i * dH;
        T* d = dst + oy * oW;
        if (y < 0 || y >= H) {
          for (int64_t ox = 0; ox < oW; ox++) d[ox] = T(0);
          continue;
        }
        const T* src = plane + y * W;
        const int64_t x0 = j * dW - pW;
        // Output columns whose input column ox·sW + x0 lies inside the row: [lo, hi).
        const int64_t lo = std::min<int64_t>(oW, x0 >= 0 ? 0 : (-x0 + sW - 1) / sW);
        const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(oW, W - x0 <= 0 ? 0 : (W - x0 + sW - 1) / sW));
        for (int64_t ox = 0; ox < lo; ox++) d[ox] = T(0);
        if (sW == 1) {
          if (hi > lo) std::memcpy(d + lo, src + x0 + lo, size_t(hi - lo) * sizeof(T));
        } else {
          for (int64_t ox = lo; ox < hi; ox++) d[ox] = src[ox * sW + x0];
        }
        for (int64_t ox = hi; ox < oW; ox++) d[ox] = T(0);
      }
    }
  });
}

template <typename T>
void col2imKernel(const T* cols, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sH, int64_t sW,
                  int64_t pH, int64_t pW, int64_t dH, int64_t dW, int64_t oH, int64_t oW, T* x) {
  const int64_t L = oH * oW;
  // parallel over channels: each channel's plane of x is written by one thread only
  forRange(C, std::max<int64_t>(1, kParallelElems / std::max<int64_t>(kh * kw * L, 1)), 1,
           [&](int64_t c0, int64_t c1) {
             for (int64_t c = c0; c < c1; c++) {
               T* plane = x + c * H * W;
               for (int64_t i = 0; i < kh; i++) {
                 for (int64_t j = 0; j < kw; j++) {
                   const T* src = cols + ((c * kh + i) * kw + j) * L;
                   for (int64_t oy = 0; oy < oH; oy++) {
                     const int64_t y = oy * sH - pH + i * dH;
                     if (y < 0 || y >= H) continue;
                     T* drow = plane + y * W;
                     const T* s = src + oy * oW;
                     const int64_t x0 = j * dW - pW;
                     // the output columns that land inside the row, as in im2col: [lo, hi)
                     const int64_t lo = std::min<int64_t>(oW, x0 >= 0 ? 0 : (-x0 + sW - 1) / sW);
                     const int64_t hi = std::max<int64_t>(lo, std::min<int64_t>(oW, W - x0 <= 0 ? 0 : (W - x0 + sW - 1) / sW));
                     if (sW == 1) {
                       T* d = drow + x0;
                       for (int64_t ox = lo; ox < hi; ox++) d[ox] += s[ox];
                     } else {
                       for (int64_t ox = lo; ox < hi; ox++) drow[ox * sW + x0] += s[ox];
                     }
                   }
                 }
               }
             }
           });
}

#define HESSIAN_INSTANTIATE(T)                                                                                    \
  template void unaryKernel<T>(UnaryOp, const T*, T*, int64_t);                                                   \
  template void unaryGradKernel<T>(UnaryGradOp, const T*, const T*, T*, int64_t);                                 \
  template void binaryKernel<T>(BinaryOp, const T*, const int64_t*, const T*, const int64_t*, T*, const int64_t*, \
                                int);                                                                             \
  template void copyStridedKernel<T>(const T*, const int64_t*, T*, const int64_t*, int);                          \
  template void axpbyKernel<T>(double, const T*, double, const T*, T*, int64_t);                                  \
  template double dotKernel<T>(const T*, const T*, int64_t);                                                      \
  template void reduceKernel<T>(ReduceOp, const T*, int64_t, int64_t, int64_t, T*);                               \
  template void softmaxKernel<T>(const T*, int64_t, int64_t, int64_t, T*, bool);                                  \
  template void im2colKernel<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                int64_t, int64_t, int64_t, int64_t, int64_t, T*);                                 \
  template void col2imKernel<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                int64_t, int64_t, int64_t, int64_t, int64_t, T*);
HESSIAN_INSTANTIATE(float)
HESSIAN_INSTANTIATE(double)

}  // namespace hessian

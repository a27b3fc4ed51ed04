// Vectorized exp, expm1, log, log1p, tanh, sigmoid, softplus and the fused derivative kernels,
// written once with GCC/Clang vector extensions and compiled per instruction set: included by
// vmath_avx512.cc (8 double lanes) and vmath_avx2.cc (4 lanes), each defining HESSIAN_ISA_NS,
// HESSIAN_VMATH_TABLE, HESSIAN_VMATH_NAME and HESSIAN_VMATH_LANES.
//
// float32 exp and sigmoid run in float lanes (see expCoreS; <= 1 and <= 2 ulp measured).
// Everything else is evaluated in float64 lanes, float32 inputs widened, evaluated with shorter
// polynomials and rounded once: the float64 error (< 1e-9 relative) is far below half a float
// ulp, so those float32 results are correctly rounded except within 1e-9 of a rounding
// midpoint (<= 1 ulp), subnormal and overflowing results included.
//
// Method (coefficients derived here, not copied): exp by Cody-Waite reduction
// x = n ln2 + r, |r| <= ln2/2, Taylor series of e^r to degree 13 (float64) or 7 (for float32):
// remainders |r|^14/14! ~ 4e-18 and |r|^8/8! ~ 5e-9; 2^n built from the exponent bits in two
// factors so that subnormal results round once. expm1 = 2^n expm1(r) + (2^n - 1) with the
// series of expm1(r) (no cancellation). log: x = 2^k m, m in [sqrt(1/2), sqrt(2)), f = m - 1,
// s = f / (2 + f), log m = 2 atanh s = f - s (f - R), R = sum_{j>=1} 2 z^j / (2j + 1) with
// z = s^2 <= 0.0295, to j = 11 (float64; z^12/25 < 1e-19) or 5 (float32). log1p(x) = log(u) +
// (x - (u - 1)) / u with u = 1 + x rounded (the correction restores the bits lost in u).
// tanh |x| = -q / (2 + q), q = expm1(-2|x|). sigmoid and softplus as the TS reference.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels.h"
#include "vmath.h"

#ifndef HESSIAN_ISA_NS
#error "define HESSIAN_ISA_NS"
#endif

namespace hessian {
namespace HESSIAN_ISA_NS {
namespace {

constexpr int W = HESSIAN_VMATH_LANES;
typedef double VD __attribute__((vector_size(W * 8)));
typedef int64_t VI __attribute__((vector_size(W * 8)));
typedef uint64_t VU __attribute__((vector_size(W * 8)));
typedef float VF __attribute__((vector_size(W * 4)));

inline VD splat(double v) { return VD{} + v; }
inline VI splatI(int64_t v) { return VI{} + v; }
inline VI bitsOf(VD v) { return (VI)v; }  // same-size vector casts reinterpret the bits
inline VD fromBits(VI v) { return (VD)v; }
// mask lanes (all ones / all zeros, as comparisons give) pick a, others b
inline VD select(VI mask, VD a, VD b) { return fromBits((mask & bitsOf(a)) | (~mask & bitsOf(b))); }
inline VD vmax(VD a, VD b) { return select(a > b, a, b); }  // NaN in a gives b: callers clamp finite-only paths
inline VD vmin(VD a, VD b) { return select(a < b, a, b); }
inline VD vabs(VD a) { return fromBits(bitsOf(a) & splatI(0x7fffffffffffffffLL)); }
inline VD copySign(VD mag, VD sgn) {
  return fromBits((bitsOf(mag) & splatI(0x7fffffffffffffffLL)) | (bitsOf(sgn) & splatI(int64_t(0x8000000000000000ULL))));
}

template <size_t N>
inline VD horner(VD x, const double (&c)[N]) {  // c[0] + c[1] x + ... + c[N-1] x^(N-1)
  VD p = splat(c[N - 1]);
  for (size_t i = N - 1; i-- > 0;) p = p * x + c[i];
  return p;
}

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kShift = 0x1.8p52;  // adding it rounds to an integer kept in the low mantissa bits
constexpr double kLog2e = 1.4426950408889634;
// ln 2 split so that n * kLn2Hi is exact for |n| < 2^21 (32 trailing zero bits)
constexpr double kLn2Hi = 0x1.62e42feep-1;
constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;  // ln 2 - kLn2Hi, rounded

// 1/k! for the exp and expm1 series
constexpr double kF[] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
                         1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};
constexpr double kExp64[] = {kF[0], kF[1], kF[2], kF[3], kF[4], kF[5], kF[6], kF[7], kF[8], kF[9], kF[10], kF[11], kF[12], kF[13]};
constexpr double kExp32[] = {kF[0], kF[1], kF[2], kF[3], kF[4], kF[5], kF[6], kF[7]};
// expm1(r) = r + r^2 (1/2 + r/6 + ...): coefficients of the bracket
constexpr double kExpm1Tail64[] = {kF[2], kF[3], kF[4], kF[5], kF[6], kF[7], kF[8], kF[9], kF[10], kF[11], kF[12], kF[13]};
constexpr double kExpm1Tail32[] = {kF[2], kF[3], kF[4], kF[5], kF[6], kF[7], kF[8]};
// R(z) / z = sum_j 2 z^(j-1) / (2j + 1)
constexpr double kLog64[] = {2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11, 2.0 / 13, 2.0 / 15, 2.0 / 17, 2.0 / 19, 2.0 / 21, 2.0 / 23};
constexpr double kLog32[] = {2.0 / 3, 2.0 / 5, 2.0 / 7, 2.0 / 9, 2.0 / 11};

// integer n (|n| < 2^51) held as double -> int64, and back, without AVX-512DQ conversions
inline VI toInt(VD integral) { return bitsOf(integral + kShift) - bitsOf(splat(kShift)); }
inline VD toDouble(VI n) { return fromBits(n + bitsOf(splat(kShift))) - kShift; }
inline VD pow2(VI n) { return fromBits((n + 1023) << 52); }  // 2^n for -1022 <= n <= 1023

// e^x for finite x in [expLo, expHi] (callers clamp); overflow gives +inf, underflow 0 or subnormal.
// For float32 results every 2^n needed is a normal double: one scale factor and one ln 2 constant
// (n < 2^8, so n times the rounding error of ln 2 stays below 1e-14 absolute in r).
template <bool F32>
inline VD expCore(VD x) {
  const VD n = (x * kLog2e + kShift) - kShift;  // round(x / ln2)
  if (F32) {
    const VD r = x - n * 0.6931471805599453;
    return horner(r, kExp32) * pow2(toInt(n));
  }
  VD r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  const VD p = horner(r, kExp64);
  const VD h = (n * 0.5 + kShift) - kShift;  // split 2^n = 2^h 2^(n-h): both factors normal
  const VI ni = toInt(n), hi = toInt(h);
  return (p * pow2(hi)) * pow2(ni - hi);
}

// Beyond these, e^x is 0 or +inf after rounding to the dtype (float32 results are rounded from
// doubles, so [-150, 100] already saturates them).
template <bool F32> constexpr double kExpLo = F32 ? -150.0 : -746.0;
template <bool F32> constexpr double kExpHi = F32 ? 100.0 : 710.0;

template <bool F32>
inline VD clampExp(VD x) { return vmin(vmax(x, splat(kExpLo<F32>)), splat(kExpHi<F32>)); }

template <bool F32>
inline VD expV(VD x) {
  const VD y = expCore<F32>(clampExp<F32>(x));
  return select(x != x, x, y);
}

// e^x - 1 for x in [-40, 700] (below -40 the result is -1 to the last bit)
template <bool F32>
inline VD expm1Core(VD x) {
  const VD n = (x * kLog2e + kShift) - kShift;
  VD r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  const VD q = r + (r * r) * (F32 ? horner(r, kExpm1Tail32) : horner(r, kExpm1Tail64));
  const VD t = pow2(toInt(n));
  return t * q + (t - 1.0);
}

template <bool F32>
inline VD expm1V(VD x) {
  const VD c = vmin(vmax(x, splat(-40.0)), splat(700.0));
  VD y = expm1Core<F32>(c);
  y = select(x > 700.0, expCore<F32>(clampExp<F32>(x)), y);  // e^x - 1 == e^x there
  y = select(vabs(x) < 0x1p-60, x, y);                   // keeps -0 and tiny x exact
  return select(x != x, x, y);
}

// log x for positive finite x, subnormals included
template <bool F32>
inline VD logCore(VD x) {
  const VI sub = x < 0x1p-1022;
  x = select(sub, x * 0x1p54, x);
  const VI eAdj = sub & splatI(-54);
  // shift the exponent so that the mantissa lands in [sqrt(1/2), sqrt(2))
  constexpr int64_t kSqrtHalf = 0x3fe6a09e667f3bcdLL;
  const VU u = (VU)bitsOf(x) + (VU)splatI(0x3ff0000000000000LL - kSqrtHalf);
  const VI k = (VI)(u >> 52) - 1023 + eAdj;
  const VD m = fromBits((VI)(u & (VU)splatI(0x000fffffffffffffLL)) + kSqrtHalf);
  const VD f = m - 1.0;
  const VD s = f / (f + 2.0);
  const VD z = s * s;
  const VD R = z * (F32 ? horner(z, kLog32) : horner(z, kLog64));
  const VD logm = f - s * (f - R);
  const VD kd = toDouble(k);
  return kd * kLn2Hi + (logm + kd * kLn2Lo);
}

template <bool F32>
inline VD logV(VD x) {
  VD y = logCore<F32>(x);
  y = select(x == kInf, x, y);
  y = select(x == 0.0, splat(-kInf), y);
  y = select(x < 0.0, splat(kNaN), y);
  return select(x != x, x, y);
}

// log(1 + x) for x > -1 finite
template <bool F32>
inline VD log1pCore(VD x) {
  const VD u = x + 1.0;
  if (F32) {
    // a float32 x with |x| >= 2^-29 makes 1 + x exact (up to a relative 2^-53 beyond 2^29);
    // below, two terms of the series are exact to far below float32's resolution
    return select(vabs(x) < 0x1p-29, x - 0.5 * x * x, logCore<F32>(u));
  }
  const VD c = (x - (u - 1.0)) / u;
  return logCore<F32>(u) + c;
}

template <bool F32>
inline VD log1pV(VD x) {
  VD y = log1pCore<F32>(x);
  y = select(x == kInf, x, y);
  y = select(x == -1.0, splat(-kInf), y);
  y = select(x < -1.0, splat(kNaN), y);
  y = select(x == 0.0, x, y);  // -0 stays -0
  return select(x != x, x, y);
}

template <bool F32>
inline VD tanhV(VD x) {
  const VD q = expm1Core<F32>(vmax(vabs(x) * -2.0, splat(-40.0)));  // in (-1, 0]
  const VD y = copySign(-q / (q + 2.0), x);
  return select(x != x, x, y);
}

template <bool F32>
inline VD sigmoidV(VD x) {
  const VD e = expCore<F32>(vmax(vabs(x) * -1.0, splat(kExpLo<F32>)));  // e^-|x|, in [0, 1]
  const VD y = select(x >= 0.0, splat(1.0), e) / (e + 1.0);  // one division: the costly op here
  return select(x != x, x, y);
}

template <bool F32>
inline VD softplusV(VD x) {
  const VD e = expCore<F32>(vmax(vabs(x) * -1.0, splat(kExpLo<F32>)));
  const VD y = vmax(x, splat(0.0)) + log1pCore<F32>(e);
  return select(x != x, x, y);
}

// float32 exp and sigmoid in float lanes (twice as many per register): the two ops a sigmoid
// network spends its elementwise time on. Same reduction, Taylor series to degree 7 evaluated
// in float (remainder 5e-9 relative, about 0.7 ulp with the rounding of the Horner steps).
typedef float VS __attribute__((vector_size(W * 8)));
typedef int32_t VJ __attribute__((vector_size(W * 8)));
inline VS splatS(float v) { return VS{} + v; }
inline VJ bitsOfS(VS v) { return (VJ)v; }
inline VS fromBitsS(VJ v) { return (VS)v; }
inline VS selectS(VJ m, VS a, VS b) { return fromBitsS((m & bitsOfS(a)) | (~m & bitsOfS(b))); }
constexpr float kShiftS = 0x1.8p23f;
constexpr float kLn2HiS = 0x1.62e43p-1f;
constexpr float kLn2LoS = float(0.6931471805599453094 - double(0x1.62e43p-1f));
constexpr float kExpS[] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040};

inline VS expCoreS(VS x) {  // x in [-104, 89]
  const VS n = (x * 1.44269504f + kShiftS) - kShiftS;
  VS r = x - n * kLn2HiS;  // contracted to one fma: exact before its single rounding
  r = r - n * kLn2LoS;
  VS p = splatS(kExpS[7]);
  for (int i = 6; i >= 0; i--) p = p * r + kExpS[i];
  const VJ ni = bitsOfS(n + kShiftS) - bitsOfS(splatS(kShiftS));
  const VJ hi = ni >> 1;  // 2^n = 2^h 2^(n-h), both normal, so subnormal results round once
  return (p * fromBitsS((hi + 127) << 23)) * fromBitsS((ni - hi + 127) << 23);
}
inline VS clampS(VS x, float lo, float hi) {
  x = selectS(x < lo, splatS(lo), x);
  return selectS(x > hi, splatS(hi), x);
}
inline VS expS(VS x) { return selectS(x != x, x, expCoreS(clampS(x, -104.0f, 89.0f))); }
inline VS sigmoidS(VS x) {
  const VS a = fromBitsS(bitsOfS(x) | (VJ{} + int32_t(0x80000000u)));  // -|x|
  const VS e = expCoreS(clampS(a, -104.0f, 0.0f));
  const VS y = selectS(x >= 0.0f, splatS(1.0f), e) / (e + 1.0f);
  return selectS(x != x, x, y);
}

template <typename F>
inline void mapLanesS(const float* x, float* out, int64_t n, F f) {
  constexpr int L = 2 * W;
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    VS v;
    std::memcpy(&v, x + i, sizeof v);
    v = f(v);
    std::memcpy(out + i, &v, sizeof v);
  }
  if (i < n) {
    float buf[L];
    for (int j = 0; j < L; j++) buf[j] = i + j < n ? x[i + j] : 1.0f;
    VS v;
    std::memcpy(&v, buf, sizeof v);
    v = f(v);
    std::memcpy(buf, &v, sizeof v);
    for (int64_t j = 0; i + j < n; j++) out[i + j] = buf[j];
  }
}

template <bool F32>
inline VD evalOp(UnaryOp op, VD x) {
  switch (op) {
    case UnaryOp::exp: return expV<F32>(x);
    case UnaryOp::expm1: return expm1V<F32>(x);
    case UnaryOp::log: return logV<F32>(x);
    case UnaryOp::log1p: return log1pV<F32>(x);
    case UnaryOp::tanh: return tanhV<F32>(x);
    case UnaryOp::sigmoid: return sigmoidV<F32>(x);
    case UnaryOp::softplus: return softplusV<F32>(x);
    default: return x;
  }
}

bool vectorized(UnaryOp op) {
  return op == UnaryOp::exp || op == UnaryOp::expm1 || op == UnaryOp::log || op == UnaryOp::log1p ||
         op == UnaryOp::tanh || op == UnaryOp::sigmoid || op == UnaryOp::softplus;
}

inline VD load(const double* p) { VD v; std::memcpy(&v, p, sizeof v); return v; }
inline VD load(const float* p) { VF v; std::memcpy(&v, p, sizeof v); return __builtin_convertvector(v, VD); }
inline void store(double* p, VD v) { std::memcpy(p, &v, sizeof v); }
inline void store(float* p, VD v) { const VF f = __builtin_convertvector(v, VF); std::memcpy(p, &f, sizeof f); }

// f over whole vectors, the tail through a padded buffer (pad 1: finite for every op)
template <typename T, typename F>
inline void mapLanes(const T* x, T* out, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {  // two independent chains per iteration hide the FMA latency
    const VD a = f(load(x + i)), b = f(load(x + i + W));
    store(out + i, a);
    store(out + i + W, b);
  }
  for (; i + W <= n; i += W) store(out + i, f(load(x + i)));
  if (i < n) {
    T buf[W];
    for (int j = 0; j < W; j++) buf[j] = i + j < n ? x[i + j] : T(1);
    store(buf, f(load(buf)));
    for (int64_t j = 0; i + j < n; j++) out[i + j] = buf[j];
  }
}

template <typename T>
bool unaryVec(UnaryOp op, const T* x, T* out, int64_t n) {
  if (!vectorized(op)) return false;
  constexpr bool F32 = sizeof(T) == 4;
  if constexpr (F32) {
    if (op == UnaryOp::exp) return mapLanesS(x, out, n, [](VS v) { return expS(v); }), true;
    if (op == UnaryOp::sigmoid) return mapLanesS(x, out, n, [](VS v) { return sigmoidS(v); }), true;
  }
  switch (op) {  // one loop per op, so the op's code is inlined into it
    case UnaryOp::exp: mapLanes(x, out, n, [](VD v) { return expV<F32>(v); }); break;
    case UnaryOp::expm1: mapLanes(x, out, n, [](VD v) { return expm1V<F32>(v); }); break;
    case UnaryOp::log: mapLanes(x, out, n, [](VD v) { return logV<F32>(v); }); break;
    case UnaryOp::log1p: mapLanes(x, out, n, [](VD v) { return log1pV<F32>(v); }); break;
    case UnaryOp::tanh: mapLanes(x, out, n, [](VD v) { return tanhV<F32>(v); }); break;
    case UnaryOp::sigmoid: mapLanes(x, out, n, [](VD v) { return sigmoidV<F32>(v); }); break;
    case UnaryOp::softplus: mapLanes(x, out, n, [](VD v) { return softplusV<F32>(v); }); break;
    default: return false;
  }
  return true;
}

// Fused derivative kernels in T's own precision, the same operations (and order) as the
// composed rules in src/autodiff/derivatives.ts; contraction may fuse one multiply-add.
template <typename T>
void gradVec(UnaryGradOp op, const T* v, const T* g, T* out, int64_t n) {
  switch (op) {
    case UnaryGradOp::sigmoid:
      for (int64_t i = 0; i < n; i++) out[i] = g[i] * (v[i] * (T(1) - v[i]));
      return;
    case UnaryGradOp::tanh:
      for (int64_t i = 0; i < n; i++) out[i] = g[i] * (T(1) - v[i] * v[i]);
      return;
    case UnaryGradOp::exp:
      for (int64_t i = 0; i < n; i++) out[i] = g[i] * v[i];
      return;
    case UnaryGradOp::relu:
      for (int64_t i = 0; i < n; i++) out[i] = g[i] * (v[i] > T(0) ? T(1) : T(0));
      return;
    case UnaryGradOp::softplus: {
      // sigmoid(x) a block at a time into out, then the product (out may alias g or v only
      // element for element, which this order respects)
      constexpr int64_t B = 512;
      for (int64_t i = 0; i < n; i += B) {
        const int64_t m = n - i < B ? n - i : B;
        T s[B];
        if constexpr (sizeof(T) == 4) mapLanesS(v + i, s, m, [](VS x) { return sigmoidS(x); });
        else mapLanes(v + i, s, m, [](VD x) { return sigmoidV<false>(x); });
        for (int64_t j = 0; j < m; j++) out[i + j] = g[i + j] * s[j];
      }
      return;
    }
  }
}

// One IEEE operation per element: no contraction possible, the same bits as elementwise.cc's
// loops, at this ISA's vector width (those are built for the baseline x86-64 ISA: 2 doubles).
template <typename T, typename F>
static inline void arithLoop(const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i], b[i]);
  } else if (sa == 1) {
    const T y = b[0];
    for (int64_t i = 0; i < n; i++) out[i] = f(a[i], y);
  } else {
    const T x = a[0];
    for (int64_t i = 0; i < n; i++) out[i] = f(x, b[i]);
  }
}

template <typename T>
bool arithVec(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n) {
  if ((sa != 0 && sa != 1) || (sb != 0 && sb != 1) || (sa == 0 && sb == 0)) return false;
  switch (op) {
    case BinaryOp::add: arithLoop(a, sa, b, sb, out, n, [](T x, T y) { return x + y; }); return true;
    case BinaryOp::sub: arithLoop(a, sa, b, sb, out, n, [](T x, T y) { return x - y; }); return true;
    case BinaryOp::mul: arithLoop(a, sa, b, sb, out, n, [](T x, T y) { return x * y; }); return true;
    case BinaryOp::div: arithLoop(a, sa, b, sb, out, n, [](T x, T y) { return x / y; }); return true;
    default: return false;
  }
}

bool arith32(BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) { return arithVec(op, a, sa, b, sb, out, n); }
bool arith64(BinaryOp op, const double* a, int64_t sa, const double* b, int64_t sb, double* out, int64_t n) { return arithVec(op, a, sa, b, sb, out, n); }

bool unary32(UnaryOp op, const float* x, float* out, int64_t n) { return unaryVec(op, x, out, n); }
bool unary64(UnaryOp op, const double* x, double* out, int64_t n) { return unaryVec(op, x, out, n); }
void grad32(UnaryGradOp op, const float* v, const float* g, float* out, int64_t n) { gradVec(op, v, g, out, n); }
void grad64(UnaryGradOp op, const double* v, const double* g, double* out, int64_t n) { gradVec(op, v, g, out, n); }

}  // namespace
}  // namespace HESSIAN_ISA_NS

extern const VmathIsa HESSIAN_VMATH_TABLE = {
    HESSIAN_VMATH_NAME, HESSIAN_ISA_NS::unary32, HESSIAN_ISA_NS::unary64, HESSIAN_ISA_NS::grad32, HESSIAN_ISA_NS::grad64,
    HESSIAN_ISA_NS::arith32, HESSIAN_ISA_NS::arith64,
};

}  // namespace hessian

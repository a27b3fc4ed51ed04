// Dense linear algebra: Cholesky and triangular solves are a line-by-line C++ port of
// src/kernels/ts/linalg.ts (the reference), with the same semantics: float64 arithmetic whatever
// the dtype, results rounded once when stored, outputs that may alias inputs (inputs are copied
// first).
//
// - cholesky: row-oriented Cholesky–Banachiewicz; false on a pivot that is not positive and finite.
// - solveTriangular: forward/backward substitution on row blocks of B, all 8 flag combinations.
// - eigh: power-of-two scaling when the max-abs entry is outside [2^-400, 2^400]; non-finite input
//   gives all NaN; Householder tridiagonalization (tred2's, the reference's operations); then for
//   n > 32 divide and conquer with a blocked back-transformation (eigh_dc.cc: GEMM-bound, not
//   bit-identical to the reference, same accuracy bounds); for n <= 32, or if divide and conquer
//   fails, implicit QL with Wilkinson shifts (tql2), eigenvectors accumulated as ROWS of zt
//   (contiguous rotations) and transposed at the end, bit-identical to the reference; cyclic Jacobi
//   when QL does not converge within 30 n sweeps.
//
// Compiled without -ffp-contract=fast (no FMA contraction), so the QL path is the same sequence
// of IEEE operations as the TypeScript reference. The QL rotation sweeps (split by columns) and
// the Q accumulation (split by rows) use the thread pool for large n; neither split changes any
// operation, so results do not depend on the thread count (nor do divide and conquer's: its
// secular solves are per root and the GEMMs' sums do not depend on the split).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "eigh_dc.h"
#include "kernels.h"
#include "pool.h"

namespace hessian {
namespace {

constexpr double kEps = 2.220446049250313e-16;             // 2^-52
constexpr double kSmall = 2.2250738585072014e-308 / kEps;  // ~1e-292
// Below this many element updates a rotation sweep or accumulation step stays on this thread.
constexpr int64_t kParallelWork = 1 << 16;

double mulPow2(double x, int k) {
  while (k > 1000) { x *= std::ldexp(1.0, 1000); k -= 1000; }
  while (k < -1000) { x *= std::ldexp(1.0, -1000); k += 1000; }
  return x * std::ldexp(1.0, k);
}

double pythag(double a, double b) {
  const double x = std::fabs(a), y = std::fabs(b);
  if (x > y) { const double r = y / x; return x * std::sqrt(1 + r * r); }
  if (y == 0) return 0;
  const double r = x / y;
  return y * std::sqrt(1 + r * r);
}

// Copy (a + a^T)/2 into S, scaled by 2^-expo when the max-abs entry is outside [2^-400, 2^400].
// False on non-finite input.
template <typename T>
bool loadScaled(int64_t n, const T* a, double* S, int& expo, double& maxAbs) {
  maxAbs = 0;
  expo = 0;
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = i; j < n; j++) {
      const double x = a[i * n + j], y = a[j * n + i];
      if (!std::isfinite(x) || !std::isfinite(y)) return false;
      const double s = 0.5 * x + 0.5 * y;
      S[i * n + j] = s;
      S[j * n + i] = s;
      const double m = std::fabs(s);
      if (m > maxAbs) maxAbs = m;
    }
  }
  if (maxAbs == 0 || (maxAbs > std::ldexp(1.0, -400) && maxAbs < std::ldexp(1.0, 400))) return true;
  expo = int(std::floor(std::log2(maxAbs)));
  int k = -expo;
  while (k != 0) {
    const int step = std::max(-1000, std::min(1000, k));
    const double f = std::ldexp(1.0, step);
    for (int64_t i = 0; i < n * n; i++) S[i] *= f;
    k -= step;
  }
  return true;
}

void tridiagonalize(int64_t n, double* A, double* d, double* e, double* beta) {
  std::vector<double> pv(static_cast<size_t>(n), 0.0);
  double* p = pv.data();
  for (int64_t k = 0; k < n - 2; k++) {
    double* Ak = A + k * n;
    d[k] = Ak[k];
    double sc = 0;
    for (int64_t j = k + 1; j < n; j++) {
      const double t = std::fabs(Ak[j]);
      if (t > sc) sc = t;
    }
    if (sc == 0) {
      e[k] = 0;
      beta[k] = 0;
      continue;
    }
    double sigma = 0;
    for (int64_t j = k + 1; j < n; j++) {
      const double u = Ak[j] / sc;
      Ak[j] = u;
      sigma += u * u;
    }
    const double norm = std::sqrt(sigma);
    const double u1 = Ak[k + 1];
    const double alpha = u1 >= 0 ? -norm : norm;
    const double bk = 1 / (norm * (norm + std::fabs(u1)));
    Ak[k + 1] = u1 - alpha;
    e[k] = alpha * sc;
    beta[k] = bk;
    for (int64_t j = k + 1; j < n; j++) p[j] = 0;
    // Rows i and i+1 together: two independent dot-product chains, the same operations in the
    // same order as one row at a time (p[j] gets row i's term before row i+1's).
    int64_t i = k + 1;
    for (; i + 1 < n; i += 2) {
      const double* Ai = A + i * n;
      const double* Ai1 = Ai + n;
      const double vi = Ak[i], vi1 = Ak[i + 1];
      double s = Ai[i] * vi;
      double s1 = Ai1[i + 1] * vi1;
      {
        const double aij = Ai[i + 1];
        s += aij * vi1;
        p[i + 1] += aij * vi;
      }
      for (int64_t j = i + 2; j < n; j++) {
        const double aij = Ai[j], ai1j = Ai1[j], vj = Ak[j];
        s += aij * vj;
        s1 += ai1j * vj;
        p[j] += aij * vi;
        p[j] += ai1j * vi1;
      }
      p[i] += s;
      p[i + 1] += s1;
    }
    if (i < n) p[i] += A[i * n + i] * Ak[i];
    double vp = 0;
    for (int64_t j = k + 1; j < n; j++) {
      p[j] *= bk;
      vp += Ak[j] * p[j];
    }
    const double K = 0.5 * bk * vp;
    for (int64_t j = k + 1; j < n; j++) p[j] -= K * Ak[j];
    for (int64_t i = k + 1; i < n; i++) {
      double* Ai = A + i * n;
      const double vi = Ak[i];
      const double qi = p[i];
      for (int64_t j = i; j < n; j++) Ai[j] -= vi * p[j] + qi * Ak[j];
    }
  }
  if (n >= 2) {
    d[n - 2] = A[(n - 2) * n + n - 2];
    e[n - 2] = A[(n - 2) * n + n - 1];
  }
  d[n - 1] = A[(n - 1) * n + n - 1];
  e[n - 1] = 0;
}

void accumulateQt(int64_t n, const double* A, const double* beta, double* zt) {
  std::fill(zt, zt + n * n, 0.0);
  for (int64_t i = 0; i < n; i++) zt[i * n + i] = 1;
  int64_t k = n - 3;
  for (; k >= 1; k -= 2) {
    const int64_t k1 = k;
    const double b1 = beta[k1];
    const double b0 = beta[k1 - 1];
    const double* A1 = A + k1 * n;
    const double* A0 = A + (k1 - 1) * n;
    double v10 = 0;
    for (int64_t j = k1 + 1; j < n; j++) v10 += A1[j] * A0[j];
    const double v0k = A0[k1];
    // Rows are independent (row i of M is zero in column k1 before this pair).
    auto update = [&](double* zi, double d1, double d0) {
      const double t1 = b1 * d1;
      const double t0 = b0 * (d0 - t1 * v10);
      if (t1 == 0 && t0 == 0) return;
      zi[k1] = -t0 * v0k;
      for (int64_t j = k1 + 1; j < n; j++) zi[j] -= t1 * A1[j] + t0 * A0[j];
    };
    auto rows = [&](int64_t r0, int64_t r1) {
      int64_t i = r0;
      for (; i + 1 < r1; i += 2) {  // two rows at a time: four independent dot-product chains
        double* zi = zt + i * n;
        double* zi1 = zi + n;
        double d1 = 0, d0 = 0, e1 = 0, e0 = 0;
        for (int64_t j = k1 + 1; j < n; j++) {
          const double z = zi[j], y = zi1[j];
          d1 += z * A1[j];
          d0 += z * A0[j];
          e1 += y * A1[j];
          e0 += y * A0[j];
        }
        update(zi, d1, d0);
        update(zi1, e1, e0);
      }
      if (i < r1) {
        double* zi = zt + i * n;
        double d1 = 0, d0 = 0;
        for (int64_t j = k1 + 1; j < n; j++) {
          const double z = zi[j];
          d1 += z * A1[j];
          d0 += z * A0[j];
        }
        update(zi, d1, d0);
      }
    };
    const int64_t len = n - (k1 + 1);
    const int parts = int(std::min<int64_t>(poolThreads(), len / 16));
    if (parts <= 1 || len * len < kParallelWork) {
      rows(k1 + 1, n);
    } else {
      parallelFor(parts, [&](int part) {
        int64_t r0, r1;
        chunkRange(len, parts, part, 1, &r0, &r1);
        rows(k1 + 1 + r0, k1 + 1 + r1);
      });
    }
    if (b0 != 0) {
      const double t0 = b0 * v0k;
      double* z1 = zt + k1 * n;
      for (int64_t j = k1; j < n; j++) z1[j] -= t0 * A0[j];
    }
  }
  if (k == 0 && beta[0] != 0) {
    const double b0 = beta[0];
    for (int64_t i = 1; i < n; i++) {
      double* zi = zt + i * n;
      double t = 0;
      for (int64_t j = 1; j < n; j++) t += zi[j] * A[j];
      t *= b0;
      if (t == 0) continue;
      for (int64_t j = 1; j < n; j++) zi[j] -= t * A[j];
    }
  }
}

// Rotations i = m-1 down to lo, in that order, on columns [k0, k1) of zt: rotation i maps rows
// i, i+1 to (c z_i - s z_{i+1}, s z_i + c z_{i+1}). Row i+1 is final once rotation i is done and
// the new row i only feeds rotation i-1, so it is carried in registers (each element loaded and
// stored once per sweep). W columns at a time give W independent dependency chains; 32 hides
// the multiply-add latency with SSE2 registers, 8 and then 1 handle the remainder.
template <int64_t W>
inline __attribute__((always_inline)) int64_t rotateColumns(int64_t n, double* zt, int64_t lo, int64_t m, const double* cs, const double* ss, int64_t k,
                      int64_t k1) {
  for (; k + W <= k1; k += W) {
    double x[W];
    for (int64_t t = 0; t < W; t++) x[t] = zt[m * n + k + t];
    for (int64_t i = m - 1; i >= lo; i--) {
      const double s = ss[i], c = cs[i];
      double* q = zt + i * n + k;
      double* o = q + n;
      for (int64_t t = 0; t < W; t++) {
        const double z = q[t];
        o[t] = s * z + c * x[t];
        x[t] = c * z - s * x[t];
      }
    }
    for (int64_t t = 0; t < W; t++) zt[lo * n + k + t] = x[t];
  }
  return k;
}

void rotateRangeGeneric(int64_t n, double* zt, int64_t lo, int64_t m, const double* cs, const double* ss, int64_t k0,
                        int64_t k1) {
  int64_t k = rotateColumns<32>(n, zt, lo, m, cs, ss, k0, k1);
  k = rotateColumns<8>(n, zt, lo, m, cs, ss, k, k1);
  rotateColumns<1>(n, zt, lo, m, cs, ss, k, k1);
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same loops compiled for AVX2 (4 doubles per register; no FMA, so every result is the
// same), chosen at run time when the CPU has it: ~1.5x on the QL sweeps.
__attribute__((target("avx2"))) void rotateRangeAvx2(int64_t n, double* zt, int64_t lo, int64_t m,
                                                      const double* cs, const double* ss, int64_t k0, int64_t k1) {
  int64_t k = rotateColumns<32>(n, zt, lo, m, cs, ss, k0, k1);
  k = rotateColumns<8>(n, zt, lo, m, cs, ss, k, k1);
  rotateColumns<1>(n, zt, lo, m, cs, ss, k, k1);
}
#endif

void rotateRange(int64_t n, double* zt, int64_t lo, int64_t m, const double* cs, const double* ss, int64_t k0,
                 int64_t k1) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (cpuHasAvx2()) {
    rotateRangeAvx2(n, zt, lo, m, cs, ss, k0, k1);
    return;
  }
#endif
  rotateRangeGeneric(n, zt, lo, m, cs, ss, k0, k1);
}

void applyRotationSweep(int64_t n, double* zt, int64_t lo, int64_t m, const double* cs, const double* ss) {
  if (lo >= m) return;
  const int threads = poolThreads();
  const int64_t work = (m - lo) * n;
  const int parts = int(std::min<int64_t>(threads, (n + 31) / 32));
  if (parts <= 1 || work < kParallelWork) {
    rotateRange(n, zt, lo, m, cs, ss, 0, n);
    return;
  }
  // Columns are independent: each task owns a contiguous range (multiples of 32 wide).
  parallelFor(parts, [&](int part) {
    int64_t k0, k1;
    chunkRange(n, parts, part, 32, &k0, &k1);
    rotateRange(n, zt, lo, m, cs, ss, k0, k1);
  });
}

bool tridiagonalQL(int64_t n, double* d, double* e, double* zt) {
  int64_t budget = 30 * std::max<int64_t>(n, 1);
  std::vector<double> csv(static_cast<size_t>(n)), ssv(static_cast<size_t>(n));
  double* cs = csv.data();
  double* ss = ssv.data();
  for (int64_t l = 0; l < n; l++) {
    for (;;) {
      int64_t m = l;
      for (; m < n - 1; m++) {
        const double em = std::fabs(e[m]);
        if (em <= kEps * (std::fabs(d[m]) + std::fabs(d[m + 1])) || em <= kSmall) break;
      }
      if (m == l) break;
      if (--budget < 0) return false;
      double g = (d[l + 1] - d[l]) / (2 * e[l]);
      double r = pythag(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      double s = 1, c = 1, p = 0;
      bool restarted = false;
      int64_t i = m - 1;
      for (; i >= l; i--) {
        const double f = s * e[i];
        const double b = c * e[i];
        r = pythag(f, g);
        e[i + 1] = r;
        if (r == 0) {
          d[i + 1] -= p;
          e[m] = 0;
          restarted = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        cs[i] = c;
        ss[i] = s;
      }
      applyRotationSweep(n, zt, i + 1, m, cs, ss);
      if (restarted) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return true;
}

void jacobiCore(int64_t n, double* S, double* d, double* zt) {
  std::fill(zt, zt + n * n, 0.0);
  for (int64_t i = 0; i < n; i++) zt[i * n + i] = 1;
  double fro2 = 0;
  for (int64_t i = 0; i < n * n; i++) fro2 += S[i] * S[i];
  const double absTol = kEps * kEps * std::sqrt(fro2);
  for (int sweep = 0; sweep < 100; sweep++) {
    bool rotated = false;
    for (int64_t p = 0; p < n - 1; p++) {
      for (int64_t q = p + 1; q < n; q++) {
        const double apq = S[p * n + q];
        const double app = S[p * n + p];
        const double aqq = S[q * n + q];
        const double aa = std::fabs(apq);
        if (aa <= absTol || aa <= 1e-3 * kEps * std::sqrt(std::fabs(app)) * std::sqrt(std::fabs(aqq))) continue;
        rotated = true;
        const double theta = (aqq - app) / (2 * apq);
        const double at = std::fabs(theta);
        double t = at > 1e150 ? 1 / (2 * at) : 1 / (at + std::sqrt(theta * theta + 1));
        if (theta < 0) t = -t;
        const double c = 1 / std::sqrt(t * t + 1);
        const double s = t * c;
        for (int64_t r = 0; r < n; r++) {
          double* Sr = S + r * n;
          const double srp = Sr[p], srq = Sr[q];
          Sr[p] = c * srp - s * srq;
          Sr[q] = s * srp + c * srq;
        }
        double* Sp = S + p * n;
        double* Sq = S + q * n;
        for (int64_t r = 0; r < n; r++) {
          const double spr = Sp[r], sqr = Sq[r];
          Sp[r] = c * spr - s * sqr;
          Sq[r] = s * spr + c * sqr;
        }
        Sp[p] = app - t * apq;
        Sq[q] = aqq + t * apq;
        Sp[q] = 0;
        Sq[p] = 0;
        double* zp = zt + p * n;
        double* zq = zt + q * n;
        for (int64_t r = 0; r < n; r++) {
          const double vp = zp[r], vq = zq[r];
          zp[r] = c * vp - s * vq;
          zq[r] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  for (int64_t i = 0; i < n; i++) d[i] = S[i * n + i];
}

bool allFinite(const double* x, int64_t len) {
  for (int64_t i = 0; i < len; i++) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

// Sort (d, rows of zt) ascending (ties by index), unscale eigenvalues, write w and the
// eigenvectors as COLUMNS of v.
template <typename T>
void sortUnscaleWrite(int64_t n, const double* d, const double* zt, int expo, T* w, T* v) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [d](int64_t i, int64_t j) { return d[i] < d[j]; });
  for (int64_t j = 0; j < n; j++) w[j] = T(mulPow2(d[order[j]], expo));
  // Transpose in tiles for cache locality: v[i][j] = zt[order[j]][i].
  constexpr int64_t B = 32;
  for (int64_t i0 = 0; i0 < n; i0 += B) {
    const int64_t i1 = std::min(n, i0 + B);
    for (int64_t j0 = 0; j0 < n; j0 += B) {
      const int64_t j1 = std::min(n, j0 + B);
      for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = j0; j < j1; j++) v[i * n + j] = T(zt[order[j] * n + i]);
      }
    }
  }
}

// Write eigenvalues (already ascending, unscaled here) and eigenvectors (already columns of z).
template <typename T>
void unscaleWrite(int64_t n, const double* d, const double* z, int expo, T* w, T* v) {
  for (int64_t j = 0; j < n; j++) w[j] = T(mulPow2(d[j], expo));
  for (int64_t i = 0; i < n * n; i++) v[i] = T(z[i]);
}

}  // namespace

bool tridiagonalQlRows(int64_t n, double* d, double* e, double* zt) { return tridiagonalQL(n, d, e, zt); }

template <typename T>
bool choleskyKernel(int64_t n, const T* a, T* l) {
  std::vector<double> Lv(static_cast<size_t>(n * n), 0.0);
  double* L = Lv.data();
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j <= i; j++) L[i * n + j] = a[i * n + j];
  }
  for (int64_t i = 0; i < n; i++) {
    double* Li = L + i * n;
    for (int64_t j = 0; j <= i; j++) {
      const double* Lj = L + j * n;
      double s0 = Li[j], s1 = 0;
      int64_t k = 0;
      for (; k + 1 < j; k += 2) {
        s0 -= Li[k] * Lj[k];
        s1 -= Li[k + 1] * Lj[k + 1];
      }
      if (k < j) s0 -= Li[k] * Lj[k];
      const double s = s0 + s1;
      if (j < i) {
        Li[j] = s / Lj[j];
      } else {
        if (!(s > 0) || s == std::numeric_limits<double>::infinity()) return false;
        Li[i] = std::sqrt(s);
      }
    }
  }
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j <= i; j++) l[i * n + j] = T(L[i * n + j]);
    for (int64_t j = i + 1; j < n; j++) l[i * n + j] = T(0);
  }
  return true;
}

template <typename T>
void solveTriangularKernel(int64_t n, int64_t m, const T* t, const T* b, T* x, bool lower, bool transpose,
                           bool unitDiagonal) {
  const int64_t nm = n * m;
  if (nm == 0) return;
  std::vector<double> Xv(b, b + nm);
  std::vector<double> Tv(t, t + n * n);
  double* X = Xv.data();
  const double* Tm = Tv.data();
  const int64_t rowStride = transpose ? 1 : n;
  const int64_t colStride = transpose ? n : 1;
  auto row = [&](int64_t i, int64_t k0, int64_t k1) {
    double* xi = X + i * m;
    for (int64_t k = k0; k < k1; k++) {
      const double tik = Tm[i * rowStride + k * colStride];
      const double* xk = X + k * m;
      for (int64_t j = 0; j < m; j++) xi[j] -= tik * xk[j];
    }
    if (!unitDiagonal) {
      const double dd = Tm[i * n + i];
      for (int64_t j = 0; j < m; j++) xi[j] /= dd;
    }
  };
  if (lower != transpose) {
    for (int64_t i = 0; i < n; i++) row(i, 0, i);
  } else {
    for (int64_t i = n - 1; i >= 0; i--) row(i, i + 1, n);
  }
  for (int64_t i = 0; i < nm; i++) x[i] = T(X[i]);
}

template <typename T>
void eighKernel(int64_t n, const T* a, T* w, T* v, EighMethod method) {
  // v may alias a: a is read until the end (the Jacobi fallback reloads it), v written last.
  double* A = eighScratch(3, n * n);
  double* zt = eighScratch(4, n * n);
  int expo = 0;
  double maxAbs = 0;
  if (!loadScaled(n, a, A, expo, maxAbs)) {
    for (int64_t i = 0; i < n; i++) w[i] = T(NAN);
    for (int64_t i = 0; i < n * n; i++) v[i] = T(NAN);
    return;
  }
  if (maxAbs == 0) {
    for (int64_t i = 0; i < n; i++) w[i] = T(0);
    for (int64_t i = 0; i < n * n; i++) v[i] = T(0);
    for (int64_t i = 0; i < n; i++) v[i * n + i] = T(1);
    return;
  }
  std::vector<double> d(static_cast<size_t>(n), 0.0);
  if (method != EighMethod::kJacobi) {
    std::vector<double> e(static_cast<size_t>(n), 0.0), beta(static_cast<size_t>(n), 0.0);
    tridiagonalize(n, A, d.data(), e.data(), beta.data());
    if (method == EighMethod::kAuto && n > kDivideConquerLeaf) {
      // zt holds the eigenvectors as COLUMNS here; the QL path below starts it afresh.
      std::vector<double> dd(d);
      if (tridiagonalDivideConquer(n, dd.data(), e.data(), zt)) {
        applyHouseholderBlocked(n, A, beta.data(), zt);
        if (allFinite(dd.data(), n) && allFinite(zt, n * n)) {
          unscaleWrite(n, dd.data(), zt, expo, w, v);
          return;
        }
      }
    }
    accumulateQt(n, A, beta.data(), zt);
    if (tridiagonalQL(n, d.data(), e.data(), zt) && allFinite(d.data(), n) && allFinite(zt, n * n)) {
      sortUnscaleWrite(n, d.data(), zt, expo, w, v);
      return;
    }
  }
  std::vector<double> S(static_cast<size_t>(n * n));
  loadScaled(n, a, S.data(), expo, maxAbs);
  jacobiCore(n, S.data(), d.data(), zt);
  sortUnscaleWrite(n, d.data(), zt, expo, w, v);
}

template bool choleskyKernel<float>(int64_t, const float*, float*);
template bool choleskyKernel<double>(int64_t, const double*, double*);
template void solveTriangularKernel<float>(int64_t, int64_t, const float*, const float*, float*, bool, bool, bool);
template void solveTriangularKernel<double>(int64_t, int64_t, const double*, const double*, double*, bool, bool,
                                            bool);
template void eighKernel<float>(int64_t, const float*, float*, float*, EighMethod);
template void eighKernel<double>(int64_t, const double*, double*, double*, EighMethod);

}  // namespace hessian

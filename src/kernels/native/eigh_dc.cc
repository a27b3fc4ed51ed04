// Divide and conquer for the symmetric tridiagonal eigenproblem and the blocked Householder
// back-transformation (see eigh_dc.h).
//
// Divide (Cuppen 1981): T = diag(T1, T2) + rho u u^T with u = e_{m-1} + sign(rho) e_m, the two
// halves' touching diagonal entries lowered by |rho|. Conquer: with T1 = Q1 D1 Q1^T and
// T2 = Q2 D2 Q2^T, T = Q (D + rho z z^T) Q^T, z = Q^T u (Q1's last row, Q2's first row).
// Deflation (as in LAPACK's dlaed2): a component of z below tol leaves its pair as it is; two
// poles closer than tol (after a Givens rotation that zeroes one z component) deflate one.
// The K remaining eigenvalues are the roots of the secular equation
//   f(l) = 1/rho + sum_j z_j^2 / (d_j - l) = 0,   one in each (d_i, d_{i+1}), the last in
// (d_K, d_K + rho |z|^2], solved in coordinates shifted to the nearer pole so that l - d_j is
// accurate (Gu & Eisenstat 1995), by a two-pole rational model with bisection safeguard. The
// eigenvectors use the Loewner formula: z is replaced by the z' for which the computed roots are
// exact, z'_j^2 = prod_i (l_i - d_j) / (rho prod_{i!=j} (d_i - d_j)), then u_i = z' / (d - l_i),
// which makes them orthogonal to working precision. The merge's update Q [u_1 .. u_K] is one GEMM.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <vector>

#include "eigh_dc.h"
#include "kernels.h"
#include "pool.h"

namespace hessian {
namespace {

constexpr double kEps = 2.220446049250313e-16;  // 2^-52
constexpr int kSecularIterations = 100;
std::atomic<int64_t> mergeCount{0};

void gemm(bool tA, bool tB, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemmBatched<double>(tA, tB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
}

// Run fn(i0, i1) over [0, len) on the pool when there is enough work (fixed chunks: results do
// not depend on the thread count because every index is computed the same way).
template <typename F>
void parallelRange(int64_t len, int64_t workPerItem, F fn) {
  const int nt = poolThreads();
  if (nt <= 1 || len * workPerItem < (1 << 15) || len < 2 * nt) {
    fn(int64_t(0), len);
    return;
  }
  parallelFor(nt, [&](int t) {
    int64_t lo, hi;
    chunkRange(len, nt, t, 1, &lo, &hi);
    if (lo < hi) fn(lo, hi);
  });
}

// Buffers shared by every merge, each n^2 (eighScratch slots 0-2).
struct Workspace {
  double* qw;   // the block's eigenvectors, kept (non-deflated) columns first
  double* u;    // K x K eigenvectors of the rank-one update
  double* out;  // ns x K: qw[:, :K] u
};

bool solveLeaf(int64_t ldz, int64_t lo, int64_t ns, double* d, const double* e, double* z) {
  std::vector<double> dl(d + lo, d + lo + ns), el(static_cast<size_t>(ns), 0.0), zt(static_cast<size_t>(ns * ns), 0.0);
  for (int64_t i = 0; i + 1 < ns; i++) el[i] = e[lo + i];
  for (int64_t i = 0; i < ns; i++) zt[i * ns + i] = 1;
  if (!tridiagonalQlRows(ns, dl.data(), el.data(), zt.data())) return false;
  std::vector<int64_t> order(static_cast<size_t>(ns));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return dl[i] < dl[j]; });
  for (int64_t c = 0; c < ns; c++) d[lo + c] = dl[order[c]];
  for (int64_t r = 0; r < ns; r++) {
    for (int64_t c = 0; c < ns; c++) z[(lo + r) * ldz + lo + c] = zt[order[c] * ns + r];
  }
  return true;
}

// The root of the secular equation in pole gap i (0-based; i = K-1 is the last, unbounded-above
// gap), as origin pole o and offset tau: lambda = d[o] + tau, with d_j - lambda = (d_j - d[o]) - tau
// accurate however close lambda is to d[o]. z2 = z^2, r = rho > 0, sumZ2 = sum z2.
bool secularRoot(int64_t K, const double* dK, const double* z2, double r, double sumZ2, int64_t i, int64_t* origin,
                 double* tau) {
  const double invR = 1 / r;
  int64_t o;
  double lo, hi;
  if (i == K - 1) {
    o = i;
    lo = 0;
    hi = r * sumZ2;  // f(d_K + rho |z|^2) >= 0
  } else {
    const double half = (dK[i + 1] - dK[i]) / 2;
    double f = invR;
    for (int64_t j = 0; j < K; j++) f += z2[j] / ((dK[j] - dK[i]) - half);
    // f increases from -inf to +inf on the gap: its sign at the midpoint picks the half.
    if (f >= 0) {
      o = i;
      lo = 0;
      hi = half;
    } else {
      o = i + 1;
      lo = -half;
      hi = 0;
    }
  }
  const double dO = dK[o];
  double t = (lo + hi) / 2;
  for (int it = 0; it < kSecularIterations; it++) {
    // psi: poles at or below gap i (terms < 0); phi: poles above (terms > 0).
    double psi = 0, dpsi = 0, phi = 0, dphi = 0;
    for (int64_t j = 0; j <= i; j++) {
      const double del = (dK[j] - dO) - t;
      const double q = z2[j] / del;
      psi += q;
      dpsi += q / del;
    }
    for (int64_t j = i + 1; j < K; j++) {
      const double del = (dK[j] - dO) - t;
      const double q = z2[j] / del;
      phi += q;
      dphi += q / del;
    }
    const double f = invR + psi + phi;
    if (f == 0 || std::fabs(f) <= 8 * kEps * (invR + phi - psi)) break;
    if (f < 0) lo = t; else hi = t;
    // Model: C + s/(Di - eta) + S/(Di1 - eta), matching f and the derivatives of psi and phi
    // separately, with its poles at the gap's two ends (only the lower one for the last gap).
    const double di = (dK[i] - dO) - t;
    double eta;
    bool ok = true;
    if (i == K - 1) {
      const double s = (dpsi + dphi) * di * di;
      const double C = f - s / di;
      ok = C != 0;
      eta = ok ? di + s / C : 0;
    } else {
      const double di1 = (dK[i + 1] - dO) - t;
      const double s = dpsi * di * di, S = dphi * di1 * di1;
      const double C = f - s / di - S / di1;
      const double b = C * (di + di1) + s + S;
      const double c = di * di1 * f;
      // C eta^2 - b eta + c = 0 has exactly one root in (di, di1): the model increases there
      // from -inf to +inf.
      if (C == 0) {
        ok = b != 0;
        eta = ok ? c / b : 0;
      } else {
        const double sq = std::sqrt(std::max(0.0, b * b - 4 * C * c));
        const double q = b >= 0 ? (b + sq) / 2 : (b - sq) / 2;
        const double e1 = q / C, e2 = q != 0 ? c / q : e1;
        eta = (e1 > di && e1 < di1) ? e1 : e2;
      }
    }
    double tn = t + eta;
    if (!ok || !std::isfinite(tn) || !(tn > lo && tn < hi)) tn = (lo + hi) / 2;
    const bool done = std::fabs(tn - t) <= 2 * kEps * std::fabs(t) || hi - lo <= 2 * kEps * std::max(std::fabs(lo), std::fabs(hi));
    t = tn;
    if (done) break;
    if (it == kSecularIterations - 1) return false;
  }
  *origin = o;
  *tau = t;
  return true;
}

// Merge the solved halves [lo, lo+m) and [lo+m, lo+ns) of the diagonal block at (lo, lo).
bool merge(int64_t ldz, int64_t lo, int64_t ns, int64_t m, double rho, double* d, double* z, const Workspace& ws) {
  mergeCount.fetch_add(1, std::memory_order_relaxed);
  double* zb = z + lo * ldz + lo;
  double* db = d + lo;
  // z = Q^T u, normalized; rho absorbs its norm.
  std::vector<double> zv(static_cast<size_t>(ns));
  const double sign = rho < 0 ? -1 : 1;
  for (int64_t j = 0; j < m; j++) zv[j] = zb[(m - 1) * ldz + j];
  for (int64_t j = m; j < ns; j++) zv[j] = sign * zb[m * ldz + j];
  double zz = 0;
  for (double x : zv) zz += x * x;
  const double r = std::fabs(rho) * zz;
  const double zn = std::sqrt(zz);
  for (double& x : zv) x /= zn;
  // Both halves are sorted: merge them (stable).
  std::vector<int64_t> perm(static_cast<size_t>(ns));
  {
    int64_t a = 0, b = m, p = 0;
    while (a < m && b < ns) perm[p++] = db[b] < db[a] ? b++ : a++;
    while (a < m) perm[p++] = a++;
    while (b < ns) perm[p++] = b++;
  }
  std::vector<double> ds(static_cast<size_t>(ns)), zs(static_cast<size_t>(ns));
  for (int64_t p = 0; p < ns; p++) {
    ds[p] = db[perm[p]];
    zs[p] = zv[perm[p]];
  }
  // Deflation.
  double dmax = 0, zmax = 0;
  for (int64_t p = 0; p < ns; p++) {
    dmax = std::max(dmax, std::fabs(ds[p]));
    zmax = std::max(zmax, std::fabs(zs[p]));
  }
  const double tol = 8 * kEps * std::max(dmax, zmax);
  std::vector<char> deflated(static_cast<size_t>(ns), 0);
  int64_t prev = -1;
  for (int64_t p = 0; p < ns; p++) {
    if (r * std::fabs(zs[p]) <= tol) {
      deflated[p] = 1;
      continue;
    }
    if (prev < 0) {
      prev = p;
      continue;
    }
    const double tau = std::hypot(zs[p], zs[prev]);
    const double c = zs[p] / tau, s = -zs[prev] / tau;
    if (std::fabs((ds[p] - ds[prev]) * c * s) <= tol) {
      // Rotate columns prev, p so that z has no component along prev (whose coupling to p is
      // below tol): prev becomes an eigenvector, p carries all of z for the pair.
      const int64_t cp = perm[prev], cq = perm[p];
      for (int64_t i = 0; i < ns; i++) {
        double* row = zb + i * ldz;
        const double x = row[cp], y = row[cq];
        row[cp] = c * x + s * y;
        row[cq] = c * y - s * x;
      }
      const double da = ds[prev], dbb = ds[p];
      ds[prev] = da * c * c + dbb * s * s;
      ds[p] = da * s * s + dbb * c * c;
      zs[prev] = 0;
      zs[p] = tau;
      deflated[prev] = 1;
    }
    prev = p;
  }
  // Columns of qw: the K kept ones (sorted order), then the deflated ones.
  std::vector<int64_t> keep, defl;
  for (int64_t p = 0; p < ns; p++) (deflated[p] ? defl : keep).push_back(p);
  const int64_t K = int64_t(keep.size());
  double* qw = ws.qw;
  {
    std::vector<int64_t> col(keep);
    for (int64_t p : defl) col.push_back(perm[p]);
    for (int64_t j = 0; j < K; j++) col[j] = perm[keep[j]];
    for (int64_t i = 0; i < ns; i++) {
      const double* src = zb + i * ldz;
      double* dst = qw + i * ns;
      for (int64_t j = 0; j < ns; j++) dst[j] = src[col[j]];
    }
  }
  std::vector<double> lambda(static_cast<size_t>(K));
  if (K > 0) {
    std::vector<double> dK(static_cast<size_t>(K)), z2(static_cast<size_t>(K)), zsign(static_cast<size_t>(K));
    double sumZ2 = 0;
    for (int64_t j = 0; j < K; j++) {
      dK[j] = ds[keep[j]];
      const double zj = zs[keep[j]];
      z2[j] = zj * zj;
      zsign[j] = zj < 0 ? -1 : 1;
      sumZ2 += z2[j];
    }
    std::vector<int64_t> origin(static_cast<size_t>(K));
    std::vector<double> tau(static_cast<size_t>(K));
    std::atomic<bool> failed{false};
    parallelRange(K, 8 * K, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; i++) {
        if (!secularRoot(K, dK.data(), z2.data(), r, sumZ2, i, &origin[i], &tau[i])) failed = true;
      }
    });
    if (failed) return false;
    for (int64_t i = 0; i < K; i++) lambda[i] = dK[origin[i]] + tau[i];
    // row[i] = d_j - lambda_i, accurate through the root's origin.
    double* u = ws.u;
    parallelRange(K, 2 * K, [&](int64_t j0, int64_t j1) {
      std::vector<double> dm(static_cast<size_t>(K));
      double* row = dm.data();
      for (int64_t j = j0; j < j1; j++) {
        for (int64_t i = 0; i < K; i++) row[i] = (dK[j] - dK[origin[i]]) - tau[i];
        // Loewner: z'_j^2 = (lambda_K - d_j)/rho * prod_{i<j} (lambda_i - d_j)/(d_i - d_j)
        //                   * prod_{j<=i<K-1} (lambda_i - d_j)/(d_{i+1} - d_j); every factor > 0.
        double w = -row[K - 1] / r;
        for (int64_t i = 0; i < j; i++) w *= -row[i] / (dK[i] - dK[j]);
        for (int64_t i = j; i < K - 1; i++) w *= -row[i] / (dK[i + 1] - dK[j]);
        const double zj = zsign[j] * std::sqrt(w);
        double* urow = u + j * K;
        for (int64_t i = 0; i < K; i++) urow[i] = zj / row[i];
      }
    });
    // Normalize the columns of u.
    std::vector<double> norm2(static_cast<size_t>(K), 0.0);
    for (int64_t j = 0; j < K; j++) {
      const double* urow = u + j * K;
      for (int64_t i = 0; i < K; i++) norm2[i] += urow[i] * urow[i];
    }
    for (int64_t i = 0; i < K; i++) norm2[i] = 1 / std::sqrt(norm2[i]);
    for (int64_t j = 0; j < K; j++) {
      double* urow = u + j * K;
      for (int64_t i = 0; i < K; i++) urow[i] *= norm2[i];
    }
    gemm(false, false, ns, K, K, 1, qw, ns, u, K, 0, ws.out, K);  // out = qw[:, :K] u
  }
  // Write back sorted: entry c < K is a secular root (column c of out), the rest deflated
  // columns of qw.
  std::vector<double> val(static_cast<size_t>(ns));
  for (int64_t c = 0; c < K; c++) val[c] = lambda[c];
  for (size_t c = 0; c < defl.size(); c++) val[K + c] = ds[defl[c]];
  std::vector<int64_t> order(static_cast<size_t>(ns));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return val[a] < val[b]; });
  for (int64_t c = 0; c < ns; c++) db[c] = val[order[c]];
  const double* out = ws.out;
  for (int64_t i = 0; i < ns; i++) {
    double* dst = zb + i * ldz;
    for (int64_t c = 0; c < ns; c++) {
      const int64_t o = order[c];
      dst[c] = o < K ? out[i * K + o] : qw[i * ns + o];
    }
  }
  return true;
}

bool solve(int64_t ldz, int64_t lo, int64_t ns, double* d, const double* e, double* z, const Workspace& ws) {
  if (ns <= kDivideConquerLeaf) return solveLeaf(ldz, lo, ns, d, e, z);
  const int64_t m = ns / 2;
  const double rho = e[lo + m - 1];
  d[lo + m - 1] -= std::fabs(rho);
  d[lo + m] -= std::fabs(rho);
  if (!solve(ldz, lo, m, d, e, z, ws) || !solve(ldz, lo + m, ns - m, d, e, z, ws)) return false;
  return merge(ldz, lo, ns, m, rho, d, z, ws);
}

}  // namespace

bool tridiagonalDivideConquer(int64_t n, double* d, const double* e, double* z) {
  if (n <= 0) return true;
  // Work at unit scale: the tolerances above are absolute.
  double scale = 0;
  for (int64_t i = 0; i < n; i++) scale = std::max(scale, std::fabs(d[i]));
  for (int64_t i = 0; i + 1 < n; i++) scale = std::max(scale, std::fabs(e[i]));
  std::fill(z, z + n * n, 0.0);
  if (scale == 0) {
    for (int64_t i = 0; i < n; i++) z[i * n + i] = 1;
    return true;
  }
  std::vector<double> es(static_cast<size_t>(std::max<int64_t>(n, 1)), 0.0);
  for (int64_t i = 0; i < n; i++) d[i] /= scale;
  for (int64_t i = 0; i + 1 < n; i++) es[i] = e[i] / scale;
  const Workspace ws{eighScratch(0, n * n), eighScratch(1, n * n), eighScratch(2, n * n)};
  const bool ok = solve(n, 0, n, d, es.data(), z, ws);
  for (int64_t i = 0; i < n; i++) d[i] *= scale;
  return ok;
}

void applyHouseholderBlocked(int64_t n, const double* a, const double* beta, double* z) {
  const int64_t reflectors = n - 2;
  if (reflectors <= 0) return;
  constexpr int64_t nb = 64;
  std::vector<double> vt, t, w, w2(static_cast<size_t>(nb * n)), dots(static_cast<size_t>(nb));
  w.resize(static_cast<size_t>(nb * n));
  // Blocks last to first: Q z = B_0 (B_1 (... z)), B_b = H_{k0} ... H_{k0+kb-1} = I - V T V^T.
  for (int64_t k0 = (reflectors - 1) / nb * nb; k0 >= 0; k0 -= nb) {
    const int64_t kb = std::min(nb, reflectors - k0);
    const int64_t len = n - k0 - 1;  // rows k0+1 .. n-1 of z
    vt.assign(static_cast<size_t>(kb * len), 0.0);
    for (int64_t r = 0; r < kb; r++) {
      const int64_t k = k0 + r;
      for (int64_t j = k + 1; j < n; j++) vt[r * len + (j - k0 - 1)] = a[k * n + j];
    }
    // T upper triangular: T_rr = beta_r, T[0:r, r] = -beta_r T[0:r, 0:r] (V[:, 0:r]^T v_r).
    t.assign(static_cast<size_t>(kb * kb), 0.0);
    for (int64_t r = 0; r < kb; r++) {
      const double br = beta[k0 + r];
      t[r * kb + r] = br;
      if (br == 0) continue;
      const double* vr = vt.data() + r * len;
      for (int64_t q = 0; q < r; q++) {
        const double* vq = vt.data() + q * len;
        double s = 0;
        for (int64_t j = r; j < len; j++) s += vq[j] * vr[j];  // v_r is zero before index r
        dots[q] = s;
      }
      for (int64_t q = 0; q < r; q++) {
        double s = 0;
        for (int64_t l = q; l < r; l++) s += t[q * kb + l] * dots[l];
        t[q * kb + r] = -br * s;
      }
    }
    double* zs = z + (k0 + 1) * n;
    gemm(false, false, kb, n, len, 1, vt.data(), len, zs, n, 0, w.data(), n);
    gemm(false, false, kb, n, kb, 1, t.data(), kb, w.data(), n, 0, w2.data(), n);
    gemm(true, false, len, n, kb, -1, vt.data(), len, w2.data(), n, 1, zs, n);
  }
}

double* eighScratch(int slot, int64_t size) {
  thread_local std::vector<double> slots[5];
  std::vector<double>& b = slots[slot];
  if (int64_t(b.size()) < size) {
    b.clear();
    b.shrink_to_fit();
    b.resize(static_cast<size_t>(size));
  }
  return b.data();
}

int64_t divideConquerMerges() { return mergeCount.load(std::memory_order_relaxed); }

}  // namespace hessian

// The symmetric eigensolver's fast path (eigh_dc.cc): Cuppen's divide and conquer on the
// tridiagonal matrix and the blocked (compact WY) back-transformation, both spending their time
// in GEMM. linalg.cc keeps the reduction to tridiagonal form and the QL / Jacobi fallbacks.
#pragma once
#include <cstdint>

namespace hessian {

// Below this order the tridiagonal problem is solved by implicit QL directly (a leaf).
constexpr int64_t kDivideConquerLeaf = 32;

// Implicit QL on the symmetric tridiagonal (d, e): e[i] couples i and i+1, e[n-1] is scratch.
// Rotations are applied to the ROWS of zt (n x n). False when it does not converge (linalg.cc).
bool tridiagonalQlRows(int64_t n, double* d, double* e, double* zt);

// Eigenvalues (ascending, into d) and eigenvectors (COLUMNS of z, n x n row-major) of the
// symmetric tridiagonal (d, e), e[i] coupling i and i+1 (e is read, not written). False if a
// leaf or a secular equation did not converge; d and z are then unspecified.
bool tridiagonalDivideConquer(int64_t n, double* d, const double* e, double* z);

// z <- Q z for Q = H_0 H_1 ... H_{n-3}, H_k = I - beta[k] v_k v_k^T, where v_k is row k of a at
// columns k+1..n-1 (the layout tridiagonalize leaves). Reflectors are applied 64 at a time as
// I - V T V^T (compact WY), i.e. three GEMMs per block.
void applyHouseholderBlocked(int64_t n, const double* a, const double* beta, double* z);

// A per-thread buffer of at least `size` doubles (contents unspecified), kept between calls: a
// fresh n^2 array per call costs more in page faults than the GEMMs that use it. Slots 0-2 are
// the divide and conquer's, 3-4 eighKernel's.
double* eighScratch(int slot, int64_t size);

// Number of divide-and-conquer merges performed since the addon was loaded (tests pin the path).
int64_t divideConquerMerges();

}  // namespace hessian

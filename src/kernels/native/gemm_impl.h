// The GEMM implementation, compiled once per instruction set. Included by gemm_avx512.cc,
// gemm_avx2.cc and gemm_scalar.cc, each built with its own -m flags and defining
// HESSIAN_ISA_NS (the namespace) and HESSIAN_ISA_TABLE (the exported GemmIsa).
//
// BLIS/GotoBLAS structure, row-major C:
//   for jc (NC columns of C)             B panel  KC x NC  packed into NR-column slivers (L3)
//     for pc (KC of the inner dimension)
//       for ic (MC rows of C)             A block  MC x KC  packed into MR-row slivers (L2)
//         for jr (NR columns)             B sliver KC x NR  reused across the ir loop
//           for ir (MR rows)              micro-kernel: MR x NR accumulators in registers
// Transposes are absorbed by the packing routines; alpha/beta are applied when the
// micro-kernel stores its tile (beta == 0 overwrites C without reading it).
// Threads: packedShared puts the ic loop on the pool (row blocks claimed dynamically, each B
// panel packed once, cooperatively); for short-and-wide problems gemm_dispatch.cc instead gives
// each thread a window of columns (packedWindow). Tiny and matrix-vector shapes run unpacked.
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define HESSIAN_SCRATCH_MMAP 1
#endif
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "pool.h"

#ifndef HESSIAN_ISA_NS
#error "define HESSIAN_ISA_NS"
#endif

namespace hessian {
namespace HESSIAN_ISA_NS {
namespace {

#if defined(__AVX512F__)
#define HESSIAN_ISA_NAME "avx512"
struct VF {
  using T = float; using V = __m512; static constexpr int L = 16;
  static inline V load(const T* p) { return _mm512_load_ps(p); }
  static inline V loadu(const T* p) { return _mm512_loadu_ps(p); }
  static inline void storeu(T* p, V v) { _mm512_storeu_ps(p, v); }
  static inline V set1(T x) { return _mm512_set1_ps(x); }
  static inline V zero() { return _mm512_setzero_ps(); }
  static inline V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
};
struct VD {
  using T = double; using V = __m512d; static constexpr int L = 8;
  static inline V load(const T* p) { return _mm512_load_pd(p); }
  static inline V loadu(const T* p) { return _mm512_loadu_pd(p); }
  static inline void storeu(T* p, V v) { _mm512_storeu_pd(p, v); }
  static inline V set1(T x) { return _mm512_set1_pd(x); }
  static inline V zero() { return _mm512_setzero_pd(); }
  static inline V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static inline V mul(V a, V b) { return _mm512_mul_pd(a, b); }
};
// f32: 6 x 64 (24 zmm accumulators + 4 B vectors + 1 broadcast: 10 loads per 24 FMAs);
// f64: 6 x 32. Measured on Zen 5 (L1d 48K, L2 1M): 6x64 beat 14x32, 12x32 and 8x48 by 3-5%.
#ifndef MR32_
#define MR32_ 6
#endif
#ifndef NV32_
#define NV32_ 4
#endif
#ifndef MR64_
#define MR64_ 6
#endif
#ifndef NV64_
#define NV64_ 4
#endif
constexpr int MR32 = MR32_, NV32 = NV32_, MR64 = MR64_, NV64 = NV64_;
#ifndef KC32
#define KC32 512
#endif
#ifndef MC32
#define MC32 96
#endif
#ifndef NC32
#define NC32 4096
#endif
#ifndef KC64
#define KC64 256
#endif
#ifndef MC64
#define MC64 96
#endif
#ifndef NC64
#define NC64 2048
#endif
#elif defined(__AVX2__) && defined(__FMA__)
#define HESSIAN_ISA_NAME "avx2"
struct VF {
  using T = float; using V = __m256; static constexpr int L = 8;
  static inline V load(const T* p) { return _mm256_load_ps(p); }
  static inline V loadu(const T* p) { return _mm256_loadu_ps(p); }
  static inline void storeu(T* p, V v) { _mm256_storeu_ps(p, v); }
  static inline V set1(T x) { return _mm256_set1_ps(x); }
  static inline V zero() { return _mm256_setzero_ps(); }
  static inline V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static inline V mul(V a, V b) { return _mm256_mul_ps(a, b); }
};
struct VD {
  using T = double; using V = __m256d; static constexpr int L = 4;
  static inline V load(const T* p) { return _mm256_load_pd(p); }
  static inline V loadu(const T* p) { return _mm256_loadu_pd(p); }
  static inline void storeu(T* p, V v) { _mm256_storeu_pd(p, v); }
  static inline V set1(T x) { return _mm256_set1_pd(x); }
  static inline V zero() { return _mm256_setzero_pd(); }
  static inline V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static inline V mul(V a, V b) { return _mm256_mul_pd(a, b); }
};
// 6 x 16 f32 / 6 x 8 f64: 12 ymm accumulators + 2 B vectors + 1 broadcast.
constexpr int MR32 = 6, NV32 = 2, MR64 = 6, NV64 = 2;
#define KC32 256
#define MC32 (6 * 24)
#define NC32 4096
#define KC64 256
#define MC64 (6 * 16)
#define NC64 2048
#else
#define HESSIAN_ISA_NAME "scalar"
template <typename TT>
struct VS {
  using T = TT; using V = TT; static constexpr int L = 1;
  static inline V load(const T* p) { return *p; }
  static inline V loadu(const T* p) { return *p; }
  static inline void storeu(T* p, V v) { *p = v; }
  static inline V set1(T x) { return x; }
  static inline V zero() { return T(0); }
  static inline V fma(V a, V b, V c) { return a * b + c; }
  static inline V mul(V a, V b) { return a * b; }
};
using VF = VS<float>;
using VD = VS<double>;
constexpr int MR32 = 4, NV32 = 4, MR64 = 4, NV64 = 4;
#define KC32 256
#define MC32 64
#define NC32 2048
#define KC64 256
#define MC64 64
#define NC64 1024
#endif

// ---------------------------------------------------------------------------------------------
// Thread-local, 64-byte aligned, reusable packing buffers (freed when the thread exits). The
// first use reserves the most any shape needs (`reserve`), so a later, larger shape does not
// free and re-fault a bigger one: a first touch of 4 KiB pages costs ~3 ms per MiB on the
// project's VMs, which made the first GEMM calls of a process 3-10x their later ones. Buffers of
// 2 MiB and more are mapped on a 2 MiB boundary and advised to use transparent huge pages.
struct Scratch {
  void* p = nullptr;
  size_t cap = 0;
  bool mapped = false;
  const size_t reserve;
  explicit Scratch(size_t r) : reserve(r) {}
  ~Scratch() { release(); }
  void release() {
#ifdef HESSIAN_SCRATCH_MMAP
    if (mapped) munmap(p, cap);
    else
#endif
      std::free(p);
    p = nullptr;
    cap = 0;
    mapped = false;
  }
  void* get(size_t bytes) {
    if (bytes > cap) {
      release();
      size_t want = (std::max(bytes, reserve) + 4095) & ~size_t(4095);
#ifdef HESSIAN_SCRATCH_MMAP
      constexpr size_t kHuge = size_t(2) << 20;
      if (want >= kHuge) {
        void* base = mmap(nullptr, want + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base != MAP_FAILED) {
          char* start = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(base) + kHuge - 1) & ~uintptr_t(kHuge - 1));
          madvise(start, want / kHuge * kHuge, MADV_HUGEPAGE);
          // keep the mapping's base for munmap: unmap the unaligned head now, the tail stays
          const size_t head = size_t(start - static_cast<char*>(base));
          if (head > 0) munmap(base, head);
          munmap(start + want, kHuge - head);
          p = start;
          cap = want;
          mapped = true;
          return p;
        }
      }
#endif
      if (posix_memalign(&p, 64, want) != 0) { p = nullptr; return nullptr; }
      cap = want;
    }
    return p;
  }
};
// The most any shape packs with this ISA's blocking: B panels KC x NC, A blocks MC x KC, each
// plus the 64-element margin. Only the pages a shape touches become resident.
constexpr size_t scratchMax(size_t a32, size_t a64) { return a32 * 4 > a64 * 8 ? a32 * 4 : a64 * 8; }
thread_local Scratch scratchA(scratchMax(size_t(MC32) * KC32 + 64, size_t(MC64) * KC64 + 64));
thread_local Scratch scratchB(scratchMax(size_t(KC32) * NC32 + 64, size_t(KC64) * NC64 + 64));

// Tuning knobs (defaults measured on Zen 5; override with -D for experiments): k-loop unroll,
// prefetch distance (in k steps) of the A micro-panel, optional prefetch of the B micro-panel.
#ifndef KUNROLL
#define KUNROLL 1
#endif
#ifndef PFA_DIST
#define PFA_DIST 8
#endif
#define HESSIAN_STR(x) #x
#define HESSIAN_UNROLL(n) _Pragma(HESSIAN_STR(GCC unroll n))

// ---------------------------------------------------------------------------------------------
// Micro-kernel: acc(MR x NR) = sum_p pa[p, 0:MR]^T pb[p, 0:NR];
// then C = alpha*acc (overwrite) or C = alpha*acc + beta*C.
template <class VT, int MR, int NV>
static inline __attribute__((always_inline)) void ukernel(
    int64_t kc, const typename VT::T* __restrict pa, const typename VT::T* __restrict pb,
    typename VT::T* __restrict c, int64_t ldc, typename VT::T alpha, typename VT::T beta, bool overwrite) {
  using V = typename VT::V;
  constexpr int L = VT::L;
  constexpr int NR = NV * L;
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[i][j] = VT::zero();
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);
  }
  HESSIAN_UNROLL(KUNROLL)
  for (int64_t p = 0; p < kc; p++) {
    V b[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) b[j] = VT::load(pb + j * L);
#ifndef NO_PFA
    __builtin_prefetch(pa + PFA_DIST * MR, 0, 3);
#endif
#ifdef PFB_DIST
    __builtin_prefetch(pb + PFB_DIST * NR, 0, 3);
#endif
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
      V a = VT::set1(pa[i]);
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) acc[i][j] = VT::fma(a, b[j], acc[i][j]);
    }
    pa += MR;
    pb += NR;
  }
  const V va = VT::set1(alpha);
  if (overwrite) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) VT::storeu(c + i * ldc + j * L, VT::mul(va, acc[i][j]));
    }
  } else {
    const V vb = VT::set1(beta);
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) {
        V cv = VT::loadu(c + i * ldc + j * L);
        VT::storeu(c + i * ldc + j * L, VT::fma(va, acc[i][j], VT::mul(vb, cv)));
      }
    }
  }
}

#if defined(__AVX2__)
// A register tile transpose: dst[i * ldd + j] = src[j * lds + i] for i, j < N.
template <typename T> struct Tile;
template <> struct Tile<float> {
  static constexpr int N = 8;
  static inline void transpose(const float* src, int64_t lds, float* dst, int64_t ldd) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
           r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
           r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44),
           u3 = _mm256_shuffle_ps(t1, t3, 0xEE), u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
  }
};
template <> struct Tile<double> {
  static constexpr int N = 4;
  static inline void transpose(const double* src, int64_t lds, double* dst, int64_t ldd) {
    __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + lds), r2 = _mm256_loadu_pd(src + 2 * lds),
            r3 = _mm256_loadu_pd(src + 3 * lds);
    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1), t2 = _mm256_unpacklo_pd(r2, r3),
            t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd(dst + ldd, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd(dst + 2 * ldd, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd(dst + 3 * ldd, _mm256_permute2f128_pd(t1, t3, 0x31));
  }
};
#endif

// Pack rows [i0, i0+mc) x inner [p0, p0+kc) of op(A) into MR-row slivers: dst[s][p][r].
template <typename T, int MR>
static void packA(const GemmArgs<T>& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* __restrict dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int mr = int(std::min<int64_t>(MR, mc - ir));
    if (!g.transA) {
      const T* rows[MR];
      for (int r = 0; r < MR; r++) rows[r] = g.a + (i0 + ir + std::min(r, mr - 1)) * g.lda + p0;
      if (mr == MR) {
        for (int64_t p = 0; p < kc; p++) {
#pragma GCC unroll 32
          for (int r = 0; r < MR; r++) dst[p * MR + r] = rows[r][p];
        }
      } else {
        for (int64_t p = 0; p < kc; p++) {
          for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? rows[r][p] : T(0);
        }
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        const T* src = g.a + (p0 + p) * g.lda + i0 + ir;
        if (mr == MR) {
#pragma GCC unroll 32
          for (int r = 0; r < MR; r++) dst[p * MR + r] = src[r];
        } else {
          for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? src[r] : T(0);
        }
      }
    }
    dst += MR * kc;
  }
}

// Pack inner [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column slivers: dst[s][p][c].
template <typename T, int NR>
static void packB(const GemmArgs<T>& g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* __restrict dst) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int nr = int(std::min<int64_t>(NR, nc - jr));
    if (!g.transB) {
      for (int64_t p = 0; p < kc; p++) {
        const T* src = g.b + (p0 + p) * g.ldb + j0 + jr;
        T* d = dst + p * NR;
        if (nr == NR) {
#pragma GCC unroll 4
          for (int c = 0; c < NR; c++) d[c] = src[c];
        } else {
          for (int c = 0; c < NR; c++) d[c] = c < nr ? src[c] : T(0);
        }
      }
    } else {
      // Column j of op(B) is row j of B: contiguous in p, so the sliver is a transpose of nr
      // rows. Done in register tiles (transposeTile: 8 x 8 floats or 4 x 4 doubles per AVX
      // tile) over blocks of PB steps of p, so that the PB x NR block being written stays in
      // L1. Element by element, column after column over the whole sliver, each store landed on
      // its own line of an L2-sized panel: products with B transposed ran 20-35% slower than
      // with B as is (m 256, n 784-1000, k 784-1000, f32, AVX-512).
      constexpr int64_t PB = 32;
      for (int64_t pb = 0; pb < kc; pb += PB) {
        const int64_t pe = std::min<int64_t>(kc, pb + PB);
        int c = 0;
#if defined(__AVX2__)
        constexpr int TT = Tile<T>::N;
        const int64_t pt = pb + (pe - pb) / TT * TT;
        for (; c + TT <= nr; c += TT) {
          const T* src = g.b + (j0 + jr + c) * g.ldb + p0;
          for (int64_t p = pb; p < pt; p += TT) Tile<T>::transpose(src + p, g.ldb, dst + p * NR + c, NR);
          for (int64_t p = pt; p < pe; p++) {
            for (int cc = 0; cc < TT; cc++) dst[p * NR + c + cc] = src[cc * g.ldb + p];
          }
        }
#endif
        for (; c < nr; c++) {
          const T* src = g.b + (j0 + jr + c) * g.ldb + p0;
          for (int64_t p = pb; p < pe; p++) dst[p * NR + c] = src[p];
        }
        for (c = nr; c < NR; c++) {
          for (int64_t p = pb; p < pe; p++) dst[p * NR + c] = T(0);
        }
      }
    }
    dst += NR * kc;
  }
}

template <typename T>
static void scaleC(const GemmArgs<T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  for (int64_t i = m0; i < m1; i++) {
    T* c = g.c + i * g.ldc;
    if (g.beta == T(0)) {
      for (int64_t j = n0; j < n1; j++) c[j] = g.alpha * T(0);
    } else {
      for (int64_t j = n0; j < n1; j++) c[j] = g.alpha * T(0) + g.beta * c[j];
    }
  }
}

// Dot product with independent partial sums (vectorizes without -ffast-math).
template <typename T>
static inline T dotPartial(const T* __restrict x, const T* __restrict y, int64_t k) {
  constexpr int W = 64 / sizeof(T);
  T part[W];
  for (int l = 0; l < W; l++) part[l] = T(0);
  int64_t p = 0;
  for (; p + W <= k; p += W) {
    for (int l = 0; l < W; l++) part[l] += x[p + l] * y[p + l];
  }
  T s = T(0);
  for (int l = 0; l < W; l++) s += part[l];
  for (; p < k; p++) s += x[p] * y[p];
  return s;
}

// Direct (unpacked) loops, for tiny problems and matrix-vector shapes (m == 1 or n == 1),
// where packing costs more than it saves.
template <typename T>
static void directWindow(const GemmArgs<T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  if (m1 <= m0 || n1 <= n0) return;
  if (g.k == 0) { scaleC(g, m0, m1, n0, n1); return; }
  const int64_t lda = g.lda, ldb = g.ldb, k = g.k;
  auto store = [&](T* c, T s) { *c = g.beta == T(0) ? g.alpha * s : g.alpha * s + g.beta * *c; };
  if (g.n == 1) {
    // matrix-vector: gather x = op(B)[:, 0] once, then dots (A) or axpys (A^T)
    T* x = static_cast<T*>(scratchB.get(sizeof(T) * size_t(k)));
    if (x != nullptr) {
      for (int64_t p = 0; p < k; p++) x[p] = g.transB ? g.b[p] : g.b[p * ldb];
      if (!g.transA) {
        for (int64_t i = m0; i < m1; i++) store(g.c + i * g.ldc, dotPartial(g.a + i * lda, x, k));
      } else {
        constexpr int64_t NB = 512;
        alignas(64) T acc[NB];
        for (int64_t i0 = m0; i0 < m1; i0 += NB) {
          const int64_t nb = std::min(NB, m1 - i0);
          for (int64_t i = 0; i < nb; i++) acc[i] = T(0);
          for (int64_t p = 0; p < k; p++) {
            const T* __restrict ar = g.a + p * lda + i0;
            const T xp = x[p];
            for (int64_t i = 0; i < nb; i++) acc[i] += ar[i] * xp;
          }
          for (int64_t i = 0; i < nb; i++) store(g.c + (i0 + i) * g.ldc, acc[i]);
        }
      }
      return;
    }
  }
  if (!g.transB) {
    constexpr int64_t NB = 512;
    alignas(64) T acc[NB];
    for (int64_t j0 = n0; j0 < n1; j0 += NB) {
      const int64_t nb = std::min(NB, n1 - j0);
      for (int64_t i = m0; i < m1; i++) {
        for (int64_t j = 0; j < nb; j++) acc[j] = T(0);
        for (int64_t p = 0; p < k; p++) {
          const T s = g.transA ? g.a[p * lda + i] : g.a[i * lda + p];
          const T* __restrict br = g.b + p * ldb + j0;
          for (int64_t j = 0; j < nb; j++) acc[j] += s * br[j];
        }
        T* c = g.c + i * g.ldc + j0;
        for (int64_t j = 0; j < nb; j++) store(c + j, acc[j]);
      }
    }
  } else {
    for (int64_t i = m0; i < m1; i++) {
      T* c = g.c + i * g.ldc;
      for (int64_t j = n0; j < n1; j++) {
        const T* __restrict br = g.b + j * ldb;
        T s;
        if (!g.transA) {
          s = dotPartial(g.a + i * lda, br, k);
        } else {
          s = T(0);
          for (int64_t p = 0; p < k; p++) s += g.a[p * lda + i] * br[p];
        }
        store(c + j, s);
      }
    }
  }
}

// One MC x KC block of A against a packed KC x nc panel of B: pack A, then the jr/ir loops.
template <class VT, int MR, int NV>
static void macroBlock(const GemmArgs<typename VT::T>& g, const typename VT::T* Bp, int64_t jc, int64_t nc,
                       int64_t pc, int64_t kc, int64_t ic, int64_t mc, typename VT::T* Ap) {
  using T = typename VT::T;
  constexpr int NR = NV * VT::L;
  const bool first = pc == 0;
  const bool overwrite = first && g.beta == T(0);
  const T beta = first ? g.beta : T(1);
  alignas(64) T tmp[MR * NR];
  packA<T, MR>(g, ic, mc, pc, kc, Ap);
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - jr);
    const T* pb = Bp + jr * kc;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int64_t mr = std::min<int64_t>(MR, mc - ir);
      const T* pa = Ap + ir * kc;
      T* cc = g.c + (ic + ir) * g.ldc + jc + jr;
      if (mr == MR && nr == NR) {
        ukernel<VT, MR, NV>(kc, pa, pb, cc, g.ldc, g.alpha, beta, overwrite);
      } else {
        ukernel<VT, MR, NV>(kc, pa, pb, tmp, NR, T(1), T(0), true);
        for (int64_t r = 0; r < mr; r++) {
          T* cr = cc + r * g.ldc;
          const T* tr = tmp + r * NR;
          if (overwrite) {
            for (int64_t j = 0; j < nr; j++) cr[j] = g.alpha * tr[j];
          } else {
            for (int64_t j = 0; j < nr; j++) cr[j] = g.alpha * tr[j] + beta * cr[j];
          }
        }
      }
    }
  }
}

// Narrow products, n <= NV vectors (a layer's 20 units, a 2-column input): C's rows straight
// from A, without packing A, against op(B) copied once per KC panel into NV zero-padded vector
// columns. The packed path computed a full NR-wide tile there (20 of 32 columns used) after
// gathering all of A; this path did a 400x20x20 float64 product in 8.2 us instead of 21.6 (one
// thread). Per element the same FMA chain over each KC panel from zero as the packed path, so
// with alpha = 1 and beta = 0 (every matmul) the bits do not change; with other alpha/beta the
// packed path's edge tiles are stored by scalar code the compiler may contract differently.
// One block of RR rows of C (RR a compile-time count, so the accumulators stay in registers).
template <class VT, int RR, int NVN>
static inline void narrowBlock(const GemmArgs<typename VT::T>& g, int64_t i0, int64_t n0, int64_t nn, int64_t pc,
                               int64_t kc, const typename VT::T* __restrict Bp, bool overwrite, typename VT::T beta) {
  using T = typename VT::T;
  using V = typename VT::V;
  constexpr int L = VT::L;
  constexpr int NP = NVN * L;
  const int64_t rs = g.transA ? 1 : g.lda;   // step between rows i of op(A)
  const int64_t ps = g.transA ? g.lda : 1;   // step between inner indices p
  V acc[RR][NVN];
#pragma GCC unroll 32
  for (int r = 0; r < RR; r++) {
#pragma GCC unroll 8
    for (int j = 0; j < NVN; j++) acc[r][j] = VT::zero();
  }
  const T* a0 = g.a + i0 * rs + pc * ps;
  for (int64_t p = 0; p < kc; p++) {
    V b[NVN];
#pragma GCC unroll 8
    for (int j = 0; j < NVN; j++) b[j] = VT::load(Bp + p * NP + j * L);
    const T* ap = a0 + p * ps;
#pragma GCC unroll 32
    for (int r = 0; r < RR; r++) {
      const V a = VT::set1(ap[r * rs]);
#pragma GCC unroll 8
      for (int j = 0; j < NVN; j++) acc[r][j] = VT::fma(a, b[j], acc[r][j]);
    }
  }
  const V va = VT::set1(g.alpha);
  const V vb = VT::set1(beta);
  alignas(64) T tmp[L];
#pragma GCC unroll 32
  for (int r = 0; r < RR; r++) {
    T* c = g.c + (i0 + r) * g.ldc + n0;
#pragma GCC unroll 8
    for (int j = 0; j < NVN; j++) {
      const bool whole = (j + 1) * L <= nn;
      T* dst = whole ? c + j * L : tmp;
      if (overwrite) {
        VT::storeu(dst, VT::mul(va, acc[r][j]));
      } else {
        if (!whole) {
          for (int l = 0; l < L; l++) tmp[l] = j * L + l < nn ? c[j * L + l] : T(0);
        }
        VT::storeu(dst, VT::fma(va, acc[r][j], VT::mul(vb, VT::loadu(dst))));
      }
      if (!whole) {
        for (int l = 0; j * L + l < nn; l++) c[j * L + l] = tmp[l];
      }
    }
  }
}

template <class VT, int R, int NVN>
static void narrowRows(const GemmArgs<typename VT::T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t nn,
                       int64_t pc, int64_t kc, const typename VT::T* __restrict Bp, bool overwrite,
                       typename VT::T beta) {
  int64_t i0 = m0;
  for (; i0 + R <= m1; i0 += R) narrowBlock<VT, R, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta);
  const int64_t rest = m1 - i0;
  static_assert(R <= 8, "narrowRows handles remainders below 8 rows");
  switch (rest) {
    case 0: break;
    case 1: narrowBlock<VT, 1, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta); break;
    case 2: if constexpr (R > 2) { narrowBlock<VT, 2, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta); } break;
    case 3: if constexpr (R > 3) { narrowBlock<VT, 3, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta); } break;
    case 4: if constexpr (R > 4) { narrowBlock<VT, 4, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta); } break;
    case 5: if constexpr (R > 5) { narrowBlock<VT, 5, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta); } break;
    case 6: if constexpr (R > 6) { narrowBlock<VT, 6, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta); } break;
    default: if constexpr (R > 7) { narrowBlock<VT, 7, NVN>(g, i0, n0, nn, pc, kc, Bp, overwrite, beta); } break;
  }
}

// Columns [n0, n1) of C, n1 - n0 <= NV vectors, rows [m0, m1): false where the panel buffer is unavailable.
template <class VT, int R, int NV, int KC>
static bool narrowWindow(const GemmArgs<typename VT::T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  using T = typename VT::T;
  constexpr int L = VT::L;
  const int64_t nn = n1 - n0;
  const int nv = int((nn + L - 1) / L);
  const int64_t kcMax = std::min<int64_t>(KC, g.k);
  T* Bp = static_cast<T*>(scratchB.get(sizeof(T) * size_t(kcMax * nv * L + 64)));
  if (Bp == nullptr) return false;
  for (int64_t pc = 0; pc < g.k; pc += KC) {
    const int64_t kc = std::min<int64_t>(KC, g.k - pc);
    const int64_t np = int64_t(nv) * L;
    for (int64_t p = 0; p < kc; p++) {
      T* dst = Bp + p * np;
      for (int64_t j = 0; j < nn; j++) dst[j] = g.transB ? g.b[(n0 + j) * g.ldb + pc + p] : g.b[(pc + p) * g.ldb + n0 + j];
      for (int64_t j = nn; j < np; j++) dst[j] = T(0);
    }
    const bool first = pc == 0;
    const bool overwrite = first && g.beta == T(0);
    const T beta = first ? g.beta : T(1);
    switch (nv) {
      case 1: narrowRows<VT, R, 1>(g, m0, m1, n0, nn, pc, kc, Bp, overwrite, beta); break;
      case 2: if constexpr (NV >= 2) { narrowRows<VT, R, 2>(g, m0, m1, n0, nn, pc, kc, Bp, overwrite, beta); break; } [[fallthrough]];
      case 3: if constexpr (NV >= 3) { narrowRows<VT, R, 3>(g, m0, m1, n0, nn, pc, kc, Bp, overwrite, beta); break; } [[fallthrough]];
      default: if constexpr (NV >= 4) { narrowRows<VT, R, 4>(g, m0, m1, n0, nn, pc, kc, Bp, overwrite, beta); break; } return false;
    }
  }
  return true;
}

// A window of C on the calling thread, with its own packing buffers.
template <class VT, int MR, int NV, int KC, int MC, int NC>
static void packedWindow(const GemmArgs<typename VT::T>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  using T = typename VT::T;
  constexpr int NR = NV * VT::L;
  static_assert(MC % MR == 0 && NC % NR == 0, "blocking must be a multiple of the tile");
  if (m1 <= m0 || n1 <= n0) return;
  if (g.k == 0) { scaleC(g, m0, m1, n0, n1); return; }
  if (VT::L > 1 && NV <= 4 && n1 - n0 <= NR && narrowWindow<VT, MR, NV, KC>(g, m0, m1, n0, n1)) return;
  const int64_t kcMax = std::min<int64_t>(KC, g.k);
  const int64_t mcMax = std::min<int64_t>(MC, (m1 - m0 + MR - 1) / MR * MR);
  const int64_t ncMax = std::min<int64_t>(NC, (n1 - n0 + NR - 1) / NR * NR);
  T* Ap = static_cast<T*>(scratchA.get(sizeof(T) * (mcMax * kcMax + 64)));
  T* Bp = static_cast<T*>(scratchB.get(sizeof(T) * (ncMax * kcMax + 64)));
  if (Ap == nullptr || Bp == nullptr) { directWindow(g, m0, m1, n0, n1); return; }
  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min<int64_t>(NC, n1 - jc);
    for (int64_t pc = 0; pc < g.k; pc += KC) {
      const int64_t kc = std::min<int64_t>(KC, g.k - pc);
      packB<T, NR>(g, pc, kc, jc, nc, Bp);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        macroBlock<VT, MR, NV>(g, Bp, jc, nc, pc, kc, ic, std::min<int64_t>(MC, m1 - ic), Ap);
      }
    }
  }
}

// The whole of C on `nt` threads: each KC x NC panel of B is packed once, cooperatively, into
// the calling thread's buffer; then row blocks of C are claimed dynamically by the pool, each
// thread packing its own A blocks. No operand is packed twice, and a thread the OS delays only
// costs the blocks it has claimed.
template <class VT, int MR, int NV, int KC, int MC, int NC>
static void packedShared(const GemmArgs<typename VT::T>& g, int nt) {
  using T = typename VT::T;
  constexpr int NR = NV * VT::L;
  const int64_t m = g.m, n = g.n;
  if (m <= 0 || n <= 0) return;
  if (g.k == 0) { scaleC(g, 0, m, 0, n); return; }
  const int64_t kcMax = std::min<int64_t>(KC, g.k);
  const int64_t ncMax = std::min<int64_t>(NC, (n + NR - 1) / NR * NR);
  T* Bp = static_cast<T*>(scratchB.get(sizeof(T) * (ncMax * kcMax + 64)));
  if (Bp == nullptr) { directWindow(g, 0, m, 0, n); return; }
  // row parts: about MC rows each, a multiple of nt of them, sizes within MR of each other
  int64_t parts = std::max<int64_t>(1, (m + MC / 2) / MC);
  parts = (parts + nt - 1) / nt * nt;
  parts = std::min<int64_t>(parts, (m + MR - 1) / MR);
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min<int64_t>(NC, n - jc);
    const int64_t slivers = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < g.k; pc += KC) {
      const int64_t kc = std::min<int64_t>(KC, g.k - pc);
      const int packParts = int(std::min<int64_t>(slivers, int64_t(nt) * 2));
      parallelFor(packParts, [&](int t) {
        int64_t s0, s1;
        chunkRange(slivers, packParts, t, 1, &s0, &s1);
        if (s1 > s0) packB<T, NR>(g, pc, kc, jc + s0 * NR, std::min(nc - s0 * NR, (s1 - s0) * NR), Bp + s0 * NR * kc);
      });
      parallelFor(int(parts), [&](int t) {
        int64_t lo, hi;
        chunkRange(m, int(parts), t, MR, &lo, &hi);
        if (hi <= lo) return;
        const int64_t mcMax = std::min<int64_t>(MC, (hi - lo + MR - 1) / MR * MR);
        T* Ap = static_cast<T*>(scratchA.get(sizeof(T) * (mcMax * kcMax + 64)));
        if (Ap == nullptr) {  // out of memory: this part unpacked (same result up to rounding)
          GemmArgs<T> g2 = g;
          if (pc > 0) g2.beta = T(1);
          GemmArgs<T> part = g2;
          part.k = kc;
          part.a = g.transA ? g.a + pc * g.lda : g.a + pc;
          part.b = g.transB ? g.b + pc : g.b + pc * g.ldb;
          directWindow(part, lo, hi, jc, jc + nc);
          return;
        }
        for (int64_t ic = lo; ic < hi; ic += MC) {
          macroBlock<VT, MR, NV>(g, Bp, jc, nc, pc, kc, ic, std::min<int64_t>(MC, hi - ic), Ap);
        }
      });
    }
  }
}

void packed32(const GemmArgs<float>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  packedWindow<VF, MR32, NV32, KC32, MC32, NC32>(g, m0, m1, n0, n1);
}
void packed64(const GemmArgs<double>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  packedWindow<VD, MR64, NV64, KC64, MC64, NC64>(g, m0, m1, n0, n1);
}
void shared32(const GemmArgs<float>& g, int nt) { packedShared<VF, MR32, NV32, KC32, MC32, NC32>(g, nt); }
void shared64(const GemmArgs<double>& g, int nt) { packedShared<VD, MR64, NV64, KC64, MC64, NC64>(g, nt); }
void direct32(const GemmArgs<float>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  directWindow<float>(g, m0, m1, n0, n1);
}
void direct64(const GemmArgs<double>& g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  directWindow<double>(g, m0, m1, n0, n1);
}

}  // namespace
}  // namespace HESSIAN_ISA_NS

extern const GemmIsa HESSIAN_ISA_TABLE = {
    HESSIAN_ISA_NAME,
    HESSIAN_ISA_NS::MR32, HESSIAN_ISA_NS::NV32 * HESSIAN_ISA_NS::VF::L,
    HESSIAN_ISA_NS::MR64, HESSIAN_ISA_NS::NV64 * HESSIAN_ISA_NS::VD::L,
    HESSIAN_ISA_NS::packed32, HESSIAN_ISA_NS::packed64,
    HESSIAN_ISA_NS::shared32, HESSIAN_ISA_NS::shared64,
    HESSIAN_ISA_NS::direct32, HESSIAN_ISA_NS::direct64,
};

}  // namespace hessian

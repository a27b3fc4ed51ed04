// N-API bindings of the native kernels. Every entry point validates its argument count and
// types, and checks that each typed array is long enough for every index the kernel will touch
// (computed in 128-bit arithmetic), before any memory is read or written; violations throw a
// JS TypeError/RangeError naming the kernel. Float32 vs float64 is decided by the arrays.
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define HESSIAN_HAVE_MMAP 1
#endif
#include <node_api.h>
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <string>
#include <iterator>
#include <memory>
#include <vector>

#include "eigh_dc.h"
#include "kernels.h"
#include "pool.h"

namespace hessian {
namespace {

using i128 = __int128;

struct JsError {
  bool range;  // RangeError, else TypeError
  std::string message;
};

constexpr double kMaxInt = 9007199254740991.0;  // 2^53 - 1

struct Call {
  napi_env env;
  const char* name;
  size_t argc = 0;
  napi_value argv[20];

  [[noreturn]] void typeError(const std::string& msg) const {
    throw JsError{false, std::string("hessian native ") + name + ": " + msg};
  }
  [[noreturn]] void rangeError(const std::string& msg) const {
    throw JsError{true, std::string("hessian native ") + name + ": " + msg};
  }

  Call(napi_env e, napi_callback_info info, const char* kernel, size_t expected) : env(e), name(kernel) {
    argc = 20;
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) typeError("cannot read arguments");
    if (argc != expected) {
      typeError("expected " + std::to_string(expected) + " arguments, got " + std::to_string(argc));
    }
  }

  napi_valuetype typeOf(size_t i) const {
    napi_valuetype t;
    if (napi_typeof(env, argv[i], &t) != napi_ok) typeError("cannot inspect argument " + std::to_string(i));
    return t;
  }

  double number(size_t i, const char* what) const {
    if (typeOf(i) != napi_number) typeError(std::string(what) + " must be a number");
    double v;
    napi_get_value_double(env, argv[i], &v);
    return v;
  }

  static std::string fmt(double v) {
    if (std::isnan(v)) return "NaN";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }

  int64_t integerValue(double v, const char* what, double lo, double hi) const {
    if (!std::isfinite(v) || std::floor(v) != v || v < lo || v > hi) {
      std::string range = lo == 0 ? "a non-negative integer" : lo == 1 ? "a positive integer" : "an integer";
      rangeError(std::string(what) + " must be " + range + (hi < kMaxInt ? " <= " + fmt(hi) : "") + ", got " + fmt(v));
    }
    return int64_t(v);
  }

  int64_t integer(size_t i, const char* what, double lo = 0, double hi = kMaxInt) const {
    return integerValue(number(i, what), what, lo, hi);
  }

  bool boolean(size_t i, const char* what) const {
    if (typeOf(i) != napi_boolean) typeError(std::string(what) + " must be a boolean");
    bool b;
    napi_get_value_bool(env, argv[i], &b);
    return b;
  }

  std::string string(size_t i, const char* what) const {
    if (typeOf(i) != napi_string) typeError(std::string(what) + " must be a string");
    char buf[64];
    size_t len = 0;
    napi_get_value_string_utf8(env, argv[i], buf, sizeof buf, &len);
    return std::string(buf, len);
  }

  struct Arr {
    bool f64;
    void* data;
    size_t length;
    const char* what;
  };

  Arr floatArray(size_t i, const char* what) const {
    bool is = false;
    napi_is_typedarray(env, argv[i], &is);
    if (!is) typeError(std::string(what) + " must be a Float32Array or Float64Array");
    napi_typedarray_type t;
    size_t length = 0;
    void* data = nullptr;
    napi_value ab;
    size_t off = 0;
    if (napi_get_typedarray_info(env, argv[i], &t, &length, &data, &ab, &off) != napi_ok) {
      typeError(std::string("cannot read ") + what);
    }
    if (t != napi_float32_array && t != napi_float64_array) {
      typeError(std::string(what) + " must be a Float32Array or Float64Array");
    }
    if (data == nullptr) length = 0;  // detached
    return Arr{t == napi_float64_array, data, length, what};
  }

  // All arrays of one call share a dtype.
  void sameDtype(const Arr& a, const Arr& b) const {
    if (a.f64 != b.f64) {
      typeError(std::string("mixed dtypes: ") + a.what + " is " + (a.f64 ? "Float64Array" : "Float32Array") + " but " +
                b.what + " is " + (b.f64 ? "Float64Array" : "Float32Array"));
    }
  }

  // `elements` (>= 0) elements must be readable/writable from the start of `a`.
  void needs(const Arr& a, i128 elements) const {
    if (elements > i128(a.length)) {
      rangeError(std::string(a.what) + " has " + std::to_string(a.length) + " elements but the sizes given need " +
                 std::to_string(int64_t(elements > i128(INT64_MAX) ? INT64_MAX : int64_t(elements))));
    }
  }

  std::vector<int64_t> intList(size_t i, const char* what, bool allowNegative) const {
    bool is = false;
    napi_is_array(env, argv[i], &is);
    if (!is) typeError(std::string(what) + " must be an array of integers");
    uint32_t len = 0;
    napi_get_array_length(env, argv[i], &len);
    if (len > uint32_t(kMaxDims)) rangeError(std::string(what) + " has more than " + std::to_string(kMaxDims) + " entries");
    std::vector<int64_t> out(len);
    for (uint32_t d = 0; d < len; d++) {
      napi_value v;
      napi_get_element(env, argv[i], d, &v);
      napi_valuetype t;
      napi_typeof(env, v, &t);
      if (t != napi_number) typeError(std::string(what) + "[" + std::to_string(d) + "] must be a number");
      double x;
      napi_get_value_double(env, v, &x);
      const std::string name = std::string(what) + "[" + std::to_string(d) + "]";
      out[d] = integerValue(x, name.c_str(), allowNegative ? -kMaxInt : 0, kMaxInt);
    }
    return out;
  }
};

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value nullValue(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

template <typename F>
napi_value guarded(napi_env env, F&& f) {
  try {
    return f();
  } catch (const JsError& e) {
    if (e.range) napi_throw_range_error(env, nullptr, e.message.c_str());
    else napi_throw_type_error(env, nullptr, e.message.c_str());
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, "hessian native: out of memory");
  } catch (...) {
    napi_throw_error(env, nullptr, "hessian native: internal error");
  }
  return nullptr;
}

// Largest index + 1 touched by `batch` matrices of rows x cols with leading dimension ld.
i128 matrixExtent(int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  if (batch == 0 || rows == 0 || cols == 0) return 0;
  return i128(batch - 1) * stride + i128(rows - 1) * ld + cols;
}

// ---------------------------------------------------------------------------------------------
napi_value Gemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "gemm", 17);
    const bool tA = c.boolean(0, "transA"), tB = c.boolean(1, "transB");
    const int64_t m = c.integer(2, "m"), n = c.integer(3, "n"), k = c.integer(4, "k");
    const double alpha = c.number(5, "alpha");
    const Call::Arr a = c.floatArray(6, "a");
    const int64_t lda = c.integer(7, "lda"), strideA = c.integer(8, "strideA");
    const Call::Arr b = c.floatArray(9, "b");
    const int64_t ldb = c.integer(10, "ldb"), strideB = c.integer(11, "strideB");
    const double beta = c.number(12, "beta");
    const Call::Arr C = c.floatArray(13, "c");
    const int64_t ldc = c.integer(14, "ldc"), strideC = c.integer(15, "strideC");
    const int64_t batch = c.integer(16, "batch");
    c.sameDtype(a, b);
    c.sameDtype(a, C);
    const int64_t rowsA = tA ? k : m, colsA = tA ? m : k;
    const int64_t rowsB = tB ? n : k, colsB = tB ? k : n;
    if (lda < colsA) c.rangeError("lda (" + std::to_string(lda) + ") is less than the columns of A as stored (" + std::to_string(colsA) + ")");
    if (ldb < colsB) c.rangeError("ldb (" + std::to_string(ldb) + ") is less than the columns of B as stored (" + std::to_string(colsB) + ")");
    if (ldc < n) c.rangeError("ldc (" + std::to_string(ldc) + ") is less than n (" + std::to_string(n) + ")");
    if (m > 0 && n > 0) {
      c.needs(a, matrixExtent(batch, strideA, rowsA, colsA, lda));
      c.needs(b, matrixExtent(batch, strideB, rowsB, colsB, ldb));
      c.needs(C, matrixExtent(batch, strideC, m, n, ldc));
    }
    if (m == 0 || n == 0 || batch == 0) return undefinedValue(env);
    if (a.f64) {
      gemmBatched<double>(tA, tB, m, n, k, alpha, static_cast<const double*>(a.data), lda, strideA,
                          static_cast<const double*>(b.data), ldb, strideB, beta, static_cast<double*>(C.data), ldc,
                          strideC, batch);
    } else {
      gemmBatched<float>(tA, tB, m, n, k, float(alpha), static_cast<const float*>(a.data), lda, strideA,
                         static_cast<const float*>(b.data), ldb, strideB, float(beta), static_cast<float*>(C.data),
                         ldc, strideC, batch);
    }
    return undefinedValue(env);
  });
}

const char* const kUnaryNames[] = {"neg", "abs", "sign", "step", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt",
                                   "square", "reciprocal", "tanh", "sigmoid", "relu", "softplus", "sin", "cos", "erf"};
const char* const kBinaryNames[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                    "eq", "ne", "gt", "ge", "lt", "le"};
const char* const kReduceNames[] = {"sum", "max", "min", "argmax", "argmin", "logsumexp"};

template <size_t N>
int lookup(const Call& c, size_t i, const char* const (&names)[N]) {
  const std::string s = c.string(i, "op");
  for (size_t j = 0; j < N; j++) {
    if (s == names[j]) return int(j);
  }
  c.rangeError("unknown op '" + s + "'");
}

napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "unary", 3);
    const UnaryOp op = UnaryOp(lookup(c, 0, kUnaryNames));
    const Call::Arr x = c.floatArray(1, "x"), out = c.floatArray(2, "out");
    c.sameDtype(x, out);
    c.needs(x, out.length);
    if (x.f64) unaryKernel<double>(op, static_cast<const double*>(x.data), static_cast<double*>(out.data), out.length);
    else unaryKernel<float>(op, static_cast<const float*>(x.data), static_cast<float*>(out.data), out.length);
    return undefinedValue(env);
  });
}

const char* const kUnaryGradNames[] = {"sigmoid", "tanh", "softplus", "relu", "exp"};

// unaryGrad(op, v, g, out): out = op'(.) * g with v the op's output or input (see kernels.h).
napi_value UnaryGrad(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "unaryGrad", 4);
    const UnaryGradOp op = UnaryGradOp(lookup(c, 0, kUnaryGradNames));
    const Call::Arr v = c.floatArray(1, "v"), g = c.floatArray(2, "g"), out = c.floatArray(3, "out");
    c.sameDtype(v, g);
    c.sameDtype(v, out);
    c.needs(v, out.length);
    c.needs(g, out.length);
    if (v.f64) {
      unaryGradKernel<double>(op, static_cast<const double*>(v.data), static_cast<const double*>(g.data),
                              static_cast<double*>(out.data), out.length);
    } else {
      unaryGradKernel<float>(op, static_cast<const float*>(v.data), static_cast<const float*>(g.data),
                             static_cast<float*>(out.data), out.length);
    }
    return undefinedValue(env);
  });
}

// unaryReference(op, x, out): the long-double oracle of the vectorized ops (tests only).
napi_value UnaryReference(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "unaryReference", 3);
    const UnaryOp op = UnaryOp(lookup(c, 0, kUnaryNames));
    const Call::Arr x = c.floatArray(1, "x"), out = c.floatArray(2, "out");
    c.sameDtype(x, out);
    c.needs(x, out.length);
    if (x.f64) unaryReferenceKernel<double>(op, static_cast<const double*>(x.data), static_cast<double*>(out.data), out.length);
    else unaryReferenceKernel<float>(op, static_cast<const float*>(x.data), static_cast<float*>(out.data), out.length);
    return undefinedValue(env);
  });
}

// Product of a shape, with a RangeError on overflow beyond 2^53.
int64_t shapeSize(const Call& c, const std::vector<int64_t>& shape) {
  i128 total = 1;
  for (int64_t s : shape) {
    total *= s;
    if (total > i128(kMaxInt)) c.rangeError("shape has more than 2^53 elements");
  }
  return int64_t(total);
}

// 1 + the largest index a strided view of `shape` reads; negative strides are rejected unless
// the view still starts at or after element 0.
i128 stridedExtent(const Call& c, const Call::Arr& arr, const std::vector<int64_t>& shape,
                   const std::vector<int64_t>& strides) {
  i128 lo = 0, hi = 0;
  for (size_t d = 0; d < shape.size(); d++) {
    if (shape[d] == 0) return 0;
    const i128 span = i128(shape[d] - 1) * strides[d];
    if (span > 0) hi += span;
    else lo += span;
  }
  if (lo < 0) c.rangeError(std::string("strides of ") + arr.what + " reach before its first element");
  return hi + 1;
}

napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "binary", 7);
    const BinaryOp op = BinaryOp(lookup(c, 0, kBinaryNames));
    const Call::Arr a = c.floatArray(1, "a");
    const std::vector<int64_t> as = c.intList(2, "aStrides", true);
    const Call::Arr b = c.floatArray(3, "b");
    const std::vector<int64_t> bs = c.intList(4, "bStrides", true);
    const Call::Arr out = c.floatArray(5, "out");
    const std::vector<int64_t> shape = c.intList(6, "shape", false);
    c.sameDtype(a, b);
    c.sameDtype(a, out);
    if (as.size() != shape.size() || bs.size() != shape.size()) {
      c.rangeError("aStrides, bStrides and shape must have the same length (" + std::to_string(as.size()) + ", " +
                   std::to_string(bs.size()) + ", " + std::to_string(shape.size()) + ")");
    }
    const int64_t total = shapeSize(c, shape);
    if (int64_t(out.length) != total) {
      c.rangeError("out has " + std::to_string(out.length) + " elements but shape needs " + std::to_string(total));
    }
    if (total == 0) return undefinedValue(env);
    c.needs(a, stridedExtent(c, a, shape, as));
    c.needs(b, stridedExtent(c, b, shape, bs));
    const int nd = int(shape.size());
    if (a.f64) {
      binaryKernel<double>(op, static_cast<const double*>(a.data), as.data(), static_cast<const double*>(b.data),
                           bs.data(), static_cast<double*>(out.data), shape.data(), nd);
    } else {
      binaryKernel<float>(op, static_cast<const float*>(a.data), as.data(), static_cast<const float*>(b.data),
                          bs.data(), static_cast<float*>(out.data), shape.data(), nd);
    }
    return undefinedValue(env);
  });
}

napi_value CopyStrided(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "copyStrided", 4);
    const Call::Arr x = c.floatArray(0, "x");
    const std::vector<int64_t> xs = c.intList(1, "strides", true);
    const std::vector<int64_t> shape = c.intList(2, "shape", false);
    const Call::Arr out = c.floatArray(3, "out");
    c.sameDtype(x, out);
    if (xs.size() != shape.size()) {
      c.rangeError("strides and shape must have the same length (" + std::to_string(xs.size()) + ", " +
                   std::to_string(shape.size()) + ")");
    }
    const int64_t total = shapeSize(c, shape);
    if (int64_t(out.length) != total) {
      c.rangeError("out has " + std::to_string(out.length) + " elements but shape needs " + std::to_string(total));
    }
    if (total == 0) return undefinedValue(env);
    c.needs(x, stridedExtent(c, x, shape, xs));
    const int nd = int(shape.size());
    if (x.f64) {
      copyStridedKernel<double>(static_cast<const double*>(x.data), xs.data(), static_cast<double*>(out.data),
                                shape.data(), nd);
    } else {
      copyStridedKernel<float>(static_cast<const float*>(x.data), xs.data(), static_cast<float*>(out.data),
                               shape.data(), nd);
    }
    return undefinedValue(env);
  });
}

napi_value Axpby(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "axpby", 5);
    const double alpha = c.number(0, "alpha");
    const Call::Arr x = c.floatArray(1, "x");
    const double beta = c.number(2, "beta");
    const Call::Arr y = c.floatArray(3, "y"), out = c.floatArray(4, "out");
    c.sameDtype(x, y);
    c.sameDtype(x, out);
    c.needs(x, out.length);
    c.needs(y, out.length);
    if (x.f64) {
      axpbyKernel<double>(alpha, static_cast<const double*>(x.data), beta, static_cast<const double*>(y.data),
                          static_cast<double*>(out.data), out.length);
    } else {
      axpbyKernel<float>(alpha, static_cast<const float*>(x.data), beta, static_cast<const float*>(y.data),
                         static_cast<float*>(out.data), out.length);
    }
    return undefinedValue(env);
  });
}

napi_value Dot(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "dot", 2);
    const Call::Arr x = c.floatArray(0, "x"), y = c.floatArray(1, "y");
    c.sameDtype(x, y);
    c.needs(y, x.length);
    const double r = x.f64 ? dotKernel<double>(static_cast<const double*>(x.data), static_cast<const double*>(y.data), x.length)
                           : dotKernel<float>(static_cast<const float*>(x.data), static_cast<const float*>(y.data), x.length);
    napi_value v;
    napi_create_double(env, r, &v);
    return v;
  });
}

napi_value Reduce(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "reduce", 6);
    const ReduceOp op = ReduceOp(lookup(c, 0, kReduceNames));
    const Call::Arr x = c.floatArray(1, "x");
    const int64_t outer = c.integer(2, "outer"), n = c.integer(3, "n"), inner = c.integer(4, "inner");
    const Call::Arr out = c.floatArray(5, "out");
    c.sameDtype(x, out);
    const i128 outSize = i128(outer) * inner;
    if (outSize == 0) return undefinedValue(env);
    if (n == 0 && op != ReduceOp::sum) c.rangeError(std::string("n must be >= 1 for ") + kReduceNames[int(op)]);
    c.needs(x, outSize * n);
    c.needs(out, outSize);
    if (x.f64) reduceKernel<double>(op, static_cast<const double*>(x.data), outer, n, inner, static_cast<double*>(out.data));
    else reduceKernel<float>(op, static_cast<const float*>(x.data), outer, n, inner, static_cast<float*>(out.data));
    return undefinedValue(env);
  });
}

napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "softmax", 6);
    const Call::Arr x = c.floatArray(0, "x");
    const int64_t outer = c.integer(1, "outer"), n = c.integer(2, "n"), inner = c.integer(3, "inner");
    const Call::Arr out = c.floatArray(4, "out");
    const bool log = c.boolean(5, "log");
    c.sameDtype(x, out);
    const i128 size = i128(outer) * n * inner;
    if (size == 0) return undefinedValue(env);
    c.needs(x, size);
    c.needs(out, size);
    if (x.f64) softmaxKernel<double>(static_cast<const double*>(x.data), outer, n, inner, static_cast<double*>(out.data), log);
    else softmaxKernel<float>(static_cast<const float*>(x.data), outer, n, inner, static_cast<float*>(out.data), log);
    return undefinedValue(env);
  });
}

// im2col (forward = true) and col2im share argument order: (src, C, H, W, kh, kw, strideH,
// strideW, padH, padW, dilH, dilW, outH, outW, dst).
napi_value Conv(napi_env env, napi_callback_info info, bool forward) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, forward ? "im2col" : "col2im", 15);
    const Call::Arr src = c.floatArray(0, forward ? "x" : "cols");
    const int64_t C = c.integer(1, "C"), H = c.integer(2, "H"), W = c.integer(3, "W");
    const int64_t kh = c.integer(4, "kh"), kw = c.integer(5, "kw");
    const int64_t sH = c.integer(6, "strideH", 1), sW = c.integer(7, "strideW", 1);
    const int64_t pH = c.integer(8, "padH"), pW = c.integer(9, "padW");
    const int64_t dH = c.integer(10, "dilH", 1), dW = c.integer(11, "dilW", 1);
    const int64_t oH = c.integer(12, "outH"), oW = c.integer(13, "outW");
    const Call::Arr dst = c.floatArray(14, forward ? "cols" : "x");
    c.sameDtype(src, dst);
    const i128 imageSize = i128(C) * H * W;
    const i128 colsSize = i128(C) * kh * kw * oH * oW;
    const i128 limit = i128(kMaxInt);
    if (imageSize > limit || colsSize > limit || i128(oH) * sH > limit || i128(oW) * sW > limit ||
        i128(kh) * dH > limit || i128(kw) * dW > limit || pH > limit / 4 || pW > limit / 4) {
      c.rangeError("sizes too large");
    }
    const Call::Arr& image = forward ? src : dst;
    const Call::Arr& cols = forward ? dst : src;
    if (colsSize == 0) return undefinedValue(env);
    c.needs(image, imageSize);
    c.needs(cols, colsSize);
    if (src.f64) {
      if (forward) im2colKernel<double>(static_cast<const double*>(src.data), C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, static_cast<double*>(dst.data));
      else col2imKernel<double>(static_cast<const double*>(src.data), C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, static_cast<double*>(dst.data));
    } else {
      if (forward) im2colKernel<float>(static_cast<const float*>(src.data), C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, static_cast<float*>(dst.data));
      else col2imKernel<float>(static_cast<const float*>(src.data), C, H, W, kh, kw, sH, sW, pH, pW, dH, dW, oH, oW, static_cast<float*>(dst.data));
    }
    return undefinedValue(env);
  });
}
napi_value Im2col(napi_env env, napi_callback_info info) { return Conv(env, info, true); }
napi_value Col2im(napi_env env, napi_callback_info info) { return Conv(env, info, false); }

// ---------------------------------------------------------------------------------------------
// Dense linear algebra: n x n row-major matrices; every array must hold at least the elements
// the sizes imply (n*n, n*m, n), one dtype per call.

napi_value Cholesky(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "cholesky", 3);
    const int64_t n = c.integer(0, "n");
    const Call::Arr a = c.floatArray(1, "a"), l = c.floatArray(2, "l");
    c.sameDtype(a, l);
    const i128 nn = i128(n) * n;
    c.needs(a, nn);
    c.needs(l, nn);
    const bool ok = a.f64 ? choleskyKernel<double>(n, static_cast<const double*>(a.data), static_cast<double*>(l.data))
                          : choleskyKernel<float>(n, static_cast<const float*>(a.data), static_cast<float*>(l.data));
    napi_value v;
    napi_get_boolean(env, ok, &v);
    return v;
  });
}

napi_value SolveTriangular(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "solveTriangular", 8);
    const int64_t n = c.integer(0, "n"), m = c.integer(1, "m");
    const Call::Arr t = c.floatArray(2, "t"), b = c.floatArray(3, "b"), x = c.floatArray(4, "x");
    const bool lower = c.boolean(5, "lower"), transpose = c.boolean(6, "transpose");
    const bool unit = c.boolean(7, "unitDiagonal");
    c.sameDtype(t, b);
    c.sameDtype(t, x);
    const i128 nm = i128(n) * m;
    if (nm == 0) return undefinedValue(env);
    c.needs(t, i128(n) * n);
    c.needs(b, nm);
    c.needs(x, nm);
    if (t.f64) {
      solveTriangularKernel<double>(n, m, static_cast<const double*>(t.data), static_cast<const double*>(b.data),
                                    static_cast<double*>(x.data), lower, transpose, unit);
    } else {
      solveTriangularKernel<float>(n, m, static_cast<const float*>(t.data), static_cast<const float*>(b.data),
                                   static_cast<float*>(x.data), lower, transpose, unit);
    }
    return undefinedValue(env);
  });
}

napi_value EighImpl(napi_env env, napi_callback_info info, EighMethod method) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, method == EighMethod::kJacobi ? "eighJacobi" : method == EighMethod::kQl ? "eighQl" : "eigh", 4);
    const int64_t n = c.integer(0, "n");
    const Call::Arr a = c.floatArray(1, "a"), w = c.floatArray(2, "w"), v = c.floatArray(3, "v");
    c.sameDtype(a, w);
    c.sameDtype(a, v);
    const i128 nn = i128(n) * n;
    c.needs(a, nn);
    c.needs(w, n);
    c.needs(v, nn);
    if (n == 0) return undefinedValue(env);
    if (a.f64) {
      eighKernel<double>(n, static_cast<const double*>(a.data), static_cast<double*>(w.data),
                         static_cast<double*>(v.data), method);
    } else {
      eighKernel<float>(n, static_cast<const float*>(a.data), static_cast<float*>(w.data), static_cast<float*>(v.data),
                        method);
    }
    return undefinedValue(env);
  });
}
napi_value Eigh(napi_env env, napi_callback_info info) { return EighImpl(env, info, EighMethod::kAuto); }
napi_value EighQl(napi_env env, napi_callback_info info) { return EighImpl(env, info, EighMethod::kQl); }
napi_value EighJacobi(napi_env env, napi_callback_info info) { return EighImpl(env, info, EighMethod::kJacobi); }
napi_value EighMerges(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_double(env, double(divideConquerMerges()), &v);
  return v;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "setThreads", 1);
    const double v = c.number(0, "n");
    if (std::isnan(v)) c.rangeError("n must be a number, got NaN");
    const double clamped = v < 1 ? 1 : v > poolMaxThreads() ? poolMaxThreads() : std::floor(v);
    poolSetThreads(int(clamped));
    return undefinedValue(env);
  });
}

napi_value GetThreads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, poolThreads(), &v);
  return v;
}

napi_value MaxThreads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, poolMaxThreads(), &v);
  return v;
}

napi_value Simd(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_string_utf8(env, gemmIsaName(), NAPI_AUTO_LENGTH, &v);
  return v;
}

// selectIsa(name): 'avx512' | 'avx2' | 'scalar' | 'auto'; returns false if unavailable here.
napi_value SelectIsa(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "selectIsa", 1);
    const std::string name = c.string(0, "name");
    napi_value v;
    napi_get_boolean(env, gemmSelectIsa(name.c_str()), &v);
    return v;
  });
}

napi_value ElementwiseIsa(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_string_utf8(env, elementwiseIsaName(), NAPI_AUTO_LENGTH, &v);
  return v;
}

// selectElementwiseIsa(name): 'avx512' | 'avx2' | 'scalar' | 'auto'; false if unavailable here.
napi_value SelectElementwiseIsa(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "selectElementwiseIsa", 1);
    const std::string name = c.string(0, "name");
    napi_value v;
    napi_get_boolean(env, elementwiseSelectIsa(name.c_str()), &v);
    return v;
  });
}

// allocateLarge(bytes): a zero-filled ArrayBuffer of at least `bytes` bytes, mapped on its own
// 2 MiB boundary and advised to use transparent huge pages. On this project's VMs a first touch
// costs about 3 ms per MiB in 4 KiB faults (a fresh 40 MiB of activations: ~120 ms) and ~0.1 ms
// per MiB in huge pages. The mapping is released when V8 collects the buffer. Returns null
// where the mapping fails (the caller falls back to an ordinary typed array).
constexpr size_t kHuge = size_t(2) << 20;
struct Mapping {
  void* base;
  size_t length;
};
// Bytes in those mappings now: mapped and not yet unmapped. Node runs an external buffer's
// finalizer from the event loop, not when the collector frees the buffer, so a synchronous loop
// that leaves large results to the collector keeps every one of them mapped until it yields
// (200 matmuls of 1024² float32: 869 MiB resident, 89 MiB after one tick). The tensor layer
// reads this count and stops asking for mappings while too much of it is unaccounted for.
int64_t g_mappedBytes = 0;  // touched on the JS thread only (allocation and finalizers)
#ifdef HESSIAN_HAVE_MMAP
void unmapLarge(napi_env env, void*, void* hint) {
  Mapping* m = static_cast<Mapping*>(hint);
  int64_t adjusted;
  napi_adjust_external_memory(env, -int64_t(m->length), &adjusted);
  munmap(m->base, m->length);
  g_mappedBytes -= int64_t(m->length);
  delete m;
}
#endif
napi_value AllocateLarge(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "allocateLarge", 1);
    const double want = c.number(0, "bytes");
    if (!(want >= 1 && want <= 1099511627776.0) || std::floor(want) != want) c.rangeError("bytes must be an integer in [1, 2^40]");
#ifndef HESSIAN_HAVE_MMAP
    return nullValue(env);
#else
    const size_t bytes = size_t(want);
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    const size_t length = rounded + kHuge;  // room to align the start to 2 MiB
    void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullValue(env);
    char* start = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(base) + kHuge - 1) & ~uintptr_t(kHuge - 1));
#ifdef MADV_HUGEPAGE
    madvise(start, rounded, MADV_HUGEPAGE);
#endif
    Mapping* m = new Mapping{base, length};
    napi_value ab;
    if (napi_create_external_arraybuffer(env, start, bytes, unmapLarge, m, &ab) != napi_ok) {
      munmap(base, length);
      delete m;
      return nullValue(env);
    }
    int64_t adjusted;
    napi_adjust_external_memory(env, int64_t(length), &adjusted);
    g_mappedBytes += int64_t(length);
    return ab;
#endif
  });
}

// allocateHeap(bytes): a zero-filled ArrayBuffer of `bytes` bytes from V8's own allocator (the C
// heap, or glibc's mmap above its threshold), with the whole 2 MiB pages inside it advised to
// use huge pages before anything touches them. Unlike allocateLarge's mappings, the collector
// frees it at once, so a synchronous loop that leaves large results to the collector reuses the
// same heap memory instead of holding a mapping per result until the loop yields. The advice
// stays on the heap range, so pages that malloc_trim returned fault back in as huge pages too.
napi_value AllocateHeap(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "allocateHeap", 1);
    const double want = c.number(0, "bytes");
    if (!(want >= 1 && want <= 1099511627776.0) || std::floor(want) != want) c.rangeError("bytes must be an integer in [1, 2^40]");
    void* data = nullptr;
    napi_value ab;
    if (napi_create_arraybuffer(env, size_t(want), &data, &ab) != napi_ok) return nullValue(env);
#if defined(HESSIAN_HAVE_MMAP) && defined(MADV_HUGEPAGE)
    const uintptr_t lo = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~uintptr_t(kHuge - 1);
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(data) + size_t(want)) & ~uintptr_t(kHuge - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#endif
    return ab;
  });
}

// mappedBytes(): bytes in allocateLarge's mappings now, including those of buffers the collector
// has freed whose finalizer has not run yet.
napi_value MappedBytes(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_double(env, double(g_mappedBytes), &v);
  return v;
}

// At load: fix glibc's mmap threshold at 32 MiB and its top-trim threshold at 64 MiB, the values
// its own dynamic tuning converges to once a 32 MiB buffer has been freed. Why: small results made
// outside scopes are views into 64 KiB slabs that the garbage collector frees in bursts; with the
// default 128 KiB trim threshold every burst shrank the heap and the next slabs page-faulted it
// back (0.2-0.4 us of system time per 20x20 add; medians of add and tanh 1.1-1.7x their best
// call in `npm run bench:overhead`). Memory is still returned: malloc_trim runs from
// the pool's windows (memory.ts). A process that set MALLOC_TRIM_THRESHOLD_,
// MALLOC_MMAP_THRESHOLD_ or GLIBC_TUNABLES keeps its own choice. Returns whether it applied.
bool TuneMalloc() {
#ifdef __GLIBC__
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr || std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr ||
      std::getenv("GLIBC_TUNABLES") != nullptr)
    return false;
  return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1;
#else
  return false;
#endif
}

// releaseFreeMemory(): hand the C heap's free pages back to the system (glibc's malloc_trim,
// which also releases whole free pages inside the heap, not only its top); true where done.
// Typed arrays under glibc's mmap threshold live in that heap; after a step that needed many of
// them (Hessian-free's longest CG run) and the pool dropped them, the heap otherwise keeps its
// high-water mark resident for the rest of the process.
napi_value ReleaseFreeMemory(napi_env env, napi_callback_info) {
  bool done = false;
#ifdef __GLIBC__
  malloc_trim(0);
  done = true;
#endif
  napi_value v;
  napi_get_boolean(env, done, &v);
  return v;
}


// ---------------------------------------------------------------------------------------------
// Programs: a jit plan's kernel steps, validated once and replayed by one call per run of
// consecutive steps, instead of one N-API crossing (argument checks, op lookup, typed-array
// inspection: ~1 µs) per step. Each instruction calls the same kernel template with the same
// arguments as the step's own entry point above, so a replay gives the same bits.
//
// programCreate(code: Float64Array, slotLengths: Float64Array, slotF64: Uint8Array)
//   code: instructions, each [opcode, fields...] (see Instr below); slot indices < slots.
//   Every extent an instruction touches is checked against slotLengths here, once; at run
//   time each array handed in must have its slot's dtype and at least its slot's length.
// programBind(prog, slot, array): a slot whose array stays the same across runs (constants,
//   the plan's own buffers); the program holds a reference to it.
// programRun(prog, from, to, vars: array of Float32Array/Float64Array, varSlots: Int32Array):
//   runs instructions [from, to) with the per-run arrays vars[i] in slots varSlots[i]; the
//   per-run slots are cleared afterwards (no pointer outlives the call).
enum class Opcode : int64_t { unary = 1, binary = 2, gemm = 3, unaryGrad = 4, reduce = 5, copyStrided = 6 };

struct Instr {
  Opcode code;
  bool f64;
  int64_t op = 0;
  int64_t in0 = -1, in1 = -1, out = -1;
  int64_t n = 0;                   // unary, unaryGrad: element count
  bool tA = false, tB = false;     // gemm
  int64_t m = 0, nn = 0, k = 0, lda = 0, ldb = 0;
  int64_t outer = 0, inner = 0;    // reduce (n is the reduced length)
  bool zeroFirst = false;          // reduce: out[0..outer*inner) = 0 first (as eager's zero-filled buffer)
  int nd = 0;                      // binary, copyStrided
  std::vector<int64_t> shape, as, bs;
};

struct Program {
  std::vector<Instr> instrs;
  std::vector<int64_t> slotLength;
  std::vector<uint8_t> slotF64;
  std::vector<void*> ptr;
  std::vector<napi_ref> refs;
};

void programFinalize(napi_env env, void* data, void*) {
  Program* p = static_cast<Program*>(data);
  for (napi_ref r : p->refs) {
    if (r != nullptr) napi_delete_reference(env, r);
  }
  delete p;
}

Program* programArg(const Call& c, size_t i) {
  napi_valuetype t = c.typeOf(i);
  if (t != napi_external) c.typeError("program must be a program handle");
  void* data = nullptr;
  napi_get_value_external(c.env, c.argv[i], &data);
  if (data == nullptr) c.typeError("program must be a program handle");
  return static_cast<Program*>(data);
}

template <typename T>
const T* typedArrayData(const Call& c, size_t i, napi_typedarray_type want, size_t* length, const char* what) {
  bool is = false;
  napi_is_typedarray(c.env, c.argv[i], &is);
  if (!is) c.typeError(std::string(what) + " must be a typed array");
  napi_typedarray_type t;
  void* data = nullptr;
  napi_value ab;
  size_t off = 0;
  napi_get_typedarray_info(c.env, c.argv[i], &t, length, &data, &ab, &off);
  if (t != want) c.typeError(std::string(what) + " has the wrong typed-array type");
  return static_cast<const T*>(data);
}

napi_value ProgramCreate(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "programCreate", 3);
    size_t codeLen = 0, nSlots = 0, nF64 = 0;
    const double* code = typedArrayData<double>(c, 0, napi_float64_array, &codeLen, "code");
    const double* lens = typedArrayData<double>(c, 1, napi_float64_array, &nSlots, "slotLengths");
    const uint8_t* f64s = typedArrayData<uint8_t>(c, 2, napi_uint8_array, &nF64, "slotF64");
    if (nF64 != nSlots) c.rangeError("slotF64 and slotLengths differ in length");
    auto* p = new Program();
    std::unique_ptr<Program> owner(p);
    p->slotLength.resize(nSlots);
    p->slotF64.assign(f64s, f64s + nSlots);
    for (size_t i = 0; i < nSlots; i++) p->slotLength[i] = c.integerValue(lens[i], "slot length", 0, kMaxInt);
    p->ptr.assign(nSlots, nullptr);
    p->refs.assign(nSlots, nullptr);
    size_t pc = 0;
    auto next = [&](const char* what, double lo, double hi) -> int64_t {
      if (pc >= codeLen) c.rangeError("code ends inside an instruction");
      return c.integerValue(code[pc++], what, lo, hi);
    };
    auto slot = [&](Instr& ins, const char* what) -> int64_t {
      const int64_t s = next(what, 0, double(nSlots) - 1);
      if (bool(p->slotF64[size_t(s)]) != ins.f64) c.typeError(std::string(what) + " slot has another dtype than the instruction");
      return s;
    };
    auto need = [&](int64_t s, i128 elements, const char* what) {
      if (elements > i128(p->slotLength[size_t(s)])) c.rangeError(std::string(what) + " slot is shorter than the instruction reads or writes");
    };
    while (pc < codeLen) {
      Instr ins;
      ins.code = Opcode(next("opcode", 1, 6));
      ins.f64 = next("dtype", 0, 1) == 1;
      switch (ins.code) {
        case Opcode::unary:
          ins.op = next("unary op", 0, double(std::size(kUnaryNames)) - 1);
          ins.in0 = slot(ins, "x");
          ins.out = slot(ins, "out");
          ins.n = next("n", 0, kMaxInt);
          need(ins.in0, ins.n, "x");
          need(ins.out, ins.n, "out");
          break;
        case Opcode::unaryGrad:
          ins.op = next("unaryGrad op", 0, double(std::size(kUnaryGradNames)) - 1);
          ins.in0 = slot(ins, "v");
          ins.in1 = slot(ins, "g");
          ins.out = slot(ins, "out");
          ins.n = next("n", 0, kMaxInt);
          need(ins.in0, ins.n, "v");
          need(ins.in1, ins.n, "g");
          need(ins.out, ins.n, "out");
          break;
        case Opcode::binary: {
          ins.op = next("binary op", 0, double(std::size(kBinaryNames)) - 1);
          ins.in0 = slot(ins, "a");
          ins.in1 = slot(ins, "b");
          ins.out = slot(ins, "out");
          ins.nd = int(next("nd", 1, kMaxDims));
          i128 total = 1, hiA = 0, hiB = 0;
          for (int d = 0; d < ins.nd; d++) ins.shape.push_back(next("shape", 0, kMaxInt));
          for (int d = 0; d < ins.nd; d++) ins.as.push_back(next("aStrides", 0, kMaxInt));
          for (int d = 0; d < ins.nd; d++) ins.bs.push_back(next("bStrides", 0, kMaxInt));
          for (int d = 0; d < ins.nd; d++) {
            total *= ins.shape[d];
            if (total > i128(kMaxInt)) c.rangeError("binary shape too large");
            if (ins.shape[d] > 0) {
              hiA += i128(ins.shape[d] - 1) * ins.as[d];
              hiB += i128(ins.shape[d] - 1) * ins.bs[d];
            }
          }
          if (total > 0) {
            need(ins.in0, hiA + 1, "a");
            need(ins.in1, hiB + 1, "b");
          }
          need(ins.out, total, "out");
          ins.n = int64_t(total);
          break;
        }
        case Opcode::gemm: {
          ins.tA = next("transA", 0, 1) == 1;
          ins.tB = next("transB", 0, 1) == 1;
          ins.m = next("m", 0, kMaxInt);
          ins.nn = next("n", 0, kMaxInt);
          ins.k = next("k", 0, kMaxInt);
          ins.in0 = slot(ins, "a");
          ins.lda = next("lda", 0, kMaxInt);
          ins.in1 = slot(ins, "b");
          ins.ldb = next("ldb", 0, kMaxInt);
          ins.out = slot(ins, "c");
          const int64_t rowsA = ins.tA ? ins.k : ins.m, colsA = ins.tA ? ins.m : ins.k;
          const int64_t rowsB = ins.tB ? ins.nn : ins.k, colsB = ins.tB ? ins.k : ins.nn;
          if (ins.lda < colsA || ins.ldb < colsB) c.rangeError("gemm leading dimension too small");
          if (ins.m > 0 && ins.nn > 0) {
            need(ins.in0, matrixExtent(1, 0, rowsA, colsA, ins.lda), "a");
            need(ins.in1, matrixExtent(1, 0, rowsB, colsB, ins.ldb), "b");
            need(ins.out, i128(ins.m) * ins.nn, "c");
          }
          break;
        }
        case Opcode::reduce:
          ins.op = next("reduce op", 0, double(std::size(kReduceNames)) - 1);
          ins.in0 = slot(ins, "x");
          ins.outer = next("outer", 0, kMaxInt);
          ins.n = next("n", 1, kMaxInt);
          ins.inner = next("inner", 0, kMaxInt);
          ins.out = slot(ins, "out");
          ins.zeroFirst = next("zeroFirst", 0, 1) == 1;
          need(ins.in0, i128(ins.outer) * ins.inner * ins.n, "x");
          need(ins.out, i128(ins.outer) * ins.inner, "out");
          break;
        case Opcode::copyStrided: {
          ins.in0 = slot(ins, "x");
          ins.out = slot(ins, "out");
          ins.nd = int(next("nd", 1, kMaxDims));
          i128 total = 1, hi = 0;
          for (int d = 0; d < ins.nd; d++) ins.shape.push_back(next("shape", 0, kMaxInt));
          for (int d = 0; d < ins.nd; d++) ins.as.push_back(next("strides", 0, kMaxInt));
          for (int d = 0; d < ins.nd; d++) {
            total *= ins.shape[d];
            if (total > i128(kMaxInt)) c.rangeError("copyStrided shape too large");
            if (ins.shape[d] > 0) hi += i128(ins.shape[d] - 1) * ins.as[d];
          }
          if (total > 0) need(ins.in0, hi + 1, "x");
          need(ins.out, total, "out");
          ins.n = int64_t(total);
          break;
        }
      }
      p->instrs.push_back(std::move(ins));
    }
    napi_value ext;
    if (napi_create_external(env, p, programFinalize, nullptr, &ext) != napi_ok) c.typeError("cannot create the program handle");
    owner.release();
    return ext;
  });
}

// Binds `array` to `slot` after checking its dtype and length; returns nothing.
void bindSlot(const Call& c, Program* p, size_t argIndex, int64_t slot, bool keep) {
  const Call::Arr a = c.floatArray(argIndex, "array");
  if (a.f64 != bool(p->slotF64[size_t(slot)])) c.typeError("array has another dtype than its slot");
  if (i128(a.length) < i128(p->slotLength[size_t(slot)])) c.rangeError("array is shorter than its slot");
  // An empty array may have no data pointer; the instructions touch none of its elements
  // (checked at creation), so any non-null address marks the slot as bound.
  alignas(64) static double empty[8];
  p->ptr[size_t(slot)] = a.data != nullptr ? a.data : static_cast<void*>(empty);
  if (keep) {
    if (p->refs[size_t(slot)] != nullptr) napi_delete_reference(c.env, p->refs[size_t(slot)]);
    napi_create_reference(c.env, c.argv[argIndex], 1, &p->refs[size_t(slot)]);
  }
}

napi_value ProgramBind(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "programBind", 3);
    Program* p = programArg(c, 0);
    const int64_t slot = c.integer(1, "slot", 0, double(p->ptr.size()) - 1);
    bindSlot(c, p, 2, slot, true);
    return undefinedValue(env);
  });
}

template <typename T>
void runInstr(const Instr& ins, void* const* ptr) {
  const T* a = static_cast<const T*>(ptr[ins.in0]);
  T* out = static_cast<T*>(ptr[ins.out]);
  switch (ins.code) {
    case Opcode::unary:
      unaryKernel<T>(UnaryOp(ins.op), a, out, ins.n);
      break;
    case Opcode::unaryGrad:
      unaryGradKernel<T>(UnaryGradOp(ins.op), a, static_cast<const T*>(ptr[ins.in1]), out, ins.n);
      break;
    case Opcode::binary:
      if (ins.n > 0) binaryKernel<T>(BinaryOp(ins.op), a, ins.as.data(), static_cast<const T*>(ptr[ins.in1]), ins.bs.data(), out, ins.shape.data(), ins.nd);
      break;
    case Opcode::gemm:
      if (ins.m > 0 && ins.nn > 0) {
        gemmBatched<T>(ins.tA, ins.tB, ins.m, ins.nn, ins.k, T(1), a, ins.lda, 0, static_cast<const T*>(ptr[ins.in1]), ins.ldb, 0,
                       T(0), out, ins.nn, ins.m * ins.nn, 1);
      }
      break;
    case Opcode::reduce:
      if (ins.zeroFirst) std::memset(out, 0, size_t(ins.outer * ins.inner) * sizeof(T));
      if (ins.outer * ins.inner > 0) reduceKernel<T>(ReduceOp(ins.op), a, ins.outer, ins.n, ins.inner, out);
      break;
    case Opcode::copyStrided:
      if (ins.n > 0) copyStridedKernel<T>(a, ins.as.data(), out, ins.shape.data(), ins.nd);
      break;
  }
}

napi_value ProgramRun(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Call c(env, info, "programRun", 5);
    Program* p = programArg(c, 0);
    const int64_t from = c.integer(1, "from", 0, double(p->instrs.size()));
    const int64_t to = c.integer(2, "to", double(from), double(p->instrs.size()));
    bool isArr = false;
    napi_is_array(env, c.argv[3], &isArr);
    if (!isArr) c.typeError("vars must be an array of typed arrays");
    uint32_t nVars = 0;
    napi_get_array_length(env, c.argv[3], &nVars);
    size_t nSlots = 0;
    const int32_t* varSlots = typedArrayData<int32_t>(c, 4, napi_int32_array, &nSlots, "varSlots");
    if (nSlots != nVars) c.rangeError("vars and varSlots differ in length");
    // Per-run slots: set, run, cleared again whatever happens.
    std::vector<std::pair<int64_t, void*>> saved;
    saved.reserve(nVars);
    struct Restore {
      Program* p;
      std::vector<std::pair<int64_t, void*>>& saved;
      ~Restore() {
        for (auto it = saved.rbegin(); it != saved.rend(); ++it) p->ptr[size_t(it->first)] = it->second;
      }
    } restore{p, saved};
    for (uint32_t i = 0; i < nVars; i++) {
      const int64_t s = varSlots[i];
      if (s < 0 || size_t(s) >= p->ptr.size()) c.rangeError("varSlots holds a slot out of range");
      napi_value v;
      napi_get_element(env, c.argv[3], i, &v);
      c.argv[19] = v;
      saved.emplace_back(s, p->ptr[size_t(s)]);
      bindSlot(c, p, 19, s, false);
    }
    for (int64_t i = from; i < to; i++) {
      const Instr& ins = p->instrs[size_t(i)];
      if (p->ptr[size_t(ins.in0)] == nullptr || p->ptr[size_t(ins.out)] == nullptr ||
          (ins.in1 >= 0 && p->ptr[size_t(ins.in1)] == nullptr)) {
        c.rangeError("instruction " + std::to_string(i) + " reads or writes a slot that has no array");
      }
      if (ins.f64) runInstr<double>(ins, p->ptr.data());
      else runInstr<float>(ins, p->ptr.data());
    }
    return undefinedValue(env);
  });
}

}  // namespace
}  // namespace hessian

NAPI_MODULE_INIT() {
  using namespace hessian;
  struct Fn {
    const char* name;
    napi_callback cb;
  };
  const Fn fns[] = {
      {"gemm", Gemm},           {"unary", Unary},         {"binary", Binary},         {"axpby", Axpby},
      {"dot", Dot},             {"reduce", Reduce},       {"softmax", Softmax},       {"copyStrided", CopyStrided},
      {"im2col", Im2col},       {"col2im", Col2im},       {"setThreads", SetThreads}, {"getThreads", GetThreads},
      {"maxThreads", MaxThreads}, {"simd", Simd},         {"selectIsa", SelectIsa},
      {"cholesky", Cholesky},   {"solveTriangular", SolveTriangular}, {"eigh", Eigh}, {"eighJacobi", EighJacobi},
      {"eighQl", EighQl},       {"eighMerges", EighMerges},
      {"unaryGrad", UnaryGrad}, {"unaryReference", UnaryReference}, {"elementwiseIsa", ElementwiseIsa},
      {"selectElementwiseIsa", SelectElementwiseIsa}, {"allocateLarge", AllocateLarge}, {"mappedBytes", MappedBytes}, {"allocateHeap", AllocateHeap},
      {"releaseFreeMemory", ReleaseFreeMemory}, {"programCreate", ProgramCreate}, {"programBind", ProgramBind},
      {"programRun", ProgramRun},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn) != napi_ok) return nullptr;
    if (napi_set_named_property(env, exports, f.name, fn) != napi_ok) return nullptr;
  }
  napi_value tuned;
  napi_get_boolean(env, TuneMalloc(), &tuned);
  napi_set_named_property(env, exports, "mallocTuned", tuned);
  napi_value abi;
  napi_create_int32(env, 3, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}

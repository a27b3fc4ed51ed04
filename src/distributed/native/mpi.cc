// N-API binding of the few MPI calls data parallelism needs (Open MPI): init, rank/size,
// in-place sum all-reduce, broadcast, variable-size all-gather, barrier, abort, finalize.
// Typed arrays are passed to MPI as they are (their own storage, no copies). Every MPI call
// runs with MPI_ERRORS_RETURN on the communicator, so a failure comes back as a JS Error whose
// message names the call ("hessian mpi MPI_Bcast: ..."), instead of aborting the process.
// Built into build/native/hessian-mpi.node by scripts/build-mpi.mjs, only where mpicxx exists.
#include <dlfcn.h>
#include <mpi.h>
#include <node_api.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct JsError {
  std::string message;
};

[[noreturn]] void fail(const std::string& call, const std::string& msg) { throw JsError{"hessian mpi " + call + ": " + msg}; }

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = std::snprintf(text, sizeof text, "error code %d", rc);
  fail(call, std::string(text, size_t(len)));
}

bool initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  int done = 0;
  MPI_Finalized(&done);
  return flag != 0 && done == 0;
}

struct Args {
  napi_env env;
  const char* name;
  size_t argc = 8;
  napi_value argv[8];
  Args(napi_env e, napi_callback_info info, const char* fn, size_t expected) : env(e), name(fn) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) fail(name, "cannot read arguments");
    if (argc != expected) fail(name, "expected " + std::to_string(expected) + " arguments, got " + std::to_string(argc));
  }
  // A Float32Array or Float64Array: its data pointer, length and MPI datatype.
  void* floats(size_t i, size_t* length, MPI_Datatype* type) const {
    bool is = false;
    napi_is_typedarray(env, argv[i], &is);
    if (!is) fail(name, "argument " + std::to_string(i) + " must be a Float32Array or Float64Array");
    napi_typedarray_type t;
    void* data = nullptr;
    napi_get_typedarray_info(env, argv[i], &t, length, &data, nullptr, nullptr);
    if (t == napi_float64_array) *type = MPI_DOUBLE;
    else if (t == napi_float32_array) *type = MPI_FLOAT;
    else fail(name, "argument " + std::to_string(i) + " must be a Float32Array or Float64Array");
    if (*length > size_t(INT32_MAX)) fail(name, "arrays longer than 2^31-1 elements are not supported");
    return data;
  }
  int integer(size_t i, const char* what) const {
    int32_t v = 0;
    if (napi_get_value_int32(env, argv[i], &v) != napi_ok) fail(name, std::string(what) + " must be an integer");
    return v;
  }
  void needInit() const {
    if (!initialized()) fail(name, "MPI is not initialized (call init() first) or was finalized");
  }
};

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

template <typename F>
napi_value guard(napi_env env, F&& body) {
  try {
    return body();
  } catch (const JsError& e) {
    napi_throw_error(env, nullptr, e.message.c_str());
    return nullptr;
  }
}

int commSize() {
  int s = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// init(): MPI_Init_thread once; returns [rank, size].
napi_value Init(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args a(env, info, "MPI_Init", 0);
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
      // Open MPI loads its transport plugins with dlopen; they resolve symbols of libmpi, which
      // Node loaded privately with this addon. Promote it to the global namespace first.
      dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SINGLE, &provided), "MPI_Init_thread");
      check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    }
    a.needInit();
    int rank = 0;
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
    napi_value out, r, s;
    napi_create_array_with_length(env, 2, &out);
    napi_create_int32(env, rank, &r);
    napi_create_int32(env, commSize(), &s);
    napi_set_element(env, out, 0, r);
    napi_set_element(env, out, 1, s);
    return out;
  });
}

// allReduceSum(array): every rank ends with the elementwise sum, bit-identical on all ranks:
// one rank reduces and broadcasts, so no rank sums in a different order than another.
napi_value AllReduceSum(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args a(env, info, "MPI_Allreduce", 1);
    a.needInit();
    size_t n;
    MPI_Datatype t;
    void* data = a.floats(0, &n, &t);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    check(MPI_Reduce(rank == 0 ? MPI_IN_PLACE : data, rank == 0 ? data : nullptr, int(n), t, MPI_SUM, 0, MPI_COMM_WORLD), "MPI_Reduce");
    check(MPI_Bcast(data, int(n), t, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return undefinedValue(env);
  });
}

// broadcast(array, root): root's values into every rank's array.
napi_value Broadcast(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args a(env, info, "MPI_Bcast", 2);
    a.needInit();
    size_t n;
    MPI_Datatype t;
    void* data = a.floats(0, &n, &t);
    int root = a.integer(1, "root");
    if (root < 0 || root >= commSize()) fail("MPI_Bcast", "root " + std::to_string(root) + " is not a rank of a world of " + std::to_string(commSize()));
    check(MPI_Bcast(data, int(n), t, root, MPI_COMM_WORLD), "MPI_Bcast");
    return undefinedValue(env);
  });
}

// allGather(send, recv, counts): rank r's `counts[r]` values, concatenated in rank order.
napi_value AllGather(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args a(env, info, "MPI_Allgatherv", 3);
    a.needInit();
    size_t ns, nr;
    MPI_Datatype ts, tr;
    void* send = a.floats(0, &ns, &ts);
    void* recv = a.floats(1, &nr, &tr);
    if (ts != tr) fail("MPI_Allgatherv", "send and receive arrays differ in dtype");
    int p = commSize();
    uint32_t len = 0;
    bool isArray = false;
    napi_is_array(env, a.argv[2], &isArray);
    if (!isArray) fail("MPI_Allgatherv", "counts must be an array of integers, one per rank");
    napi_get_array_length(env, a.argv[2], &len);
    if (int(len) != p) fail("MPI_Allgatherv", "counts has " + std::to_string(len) + " entries for " + std::to_string(p) + " ranks");
    std::vector<int> counts(p), displs(p);
    int64_t total = 0;
    for (int r = 0; r < p; r++) {
      napi_value v;
      napi_get_element(env, a.argv[2], uint32_t(r), &v);
      int32_t c = -1;
      if (napi_get_value_int32(env, v, &c) != napi_ok || c < 0) fail("MPI_Allgatherv", "counts[" + std::to_string(r) + "] must be a non-negative integer");
      counts[r] = c;
      displs[r] = int(total);
      total += c;
    }
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (size_t(counts[rank]) != ns) fail("MPI_Allgatherv", "this rank sends " + std::to_string(ns) + " values but counts says " + std::to_string(counts[rank]));
    if (total > int64_t(nr) || total > INT32_MAX) fail("MPI_Allgatherv", "receive array holds " + std::to_string(nr) + " values, needs " + std::to_string(total));
    check(MPI_Allgatherv(send, int(ns), ts, recv, counts.data(), displs.data(), tr, MPI_COMM_WORLD), "MPI_Allgatherv");
    return undefinedValue(env);
  });
}

napi_value Barrier(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args a(env, info, "MPI_Barrier", 0);
    a.needInit();
    check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
    return undefinedValue(env);
  });
}

// abort(code): ends every rank of the job (after an error on one rank that others wait on).
napi_value Abort(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args a(env, info, "MPI_Abort", 1);
    int code = a.integer(0, "code");
    if (initialized()) MPI_Abort(MPI_COMM_WORLD, code);
    return undefinedValue(env);
  });
}

napi_value Finalize(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args a(env, info, "MPI_Finalize", 0);
    if (initialized()) check(MPI_Finalize(), "MPI_Finalize");
    return undefinedValue(env);
  });
}

napi_value Wtime(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_double(env, MPI_Wtime(), &v);
  return v;
}

}  // namespace

NAPI_MODULE_INIT() {
  struct Fn {
    const char* name;
    napi_callback cb;
  };
  const Fn fns[] = {
      {"init", Init},           {"allReduceSum", AllReduceSum}, {"broadcast", Broadcast}, {"allGather", AllGather},
      {"barrier", Barrier},     {"abort", Abort},               {"finalize", Finalize},   {"wtime", Wtime},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn) != napi_ok) return nullptr;
    if (napi_set_named_property(env, exports, f.name, fn) != napi_ok) return nullptr;
  }
  napi_value abi;
  napi_create_int32(env, 1, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}

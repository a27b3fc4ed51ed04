// A small persistent thread pool: `threads() - 1` workers plus the calling thread.
#pragma once
#include <cstdint>
#include <functional>

namespace hessian {

// Number of threads parallel loops use now (1 = the calling thread only).
int poolThreads();
// Hardware threads available (std::thread::hardware_concurrency, at least 1).
int poolMaxThreads();
// Clamp n to [1, poolMaxThreads()] and use that many threads from now on.
void poolSetThreads(int n);

// Run fn(0), ..., fn(tasks - 1) across the pool; returns when all are done. The calling thread
// takes part. If another thread is using the pool at the same time (Node worker_threads), or
// `tasks` is 1, or the pool has one thread, everything runs on the calling thread.
void parallelFor(int tasks, const std::function<void(int)>& fn);

// Split [0, n) into `parts` nearly equal chunks, chunk boundaries multiples of `grain`.
inline void chunkRange(int64_t n, int parts, int part, int64_t grain, int64_t* lo, int64_t* hi) {
  const int64_t units = (n + grain - 1) / grain;
  const int64_t u0 = units * part / parts, u1 = units * (part + 1) / parts;
  *lo = u0 * grain < n ? u0 * grain : n;
  *hi = u1 * grain < n ? u1 * grain : n;
}

}  // namespace hessian

// Persistent thread pool. Workers wait for a new job generation, spinning briefly (so that
// back-to-back parallel kernels do not pay a futex wake-up each) before sleeping on a condition
// variable. The pool is created on first use and deliberately never destroyed: its threads are
// parked when the process exits.
#include "pool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HESSIAN_PAUSE() _mm_pause()
#else
#define HESSIAN_PAUSE() std::this_thread::yield()
#endif

namespace hessian {
namespace {

struct Pool {
  int maxThreads;
  std::atomic<int> threads;
  std::vector<std::thread> workers;

  std::mutex callMutex;  // one parallelFor at a time
  std::mutex m;
  std::condition_variable wake, done;
  // Job state, written under m before `generation` is bumped; stable while that generation's
  // tasks can still be claimed (the caller returns only after every task has finished).
  std::atomic<uint64_t> generation{0};
  const std::function<void(int)>* job = nullptr;
  int jobTasks = 0;
  int jobWorkers = 0;  // workers 0 .. jobWorkers-1 take part (threads() - 1 of them)
  // (generation << 32) | next task index. A task is claimed by a CAS that also checks the
  // generation, so a worker waking late for an old job can never claim a task of a newer one.
  std::atomic<uint64_t> ticket{0};
  std::atomic<int> finished{0};

  Pool() {
    unsigned hc = std::thread::hardware_concurrency();
    maxThreads = hc == 0 ? 1 : int(hc > 256 ? 256 : hc);
    threads.store(maxThreads);
  }

  void ensureWorkers() {
    // called with callMutex held
    while (int(workers.size()) < maxThreads - 1) {
      const int id = int(workers.size());
      workers.emplace_back([this, id] { loop(id); });
      workers.back().detach();
    }
  }

  // Claim and run tasks of generation `gen` until none is left.
  void runTasks(uint64_t gen, const std::function<void(int)>* fn, int tasks) {
    for (;;) {
      uint64_t t = ticket.load(std::memory_order_acquire);
      if ((t >> 32) != (gen & 0xffffffffu)) return;
      const int idx = int(t & 0xffffffffu);
      if (idx >= tasks) return;
      if (!ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) continue;
      (*fn)(idx);
      if (finished.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
        std::lock_guard<std::mutex> lk(m);
        done.notify_all();
      }
    }
  }

  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      // wait for a new generation: spin a little, then sleep
      for (int spin = 0; generation.load(std::memory_order_acquire) == seen && spin < 20000; spin++) HESSIAN_PAUSE();
      const std::function<void(int)>* fn;
      int tasks;
      bool mine;
      {
        std::unique_lock<std::mutex> lk(m);
        wake.wait(lk, [&] { return generation.load(std::memory_order_acquire) != seen; });
        seen = generation.load(std::memory_order_acquire);
        fn = job;
        tasks = jobTasks;
        mine = id < jobWorkers;
      }
      if (mine) runTasks(seen, fn, tasks);
    }
  }

  void parallel(int tasks, const std::function<void(int)>& fn) {
    const int nt = threads.load();
    if (tasks <= 1 || nt <= 1) {
      for (int t = 0; t < tasks; t++) fn(t);
      return;
    }
    std::unique_lock<std::mutex> call(callMutex, std::try_to_lock);
    if (!call.owns_lock()) {
      for (int t = 0; t < tasks; t++) fn(t);
      return;
    }
    ensureWorkers();
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lk(m);
      gen = generation.load(std::memory_order_relaxed) + 1;
      job = &fn;
      jobTasks = tasks;
      jobWorkers = nt - 1;
      finished.store(0, std::memory_order_relaxed);
      ticket.store((gen & 0xffffffffu) << 32, std::memory_order_release);
      generation.store(gen, std::memory_order_release);
    }
    // wake sleeping workers (spinning ones see the new generation by themselves)
    wake.notify_all();
    runTasks(gen, &fn, tasks);
    // Wait only for tasks a worker has claimed and not finished; a worker that has not woken
    // up yet does not hold the caller back (the caller ran every unclaimed task itself).
    for (int spin = 0; finished.load(std::memory_order_acquire) != tasks && spin < 200000; spin++) HESSIAN_PAUSE();
    if (finished.load(std::memory_order_acquire) != tasks) {
      std::unique_lock<std::mutex> lk(m);
      done.wait(lk, [&] { return finished.load(std::memory_order_acquire) == tasks; });
    }
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed (see above)
  return *p;
}

}  // namespace

int poolThreads() { return pool().threads.load(); }
int poolMaxThreads() { return pool().maxThreads; }
void poolSetThreads(int n) {
  Pool& p = pool();
  p.threads.store(n < 1 ? 1 : n > p.maxThreads ? p.maxThreads : n);
}
void parallelFor(int tasks, const std::function<void(int)>& fn) { pool().parallel(tasks, fn); }

}  // namespace hessian

#include "core/thread_pool.h"

#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace snep {

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < std::max(1, num_threads); ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> g(m_);
    stop_ = true;
    generation_++;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::work_on_current() {
  for (;;) {
    int64_t t = next_.fetch_add(1);
    if (t >= ntasks_) break;
    (*task_fn_)(t);
  }
}

void ThreadPool::worker_loop(int) {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little before sleeping: steps of one run follow each other closely.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < 20000) {
#if defined(__x86_64__)
      _mm_pause();
#endif
      ++spins;
    }
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return generation_.load() != seen; });
      seen = generation_.load();
      if (stop_) return;
    }
    work_on_current();
    active_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn) {
  if (ntasks <= 0) return;
  std::unique_lock<std::mutex> own(busy_, std::try_to_lock);
  if (ntasks == 1 || workers_.empty() || !own.owns_lock()) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  {
    std::lock_guard<std::mutex> g(m_);
    task_fn_ = &fn;
    ntasks_ = ntasks;
    next_.store(0);
    active_.store((int)workers_.size());
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  work_on_current();
  while (active_.load(std::memory_order_acquire) != 0) {
#if defined(__x86_64__)
    _mm_pause();
#endif
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t nt = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
  if (nt <= 1) { fn(0, n); return; }
  int64_t chunk = (n + nt - 1) / nt;
  run_tasks(nt, [&](int64_t t) {
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
  });
}

}  // namespace snep

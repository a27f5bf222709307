#include "core/thread_pool.h"

#include <algorithm>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace snep {

static inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < std::max(1, num_threads); ++i) workers_.emplace_back([this] { worker_loop(); });
  for (int i = 0; i < 4; ++i) spare_.push_back(std::make_shared<Job>());
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

void ThreadPool::work(Job& job) {
  for (;;) {
    int64_t t = job.next.fetch_add(1, std::memory_order_acq_rel);
    if (t >= job.ntasks) break;
    (*job.fn)(t);
    job.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little before sleeping: steps of one run follow each other closely.
    for (int spins = 0; generation_.load(std::memory_order_acquire) == seen && spins < 20000; ++spins) cpu_relax();
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return generation_.load() != seen; });
      seen = generation_.load();
      if (stop_) return;
      job = job_;
    }
    if (job) work(*job);
  }
}

std::shared_ptr<ThreadPool::Job> ThreadPool::fresh_job() {
  for (auto& j : spare_)
    if (j.use_count() == 1) return j;  // only the pool holds it: no worker is inside
  spare_.push_back(std::make_shared<Job>());
  return spare_.back();
}

void ThreadPool::run_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn) {
  if (ntasks <= 0) return;
  std::unique_lock<std::mutex> own(busy_, std::try_to_lock);
  if (ntasks == 1 || workers_.empty() || !own.owns_lock()) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> g(m_);
    job_.reset();
    job = fresh_job();
    job->fn = &fn;
    job->ntasks = ntasks;
    job->done.store(0, std::memory_order_relaxed);
    job->next.store(0, std::memory_order_release);
    job_ = job;
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  work(*job);
  while (job->done.load(std::memory_order_acquire) < ntasks) cpu_relax();
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

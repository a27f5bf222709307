// A small fork-join pool: parallel_for splits [0, n) over the session's threads.
// The caller thread takes part. When another run already holds the pool
// (concurrent run() calls on one session), the range runs on the caller alone,
// which is correct and avoids oversubscription.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace snep {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  int num_threads() const { return (int)workers_.size() + 1; }
  // fn(begin, end) over chunks of at least `grain` items.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  // fn(task) for task in [0, ntasks), one call per task.
  void run_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn);

 private:
  void worker_loop(int idx);
  void work_on_current();

  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the run that owns the workers
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0};
  bool stop_ = false;
  const std::function<void(int64_t)>* task_fn_ = nullptr;
  int64_t ntasks_ = 0;
  std::atomic<int64_t> next_{0};
};

}  // namespace snep

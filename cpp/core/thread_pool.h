// A small fork-join pool: parallel_for splits [0, n) over the session's threads.
// Each thread owns a contiguous share and runs it front to back in slices; a
// thread done with its share takes slices from the back of the others'. On a
// VM a core can run at half speed for a while (its host sibling busy), and a
// fixed split would wait for the slow one.
// Between jobs a worker spins before it sleeps: kShortSpinNs (the steps of one run follow
// each other closely), or the pool's linger time where that is longer (a session's plan
// lingers like onnxruntime's spinning workers, so the next run finds its workers awake; an
// idle vCPU comes back slow on a VM for several milliseconds); and not at all once another
// pool in the process has started a run or a job.
// The caller thread takes part and returns as soon as every task is done (it
// never waits for a slow-to-wake worker to check in). When another run
// already holds the pool (concurrent run() calls on one session), the range
// runs on the caller alone, which is correct and avoids oversubscription.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace snep {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  int num_threads() const { return (int)workers_.size() + 1; }
  // How long a worker keeps spinning after its last job (never less than kShortSpinNs).
  void set_linger_us(double us) { linger_ns_.store((int64_t)(us * 1e3), std::memory_order_relaxed); }
  static constexpr int64_t kShortSpinNs = 300000;
  // This pool's plan starts a run (any thread count): other pools' spinning workers sleep.
  void note_run() const;
  // fn(begin, end) over chunks of at least `grain` items.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
  // fn(task) for task in [0, ntasks), one call per task.
  void run_tasks(int64_t ntasks, const std::function<void(int64_t)>& fn);
  // fn(t) for t in [0, num_threads()), each on its own thread: every task waits (up to 20 ms)
  // until all have started, so an idle worker is woken and takes part instead of the caller
  // running its task too; afterwards every thread is awake (spinning), as inside a run. For
  // per-thread work such as flushing each core's L2. When another run holds the pool (a
  // shared pool), all tasks run on the caller without waiting.
  void run_on_each(const std::function<void(int)>& fn);
  // fn(item, w) for item in [0, n) over nw workers: worker w owns items [w n / nw, (w + 1) n / nw),
  // runs them in order, then takes items from the back of the others' shares. w < nw names the
  // worker (its scratch); no two calls with one w run at once.
  void run_owned(int64_t n, int nw, const std::function<void(int64_t, int)>& fn);
  // Parallel calls handed to the workers so far, and those in which a worker ran at least one
  // task (the rest ran on the caller alone: the workers asleep or still waking). A test reads
  // them to check that a timed plan's runs use all its threads.
  int64_t jobs_dispatched() const { return jobs_.load(std::memory_order_relaxed); }
  int64_t jobs_joined_by_workers() const { return joined_.load(std::memory_order_relaxed); }

 private:
  // One parallel call. Workers hold it by shared_ptr, so a worker that wakes
  // after the call returned only finds no task left; fn is never called then
  // (a claimed task keeps the caller waiting, and with it fn alive).
  struct Job {
    const std::function<void(int64_t)>* fn = nullptr;
    int64_t ntasks = 0;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    std::atomic<int> joined{0};  // tasks a worker ran (counted before they are marked done)
  };
  static void work(Job& job, bool by_worker);  // runs tasks until none is left
  void dispatch(int64_t ntasks, const std::function<void(int64_t)>& fn);  // busy_ held, ntasks > 1
  std::shared_ptr<Job> fresh_job();
  void worker_loop();

  void spin_before_sleep(uint64_t seen);

  std::atomic<int64_t> linger_ns_{0};
  std::atomic<int64_t> jobs_{0}, joined_{0};  // written by the caller only, once per parallel call
  bool steal_ = true;  // SNEP_POOL_STEAL=0: one fixed chunk per thread (for A/B measurements)
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the run that owns the workers
  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  std::shared_ptr<Job> job_;                 // the current call, guarded by m_
  std::vector<std::shared_ptr<Job>> spare_;  // reused when no worker still holds them
};

}  // namespace snep

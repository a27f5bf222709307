#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace snep {

static inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

// The pool whose plan started a run or a job last, in the whole process: a worker stops
// spinning as soon as another pool has work, so it never competes with it. The tuner times
// each candidate of a layer in its own plan, round-robin, and a short candidate's whole timing
// fitted in the previous candidate's workers' spin: its two threads then shared the cores with
// that worker and often read their single-thread time.
static std::atomic<const ThreadPool*> g_active{nullptr};

static inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ThreadPool::note_run() const { g_active.store(this, std::memory_order_release); }

ThreadPool::ThreadPool(int num_threads) {
  const char* st = std::getenv("SNEP_POOL_STEAL");
  steal_ = !(st && *st == '0');
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

void ThreadPool::work(Job& job, bool by_worker) {
  for (;;) {
    int64_t t = job.next.fetch_add(1, std::memory_order_acq_rel);
    if (t >= job.ntasks) break;
    (*job.fn)(t);
    if (by_worker) job.joined.fetch_add(1, std::memory_order_relaxed);
    job.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    spin_before_sleep(seen);
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return generation_.load() != seen; });
      seen = generation_.load();
      if (stop_) return;
      job = job_;
    }
    if (job) work(*job, true);
  }
}

void ThreadPool::spin_before_sleep(uint64_t seen) {
  const int64_t start = now_ns();
  const int64_t linger = std::max(kShortSpinNs, linger_ns_.load(std::memory_order_relaxed));
  for (;;) {
    for (int i = 0; i < 32; ++i) {  // a clock read every 32 pauses (about 0.5 us)
      if (generation_.load(std::memory_order_acquire) != seen) return;
      cpu_relax();
    }
    if (g_active.load(std::memory_order_acquire) != this) return;  // another pool's turn
    if (now_ns() - start > linger) return;
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
  dispatch(ntasks, fn);
}

void ThreadPool::dispatch(int64_t ntasks, const std::function<void(int64_t)>& fn) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> g(m_);
    job_.reset();
    job = fresh_job();
    job->fn = &fn;
    job->ntasks = ntasks;
    job->done.store(0, std::memory_order_relaxed);
    job->joined.store(0, std::memory_order_relaxed);
    job->next.store(0, std::memory_order_release);
    job_ = job;
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  note_run();
  cv_.notify_all();
  work(*job, false);
  while (job->done.load(std::memory_order_acquire) < ntasks) cpu_relax();
  jobs_.fetch_add(1, std::memory_order_relaxed);
  if (job->joined.load(std::memory_order_relaxed) > 0) joined_.fetch_add(1, std::memory_order_relaxed);
}

void ThreadPool::run_on_each(const std::function<void(int)>& fn) {
  const int nt = num_threads();
  if (nt == 1) {
    fn(0);
    return;
  }
  std::unique_lock<std::mutex> own(busy_, std::try_to_lock);
  if (!own.owns_lock()) {  // another run holds the workers (a shared pool): no barrier to wait at
    for (int t = 0; t < nt; ++t) fn(t);
    return;
  }
  std::atomic<int> arrived{0};
  dispatch(nt, [&](int64_t t) {
    arrived.fetch_add(1, std::memory_order_acq_rel);
    const int64_t t0 = now_ns();
    // spin briefly, then yield: with other threads runnable (another plan's run at the same
    // time) a spinning caller would keep its own worker off the CPU for a time slice
    for (int i = 0; arrived.load(std::memory_order_acquire) < nt && now_ns() - t0 < 20000000; ++i) {
      if (i < 1024) cpu_relax();
      else std::this_thread::yield();
    }
    fn((int)t);
  });
}

namespace {
constexpr int64_t kMaxShares = 64;  // threads that take part in stealing (more: a fixed split)

// A share of slices [front, back) in one word, so the owner (taking the front) and a thief
// (taking the back) never both get the last slice.
struct Share {
  std::atomic<uint64_t> fb{0};
  static uint64_t pack(uint64_t f, uint64_t b) { return f | (b << 32); }
  // Slice index, or -1 when the share is empty.
  int64_t take(bool from_back) {
    uint64_t v = fb.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t f = v & 0xffffffffu, b = v >> 32;
      if (f >= b) return -1;
      const uint64_t nv = from_back ? pack(f, b - 1) : pack(f + 1, b);
      if (fb.compare_exchange_weak(v, nv, std::memory_order_acq_rel)) return (int64_t)(from_back ? b - 1 : f);
    }
  }
};
}  // namespace

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t nt = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
  if (nt <= 1) { fn(0, n); return; }
  constexpr int64_t kMaxSlices = 8;   // per thread's share
  const int64_t per = std::max<int64_t>(1, std::min<int64_t>(kMaxSlices, n / (nt * grain)));
  if (!steal_ || per == 1 || nt > kMaxShares) {
    const int64_t chunk = (n + nt - 1) / nt;
    run_tasks(nt, [&](int64_t t) {
      int64_t b = t * chunk, e = std::min(n, b + chunk);
      if (b < e) fn(b, e);
    });
    return;
  }
  // nt * per slices of near-equal size; thread t owns slices [t * per, (t + 1) * per).
  const int64_t slices = nt * per;
  run_owned(slices, (int)nt, [&](int64_t s, int) { fn(s * n / slices, (s + 1) * n / slices); });
}

void ThreadPool::run_owned(int64_t n, int nw, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  if (nw <= 1 || n >= (int64_t(1) << 32)) {  // (a share packs two 32-bit indices)
    for (int64_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  nw = (int)std::min<int64_t>({(int64_t)nw, n, kMaxShares});
  Share shares[kMaxShares];
  for (int64_t w = 0; w < nw; ++w) shares[w].fb.store(Share::pack(w * n / nw, (w + 1) * n / nw), std::memory_order_relaxed);
  run_tasks(nw, [&](int64_t w) {
    for (int64_t i; (i = shares[w].take(false)) >= 0;) fn(i, (int)w);
    for (int64_t k = 1; k < nw; ++k)
      for (int64_t i; (i = shares[(w + k) % nw].take(true)) >= 0;) fn(i, (int)w);
  });
}

}  // namespace snep

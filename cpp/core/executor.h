// The executable plan: tensors (arena slots, constants, feeds, outputs) and
// ordered steps, each a prepared kernel of one routine. Built once per input
// shape by graph_passes/lower.py; run() is the hot path (no Python, no
// allocation in steady state, safe to call from several threads at once).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/big_alloc.h"
#include "core/routine.h"
#include "core/thread_pool.h"

namespace snep {

struct AlignedBuffer {
  void* p = nullptr;
  size_t n = 0;
  explicit AlignedBuffer(size_t bytes);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

class Plan {
 public:
  enum class Kind { Arena, Constant, Input, Output };
  struct Tensor {
    Kind kind = Kind::Arena;
    DType dtype = DType::Float32;
    std::vector<int64_t> shape;
    Layout layout = Layout::Plain;
    size_t offset = 0;   // arena offset
    int index = -1;      // feed or output position
    std::shared_ptr<AlignedBuffer> data;  // constants
    uint64_t content_hash = 0;            // constants, when the plan can share kernels
    // A constant given with a keep-alive (kernel sharing): the caller's bytes, copied into
    // `data` only when a kernel is prepared from them or reads them at run.
    const void* source = nullptr;
    std::shared_ptr<const void> source_keep;
    size_t bytes() const;
  };
  struct Step {
    Layer layer;
    Routine* routine = nullptr;
    std::shared_ptr<Kernel> kernel;  // shared with another plan's step (share_kernels_from)
    std::vector<int> in, out;  // tensor ids, -1 for an omitted optional input
    std::vector<const void*> owned;  // blocks big_alloc'd by the kernel's prepare (packed weights)
    std::string signature;  // what prepare() sees, when the plan can share kernels
  };

  // shared_pool: the process's one pool of that thread count, for the tuner's candidate plans
  // (timed one after another: one set of workers stays awake across them; each plan's own
  // pool had to wake its sleeping workers at every timing, 0.9 ms on a VM).
  explicit Plan(int num_threads, bool shared_pool = false);

  int add_arena_tensor(DType dt, std::vector<int64_t> shape, size_t offset, Layout layout = Layout::Plain);
  // keep: when the plan shares kernels, holding it keeps src valid until finalize(), and
  // the bytes are copied only if needed (a step whose kernel is shared never reads them).
  int add_constant(DType dt, std::vector<int64_t> shape, const void* src, std::shared_ptr<const void> keep = nullptr);
  int add_input(DType dt, std::vector<int64_t> shape, int feed_index);
  int add_output(DType dt, std::vector<int64_t> shape, int out_index);
  // Returns the step index; throws NotImplementedError naming the node when no
  // usable routine supports the layer. desc="" picks the first that does.
  // desc == kViewDescriptor: a Concat whose inputs are already in place (checked).
  static constexpr const char* kViewDescriptor = "view";
  int add_step(const std::string& name, const std::string& op, Attrs attrs,
               const std::vector<int>& in, const std::vector<int>& out, const std::string& desc);
  void set_arena_bytes(size_t n) { arena_bytes_ = n; }
  void finalize();

  // Kernel sharing, for two plans of one model alive at once (the tuner's whole-plan
  // checks): a plan with sharing enabled (before its first constant) records what each
  // step's prepare() sees, routine, attributes, tensor types and layouts, and a hash of
  // each constant's bytes; share_kernels_from(donor) (before finalize, donor finalized,
  // both enabled) then takes the donor's prepared kernel for every step that matches one
  // of the donor's, and keeps the donor's packed weights alive while it needs them.
  void enable_kernel_sharing() { sharing_ = true; }
  bool kernel_sharing() const { return sharing_; }
  void share_kernels_from(const Plan& donor);
  int shared_steps() const { return shared_steps_; }

  // feeds[i] / outs[i] point at buffers of the tensors added by add_input/add_output.
  // step_us, when given, receives each step's wall time in microseconds.
  // cold (kWarm, kColdL2, kColdMemory): before the steps, every thread's L2 is flushed
  // (kColdMemory: and the steps' constants and packed weights evicted from every cache
  // level) and the steps' non-constant inputs read back, so weights come from further
  // away, as inside a model where a layer's weights were last touched a whole run ago.
  enum Cold { kWarm = 0, kColdL2 = 1, kColdMemory = 2 };
  void run(const std::vector<const void*>& feeds, const std::vector<void*>& outs,
           std::vector<double>* step_us = nullptr, int cold = kWarm);

  // Timing harness: warm-up runs, then repetitions until `max_reps` or
  // `budget_us` of measured time; returns the median run time in microseconds
  // (cold, the median of the steps' summed times).
  double time_median(const std::vector<const void*>& feeds, const std::vector<void*>& outs,
                     int warmup, int min_reps, int max_reps, double budget_us, int cold = kWarm);

  // Layer as add_step() would see it, for supports() queries without a plan step.
  Layer make_layer(const std::string& name, const std::string& op, Attrs attrs,
                   const std::vector<int>& in, const std::vector<int>& out) const;

  const std::vector<Tensor>& tensors() const { return tensors_; }
  const std::vector<Step>& steps() const { return steps_; }
  size_t arena_bytes() const { return arena_bytes_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  int num_threads() const { return pool_.num_threads(); }
  // How long the workers keep spinning after a run (see ThreadPool); a session's plan sets it.
  void set_linger_us(double us) { pool_.set_linger_us(us); }
  // (parallel calls on this plan's pool, those a worker took part in): ThreadPool's counters
  std::pair<int64_t, int64_t> pool_jobs() const { return {pool_.jobs_dispatched(), pool_.jobs_joined_by_workers()}; }
  int num_inputs() const { return n_inputs_; }
  int num_outputs() const { return n_outputs_; }

 private:
  struct Context {  // per concurrent run: arena and pointer tables
    std::unique_ptr<AlignedBuffer> arena;
    std::vector<void*> ptrs;
    std::vector<const void*> in_ptrs;
    std::vector<void*> out_ptrs;
  };
  std::unique_ptr<Context> acquire();
  void release(std::unique_ptr<Context> c);
  TensorInfo info(int id) const;
  static Routine& view_routine();
  void chill_constants(const Context& c, int cold);
  void check_view(const Step& s, const std::string& name) const;
  const void* materialize(int id);

  std::shared_ptr<ThreadPool> pool_holder_;
  ThreadPool& pool_;
  // the kernels' packed weights, and those of donors' kernels this plan shares (declared
  // first: they outlive steps_)
  std::shared_ptr<HugeArena> weights_ = std::make_shared<HugeArena>();
  std::vector<std::shared_ptr<HugeArena>> donor_weights_;
  std::vector<std::shared_ptr<AlignedBuffer>> donor_constants_;  // what a shared kernel may still point at
  std::map<std::string, const Step*> donor_steps_;  // by signature
  bool sharing_ = false;
  int shared_steps_ = 0;
  std::vector<Tensor> tensors_;
  std::vector<Step> steps_;
  size_t arena_bytes_ = 0, workspace_bytes_ = 0, total_bytes_ = 0;
  int n_inputs_ = 0, n_outputs_ = 0;
  bool finalized_ = false;
  std::mutex ctx_mu_;
  std::vector<std::unique_ptr<Context>> free_ctx_;
};

}  // namespace snep

#include "core/executor.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>

#include "core/big_alloc.h"

namespace snep {

static size_t align64(size_t n) { return (n + 63) & ~size_t(63); }

AlignedBuffer::AlignedBuffer(size_t bytes) : n(bytes) {
  p = big_alloc(align64(std::max<size_t>(bytes, 64)));
  if (!p) throw FailError("out of memory allocating " + std::to_string(bytes) + " bytes");
}
AlignedBuffer::~AlignedBuffer() { big_free(p); }

size_t Plan::Tensor::bytes() const { return (size_t)physical_numel(shape, layout) * dtype_size(dtype); }

static std::shared_ptr<ThreadPool> shared_pool_of(int num_threads) {
  static std::mutex mu;
  static auto* pools = new std::map<int, std::shared_ptr<ThreadPool>>();  // never freed: workers live to exit
  std::lock_guard<std::mutex> g(mu);
  auto& p = (*pools)[num_threads];
  if (!p) p = std::make_shared<ThreadPool>(num_threads);
  return p;
}

Plan::Plan(int num_threads, bool shared_pool)
    : pool_holder_(shared_pool ? shared_pool_of(num_threads) : std::make_shared<ThreadPool>(num_threads)),
      pool_(*pool_holder_) {}

int Plan::add_arena_tensor(DType dt, std::vector<int64_t> shape, size_t offset, Layout layout) {
  SNEP_CHECK(layout == Layout::Plain || shape.size() >= 2, InvalidArgumentError,
             std::string("layout ") + layout_name(layout) + " needs a tensor of rank >= 2");
  Tensor t; t.kind = Kind::Arena; t.dtype = dt; t.shape = std::move(shape); t.offset = offset; t.layout = layout;
  tensors_.push_back(std::move(t));
  return (int)tensors_.size() - 1;
}

namespace {

// 64-bit hash of a constant's bytes (kernel sharing): four independent multiply-xor lanes
// over 8-byte words, so it runs near memory speed.
uint64_t hash_bytes(const void* p, size_t n) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  uint64_t h[4] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull, 0x27D4EB2F165667C5ull};
  const uint64_t m = 0xFF51AFD7ED558CCDull;
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, b + i + 8 * k, 8);
      h[k] = (h[k] ^ w) * m;
      h[k] ^= h[k] >> 29;
    }
  uint64_t r = n;
  for (; i < n; ++i) r = (r ^ b[i]) * m;
  for (int k = 0; k < 4; ++k) r = ((r ^ h[k]) * m) ^ (r >> 31);
  return r;
}

void put_attr(std::string& sig, const std::string& k, const AttrValue& v) {
  char f[32];
  std::snprintf(f, sizeof f, "%a", v.f);  // exact: to_string's 6 decimals would merge nearby values
  sig += k + "=" + std::to_string((int)v.kind) + ":" + std::to_string(v.i) + ":" + f + ":" + v.s;
  for (auto x : v.ints) sig += "," + std::to_string(x);
  for (auto x : v.floats) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ",%a", x);
    sig += buf;
  }
  for (auto& x : v.strings) sig += ",'" + x + "'";
  sig += ";";
}

}  // namespace

int Plan::add_constant(DType dt, std::vector<int64_t> shape, const void* src, std::shared_ptr<const void> keep) {
  Tensor t; t.kind = Kind::Constant; t.dtype = dt; t.shape = std::move(shape);
  if (sharing_ && keep) {
    t.source = src;
    t.source_keep = std::move(keep);
    t.content_hash = hash_bytes(src, t.bytes());
  } else {
    t.data = std::make_shared<AlignedBuffer>(t.bytes());
    if (t.bytes()) std::memcpy(t.data->p, src, t.bytes());
    if (sharing_) t.content_hash = hash_bytes(t.data->p, t.bytes());
  }
  tensors_.push_back(std::move(t));
  return (int)tensors_.size() - 1;
}

// The plan's own aligned copy of a constant given by source (once).
const void* Plan::materialize(int id) {
  Tensor& t = tensors_.at(id);
  if (!t.data && t.source) {
    t.data = std::make_shared<AlignedBuffer>(t.bytes());
    if (t.bytes()) std::memcpy(t.data->p, t.source, t.bytes());
  }
  return t.data ? t.data->p : nullptr;
}

int Plan::add_input(DType dt, std::vector<int64_t> shape, int feed_index) {
  Tensor t; t.kind = Kind::Input; t.dtype = dt; t.shape = std::move(shape); t.index = feed_index;
  tensors_.push_back(std::move(t));
  n_inputs_ = std::max(n_inputs_, feed_index + 1);
  return (int)tensors_.size() - 1;
}

int Plan::add_output(DType dt, std::vector<int64_t> shape, int out_index) {
  Tensor t; t.kind = Kind::Output; t.dtype = dt; t.shape = std::move(shape); t.index = out_index;
  tensors_.push_back(std::move(t));
  n_outputs_ = std::max(n_outputs_, out_index + 1);
  return (int)tensors_.size() - 1;
}

TensorInfo Plan::info(int id) const {
  TensorInfo ti;
  if (id < 0) { ti.present = false; return ti; }
  const Tensor& t = tensors_.at(id);
  ti.dtype = t.dtype;
  ti.shape = t.shape;
  ti.layout = t.layout;
  if (t.kind == Kind::Constant) ti.const_data = t.data ? t.data->p : t.source;
  return ti;
}

Layer Plan::make_layer(const std::string& name, const std::string& op, Attrs attrs,
                       const std::vector<int>& in, const std::vector<int>& out) const {
  Layer l;
  l.name = name;
  l.op = op;
  l.attrs = std::move(attrs);
  for (int id : in) {
    SNEP_CHECK(id < (int)tensors_.size(), InvalidArgumentError, "bad tensor id in step " + name);
    l.inputs.push_back(info(id));
  }
  for (int id : out) {
    SNEP_CHECK(id >= 0 && id < (int)tensors_.size(), InvalidArgumentError, "bad tensor id in step " + name);
    l.outputs.push_back(info(id));
  }
  return l;
}

namespace {
// A Concat whose inputs the memory plan placed side by side inside its output:
// nothing to copy. Not in the registry, so tuning never offers it.
class ViewRoutine : public Routine {
 public:
  std::string op() const override { return "Concat"; }
  std::string descriptor() const override { return Plan::kViewDescriptor; }
  bool supports(const Layer& l) const override { return l.op == "Concat"; }
  std::unique_ptr<Kernel> prepare(const Layer&) const override {
    return std::make_unique<FnKernel>([](const RunArgs&) {});
  }
};
}  // namespace

Routine& Plan::view_routine() {
  static ViewRoutine r;
  return r;
}

// The view is only right when each input lies in the arena exactly where its
// bytes belong in the output (memory_plan's concat aliasing guarantees it).
void Plan::check_view(const Step& s, const std::string& name) const {
  const std::string where = "Concat node '" + name + "' as a view: ";
  SNEP_CHECK(s.out.size() == 1 && !s.in.empty(), FailError, where + "needs inputs and one output");
  const Tensor& y = tensors_.at(s.out[0]);
  SNEP_CHECK(y.kind == Kind::Arena, FailError, where + "the output is not an arena tensor");
  size_t off = y.offset;
  for (int i : s.in) {
    SNEP_CHECK(i >= 0, FailError, where + "an input is omitted");
    const Tensor& x = tensors_.at(i);
    SNEP_CHECK(x.kind == Kind::Arena && x.offset == off && x.dtype == y.dtype && x.layout == y.layout, FailError,
               where + "an input is not placed inside the output");
    off += x.bytes();
  }
  SNEP_CHECK(off == y.offset + y.bytes(), FailError, where + "the inputs do not fill the output");
}

int Plan::add_step(const std::string& name, const std::string& op, Attrs attrs,
                   const std::vector<int>& in, const std::vector<int>& out, const std::string& desc) {
  SNEP_CHECK(!finalized_, FailError, "plan already finalized");
  Step s;
  s.layer = make_layer(name, op, std::move(attrs), in, out);
  s.in = in;
  s.out = out;
  if (desc == kViewDescriptor) {
    check_view(s, name);
    s.routine = &view_routine();
    steps_.push_back(std::move(s));
    return (int)steps_.size() - 1;
  }
  const auto& cands = Registry::get().for_op(op);
  if (cands.empty())
    throw NotImplementedError("no routine for op " + op + " (node '" + name + "')");
  if (!desc.empty()) {
    Routine* r = Registry::get().by_descriptor(op, desc);
    SNEP_CHECK(r, InvalidArgumentError, "unknown routine " + desc + " for op " + op + " (node '" + name + "')");
    SNEP_CHECK(r->usable(), InvalidArgumentError, "routine " + desc + " needs " + r->isa() + ", absent on this CPU");
    SNEP_CHECK(r->supports(s.layer), InvalidArgumentError,
               "routine " + desc + " does not support " + s.layer.where());
    s.routine = r;
  } else {
    for (Routine* r : cands)
      if (r->usable() && r->supports(s.layer)) { s.routine = r; break; }
    if (!s.routine) {
      std::string sig;
      for (auto& t : s.layer.inputs) {
        sig += sig.empty() ? "" : ", ";
        sig += t.present ? dtype_name(t.dtype) : "none";
        if (t.present) { sig += "["; for (size_t i = 0; i < t.shape.size(); ++i) sig += (i ? "," : "") + std::to_string(t.shape[i]); sig += "]"; }
      }
      throw NotImplementedError("no routine supports " + s.layer.where() + " with inputs (" + sig + ")");
    }
  }
  if (sharing_) {
    std::string& sig = s.signature;
    const Routine* base = s.routine->variant_of() ? s.routine->variant_of() : s.routine;
    sig = op + "|" + base->descriptor() + "|";  // a "/t1" variant shares its base's kernel
    for (auto& kv : s.layer.attrs.values) put_attr(sig, kv.first, kv.second);
    auto put_tensor = [&](int id) {
      if (id < 0) { sig += "|-"; return; }
      const Tensor& t = tensors_.at(id);
      sig += "|" + std::to_string((int)t.kind == (int)Kind::Constant) + "," + std::to_string((int)t.dtype) + "," +
             std::to_string((int)t.layout) + "," + std::to_string(t.content_hash) + ":";
      for (auto d : t.shape) sig += std::to_string(d) + "x";
    };
    for (int id : in) put_tensor(id);
    sig += "|>";
    for (int id : out) put_tensor(id);
  }
  steps_.push_back(std::move(s));
  return (int)steps_.size() - 1;
}

void Plan::finalize() {
  if (finalized_) return;
  const auto f0 = std::chrono::steady_clock::now();
  const bool trace = std::getenv("SNEP_PREPARE_TRACE") != nullptr;
  double mat_ms = 0;
  const char* arena_env = std::getenv("SNEP_WEIGHT_ARENA");  // "0": packed weights on the heap (comparisons)
  const bool use_arena = !(arena_env && arena_env[0] == '0');
  // Each constant is freed as soon as its last reader is prepared, unless a kernel reads
  // it at run: a plan never holds every constant and every packed copy at once.
  std::vector<int> last_reader(tensors_.size(), -1);
  for (size_t i = 0; i < steps_.size(); ++i)
    for (int id : steps_[i].in)
      if (id >= 0) last_reader[id] = (int)i;
  std::vector<bool> needed(tensors_.size(), false);
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& s = steps_[i];
    auto donor = s.signature.empty() ? donor_steps_.end() : donor_steps_.find(s.signature);
    if (donor != donor_steps_.end()) {
      s.kernel = kernel_for_routine(*s.routine, donor->second->kernel);
      s.owned = donor->second->owned;
      ++shared_steps_;
    } else {
      const auto m0 = std::chrono::steady_clock::now();
      for (size_t k = 0; k < s.in.size(); ++k)  // prepare() sees the plan's aligned copies
        if (s.in[k] >= 0 && tensors_[s.in[k]].kind == Kind::Constant)
          s.layer.inputs[k].const_data = materialize(s.in[k]);
      mat_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - m0).count();
      BigAllocRecorder rec(&s.owned);
      BigAllocArenaScope in_arena(use_arena ? weights_.get() : nullptr);
      const auto t0 = std::chrono::steady_clock::now();
      s.kernel = s.routine->prepare(s.layer);
      if (trace)
        std::fprintf(stderr, "prepare %s %s %.3f ms\n", s.layer.name.c_str(), s.routine->descriptor().c_str(),
                     std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    workspace_bytes_ = std::max(workspace_bytes_, s.kernel->workspace_bytes());
    // Constant inputs are pre-packed by prepare(); drop the layer's view of them.
    for (auto& t : s.layer.inputs) t.const_data = nullptr;
    for (size_t k = 0; k < s.in.size(); ++k) {
      const int id = s.in[k];
      if (id < 0) continue;
      if (s.kernel->reads_input_at_run((int)k)) needed[id] = true;
      else if (tensors_[id].kind == Kind::Constant && last_reader[id] == (int)i && !needed[id]) tensors_[id].data.reset();
    }
  }
  // And those no step reads; a shared kernel that reads a constant at run reads this plan's copy.
  for (size_t i = 0; i < tensors_.size(); ++i) {
    Tensor& t = tensors_[i];
    if (t.kind != Kind::Constant) continue;
    if (needed[i]) materialize((int)i);
    else t.data.reset();
    t.source = nullptr;
    t.source_keep.reset();
  }
  total_bytes_ = align64(arena_bytes_) + align64(workspace_bytes_);
  finalized_ = true;
  if (trace)
    std::fprintf(stderr, "finalize %.3f ms, constants copied in %.3f ms\n",
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - f0).count(), mat_ms);
  donor_steps_.clear();  // the donor may go; what its shared kernels need is held
}

void Plan::share_kernels_from(const Plan& donor) {
  SNEP_CHECK(!finalized_ && donor.finalized_, FailError, "share_kernels_from: this plan finalized, or the donor not");
  SNEP_CHECK(sharing_ && donor.sharing_, FailError, "share_kernels_from: both plans need enable_kernel_sharing()");
  for (const Step& s : donor.steps_)
    if (!s.signature.empty() && s.kernel) donor_steps_.emplace(s.signature, &s);
  donor_weights_.push_back(donor.weights_);
  for (auto& w : donor.donor_weights_) donor_weights_.push_back(w);
  for (const Tensor& t : donor.tensors_)
    if (t.kind == Kind::Constant && t.data) donor_constants_.push_back(t.data);
}

std::unique_ptr<Plan::Context> Plan::acquire() {
  {
    std::lock_guard<std::mutex> g(ctx_mu_);
    if (!free_ctx_.empty()) {
      auto c = std::move(free_ctx_.back());
      free_ctx_.pop_back();
      return c;
    }
  }
  auto c = std::make_unique<Context>();
  c->arena = std::make_unique<AlignedBuffer>(total_bytes_);
  std::memset(c->arena->p, 0, total_bytes_);  // once per context: no stale NaNs in unwritten pad lanes
  c->ptrs.resize(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    if (t.kind == Kind::Arena) c->ptrs[i] = static_cast<char*>(c->arena->p) + t.offset;
    else if (t.kind == Kind::Constant) c->ptrs[i] = t.data ? t.data->p : nullptr;
  }
  size_t nin = 0, nout = 0;
  for (auto& s : steps_) { nin = std::max(nin, s.in.size()); nout = std::max(nout, s.out.size()); }
  // Padded with nulls: a kernel probing an optional input past the layer's
  // count sees "omitted" rather than reading out of bounds.
  c->in_ptrs.assign(std::max<size_t>(nin, 8), nullptr);
  c->out_ptrs.assign(std::max<size_t>(nout, 8), nullptr);
  return c;
}

void Plan::release(std::unique_ptr<Context> c) {
  std::lock_guard<std::mutex> g(ctx_mu_);
  free_ctx_.push_back(std::move(c));
}

// Flushes each thread's L2 (writing a private buffer of 2.5x its size); with kColdMemory
// also evicts the steps' constants and the blocks their kernels allocated at prepare from
// every cache level; then reads the steps' non-constant inputs back in, a slice per thread.
void Plan::chill_constants(const Context& c, int cold) {
  static const size_t l2 = [] {
    long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return (size_t)(v > 0 ? v : 2 << 20);
  }();
  const size_t n = l2 * 5 / 2 / sizeof(float);
  // run_on_each: with parallel_for a caller that finds the worker asleep runs both tasks and
  // flushes its own L2 twice, the worker's never
  pool_.run_on_each([&](int) {
    thread_local std::vector<float> junk;
    if (junk.size() < n) junk.assign(n, 0.f);
    for (size_t i = 0; i < n; i += 16) junk[i] += 1.f;
  });
  if (cold == kColdMemory) {
    // the packed weights and constants, each thread evicting its share of every range's lines
    // (the plan's steps own the blocks: none is freed during its run)
    std::vector<std::pair<const void*, size_t>> ev;
    for (const Step& s : steps_) {
      for (const auto& r : live_block_ranges(s.owned)) ev.push_back(r);
      for (int id : s.in)
        if (id >= 0 && tensors_[id].kind == Kind::Constant && tensors_[id].data)
          ev.emplace_back(tensors_[id].data->p, tensors_[id].bytes());
    }
    const int nt = pool_.num_threads();
    pool_.run_on_each([&](int t) {
      for (const auto& r : ev) {
        const size_t lines = (r.second + 63) / 64, b = lines * t / nt, e = lines * (t + 1) / nt;
        if (b < e) evict_range(static_cast<const char*>(r.first) + b * 64, std::min(r.second, e * 64) - b * 64);
      }
    });
  }
  std::vector<std::pair<const char*, size_t>> ranges;
  for (const Step& s : steps_)
    for (int id : s.in)
      if (id >= 0 && tensors_[id].kind != Kind::Constant)
        ranges.emplace_back(static_cast<const char*>(c.ptrs[id]), tensors_[id].bytes());
  // Every worker awake again before the timed run, as between the steps of a run: the
  // evictions above can outlast a worker's spin, and a short layer's run was then done by the
  // caller alone while the worker woke (2-thread routines timed at their 1-thread speed).
  pool_.run_on_each([](int) {});
  std::atomic<int> sink{0};  // keeps the reads
  for (auto& r : ranges) {
    const char* p = r.first;
    const int64_t lines = (int64_t)(r.second / 64);
    pool_.parallel_for(lines, 1024, [&](int64_t b, int64_t e) {
      int acc = 0;
      for (int64_t i = b; i < e; ++i) acc ^= p[i * 64];
      sink.fetch_xor(acc, std::memory_order_relaxed);
    });
  }
}

void Plan::run(const std::vector<const void*>& feeds, const std::vector<void*>& outs,
               std::vector<double>* step_us, int cold) {
  SNEP_CHECK(finalized_, FailError, "plan not finalized");
  SNEP_CHECK((int)feeds.size() == n_inputs_ && (int)outs.size() == n_outputs_, InvalidArgumentError,
             "wrong number of feeds or outputs for this plan");
  pool_.note_run();  // other plans' spinning workers go to sleep
  auto c = acquire();
  struct Releaser { Plan* p; std::unique_ptr<Context>* c; ~Releaser() { p->release(std::move(*c)); } } rel{this, &c};
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    if (t.kind == Kind::Input) c->ptrs[i] = const_cast<void*>(feeds[t.index]);
    else if (t.kind == Kind::Output) c->ptrs[i] = outs[t.index];
  }
  void* ws = static_cast<char*>(c->arena->p) + align64(arena_bytes_);
  if (cold != kWarm) chill_constants(*c, cold);
  if (step_us) step_us->assign(steps_.size(), 0.0);
  for (size_t si = 0; si < steps_.size(); ++si) {
    Step& s = steps_[si];
    for (size_t k = 0; k < c->in_ptrs.size(); ++k)
      c->in_ptrs[k] = k < s.in.size() && s.in[k] >= 0 ? c->ptrs[s.in[k]] : nullptr;
    for (size_t k = 0; k < s.out.size(); ++k) c->out_ptrs[k] = c->ptrs[s.out[k]];
    RunArgs a{c->in_ptrs.data(), c->out_ptrs.data(), ws, &pool_};
    if (step_us) {
      auto t0 = std::chrono::steady_clock::now();
      s.kernel->run(a);
      (*step_us)[si] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    } else {
      s.kernel->run(a);
    }
  }
}

double Plan::time_median(const std::vector<const void*>& feeds, const std::vector<void*>& outs,
                         int warmup, int min_reps, int max_reps, double budget_us, int cold) {
  // The workers awake first: they sleep once another plan has run (plans with pools of their
  // own, timed one after another), and a short layer's warm-up and first repetitions were then
  // run by the caller alone while they woke.
  pool_.note_run();
  pool_.run_on_each([](int) {});
  for (int i = 0; i < warmup; ++i) run(feeds, outs);
  std::vector<double> t, step_us;
  double spent = 0;
  while ((int)t.size() < max_reps && ((int)t.size() < min_reps || spent < budget_us)) {
    auto t0 = std::chrono::steady_clock::now();
    if (cold != kWarm) run(feeds, outs, &step_us, cold);
    else run(feeds, outs);
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    if (cold != kWarm) us = std::accumulate(step_us.begin(), step_us.end(), 0.0);
    t.push_back(us);
    spent += us;
  }
  std::sort(t.begin(), t.end());
  size_t n = t.size();
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

}  // namespace snep

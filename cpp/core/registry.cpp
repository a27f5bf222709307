#include <map>
#include <mutex>
#include <set>

#include "core/routine.h"
#include "core/thread_pool.h"

namespace snep {

namespace {

std::map<std::string, std::vector<Routine*>>& by_op() {
  static std::map<std::string, std::vector<Routine*>> m;
  return m;
}

// Ops whose routines only move or generate a few bytes: no thread variant.
const std::set<std::string>& no_variant_ops() {
  static const std::set<std::string> s = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Dropout",
                                          "Shape", "Size", "ConstantOfShape", "Range", "EyeLike"};
  return s;
}

class SingleThreadKernel : public Kernel {
 public:
  explicit SingleThreadKernel(std::shared_ptr<Kernel> k) : k_(std::move(k)) {}
  const std::shared_ptr<Kernel>& inner() const { return k_; }
  size_t workspace_bytes() const override { return k_->workspace_bytes(); }
  bool reads_input_at_run(int i) const override { return k_->reads_input_at_run(i); }
  void run(const RunArgs& a) override {
    static ThreadPool solo(1);  // no workers: every parallel_for runs inline on the caller
    RunArgs b = a;
    b.pool = &solo;
    k_->run(b);
  }

 private:
  std::shared_ptr<Kernel> k_;
};

// "<descriptor>/t1": the same routine confined to the calling thread.
class SingleThreadVariant : public Routine {
 public:
  explicit SingleThreadVariant(Routine* base) : base_(base), desc_(base->descriptor() + "/t1") {}
  std::string op() const override { return base_->op(); }
  std::string descriptor() const override { return desc_; }
  int version() const override { return base_->version(); }
  std::string isa() const override { return base_->isa(); }
  bool supports(const Layer& l) const override { return base_->supports(l); }
  const Routine* variant_of() const override { return base_; }
  std::unique_ptr<Kernel> prepare(const Layer& l) const override {
    return std::make_unique<SingleThreadKernel>(base_->prepare(l));
  }

 private:
  Routine* base_;
  std::string desc_;
};

}  // namespace

std::shared_ptr<Kernel> kernel_for_routine(const Routine& r, std::shared_ptr<Kernel> k) {
  if (auto* st = dynamic_cast<SingleThreadKernel*>(k.get())) k = st->inner();
  if (r.variant_of()) return std::make_shared<SingleThreadKernel>(std::move(k));
  return k;
}

Registry& Registry::get() {
  static Registry r;
  return r;
}

void Registry::add(std::unique_ptr<Routine> r) {
  by_op()[r->op()].push_back(r.get());
  owned_.push_back(std::move(r));
}

void Registry::ensure_variants() const {
  static std::once_flag once;
  std::call_once(once, [this] {
    auto* self = const_cast<Registry*>(this);
    std::vector<Routine*> bases;
    auto is_view = [](const std::string& d) { return d.size() >= 5 && d.compare(d.size() - 5, 5, "/view") == 0; };
    for (auto& r : owned_)  // a view (placed on its input's bytes) runs nothing worth confining
      if (!no_variant_ops().count(r->op()) && !is_view(r->descriptor())) bases.push_back(r.get());
    // Appended after every base routine, so an op's default stays multi-threaded.
    for (Routine* b : bases) self->add(std::make_unique<SingleThreadVariant>(b));
    variants_done_ = true;
  });
}

const std::vector<Routine*>& Registry::for_op(const std::string& op) const {
  ensure_variants();
  static const std::vector<Routine*> none;
  auto it = by_op().find(op);
  return it == by_op().end() ? none : it->second;
}

Routine* Registry::by_descriptor(const std::string& op, const std::string& desc) const {
  ensure_variants();
  for (Routine* r : for_op(op))
    if (r->descriptor() == desc) return r;
  return nullptr;
}

std::vector<Routine*> Registry::all() const {
  ensure_variants();
  std::vector<Routine*> v;
  for (auto& r : owned_) v.push_back(r.get());
  return v;
}

}  // namespace snep

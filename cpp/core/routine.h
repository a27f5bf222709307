// Layers, routines and kernels.
//
// A Layer is what is computed (op, attributes, input/output shapes and dtypes,
// and the values of constant inputs). A Routine is one way to compute an op,
// named by a SoftNeuro-style descriptor DEVICE[:DTYPE][:LAYOUT][/ALGO][/PARAMS].
// Routine::prepare() turns a layer into a Kernel once per plan (pre-packing
// weights); Kernel::run() is the hot path and must not allocate.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/attrs.h"
#include "core/dtype.h"
#include "core/errors.h"

namespace snep {

class ThreadPool;

// Physical layouts of activation tensors. shape is always the logical ONNX
// shape (N, C, spatial...); the layout says how it lies in memory:
//   Plain    ONNX's own row-major order ("nchw" in descriptors)
//   NHWC     channels last: N, spatial..., C
//   NCHW8c / NCHW16c  channel-blocked: N, ceil(C/b), spatial..., b, with the
//            pad lanes of the last block always zero (every routine writing
//            a blocked tensor zeroes them; readers may rely on it).
// Constants (weights) are always Plain; routines pre-pack them as they like.
enum class Layout : int { Plain = 0, NHWC = 1, NCHW8c = 2, NCHW16c = 3 };

inline int layout_block(Layout l) { return l == Layout::NCHW8c ? 8 : l == Layout::NCHW16c ? 16 : 1; }
inline const char* layout_name(Layout l) {
  switch (l) {
    case Layout::NHWC: return "nhwc";
    case Layout::NCHW8c: return "nchw8c";
    case Layout::NCHW16c: return "nchw16c";
    default: return "nchw";
  }
}

// Elements a tensor occupies in memory: blocked layouts pad C up to the block.
inline int64_t physical_numel(const std::vector<int64_t>& shape, Layout l) {
  int64_t n = 1;
  int b = layout_block(l);
  for (size_t i = 0; i < shape.size(); ++i)
    n *= (i == 1 && b > 1) ? (shape[i] + b - 1) / b * b : shape[i];
  return n;
}

struct TensorInfo {
  bool present = true;             // false for an omitted optional input
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;      // logical shape
  Layout layout = Layout::Plain;
  const void* const_data = nullptr;  // non-null when the value is known at plan time (Plain)

  int64_t numel() const { int64_t n = 1; for (auto d : shape) n *= d; return n; }
  int64_t physical() const { return physical_numel(shape, layout); }
  size_t bytes() const { return (size_t)physical() * dtype_size(dtype); }
  int rank() const { return (int)shape.size(); }
  template <class T> const T* cdata() const { return static_cast<const T*>(const_data); }
};

struct Layer {
  std::string name;  // node name, for messages
  std::string op;
  Attrs attrs;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present; }
  const TensorInfo& in(size_t i) const { return inputs.at(i); }
  const TensorInfo& out(size_t i) const { return outputs.at(i); }
  std::string where() const { return op + " node '" + name + "'"; }
};

struct RunArgs {
  const void* const* in;  // one pointer per layer input (nullptr for omitted optional ones)
  void* const* out;       // one pointer per layer output, sized as the layer says
  void* workspace;        // workspace_bytes() of scratch, 64-byte aligned
  ThreadPool* pool;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual size_t workspace_bytes() const { return 0; }
  // False when run() never reads constant input i because prepare() kept its
  // own (packed) copy: the plan then frees the original after finalize().
  virtual bool reads_input_at_run(int /*i*/) const { return true; }
  virtual void run(const RunArgs& a) = 0;
};

class Routine {
 public:
  virtual ~Routine() = default;
  virtual std::string op() const = 0;
  virtual std::string descriptor() const = 0;  // e.g. "cpu:float32:nchw/im2col_gemm"
  virtual int version() const { return 1; }    // bump when the code changes speed or results
  virtual std::string isa() const { return ""; }  // "avx512f", "avx2" or "" (any x86-64)
  virtual bool usable() const;                 // isa() present on this CPU
  // Whether this routine computes the layer exactly as ONNX specifies it.
  virtual bool supports(const Layer& l) const = 0;
  virtual std::unique_ptr<Kernel> prepare(const Layer& l) const = 0;
  // The routine this one runs on fewer threads ("<descriptor>/t1"), or null.
  virtual const Routine* variant_of() const { return nullptr; }
};

// A kernel prepared by routine r or by its thread variant / base (the same packed weights),
// made into r's kernel: unwrapped from, or wrapped into, the one-thread confinement.
std::shared_ptr<Kernel> kernel_for_routine(const Routine& r, std::shared_ptr<Kernel> k);

// A kernel built from a lambda, for routines with no prepared state.
class FnKernel : public Kernel {
 public:
  using Fn = std::function<void(const RunArgs&)>;
  explicit FnKernel(Fn fn, size_t ws = 0) : fn_(std::move(fn)), ws_(ws) {}
  size_t workspace_bytes() const override { return ws_; }
  void run(const RunArgs& a) override { fn_(a); }
 private:
  Fn fn_;
  size_t ws_;
};

class Registry {
 public:
  static Registry& get();
  void add(std::unique_ptr<Routine> r);
  const std::vector<Routine*>& for_op(const std::string& op) const;
  Routine* by_descriptor(const std::string& op, const std::string& desc) const;
  std::vector<Routine*> all() const;
 private:
  // Adds the single-thread variant "<descriptor>/t1" of every routine whose op
  // can be worth running on one core (small layers lose more to fork-join
  // than they gain); done once, on the first query after static registration.
  void ensure_variants() const;
  std::vector<std::unique_ptr<Routine>> owned_;
  mutable bool variants_done_ = false;
};

// Registers a routine at load time: SNEP_REGISTER_ROUTINE(MyRoutine, args...)
#define SNEP_CONCAT_(a, b) a##b
#define SNEP_CONCAT(a, b) SNEP_CONCAT_(a, b)
#define SNEP_REGISTER_ROUTINE(...)                                              \
  static const bool SNEP_CONCAT(snep_registered_, __LINE__) = [] {              \
    ::snep::Registry::get().add(std::make_unique<__VA_ARGS__>());               \
    return true; }()

// A routine whose whole definition is a supports() predicate and a prepare()
// lambda: most simple ops need nothing more.
class LambdaRoutine : public Routine {
 public:
  using Supports = std::function<bool(const Layer&)>;
  using Prepare = std::function<std::unique_ptr<Kernel>(const Layer&)>;
  LambdaRoutine(std::string op, std::string desc, Supports s, Prepare p, std::string isa = "")
      : op_(std::move(op)), desc_(std::move(desc)), s_(std::move(s)), p_(std::move(p)), isa_(std::move(isa)) {}
  std::string op() const override { return op_; }
  std::string descriptor() const override { return desc_; }
  std::string isa() const override { return isa_; }
  bool supports(const Layer& l) const override { return s_(l); }
  std::unique_ptr<Kernel> prepare(const Layer& l) const override { return p_(l); }
 private:
  std::string op_, desc_;
  Supports s_;
  Prepare p_;
  std::string isa_;
};

// SNEP_REGISTER_LAMBDA("Relu", "cpu:float32/direct", supports_fn, prepare_fn)
#define SNEP_REGISTER_LAMBDA(OP, DESC, SUPPORTS, PREPARE)                       \
  static const bool SNEP_CONCAT(snep_registered_, __LINE__) = [] {              \
    ::snep::Registry::get().add(std::make_unique<::snep::LambdaRoutine>(OP, DESC, SUPPORTS, PREPARE)); \
    return true; }()

}  // namespace snep

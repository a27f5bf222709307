// pybind11 bindings: the only place the engine meets Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/cpu_features.h"
#include "cpu/probe/peak_probe.h"
#include "cpu/qgemm/qgemm.h"
#include "core/executor.h"
#include "core/thread_pool.h"

#include <chrono>
#include <mutex>

namespace py = pybind11;
using namespace snep;

namespace {

PyObject* error_class(const char* name) {
  // Leaked on purpose: a static py::object would be destroyed after the interpreter.
  static PyObject* mod = py::module_::import("softneuro_ep.capi.onnxruntime_pybind11_state").release().ptr();
  return py::handle(mod).attr(name).ptr();
}

Layout parse_layout(const std::string& s) {
  if (s.empty() || s == "nchw" || s == "plain") return Layout::Plain;
  if (s == "nhwc") return Layout::NHWC;
  if (s == "nchw8c") return Layout::NCHW8c;
  if (s == "nchw16c") return Layout::NCHW16c;
  throw InvalidArgumentError("unknown layout " + s);
}

Attrs to_attrs(const py::dict& d) {
  Attrs a;
  for (auto item : d) {
    std::string k = py::str(item.first);
    py::handle v = item.second;
    AttrValue av;
    if (py::isinstance<py::bool_>(v) || py::isinstance<py::int_>(v)) { av.kind = AttrValue::Int; av.i = v.cast<int64_t>(); }
    else if (py::isinstance<py::float_>(v)) { av.kind = AttrValue::Float; av.f = v.cast<double>(); }
    else if (py::isinstance<py::str>(v)) { av.kind = AttrValue::String; av.s = v.cast<std::string>(); }
    else if (py::isinstance<py::bytes>(v)) { av.kind = AttrValue::String; av.s = v.cast<std::string>(); }
    else if (py::isinstance<py::sequence>(v)) {
      py::sequence seq = v.cast<py::sequence>();
      bool all_int = true, all_str = seq.size() > 0;
      for (auto e : seq) {
        if (!(py::isinstance<py::int_>(e) || py::isinstance<py::bool_>(e))) all_int = false;
        if (!(py::isinstance<py::str>(e) || py::isinstance<py::bytes>(e))) all_str = false;
      }
      if (all_str) { av.kind = AttrValue::Strings; for (auto e : seq) av.strings.push_back(e.cast<std::string>()); }
      else if (all_int) { av.kind = AttrValue::Ints; for (auto e : seq) av.ints.push_back(e.cast<int64_t>()); }
      else { av.kind = AttrValue::Floats; for (auto e : seq) av.floats.push_back(e.cast<double>()); }
    } else {
      throw InvalidArgumentError("attribute " + k + " has an unsupported type");
    }
    a.values[k] = std::move(av);
  }
  return a;
}

py::dtype np_dtype(DType t) {
  switch (t) {
    case DType::Float32: return py::dtype("float32");
    case DType::Float64: return py::dtype("float64");
    case DType::Float16: return py::dtype("float16");
    case DType::BFloat16: return py::dtype("uint16");
    case DType::Int64: return py::dtype("int64");
    case DType::Int32: return py::dtype("int32");
    case DType::Int16: return py::dtype("int16");
    case DType::Int8: return py::dtype("int8");
    case DType::UInt8: return py::dtype("uint8");
    case DType::UInt16: return py::dtype("uint16");
    case DType::UInt32: return py::dtype("uint32");
    case DType::UInt64: return py::dtype("uint64");
    case DType::Bool: return py::dtype("bool");
    default: throw NotImplementedError(std::string("dtype ") + dtype_name(t) + " not supported");
  }
}

const void* checked_buffer(const py::array& a, const Plan::Tensor& t, const char* what, size_t i) {
  if (!(a.flags() & py::array::c_style))
    throw InvalidArgumentError(std::string(what) + " " + std::to_string(i) + " is not C-contiguous");
  if ((size_t)a.nbytes() != t.bytes() || (size_t)a.itemsize() != dtype_size(t.dtype))
    throw InvalidArgumentError(std::string(what) + " " + std::to_string(i) + " has the wrong size or dtype for this plan");
  return a.data();
}

// Feed pointers (checked against the plan) and fresh numpy outputs for one run.
struct RunBuffers {
  std::vector<const void*> in;
  std::vector<py::array> keep, outs;
  std::vector<void*> out_ptrs;
};

RunBuffers bind_buffers(const Plan& p, const py::list& feeds) {
  if ((int)feeds.size() != p.num_inputs())
    throw InvalidArgumentError("expected " + std::to_string(p.num_inputs()) + " feeds, got " + std::to_string(feeds.size()));
  RunBuffers b;
  b.in.assign(p.num_inputs(), nullptr);
  b.outs.resize(p.num_outputs());
  b.out_ptrs.assign(p.num_outputs(), nullptr);
  for (const auto& t : p.tensors()) {
    if (t.kind == Plan::Kind::Input) {
      py::array a = feeds[t.index].cast<py::array>();
      b.in[t.index] = checked_buffer(a, t, "feed", t.index);
      b.keep.push_back(a);
    } else if (t.kind == Plan::Kind::Output) {
      b.outs[t.index] = py::array(np_dtype(t.dtype), t.shape);
      b.out_ptrs[t.index] = b.outs[t.index].mutable_data();
    }
  }
  return b;
}

py::list run_plan(Plan& p, const py::list& feeds, bool profile) {
  RunBuffers b = bind_buffers(p, feeds);
  std::vector<double> times;
  {
    py::gil_scoped_release nogil;
    p.run(b.in, b.out_ptrs, profile ? &times : nullptr);
  }
  py::list result;
  for (auto& o : b.outs) result.append(o);
  if (profile) return py::list(py::make_tuple(result, times));
  return result;
}

}  // namespace

PYBIND11_MODULE(_engine, m) {
  m.doc() = "softneuro-ep C++ engine";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidArgumentError& e) { PyErr_SetString(error_class("InvalidArgument"), e.what());
    } catch (const InvalidGraphError& e) { PyErr_SetString(error_class("InvalidGraph"), e.what());
    } catch (const NotImplementedError& e) { PyErr_SetString(error_class("NotImplemented"), e.what());
    } catch (const FailError& e) { PyErr_SetString(error_class("Fail"), e.what());
    }
  });

  py::class_<Plan>(m, "Plan")
      .def(py::init<int, bool>(), py::arg("num_threads"), py::arg("shared_pool") = false)
      .def("add_arena_tensor", [](Plan& p, int dt, std::vector<int64_t> shape, size_t off, const std::string& layout) {
             return p.add_arena_tensor((DType)dt, std::move(shape), off, parse_layout(layout)); },
           py::arg("dtype"), py::arg("shape"), py::arg("offset"), py::arg("layout") = "nchw")
      .def("add_constant", [](Plan& p, int dt, py::array a) {
             py::array c = py::array::ensure(a, py::array::c_style);
             std::vector<int64_t> shape(c.shape(), c.shape() + c.ndim());
             if ((size_t)c.itemsize() != dtype_size((DType)dt))
               throw InvalidArgumentError("constant itemsize does not match its dtype");
             if (!p.kernel_sharing()) return p.add_constant((DType)dt, shape, c.data());
             // sharing: the array itself, held (and released under the GIL) until finalize
             auto* held = new py::object(c);
             std::shared_ptr<const void> keep(c.data(), [held](const void*) {
               py::gil_scoped_acquire gil;
               delete held;
             });
             return p.add_constant((DType)dt, shape, c.data(), std::move(keep)); })
      .def("add_input", [](Plan& p, int dt, std::vector<int64_t> shape, int i) {
             return p.add_input((DType)dt, std::move(shape), i); })
      .def("add_output", [](Plan& p, int dt, std::vector<int64_t> shape, int i) {
             return p.add_output((DType)dt, std::move(shape), i); })
      .def("add_step", [](Plan& p, const std::string& name, const std::string& op, const py::dict& attrs,
                          const std::vector<int>& in, const std::vector<int>& out, const std::string& desc) {
             return p.add_step(name, op, to_attrs(attrs), in, out, desc); },
           py::arg("name"), py::arg("op"), py::arg("attrs"), py::arg("inputs"), py::arg("outputs"),
           py::arg("descriptor") = "")
      .def("supports", [](const Plan& p, const std::string& desc, const std::string& name, const std::string& op,
                          const py::dict& attrs, const std::vector<int>& in, const std::vector<int>& out) {
             // Whether routine `desc` is usable here and supports this layer (tensors of this plan).
             Routine* r = Registry::get().by_descriptor(op, desc);
             if (!r || !r->usable()) return false;
             return r->supports(p.make_layer(name, op, to_attrs(attrs), in, out)); })
      .def("time_median", [](Plan& p, const py::list& feeds, int warmup, int min_reps, int max_reps, double budget_us,
                             int cold) {
             RunBuffers b = bind_buffers(p, feeds);
             py::gil_scoped_release nogil;
             return p.time_median(b.in, b.out_ptrs, warmup, min_reps, max_reps, budget_us, cold); },
           py::arg("feeds"), py::arg("warmup") = 2, py::arg("min_reps") = 5, py::arg("max_reps") = 50,
           py::arg("budget_us") = 20000.0, py::arg("cold") = 0)
      .def("enable_kernel_sharing", &Plan::enable_kernel_sharing)
      .def("share_kernels_from", &Plan::share_kernels_from, py::arg("donor"))
      .def("shared_steps", &Plan::shared_steps)
      .def("set_arena_bytes", &Plan::set_arena_bytes)
      .def("set_linger_us", &Plan::set_linger_us, py::arg("us"))
      .def("pool_jobs", &Plan::pool_jobs)
      .def("finalize", [](Plan& p) { py::gil_scoped_release nogil; p.finalize(); })
      .def("run", [](Plan& p, const py::list& feeds) { return run_plan(p, feeds, false); })
      .def("run_profiled", [](Plan& p, const py::list& feeds) { return run_plan(p, feeds, true); })
      .def_property_readonly("arena_bytes", &Plan::arena_bytes)
      .def_property_readonly("workspace_bytes", &Plan::workspace_bytes)
      .def_property_readonly("num_threads", &Plan::num_threads)
      // Per step: (name, [input arena offsets], [output arena offsets]); -1 for a tensor
      // outside the arena (feed, constant, graph output, omitted). Tests check placements.
      .def("step_offsets", [](const Plan& p) {
             py::list l;
             auto off = [&](int id) -> long long {
               if (id < 0) return -1;
               const auto& t = p.tensors().at(id);
               return t.kind == Plan::Kind::Arena ? (long long)t.offset : -1;
             };
             for (auto& s : p.steps()) {
               py::list i, o;
               for (int id : s.in) i.append(off(id));
               for (int id : s.out) o.append(off(id));
               l.append(py::make_tuple(s.layer.name, i, o));
             }
             return l; })
      .def("step_routines", [](const Plan& p) {
             py::list l;
             for (auto& s : p.steps()) l.append(py::make_tuple(s.layer.name, s.layer.op, s.routine->descriptor()));
             return l; });

  m.def("routines", [](const std::string& op) {
    py::list l;
    for (Routine* r : Registry::get().all()) {
      if (!op.empty() && r->op() != op) continue;
      py::dict d;
      d["op"] = r->op(); d["descriptor"] = r->descriptor(); d["version"] = r->version();
      d["isa"] = r->isa(); d["usable"] = r->usable();
      l.append(d);
    }
    return l;
  }, py::arg("op") = "");

  m.def("supported_ops", [] {
    std::vector<std::string> ops;
    for (Routine* r : Registry::get().all()) ops.push_back(r->op());
    std::sort(ops.begin(), ops.end());
    ops.erase(std::unique(ops.begin(), ops.end()), ops.end());
    return ops;
  });

  m.def("physical_bytes", [](int dt, std::vector<int64_t> shape, const std::string& layout) {
    return (size_t)physical_numel(shape, parse_layout(layout)) * dtype_size((DType)dt);
  });

  // Test hook: which thread ran which range of ThreadPool::parallel_for. Each range the calling
  // thread runs first sleeps caller_delay_us, so the workers have work to take from it.
  m.def("_pool_trace", [](int threads, int64_t n, int64_t grain, int caller_delay_us) {
    py::gil_scoped_release nogil;
    ThreadPool pool(threads);
    const auto caller = std::this_thread::get_id();
    std::mutex mu;
    std::vector<std::tuple<int64_t, int64_t, bool>> ranges;
    pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
      const bool by_caller = std::this_thread::get_id() == caller;
      if (by_caller && caller_delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(caller_delay_us));
      std::lock_guard<std::mutex> g(mu);
      ranges.emplace_back(b, e, by_caller);
    });
    return ranges;
  });

  // qgemm::run_tasks's order: (task, worker slot, run by the caller) as run, the caller sleeping
  // delay_us per task.
  m.def("_owned_trace", [](int threads, int64_t n, int caller_delay_us) {
    py::gil_scoped_release nogil;
    ThreadPool pool(threads);
    const auto caller = std::this_thread::get_id();
    std::mutex mu;
    std::vector<std::tuple<int64_t, int, bool>> order;
    qgemm::run_tasks(&pool, n, qgemm::scratch_slots(), [&](int64_t t, int w) {
      const bool by_caller = std::this_thread::get_id() == caller;
      if (by_caller && caller_delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(caller_delay_us));
      std::lock_guard<std::mutex> g(mu);
      order.emplace_back(t, w, by_caller);
    });
    return order;
  });

  // ThreadPool::run_on_each after the pool sat idle idle_us: per task, whether the caller ran it.
  m.def("_each_trace", [](int threads, int idle_us) {
    py::gil_scoped_release nogil;
    ThreadPool pool(threads);
    pool.run_tasks(threads, [](int64_t) {});  // the workers have run once, then go idle
    std::this_thread::sleep_for(std::chrono::microseconds(idle_us));
    const auto caller = std::this_thread::get_id();
    std::vector<int> by_caller(threads, -1);
    pool.run_on_each([&](int t) { by_caller[t] = std::this_thread::get_id() == caller; });
    return by_caller;
  });

  m.def("measure_peak", [](double burst_ms, int reps) {
    probe::Peak p;
    {
      py::gil_scoped_release nogil;
      p = probe::measure_peak(burst_ms, reps);
    }
    py::dict d;
    d["isa"] = p.isa; d["fp32_gflops"] = p.fp32; d["int8_gops"] = p.int8;
    return d;
  }, py::arg("burst_ms") = 20.0, py::arg("reps") = 3,
     "One core's measured peak: fp32 FMA GFLOP/s and (AVX-512 VNNI) int8 GOP/s, best of reps bursts.");

  m.def("cpu_info", [] {
    py::dict d;
    const auto& f = cpu_features();
    d["model"] = cpu_model_name();
    d["avx2"] = f.avx2 && f.fma; d["avx512f"] = cpu_has("avx512f");
    d["avx512_vnni"] = cpu_has("avx512_vnni"); d["avx512_bf16"] = cpu_has("avx512_bf16");
    d["amx_int8"] = cpu_has("amx_int8"); d["avx_vnni"] = cpu_has("avx_vnni");
    d["qgemm_ukernel"] = qgemm::best_ukernel().name;
    d["hardware_threads"] = (int)std::thread::hardware_concurrency();
    return d;
  });
}

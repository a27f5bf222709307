// Engine exceptions; the bindings map each to the onnxruntime-named Python class.
#pragma once
#include <stdexcept>
#include <string>

namespace snep {
struct FailError : std::runtime_error { using std::runtime_error::runtime_error; };
struct InvalidArgumentError : std::runtime_error { using std::runtime_error::runtime_error; };
struct InvalidGraphError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };
}  // namespace snep

#define SNEP_CHECK(cond, ErrType, msg) \
  do { if (!(cond)) throw ::snep::ErrType(msg); } while (0)

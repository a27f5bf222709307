// Node attributes as the plan carries them (converted from ONNX by Python).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/errors.h"

namespace snep {

struct AttrValue {
  enum Kind { Int, Float, String, Ints, Floats, Strings } kind = Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
};

class Attrs {
 public:
  std::map<std::string, AttrValue> values;

  bool has(const std::string& k) const { return values.count(k) != 0; }
  int64_t get_int(const std::string& k, int64_t dflt) const {
    auto it = values.find(k);
    return it == values.end() ? dflt : (it->second.kind == AttrValue::Float ? (int64_t)it->second.f : it->second.i);
  }
  double get_float(const std::string& k, double dflt) const {
    auto it = values.find(k);
    if (it == values.end()) return dflt;
    return it->second.kind == AttrValue::Int ? (double)it->second.i : it->second.f;
  }
  std::string get_string(const std::string& k, const std::string& dflt) const {
    auto it = values.find(k);
    return it == values.end() ? dflt : it->second.s;
  }
  std::vector<int64_t> get_ints(const std::string& k, std::vector<int64_t> dflt = {}) const {
    auto it = values.find(k);
    return it == values.end() ? dflt : it->second.ints;
  }
  std::vector<double> get_floats(const std::string& k, std::vector<double> dflt = {}) const {
    auto it = values.find(k);
    return it == values.end() ? dflt : it->second.floats;
  }
};

}  // namespace snep

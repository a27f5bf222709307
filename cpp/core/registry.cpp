#include <map>

#include "core/routine.h"

namespace snep {

namespace {
std::map<std::string, std::vector<Routine*>>& by_op() {
  static std::map<std::string, std::vector<Routine*>> m;
  return m;
}
}  // namespace

Registry& Registry::get() {
  static Registry r;
  return r;
}

void Registry::add(std::unique_ptr<Routine> r) {
  by_op()[r->op()].push_back(r.get());
  owned_.push_back(std::move(r));
}

const std::vector<Routine*>& Registry::for_op(const std::string& op) const {
  static const std::vector<Routine*> none;
  auto it = by_op().find(op);
  return it == by_op().end() ? none : it->second;
}

Routine* Registry::by_descriptor(const std::string& op, const std::string& desc) const {
  for (Routine* r : for_op(op))
    if (r->descriptor() == desc) return r;
  return nullptr;
}

std::vector<Routine*> Registry::all() const {
  std::vector<Routine*> v;
  for (auto& r : owned_) v.push_back(r.get());
  return v;
}

}  // namespace snep

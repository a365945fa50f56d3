#include "transfer/plan_subset.h"

#include <algorithm>

namespace ktsync {
namespace {

// Index of each entry's parent directory, in one pass: path order is a depth-first walk,
// so the open directories form a stack.
std::vector<int64_t> ParentIndices(const Manifest& src) {
  std::vector<int64_t> parent(src.size(), -1);
  std::vector<int64_t> open;
  for (size_t i = 0; i < src.size(); ++i) {
    std::string_view want = ParentPath(src[i].path);
    while (!open.empty() && src[static_cast<size_t>(open.back())].path != want) open.pop_back();
    if (i > 0 && !open.empty()) parent[i] = open.back();
    if (src[i].IsDir()) open.push_back(static_cast<int64_t>(i));
  }
  return parent;
}

void MarkWithAncestors(const std::vector<int64_t>& parent, int64_t i, std::vector<char>& keep) {
  for (; i >= 0 && !keep[static_cast<size_t>(i)]; i = parent[static_cast<size_t>(i)]) keep[static_cast<size_t>(i)] = 1;
}

}  // namespace

PlanSubset SubsetForPlan(const Plan& plan, const Manifest& src) {
  std::vector<char> keep(src.size(), 0);
  if (!src.empty()) keep[0] = 1;
  std::vector<int64_t> parent = ParentIndices(src);
  for (const Action& a : plan.actions) {
    if (a.src < 0) continue;
    MarkWithAncestors(parent, a.src, keep);
    int64_t leader = src[static_cast<size_t>(a.src)].link_leader;
    if (a.kind == ActionKind::HardLink && leader >= 0) MarkWithAncestors(parent, leader, keep);
  }
  PlanSubset out;
  std::vector<int64_t> renumber(src.size(), -1);
  for (size_t i = 0; i < src.size(); ++i) {
    if (!keep[i]) continue;
    renumber[i] = static_cast<int64_t>(out.original.size());
    out.original.push_back(static_cast<int64_t>(i));
  }
  out.plan.totals = plan.totals;
  out.plan.actions.reserve(plan.actions.size());
  for (Action a : plan.actions) {
    if (a.src >= 0) a.src = renumber[static_cast<size_t>(a.src)];
    out.plan.actions.push_back(a);
  }
  return out;
}

Manifest SubsetEntries(const PlanSubset& s, const Manifest& src, size_t begin, size_t end) {
  end = std::min(end, s.original.size());
  Manifest out;
  for (size_t i = begin; i < end; ++i) {
    Entry e = src[static_cast<size_t>(s.original[i])];
    if (e.link_leader >= 0) {
      auto it = std::lower_bound(s.original.begin(), s.original.end(), e.link_leader);
      e.link_leader = it != s.original.end() && *it == e.link_leader ? it - s.original.begin() : -1;
    }
    out.push_back(std::move(e));
  }
  return out;
}

bool DropDeletions(Plan& plan) {
  return std::erase_if(plan.actions, [](const Action& a) { return a.kind == ActionKind::Delete; }) > 0;
}

}  // namespace ktsync

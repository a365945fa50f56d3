// What a pushing client sends with its plan: only the source entries the plan touches (plus
// their ancestor directories and hard-link leaders, so the receiver can validate placement),
// renumbered, with the plan's source indices rewritten to match. Pure.
//
// The subset is a list of indices, not a copy: for a million-entry push that copy was
// another 180 MB. SubsetEntries materializes a slice at a time for the wire.
#pragma once

#include <vector>

#include "manifest/plan.h"

namespace ktsync {

struct PlanSubset {
  std::vector<int64_t> original;  // subset entry i is src[original[i]]; ascending, root first
  Plan plan;                      // src indices are subset indices
};

PlanSubset SubsetForPlan(const Plan& plan, const Manifest& src);

// Subset entries [begin, end) (clamped to the subset's size), copied from `src` with
// link_leader rewritten to a subset index (-1 when the leader is not in the subset).
Manifest SubsetEntries(const PlanSubset& s, const Manifest& src, size_t begin, size_t end);

// Removes the Delete actions (extraneous entries; RemoveForType stays, a type change needs
// it). For the side that deletes when an error happened on the OTHER side: an unreadable
// source directory looks exactly like a deleted one. Returns whether any were removed.
bool DropDeletions(Plan& plan);

}  // namespace ktsync

// What a pushing client sends with its plan: only the source entries the plan touches (plus
// their ancestor directories and hard-link leaders, so the receiver can validate placement),
// renumbered, with the plan's source indices rewritten to match. Pure.
#pragma once

#include <vector>

#include "manifest/plan.h"

namespace ktsync {

struct PlanSubset {
  Manifest entries;               // path order, root first
  Plan plan;                      // src indices point into `entries`
  std::vector<int64_t> original;  // entries[i] is src[original[i]]
};

PlanSubset SubsetForPlan(const Plan& plan, const Manifest& src);

// Removes the Delete actions (extraneous entries; RemoveForType stays, a type change needs
// it). For the side that deletes when an error happened on the OTHER side: an unreadable
// source directory looks exactly like a deleted one. Returns whether any were removed.
bool DropDeletions(Plan& plan);

}  // namespace ktsync

// Names of ktsync's temporary files in the destination.
//
// Every new symlink, special node and hard link (and every file where unnamed files are
// unavailable, anonymous_file.h) is first created under a temp name in its final directory
// and then renamed over the final name, so nothing half-written is ever visible under a real
// name. A run that dies leaves temps behind; the scanner skips names starting with
// kTempPrefix and hands them to RemoveStaleTemps (apply_action.h).
#pragma once

#include <string>
#include <string_view>

namespace ktsync {

inline constexpr std::string_view kTempPrefix = ".ktsync-tmp.";

// kTempPrefix + 16 random hex digits. Unpredictable so another local user cannot pre-create
// the name; O_EXCL/EEXIST retries handle the rest.
std::string MakeTempName();

inline bool IsTempName(std::string_view base) { return base.starts_with(kTempPrefix); }

}  // namespace ktsync

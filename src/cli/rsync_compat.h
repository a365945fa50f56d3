// What ktsync makes of rsync's spellings that CLI11 alone would not: rsync's size and rate
// units, and rsync options that make no sense here, each refused with one line saying
// what ktsync does instead (the man page's "RSYNC OPTIONS" section lists the same).
// Options ktsync shares with rsync, including the no-ops, are ordinary flags in options.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ktsync {

// rsync's SIZE syntax (--max-size, --bwlimit): a number, maybe fractional, then an optional
// unit b, K, M, G, T or P (`default_unit` when none), 1024-based, or 1000-based with a
// trailing B (KB, MB), and an optional "+1" or "-1". Throws Error(Usage) naming `option`.
uint64_t ParseSize(const std::string& text, char default_unit, const std::string& option);

// --bwlimit as rsync reads it: a bare number is KiB/s, 0 unlimited, else at least 512 bytes/s.
uint64_t ParseRate(const std::string& text);

// The mirror (or copy) command's arguments after the command word, as CLI11 should see them: throws
// Error(Usage) at the first rsync option ktsync does not have, saying what to use instead,
// and drops rsync's -h (--human-readable) from a group of short flags such as -avh (ktsync's
// numbers are always readable; -h alone still asks for help). `takes_value` tells whether an
// option ("--exclude", "-f") takes the next word as its value: values pass untouched.
using TakesValue = std::function<bool(const std::string& option)>;
std::vector<std::string> MirrorArgs(const std::vector<std::string>& args, const TakesValue& takes_value);

}  // namespace ktsync

#include "cli/options.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string_view>

#include "cli/out_format.h"
#include "cli/rsync_compat.h"
#include "manifest/chmod.h"
#include "transfer/session_messages.h"
#include "util/error.h"

namespace ktsync {
namespace {

// The first lines of `ktsync --help` and `ktsync mirror --help`: mirror deletes, and says how
// it guards that (issue 15: `ktsync mirror ~/project ~` is the rsync habit of a wrong path).
constexpr const char* kAppHelp =
    "ktsync: fast, safe directory mirroring over kernel TLS\n"
    "'ktsync mirror SRC DST' deletes what SRC lacks (a first mirror into a DST that would lose\n"
    "most of its entries stops first: --force-delete); 'ktsync copy SRC DST' never deletes.";
constexpr const char* kMirrorSummary =
    "Make DST an exact mirror of SRC, deleting what SRC lacks (guarded; 'copy' never deletes)";
constexpr const char* kCopySummary = "Copy what differs from SRC into DST; never delete (mirror --no-delete)";
std::string MirrorHelp() {
  return "Make DST identical to SRC: copy what differs, fix metadata, delete what SRC lacks.\n"
         "SRC and DST are directories; the *contents* of SRC are mirrored into DST whether or not\n"
         "either has a trailing slash. Either side may be [user@]host:/path (over ssh) or\n"
         "ktsync://host[:port]/path (a `ktsync serve` daemon).\n"
         "A first mirror into a non-empty DST that ktsync has never mirrored into stops before\n"
         "changing anything (exit 25) when it would delete more than " +
         std::to_string(kFirstMirrorHandful) + " entries and more than " + std::to_string(kFirstMirrorShare) +
         "% of DST:\ncheck the paths, then add --force-delete, or use 'ktsync copy' to keep DST's other entries.";
}

constexpr const char* kCopyHelp =
    "Like 'ktsync mirror' (same SRC, DST and options) but entries DST has and SRC lacks are kept:\n"
    "copy what differs, fix metadata, delete nothing.";

// A file named on the command line ("-" is stdin): the user's own, read whole. `what` names
// it in messages.
std::string ReadUserFile(const std::string& file, const std::string& what) {
  std::ifstream in(file == "-" ? "/dev/stdin" : file, std::ios::binary);
  if (!in) throw Error(ExitCode::Usage, ErrnoMessage(what + " " + file, errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(ExitCode::Usage, ErrnoMessage("read " + what + " " + file, errno));
  return text.str();
}

std::string ReadFilterFile(const std::string& file) { return ReadUserFile(file, "filter file"); }

// --files-from FILE (rsync's): read on this side, whichever side SRC is on; "host:FILE", a
// list on the remote host, is refused.
std::shared_ptr<const FileList> ReadFileList(const std::string& file, bool from0, bool recursive) {
  size_t colon = file.find(':');
  if (colon != std::string::npos && colon > 0 && file.find('/') > colon)
    throw Error(ExitCode::Usage, "--files-from " + file + ": ktsync reads the list on this host only (copy it here; '-' is stdin)");
  std::string text = ReadUserFile(file, "--files-from");
  std::vector<ListedPath> paths = ParseFileList(text, from0, "--files-from " + file);
  return std::make_shared<const FileList>(std::move(paths), recursive);
}

// Flags whose meaning is settled after parsing (negations, defaults that depend on euid).
// They must outlive AddMirror because CLI11 writes them during parse().
struct MirrorScratch {
  bool no_delete = false;
  bool owner = geteuid() == 0;
  bool group = true;
  bool no_owner = false;
  bool no_group = false;
  bool cross = false;
  bool no_hard_links = false;
  bool xattrs = true;
  bool no_xattrs = false;
  bool acls = true;
  bool no_acls = false;
  bool compress = false;
  std::string data_via = "auto";
  std::string bw;
  int64_t modify_window = 0;
  // rsync's spellings (rsync_compat.h): -a is -o plus what ktsync always does.
  bool archive = false;
  bool always_on = false;  // the no-ops' target: -l -p -t -D -W -S --partial ...
  // -r: always on, except that with --files-from only an explicit -r recurses (as in rsync).
  bool recursive = false;
  std::string files_from;
  bool from0 = false;
  std::vector<std::string> info;
  std::string max_size, min_size;
  std::vector<std::string> chmod;
  std::string chown;
  RuleListBuilder filters{ReadFilterFile};
  int filter_files_option = 0;  // how many -F so far
};

// --info=FLAGS, comma-separated: the ones ktsync's output has; the rest are refused.
void ApplyInfo(const std::vector<std::string>& flags, OutputOptions& out) {
  for (const std::string& f : flags) {
    if (f == "progress" || f == "progress1" || f == "progress2") {
      out.progress = true;
    } else if (f == "progress0") {
      out.no_progress = true;
    } else if (f == "stats" || f == "stats1" || f == "stats2" || f == "stats3") {
      out.stats = true;
    } else if (f != "stats0") {
      throw Error(ExitCode::Usage, "--info=" + f + ": ktsync's output is chosen with --progress, --stats, -i, "
                                   "-v and --json; --info takes progress2 and stats only");
    }
  }
}

// --chown USER:GROUP, USER, USER: or :GROUP (rsync's forms); each part is looked up at DST.
void ParseChown(const std::string& text, MirrorSpec& spec) {
  size_t colon = text.find(':');
  spec.chown_user = text.substr(0, colon);
  spec.chown_group = colon == std::string::npos ? "" : text.substr(colon + 1);
  if ((spec.chown_user.empty() && spec.chown_group.empty()) || spec.chown_group.find(':') != std::string::npos ||
      spec.chown_user.size() > 255 || spec.chown_group.size() > 255)
    throw Error(ExitCode::Usage, "--chown '" + text + "': expected USER:GROUP, USER or :GROUP");
  // Like rsync's --chown with -o -g: the new owner only counts where owners are kept.
  if (!spec.chown_user.empty()) spec.plan.owner = true;
  if (!spec.chown_group.empty()) spec.plan.group = true;
}

uint32_t CurrentUmask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}

// rsync spellings of what ktsync always does, accepted and ignored (man: RSYNC OPTIONS).
void AddRsyncNoOps(CLI::App* m, MirrorScratch& x) {
  m->add_flag("-a,--archive", x.archive, "rsync's -rlptgoD: what ktsync always does, and -o");
  m->add_flag("-r,--recursive", x.recursive,
              "Always on in ktsync, but with --files-from listed directories are descended only with -r");
  m->add_flag("-l,--links,-p,--perms,-t,--times,-D,--devices,--specials", x.always_on,
              "Always on in ktsync (accepted for rsync scripts)");
  m->add_flag("-W,--whole-file,-S,--sparse,--partial,--force", x.always_on,
              "Always on in ktsync: whole files, holes kept, no partial file under a final name");
}

// A rule option, applied where it stands on the command line: the first match wins.
void AddRuleOption(CLI::App& m, const std::string& name, std::function<void(const std::string&)> add,
                   const std::string& what, const std::string& type) {
  m.add_option_function<std::string>(name, std::move(add), what)
      ->trigger_on_parse()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->type_name(type);
}

// rsync's filter options, with rsync's meaning (filter_rule.h, man ktsync "FILTER RULES").
void AddFilterOptions(CLI::App& m, MirrorScratch& x) {
  RuleListBuilder& b = x.filters;
  AddRuleOption(m, "--exclude", [&b](const std::string& p) { b.Add(p, RuleSyntax::OldPrefixes, RuleKind::Exclude); },
                "Exclude paths matching PATTERN (rsync's rules; repeatable)", "PATTERN");
  AddRuleOption(m, "--include", [&b](const std::string& p) { b.Add(p, RuleSyntax::OldPrefixes, RuleKind::Include); },
                "Include paths matching PATTERN even if a later rule excludes them (first match wins)",
                "PATTERN");
  AddRuleOption(m, "--exclude-from", [&b](const std::string& f) { b.AddFile(f, RuleKind::Exclude); },
                "Read exclude patterns from FILE, one per line (\"+ \" and \"- \" prefixes too)", "FILE");
  AddRuleOption(m, "--include-from", [&b](const std::string& f) { b.AddFile(f, RuleKind::Include); },
                "Read include patterns from FILE, one per line", "FILE");
  AddRuleOption(m, "-f,--filter", [&b](const std::string& r) { b.Add(r, RuleSyntax::Full); },
                "Add a filter RULE: + - H S P R ! merge dir-merge, with modifiers, as rsync", "RULE");
  m.add_flag_callback(
       "-F",
       [&x] {
         // rsync: the first -F reads .rsync-filter files (from / down), the second excludes them.
         if (++x.filter_files_option == 1) x.filters.Add(": /.rsync-filter", RuleSyntax::Full);
         if (x.filter_files_option == 2) x.filters.Add("- .rsync-filter", RuleSyntax::Full);
       },
       "Read .rsync-filter rules in each directory (like -f': /.rsync-filter'); twice: also leave them out")
      ->trigger_on_parse()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// Deleting what SRC lacks, and its limits: mirror's, not copy's.
void AddDeleteOptions(CLI::App* m, MirrorSpec& spec, MirrorScratch& x) {
  m->add_flag("--delete,--del,--delete-before,--delete-during,--delete-delay,--delete-after",
              spec.plan.delete_extraneous, "Delete entries DST has but SRC lacks (default; always after the copying)");
  m->add_flag("--no-delete", x.no_delete, "Keep entries DST has but SRC lacks");
  m->add_flag("--force-delete", spec.deletes.force_delete,
              "Delete even on a first mirror into a DST that would lose most of its entries");
  m->add_option("--max-delete", spec.deletes.max_delete, "Refuse (exit 25, change nothing) if more than N would be deleted");
  m->add_option("--max-delete-percent", spec.deletes.max_delete_percent,
                "Refuse (exit 25) if more than P% of DST's entries would be deleted")
      ->check(CLI::Range(0.0, 100.0));
  m->add_flag("--delete-on-error", spec.deletes.delete_on_error, "Still delete extraneous entries after an error");
  m->add_flag("--delete-excluded", spec.delete_excluded,
              "Also delete what DST has that the filter rules exclude (rules naming no side apply to SRC only)");
}

// `mirror` (deletes: true) and `copy` share every other option: one definition, bound to the
// same MirrorOptions (only one of the two is parsed).
void AddTransferCommand(CLI::App* m, Command& cmd, MirrorScratch& x, bool deletes) {
  MirrorOptions& o = cmd.mirror;
  MirrorSpec& spec = o.spec;
  m->add_option("SRC", o.src, "Source directory (local, [user@]host:/path or ktsync://host/path)")
      ->required();
  m->add_option("DST", o.dst, "Destination directory (created if missing; parent must exist)")
      ->required();
  m->add_flag("-n,--dry-run", spec.dry_run, "List every pending change exactly; change nothing");
  m->add_flag("-i,--itemize-changes", o.out.itemize, "Print one rsync-style line per change");
  m->add_flag("--json", o.out.json, "Print JSON lines (plan, item, progress, summary, error)");
  m->add_flag("--stats", o.out.stats, "Print a summary: counts, bytes, time per phase, encryption");
  m->add_flag("-v,--verbose", o.out.verbose, "More detail (repeatable)");
  m->add_flag("-q,--quiet", o.out.quiet, "Print errors only");
  m->add_flag("--progress", o.out.progress, "Show live progress even when not on a terminal");
  m->add_flag("-P", o.out.progress, "rsync's --partial --progress: --progress (ktsync never keeps partial files)");
  m->add_option("--info", x.info, "rsync's --info: progress2 (--progress) and stats (--stats)")
      ->delimiter(',')
      ->type_name("FLAGS");
  m->add_flag("--no-progress", o.out.no_progress, "Never show live progress");
  m->add_option("--out-format", o.out.out_format, "Print each change as FORMAT (rsync's %n %f %i %l %L %b %o %t %p)")
      ->type_name("FORMAT");
  m->add_option("--log-file", o.out.log_file, "Append what the run did to FILE, with timestamps")->type_name("FILE");
  m->add_option("--log-file-format", o.out.log_file_format, "Each change's line in --log-file (default \"%i %n%L\")")
      ->type_name("FORMAT");

  if (deletes) AddDeleteOptions(m, spec, x);
  m->add_flag("-c,--checksum", spec.plan.checksum, "Compare content hashes, not size+mtime");
  m->add_flag("--size-only", spec.plan.size_only, "Treat files of the same size as the same (mtimes still mirrored)");
  m->add_option("--modify-window", x.modify_window, "Treat mtimes within N seconds as equal")
      ->check(CLI::Range(0, 1'000'000'000))
      ->type_name("N");
  m->add_flag("-u,--update", spec.plan.update_only, "Keep DST files whose mtime is newer than SRC's");
  m->add_flag("--ignore-existing", spec.plan.ignore_existing, "Change nothing DST already has (new entries only)");
  m->add_flag("--existing,--ignore-non-existing", spec.plan.existing_only, "Create nothing DST lacks (updates only)");
  m->add_option("--max-size", x.max_size, "Leave SRC files larger than SIZE alone (e.g. 100M)")->type_name("SIZE");
  m->add_option("--min-size", x.min_size, "Leave SRC files smaller than SIZE alone")->type_name("SIZE");
  m->add_option("--chmod", x.chmod, "Change DST's permissions: rsync's rules, e.g. Dg+s,ug+w,Fo-w,+X or F644")
      ->type_name("RULES")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  m->add_option("--chown", x.chown, "Give DST's entries this owner and/or group (USER:GROUP, USER, :GROUP)")
      ->type_name("USER:GROUP");
  m->add_flag("--safe-links", spec.safe_links, "Leave alone SRC symlinks that point out of SRC (rsync's 'unsafe')");
  m->add_flag("-L,--copy-links", spec.copy_links, "Copy what SRC's symlinks point to, not the links (DST's are never followed)");
  m->add_flag("-H,--hard-links", spec.plan.hard_links, "Preserve hard links (default)");
  m->add_flag("--no-hard-links", x.no_hard_links, "Copy hard-linked files as separate files");
  m->add_flag("-X,--xattrs", x.xattrs, "Preserve extended attributes (default)");
  m->add_flag("--no-xattrs", x.no_xattrs, "Do not copy extended attributes");
  m->add_flag("-A,--acls", x.acls, "Preserve POSIX ACLs (default)");
  m->add_flag("--no-acls", x.no_acls, "Do not copy POSIX ACLs");
  m->add_flag("-o,--owner", x.owner, "Preserve owner (default when run as root; only root can give files away)");
  m->add_flag("--no-owner", x.no_owner, "Do not preserve owner");
  m->add_flag("-g,--group", x.group, "Preserve group (default)");
  m->add_flag("--no-group", x.no_group, "Do not preserve group");
  m->add_flag("--numeric-ids", o.numeric_ids, "Keep uid/gid numbers (ktsync always maps by number)");
  m->add_flag("--fsync", spec.fsync, "Make each completed file and rename durable before going on");
  m->add_flag("--skip-changing-files", spec.skip_changing_files,
              "Do not copy a file that changes while it is read (default: read it again, up to 4 times)");

  AddFilterOptions(*m, x);
  m->add_option("--files-from", x.files_from,
                "Take only the SRC paths listed in FILE ('-': stdin), with their parent directories; "
                "listed directories are descended only with -r")
      ->type_name("FILE");
  m->add_flag("--from0", x.from0, "--files-from's list is NUL-separated (no comment lines)");

  m->add_option("--state-dir", o.state_dir, "Where hash-cache databases live (default $XDG_STATE_HOME/ktsync)");
  m->add_flag("-x,--one-file-system", spec.one_file_system, "Do not cross filesystem boundaries (default)");
  m->add_flag("--cross-filesystems", x.cross, "Descend into other filesystems mounted inside SRC");

  m->add_option("-e,--ssh,--rsh", o.ssh_command, "ssh command for host:/path remotes (like rsync -e)");
  m->add_option("--remote-ktsync,--rsync-path", o.remote_ktsync,
                "Command that runs ktsync on the remote host (e.g. \"sudo -n ktsync\")")
      ->type_name("COMMAND");
  m->add_option("--secret-file", o.secret_file, "Shared secret for ktsync:// daemons");
  m->add_option("--streams", o.net.streams, "Parallel data connections (default: automatic)")
      ->check(CLI::Range(0, 16));
  m->add_option("--data-port", o.net.data_port, "Fixed port for the remote's data listener (ssh mode)");
  m->add_option("--data-via", x.data_via, "host:/path remotes: auto (direct TCP, else inside ssh), direct, or ssh")
      ->check(CLI::IsMember({"auto", "direct", "ssh"}).description(""))
      ->type_name("auto|direct|ssh");
  m->add_flag("-z,--compress", x.compress, "Compress file data with zstd (data that does not shrink goes as is)");
  m->add_option("--compress-level", o.net.compress_level, "zstd level for -z (default 3)")
      ->check(CLI::Range(1, kMaxCompressLevel));
  m->add_flag("--require-ktls", o.net.require_ktls, "Fail unless encryption runs in the kernel (kTLS)");
  m->add_flag("--no-ktls", o.net.no_ktls, "Encrypt in userspace even where kernel TLS is available");
  m->add_flag("--no-encryption", o.net.no_encryption,
              "Send data in plaintext (ONLY on a network you fully trust)");
  m->add_option("--bwlimit", x.bw, "Limit data rate, e.g. 50M (rsync's units: a bare number is KiB/s)")
      ->type_name("RATE");
  AddRsyncNoOps(m, x);
  m->add_option("--timeout", o.net.timeout_sec, "Fail if no I/O happens for this many seconds");

  // CLI11's callback() and final_callback() are one slot: everything goes in this one.
  m->final_callback([&cmd, &o, &spec, &x, deletes]() {
    cmd.kind = Command::Kind::Mirror;
    if (x.no_delete || !deletes) spec.plan.delete_extraneous = false;
    spec.filters = x.filters.Take();
    if (spec.filters.size() > kMaxFilterRules)
      throw Error(ExitCode::Usage, "too many filter rules (" + std::to_string(spec.filters.size()) + "; at most " +
                                       std::to_string(kMaxFilterRules) + "): match more with each pattern");
    if (spec.delete_excluded && !spec.plan.delete_extraneous)
      throw Error(ExitCode::Usage, "--delete-excluded deletes, --no-delete does not: drop one");
    if (x.from0 && x.files_from.empty()) throw Error(ExitCode::Usage, "--from0 needs --files-from FILE");
    if (!x.files_from.empty()) o.file_list = ReadFileList(x.files_from, x.from0, x.recursive);
    if (!x.chown.empty()) ParseChown(x.chown, spec);
    spec.plan.owner = (spec.plan.owner || x.owner || x.archive) && !x.no_owner;
    spec.plan.group = (spec.plan.group || x.group) && !x.no_group;
    ApplyInfo(x.info, o.out);
    spec.plan.mtime_tolerance_ns = x.modify_window * 1'000'000'000;
    if (!x.max_size.empty()) spec.plan.max_size = ParseSize(x.max_size, 'b', "--max-size");
    if (!x.min_size.empty()) spec.plan.min_size = ParseSize(x.min_size, 'b', "--min-size");
    for (const std::string& rules : x.chmod)
      for (const ChmodRule& r : ParseChmod(rules, CurrentUmask())) spec.chmod.push_back(r);
    if (spec.chmod.size() > kMaxChmodRules)
      throw Error(ExitCode::Usage, "--chmod: more than " + std::to_string(kMaxChmodRules) + " rules");
    if (x.cross) spec.one_file_system = false;
    if (x.no_hard_links) spec.plan.hard_links = false;
    if (x.no_xattrs) spec.plan.xattrs &= static_cast<uint8_t>(~kXattrPlain);
    if (x.no_acls) spec.plan.xattrs &= static_cast<uint8_t>(~kXattrAcl);
    if (!x.bw.empty()) o.net.bwlimit = ParseRate(x.bw);
    o.net.data_via = x.data_via == "ssh" ? DataVia::Ssh : x.data_via == "direct" ? DataVia::Direct : DataVia::Auto;
    if (x.compress && o.net.compress_level == 0) o.net.compress_level = kDefaultCompressLevel;
    if (!o.out.out_format.empty() && o.out.json)
      throw Error(ExitCode::Usage, "--out-format and --json cannot be combined (--json's item events carry every field); drop one");
    if (!o.out.out_format.empty()) OutFormat::Parse(o.out.out_format, "--out-format");  // refused now, not mid-run
    OutFormat::Parse(o.out.log_file_format, "--log-file-format");
    if (o.net.require_ktls && (o.net.no_ktls || o.net.no_encryption))
      throw Error(ExitCode::Usage, "--require-ktls contradicts --no-ktls/--no-encryption; drop one");
    if (o.net.require_ktls && o.net.data_via == DataVia::Ssh)
      throw Error(ExitCode::Usage, "--require-ktls contradicts --data-via ssh (ssh encrypts that data); drop one");
  });
}

void AddMirror(CLI::App& app, Command& cmd, MirrorScratch& x) {
  auto* m = app.add_subcommand("mirror", kMirrorSummary);
  m->footer(MirrorHelp());
  AddTransferCommand(m, cmd, x, /*deletes=*/true);
}

void AddCopy(CLI::App& app, Command& cmd, MirrorScratch& x) {
  auto* c = app.add_subcommand("copy", kCopySummary);
  c->footer(kCopyHelp);
  AddTransferCommand(c, cmd, x, /*deletes=*/false);
}

void AddServe(CLI::App& app, Command& cmd) {
  auto* s = app.add_subcommand("serve", "Run the remote end: over ssh (--stdio) or as a daemon");
  ServeOptions& serve = cmd.serve;
  DaemonConfig& o = serve.daemon;
  s->add_flag("--stdio", serve.stdio, "Speak the protocol on stdin/stdout (started by a client over ssh)");
  s->add_option("--listen", o.listen, "Daemon: listen on ADDR:PORT (e.g. 0.0.0.0:7373), or PORT on every address");
  s->add_option("--config", o.config_file, "Daemon: serve the modules this file names (instead of --root)");
  s->add_option("--root", o.root, "Daemon: serve paths beneath this directory only");
  s->add_option("--secret-file", o.secret_file, "Daemon: shared secret (mode 0600 or stricter)");
  s->add_option("--state-dir", o.state_dir, "Where hash-cache databases live");
  s->add_flag("--read-only", o.read_only, "Daemon: clients may only pull");
  s->add_flag("--write-only", o.write_only, "Daemon: clients may only push");
  s->add_option("--max-connections", o.max_connections, "Daemon: concurrent clients")
      ->check(CLI::Range(1, 1024));
  s->add_option("--auth-timeout", o.auth_timeout_sec, "Daemon: seconds a client has to authenticate")
      ->check(CLI::Range(1, 600));
  s->add_option("--idle-timeout", o.idle_timeout_sec,
                "Daemon: end a session whose client sent nothing for this many seconds (default 300)")
      ->check(CLI::Range(DaemonConfig::kMinIdleTimeout, 86400));
  s->add_flag("--no-ktls", o.no_ktls, "Encrypt in userspace even where kernel TLS is available");
  s->add_flag("--allow-devices", o.limits.devices, "Daemon: clients may create block and character devices");
  s->add_flag("--allow-setid", o.limits.setid,
              "Daemon: clients may set setuid/setgid bits and security.*/trusted.* xattrs (capabilities)");
  s->add_flag("--allow-owners", o.limits.owners, "Daemon: files get the owner and group the client sends");
  s->add_flag("--fake-super", o.fake_super,
              "Daemon: keep owners, setid bits and devices in a user.ktsync.stat xattr, not for real");
  s->add_option("--user", o.user, "Daemon: after binding, run as this user (name or uid)");
  s->add_option("--group", o.group, "Daemon: with --user, this group instead of the user's primary group");
  s->add_flag("-v,--verbose", o.verbose, "Log each connection to stderr");
  s->callback([&cmd, &serve, &o]() {
    cmd.kind = Command::Kind::Serve;
    if (serve.stdio == !o.listen.empty())
      throw Error(ExitCode::Usage, "serve needs exactly one of --stdio or --listen ADDR:PORT");
    bool per_tree = !o.root.empty() || !o.secret_file.empty() || o.read_only || o.write_only ||
                    o.limits.devices || o.limits.setid || o.limits.owners || o.fake_super;
    if (!o.config_file.empty() && per_tree)
      throw Error(ExitCode::Usage, "with --config, each module's path, secret, access, allow-* and fake super "
                                   "settings are in the file; drop --root, --secret-file, --read-only, "
                                   "--write-only, --allow-*, --fake-super");
    if (!o.listen.empty() && o.config_file.empty() && (o.root.empty() || o.secret_file.empty()))
      throw Error(ExitCode::Usage, "serve --listen needs --root DIR and --secret-file FILE, or --config FILE");
    if (o.read_only && o.write_only)
      throw Error(ExitCode::Usage, "--read-only and --write-only exclude each other");
    if (!o.group.empty() && o.user.empty()) throw Error(ExitCode::Usage, "--group needs --user");
    if (serve.stdio && (!o.user.empty() || !o.config_file.empty()))
      throw Error(ExitCode::Usage, "--user and --config are for a daemon (--listen)");
    if (serve.stdio && (o.limits.devices || o.limits.setid || o.limits.owners || o.fake_super))
      throw Error(ExitCode::Usage, "--allow-devices, --allow-setid, --allow-owners and --fake-super are for a "
                                   "daemon (--listen); over ssh the account's own privileges decide");
  });
}

void AddState(CLI::App& app, Command& cmd) {
  auto* st = app.add_subcommand("state", "List or prune the hash-cache databases in the state dir");
  st->require_subcommand(1);
  StateOptions& o = cmd.state;
  auto* list = st->add_subcommand("list", "One line per database: size, last use, its tree and whether it exists");
  auto* prune = st->add_subcommand("prune", "Remove databases of trees that are gone or unused (never a running one's)");
  for (CLI::App* a : {list, prune})
    a->add_option("--state-dir", o.state_dir, "Where hash-cache databases live (default $XDG_STATE_HOME/ktsync)");
  list->add_flag("--json", o.json, "One JSON object per database");
  prune->add_flag("--missing", o.missing, "Remove databases whose tree no longer exists");
  prune->add_option("--older-than", o.older_than_days, "Remove databases not used for more than DAYS days")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}).description(""))
      ->type_name("DAYS");
  prune->add_flag("-n,--dry-run", o.dry_run, "Say what would be removed; remove nothing");
  list->callback([&cmd, &o] {
    cmd.kind = Command::Kind::State;
    o.action = StateOptions::Action::List;
  });
  prune->callback([&cmd, &o] {
    cmd.kind = Command::Kind::State;
    o.action = StateOptions::Action::Prune;
    if (!o.missing && !o.older_than_days)
      throw Error(ExitCode::Usage, "state prune needs --missing and/or --older-than DAYS ('ktsync state list' "
                                   "shows the databases)");
  });
}

}  // namespace

// `ktsync help [COMMAND]`: what --help prints (rsync users type it; CLI11 only said "A
// subcommand is required").
void AddHelp(CLI::App& app, Command& cmd) {
  auto* h = app.add_subcommand("help", "Print help (ktsync help mirror: the mirror options)");
  h->allow_extras();
  h->callback([&app, &cmd, h] {
    std::vector<std::string> topic = h->remaining();
    const CLI::App* about = &app;
    if (!topic.empty()) {
      try {
        about = app.get_subcommand(topic.front());
      } catch (const CLI::OptionNotFound&) {
        throw Error(ExitCode::Usage, "ktsync help " + topic.front() + ": no such command (mirror, copy, serve, state)");
      }
    }
    // Not about->help(): the main App's would describe the command just parsed, "help".
    std::cout << about->get_formatter()->make_help(about, about->get_name(), CLI::AppFormatMode::Normal);
    cmd.exit_now = 0;
  });
}

// A first word that is no command gets a line that says what to type instead.
void CheckCommandWord(int argc, char** argv) {
  constexpr const char* kCommands = "ktsync mirror SRC DST, ktsync copy SRC DST, ktsync serve, ktsync state, ktsync help";
  if (argc < 2) throw Error(ExitCode::Usage, std::string("a command is needed: ") + kCommands);
  if (argv[1][0] == '-') return;
  std::string word = argv[1];
  if (word == "mirror" || word == "copy" || word == "serve" || word == "state" || word == "help") return;
  throw Error(ExitCode::Usage, "unknown command '" + word + "': " + kCommands);
}

Command ParseCommandLine(int argc, char** argv) {
  CheckCommandWord(argc, argv);
  Command cmd;
  CLI::App app{kAppHelp, "ktsync"};
  app.set_version_flag("-V,--version", std::string("ktsync ") + KTSYNC_VERSION);
  app.require_subcommand(1);
  MirrorScratch scratch;
  AddMirror(app, cmd, scratch);
  AddCopy(app, cmd, scratch);
  AddServe(app, cmd);
  AddState(app, cmd);
  AddHelp(app, cmd);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.front() == "mirror" || args.front() == "copy") {
    const CLI::App* command = app.get_subcommand(args.front());
    auto takes_value = [command](const std::string& name) {
      const CLI::Option* o = command->get_option_no_throw(name);
      return o != nullptr && o->get_items_expected_max() > 0;  // a flag takes none
    };
    std::vector<std::string> rest = MirrorArgs({args.begin() + 1, args.end()}, takes_value);
    args.resize(1);
    args.insert(args.end(), rest.begin(), rest.end());
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    cmd.exit_now = app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    cmd.exit_now = app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    cmd.exit_now = app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (std::string_view(argv[1]) == "state")  // CLI11 does not name it: "A subcommand is required"
      throw Error(ExitCode::Usage,
                  "state: " + msg + " (ktsync state list, ktsync state prune; see 'ktsync state --help')");
    throw Error(ExitCode::Usage, msg + " (see 'ktsync --help' or 'ktsync mirror --help')");
  }
  return cmd;
}

}  // namespace ktsync

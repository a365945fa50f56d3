#include "cli/options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/out_format.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr const char* kMirrorHelp =
    "Make DST identical to SRC: copy what differs, fix metadata, delete what SRC lacks.\n"
    "SRC and DST are directories; the *contents* of SRC are mirrored into DST whether or not\n"
    "either has a trailing slash. Either side may be [user@]host:/path (over ssh) or\n"
    "ktsync://host[:port]/path (a `ktsync serve` daemon).";

// rsync's --exclude-from: one pattern per line; '#'/';' comments; "+ " / "- " prefixes.
void AddRulesFromFile(const std::string& file, std::vector<FilterRule>& out) {
  std::ifstream in(file == "-" ? "/dev/stdin" : file);
  if (!in) throw Error(ExitCode::Usage, ErrnoMessage("--exclude-from " + file, errno));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.rfind("+ ", 0) == 0) {
      out.push_back({true, line.substr(2)});
    } else if (line.rfind("- ", 0) == 0) {
      out.push_back({false, line.substr(2)});
    } else {
      out.push_back({false, line});
    }
  }
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
};

void AddMirror(CLI::App& app, Command& cmd, MirrorScratch& x) {
  auto* m = app.add_subcommand("mirror", "Make DST an exact mirror of SRC");
  m->footer(kMirrorHelp);
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
  m->add_flag("--no-progress", o.out.no_progress, "Never show live progress");
  m->add_option("--out-format", o.out.out_format, "Print each change as FORMAT (rsync's %n %f %i %l %L %b %o %t %p)")
      ->type_name("FORMAT");
  m->add_option("--log-file", o.out.log_file, "Append what the run did to FILE, with timestamps")->type_name("FILE");
  m->add_option("--log-file-format", o.out.log_file_format, "Each change's line in --log-file (default \"%i %n%L\")")
      ->type_name("FORMAT");

  m->add_flag("--delete", spec.plan.delete_extraneous, "Delete entries DST has but SRC lacks (default)");
  m->add_flag("--no-delete", x.no_delete, "Keep entries DST has but SRC lacks");
  m->add_option("--max-delete", spec.deletes.max_delete, "Refuse (exit 25, change nothing) if more than N would be deleted");
  m->add_option("--max-delete-percent", spec.deletes.max_delete_percent,
                "Refuse (exit 25) if more than P% of DST's entries would be deleted")
      ->check(CLI::Range(0.0, 100.0));
  m->add_flag("--delete-on-error", spec.deletes.delete_on_error, "Still delete extraneous entries after an error");
  m->add_flag("-c,--checksum", spec.plan.checksum, "Compare content hashes, not size+mtime");
  m->add_flag("-H,--hard-links", spec.plan.hard_links, "Preserve hard links (default)");
  m->add_flag("--no-hard-links", x.no_hard_links, "Copy hard-linked files as separate files");
  m->add_flag("-X,--xattrs", x.xattrs, "Preserve extended attributes (default)");
  m->add_flag("--no-xattrs", x.no_xattrs, "Do not copy extended attributes");
  m->add_flag("-A,--acls", x.acls, "Preserve POSIX ACLs (default)");
  m->add_flag("--no-acls", x.no_acls, "Do not copy POSIX ACLs");
  m->add_flag("--owner", x.owner, "Preserve owner (default when run as root)");
  m->add_flag("--no-owner", x.no_owner, "Do not preserve owner");
  m->add_flag("--group", x.group, "Preserve group (default)");
  m->add_flag("--no-group", x.no_group, "Do not preserve group");
  m->add_flag("--numeric-ids", o.numeric_ids, "Keep uid/gid numbers (ktsync always maps by number)");
  m->add_flag("--fsync", spec.fsync, "Make each completed file and rename durable before going on");
  m->add_flag("--skip-changing-files", spec.skip_changing_files,
              "Do not copy a file that changes while it is read (default: read it again, up to 4 times)");

  auto* ex = m->add_option_function<std::string>(
      "--exclude", [&spec](const std::string& p) { spec.filters.push_back({false, p}); },
      "Exclude paths matching PATTERN (rsync glob rules; repeatable)");
  ex->trigger_on_parse()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->type_name("PATTERN");
  auto* in = m->add_option_function<std::string>(
      "--include", [&spec](const std::string& p) { spec.filters.push_back({true, p}); },
      "Include paths matching PATTERN even if a later --exclude matches (first match wins)");
  in->trigger_on_parse()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->type_name("PATTERN");
  auto* exf = m->add_option_function<std::string>(
      "--exclude-from", [&spec](const std::string& f) { AddRulesFromFile(f, spec.filters); },
      "Read exclude patterns from FILE, one per line");
  exf->trigger_on_parse()->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->type_name("FILE");

  m->add_option("--state-dir", o.state_dir, "Where hash-cache databases live (default $XDG_STATE_HOME/ktsync)");
  m->add_flag("-x,--one-file-system", spec.one_file_system, "Do not cross filesystem boundaries (default)");
  m->add_flag("--cross-filesystems", x.cross, "Descend into other filesystems mounted inside SRC");

  m->add_option("-e,--ssh", o.ssh_command, "ssh command for host:/path remotes (like rsync -e)");
  m->add_option("--remote-ktsync", o.remote_ktsync,
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
  m->add_option("--bwlimit", x.bw, "Limit data rate, e.g. 50M (bytes/s; K, M, G suffixes)");
  m->add_option("--timeout", o.net.timeout_sec, "Fail if no I/O happens for this many seconds");

  // CLI11's callback() and final_callback() are one slot: everything goes in this one.
  m->final_callback([&cmd, &o, &spec, &x]() {
    cmd.kind = Command::Kind::Mirror;
    if (x.no_delete) spec.plan.delete_extraneous = false;
    spec.plan.owner = x.owner && !x.no_owner;
    spec.plan.group = x.group && !x.no_group;
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

}  // namespace

uint64_t ParseRate(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  double mult = 1;
  if (unit == "" || unit == "B") mult = 1;
  else if (unit == "K" || unit == "k" || unit == "KiB") mult = 1024.0;
  else if (unit == "M" || unit == "m" || unit == "MiB") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "g" || unit == "GiB") mult = 1024.0 * 1024 * 1024;
  else used = 0;
  if (used == 0 || !(v > 0) || !std::isfinite(v))
    throw Error(ExitCode::Usage, "--bwlimit '" + text + "': expected a rate like 500K, 20M or 1G");
  return static_cast<uint64_t>(v * mult);
}

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
        throw Error(ExitCode::Usage, "ktsync help " + topic.front() + ": no such command (mirror, serve)");
      }
    }
    // Not about->help(): the main App's would describe the command just parsed, "help".
    std::cout << about->get_formatter()->make_help(about, about->get_name(), CLI::AppFormatMode::Normal);
    cmd.exit_now = 0;
  });
}

// A first word that is no command gets a line that says what to type instead.
void CheckCommandWord(int argc, char** argv) {
  if (argc < 2) throw Error(ExitCode::Usage, "a command is needed: ktsync mirror SRC DST, ktsync serve, ktsync help");
  if (argv[1][0] == '-') return;
  std::string word = argv[1];
  if (word == "mirror" || word == "serve" || word == "help") return;
  if (word == "copy")
    throw Error(ExitCode::Usage, "ktsync has no 'copy' yet: 'ktsync mirror --no-delete SRC DST' copies without deleting");
  throw Error(ExitCode::Usage, "unknown command '" + word + "': ktsync mirror SRC DST, ktsync serve, ktsync help");
}

Command ParseCommandLine(int argc, char** argv) {
  CheckCommandWord(argc, argv);
  Command cmd;
  CLI::App app{"ktsync: fast, safe directory mirroring over kernel TLS", "ktsync"};
  app.set_version_flag("-V,--version", std::string("ktsync ") + KTSYNC_VERSION);
  app.require_subcommand(1);
  MirrorScratch scratch;
  AddMirror(app, cmd, scratch);
  AddServe(app, cmd);
  AddHelp(app, cmd);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    cmd.exit_now = app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    cmd.exit_now = app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    cmd.exit_now = app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    throw Error(ExitCode::Usage, msg + " (see 'ktsync --help' or 'ktsync mirror --help')");
  }
  return cmd;
}

}  // namespace ktsync

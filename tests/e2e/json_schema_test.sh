#!/usr/bin/env bash
# The --json event stream matches its documented schema, docs/json.md, in both directions
# (and every event carries the schema version that document states):
# real runs (local, dry run, mutated tree, rebuilt cache, per-entry errors, fatal error,
# ssh push and pull) print only JSON lines, each an event the document lists, with every
# "always" field present, no undocumented field, the documented types and enumerations;
# the stream is ordered as documented and agrees with the exit status and the -n listing;
# and every documented event form and every `op` value is seen at least once.
source "$(dirname "$0")/lib.sh"

DOC=$REPO/docs/json.md
[[ -f $DOC ]] || die "missing $DOC"
STATE=$T/state
RUNS=$T/runs
mkdir -p "$RUNS"
NRUN=0

# json_run NAME EXPECTED_EXIT ARGS...: `ktsync mirror --json ARGS`, keep stdout as
# $RUNS/NAME.jsonl and the exit status in $RUNS/NAME.rc.
json_run() {
    local name=$1 want=$2
    shift 2
    assert_exit "$want" "$KTSYNC" mirror --json --state-dir "$STATE" "$@"
    cp "$OUT" "$RUNS/$name.jsonl"
    echo "$want" >"$RUNS/$name.rc"
    NRUN=$((NRUN + 1))
}

# validate RUN...: check the named runs against the schema; prints one line per problem.
validate() {
    python3 - "$DOC" "$RUNS" "$@" <<'PY'
import json, math, re, sys

doc, runs_dir, runs = sys.argv[1], sys.argv[2], sys.argv[3:]

# ---- the schema, read from the tables in docs/json.md
variants = []  # (event, label, {field: (type, required, enum)})
cur = None
head = re.compile(r"^### `(\w+)`(?: \((.*)\))?\s*$")
row = re.compile(r"^\| `([\w.]+)` \| (\w+) \| (always|optional[^|]*) \| (.*) \|\s*$")
for line in open(doc, encoding="utf-8"):
    m = head.match(line)
    if m:
        cur = (m.group(1), m.group(2) or "", {})
        variants.append(cur)
        continue
    if line.startswith("## "):
        cur = None
        continue
    m = row.match(line)
    if m and cur:
        field, typ, presence, meaning = m.groups()
        enum = None
        e = re.match(r"one of ((?:`[^`]+`(?:, )?)+)", meaning)
        if e:
            enum = re.findall(r"`([^`]+)`", e.group(1))
        cur[2][field] = (typ, presence == "always", enum)
if not variants:
    sys.exit("no event tables found in " + doc)
schema_version = re.search(r"schema version \*\*(\d+)\*\*", open(doc, encoding="utf-8").read())
if not schema_version:
    sys.exit("docs/json.md does not state its 'schema version **N**'")
schema_version = int(schema_version.group(1))
for ev, label, fields in variants:
    if fields.get("event", ("", False, None))[:2] != ("string", True):
        sys.exit("schema for %s (%s) lacks an always-present string 'event'" % (ev, label))
TYPES = {"string", "integer", "number", "boolean", "object"}
for ev, label, fields in variants:
    for f, (t, _, _) in fields.items():
        if t not in TYPES:
            sys.exit("schema %s.%s: unknown type %s" % (ev, f, t))

def type_ok(v, t):
    if t == "string": return isinstance(v, str)
    if t == "boolean": return isinstance(v, bool)
    if t == "object": return isinstance(v, dict)
    if t == "integer": return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return False

def flatten(obj, prefix=""):
    for k, v in obj.items():
        yield prefix + k, v
        if isinstance(v, dict):
            yield from flatten(v, prefix + k + ".")

def latin1_view(raw):
    # What ktsync writes for raw name bytes: valid UTF-8 as is, other bytes as U+00XX.
    s = raw.decode("utf-8", "surrogateescape")
    return "".join(chr(ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else c for c in s)

def check_variant(obj, fields):
    errs = []
    flat = dict(flatten(obj))
    for f, v in flat.items():
        if f not in fields:
            errs.append("undocumented field %r" % f)
            continue
        t, _, enum = fields[f]
        if not type_ok(v, t):
            errs.append("field %r is %r, documented as %s" % (f, v, t))
        elif enum is not None and v not in enum:
            errs.append("field %r is %r, documented as one of %s" % (f, v, enum))
    for f, (t, req, _) in fields.items():
        if req and f not in flat:
            errs.append("missing field %r" % f)
    for f, v in flat.items():
        if f.endswith("_hex") and isinstance(v, str):
            base = f[:-4]
            if not re.fullmatch(r"(?:[0-9a-f]{2})+", v):
                errs.append("%r is not lowercase hex bytes" % f)
            elif latin1_view(bytes.fromhex(v)) != flat.get(base):
                errs.append("%r does not decode to %r" % (f, base))
            else:
                try:
                    bytes.fromhex(v).decode("utf-8")
                    errs.append("%r present although %r is valid UTF-8" % (f, base))
                except UnicodeDecodeError:
                    pass
    return errs

seen = set()
ops = set()
problems = []
def bad(run, n, msg):
    problems.append("%s line %d: %s" % (run, n, msg))

for run in runs:
    want_rc = int(open("%s/%s.rc" % (runs_dir, run)).read())
    raw = open("%s/%s.jsonl" % (runs_dir, run), "rb").read()
    if not raw.endswith(b"\n"):
        bad(run, 0, "output does not end with a newline")
    events = []
    for n, line in enumerate(raw.split(b"\n")[:-1], 1):
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            bad(run, n, "not a JSON line (%s): %r" % (e, line[:200]))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
            bad(run, n, "not an object with a string 'event': %r" % line[:200])
            continue
        ev = obj["event"]
        cands = [(label, fields) for e, label, fields in variants if e == ev]
        if not cands:
            bad(run, n, "undocumented event %r" % ev)
            continue
        results = [(label, check_variant(obj, fields)) for label, fields in cands]
        ok = [label for label, errs in results if not errs]
        if not ok:
            for label, errs in results:
                bad(run, n, "%s%s: %s" % (ev, " (%s)" % label if label else "", "; ".join(errs)))
            continue
        seen.add((ev, ok[0]))
        if obj["version"] != schema_version:
            bad(run, n, "version %r, but docs/json.md describes schema version %d" % (obj["version"], schema_version))
        if ev == "item":
            ops.add(obj["op"])
            if len(obj["itemize"]) != 11:
                bad(run, n, "itemize %r is not 11 characters" % obj["itemize"])
        events.append((n, obj))

    # ---- order and agreement with the exit status
    kinds = [o["event"] for _, o in events]
    body = [(n, o) for n, o in events if o["event"] != "warning"]
    if not body:
        bad(run, 0, "no events besides warnings")
        continue
    last_n, last = body[-1]
    fatal = last["event"] == "error" and last.get("fatal") is True
    if fatal:
        if want_rc == 0 or last["exit_code"] != want_rc:
            bad(run, last_n, "fatal error exit_code %r, process exited %d" % (last["exit_code"], want_rc))
        if "summary" in kinds:
            bad(run, last_n, "a fatal error and a summary in one run")
    else:
        if last["event"] != "summary" or kinds.count("summary") != 1:
            bad(run, last_n, "the last event is %r, not the only summary" % last["event"])
            continue
        if last["exit_code"] != want_rc:
            bad(run, last_n, "summary exit_code %r, process exited %d" % (last["exit_code"], want_rc))
        if kinds.count("plan") != 1:
            bad(run, 0, "%d plan events, not one" % kinds.count("plan"))
            continue
        totals = next(o for _, o in body if o["event"] == "plan")["totals"]
        for k in ("files_to_send", "bytes_to_send", "to_delete", "meta_only"):
            if last[k] != totals[k]:
                bad(run, last_n, "summary %s %r != plan totals %r" % (k, last[k], totals[k]))
        # The run's own events interleave (data moves while the trees are compared); then
        # the per-entry errors, then the summary.
        order = [o["event"] for _, o in body]
        rank = {"scanned": 0, "plan": 0, "item": 0, "progress": 0, "error": 1, "summary": 2}
        if [rank[e] for e in order] != sorted(rank[e] for e in order):
            bad(run, 0, "events out of the documented order: %s" % " ".join(dict.fromkeys(order)))
        sides = [o["side"] for _, o in body if o["event"] == "scanned"]
        if sides.count("src") != 1 or sides.count("dst") > 1:
            bad(run, 0, "scanned events %r: src once, dst at most once" % sides)
        prog = [o for _, o in body if o["event"] == "progress"]
        if last["dry_run"] and prog:
            bad(run, 0, "progress events in a dry run")
        if not last["dry_run"] and not prog:
            bad(run, 0, "no progress event in a real run")
        for a, b in zip(prog, prog[1:]):
            if (b["bytes"] < a["bytes"] or b["files"] < a["files"] or b["bytes_total"] < a["bytes_total"]
                    or b["files_total"] < a["files_total"]):
                bad(run, 0, "progress went backwards: %r then %r" % (a, b))
        for p in prog:
            if p["bytes"] > p["bytes_total"] or p["files"] > p["files_total"]:
                bad(run, 0, "progress beyond its totals: %r" % p)
        if prog and (prog[-1]["bytes_total"] != totals["bytes_to_send"]
                     or prog[-1]["files_total"] != totals["files_to_send"]):
            bad(run, 0, "the last progress's totals differ from the plan: %r" % prog[-1])
        if prog and want_rc == 0 and (prog[-1]["bytes"] != prog[-1]["bytes_total"]
                                      or prog[-1]["files"] != prog[-1]["files_total"]):
            bad(run, 0, "successful run's last progress is not complete: %r" % prog[-1])
        errors = [o for _, o in body if o["event"] == "error"]
        if (want_rc == 0) != (not errors):
            bad(run, 0, "exit %d with %d error events" % (want_rc, len(errors)))

for p in problems[:60]:
    print(p)
if not problems:
    # coverage, printed for the caller to check
    print("SEEN " + " ".join(sorted("%s/%s" % (e, l.replace(" ", "_")) for e, l in seen)))
    print("OPS " + " ".join(sorted(ops)))
    print("DOC " + " ".join(sorted("%s/%s" % (e, l.replace(" ", "_")) for e, l, _ in variants)))
    opdoc = [v for e, _, f in variants if e == "item" for v in (f["op"][2] or [])]
    print("OPDOC " + " ".join(sorted(opdoc)))
PY
}

# ---- local runs: a fresh mirror, then a mutated tree (dry run and real), no-op.
python3 "$GEN_TREE" "$T/src" --seed 7 --big-mib 2 >/dev/null
json_run fresh 0 "$T/src" "$T/dst"
tree_identical "$T/src" "$T/dst"
python3 "$GEN_TREE" "$T/src" --mutate --seed 7 >/dev/null
json_run dry 0 -n "$T/src" "$T/dst"
# The JSON items are exactly the -n listing: same count, same codes, same order; but for
# the removal of the entry in a type change's way (a later item has its path), which -i
# does not print (rsync's).
assert_exit 0 "$KTSYNC" mirror -n --state-dir "$STATE" "$T/src" "$T/dst"
grep -E '^([<>ch.][fdLDS][-+.a-z]{9}|\*deleting  ) ' "$OUT" | cut -c1-11 >"$T/codes.txt"
python3 -c '
import json, sys
items = [o for o in map(json.loads, open(sys.argv[1])) if o["event"] == "item"]
for i, o in enumerate(items):
    if o["op"] == "remove" and any(p["path"] == o["path"] for p in items[i + 1:]):
        continue
    print(o["itemize"])
' "$RUNS/dry.jsonl" >"$T/json-codes.txt"
[[ -s $T/codes.txt ]] || die "-n listed nothing after --mutate"
diff "$T/codes.txt" "$T/json-codes.txt" >/dev/null || die "JSON items differ from the -n listing"
pass "JSON items match the -n listing ($(wc -l <"$T/codes.txt") changes)"
json_run mutated 0 "$T/src" "$T/dst"
tree_identical "$T/src" "$T/dst"
json_run noop 0 "$T/src" "$T/dst"

# ---- a corrupt hash cache is rebuilt: a warning event.
for db in "$STATE"/roots/*.sqlite; do head -c 4096 /dev/urandom >"$db"; done
json_run warned 0 "$T/src" "$T/dst"
grep -q '"event":"warning"' "$RUNS/warned.jsonl" || die "no warning event for a corrupt cache"
pass "corrupt cache: warning event"

# ---- per-entry errors (a directory the user cannot read, with a non-UTF-8 name): exit 23.
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
    W=$(mktemp -d /tmp/ktsync-json-nobody.XXXXXX)
    at_exit "rm -rf '$W'"
    chmod 755 "$W"
    mkdir -p "$W/src/ok" "$W/src/$(printf 'sec\xffret')"
    echo data >"$W/src/ok/f"
    echo hidden >"$W/src/$(printf 'sec\xffret')/f"
    chown -R nobody "$W/src"
    chown root "$W/src/$(printf 'sec\xffret')"
    chmod 700 "$W/src/$(printf 'sec\xffret')"
    install -d -o nobody -m 700 "$W/state"
    mkdir "$W/dst"
    chown nobody "$W/dst"
    rc=0
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$KTSYNC" mirror --json --state-dir "$W/state" \
        "$W/src" "$W/dst" >"$RUNS/errors.jsonl" 2>"$ERR" || rc=$?
    assert_eq 23 "$rc" "unreadable directory: exit 23"
    echo 23 >"$RUNS/errors.rc"
    grep -q '"path_hex":"736563ff726574"' "$RUNS/errors.jsonl" ||
        die "error event for a non-UTF-8 path lacks path_hex: $(grep error "$RUNS/errors.jsonl")"
    pass "per-entry error event carries path_hex"
    ERROR_RUNS=(errors)
else
    note "not root: per-entry error events not exercised"
    ERROR_RUNS=()
fi

# ---- a fatal error: missing SRC, exit 3, no summary.
json_run fatal 3 "$T/no-such-src" "$T/dst"

# ---- over ssh: push with --no-encryption (a warning), pull.
start_sshd
json_run push 0 -e "$SSH_CMD" --remote-ktsync "$KTSYNC" --no-encryption "$T/src" "$SSH_HOST:$T/pushed"
json_run pull 0 -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$SSH_HOST:$T/pushed" "$T/pulled"
tree_identical "$T/src" "$T/pulled"
enc=$(json_field "$RUNS/pull.jsonl" summary encryption_recv)
[[ $enc == *TLS* ]] || die "pull: encryption_recv does not describe TLS: $enc"
pass "ssh pull: summary names the encryption ($enc)"

# ---- the schema check proper.
validate fresh dry mutated noop warned "${ERROR_RUNS[@]}" fatal push pull >"$T/validate.txt" ||
    die "validator crashed: $(cat "$T/validate.txt")"
if grep -qvE '^(SEEN|OPS|DOC|OPDOC) ' "$T/validate.txt"; then
    _show "schema violations" "$(cat "$T/validate.txt")"
    die "JSON output does not match docs/json.md"
fi
pass "every JSON line of $((NRUN + ${#ERROR_RUNS[@]})) runs matches docs/json.md"

field() { sed -n "s/^$1 //p" "$T/validate.txt" | tr ' ' '\n'; }
missing=$(comm -23 <(field DOC | sort) <(field SEEN | sort))
if ((${#ERROR_RUNS[@]} == 0)); then missing=$(grep -v '^error/one_entry$' <<<"$missing" || true); fi
assert_eq "" "$missing" "every documented event form was produced"
assert_eq "" "$(comm -23 <(field OPDOC | sort) <(field OPS | sort))" "every documented item op was produced"
assert_eq "" "$(comm -13 <(field OPDOC | sort) <(field OPS | sort))" "no undocumented item op"

#!/usr/bin/env bash
# docs/protocol.md describes the wire protocol the code speaks: frame types, chunk kinds,
# flag bits and every other wire enum, each payload layout (against what the Encode*
# functions write), the caps the decoders enforce, the limits, versions, and the TLS and
# PSK settings. Both sides are read from the sources (src/ and the doc); the binary is not
# run. A protocol change that forgets the doc fails here, naming what differs.
source "$(dirname "$0")/lib.sh"

DOC=$REPO/docs/protocol.md
[[ -f $DOC ]] || die "missing $DOC"

# One "ok<TAB>what" or "FAIL<TAB>what" line per check.
python3 - "$REPO" >"$T/checks.txt" <<'PY'
import ast, glob, math, os, re, sys

repo = sys.argv[1]
doc = open(os.path.join(repo, "docs/protocol.md"), encoding="utf-8").read()
MiB, KiB, GiB = 1 << 20, 1 << 10, 1 << 30


# ---- the code: constants, enums and function bodies, read without a compiler ------------

LITERALS = []  # string and char literals, replaced by @N@ so their braces and ';' are no code


def blank(text):
    def one(m):
        if m.group(0).startswith("/"):
            return " "
        LITERALS.append(m.group(0))
        return "@%d@" % (len(LITERALS) - 1)
    text = re.sub(r"(?<=[0-9a-fA-F])'(?=[0-9a-fA-F])", "", text)  # digit separators: 999'999
    return re.sub(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])'", one, text, flags=re.S)


CONSTS = {}  # qualified name -> [(scope, expression)]
ENUMS = {}   # (file, qualified enum name) -> {enumerator: expression}
FUNCS = {}   # function name (qualified and last component) -> [body], from transfer/*.cpp only:
             # the encoders and decoders live there, and other modules reuse their names
SOURCES = {}

TOKEN = re.compile(r"\benum\b(?:\s+(?:class|struct)\b)?\s*(\w*)\s*(?::\s*[\w:]+\s*)?\{([^{}]*)\}"
                   r"|\bconstexpr\b([^;]*);"
                   r"|\b(?:class|struct)\s+(\w+)[^;{}()]*\{"
                   r"|[{}]")
FUNC = re.compile(r"^(?!\s)[^;{}\n]*?\b((?:\w+::)*\w+)\(([^;{}]*)\)\s*(?:const\s*)?\{", re.M)

for path in sorted(glob.glob(os.path.join(repo, "src/**/*.[ch]*"), recursive=True)):
    rel = os.path.relpath(path, os.path.join(repo, "src"))
    raw = open(path, encoding="utf-8", errors="replace").read()
    SOURCES[rel] = raw
    text = blank(raw)
    stack = []
    for m in TOKEN.finditer(text):
        scope = tuple(s for s in stack if s)
        if m.group(2) is not None:  # an enum
            inner = scope + ((m.group(1),) if m.group(1) and re.search(r"enum\s+(class|struct)", m.group(0)) else ())
            members = {}
            for item in filter(None, (x.strip() for x in m.group(2).split(","))):
                name, _, expr = (p.strip() for p in item.partition("="))
                members[name] = expr
                if expr:
                    CONSTS.setdefault("::".join(inner + (name,)), []).append((inner, expr))
            ENUMS[(rel, "::".join(scope + (m.group(1),)))] = members
        elif m.group(3) is not None:  # a constexpr declaration
            d = re.match(r"(?s).*?\b(k\w+)\s*(?:=\s*(.+)|\{(.*)\})\s*$", m.group(3))
            if d:
                CONSTS.setdefault("::".join(scope + (d.group(1),)), []).append((scope, d.group(2) or d.group(3)))
        elif m.group(0) == "}":
            if stack:
                stack.pop()
        else:
            stack.append(m.group(4))  # a class name, or None for any other block
    if rel.startswith("transfer/") and rel.endswith(".cpp"):
        for m in FUNC.finditer(text):
            start, depth = m.end() - 1, 0
            for i in range(start, len(text)):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                if depth == 0:
                    break
            for name in {m.group(1), m.group(1).split("::")[-1]}:
                FUNCS.setdefault(name, []).append(text[start:i + 1])


def literal(token):
    return ast.literal_eval(LITERALS[int(token.strip("@"))])


def C(name, scope=()):
    """The value of a constant or enumerator, looked up from `scope` outwards."""
    for i in range(len(scope), -1, -1):
        q = "::".join(scope[:i] + (name,))
        if q in CONSTS:
            values = {evaluate(expr, sc) for sc, expr in CONSTS[q]}
            if len(values) != 1:
                raise LookupError("%s has several values in src/: %s" % (q, sorted(values)))
            return values.pop()
    raise LookupError("no constant %s in src/" % name)


def evaluate(expr, scope=()):
    e = expr.strip()
    if re.fullmatch(r"@\d+@", e):
        return literal(e)
    if e.startswith("{"):  # a char array, e.g. the Hello magic
        return "".join(literal(x) for x in re.findall(r"@\d+@", e))
    e = re.sub(r"std::chrono::\w+|static_cast<[^>]*>", "", e)
    e = re.sub(r"\b(?:std::)?u?int\d*_t\{([^{}]*)\}|\b(?:std::)?size_t\{([^{}]*)\}", r"(\1\2)", e)
    e = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", e)
    e = re.sub(r"\b0([0-7]+)\b", r"0o\1", e)
    e = re.sub(r"\b(?:[A-Z]\w*::)*k[A-Z]\w*|\b[A-Z]\w*::[A-Z]\w*",
               lambda m: "(%r)" % C(m.group(0).split("::")[-1], tuple(m.group(0).split("::")[:-1]) or scope)
               if "::" in m.group(0) else "(%r)" % C(m.group(0), scope), e)
    if not re.fullmatch(r"[0-9a-fA-FxXo().\s+\-*/<>|&~]+", e):
        raise ValueError("cannot evaluate %r" % expr)
    v = eval(e, {"__builtins__": {}})
    return int(v) if isinstance(v, float) and v.is_integer() else v


def enum(rel, name):
    members = ENUMS.get((rel, name))
    if members is None:
        raise LookupError("no enum %s in src/%s" % (name, rel))
    scope, values, prev = tuple(p for p in name.split("::") if p), {}, None
    for k, expr in members.items():
        values[k] = evaluate(expr, scope) if expr else values[prev] + 1 if prev else 0
        prev = k
    return values


def body(func, containing=""):
    for b in FUNCS.get(func, []):
        if containing in b:
            return b
    raise LookupError("no function %s%s in src/transfer/*.cpp" % (func, " using " + containing if containing else ""))


def cap(func, call, n=0):
    """The cap of the n-th reader call `call` (Str8, Str16, Count) in decoder `func`."""
    caps = re.findall(r"\.%s\(\s*([^,]+)," % call, body(func, "." + call + "("))
    return evaluate(caps[n])


WRITE = re.compile(r"(?:\b\w+|\bByteWriter\(\w+\))\.(U8|U16|U32|U64|I64|Str8|Str16|Raw)\(|\b([A-Z]\w+)\b")


def writes(func, seen=()):
    """The ByteWriter calls an encoder makes, in source order, through the helpers it uses."""
    out = []
    for m in WRITE.finditer(body(func)):
        if m.group(1):
            out.append(m.group(1))
        elif m.group(2) in FUNCS and m.group(2) not in seen + (func,):
            out += writes(m.group(2), seen + (func,))
    return out


# ---- the doc ----------------------------------------------------------------------------

TABLES = {}
for block in re.findall(r"(?:^\|.*\|[ \t]*\n)+", doc, re.M):
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in block.strip().split("\n")]
    TABLES[rows[0][0]] = rows[2:]

FIELD = {"u8": ["U8"], "u16": ["U16"], "u32": ["U32"], "u64": ["U64"], "i64": ["I64"], "u16le": ["U16"],
         "u32le": ["U32"], "str8": ["Str8"], "str16": ["Str16"], "xxh128": ["U64", "U64"], "bytes": ["Raw"]}
WIDTH = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "i64": 8, "u16le": 2, "u32le": 4}
LAYOUTS = {m.group(1).lower(): m.group(2) for m in re.finditer(r"\bAn? (\w+) is `([^`]+)`", doc)}
for row in TABLES.get("type", []):
    span = re.match(r"`([^`]*\w:\w[^`]*)`", row[3])
    if span:
        LAYOUTS[row[1].lower()] = span.group(1)


def layout_writes(layout):
    out = []
    for name, kind, word in re.findall(r"(\w+):(\w+)(?:\[\w+\])?|([A-Za-z]\w*)", layout):
        if word:
            if word not in LAYOUTS:
                raise ValueError("unknown word %r in layout `%s`" % (word, layout))
            out += layout_writes(LAYOUTS[word])
        elif kind not in FIELD:
            raise ValueError("unknown field type %s:%s" % (name, kind))
        else:
            out += FIELD[kind]
    return out


def layout_width(layout):
    return sum(WIDTH[k] for k in re.findall(r"\w+:(\w+)", layout))


def doc_int(s):
    return int(s, 16) if s.startswith("0x") else int(s, 8) if len(s) > 1 and s.startswith("0") else int(s)


def pairs(text, pattern=r"\b(\d+) ([a-z][a-z ]*?)(?=[,;:)(]|$)"):
    return {int(n): name.strip() for n, name in re.findall(pattern, re.sub(r"\s+", " ", text))}


def cell(frame):  # the payload column of a frame's row
    for row in TABLES.get("type", []):
        if row[1] == frame:
            return row[3]
    raise LookupError("the frame table has no %s row" % frame)


# ---- checks -----------------------------------------------------------------------------

def check(what, fn):
    """fn returns "" when the doc and the code agree, else what differs."""
    try:
        problem = fn()
    except Exception as e:  # a constant or phrase that moved is a failure too, named
        problem = "%s: %s" % (type(e).__name__, e)
    print("%s\t%s" % ("FAIL" if problem else "ok", (what + (" — " + problem if problem else "")).replace("\n", " ")))


def same_map(doc_map, code_map):
    if not doc_map or not code_map:
        return "empty in the %s" % ("doc" if not doc_map else "code")
    diffs = ["%s: doc %s, code %s" % (k, doc_map.get(k, "-"), code_map.get(k, "-"))
             for k in sorted(set(doc_map) | set(code_map)) if doc_map.get(k) != code_map.get(k)]
    return "; ".join(diffs)


def table_vs_enum(table, code_map):
    rows = TABLES.get(table)
    if rows is None:
        raise LookupError("the doc has no table headed '%s'" % table)
    return same_map({int(r[0]): r[1] for r in rows}, code_map)


def phrase(pattern, *expected, scale=1):
    """Every match of `pattern` in the doc (one group per expected value) says the code's value."""
    found = re.findall(pattern, doc)
    if not found:
        return "the doc has no /%s/" % pattern
    for groups in found:
        groups = groups if isinstance(groups, tuple) else (groups,)
        for g, want in zip(groups, expected):
            if doc_int(g) * scale != want:
                return "the doc says %s%s in /%s/, the code %s" % (g, " (×%d)" % scale if scale > 1 else "", pattern, want)
    return ""


def phrase_str(pattern, want):
    found = re.findall(pattern, doc)
    if not found:
        return "the doc has no /%s/" % pattern
    bad = [f for f in found if f != want]
    return "doc %s, code %s" % (bad[0], want) if bad else ""


def code_has(rel, pattern):
    return "" if re.search(pattern, SOURCES[rel]) else "src/%s lacks /%s/" % (rel, pattern)


# Enumerations that are tables in the doc.
check("frame types: the doc's table lists exactly FrameType (transfer/wire.h)",
      lambda: table_vs_enum("type", {v: k for k, v in enum("transfer/wire.h", "FrameType").items()}))
check("ssh chunk kinds: the doc's table lists exactly Kind (transfer/mux.cpp)",
      lambda: table_vs_enum("chunk kind", {v: k for k, v in enum("transfer/mux.cpp", "Kind").items()}))
check("Item kinds: the doc's table lists exactly ActionKind (manifest/plan.h)",
      lambda: table_vs_enum("Item kind", {v: k for k, v in enum("manifest/plan.h", "ActionKind").items()}))


def flag_table(table, rel, enum_name, prefix, mask):
    """The doc's table of bits is the enum's single-bit PREFIX* members, and `mask` is all of them."""
    members = enum(rel, enum_name)
    code = {int(math.log2(v)): k[len(prefix):] for k, v in members.items() if k.startswith(prefix) and k != mask}
    union = sum(1 << b for b in code)
    want = members[mask] if mask in members else C(mask)
    return table_vs_enum(table, code) or ("" if union == want else "%s is %#x, the bits %#x" % (mask, want, union))


check("Request flag bits: the doc's table lists exactly RequestFlag, all of kAllFlags",
      lambda: flag_table("Request flag bit", "transfer/session_messages.cpp", "RequestFlag", "kFlag", "kAllFlags"))
check("entry flag bits: the doc's table lists exactly kEntry*, all of kEntryFlags",
      lambda: flag_table("entry flag bit", "transfer/wire.cpp", "", "kEntry", "kEntryFlags"))
check("Item change bits: the doc's table lists exactly ChangeBits, all of kAllChangeBits",
      lambda: flag_table("change bit", "manifest/plan.h", "ChangeBits", "kCh", "kAllChangeBits"))

# Enumerations written inline.
ENTRY_TYPES = {"file": "File", "directory": "Dir", "symlink": "Symlink", "fifo": "Fifo", "socket": "Socket",
               "character device": "CharDev", "block device": "BlockDev"}


def lower_enum(rel, name):
    return {v: k.lower() for k, v in enum(rel, name).items()}


check("entry types: 'type (1 file, …)' is EntryType (manifest/entry.h)",
      lambda: same_map({n: ENTRY_TYPES.get(s, s) for n, s in
                        pairs(re.search(r"An entry is `[^`]*`:\s*\n?.*?type \(([^)]*)\)", doc, re.S).group(1)).items()},
                       {v: k for k, v in enum("manifest/entry.h", "EntryType").items()}))
check("Report kinds: the Report row is SessionReport::Kind",
      lambda: same_map(pairs(re.search(r"kind ([^;]*);", cell("Report")).group(1)),
                       lower_enum("transfer/session_messages.h", "SessionReport::Kind")))
check("DataRoute values: the DataRoute row and the ssh section are DataRoute",
      lambda: same_map(pairs(cell("DataRoute")), lower_enum("transfer/session_messages.h", "DataRoute"))
      or same_map(pairs(re.search(r"answers Ready with DataRoute:(.*?)\.", doc, re.S).group(1),
                        r"`(\d+)` (\w+)"), lower_enum("transfer/session_messages.h", "DataRoute")))
check("Request data via values are DataVia",
      lambda: same_map(pairs(re.search(r"data via u8 \(([^:]*)", doc).group(1)),
                       lower_enum("transfer/session_messages.h", "DataVia")))
check("Request roles are ServerRole",
      lambda: same_map(pairs(re.search(r"role \((.*?)\);", doc, re.S).group(1), r"\b(\d) (\w+):"),
                       lower_enum("transfer/session_messages.h", "ServerRole")))
check("FileEnd flags are kFileEnd*",
      lambda: same_map(pairs(cell("FileEnd"), r"bit (\d+) (\w+)"),
                       {int(math.log2(C(k))): k[len("kFileEnd"):].lower() for k in CONSTS if k.startswith("kFileEnd")}))

# Payload layouts: the doc's `name:type …` against the ByteWriter calls of each encoder.
ENCODER = {"ManifestBatch": "EncodeEntryBatch", "HashRequest": "EncodeIndexList", "SendList": "EncodeIndexList",
           "Result": "EncodeStats", "FileList": "EncodeFileListBatch"}


def layout_vs_encoder(name, encoder):
    if name.lower() not in LAYOUTS:
        return "the doc gives no `field:type …` layout for %s" % name
    doc_w, code_w = layout_writes(LAYOUTS[name.lower()]), writes(encoder)
    return "" if doc_w == code_w else "doc %s, %s writes %s" % (" ".join(doc_w), encoder, " ".join(code_w))


# A frame with an encoder needs a documented layout, and a documented layout an encoder.
for frame in enum("transfer/wire.h", "FrameType"):
    encoder = ENCODER.get(frame, "Encode" + frame)
    if encoder in FUNCS or frame.lower() in LAYOUTS:
        check("%s payload layout matches %s" % (frame, encoder), lambda f=frame, e=encoder: layout_vs_encoder(f, e))
check("entry layout matches EncodeEntry", lambda: layout_vs_encoder("entry", "EncodeEntry"))
check("frame header: `type:u8 length:u32le …` is kFrameHeaderBytes, said so",
      lambda: phrase(r"a (\d+)-byte header and the payload", C("kFrameHeaderBytes"))
      or ("" if layout_width(re.search(r"`(type:u8 length:u32le[^`]*)`", doc).group(1)) == C("kFrameHeaderBytes")
          else "the header's fields do not add up to kFrameHeaderBytes"))
check("ssh chunk header: `channel:u32le kind:u8 value:u32le` is Mux::kHeaderBytes, said so",
      lambda: phrase(r"a (\d+)-byte header\s+`channel:", C("kHeaderBytes", ("Mux",)))
      or ("" if layout_width(re.search(r"`(channel:u32le[^`]*)`", doc).group(1)) == C("kHeaderBytes", ("Mux",))
          else "the chunk header's fields do not add up to Mux::kHeaderBytes"))
check("fixed byte strings: magic, token and data key sizes",
      lambda: phrase(r"magic:bytes\[(\d+)\]", len(C("kHelloMagic")))
      or phrase(r"token:bytes\[(\d+)\]", int(re.search(r"using SessionToken = std::array<\w+, (\d+)>",
                                                          SOURCES["transfer/wire.h"]).group(1)))
      or phrase(r"data_key:bytes\[(\d+)\]", int(re.search(r"std::array<unsigned char, (\d+)> data_key",
                                                           SOURCES["transfer/session_messages.h"]).group(1))))

# Versions.
check("title version is kProtocolVersion", lambda: phrase(r"^# ktsync wire protocol, version (\d+)", C("kProtocolVersion")))
check("'speaks version N only' is kProtocolVersion and kMinProtocolVersion",
      lambda: phrase(r"speaks version (\d+) only", C("kProtocolVersion"))
      or ("" if C("kMinProtocolVersion") == C("kProtocolVersion") else "kMinProtocolVersion differs: say which versions"))
check("the newest 'Version N adds' is kProtocolVersion",
      lambda: "" if max(map(int, re.findall(r"Version (\d+) adds", doc))) == C("kProtocolVersion")
      else "the history stops at version %s" % max(map(int, re.findall(r"Version (\d+) adds", doc))))

# Caps and limits, as the decoders apply them.
LIMITS = [
    ("frame payload cap", r"`length ≤ (\d+) MiB`", [lambda: C("kMaxFramePayload")], MiB),
    ("FileDataZ raw length", r"raw length u32 \(1\.\.(\d+) MiB\)", [lambda: C("kMaxFramePayload")], MiB),
    ("index list cap", r"An index list is\s+`count:u32le` \(≤ (\d+)\)", [lambda: cap("DecodeIndexList", "Count")], 1),
    ("HashReply count cap", r"count ≤ (\d+), has 0 or 1", [lambda: cap("DecodeHashReply", "Count")], 1),
    ("ManifestBatch count cap", r"`count:u32 \{entry\}`, count ≤ (\d+)", [lambda: cap("ManifestDecoder::Decode", "Count")], 1),
    ("Result caps", r"count ≤ (\d+), keys 1\.\.(\d+) bytes",
     [lambda: cap("DecodeStats", "Count"), lambda: cap("DecodeStats", "Str8")], 1),
    ("Error message cap", r"\| Error \|[^\n]*message ≤ (\d+) bytes", [lambda: cap("DecodeError", "Str16")], 1),
    ("Report key cap", r"\| Report \|[^\n]*key ≤ (\d+) bytes", [lambda: cap("DecodeReport", "Str16", 0)], 1),
    ("Report message cap", r"\| Report \|[^\n]*message ≤ (\d+) bytes", [lambda: cap("DecodeReport", "Str16", 1)], 1),
    ("Ready address cap", r"address ≤ (\d+)\s+bytes", [lambda: cap("DecodeReady", "Str8")], 1),
    ("Ready kTLS note cap", r"kTLS note \(≤ (\d+) bytes\)", [lambda: cap("DecodeReady", "Str16")], 1),
    ("Request path cap", r"path\s+≤ (\d+) bytes \(opened", [lambda: cap("DecodeRequest", "Str16", 0)], 1),
    ("Request filter caps", r"filter rules in order, count ≤ (\d+),[\s\S]*?pattern 1\.\.(\d+) bytes",
     [lambda: cap("DecodeRequest", "Count"), lambda: cap("DecodeRequest", "Str16", 1)], 1),
    ("Request streams", r"streams\s+\(1\.\.(\d+)\)", [lambda: C("kMaxStreams")], 1),
    ("Request compress level", r"compress\s+level u8 \(0 off, ≤ (\d+)\)", [lambda: C("kMaxCompressLevel")], 1),
    ("Request max delete percent", r"millionths of a percent, so ≤ (\d+)\)", [lambda: 100 * C("kPercentUnits")], 1),
    ("entry path cap", r"An entry is `[^`]*`:\s*path ≤ (\d+) bytes", [lambda: cap("DecodeEntry", "Str16", 0)], 1),
    ("path rules", r"no NUL, ≤ (\d+) bytes, components ≤ (\d+) bytes",
     [lambda: C("kMaxPathBytes"), lambda: C("kMaxNameBytes")], 1),
    ("symlink target cap", r"symlinks only \(1\.\.(\d+) bytes", [lambda: cap("DecodeEntry", "Str16", 1)], 1),
    ("entry mode", r"mode ≤ (0[0-7]+)",
     [lambda: doc_int(re.search(r"mode & ~(0[0-7]+)u", body("DecodeEntry")).group(1))], 1),
    ("Item string caps", r"path a safe path ≤ (\d+) bytes, its\s+target ≤ (\d+) bytes.*?leader empty or a safe path ≤ (\d+)",
     [lambda: cap("DecodeItem", "Str16", 0), lambda: cap("DecodeItem", "Str16", 1), lambda: cap("DecodeItem", "Str16", 2)], 1),
    ("xattr count", r"count u32 \(1\.\.(\d+)\)", [lambda: cap("DecodeXattrs", "Count")], 1),
    ("xattr name", r"name str8 \(≤ (\d+) bytes\)", [lambda: cap("DecodeXattrs", "Str8")], 1),
    ("xattr value length", r"value length u32 \(≤ (\d+)\)", [lambda: C("kMaxXattrValueBytes")], 1),
    ("xattr value size", r"a value is at\s+most (\d+) KiB", [lambda: C("kMaxXattrValueBytes")], KiB),
    ("xattr bytes per entry", r"names and values together at most (\d+) KiB per entry", [lambda: C("kMaxXattrBytes")], KiB),
    ("mux channels", r"at most (\d+) open at once", [lambda: C("kMaxChannels", ("Mux",))], 1),
    ("mux Data size", r"\| Data \| 1\.\.(\d+) bytes", [lambda: C("kMaxChunk", ("Mux",))], 1),
    ("mux window", r"starts with (\d+) MiB of credit", [lambda: C("kWindow", ("Mux",))], MiB),
    ("mux credit cap", r"never beyond the (\d+) MiB window", [lambda: C("kWindow", ("Mux",))], MiB),
    ("initial manifest credit", r"\((\d+) before the\s+first Credit\)", [lambda: C("kInitialCredit")], 1),
    ("credit grant", r"`release_below` \+\s+(\d+)", [lambda: C("kWindow", ("SourceChannel",))], 1),
    ("initial byte credit", r"\((\d+) MiB before the\s+first Credit\)", [lambda: C("kInitialByteCredit")], MiB),
    ("byte credit grant", r"`send_bytes_below` = (\d+) MiB past", [lambda: C("kByteWindow", ("SourceChannel",))], MiB),
    ("source byte window", r"nor more than (\d+) MiB of\s+their encoded bytes", [lambda: C("kMaxByteWindow", ("DestChannel",))], MiB),
    ("largest entry", r"An entry encodes to\s+at most (\d+) KiB", [lambda: C("kMaxEncodedEntryBytes")], KiB),
    ("bytes in flight", r"no more than (\d+) MiB of their entries", [lambda: C("kMaxInFlightBytes", ("Receiver",))], MiB),
    ("report bytes", r"at most (\d+) MiB of their\s+keys and messages", [lambda: C("kMaxReportBytes", ("PeerEnd",))], MiB),
    ("deferred bytes", r"waiting for those files,\s+(\d+) MiB", [lambda: C("kMaxDeferredBytes", ("Applier",))], MiB),
    ("source window", r"never\s+holds more than (\d+) entries", [lambda: C("kMaxWindow", ("DestChannel",))], 1),
    ("hash batches", r"batches of up to (\d+)", [lambda: C("kMaxUndecided", ("Planner",))], 1),
    ("SendList batches", r"up to (\d+) per frame", [lambda: C("kFileRequestBatch", ("SourceChannel",))], 1),
    ("files in flight", r"At most (\d+) files are\s+asked for", [lambda: C("kMaxInFlight", ("Receiver",))], 1),
    ("read attempts", r"at most (\d+)\s+FileBegins per file", [lambda: C("kMaxReadAttempts")], 1),
    ("keepalive period", r"nothing else for (\d+) s", [lambda: C("kKeepaliveEvery", ("FrameSender",))], 1),
    ("--data-via auto probe", r"within (\d+) s for `--data-via auto`", [lambda: C("kProbeTimeoutMs")], 1000),
    ("--data-via direct connect", r"(\d+) s for `--data-via direct`", [lambda: C("kConnectTimeoutMs")], 1000),
    ("rotation", r"after (\d+) GiB of file data", [lambda: C("kDefaultRotateBytes")], GiB),
    ("reverse control stream", r"`(0x[0-9a-fA-F]+)`", [lambda: C("kReverseControlStream")], 1),
    ("Reports kept", r"keeps the first (\d+) Reports", [lambda: C("kMaxReports", ("PeerEnd",))], 1),
    ("daemon file list", r"a daemon takes at most (\d+) listed paths", [lambda: C("kMaxDaemonListedPaths")], 1),
    ("daemon file list bytes", r"(\d+) MiB of listed path bytes", [lambda: C("kMaxDaemonListBytes")], MiB),
    ("daemon file list held", r"at most (\d+) paths and (\d+) MiB of\s+their bytes",
     [lambda: C("kMaxDaemonListedPaths"), lambda: C("kMaxDaemonListBytes") // MiB], 1),
    ("problems kept", r"keeps up to\s+(\d+) problems", [lambda: C("kMaxKept", ("Problems",))], 1),
    ("problem bytes", r"at\s+most (\d+) MiB of problem paths", [lambda: C("kMaxKeptBytes", ("Problems",))], MiB),
    ("warnings kept", r"keeps up to\s+(\d+) warnings", [lambda: C("kMaxPeerWarnings")], 1),
    ("warning bytes", r"at\s+most (\d+) MiB of warning text", [lambda: C("kMaxPeerWarningBytes")], MiB),
    ("secret file size", r"at most (\d+) bytes with one trailing line end\s+stripped and at least (\d+) left",
     [lambda: C("kMaxSecretFileBytes"), lambda: C("kMinSecretBytes")], 1),
    ("derived key size", r"the (\d+)-byte key derived", [lambda: int(re.search(
        r"Hkdf\(\w+, kPskSalt, \w+, (\d+)\)", SOURCES["transfer/secret.cpp"]).group(1))], 1),
    ("ssh data key size", r"fresh random (\d+)-byte PSK", [lambda: int(re.search(
        r"std::array<unsigned char, (\d+)> RandomKey\(\)", SOURCES["transfer/secret.h"]).group(1))], 1),
    ("session token size", r"The token is (\d+) random bytes", [lambda: int(re.search(
        r"std::array<unsigned char, (\d+)> RandomToken\(\)", SOURCES["transfer/secret.h"]).group(1))], 1),
    ("mtime nanoseconds", r"ns < 10\^(\d+)", [lambda: int(math.log10(1 + int(re.search(
        r"nsec > (\d+)", body("GetTimestamp")).group(1))))], 1),
]
for what, pattern, wants, scale in LIMITS:
    check("%s agrees" % what, lambda p=pattern, w=wants, s=scale: phrase(p, *[f() for f in w], scale=s))

# Strings: Hello magic, HKDF and PSK, TLS, rotation.
check("Hello magic is kHelloMagic",
      lambda: "" if re.search(r"magic `([^`]+)`", doc).group(1).encode().decode("unicode_escape") == C("kHelloMagic")
      else "doc %s, code %r" % (re.search(r"magic `([^`]+)`", doc).group(1), C("kHelloMagic")))
check("HKDF salt is kPskSalt, used by DeriveKey",
      lambda: phrase_str(r"salt `([^`]+)`", C("kPskSalt")) or code_has("transfer/secret.cpp", r"Hkdf\(\w+, kPskSalt,"))



def hkdf_info():
    said = re.search(r"info `([^`]+)`", doc).group(1)
    labels = {m for raw in SOURCES.values() for m in re.findall(r"DeriveKey\([^;]*?,\s*\"([^\"]*)\"\)", raw)}
    return "" if labels == {said} else "doc %s, DeriveKey labels %s" % (said, sorted(labels))


check("HKDF info is the one DeriveKey label in src/", hkdf_info)
check("daemon PSK identity is kDaemonIdentity", lambda: phrase_str(r"PSK identity\s+`([^`]+)`", C("kDaemonIdentity")))
check("ssh data PSK identity is kDataIdentity", lambda: phrase_str(r"with identity\s+`([^`]+)`", C("kDataIdentity")))


def key_wiring():
    # The doc's claims: ssh data has a random key and kDataIdentity; the daemon's control and
    # data connections both use the module's derived key and its kDaemonIdentity/<module>
    # identity, which the daemon looks up per connection.
    connect = body("ClientLink::Connect")
    ssh, daemon = connect.split("DeriveKey", 1)
    need = [(ssh, r"data_\.key = RandomKey\(\)"), (ssh, r"data_\.identity = kDataIdentity"),
            (daemon, r"p\.identity = DaemonIdentityFor\("), (daemon, r"data_\.key = p\.key"),
            (daemon, r"data_\.identity = p\.identity"),
            (SOURCES["transfer/serve_config.cpp"], r"std::string\(kDaemonIdentity\) \+ \"/\""),
            (SOURCES["transfer/daemon.cpp"], r"p\.find_key = "),
            (SOURCES["transfer/daemon.cpp"], r"keys_\.push_back\(DeriveKey\(")]
    return "; ".join("ClientLink::Connect or daemon.cpp lacks /%s/" % p for text, p in need if not re.search(p, text))


check("key and identity per connection kind are wired as the doc says (client_link.cpp, daemon.cpp)", key_wiring)


def tls_settings():
    version = re.search(r"TLS is (\d)\.(\d) only", doc).expand(r"TLS\1_\2_VERSION")
    cipher = re.escape(re.search(r"cipher `([^`]+)` only", doc).group(1))
    return "; ".join(filter(None, (code_has("transfer/tls_channel.cpp", p) for p in (
        r"set_min_proto_version\(ctx, %s\)" % version, r"set_max_proto_version\(ctx, %s\)" % version,
        r"set_ciphersuites\(ctx, \"%s\"\)" % cipher))))


check("TLS version and cipher are tls_channel.cpp's", tls_settings)
check("TLS: (EC)DHE always, no session tickets",
      lambda: ("SSL_OP_ALLOW_NO_DHE_KEX is used" if "SSL_OP_ALLOW_NO_DHE_KEX" in blank(SOURCES["transfer/tls_channel.cpp"])
               else "") or code_has("transfer/tls_channel.cpp", r"SSL_OP_NO_TICKET")
      or code_has("transfer/tls_channel.cpp", r"set_num_tickets\(ctx, 0\)"))
check("rotation is Done with the payload the doc names",
      lambda: code_has("transfer/data_sender.cpp", r"FrameType::Done, \"%s\"" % re.search(r"Done `(\w+)`", doc).group(1)))
PY

fails=0
while IFS=$'\t' read -r verdict what; do
    if [[ $verdict == ok ]]; then
        pass "$what"
    else
        echo "# MISMATCH: $what"
        fails=$((fails + 1))
    fi
done <"$T/checks.txt"
[[ -s $T/checks.txt ]] || die "the checker printed nothing"
((fails == 0)) || die "$fails protocol facts differ between docs/protocol.md and src/ (fix the doc, or the code)"

#!/usr/bin/env bash
# The documentation matches the program: man/ktsync.1 renders without a single groff or
# man warning (80 and 100 columns included), documents exactly the options that
# `ktsync mirror --help` and `ktsync serve --help` print (in its OPTIONS FOR MIRROR /
# OPTIONS FOR SERVE sections, with the same short forms), `ktsync copy --help` prints
# mirror's options but the deleting ones, and the bash, zsh and fish completion files offer
# exactly those options too (bash and fish checked by running the completion), and the
# subcommands of `ktsync --help` (state's list|prune included).
source "$(dirname "$0")/lib.sh"

MAN=$REPO/man/ktsync.1
BASH_COMP=$REPO/completions/ktsync.bash
ZSH_COMP=$REPO/completions/_ktsync
FISH_COMP=$REPO/completions/ktsync.fish
for f in "$MAN" "$BASH_COMP" "$ZSH_COMP" "$FISH_COMP"; do
    [[ -f $f ]] || die "missing $f"
done

# ---- the man page renders cleanly (all renderings are tried; failures reported at the end)
RENDER_FAILS=()
groff_clean() {   # groff_clean LABEL ARGS...: groff ARGS on the man page prints nothing on stderr
    local label=$1
    shift
    if ! groff "$@" "$MAN" 2>"$T/groff.err" >/dev/null || [[ -s $T/groff.err ]]; then
        _show "groff $*" "$(cat "$T/groff.err")"
        RENDER_FAILS+=("man page has warnings ($label)")
        return
    fi
    pass "man page renders without warnings ($label)"
}
groff_clean "groff -man -ww -z" -man -ww -z
groff_clean "tbl, utf8, 80 columns" -t -man -Tutf8 -ww -z -rLL=80n
groff_clean "tbl, utf8, 78 columns" -t -man -Tutf8 -ww -z -rLL=78n
if command -v man >/dev/null; then
    for width in 80 100; do
        MANWIDTH=$width man --warnings -l "$MAN" >"$T/man.txt" 2>"$T/man.err" || true
        if [[ -s $T/man.txt && ! -s $T/man.err ]]; then
            pass "man ./man/ktsync.1 at $width columns: no warnings"
        else
            _show "man --warnings -l (MANWIDTH=$width)" "$(cat "$T/man.err")"
            RENDER_FAILS+=("man ./man/ktsync.1 warns at $width columns")
        fi
    done
    grep -q "OPTIONS FOR MIRROR" "$T/man.txt" || die "rendered man page lacks OPTIONS FOR MIRROR"
else
    note "man(1) not installed: rendering through man skipped"
fi

# ---- options: --help output vs. man page sections vs. completion files
"$KTSYNC" --help >"$T/help-top.txt"
"$KTSYNC" mirror --help >"$T/help-mirror.txt"
"$KTSYNC" copy --help >"$T/help-copy.txt"
"$KTSYNC" serve --help >"$T/help-serve.txt"

# The comparison, in python: prints one line per mismatch, nothing when all agree.
python3 - "$T" "$MAN" "$ZSH_COMP" >"$T/mismatch.txt" <<'PY'
import re, sys

tmp, man_path, zsh_path = sys.argv[1:4]

def help_options(path):
    """{long: short-or-None} from CLI11 help output's Options: block."""
    opts, in_opts = {}, False
    for line in open(path):
        if re.match(r"^\S.*:\s*$", line):
            in_opts = line.startswith("Options:")
            continue
        m = re.match(r"^\s+((?:-\w,)*)(--[\w-]+)", line) if in_opts else None
        if m:
            shorts = re.findall(r"-\w", m.group(1))
            opts[m.group(2)] = shorts[0] if shorts else None
    return opts

man = open(man_path).read()

def man_section(title):
    m = re.search(r"^\.SH " + re.escape(title) + r"\n(.*?)(?=^\.SH )", man, re.S | re.M)
    return m.group(1) if m else ""

def man_tag_options(section):
    """[(set of long, set of short)] per .TP tag line of a section."""
    tags = []
    lines = section.split("\n")
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            tag = lines[i + 1].replace("\\-", "-")
            names = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", tag)
            tags.append(({n for n in names if n.startswith("--")},
                         {n for n in names if not n.startswith("--")}))
    return tags

def zsh_options(func):
    """Options named by the _arguments specs inside zsh function FUNC."""
    opts, inside = set(), False
    for line in open(zsh_path):
        if re.match(r"^\w+\(\) \{", line):
            inside = line.startswith(func + "()")
            continue
        if not inside:
            continue
        m = re.match(r"""\s*'(?:\([^)]*\))?\*?'?(\{([^}]*)\}|(-[-\w]+))""", line)
        if m:
            names = m.group(2).split(",") if m.group(2) else [m.group(3)]
            opts.update(n.rstrip("=+") for n in names)
    return opts

bad = []
top = help_options(tmp + "/help-top.txt")
synopsis = man_section("SYNOPSIS").replace("\\-", "-")
for long_opt, short in top.items():
    if long_opt not in synopsis:
        bad.append("ktsync --help has %s, the man SYNOPSIS does not" % long_opt)
subs = re.findall(r"^  (\w+)\s", open(tmp + "/help-top.txt").read().split("Subcommands:")[-1], re.M)
for sub in subs:
    if not re.search(r"^\.B ktsync %s\b" % sub, man_section("SYNOPSIS"), re.M):
        bad.append("subcommand %s is not in the man SYNOPSIS" % sub)
if sorted(subs) != ["copy", "help", "mirror", "serve", "state"]:
    bad.append("unexpected subcommands in ktsync --help: %s" % subs)

# copy is mirror without the deleting options (one definition, cli/options.cpp).
deleting = {"--delete", "--no-delete", "--force-delete", "--max-delete", "--max-delete-percent", "--delete-on-error", "--delete-excluded"}
copy_opts, mirror_opts = help_options(tmp + "/help-copy.txt"), help_options(tmp + "/help-mirror.txt")
if copy_opts != {k: v for k, v in mirror_opts.items() if k not in deleting}:
    bad.append("ktsync copy --help should list mirror's options but %s" % " ".join(sorted(deleting)))

for sub, title in (("mirror", "OPTIONS FOR MIRROR"), ("serve", "OPTIONS FOR SERVE")):
    helped = help_options("%s/help-%s.txt" % (tmp, sub))
    helped.pop("--help", None)  # documented once, in SYNOPSIS
    if len(helped) < 5:
        bad.append("could not read the options of ktsync %s --help" % sub)
        continue
    tags = man_tag_options(man_section(title))
    man_long = set().union(*(l for l, _ in tags)) if tags else set()
    for o in sorted(set(helped) - man_long):
        bad.append("%s: %s is in --help but not documented under %s" % (sub, o, title))
    for o in sorted(man_long - set(helped)):
        bad.append("%s: %s is documented under %s but not in --help" % (sub, o, title))
    for long_opt, short in helped.items():
        for longs, shorts in tags:
            if long_opt in longs:
                if short and short not in shorts:
                    bad.append("%s: man page lacks short form %s of %s" % (sub, short, long_opt))
                for s in shorts:
                    if s != short:
                        bad.append("%s: man page gives %s for %s, --help gives %s" % (sub, s, long_opt, short))
    want = set(helped) | {s for s in helped.values() if s} | {"--help", "-h"}
    got = zsh_options("_ktsync_" + sub)
    for o in sorted(want - got):
        bad.append("%s: zsh completion lacks %s" % (sub, o))
    for o in sorted(got - want):
        bad.append("%s: zsh completion offers %s, which --help does not list" % (sub, o))
    with open("%s/want-%s.txt" % (tmp, sub), "w") as f:
        f.write("\n".join(sorted(want)) + "\n")
if bad:
    print("\n".join(bad))
PY
if [[ -s $T/mismatch.txt ]]; then
    _show "mismatches" "$(cat "$T/mismatch.txt")"
    die "--help, man page and zsh completion disagree${RENDER_FAILS[*]:+; also: ${RENDER_FAILS[*]}}"
fi
((${#RENDER_FAILS[@]} == 0)) || die "${RENDER_FAILS[*]}"
pass "man page documents exactly the options of ktsync mirror/serve --help (short forms too)"
pass "zsh completion offers exactly those options"

# ---- bash completion, by running it (without the bash-completion package's helpers)
mkdir -p "$T/comp/dir one" "$T/comp/dir2"
complete_words() {   # complete_words WORD...: what <TAB> offers for the last WORD, sorted
    bash --norc --noprofile -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _ktsync ktsync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' _ "$BASH_COMP" "$@" | sed '/^$/d' | sort
}
assert_eq "mirror" "$(complete_words ktsync mi)" "bash: completes the mirror subcommand"
# Every subcommand ktsync --help lists (state is one: ktsync state list|prune).
sed -n '/^Subcommands:/,$s/^  \([a-z][a-z-]*\) .*/\1/p' "$T/help-top.txt" | sed '$a state' | sort -u >"$T/want-commands.txt"
assert_eq "$(cat "$T/want-commands.txt")" "$(complete_words ktsync '')" "bash: offers every subcommand"
assert_eq "$(printf 'list\nprune')" "$(complete_words ktsync state '')" "bash: state list|prune"
assert_eq "--version" "$(complete_words ktsync --ver)" "bash: completes --version"
assert_eq "--no-delete" "$(complete_words ktsync mirror --no-d)" "bash: completes mirror options"
assert_eq "--listen" "$(complete_words ktsync serve --li)" "bash: completes serve options"
assert_eq "$(cat "$T/want-mirror.txt")" "$(complete_words ktsync mirror -)" \
    "bash: offers exactly the options of ktsync mirror --help"
assert_eq "$(cat "$T/want-serve.txt")" "$(complete_words ktsync serve -v -)" \
    "bash: offers exactly the options of ktsync serve --help"
assert_eq "$(printf '%s\n' "$T/comp/dir one" "$T/comp/dir2")" \
    "$(complete_words ktsync mirror -n --state-dir "$T/comp/d")" "bash: --state-dir completes directories"
assert_eq "$(printf '%s\n' "$T/comp/dir one" "$T/comp/dir2")" \
    "$(complete_words ktsync mirror "$T/comp/di")" "bash: SRC completes directories"
assert_eq "" "$(complete_words ktsync mirror --bwlimit '')" "bash: no file names offered for --bwlimit"

# ---- fish completion, by running it
if command -v fish >/dev/null; then
    fish_words() {   # fish_words LINE: what fish offers at the end of LINE, sorted
        (cd "$T/comp" && fish --no-config -c "source $FISH_COMP; complete -C \$argv[1]" "$1") | cut -f1 | sort
    }
    assert_eq "$(cat "$T/want-commands.txt")" "$(fish_words 'ktsync ')" "fish: offers every subcommand"
    assert_eq "$(printf 'list\nprune')" "$(fish_words 'ktsync state ')" "fish: state list|prune"
    assert_eq "$(cat "$T/want-mirror.txt")" "$(fish_words 'ktsync mirror -')" \
        "fish: offers exactly the options of ktsync mirror --help"
    assert_eq "$(cat "$T/want-serve.txt")" "$(fish_words 'ktsync serve -v -')" \
        "fish: offers exactly the options of ktsync serve --help"
    assert_eq "$(printf 'auto\ndirect\nssh')" "$(fish_words 'ktsync mirror --data-via ')" "fish: --data-via values"
    assert_eq "$(printf '%s\n' "dir one/" dir2/)" "$(fish_words 'ktsync mirror -n --state-dir d')" \
        "fish: --state-dir completes directories"
    assert_eq "" "$(fish_words 'ktsync mirror --bwlimit ')" "fish: no file names offered for --bwlimit"
else
    note "fish not installed: ktsync.fish not run"
fi

if command -v zsh >/dev/null; then
    zsh -n "$ZSH_COMP" || die "zsh completion has a syntax error"
    pass "zsh completion parses"
else
    note "zsh not installed: _ktsync checked statically only"
fi

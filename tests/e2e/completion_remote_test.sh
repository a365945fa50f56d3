#!/usr/bin/env bash
# Shell completion of SRC/DST: after [user@]host: the bash, fish and zsh completions list
# the remote directory over ssh (the command line's -e command if it is ssh, in
# BatchMode; any other -e program is never run), names quoted for the shell and never run
# by the remote shell, the path on stdin of a constant remote command; a host that refuses the key
# gives no candidate at once. Before the colon, host names come from ~/.ssh/config and
# known_hosts. All three files carry the same remote listing script and parse. bash runs
# its completion function, fish `complete -C`, zsh a real <TAB> in a zpty. A private
# sshd (lib.sh) stands in for the remote and HOME is the test's: no ssh setup of the
# user's is needed or read.
source "$(dirname "$0")/lib.sh"

BASH_COMP=$REPO/completions/ktsync.bash
ZSH_COMP=$REPO/completions/_ktsync
FISH_COMP=$REPO/completions/ktsync.fish

# ---- one remote listing script in the three files
script_of() { grep -oE "remote_ls[= ]'[^']*'" "$1" | cut -d"'" -f2; }
[[ -n $(script_of "$BASH_COMP") ]] || die "no _ktsync_remote_ls in $BASH_COMP"
assert_eq "$(script_of "$BASH_COMP")" "$(script_of "$ZSH_COMP")" "zsh lists remote paths with bash's script"
assert_eq "$(script_of "$BASH_COMP")" "$(script_of "$FISH_COMP")" "fish lists remote paths with bash's script"

# complete_line WORD...: what bash's <TAB> offers after the words as typed (quotes and
# backslashes kept), one per line, sorted. COMP_WORDS is split at ':' as bash splits it.
complete_line() {
    bash --norc --noprofile -c '
        source "$1"; shift
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        COMP_WORDS=()
        for w in "$@"; do
            whole=$w
            while [[ $w == *:* ]]; do
                [[ -n ${w%%:*} ]] && COMP_WORDS+=("${w%%:*}")
                COMP_WORDS+=(:)
                w=${w#*:}
            done
            [[ -n $w || -z $whole ]] && COMP_WORDS+=("$w")
        done
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _ktsync ktsync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"' _ "$BASH_COMP" "$@" | sed '/^$/d' | sort
}

lines() { printf '%s\n' "$@" | sort; }   # expected candidates, sorted as complete_line sorts

# ---- host names (HOME is a test-local one: ~/.ssh/config and known_hosts of our own)
mkdir -p "$T/home/.ssh" "$T/cwd"
cat >"$T/home/.ssh/config" <<'EOF'
Host nas backup-*
    Port 2222
Host *
    ServerAliveInterval 30
host gpu2
EOF
# Hostile "host names" (a word list that is expanded, e.g. compgen -W, would run them).
# shellcheck disable=SC2016 # $( and ${IFS} are the data
printf 'Host g$(touch${IFS}%s)\n' "$T/pwned-config" >>"$T/home/.ssh/config"
cat >"$T/home/.ssh/known_hosts" <<'EOF'
gpu1,10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA
[bastion]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA
|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA
EOF
# shellcheck disable=SC2016
printf 'g$(touch${IFS}%s),10.0.0.6 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n' "$T/pwned-kh" >>"$T/home/.ssh/known_hosts"
cd "$T/cwd"
export HOME=$T/home
assert_eq "$(lines gpu1: gpu2:)" "$(complete_line ktsync mirror g)" \
    "bash: host names from ~/.ssh/config and known_hosts, with a colon; \$(...) is no host"
[[ ! -e $T/pwned-config && ! -e $T/pwned-kh ]] || die "bash: <TAB> ran a command from a host name"
assert_eq "alice@nas:" "$(complete_line ktsync mirror -n alice@n)" "bash: user@ is kept"
assert_eq "bastion:" "$(complete_line ktsync mirror /x ba)" "bash: [host]:port entries; no Host patterns"
if command -v fish >/dev/null; then
    assert_eq "$(lines gpu1: gpu2:)" \
        "$(fish --no-config -c "source $FISH_COMP; complete -C 'ktsync mirror g'" | cut -f1 | sort)" \
        "fish: host names from ~/.ssh/config and known_hosts"
    [[ ! -e $T/pwned-config && ! -e $T/pwned-kh ]] || die "fish: <TAB> ran a command from a host name"
fi

# ---- remote paths over a private sshd
start_sshd
R=$T/remote
mkdir -p "$R/dir one" "$R/dir2" "$R/.hidden"
# A name that runs "touch pwned" in the remote home if any shell ever evaluates it.
RHOME=$(getent passwd "$(id -un)" | cut -d: -f6)
[[ ! -e $RHOME/pwned ]] || die "$RHOME/pwned exists before the test"
touch "$R/file" "$R/a:b c" "$R/q'\$(touch pwned)"
# The -e program: a wrapper named ssh that logs the remote command it is given, which must
# be the constant listing command (the path goes on stdin; in a command line it would be
# code for a remote login shell that quotes differently, e.g. fish).
mkdir -p "$T/bin"
cat >"$T/bin/ssh" <<EOF
#!/bin/sh
for a; do last=\$a; done
printf '%s\\n' "\$last" >>"$T/ssh-commands"
exec ssh "\$@"
EOF
chmod +x "$T/bin/ssh"
SSH_CMD="$T/bin/ssh ${SSH_CMD#ssh }"
E="\"$SSH_CMD\""   # -e as typed on the command line
H=$SSH_HOST
# Any other -e program is not run at <TAB>.
printf '#!/bin/sh\ntouch %s\n' "$T/ran-other-e" >"$T/bin/other"
chmod +x "$T/bin/other"

assert_eq "$(lines "$R/dir\\ one/" "$R/dir2/")" "$(complete_line ktsync mirror -e "$E" "$H:$R/di")" \
    "bash: remote directories, shell-quoted, no space after /"
assert_eq "$R/file " "$(complete_line ktsync mirror -e "$E" /tmp/src "$H:$R/fi")" \
    "bash: a remote file (DST) ends the word"
assert_eq "$R/.hidden/" "$(complete_line ktsync mirror --ssh="$SSH_CMD" "$H:$R/.h")" \
    "bash: --ssh=CMD; dot names when asked for"
# bash replaces only what follows the word's last ':'.
assert_eq "b\\ c " "$(complete_line ktsync mirror -e "$E" "$H:$R/a:b")" "bash: a colon inside the remote path"
assert_eq "$R/q\\'\\\$\\(touch\\ pwned\\) " \
    "$(complete_line ktsync mirror -e "$E" "$H:$R/q\\'\\\$\\(")" \
    "bash: a name with a quote and \$( is data: listed, quoted, not run"
[[ ! -e $RHOME/pwned ]] || die "the remote shell ran part of a file name"
assert_eq "$(lines "$R/dir\\ one/" "$R/dir2/" "$R/file ")" \
    "$(complete_line ktsync mirror -e "$E" "$H:$R/" | grep -vF -e "$R/a:" -e "$R/q")" "bash: the whole remote directory"
# ~ is the remote home: the sshd's user is ours, so it is the home getent names.
if [[ -d $RHOME ]]; then
    want=$(cd "$RHOME" && for f in .[!.]* ..?*; do
        [[ -e $f || -L $f ]] || continue
        if [[ -d $f ]]; then echo "~/$f/"; else echo "~/$f "; fi
    done | sort)
    assert_eq "$want" "$(complete_line ktsync mirror -e "$E" "$H:~/.")" "bash: ~/ is the remote home"
fi
t0=$(date +%s)
assert_eq "" "$(complete_line ktsync mirror -e "\"$SSH_CMD -o PubkeyAuthentication=no\"" "$H:$R/")" \
    "bash: a host that wants a password gives nothing (BatchMode), no prompt"
(($(date +%s) - t0 < 8)) || die "the refused login took $(($(date +%s) - t0))s"
assert_eq "" "$(complete_line ktsync mirror -e "$E" "-oProxyCommand=touch\ $T/pwned:x")" \
    "bash: a word starting with - is no host"
[[ ! -e $T/pwned ]] || die "an option-like host reached ssh"
assert_eq "" "$(complete_line ktsync mirror ktsync://nas/x)" "bash: ktsync:// is not an ssh host"
assert_eq "" "$(complete_line ktsync mirror -e "$T/bin/other" "$H:$R/")" "bash: an -e program other than ssh gives nothing"
assert_eq "" "$(complete_line ktsync mirror -e "\"sudo $SSH_CMD\"" "$H:$R/")" "bash: -e 'sudo ssh' gives nothing"
[[ ! -e $T/ran-other-e ]] || die "bash: <TAB> ran the -e program"
# ktsync splits -e as a shell would; quotes left inside it are not split here, so nothing.
assert_eq "" "$(complete_line ktsync mirror -e "\"$SSH_CMD -o 'ConnectTimeout 5'\"" "$H:$R/")" \
    "bash: an -e command with quotes inside gets no remote completion (not a wrong split)"

if command -v fish >/dev/null; then
    fish_complete() { fish --no-config -c "source $FISH_COMP; complete -C \$argv[1]" "$1" | cut -f1 | sort; }
    assert_eq "$(lines "$H:$R/dir one/" "$H:$R/dir2/")" \
        "$(fish_complete "ktsync mirror -e '$SSH_CMD' $H:$R/di")" "fish: remote directories"
    assert_eq "$H:$R/q'\$(touch pwned)" "$(fish_complete "ktsync mirror -e '$SSH_CMD' $H:$R/q")" \
        "fish: a name with a quote and \$( is data"
    [[ ! -e $RHOME/pwned ]] || die "fish: the remote shell ran part of a file name"
    assert_eq "$H:$R/dir one/" "$(fish_complete "ktsync mirror -e '$SSH_CMD' $H:$R/dir\\ o")" \
        "fish: a remote path with an escaped space"
    assert_eq "$H:$R/dir one/" "$(fish_complete "ktsync mirror -e '$SSH_CMD' '$H:$R/dir o")" \
        "fish: a remote path in an unclosed quote"
    assert_eq "" "$(fish_complete "ktsync mirror -e $T/bin/other $H:$R/")" "fish: an -e program other than ssh gives nothing"
    [[ ! -e $T/ran-other-e ]] || die "fish: <TAB> ran the -e program"
    fish -n "$FISH_COMP" || die "fish completion has a syntax error"
    pass "fish completion parses"
else
    note "fish not installed: fish completion not run"
fi
if command -v zsh >/dev/null; then
    zsh -n "$ZSH_COMP" || die "zsh completion has a syntax error"
    pass "zsh completion parses"
    # zsh_tab LINE: the edit buffer after typing LINE and <TAB> in an interactive zsh
    # (zpty) with compinit and our _ktsync first on its fpath.
    mkdir -p "$T/zfunc"
    cp "$ZSH_COMP" "$T/zfunc/"
    cat >"$T/tab.zsh" <<'EOF'
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "fpath=($1 \$fpath); autoload -U compinit; compinit -u -D; unsetopt beep; ktsync() { :; }"
zpty -w z "dump() { print -r -- \"\$BUFFER\" >$2; }; zle -N dump; bindkey '^X^D' dump; print RE''ADY"
zpty -r z junk '*READY*'
zpty -w -n z "$3"$'\t'
sleep 1
zpty -w -n z $'\x18\x04'
for i in {1..300}; do [[ -s $2 ]] && break; sleep 0.1; done   # keys queue behind the completion
zpty -d z
EOF
    zsh_tab() {
        rm -f "$T/zbuf"
        timeout 60 zsh -f "$T/tab.zsh" "$T/zfunc" "$T/zbuf" "$1" || true
        cat "$T/zbuf" 2>/dev/null
    }
    Z="ktsync mirror -e '$SSH_CMD'"
    assert_eq "$Z $H:$R/file " "$(zsh_tab "$Z $H:$R/fi")" "zsh: a remote file"
    assert_eq "$Z $H:$R/dir\\ one/" "$(zsh_tab "$Z $H:$R/dir\\ ")" "zsh: a remote directory, quoted"
    assert_eq "$Z $H:$R/q\\'\\\$\\(touch\\ pwned\\) " "$(zsh_tab "$Z $H:$R/q")" \
        "zsh: a name with a quote and \$( is data"
    [[ ! -e $RHOME/pwned ]] || die "zsh: the remote shell ran part of a file name"
    assert_eq "ktsync mirror alice@bastion:" "$(zsh_tab "ktsync mirror alice@bas")" "zsh: user@host: from known_hosts"
    assert_eq "ktsync mirror -e $T/bin/other $H:$R/fi" "$(zsh_tab "ktsync mirror -e $T/bin/other $H:$R/fi")" \
        "zsh: an -e program other than ssh gives nothing"
    [[ ! -e $T/ran-other-e ]] || die "zsh: <TAB> ran the -e program"
else
    note "zsh not installed: _ktsync checked statically only"
fi

# ---- every remote command that reached ssh was the constant listing command
[[ -s $T/ssh-commands ]] || die "the ssh wrapper was never run"
want="sh -c '$(script_of "$BASH_COMP")'"
bad=$(grep -cvxF -e "$want" "$T/ssh-commands" || true)
assert_eq "0" "$bad" "the remote command line is constant ($(wc -l <"$T/ssh-commands") listings; the path went on stdin)"

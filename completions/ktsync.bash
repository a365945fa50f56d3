# bash completion for ktsync(1)                              -*- shell-script -*-
#
# Installed as share/bash-completion/completions/ktsync (loaded on demand by the
# bash-completion package); also works when sourced directly without it.
# The option lists must equal `ktsync mirror --help` / `ktsync serve --help`:
# tests/e2e/docs_match_test.sh checks that. A new option goes into its list below, and
# into the value cases of _ktsync if it takes a value.
#
# SRC/DST: local directories; host names from ~/.ssh/config and known_hosts (as "host:");
# after [user@]host: the remote paths, listed over ssh (the command line's -e/--ssh
# command if any) with BatchMode (never a password prompt) and a time limit.

_ktsync_mirror_opts='-h --help -n --dry-run -i --itemize-changes --json --stats -v --verbose
    -q --quiet --progress --no-progress --out-format --log-file --log-file-format --delete --no-delete --max-delete
    --max-delete-percent --delete-on-error --force-delete -c --checksum -H --hard-links --no-hard-links
    -X --xattrs --no-xattrs -A --acls --no-acls
    --owner --no-owner --group --no-group --numeric-ids --fsync --skip-changing-files --exclude --include
    --exclude-from --include-from -f --filter --delete-excluded --files-from --from0 --state-dir -x
    --one-file-system --cross-filesystems -e --ssh
    --remote-ktsync --secret-file --streams --data-port --data-via -z --compress
    --compress-level --require-ktls --no-ktls --no-encryption --bwlimit --timeout
    -o -g --size-only --modify-window -u --update --ignore-existing --existing --max-size --min-size
    --chmod --chown --safe-links -L --copy-links -a --archive -r --recursive -l --links -W --whole-file --info'

_ktsync_commands='mirror copy serve help state'
_ktsync_state_commands='list prune'

_ktsync_serve_opts='-h --help --stdio --listen --config --root --secret-file --state-dir --read-only
    --write-only --max-connections --auth-timeout --idle-timeout --no-ktls --allow-devices --allow-setid
    --allow-owners --fake-super --user --group -v --verbose'

# _ktsync_add COMPGEN_ARGS...: append compgen's candidates (one per line) to COMPREPLY.
_ktsync_add()
{
    mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen "$@")
}

# _ktsync_compgen ACTION WORD: complete WORD as file names (-f) or directories (-d).
_ktsync_compgen()
{
    if declare -F _filedir >/dev/null; then
        if [[ $1 == -d ]]; then _filedir -d; else _filedir; fi
    else
        compopt -o filenames 2>/dev/null
        _ktsync_add "$1" -- "$2"
    fi
}

# Run by sh on the remote host, reading the partial path as one line on its stdin (data,
# never code): prints the entries starting with it, a directory with a trailing /. ~ and
# ~user are expanded only to list. The remote command line is the constant
# "sh -c '<this script>'": the path is never part of it, because quoting it for sh is not
# quoting it for the remote user's login shell (fish, csh quote differently), and a
# crafted name that the completion itself offers would then run as code there. One line,
# no quote or backslash: the same text in the bash, zsh and fish files
# (tests/e2e/completion_remote_test.sh compares them), and any login shell passes it to
# sh unchanged.
_ktsync_remote_ls='IFS= read -r p; d=; n=$p; case $p in */*) d=${p%/*}/; n=${p##*/};; esac; x=$d; case $d in "~"*) u=${d%%/*}; u=${u#"~"}; case $u in *[!A-Za-z0-9._-]*) exit 0;; esac; eval "h=~$u"; x=$h${d#"~$u"};; esac; for f in "$x$n"*; do case ${f##*/} in .|..) continue;; esac; [ -e "$f" ] || [ -L "$f" ] || continue; if [ -d "$f" ]; then printf "%s/\n" "$d${f##*/}"; else printf "%s\n" "$d${f##*/}"; fi; done'

# _ktsync_dequote WORD: WORD as the shell would pass it (quotes and backslashes removed,
# nothing expanded).
_ktsync_dequote()
{
    local w=$1 out='' q='' c i
    for ((i = 0; i < ${#w}; i++)); do
        c=${w:i:1}
        if [[ $q == "'" ]]; then
            if [[ $c == "'" ]]; then q=''; else out+=$c; fi
        elif [[ $c == '\' ]]; then
            ((i++))
            out+=${w:i:1}
        elif [[ -n $q ]]; then
            if [[ $c == "$q" ]]; then q=''; else out+=$c; fi
        elif [[ $c == [\"\'] ]]; then
            q=$c
        else
            out+=$c
        fi
    done
    printf '%s' "$out"
}

# _ktsync_words: words/cword/cur/prev from COMP_WORDS with [user@]host:path rejoined
# (COMP_WORDBREAKS splits at ':'), for when bash-completion's _init_completion is absent.
_ktsync_words()
{
    local i w rest=$COMP_LINE trimmed glued
    words=()
    cword=0
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        trimmed=${rest#"${rest%%[![:space:]]*}"}
        glued=$((i > 0 && ${#trimmed} == ${#rest}))
        rest=${trimmed#"$w"}
        if ((glued)) && [[ $w == : || ${words[-1]} == *: ]]; then
            words[-1]+=$w
        else
            words+=("$w")
        fi
        ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
    done
    cur=${words[cword]}
    prev=${words[cword - 1]}
}

# _ktsync_ssh_hosts: host names from the ssh configs (no patterns) and known_hosts files
# (hashed entries cannot be read back); IPv6 addresses in brackets, as ktsync wants them.
_ktsync_ssh_hosts()
{
    local f
    for f in ~/.ssh/config /etc/ssh/ssh_config; do
        [[ -r $f ]] && awk 'tolower($1) == "host" { for (i = 2; i <= NF; i++) if ($i !~ /[*?!]/) print $i }' "$f"
    done
    for f in ~/.ssh/known_hosts /etc/ssh/ssh_known_hosts; do
        [[ -r $f ]] && awk '$1 !~ /^[|#@]/ { n = split($1, h, ",")
            for (i = 1; i <= n; i++) { x = h[i]; if (x ~ /^\[/) { sub(/^\[/, "", x); sub(/\]:[0-9]+$/, "", x) }
                                       if (x ~ /:/) x = "[" x "]"; print x } }' "$f"
    done
}

# _ktsync_remote_paths SSH_COMMAND: the remote paths for cur = [user@]host:partial, listed
# with SSH_COMMAND (the -e word as typed; ssh if none); returns 1 if cur is not such a
# word. Candidates keep cur's host part, minus what bash keeps anyway when ':' breaks
# words.
_ktsync_remote_paths()
{
    local target host_part path line
    if [[ $cur =~ ^([^/@]*@)?\[([^]/]*)\]:(.*)$ ]]; then
        target=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
        path=${BASH_REMATCH[3]}
    elif [[ $cur =~ ^([^/:]+):(.*)$ && $cur != *://* ]]; then
        target=${BASH_REMATCH[1]}
        path=${BASH_REMATCH[2]}
    else
        return 1
    fi
    host_part=${cur%"$path"}
    [[ $target =~ ^[A-Za-z0-9._%@:+-]+$ && $target != -* ]] || return 0
    compopt -o nospace 2>/dev/null
    # The -e command as ktsync gets it. ktsync splits it as a shell would (quotes,
    # backslashes); read -ra splits only at blanks, so a command that still holds a quote
    # or backslash (e.g. "ssh -i '/a b/key'") gets no remote completion rather than a
    # wrong split, and this never evals it.
    local cmd
    cmd=$(_ktsync_dequote "$1")
    [[ $cmd == *[\'\"\\$'\n']* ]] && return 0
    local -a ssh
    read -ra ssh <<<"$cmd"
    # Only ssh itself runs at <TAB>: any other -e program ("sudo ssh", "docker exec -i",
    # a wrapper script) is not started just to complete a word.
    [[ ${#ssh[@]} -gt 0 && ${ssh[0]##*/} == ssh ]] || return 0
    path=$(_ktsync_dequote "$path")
    local broken_off=''
    [[ $COMP_WORDBREAKS == *:* ]] && broken_off=${cur%"${cur##*:}"}
    while IFS= read -r line; do
        # %q escapes a leading ~, which after host: nothing would expand anyway.
        if [[ $line == '~'* ]]; then
            line=$host_part\~$(printf '%q' "${line:1}")
        else
            line=$host_part$(printf '%q' "$line")
        fi
        [[ $line == */ ]] || line+=' '   # a file ends the word, a directory goes on
        COMPREPLY+=("${line#"$broken_off"}")
    # The path goes on ssh's stdin, the command line stays constant (see _ktsync_remote_ls).
    done < <(printf '%s\n' "$path" | timeout -k 2 10 "${ssh[0]}" -o BatchMode=yes -o ConnectTimeout=5 \
        "${ssh[@]:1}" -- "$target" "sh -c '$_ktsync_remote_ls'" 2>/dev/null)
    return 0
}

_ktsync()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        # -n : keeps host:/path in one word
        _init_completion -n : || return
    else
        _ktsync_words
    fi
    COMPREPLY=()

    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        mirror | serve | help | state) cmd=${words[i]}; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            _ktsync_add -W '-h --help -V --version' -- "$cur"
        else
            _ktsync_add -W "$_ktsync_commands" -- "$cur"
        fi
        return
    fi
    case $cmd in
    help)
        ((cword == i + 1)) && _ktsync_add -W 'mirror copy serve state' -- "$cur"
        return
        ;;
    state)
        ((cword == i + 1)) && _ktsync_add -W "$_ktsync_state_commands" -- "$cur"
        return
        ;;
    esac

    # Options that take a value.
    case $prev in
    --exclude-from | --include-from | --files-from | --secret-file | --remote-ktsync | --config | --log-file)
        _ktsync_compgen -f "$cur"
        return
        ;;
    --state-dir | --root)
        _ktsync_compgen -d "$cur"
        return
        ;;
    -e | --ssh)
        _ktsync_add -c -- "$cur"
        return
        ;;
    --data-via)
        _ktsync_add -W 'auto direct ssh' -- "$cur"
        return
        ;;
    --user)
        _ktsync_add -u -- "$cur"
        return
        ;;
    --group)  # serve's takes a group; mirror's is a flag
        if [[ $cmd == serve ]]; then
            _ktsync_add -g -- "$cur"
            return
        fi
        ;;
    --max-delete | --max-delete-percent | --exclude | --include | -f | --filter | --streams | --data-port | \
        --compress-level | --bwlimit | --timeout | --listen | --max-connections | --auth-timeout | \
        --idle-timeout | --modify-window | --max-size | --min-size | --chmod | --chown | --info | \
        --out-format | --log-file-format)
        return
        ;;
    esac

    if [[ $cur == -* ]]; then
        local opts=$_ktsync_mirror_opts
        [[ $cmd == serve ]] && opts=$_ktsync_serve_opts
        _ktsync_add -W "$opts" -- "$cur"
        return
    fi

    [[ $cmd == mirror ]] || return
    # SRC / DST: [user@]host:path over ssh (with this command line's -e/--ssh), else local
    # directories and "[user@]host:" for the hosts ssh knows.
    local ssh_cmd=ssh
    for ((i = 2; i < cword; i++)); do
        case ${words[i]} in
        -e | --ssh) ssh_cmd=${words[i + 1]} ;;
        --ssh=*) ssh_cmd=${words[i]#--ssh=} ;;
        esac
    done
    _ktsync_remote_paths "$ssh_cmd" && return
    _ktsync_compgen -d "$cur"
    if [[ $cur != */* ]]; then
        local user=''
        [[ $cur == *@* ]] && user=${cur%%@*}@
        # Filtered here, not with compgen -W: compgen expands its word list, so a "host"
        # such as $(cmd) in ~/.ssh/config or known_hosts would run at <TAB>. Names with
        # other characters than a host name has are not offered (they would be inserted
        # unquoted).
        local h
        while IFS= read -r h; do
            [[ $h =~ ^[][A-Za-z0-9._%:+-]+$ && $h == "${cur#"$user"}"* ]] && COMPREPLY+=("$user$h:")
        done < <(_ktsync_ssh_hosts)
        compopt -o nospace 2>/dev/null
    fi
}
complete -F _ktsync ktsync

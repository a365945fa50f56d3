# bash completion for ktsync(1)                              -*- shell-script -*-
#
# Installed as share/bash-completion/completions/ktsync (loaded on demand by the
# bash-completion package); also works when sourced directly without it.
# The option lists must equal `ktsync mirror --help` / `ktsync serve --help`:
# tests/e2e/docs_match_test.sh checks that.

_ktsync_mirror_opts='-h --help -n --dry-run -i --itemize-changes --json --stats -v --verbose
    -q --quiet --progress --no-progress --out-format --log-file --log-file-format --delete --no-delete --max-delete
    --max-delete-percent --delete-on-error -c --checksum -H --hard-links --no-hard-links
    -X --xattrs --no-xattrs -A --acls --no-acls
    --owner --no-owner --group --no-group --numeric-ids --fsync --skip-changing-files --exclude --include
    --exclude-from --state-dir -x --one-file-system --cross-filesystems -e --ssh
    --remote-ktsync --secret-file --streams --data-port --data-via -z --compress
    --compress-level --require-ktls --no-ktls --no-encryption --bwlimit --timeout'

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

_ktsync()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        # -n : keeps host:/path in one word
        _init_completion -n : || return
    else
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    COMPREPLY=()

    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        mirror | serve) cmd=${words[i]}; break ;;
        esac
    done

    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            _ktsync_add -W '-h --help -V --version' -- "$cur"
        else
            _ktsync_add -W 'mirror serve help' -- "$cur"
        fi
        return
    fi

    # Options that take a value.
    case $prev in
    --exclude-from | --secret-file | --remote-ktsync | --config | --log-file)
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
    --max-delete | --max-delete-percent | --exclude | --include | --streams | --data-port | \
        --compress-level | --bwlimit | --timeout | --listen | --max-connections | --auth-timeout | \
        --idle-timeout | --out-format | --log-file-format)
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
    # SRC / DST: local directories, or [user@]host: for a remote over ssh.
    _ktsync_compgen -d "$cur"
    if [[ $cur != */* && $cur != *:* ]] && declare -F _known_hosts_real >/dev/null; then
        _known_hosts_real -c -- "$cur"   # appends "host:" candidates
        compopt -o nospace 2>/dev/null
    fi
}
complete -F _ktsync ktsync

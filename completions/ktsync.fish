# fish completion for ktsync(1), installed as share/fish/vendor_completions.d/ktsync.fish.
#
# The option tables must equal `ktsync mirror --help` / `ktsync serve --help`:
# tests/e2e/docs_match_test.sh checks that. One line per option:
#   'SHORT LONG VALUE description'
# SHORT is - when the option has none; VALUE is - for a flag, else what its value completes
# to: file, dir, command, user, group, any (nothing to offer), or a comma-separated list.
#
# SRC/DST: local directories, "host:" for the hosts ssh knows, ktsync://; after
# [user@]host: the remote paths, listed over ssh (the command line's -e/--ssh command if
# any) with BatchMode (never a password prompt) and a time limit.

set -l ktsync_mirror_options \
    'n dry-run - list every pending change exactly; change nothing' \
    'i itemize-changes - print one rsync-style line per change' \
    '- json - print JSON lines (plan, item, progress, summary, error)' \
    '- stats - print a summary: counts, bytes, time per phase, encryption' \
    'v verbose - more detail (repeatable)' \
    'q quiet - print errors only' \
    '- progress - show live progress even when not on a terminal' \
    '- no-progress - never show live progress' \
    '- info progress2,stats rsync\'s --info: progress2 (--progress) and stats (--stats)' \
    '- out-format any print each change in this format (rsync\'s %n %i %l ...)' \
    '- log-file file append a timestamped log of the run to FILE' \
    '- log-file-format any the format of --log-file\'s change lines' \
    '- delete - delete entries DST has but SRC lacks (default)' \
    '- force-delete - delete even on a first mirror into a DST that would lose most of it' \
    '- no-delete - keep entries DST has but SRC lacks' \
    '- max-delete any refuse (exit 25) if more than N entries would be deleted' \
    '- max-delete-percent any refuse (exit 25) if more than P% of DST would be deleted' \
    '- delete-on-error - still delete extraneous entries after an error' \
    '- delete-excluded - also delete what the filter rules exclude' \
    '- size-only - treat files of the same size as the same' \
    '- modify-window any treat mtimes within N seconds as equal' \
    'u update - keep DST files newer than SRC\'s' \
    '- ignore-existing - change nothing DST already has' \
    '- existing - create nothing DST lacks' \
    '- max-size any leave SRC files larger than SIZE alone' \
    '- min-size any leave SRC files smaller than SIZE alone' \
    '- chmod any change DST\'s permissions (rsync\'s rules)' \
    '- chown any give DST\'s entries this owner and/or group' \
    '- safe-links - leave alone symlinks that point out of SRC' \
    'L copy-links - copy what SRC\'s symlinks point to, not the links' \
    'c checksum - compare content hashes, not size and mtime' \
    'H hard-links - preserve hard links (default)' \
    '- no-hard-links - copy hard-linked files as separate files' \
    'X xattrs - preserve extended attributes (default)' \
    '- no-xattrs - do not copy extended attributes' \
    'A acls - preserve POSIX ACLs (default)' \
    '- no-acls - do not copy POSIX ACLs' \
    'o owner - preserve owner (default when run as root)' \
    '- no-owner - do not preserve owner' \
    'g group - preserve group (default)' \
    '- no-group - do not preserve group' \
    '- numeric-ids - keep uid/gid numbers (ktsync always maps by number)' \
    '- fsync - make each completed file and rename durable before going on' \
    '- skip-changing-files - do not copy a file that changes while it is read' \
    '- exclude any exclude paths matching PATTERN' \
    '- include any include paths matching PATTERN' \
    '- exclude-from file read exclude patterns from FILE' \
    '- include-from file read include patterns from FILE' \
    'f filter any add a filter rule, as rsync' \
    '- files-from file take only the SRC paths listed in FILE' \
    '- from0 - the --files-from list is NUL-separated' \
    '- state-dir dir where the hash-cache databases live' \
    'x one-file-system - do not cross filesystem boundaries (default)' \
    '- cross-filesystems - descend into other filesystems mounted inside SRC' \
    'e ssh command ssh command for host:/path remotes' \
    '- remote-ktsync any command that runs ktsync on the remote host' \
    '- secret-file file shared secret for ktsync:// daemons' \
    '- streams any parallel data connections (default: automatic)' \
    '- data-port any fixed port for the remote data listener (ssh mode)' \
    '- data-via auto,direct,ssh how data travels to host:/path remotes' \
    'z compress - compress file data with zstd' \
    '- compress-level any zstd level for -z (default 3)' \
    '- require-ktls - fail unless encryption runs in the kernel' \
    '- no-ktls - encrypt in userspace even where kernel TLS is available' \
    '- no-encryption - send data in plaintext (only on a network you fully trust)' \
    '- bwlimit any limit the data rate, e.g. 50M (bytes/s)' \
    'a archive - rsync\'s -rlptgoD: what ktsync always does, and -o' \
    'r recursive - always on; with --files-from, descend listed directories' \
    'l links - always on (rsync\'s spelling)' \
    'W whole-file - always on (rsync\'s spelling)' \
    '- timeout any fail if no I/O happens for this many seconds'

set -l ktsync_serve_options \
    '- stdio - speak the protocol on stdin/stdout (started by a client over ssh)' \
    '- listen any daemon: listen on ADDR:PORT' \
    '- config file daemon: serve the modules this file names' \
    '- root dir daemon: serve paths beneath this directory only' \
    '- secret-file file daemon: shared secret (mode 0600 or stricter)' \
    '- state-dir dir where the hash-cache databases live' \
    '- read-only - daemon: clients may only pull' \
    '- write-only - daemon: clients may only push' \
    '- max-connections any daemon: concurrent clients' \
    '- auth-timeout any daemon: seconds a client has to authenticate' \
    '- idle-timeout any daemon: end a session whose client sent nothing for this long' \
    '- no-ktls - encrypt in userspace even where kernel TLS is available' \
    '- allow-devices - daemon: clients may create block and character devices' \
    '- allow-setid - daemon: clients may set setuid/setgid bits and security.*/trusted.* xattrs' \
    '- allow-owners - daemon: files get the owner and group the client sends' \
    '- fake-super - daemon: keep owners, setid bits and devices in an xattr, not for real' \
    '- user user daemon: after binding, run as this user' \
    '- group group daemon: with --user, this group instead of the primary one' \
    'v verbose - log each connection to stderr'

# Run by sh on the remote host, reading the partial path from its stdin (data, never code;
# the remote command line stays constant); the same text as in the bash and zsh files
# (see completions/ktsync.bash).
set -g __ktsync_remote_ls 'IFS= read -r p; d=; n=$p; case $p in */*) d=${p%/*}/; n=${p##*/};; esac; x=$d; case $d in "~"*) u=${d%%/*}; u=${u#"~"}; case $u in *[!A-Za-z0-9._-]*) exit 0;; esac; eval "h=~$u"; x=$h${d#"~$u"};; esac; for f in "$x$n"*; do case ${f##*/} in .|..) continue;; esac; [ -e "$f" ] || [ -L "$f" ] || continue; if [ -d "$f" ]; then printf "%s/\n" "$d${f##*/}"; else printf "%s\n" "$d${f##*/}"; fi; done'

# Host names from the ssh configs (no patterns) and known_hosts files (hashed entries
# cannot be read back); IPv6 addresses in brackets, as ktsync wants them.
function __ktsync_ssh_hosts
    for f in ~/.ssh/config /etc/ssh/ssh_config
        test -r $f; and awk 'tolower($1) == "host" { for (i = 2; i <= NF; i++) if ($i !~ /[*?!]/) print $i }' $f
    end
    for f in ~/.ssh/known_hosts /etc/ssh/ssh_known_hosts
        test -r $f; and awk '$1 !~ /^[|#@]/ { n = split($1, h, ",")
            for (i = 1; i <= n; i++) { x = h[i]; if (x ~ /^\[/) { sub(/^\[/, "", x); sub(/\]:[0-9]+$/, "", x) }
                                       if (x ~ /:/) x = "[" x "]"; print x } }' $f
    end
end

# SRC / DST: [user@]host:path lists the remote directory; anything else offers local
# directories, "[user@]host:" and ktsync://.
function __ktsync_location
    # The token as fish will pass it (quotes and backslashes removed: "dir\ one" and an
    # unclosed 'dir o are "dir one"); the candidates are unescaped text, which fish
    # escapes when it inserts them. A trailing lone backslash is dropped.
    set -l raw (commandline -ct)
    set -l tok (string unescape -- "$raw")
    or set tok (string unescape -- (string replace -r '\\\\$' '' -- "$raw"))
    or return
    set -l m (string match -r '^((?:[^/@]*@)?)\[([^\]/]*)\]:(.*)$' -- $tok)
    set -l target
    set -l path
    if set -q m[1]
        set target $m[2]$m[3]
        set path $m[4]
    else if not string match -q '*://*' -- $tok; and set m (string match -r '^([^/:]+):(.*)$' -- $tok)
        set target $m[2]
        set path $m[3]
    else
        __fish_complete_directories $raw   # it wants the token as typed (escaped)
        set -l user (string match -r '^[^@/]*@' -- $tok); or set user ''
        # Only names made of host name characters: a "host" such as $(cmd) from a config
        # file is not offered.
        set -l hosts (__ktsync_ssh_hosts | string match -r '^[A-Za-z0-9._%:+\\[\\]-]+$')
        printf '%s\n' $user$hosts:\tHost ktsync://\t'ktsync daemon'
        return
    end
    string match -qr '^[A-Za-z0-9._%@:+-]+$' -- $target; and not string match -q -- '-*' $target; or return
    set -l host_part (string sub -l (math (string length -- $tok) - (string length -- $path)) -- $tok)
    # The ssh command: this command line's -e/--ssh (unescaped by commandline -o), else ssh.
    set -l sshcmd ssh
    set -l words (commandline -opc)
    for i in (seq 2 (count $words))
        switch $words[$i]
            case -e --ssh
                set -q words[(math $i + 1)]; and set sshcmd $words[(math $i + 1)]
            case '--ssh=*'
                set sshcmd (string replace -- --ssh= '' $words[$i])
        end
    end
    # ktsync splits the -e command as a shell would; this splits only at blanks, so a
    # command that still holds a quote or backslash gets no remote completion rather than
    # a wrong split (nothing here evals it).
    string match -qr '[\'"\\\\]' -- "$sshcmd"; and return
    set -l ssh (string split -n ' ' -- (string replace -a \t ' ' -- "$sshcmd"))
    # Only ssh itself runs at <TAB>: not "sudo ssh", "docker exec -i" or another program.
    test (string replace -r '.*/' '' -- "$ssh[1]") = ssh; or return
    # The path goes on ssh's stdin, the command line stays constant (see
    # __ktsync_remote_ls).
    for line in (printf '%s\n' $path | timeout -k 2 10 $ssh[1] -o BatchMode=yes -o ConnectTimeout=5 \
            $ssh[2..-1] -- $target "sh -c '$__ktsync_remote_ls'" 2>/dev/null)
        printf '%s\n' $host_part$line
    end
end

complete -c ktsync -f
complete -c ktsync -n __fish_use_subcommand -s h -l help -d 'print help and exit'
complete -c ktsync -n __fish_use_subcommand -s V -l version -d 'print the version and exit'
complete -c ktsync -n __fish_use_subcommand -a mirror -d 'make DST an exact mirror of SRC'
complete -c ktsync -n __fish_use_subcommand -a copy -d 'copy SRC into DST like mirror, deleting nothing'
complete -c ktsync -n __fish_use_subcommand -a serve -d 'run the remote end: over ssh (--stdio) or as a daemon'
complete -c ktsync -n __fish_use_subcommand -a help -d 'print help for a command'
complete -c ktsync -n __fish_use_subcommand -a state -d 'the hash-cache databases: list or prune them'
complete -c ktsync -n '__fish_seen_subcommand_from help; and not __fish_seen_subcommand_from mirror copy serve state' \
    -a 'mirror copy serve state'
complete -c ktsync -n '__fish_seen_subcommand_from state; and not __fish_seen_subcommand_from list prune' \
    -a list -d 'list the state databases and the trees they belong to'
complete -c ktsync -n '__fish_seen_subcommand_from state; and not __fish_seen_subcommand_from list prune' \
    -a prune -d 'delete the databases of trees that no longer exist'
complete -c ktsync -n '__fish_seen_subcommand_from mirror copy' -a '(__ktsync_location)'

for command in mirror copy serve
    set -l table ktsync_{$command}_options
    test $command = copy; and set table ktsync_mirror_options  # copy: mirror's, the deleting ones aside
    complete -c ktsync -n "__fish_seen_subcommand_from $command" -s h -l help -d 'print help and exit'
    for spec in $$table
        set -l f (string split -m 3 ' ' -- $spec)
        set -l args -c ktsync -n "__fish_seen_subcommand_from $command" -l $f[2] -d $f[4]
        test $f[1] != -; and set -a args -s $f[1]
        switch $f[3]
            case -
            case file
                set -a args -r -F
            case dir
                set -a args -r -x -a '(__fish_complete_directories)'
            case command
                set -a args -r -x -a '(__fish_complete_command)'
            case user
                set -a args -r -x -a '(__fish_complete_users)'
            case group
                set -a args -r -x -a '(__fish_complete_groups)'
            case any
                set -a args -r -x
            case '*'
                set -a args -r -x -a (string replace -a , ' ' -- $f[3])
        end
        complete $args
    end
end

#!/bin/sh
# Checks that a build of libtmbus defines no global symbol but its public
# API: every defined global name of each library given (libtmbus.a,
# libtmbus.so) must be "tmbus_" followed by something other than '_' (the
# generated protobuf code's tmbus__* names are internal). For a shared
# library the dynamic symbol table is checked too, as that is what
# programs bind to. Fails, too, when a library defines no tmbus_ name at
# all, so that an empty or unreadable library cannot pass.
# Usage: check-symbols.sh LIBRARY...
set -eu
nm=${NM:-nm}
[ $# -gt 0 ] || { echo "usage: check-symbols.sh LIBRARY..." >&2; exit 2; }

status=0
for lib in "$@"; do
    [ -f "$lib" ] || { echo "check-symbols: $lib: no such file" >&2; exit 1; }
    tables="-g"
    case $lib in *.so | *.so.*) tables="-g -D" ;; esac
    for table in $tables; do
        opts="-g --defined-only"
        [ "$table" = "-D" ] && opts="-D -g --defined-only"
        # nm prints "member.o:" headers and blank lines for archives; the
        # name is the last field of every other line.
        names=$($nm $opts "$lib" | awk 'NF >= 2 { print $NF }')
        [ -n "$(printf '%s\n' "$names" | grep '^tmbus_[^_]')" ] ||
            { echo "check-symbols: $lib ($nm $opts): no tmbus_ symbol at all" >&2; exit 1; }
        bad=$(printf '%s\n' "$names" | grep -v '^tmbus_[^_]' || true)
        if [ -n "$bad" ]; then
            echo "check-symbols: $lib ($nm $opts) exports names outside the API:" >&2
            printf '  %s\n' $bad >&2
            status=1
        fi
    done
done
[ $status -eq 0 ] && echo "check-symbols: only tmbus_ names in $*"
exit $status

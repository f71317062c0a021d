#!/bin/sh
# Installs a build of libtmbus (the component "libtmbus") into a temporary
# prefix, checks the shared library's soname against TMBUS_ABI and that the
# installed libraries export only tmbus_ names, and
# builds the README's example against it three ways: with pkg-config (shared), with pkg-config
# against the static library, and as a CMake project with find_package.
# Each program must link and run far enough to print its usage (exit 2)
# and to name a missing configuration file (exit 1); the one built with the
# README's run path runs without LD_LIBRARY_PATH (127 would fail it).
# Usage: check-install.sh BUILD_DIR EXAMPLE_DIR
set -eu
build=$1
example=$2
cc=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/tmbus-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() { echo "check-install: $*" >&2; exit 1; }

# Runs a program with no arguments (usage, exit 2), then with a missing
# configuration (exit 1, naming the file).
check_runs() {
    set +e
    "$@" >"$work/out" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 2 ] || { cat "$work/out" >&2; fail "$1: usage exit $rc, want 2"; }
    set +e
    "$@" "$work/none.conf" >"$work/out" 2>&1
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || { cat "$work/out" >&2; fail "$1: exit $rc, want 1"; }
    grep -q "none.conf" "$work/out" || { cat "$work/out" >&2; fail "$1: no file named"; }
}

# The library's component only: the test is about what a program links.
cmake --install "$build" --prefix "$prefix" --component libtmbus >"$work/install.log" ||
    { cat "$work/install.log" >&2; fail "cmake --install failed"; }
pc=$(find "$prefix" -name tmbus.pc | head -n 1)
[ -n "$pc" ] || fail "no tmbus.pc installed"
libdir=$(dirname "$(dirname "$pc")")
[ -f "$prefix/include/tmbus.h" ] || fail "no tmbus.h installed"
[ -f "$libdir/libtmbus.a" ] || fail "no libtmbus.a installed"
[ -f "$libdir/cmake/tmbus/tmbusConfig.cmake" ] || fail "no CMake package installed"
export PKG_CONFIG_PATH="$(dirname "$pc")"

# The shared library's soname is libtmbus.so.TMBUS_ABI, the number the
# installed header states, and that name is installed.
abi=$(sed -n 's/^#define TMBUS_ABI \([0-9][0-9]*\)$/\1/p' "$prefix/include/tmbus.h")
[ -n "$abi" ] || fail "the installed tmbus.h states no TMBUS_ABI"
soname=$(${OBJDUMP:-objdump} -p "$libdir/libtmbus.so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "libtmbus.so.$abi" ] || fail "libtmbus.so has soname '$soname', want libtmbus.so.$abi"
[ -e "$libdir/$soname" ] || fail "$soname is not installed"

# What is installed exports only the API (check-symbols.sh is beside this
# folder in the source tree).
sh "$example/../check-symbols.sh" "$libdir/libtmbus.a" "$libdir/libtmbus.so" ||
    fail "an installed library exports more than tmbus_ names"

echo "pkg-config: $(pkg-config --cflags --libs tmbus)"
$cc -std=c17 -Wall -Wextra -Wpedantic -Werror -o "$work/post_need_pc" "$example/post_need.c" \
    $(pkg-config --cflags --libs tmbus) || fail "pkg-config build failed"
LD_LIBRARY_PATH=$libdir check_runs "$work/post_need_pc"
# The README's command: with the run path pkg-config names, the program
# finds the installed library by itself.
$cc -std=c17 -Wall -Wextra -Wpedantic -Werror -o "$work/post_need_rpath" "$example/post_need.c" \
    $(pkg-config --cflags --libs tmbus) -Wl,-rpath,"$(pkg-config --variable=libdir tmbus)" ||
    fail "pkg-config build with a run path failed"
check_runs "$work/post_need_rpath"

# Static: libtmbus.a by name, its dependencies from pkg-config --static.
$cc -std=c17 -Wall -Wextra -Werror -o "$work/post_need_a" "$example/post_need.c" \
    $(pkg-config --cflags tmbus) "$libdir/libtmbus.a" \
    $(pkg-config --static --libs-only-L --libs-only-l libzmq libsodium libprotobuf-c) ||
    fail "static build failed"
check_runs "$work/post_need_a"

cmake -S "$example" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake.log" 2>&1 ||
    { cat "$work/cmake.log" >&2; fail "find_package(tmbus) failed"; }
cmake --build "$work/cmake" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; fail "the CMake example did not build"; }
check_runs "$work/cmake/post_need"
check_runs "$work/cmake/post_need_static"
echo "check-install: ok"

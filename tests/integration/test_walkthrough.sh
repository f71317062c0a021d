#!/usr/bin/env bash
# The README's whole-life walk-through, run as written: every ```sh block
# between <!-- walkthrough:begin --> and <!-- walkthrough:end --> in
# README.md, in order, in one bash process (as a reader pastes them into
# one shell), with this build's binaries first on PATH and a temporary
# directory as TMPDIR, so that its mktemp -d lands where this test cleans
# up. Then checks what the walk-through claims: EE's rotation recorded, the
# revoked member's offer marked, its node refusing with the reason,
# version 6 in force. Bounded in time; whatever happens, no node of ours
# outlives the test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${TMBUS_BUILD:-$repo/build}
limit=${WALKTHROUGH_SECONDS:-240}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tmbus-walk.XXXXXX")
passed=false

# Pids of live tmbusd processes whose working directory is under $tmp (the
# walk-through starts them with relative paths).
our_nodes() {
  local p cwd
  for p in /proc/[0-9]*; do
    [[ $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") == *tmbusd* ]] || continue
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    [[ $cwd == "$tmp"/* ]] && echo "${p#/proc/}"
  done
  return 0
}

cleanup() {
  local rc=$? pid log
  trap - EXIT INT TERM HUP
  for pid in $(our_nodes); do kill -KILL "$pid" 2>/dev/null || true; done
  if $passed && [ -z "${TMBUS_KEEP:-}" ]; then
    rm -rf "$tmp"
  else
    echo "test_walkthrough: failed (rc $rc); kept $tmp" >&2
    [ -f "$tmp/out" ] && tail -n 40 "$tmp/out" >&2
    for log in "$tmp"/tmbus-walk-*/*/tmbusd.log "$tmp"/tmp.*/*/tmbusd.log; do
      [ -f "$log" ] || continue
      echo "---- last lines of $log ----" >&2
      tail -n 10 "$log" >&2
    done
    [ "$rc" -ne 0 ] || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() {
  echo "test_walkthrough: FAIL: $*" >&2
  exit 1
}

# The blocks, in order.
awk '
  /<!-- walkthrough:begin -->/ { on = 1; next }
  /<!-- walkthrough:end -->/ { on = 0 }
  on && /^```sh$/ { code = 1; next }
  on && code && /^```$/ { code = 0; print ""; next }
  on && code { print }' "$repo/README.md" >"$tmp/walk.sh"
[ "$(grep -c . "$tmp/walk.sh")" -gt 20 ] || fail "README.md holds no walk-through between its markers"
for bin in daemon/tmbusd client/cli/tmbus deploy/tmbus-admin; do
  [ -x "$build/$bin" ] || fail "no $build/$bin: build first"
done

mkdir "$tmp/run"
start=$(date +%s)
if ! (cd "$tmp/run" && PATH="$build/daemon:$build/client/cli:$build/deploy:$PATH" \
  TMPDIR="$tmp" timeout "$limit" bash -e "$tmp/walk.sh") >"$tmp/out" 2>&1; then
  fail "the walk-through stopped with an error after $(($(date +%s) - start)) s (see above)"
fi
echo "test_walkthrough: the walk-through ran in $(($(date +%s) - start)) s"

grep -q "NL (revoked)" "$tmp/out" || fail "UA's offer list never showed NL's offer marked revoked"
grep -q "revoked member NL" "$tmp/out" || fail "NL's node did not refuse NL's desk with the reason"
grep -q "NL's node refuses" "$tmp/out" || fail "NL's node served a request after its revocation"
grep -qE '^generation 1 signed up to: last_seq = 1( [^ ]+:[0-9]+)+$' "$tmp/out" ||
  fail "EE's node never showed how far its generation 1 signed"
grep -qE '^ +6  ' "$tmp/out" || fail "roster history does not show version 6"
[ -z "$(our_nodes)" ] || fail "the walk-through left nodes running: $(our_nodes)"

passed=true
echo "test_walkthrough: passed"

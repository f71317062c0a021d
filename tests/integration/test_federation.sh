#!/usr/bin/env bash
# The local federation launcher, deploy/federation, end to end: brings up
# three real tmbusd nodes on loopback in a temporary directory, checks their
# status, kills one and starts it again until it relinks, refuses a second
# "up", takes everything down and checks that no node of that directory is
# left, and starts the stopped federation again. Then it admits PL to the
# running federation (add: a roster update published over the bus) and
# shows every node link to it, and removes it again (remove) and shows
# every node drop it, none restarted. With the tmbus CLI built, a need
# posted at UA must show at EE, and PL's offer stays on UA's board marked
# as from a revoked member. Binaries come from $TMBUS_BUILD (ctest
# sets it). Whatever happens, no process of ours outlives the test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
federation=$repo/deploy/federation
export TMBUS_BUILD=${TMBUS_BUILD:-$repo/build}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tmbus-fedtest.XXXXXX")
fed=$tmp/fed
passed=false
step=setup

# Pids of live tmbusd processes whose command line names a file in $tmp.
our_nodes() {
  local p cmdline
  for p in /proc/[0-9]*; do
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmdline == *tmbusd*" -c $tmp/"* ]] && echo "${p#/proc/}"
  done
  return 0
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM HUP
  if [ -f "$fed/federation.members" ]; then
    "$federation" down "$fed" >/dev/null 2>&1 || true
  fi
  # Whatever the launcher missed, one pid at a time.
  for pid in $(our_nodes); do kill -KILL "$pid" 2>/dev/null || true; done
  if $passed && [ -z "${TMBUS_KEEP:-}" ]; then
    rm -rf "$tmp"
  else
    echo "test_federation: failed at: $step (rc $rc); kept $tmp" >&2
    for log in "$fed"/*/tmbusd.log; do
      [ -f "$log" ] || continue
      echo "---- last lines of $log ----" >&2
      tail -n 15 "$log" >&2
    done
    [ "$rc" -ne 0 ] || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() {
  echo "test_federation: FAIL: $*" >&2
  exit 1
}

log_size() { stat -c %s "$fed/$1/tmbusd.log"; }

# Waits up to t seconds until MEMBER's log from byte mark on has text.
wait_log() {
  local m=$1 mark=$2 text=$3 t=$4 deadline
  deadline=$(($(date +%s) + t))
  until tail -c +$((mark + 1)) "$fed/$m/tmbusd.log" | grep -qF -- "$text"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$m never logged \"$text\" in $t s"
    sleep 0.2
  done
}

# wait_log for an extended regular expression.
wait_log_re() {
  local m=$1 mark=$2 re=$3 t=$4 deadline
  deadline=$(($(date +%s) + t))
  until tail -c +$((mark + 1)) "$fed/$m/tmbusd.log" | grep -qE -- "$re"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$m never logged /$re/ in $t s"
    sleep 0.2
  done
}

# Prints MEMBER's state and pid from the status table (the last five
# columns are state, pid and ports; a name may have spaces).
status_of() {
  "$federation" status "$fed" | awk -v m="$1" '$1 == m { print $(NF - 4), $(NF - 3) }'
}

# Prints MEMBER's metrics port from the status table (the last column of
# its first line; the peer tables after it name members too).
metrics_port_of() {
  "$federation" status "$fed" | awk -v m="$1" '$1 == m && !done { print $NF; done = 1 }'
}

# GET /healthz from 127.0.0.1:PORT; prints the status line. Bounded by
# timeout(1).
healthz_status() {
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
    printf "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >&3 &&
    head -n 1 <&3' _ "$1" | tr -d '\r'
}

find_cli() {
  local c
  for c in client/cli/tmbus client/tmbus cli/tmbus; do
    if [ -f "$TMBUS_BUILD/$c" ] && [ -x "$TMBUS_BUILD/$c" ]; then
      echo "$TMBUS_BUILD/$c"
      return 0
    fi
  done
  return 0
}

step="up UA EE NL"
"$federation" up "$fed" UA EE NL
for m in UA EE NL; do
  for p in UA EE NL; do
    [ "$m" = "$p" ] || grep -qF "peer $p: link up" "$fed/$m/tmbusd.log" ||
      fail "up returned but $m has no link to $p"
  done
  [ -f "$fed/$m/client.conf" ] || fail "no $fed/$m/client.conf"
done

step="status after up"
out=$("$federation" status "$fed")
echo "$out"
grep -q "^3 of 3 running" <<<"$out" || fail "status does not show 3 of 3 running"
for m in UA EE NL; do
  read -r state pid <<<"$(status_of "$m")"
  [ "$state" = running ] || fail "status shows $m $state"
  [ "$pid" = "$(cat "$fed/$m/tmbusd.pid")" ] || fail "status shows the wrong pid for $m"
done

step="each node serves /healthz on its metrics port"
for m in UA EE NL; do
  port=$(metrics_port_of "$m")
  [[ $port =~ ^[0-9]+$ ]] || fail "status shows no metrics port for $m"
  [ "$(healthz_status "$port")" = "HTTP/1.1 200 OK" ] || fail "$m: /healthz on $port is not 200"
done

step="up again refuses"
if "$federation" up "$fed" UA EE NL 2>"$tmp/up2.err"; then fail "a second up succeeded"; fi
grep -q "already up" "$tmp/up2.err" || fail "a second up said: $(cat "$tmp/up2.err")"

step="kill EE"
ee_pid=$(cat "$fed/EE/tmbusd.pid")
ua_mark=$(log_size UA)
nl_mark=$(log_size NL)
"$federation" kill "$fed" EE
if [ -r "/proc/$ee_pid/cmdline" ] && tr '\0' ' ' <"/proc/$ee_pid/cmdline" | grep -q tmbusd; then
  fail "EE (pid $ee_pid) still runs after kill"
fi
read -r state _ <<<"$(status_of EE)"
[ "$state" = stopped ] || fail "status shows EE $state after kill"
# Wait until the survivors notice, so that the relink below is a new link.
# Down on a dropped connection (a node that dials EE) or on silence.
wait_log_re UA "$ua_mark" "peer EE: .*link down" 20
wait_log_re NL "$nl_mark" "peer EE: .*link down" 20

step="start EE"
ee_mark=$(log_size EE)
ua_mark=$(log_size UA)
nl_mark=$(log_size NL)
"$federation" start "$fed" EE
wait_log EE "$ee_mark" "member EE running" 5
wait_log EE "$ee_mark" "peer UA: link up" 5
wait_log EE "$ee_mark" "peer NL: link up" 5
wait_log UA "$ua_mark" "peer EE: link up" 20
wait_log NL "$nl_mark" "peer EE: link up" 20
grep -q "^3 of 3 running" <<<"$("$federation" status "$fed")" || fail "not 3 of 3 running after start"

cli=$(find_cli)
if [ -n "$cli" ]; then
  step="need posted at UA seen at EE"
  title="fedtest need $$"
  "$cli" -c "$fed/UA/client.conf" need post --title "$title" --category malware-detection \
    --beneficiary "Test operator" --sector energy \
    --quantity 5 --unit licences --value-eur 1000 --priority high --tlp green --all
  deadline=$(($(date +%s) + 20))
  until "$cli" -c "$fed/EE/client.conf" need list --json | grep -qF "$title"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "EE's need list never showed UA's need"
    sleep 0.5
  done
else
  echo "test_federation: no tmbus CLI in $TMBUS_BUILD: skipping the need/offer check"
fi

step="log lines: a time and a severity on each, link up and down paired"
for m in EE UA NL; do
  log=$fed/$m/tmbusd.log
  bad=$(grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z tmbusd\[[0-9]+\] (debug|info|warning|error|critical): ' "$log" || true)
  [ "$bad" -eq 0 ] || fail "$m: $bad line(s) of tmbusd.log lack the time or the severity"
  for p in EE UA NL; do
    [ "$m" != "$p" ] || continue
    # One line per change of state: up, down, up, ... never two alike in
    # a row within one run of the node (a killed node logs no down).
    repeated=$(awk -v p="peer $p: link " '
      / info: member [A-Za-z0-9_-]+ running/ { last = "" }
      index($0, p) { s = substr($0, index($0, p) + length(p), 2)
                     if (s == last) { print NR ": " $0; exit }
                     last = s }' "$log")
    [ -z "$repeated" ] || fail "$m logs the same link state twice in a row: $repeated"
  done
done

step="add PL to the running federation"
declare -A pids=() marks=()
for m in UA EE NL; do
  pids[$m]=$(cat "$fed/$m/tmbusd.pid")
  marks[$m]=$(log_size "$m")
done
"$federation" add "$fed" PL
grep -q "^4 of 4 running" <<<"$("$federation" status "$fed")" || fail "not 4 of 4 running after add"
for m in UA EE NL; do
  wait_log "$m" "${marks[$m]}" "roster version 2 in force" 1
  wait_log "$m" "${marks[$m]}" "peer PL: link up" 1
  wait_log PL 0 "peer $m: link up" 1
  [ "$(cat "$fed/$m/tmbusd.pid")" = "${pids[$m]}" ] || fail "$m was restarted by add"
done
grep -q "^version = 2$" "$fed/roster.ini" || fail "roster.ini is not at version 2 after add"
if "$federation" add "$fed" PL 2>/dev/null; then fail "a second add of PL succeeded"; fi

if [ -n "$cli" ]; then
  step="UA's new need reaches PL, which offers on it"
  # A need posted before PL was admitted was not addressed to it.
  need_id=$("$cli" -c "$fed/UA/client.conf" need post --title "fedtest need 2 $$" \
    --category malware-detection --beneficiary "Test operator" --sector energy \
    --quantity 5 --unit licences --value-eur 1000 --priority high --tlp green --all)
  deadline=$(($(date +%s) + 20))
  until "$cli" -c "$fed/PL/client.conf" need show "$need_id" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "UA's need never reached PL"
    sleep 0.5
  done
  # Exit 75 while PL's node still waits to hear from its peers (recovering).
  until "$cli" -c "$fed/PL/client.conf" offer post --need "$need_id" --quantity 2 \
    --value-eur 500 --description "fedtest offer $$"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "PL's node refused its offer"
    sleep 0.5
  done
  deadline=$(($(date +%s) + 20))
  until "$cli" -c "$fed/UA/client.conf" offer list | grep -q "fedtest offer $$"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "UA's offer list never showed PL's offer"
    sleep 0.5
  done
  "$cli" -c "$fed/UA/client.conf" offer list | grep "fedtest offer $$" | grep -q "PL (revoked)" &&
    fail "PL's offer is marked revoked while PL is a member"
fi

step="remove PL from the running federation"
for m in UA EE NL; do marks[$m]=$(log_size "$m"); done
pl_pid=$(cat "$fed/PL/tmbusd.pid")
"$federation" remove "$fed" PL
grep -q "^3 of 3 running" <<<"$("$federation" status "$fed")" || fail "not 3 of 3 running after remove"
for m in UA EE NL; do
  wait_log "$m" "${marks[$m]}" "roster version 3 in force" 1
  wait_log "$m" "${marks[$m]}" "peer PL: link down" 1
  [ "$(cat "$fed/$m/tmbusd.pid")" = "${pids[$m]}" ] || fail "$m was restarted by remove"
done
if [ -r "/proc/$pl_pid/cmdline" ] && tr '\0' ' ' <"/proc/$pl_pid/cmdline" | grep -q tmbusd; then
  fail "PL's node (pid $pl_pid) still runs after remove"
fi
grep -q "revoked member PL" "$tmp"/fed/removed/PL.*/node/tmbusd.log ||
  fail "PL's node never learnt that it was revoked"
grep -q "^\[member PL\]" "$fed/roster.ini" && fail "roster.ini still names PL after remove"
if [ -n "$cli" ]; then
  step="PL's offer stays on UA's board, marked"
  "$cli" -c "$fed/UA/client.conf" offer list | grep "fedtest offer $$" | grep -q "PL (revoked)" ||
    fail "UA's offer list does not mark PL's offer as from a revoked member"
  "$cli" -c "$fed/EE/client.conf" offer list --json | grep -q '"donor":"PL","author_revoked":true' ||
    fail "EE's offer list --json does not mark PL's offer"
fi

step="down"
"$federation" down "$fed"
left=$(our_nodes)
[ -z "$left" ] || fail "tmbusd still running after down: pids $left"
grep -q "^0 of 3 running" <<<"$("$federation" status "$fed")" || fail "status after down"

step="up again after down"
"$federation" up "$fed"
grep -q "^3 of 3 running" <<<"$("$federation" status "$fed")" || fail "not 3 of 3 running after up"
if [ -n "$cli" ]; then
  step="the need is still on EE's board after down and up"
  "$cli" -c "$fed/EE/client.conf" need list --json | grep -qF "$title" ||
    fail "EE's need list lost UA's need across down and up"
fi
"$federation" down "$fed"
left=$(our_nodes)
[ -z "$left" ] || fail "tmbusd still running after the second down: pids $left"

passed=true
echo "test_federation: passed"

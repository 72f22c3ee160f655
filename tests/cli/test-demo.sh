#!/bin/sh
# dhpctl demo: the bundled scenario runs and shows the transaction order; a
# bad scenario is rejected with FILE:LINE:COL and runs nothing.
set -eu
dhpctl=$1
scenario=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "not ok: $*"; exit 1; }

"$dhpctl" demo --json "$scenario" > "$tmp/out.json" || fail "demo exited $?"
# cpu2: ADD_START, ADMITTED, ADD_COMPLETE, ARRIVAL in that order (line numbers).
first() { grep -n "$1" "$tmp/out.json" | grep -- "$2" | head -1 | cut -d: -f1; }
s=$(first '"event":"ADD_START"' '"processor":2,')
a=$(first '"event":"ADMITTED"' '"processor":2,')
c=$(first '"event":"ADD_COMPLETE"' '"processor":2,')
v=$(first '"event":"ARRIVAL"' '"processor":2,')
[ -n "$s" ] && [ -n "$a" ] && [ -n "$c" ] && [ -n "$v" ] || fail "missing cpu2 records"
[ "$s" -lt "$a" ] && [ "$a" -lt "$c" ] && [ "$c" -lt "$v" ] || fail "cpu2 order $s $a $c $v"
grep -q '"event":"REJECTED".*"processor":4,.*"status":"EBUSY"' "$tmp/out.json" || fail "cpu4 not rejected"
grep -q '"event":"ARRIVAL","class":"memory","base":1073741824,"size":536870912' "$tmp/out.json" || fail "no memory arrival"
# The removal (doc/model.md R35, R36): cpu2 queried, completed, then REMOVAL;
# the memory device's REMOVAL names its ARRIVAL's base and size.
q=$(first '"event":"REMOVE_QUERY"' '"processor":2,')
k=$(first '"event":"REMOVE_COMPLETE"' '"processor":2,')
r=$(first '"event":"REMOVAL"' '"processor":2,')
[ -n "$q" ] && [ -n "$k" ] && [ -n "$r" ] || fail "missing cpu2 removal records"
[ "$q" -lt "$k" ] && [ "$k" -lt "$r" ] || fail "cpu2 removal order $q $k $r"
grep -q '"event":"REMOVAL","class":"memory","base":1073741824,"size":536870912' "$tmp/out.json" || fail "no memory removal"
grep -q '"event":"REMOVAL".*"processor":3,.*"surprise":true' "$tmp/out.json" || fail "no surprise removal of cpu3"

"$dhpctl" demo "$scenario" > "$tmp/out.txt" || fail "text demo exited $?"
grep -q 'auditor: 1 add(s) vetoed' "$tmp/out.txt" || fail "no summary"
# The cache counts the existing memory as the pool counts the existing processors.
grep -q 'cache:   [0-9]* MiB after 2 memory arrival(s) (1 existing)' "$tmp/out.txt" || fail "cache summary"
# Every echo of the scenario whole, in the timeline and in the JSON.
grep '^echo ' "$scenario" | sed 's/^echo *//' | while IFS= read -r note; do
	grep -qF "# $note" "$tmp/out.txt" || fail "echo cut: $note"
	grep -qF "\"name\":\"$note\"" "$tmp/out.json" || fail "echo cut in JSON: $note"
done

# The built-in demo (no scenario) shows all four methods, a memory
# condition event among them (issue 17, item 12).
"$dhpctl" demo --json > "$tmp/default.json" || fail "default demo exited $?"
for m in sync async memcond rebalance; do
	grep -q "\"method\":\"$m\"" "$tmp/default.json" || fail "default demo: no $m record"
done
grep -q '"method":"memcond","event":"SET","condition":"HighMemoryCondition"' "$tmp/default.json" ||
	fail "default demo: HighMemoryCondition never set"
grep -q '"method":"memcond","event":"SET","condition":"LowMemoryCondition"' "$tmp/default.json" ||
	fail "default demo: LowMemoryCondition never set"

printf 'cpu add\nmemory add 3X\n' > "$tmp/bad.scenario"
if "$dhpctl" demo "$tmp/bad.scenario" > "$tmp/bad.out" 2> "$tmp/bad.err"; then fail "bad scenario accepted"; fi
grep -q "bad.scenario:2:12: expected a size" "$tmp/bad.err" || fail "bad message: $(cat "$tmp/bad.err")"
[ ! -s "$tmp/bad.out" ] || fail "bad scenario ran something"
echo "1 passed, 0 failed"

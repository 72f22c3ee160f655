#!/bin/sh
# dhpctl limits on a fake cgroup tree (--root, for tests only): the current
# limits as text and JSON, --follow prints one line per change with its
# sequence number and what changed, and ends when the cgroup is removed;
# bad input is a clear message and exit 1.
set -eu
[ -n "${DEBUG:-}" ] && set -x
dhpctl=$1
. "$(dirname "$0")/fake-cgroup.sh"
echo 'max 100000' > "$cg/cpu.max"
echo '250000 100000' > "$cg/app/cpu.max"
echo '1073741824' > "$cg/app/memory.max"
echo 'max' > "$cg/app/memory.high"
echo '1048576' > "$cg/app/memory.current"

"$dhpctl" limits --root "$r" > "$tmp/text" || fail "limits exited $?"
grep -q '^seq 1  cpus 0-7 (8)  cpu.max 250000/100000 (2.50 CPUs)  pool 3  memory.max 1G  memory.high max  memory.current 1M  changed cpus,' \
        "$tmp/text" || fail "text: $(cat "$tmp/text")"
"$dhpctl" limits --json --root "$r" --cgroup app > "$tmp/json" || fail "limits --json exited $?"
grep -q '"seq":1,"changed":\["cpus","bandwidth","pool_size","memory_max","memory_high","populated"\],"cpus":"0-7","ncpus":8,"quota_us":250000,"period_us":100000,"bandwidth":2.500,"pool_size":3,"memory_max":1073741824,"memory_high":null' \
        "$tmp/json" || fail "json: $(cat "$tmp/json")"

: > "$tmp/follow"
"$dhpctl" limits --follow --json --interval 50ms --root "$r" >> "$tmp/follow" 2> "$tmp/follow.err" &
pid=$!
wait_lines() {
        i=0
        while [ "$(wc -l < "$tmp/follow")" -lt "$1" ]; do
                i=$((i + 1))
                [ $i -lt 100 ] || fail "follow: $(wc -l < "$tmp/follow") lines, expected $1: $(cat "$tmp/follow")"
                sleep 0.05
        done
}
wait_lines 1
# In place (1<>): a real cgroup file's write is atomic, '>' truncates first.
echo '150000 100000' 1<> "$cg/app/cpu.max"
wait_lines 2
sed -n 2p "$tmp/follow" | grep -q '"seq":2,"changed":\["bandwidth","pool_size"\].*"pool_size":2' ||
        fail "change: $(sed -n 2p "$tmp/follow")"
# Away in one step, as rmdir takes a real cgroup's files at once.
mv "$cg/app" "$tmp/gone" && rm -rf "$tmp/gone"
i=0
while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "follow did not end after the removal"
        sleep 0.05
done
wait "$pid" || fail "follow exited $? after the removal"
pid=
sed -n 3p "$tmp/follow" | grep -q '"seq":3,"changed":\["removed"\].*"removed":true' ||
        fail "removal: $(cat "$tmp/follow")"
grep -q 'removed' "$tmp/follow.err" || fail "no removal message"

if "$dhpctl" limits --root "$r" --cgroup /nonexistent 2> "$tmp/err"; then fail "a missing cgroup accepted"; fi
[ -s "$tmp/err" ] || fail "no message for a missing cgroup"
echo '1:name=systemd:/' > "$r/proc/self/cgroup"
if "$dhpctl" limits --root "$r" 2> "$tmp/err"; then fail "cgroup v1 accepted"; fi
grep -q 'v1' "$tmp/err" || fail "v1 message: $(cat "$tmp/err")"
echo "1 passed, 0 failed"

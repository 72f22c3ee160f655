#!/bin/sh
# examples/pool-resize on a fake cgroup tree (the target's root= option, for
# tests only): the pool starts at the limits' pool size and follows every
# change of cpu.max and of the CPU set, once each, in order.
set -eu
app=$1
. "$(dirname "$0")/fake-cgroup.sh"
echo 'max 100000' > "$cg/cpu.max"
echo '400000 100000' > "$cg/app/cpu.max"

: > "$tmp/out"
"$app" "cgroup:root=$r,interval=50ms" --changes 3 >> "$tmp/out" 2>&1 &
pid=$!
wait_lines() {
        i=0
        while [ "$(wc -l < "$tmp/out")" -lt "$1" ]; do
                i=$((i + 1))
                [ $i -lt 100 ] || fail "$(wc -l < "$tmp/out") lines, expected $1: $(cat "$tmp/out")"
                sleep 0.05
        done
}
wait_lines 1
# Changes overwrite in place (1<>, no truncation): a real cgroup file's
# write is atomic, a shell's '>' truncates first and a reader could see it
# empty in between.
echo '150000 100000' 1<> "$cg/app/cpu.max"
wait_lines 2
echo '0-1' 1<> "$cg/app/cpuset.cpus.effective"
wait_lines 3
echo '0-11' 1<> "$cg/app/cpuset.cpus.effective"
wait "$pid" || fail "exited $?: $(cat "$tmp/out")"
pid=
cat > "$tmp/expect" <<EOT
pool-resize: seq 1 cpus 0-7 cpu.max 4.00 pool 0 -> 4 workers
pool-resize: seq 2 cpus 0-7 cpu.max 1.50 pool 4 -> 2 workers
pool-resize: seq 3 cpus 0-1 cpu.max 1.50 pool 2 -> 2 workers
pool-resize: seq 4 cpus 0-11 cpu.max 1.50 pool 2 -> 2 workers
EOT
diff -u "$tmp/expect" "$tmp/out" || fail "unexpected output"
echo "1 passed, 0 failed"

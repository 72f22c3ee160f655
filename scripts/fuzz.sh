#!/bin/sh
# Run the libFuzzer targets of fuzz/ (built in BUILD by `make fuzz`).
#
#   scripts/fuzz.sh BUILD SECONDS [TARGET...]
#
# For each target (default: every fuzz/corpus/<name>/ with a binary
# BUILD/fuzz/fuzz-<name>): replay every committed corpus file once (a
# crash there is a regression), then fuzz for SECONDS (0: replay only),
# with the committed corpus as seeds and new inputs kept in
# BUILD/fuzz-corpus/<name>/ (never in the source tree).  Crashes land in
# BUILD/fuzz-artifacts/; a per-target line "name execs seconds" is appended
# to BUILD/fuzz-stats.txt for RELIABILITY.md.  Exit status 1 on any crash.
#
# A target that can make its own seeds (fuzz-proto: an example of every
# message of the table) writes them, when run with DHP_FUZZ_SEEDS_OUT=DIR,
# into BUILD/fuzz-seeds/<name>/; they are replayed and used as seeds along
# with the committed corpus.
set -u

build=${1:?usage: scripts/fuzz.sh BUILD SECONDS [TARGET...]}
secs=${2:?usage: scripts/fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -eq 0 ]; then
	set -- $(ls "$src/fuzz/corpus")
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/fuzz-artifacts"
status=0
for t in "$@"; do
	exe="$build/fuzz/fuzz-$t"
	seeds="$src/fuzz/corpus/$t"
	if [ ! -x "$exe" ]; then
		echo "fuzz: $t: no binary $exe (excluded from this build?)" >&2
		continue
	fi
	gen="$build/fuzz-seeds/$t"
	rm -rf "$gen"
	mkdir -p "$gen"
	if grep -q DHP_FUZZ_SEEDS_OUT "$exe" &&
		! DHP_FUZZ_SEEDS_OUT="$gen" "$exe" >"$build/fuzz-artifacts/$t.seeds.log" 2>&1; then
		echo "FAIL fuzz-$t: writing its seeds failed; see $build/fuzz-artifacts/$t.seeds.log" >&2
		status=1
		continue
	fi
	# Replay: each committed input, and each generated seed, once.
	if ! "$exe" -runs=1 "$seeds"/* $(find "$gen" -type f) >"$build/fuzz-artifacts/$t.replay.log" 2>&1; then
		echo "FAIL fuzz-$t: a committed corpus input crashes; see $build/fuzz-artifacts/$t.replay.log" >&2
		status=1
		continue
	fi
	n=$(($(ls "$seeds" | wc -l) + $(ls "$gen" | wc -l)))
	if [ "$secs" -eq 0 ]; then
		echo "ok   fuzz-$t: replayed $n inputs"
		continue
	fi
	work="$build/fuzz-corpus/$t"
	mkdir -p "$work"
	log="$build/fuzz-artifacts/$t.log"
	if "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$seeds" "$gen" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok   fuzz-$t: replayed $n inputs, ${execs:-?} executions in ${secs}s"
		echo "$t ${execs:-0} $secs" >>"$build/fuzz-stats.txt"
	else
		echo "FAIL fuzz-$t: crash; see $log and $build/fuzz-artifacts/$t-*" >&2
		grep -E "ERROR|invariant|SUMMARY|runtime error" "$log" | head -5 >&2
		status=1
	fi
done
exit $status

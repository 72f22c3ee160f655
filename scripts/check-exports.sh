#!/bin/sh
# Every function include/dhp.h declares is exported by libdhp.so, and
# nothing else is: each public function carries DHP_EXPORT where it is
# defined (-fvisibility=hidden hides the rest).  Usage: check-exports.sh LIBDHP.so HEADER
set -eu
lib=$1
hdr=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/exported"
grep -oE '\bdhp_[a-z0-9_]+[[:space:]]*\(' "$hdr" | tr -d '( ' | sort -u >"$tmp/declared"
if ! cmp -s "$tmp/exported" "$tmp/declared"; then
        echo "check-exports: libdhp.so and dhp.h disagree (<: exported only, >: declared only):" >&2
        diff "$tmp/exported" "$tmp/declared" | grep '^[<>]' >&2
        exit 1
fi
echo "check-exports: $(wc -l <"$tmp/declared") functions, each declared and exported"

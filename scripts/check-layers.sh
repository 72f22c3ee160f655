#!/bin/sh
# Check the layer rule of src/: every `#include "..."` of a file in src/ must
# name a header of its own layer or of a layer it may use.
#
#   scripts/check-layers.sh [SOURCE_ROOT]        (default: the repository)
#
# Prints one line per violation,
#     src/FILE:LINE: <layer> may not include <header> (<layer>)
# and exits 1 if there is any, 0 otherwise.  tests/, fuzz/, bench/ and
# examples/ are not scanned: they may reach anything.
#
# The rule (README.md, "Layout", shows the same table):
#
#   layer            may include
#   util             util
#   proto            util
#   core             util, proto
#   platform/sim     util, proto, core               (not platform/linux)
#   platform/linux   util, proto, core               (not platform/sim)
#   lib              util, proto, core, platform
#   daemon           util, proto, core, platform, lib          (not cli)
#   cli              util, proto, lib/dhp-private.h            (not daemon)
#
# and everyone may include the public header dhp.h.  Two narrower rules:
#   - lib's remote backend (lib/client*, lib/remote*) stands on the client's
#     side of the socket and does not include platform/: the platform is
#     dhpd's.
#   - in the daemon, only the files that own the platform include it: the
#     main (daemon/dhpd.c), which picks sim or linux, and sim control
#     (daemon/sim*).  The rest of the daemon sees the engine only.
#
# POSIX sh + awk; no build needed, so it can run before anything compiles.
set -u

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2
[ -d src ] || { echo "check-layers: no src/ in $root" >&2; exit 2; }

# Headers are named from src/ (or include/ for dhp.h), as the build's
# include path says: `#include "core/engine.h"`.
# File names in src/ have no blanks, so the word splitting below is safe.
files=$(find src -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
# shellcheck disable=SC2086
exec awk '
function layer_of(p,    a) {
        # p is relative to src/ (a header) or starts with src/ (a file).
        sub(/^src\//, "", p)
        if (p == "dhp.h")
                return "public"
        split(p, a, "/")
        if (a[1] == "platform")
                return (a[2] == "sim" || a[2] == "linux") ? "platform/" a[2] : "platform"
        if (a[1] in rank)
                return a[1]
        return "unknown"
}
function allowed(file, from, hdr, to) {
        if (to == "public" || to == from)
                return 1
        if (to == "unknown" || from == "unknown")
                return 0
        if (from == "cli")
                return to == "util" || to == "proto" || hdr == "lib/dhp-private.h"
        if (from == "lib" && to ~ /^platform/ && file ~ /^src\/lib\/(client|remote)/)
                return 0
        if (from == "daemon" && to ~ /^platform/ &&
            file != "src/daemon/dhpd.c" && file !~ /^src\/daemon\/sim/)
                return 0
        # Siblings (same rank, different layer) may not include each other.
        return rank[to] < rank[from]
}
BEGIN {
        rank["util"] = 0; rank["proto"] = 1; rank["core"] = 2
        rank["platform"] = 3; rank["platform/sim"] = 3; rank["platform/linux"] = 3
        rank["lib"] = 4; rank["daemon"] = 5; rank["cli"] = 5
        bad = 0
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
        hdr = $0
        sub(/^[^"]*"/, "", hdr)
        sub(/".*$/, "", hdr)
        from = layer_of(FILENAME)
        to = layer_of(hdr)
        if (!allowed(FILENAME, from, hdr, to)) {
                printf "%s:%d: %s may not include %s (%s)\n", FILENAME, FNR, from, hdr, to
                bad = 1
        }
}
END { exit bad }
' $files

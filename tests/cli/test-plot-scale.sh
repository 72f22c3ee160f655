#!/bin/sh
# dhpctl plot at 2, 30 and 200 processors: one row per processor and per
# memory device, a height that grows by one fixed row per processor (200
# processors stay under 4000 px), and a time axis whose ticks span the
# width of the plot in one unit.
#   test-plot-scale.sh DHPCTL
set -eu
dhpctl=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "not ok: $*"; exit 1; }

for n in 2 30 200; do
        printf 'cpu add %d\nsettle\nmemory add 512M\nsettle\nmemory level available=10M\nsettle\n' $((n - 1)) \
                > "$tmp/$n.scenario"
        "$dhpctl" demo --json --target "sim:cpus=1,maxcpus=$n" "$tmp/$n.scenario" > "$tmp/$n.json" ||
                fail "demo at $n processors exited $?"
        "$dhpctl" plot -i "$tmp/$n.json" -o "$tmp/$n.svg" || fail "plot at $n processors exited $?"
        python3 - "$tmp/$n.svg" "$n" <<'PY' || fail "the plot at $n processors"
import re, sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
n = int(sys.argv[2])
svg = doc.documentElement
height, width = float(svg.getAttribute("height")), float(svg.getAttribute("width"))
left, plot_w = float(svg.getAttribute("data-plot-left")), float(svg.getAttribute("data-plot-width"))
rows = int(svg.getAttribute("data-rows"))
texts = [t for t in doc.getElementsByTagName("text") if t.firstChild]
row_names = [t.firstChild.data for t in texts if t.getAttribute("class") == "row"]
# One row per processor, each once; one per memory device.
cpus = [r for r in row_names if re.fullmatch(r"cpu\d+", r)]
assert sorted(cpus) == sorted("cpu%d" % i for i in range(n)), (n, cpus[:5], len(cpus))
assert sum(r.startswith("memory@") for r in row_names) == 2, row_names
assert len(row_names) == rows, (len(row_names), rows)
# Bounded: a fixed height per row, nothing per record.
assert height <= 80 + 16 * rows + 160, (height, rows)
assert n < 200 or height < 4000, height
assert width < 2000, width
# The axis: ticks across the plot's width (first in its first fifth, last
# in its last fifth), at least five, one unit.
ticks = [t for t in texts if t.getAttribute("class") == "tick" and t.getAttribute("text-anchor") == "middle"]
xs = sorted({float(t.getAttribute("x")) for t in ticks})
assert len(xs) >= 5, xs
assert xs[0] <= left + 0.2 * plot_w and xs[-1] >= left + 0.8 * plot_w, (xs, left, plot_w)
assert all(left - 1 <= x <= left + plot_w + 1 for x in xs), xs
units = {t.firstChild.data.split()[-1] for t in ticks}
assert len(units) == 1 and units <= {"ns", "us", "ms", "s"}, units
# One bar per processor transaction at least; callbacks inside.
bars = [r for r in doc.getElementsByTagName("rect") if r.getAttribute("class").split()[:1] == ["bar"]]
assert len(bars) >= n, (len(bars), n)
PY
done
# Late in dhpd's life, a short run: long labels ("4554200 us"), never
# touching their neighbours.
for span in 1900000 19000000 190000000; do
        printf '{"seq":1,"t_ns":4554100000,"method":"txn","event":"STARTED","class":"processor","processor":1,"group":0,"number":1}\n{"seq":2,"t_ns":%d,"method":"txn","event":"ADMITTED","class":"processor","processor":1,"group":0,"number":1}\n' \
                $((4554100000 + span)) > "$tmp/late.json"
        "$dhpctl" plot -i "$tmp/late.json" -o "$tmp/late.svg" || fail "plot of a late run exited $?"
        python3 - "$tmp/late.svg" <<'PY' || fail "tick labels overlap over $span ns"
import sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
ticks = {}
for t in doc.getElementsByTagName("text"):
        if t.getAttribute("class") == "tick" and t.getAttribute("text-anchor") == "middle":
                ticks[float(t.getAttribute("x"))] = t.firstChild.data
xs = sorted(ticks)
assert len(xs) >= 2, ticks
# 11 px monospace: about 6.6 px a character; half a label each side.
for a, b in zip(xs, xs[1:]):
        need = (len(ticks[a]) + len(ticks[b])) / 2 * 6.8
        assert b - a >= need, (a, ticks[a], b, ticks[b])
PY
done
echo "1 passed, 0 failed"

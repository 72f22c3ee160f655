#!/bin/sh
# dhpctl plot: the demo's JSON lines become a well-formed SVG with a row per
# client and a rect per span; text is escaped; a bad line is named by
# FILE:LINE:COL; and the same drawing comes from a running dhpd's history.
set -eu
dhpctl=$1
scenario=$2
dhpd=${3:-}
tmp=$(mktemp -d)
daemon=
cleanup() { [ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "not ok: $*"; exit 1; }

# check SVG JSONL: well-formed, every client named, one rect.span per
# sync/async callback and per REBALANCED record.
check() {
        python3 - "$1" "$2" <<'PY' || fail "check of $1"
import json, sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
spans = [r for r in recs if (r["method"] in ("sync", "async") and "client" in r)
         or (r["method"] == "rebalance" and r["event"] == "REBALANCED")]
rects = [e for e in doc.getElementsByTagName("rect") if "span" in e.getAttribute("class").split()]
texts = "\n".join(t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild)
assert len(rects) == len(spans), (len(rects), len(spans))
for c in {r["client"] for r in recs if "client" in r}:
    assert "sync: " + c in texts or "arrival: " + c in texts, c
for d in {r["device"] for r in recs if r.get("event") == "REBALANCED"}:
    assert "device: " + d in texts, d
for w in float(doc.documentElement.getAttribute("width")), float(doc.documentElement.getAttribute("height")):
    assert 100 < w < 20000, w
PY
}

"$dhpctl" demo --json "$scenario" > "$tmp/demo.json" || fail "demo exited $?"
"$dhpctl" plot -i - -o "$tmp/demo.svg" < "$tmp/demo.json" || fail "plot exited $?"
check "$tmp/demo.svg" "$tmp/demo.json"
grep -q 'stopped ' "$tmp/demo.svg" || fail "no stopped window"
grep -q 'HighMemoryCondition SET' "$tmp/demo.svg" || fail "no memcond mark"

# Names that need escaping.
printf '%s\n' '{"seq":1,"t_ns":1000,"method":"sync","event":"ADD_START","processor":2,"client":"<a&b> \"q\" '"'"'x'"'"'","status":"0","dur_ns":500}' \
        '{"seq":2,"t_ns":9000,"method":"async","event":"ARRIVAL","name":"cpu2","client":"]]>","dur_ns":100}' > "$tmp/esc.json"
"$dhpctl" plot -i "$tmp/esc.json" -o "$tmp/esc.svg" || fail "plot of esc.json exited $?"
check "$tmp/esc.svg" "$tmp/esc.json"
grep -q '&lt;a&amp;b&gt; &quot;q&quot; &apos;x&apos;' "$tmp/esc.svg" || fail "not escaped"

# A bad line: FILE:LINE:COL, nothing written.
printf '{"seq":1,"t_ns":5,"method":"txn","event":"STARTED"}\n\n{"seq":2,"t_ns":6,"method":"txn" "event":"X"}\n' > "$tmp/bad.json"
if "$dhpctl" plot -i "$tmp/bad.json" -o "$tmp/bad.svg" 2> "$tmp/bad.err"; then fail "bad input accepted"; fi
grep -q "bad.json:3:34: expected ',' or '}'" "$tmp/bad.err" || fail "bad message: $(cat "$tmp/bad.err")"
[ ! -e "$tmp/bad.svg" ] || fail "an SVG from bad input"

# From dhpd's history (root only: sim control is privileged).
if [ -n "$dhpd" ] && [ "$(id -u)" = 0 ]; then
        "$dhpd" --platform sim --sim cpus=2,maxcpus=8 --foreground --socket "$tmp/dhpd.sock" -c /dev/null \
                > "$tmp/dhpd.out" 2> "$tmp/dhpd.err" &
        daemon=$!
        # Bounded wait for its READY line.
        i=0
        until grep -q READY "$tmp/dhpd.out" 2>/dev/null; do
                i=$((i + 1))
                [ $i -lt 100 ] || fail "dhpd not ready: $(cat "$tmp/dhpd.err")"
                kill -0 "$daemon" 2>/dev/null || fail "dhpd exited: $(cat "$tmp/dhpd.err")"
                sleep 0.1
        done
        printf 'memory level available=1M\nsettle\ndevice add disk0 Storage\ncpu add\nsettle\n' > "$tmp/run.scenario"
        "$dhpctl" --socket "$tmp/dhpd.sock" sim run "$tmp/run.scenario" || fail "sim run"
        "$dhpctl" --socket "$tmp/dhpd.sock" plot -o "$tmp/dhpd.svg" || fail "plot from dhpd exited $?"
        python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$tmp/dhpd.svg" || fail "dhpd.svg"
        grep -q 'device: disk0' "$tmp/dhpd.svg" || fail "no disk0 row from dhpd"
        grep -q 'LowMemoryCondition SET' "$tmp/dhpd.svg" || fail "no memcond mark from dhpd"
        grep -q 'class="span stopped"' "$tmp/dhpd.svg" || fail "no stopped window from dhpd"
fi
echo "1 passed, 0 failed"

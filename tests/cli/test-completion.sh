#!/bin/bash
# The bash completion of dhpctl: commands, every command's flags, the sim
# options after `--target sim:` (as readline splits the word at ':' and
# '='), --socket anywhere.
#   test-completion.sh dist/bash-completion/dhpctl
set -u
# shellcheck disable=SC1090
source "$1"
passed=0
failed=0
# complete LINE: COMPREPLY for the cursor at the end of LINE.
complete_line() {
        COMP_LINE=$1
        COMP_POINT=${#1}
        COMPREPLY=()
        _dhpctl
        echo "${COMPREPLY[*]}"
}
expect() {
        local got
        got=$(complete_line "$1")
        if [[ " $got " == *" $2 "* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "not ok: '$1' -> '$got', expected '$2'"; fi
}
refuse() {
        local got
        got=$(complete_line "$1")
        if [[ " $got " != *" $2 "* ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "not ok: '$1' -> '$got' offers '$2'"; fi
}
expect "dhpctl " demo
expect "dhpctl " cpu
expect "dhpctl cpu " remove
expect "dhpctl memory " remove
expect "dhpctl " --socket
expect "dhpctl st" status
expect "dhpctl demo --" --target
expect "dhpctl demo --" --json
expect "dhpctl status --" --json
expect "dhpctl monitor --" --json
expect "dhpctl plot -" --output
expect "dhpctl plot -" --input
expect "dhpctl sim " memory
expect "dhpctl sim cpu " add
expect "dhpctl " cpu
expect "dhpctl cpu " online
expect "dhpctl help " plot
expect "dhpctl status --" --socket
expect "dhpctl demo --target " sim:
# readline replaces what follows the last ":" or "=": "sim:cpus=2," is "2,".
expect "dhpctl demo --target sim:" cpus=
expect "dhpctl demo --target sim:" maxmem=
expect "dhpctl demo --target sim:max" maxcpus=
expect "dhpctl demo --target sim:cpus=2," 2,maxcpus=
expect "dhpctl demo --target sim:cpus=2,maxcpus=8,me" 8,memory=
refuse "dhpctl demo --target sim:cpus=2," 2,cpus=
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

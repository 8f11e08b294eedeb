#!/usr/bin/env bash
# Runs INSIDE the test VM, started by tests/vm/vm.t:
#   tests/vm/guest-runner.sh NONCE FILE...
# Runs each guest test file (stdout+stderr merged) under a per-file timeout
# and frames its output so that vm.t can split the single VM's output per
# file:   @@nucleus-vm-begin NONCE FILE / ...TAP... / @@nucleus-vm-end NONCE RC FILE
set -uo pipefail

nonce=$1
shift
per_file=${NUCLEUS_VM_TEST_TIMEOUT:-300}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for f in "$@"; do
    echo "@@nucleus-vm-begin $nonce $f"
    # A hung test costs its own timeout, not the whole VM run.
    timeout -k 5 "$per_file" "$f" </dev/null >"$out" 2>&1
    rc=$?
    ((rc == 124)) && echo "# $f: killed after ${per_file}s (NUCLEUS_VM_TEST_TIMEOUT)" >>"$out"
    cat "$out"
    # Keep the end marker on its own line even if the output lacks a final newline.
    [[ -s $out && $(tail -c 1 "$out") != "" ]] && echo
    echo "@@nucleus-vm-end $nonce $rc $f"
done

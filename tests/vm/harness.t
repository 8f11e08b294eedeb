#!/usr/bin/env bash
# Host-side TAP: the VM harness's own contract (tests/vm/run).
#  - option errors and --mode systemd fail without booting
#  - a hard timeout kills QEMU, fails loudly (124), leaves no QEMU process
#    and no temp dir behind
#  - the guest command's exit code, stdout, stderr and arguments come through
# Boots at most 2 VMs. NUCLEUS_VM_HARNESS_FULL=1 adds a third boot that checks
# SIGTERM handling.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 1
RUN=tests/vm/run

if ! reason=$($RUN --check 2>&1); then
    echo "1..0 # SKIP ${reason//$'\n'/ }"
    exit 0
fi

echo "1..12"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    local line
    for line in "$@"; do printf '%s\n' "$line" | sed 's/^/# /' >&2; done
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }

# Our own TMPDIR, so "no temp dir left behind" is exact, and a marker to
# find QEMU processes started by this file (their -virtfs path contains it).
priv=$(mktemp -d "${TMPDIR:-/tmp}/nucleus-vm-harness.XXXXXX")
trap 'rm -rf "$priv"' EXIT
mkdir "$priv/tmp"
out=$priv/out
err=$priv/err

# Prints the pids of QEMU processes whose command line mentions $priv.
our_qemus() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        [[ $cmd == *qemu-system-x86_64* && $cmd == *"$priv"* ]] && echo "${p#/proc/}"
    done
}

# --- no boot needed -------------------------------------------------------
$RUN --mode systemd -- true >"$out" 2>"$err"
rc=$?
if ((rc != 0)) && grep -q 'not implemented' "$err"; then
    ok "--mode systemd fails with a clear 'not implemented' error (exit $rc)"
else
    not_ok "--mode systemd fails with a clear error" "exit $rc" "$(cat "$err")"
fi

$RUN --bogus -- true >"$out" 2>"$err"
rc=$?
if ((rc == 2)); then ok "an unknown option exits 2"; else not_ok "an unknown option exits 2" "exit $rc"; fi

$RUN --timeout abc -- true >"$out" 2>"$err"
rc=$?
if ((rc == 2)); then ok "a bad --timeout is rejected (exit 2)"; else not_ok "a bad --timeout is rejected with exit 2" "exit $rc"; fi

# --- boot 1: timeout --------------------------------------------------------
start=$SECONDS
TMPDIR=$priv/tmp $RUN --timeout 20 --log "$priv/timeout.log" -- sleep 1000 >"$out" 2>"$err"
rc=$?
took=$((SECONDS - start))
if ((rc == 124)); then ok "--timeout 20 with 'sleep 1000' exits 124 (after ${took}s)"; else not_ok "--timeout 20 exits 124" "exit $rc after ${took}s" "$(cat "$err")"; fi
if grep -q TIMEOUT "$err"; then ok "the timeout is reported on stderr"; else not_ok "the timeout is reported on stderr" "$(cat "$err")"; fi
if ((took < 40)); then ok "the timeout is enforced promptly (${took}s for --timeout 20)"; else not_ok "the timeout is enforced promptly" "took ${took}s"; fi
left=$(our_qemus)
if [[ -z $left ]]; then ok "no QEMU process is left after the timeout"; else not_ok "no QEMU process is left after the timeout" "pids: $left"; fi
left=$(ls -A "$priv/tmp")
if [[ -z $left ]]; then ok "no temp files are left in TMPDIR"; else not_ok "no temp files are left in TMPDIR" "$left"; fi

# --- boot 2: exit code, stdout, stderr and argument passing ----------------
# shellcheck disable=SC2016  # the literal $HOME is the point
TMPDIR=$priv/tmp $RUN --log "$priv/exit.log" -- \
    sh -c 'printf "[%s]" "$@"; echo; echo to-stderr >&2; exit 42' sh "a b" "it's" '$HOME' '' >"$out" 2>"$err"
rc=$?
if ((rc == 42)); then ok "the guest command's exit code 42 is passed through"; else not_ok "exit code 42 is passed through" "exit $rc" "$(cat "$err")"; fi
# shellcheck disable=SC2016
expect='[a b][it'"'"'s][$HOME][]'
if [[ $(cat "$out") == "$expect" ]]; then
    ok "guest stdout and arguments (spaces, quotes, \$, empty) come through"
else
    not_ok "guest stdout and arguments come through" "want: $expect" "got:  $(cat "$out")"
fi
if grep -qx to-stderr "$err" && ! grep -q '^\[    ' "$err"; then
    ok "guest stderr goes to stderr, kernel messages do not"
else
    not_ok "guest stderr goes to stderr, kernel messages do not" "$(cat "$err")"
fi

# --- optional boot 3: SIGTERM stops the VM and cleans up -------------------
if [[ ${NUCLEUS_VM_HARNESS_FULL:-} == 1 ]]; then
    TMPDIR=$priv/tmp $RUN --log "$priv/signal.log" -- sleep 1000 >"$out" 2>"$err" &
    pid=$!
    sleep 8
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    sleep 1
    if ((rc == 143)) && [[ -z $(our_qemus) && -z $(ls -A "$priv/tmp") ]]; then
        ok "SIGTERM stops the VM (exit 143) and leaves nothing behind"
    else
        not_ok "SIGTERM stops the VM and leaves nothing behind" "exit $rc" \
            "qemu: $(our_qemus)" "tmp: $(ls -A "$priv/tmp")" "$(cat "$err")"
    fi
else
    skip "SIGTERM handling (set NUCLEUS_VM_HARNESS_FULL=1; costs a third boot)"
fi

((failed == 0))

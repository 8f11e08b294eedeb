#!/usr/bin/env bash
# Runs INSIDE the test VM (tests/vm/run -- tests/vm/guest/env.t): asserts the
# guest environment the VM-only tests rely on. TAP on stdout.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$REPO" || exit 1
CG=/sys/fs/cgroup
BIN=$REPO/build/vm/bin

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
    n=$((n + 1)); failed=$((failed + 1))
    echo "not ok $n - $1"
    shift
    local line
    for line in "$@"; do echo "# $line"; done
}
# check NAME CMD...: ok if CMD succeeds
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "command: $*" "$out"; fi
}

# A recursive prove on the host must not run this against the host kernel.
if [[ ${NUCLEUS_VM:-} != 1 ]]; then
    echo "1..0 # SKIP runs inside the test VM only: tests/vm/run -- tests/vm/guest/env.t"
    exit 0
fi

echo "1..10"

rel=$(uname -r)
if [[ $rel == 6.12.* ]]; then ok "kernel release $rel is 6.12.x"; else not_ok "kernel release is 6.12.x" "uname -r: $rel"; fi

fstype=$(stat -f -c %T "$CG" 2>&1)
if [[ $fstype == cgroup2fs ]]; then ok "$CG is cgroup2"; else not_ok "$CG is cgroup2" "stat -f: $fstype"; fi

v1=$(awk '$3 == "cgroup" { print $2 }' /proc/mounts)
if [[ -z $v1 ]]; then ok "no cgroup v1 hierarchy is mounted"; else not_ok "no cgroup v1 hierarchy is mounted" "$v1"; fi

controllers=$(cat "$CG/cgroup.controllers" 2>&1)
subtree=$(cat "$CG/cgroup.subtree_control" 2>&1)
missing=""
for c in memory cpu pids io; do
    [[ " $controllers " == *" $c "* && " $subtree " == *" $c "* ]] || missing+=" $c"
done
if [[ -z $missing ]]; then
    ok "controllers available and enabled in the root: $subtree"
else
    not_ok "controllers memory cpu pids io available and enabled" \
        "missing:$missing" "cgroup.controllers: $controllers" "cgroup.subtree_control: $subtree"
fi

lsm=$(cat /sys/kernel/security/lsm 2>&1)
if [[ ,$lsm, == *,landlock,* ]]; then ok "landlock is an active LSM"; else not_ok "landlock is an active LSM" "lsm: $lsm"; fi

if [[ -x $BIN/llabi ]]; then
    abi=$("$BIN/llabi" 2>&1)
    if [[ $abi =~ ^[0-9]+$ ]] && ((abi >= 1)); then
        ok "Landlock ABI $abi reported by landlock_create_ruleset"
    else
        not_ok "Landlock ABI reported" "llabi: $abi"
    fi
else
    not_ok "Landlock ABI reported" "$BIN/llabi missing (built by tests/vm/mkinitrd.sh)"
fi

# memory.max OOM kill in a child cgroup. The process enters the cgroup
# through a child shell, so this script itself stays where it is.
if [[ -x $BIN/memhog ]]; then
    cg=$CG/env-t-oom.$$
    if mkdir "$cg" && echo 32M >"$cg/memory.max"; then
        [[ -e $cg/memory.swap.max ]] && echo 0 >"$cg/memory.swap.max"
        # (in a command substitution, so bash's "Killed" notice stays quiet)
        rc=$(sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" 256' sh "$cg" "$BIN/memhog" >/dev/null 2>&1
            echo $?) 2>/dev/null
        kills=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
        if ((rc == 137)) && ((${kills:-0} >= 1)); then
            ok "memory.max=32M OOM-kills a 256 MB allocation (exit $rc, oom_kill $kills)"
        else
            not_ok "memory.max=32M OOM-kills a 256 MB allocation" "exit $rc" \
                "memory.events: $(tr '\n' ' ' <"$cg/memory.events")"
        fi
    else
        not_ok "memory.max OOM kill" "cannot create $cg with memory.max"
    fi
    rmdir "$cg" 2>/dev/null
else
    not_ok "memory.max OOM kill" "$BIN/memhog missing (built by tests/vm/mkinitrd.sh)"
fi

# pids.max: the runtime's pids limit relies on it.
cg=$CG/env-t-pids.$$
if mkdir "$cg" && echo 3 >"$cg/pids.max"; then
    out=$(sh -c 'echo $$ > "$1/cgroup.procs" && for i in 1 2 3 4 5; do sleep 1 & done; wait' sh "$cg" 2>&1)
    events=$(cat "$cg/pids.events")
    if [[ $events == *"max "[1-9]* ]]; then
        ok "pids.max=3 rejects forks (pids.events: ${events//$'\n'/ })"
    else
        not_ok "pids.max=3 rejects forks" "pids.events: $events" "$out"
    fi
    rmdir "$cg" 2>/dev/null
else
    not_ok "pids.max rejects forks" "cannot create $cg with pids.max"
fi

# The VM must not be a chroot: unshare(CLONE_NEWUSER) fails with EPERM there.
check "user + mount namespaces can be created (unshare -Urm)" unshare -Urm true

nucleus=$REPO/build/bin/nucleus
if [[ ! -e $nucleus ]]; then
    not_ok "build/bin/nucleus --version runs in the VM" \
        "build/bin/nucleus does not exist: build it on the host first (make)"
else
    check "build/bin/nucleus --version runs in the VM" "$nucleus" --version
fi

((failed == 0))

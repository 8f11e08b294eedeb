# nucleus.sh - shared set-up for the integration tests.
#
# Provides $ROOT, $NUCLEUS, $PROBE_DIR (a world-readable directory holding
# the static probe, for `-v $PROBE_DIR:/opt/probe:ro`), $T (a scratch
# directory removed on exit), probe_run, host_state and check_no_residue.
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NUCLEUS=$ROOT/build/bin/nucleus
[ -x "$NUCLEUS" ] || skip_all "build/bin/nucleus not built (run make)"
[ -x "$ROOT/build/probe" ] || skip_all "build/probe not built (run make build/probe)"
[ "$(id -u)" -eq 0 ] || skip_all "integration tests run as root (rootless is tested by switching user)"
# agent mode refuses to start without Landlock (--allow-degraded-security
# aside): on a kernel without it (not built, or not in its lsm= list) the
# tests would fail for the machine, not for nucleus
case $("$ROOT/build/probe" landlock) in
  landlock_abi=[0-9]*) ;;
  *) skip_all "the kernel has no Landlock ($("$ROOT/build/probe" landlock)): agent mode needs it" ;;
esac

# World-traversable scratch space: the rootless tests run as another user.
T=$(mktemp -d /tmp/nucleus-test.XXXXXX)
chmod 0755 "$T"
# whatever a test left (a supervisor it killed, say): rm -f removes the
# records and their cgroups, then the scratch directory goes
cleanup_containers() {
  local ids
  ids=$(ls "$T/state/containers" 2>/dev/null)
  [ -n "$ids" ] && "$NUCLEUS" --root "$T/state" rm -f $ids >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup_containers EXIT
# container records of the tests stay in the test's own directory
export NUCLEUS_STATE_DIR=$T/state
PROBE_DIR=$T/probe
mkdir -p "$PROBE_DIR"
cp "$ROOT/build/probe" "$PROBE_DIR/probe"
chmod 0755 "$PROBE_DIR" "$PROBE_DIR/probe"

# probe_run [nucleus run options...] -- probe-args...
probe_run() {
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  "$NUCLEUS" run -v "$PROBE_DIR:/opt/probe:ro" "${opts[@]}" -- /opt/probe/probe "$@"
}

# host_abi NAME: the foreign syscall ABI works on the host itself, outside
# any container (a kernel built without IA32_EMULATION, or booted with
# ia32_emulation=0, faults on int $0x80 everywhere: the sandbox's check
# of that ABI is then neither passed nor failed, it is skipped)
host_abi() { [ "$("$ROOT/build/probe" "syscall-$1" getpid | sed 's/^[a-z0-9]*=//')" = ok ]; }

# What a run could leave behind on the host: mounts, nucleus processes.
host_state() {
  {
    grep -c . /proc/self/mountinfo
    awk '{print $5}' /proc/self/mountinfo | grep -E 'oldroot|newroot|nucleus' || true
    # nucleus processes of this test (others may run on the machine)
    local n=0 p
    for p in $(pgrep -r R,S,D,T -x nucleus); do
      { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qx "NUCLEUS_STATE_DIR=$T/state" && n=$((n + 1))
    done
    echo "$n"
    # cgroups of this test's containers still in the tree
    local mount c=0 id
    mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
    for id in $(ls "$T/state/containers" 2>/dev/null); do
      [ -d "$mount/nucleus/$id" ] && c=$((c + 1))
    done
    echo "cgroups:$c"
  } | tr '\n' ' '
}

# value KEY <<< "$output": the value of key=value in the probe's output
value() { grep -oE "(^| )$1=[^ ]*" | head -1 | sed "s/^ *$1=//"; }

# check_fails STATUS REGEX DESCRIPTION -- nucleus args...: the command fails
# with STATUS and one line on stderr matching REGEX (and prints nothing else)
check_fails() {
  local want=$1 re=$2 what=$3
  shift 4
  local out rc
  out=$("$NUCLEUS" "$@" 2>&1 >/dev/null)
  rc=$?
  is "$rc" "$want" "$what: exit $want"
  like "$out" "$re" "$what: message"
  is "$(printf '%s\n' "$out" | wc -l)" 1 "$what: one line"
}

#!/usr/bin/env bash
# Start-up benchmark: `nucleus run -- /bin/true` (network none) side by side
# with plain exec, unshare with the same namespaces, bubblewrap, crun, runc
# and runsc (when installed and working), plus nucleus with a 1 000-file
# context (copied and bound), with bridge networking, and through the Lua API
# from a stock lua5.4.
# Prints medians and ratios.
#
#   tests/bench/startup.sh [RUNS]      (default 600 runs per command; QUICK=1: 30)
#
# hyperfine runs all the runs of one command before the next command, so a
# load change on the machine would bias one command: the runs are split into
# ROUNDS (default 60, of 10 runs each: this machine's speed drifts within
# seconds) hyperfine invocations over all the commands, whose per-run times
# are merged.  ROUNDS=1 is one hyperfine invocation.
#
# crun refuses hybrid cgroups: it runs in a private mount namespace in which
# the cgroup2 mount is hidden (the host's mounts are not touched), with its
# cgroup manager disabled, in a hyperfine invocation of its own in each round
# (nucleus needs the real cgroup2 mount); runc gets a relative cgroupsPath;
# runsc runs with --ignore-cgroups.  Diagnostic cases: nucleus --dry-run (the
# launch plan only) and nucleus with its container records on a tmpfs.
set -euo pipefail
BENCH_NAME=startup
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
if [ "$QUICK" = 1 ]; then RUNS=${1:-30}; ROUNDS=${ROUNDS:-2}; WARMUP=3
else RUNS=${1:-600}; ROUNDS=${ROUNDS:-60}; WARMUP=2; fi
[ "$RUNS" -ge "$ROUNDS" ] || ROUNDS=1
PER_ROUND=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
need hyperfine bwrap crun runc busybox unshare

on_exit 'cleanup_peers nb-crun nb-runc nb-runsc nb-runsc-probe'
make_bundle "$W/bundle" nb-runc
lua5.4 "$BENCH/mktree.lua" "$W/ctx1000" 1000

# The Lua API from a stock lua5.4, the modules taken from the tree.
export LUA_PATH=$LUA_SNAP_PATH LUA_CPATH=$LUA_SNAP_CPATH

NAMES=(exec unshare nucleus bubblewrap crun runc)
CMDS=(
  "/bin/true"
  "unshare -fmpiunC --mount-proc /bin/true"
  "$NUCLEUS run -- /bin/true"
  "bwrap --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --unshare-all /bin/true"
  "crun --root $W/crun-state --cgroup-manager=disabled run --bundle $W/bundle nb-crun"
  "runc --root $W/runc-state run --bundle $W/bundle nb-runc"
)
if runsc_ok "$W/bundle"; then
  NAMES+=(runsc)
  CMDS+=("runsc --root $W/runsc-state $RUNSC_FLAGS run --bundle $W/bundle nb-runsc")
  RUNSC_NOTE="runsc: $(version_of runsc)"
else
  RUNSC_NOTE="runsc: skipped ($(command -v runsc >/dev/null && echo 'installed but it does not run here' || echo 'not installed'))"
fi
note "$RUNSC_NOTE"
# Container records: $NUCLEUS_STATE_DIR is on the same file system as /run
# (lib.sh); for comparison, one case keeps them on a tmpfs.
SHM_STATE=$(mktemp -d /dev/shm/nucleus-bench-state.XXXXXX)
on_exit 'rm -rf "$SHM_STATE"'
# and one only compiles the launch plan (options, policies, seccomp, Landlock,
# JSON output) without starting anything: the share of the start before clone3
# Bridge networking in a network namespace of the benchmark's own (its
# bridge, rules and leases never touch the host's); nsenter alone, with
# network none, is the baseline to subtract.
NETNS=nb-net-$$
ip netns add "$NETNS" || die "cannot create a network namespace"
on_exit "ip netns del $NETNS"
ip -n "$NETNS" link set lo up
export NUCLEUS_NET_DIR=$W/net
IN_NETNS="nsenter --net=/run/netns/$NETNS"
NAMES+=(nucleus-dry-run nucleus-state-tmpfs nucleus-ctx-copy nucleus-ctx-bind nucleus-netns-none nucleus-bridge
        nucleus-bridge-slirp nucleus-lua)
CMDS+=(
  "$NUCLEUS run --dry-run -- /bin/true"
  "$NUCLEUS --root $SHM_STATE/state run -- /bin/true"
  "$NUCLEUS run --context $W/ctx1000 -- /bin/true"
  "$NUCLEUS run --context $W/ctx1000 --context-mode bind -- /bin/true"
  "$IN_NETNS $NUCLEUS run -- /bin/true"
  "$IN_NETNS $NUCLEUS run --network bridge --dns 192.0.2.53 -- /bin/true"
  "$IN_NETNS $NUCLEUS run --network bridge --nat-backend userspace -- /bin/true"
  "lua5.4 -e 'require(\"nucleus.core\").use_builtin_modules(); os.exit(require(\"nucleus\").run{argv={\"/bin/true\"}})'"
)

# Each command must work before it is timed (the Lua one reports errors here,
# since os.exit(nil) would succeed).  crun runs in the private mount
# namespace that hides the cgroup2 mount; everything else in the host's
# (nucleus places each container in a cgroup v2 of its own).
SANITY=("${CMDS[@]}")
SANITY[${#SANITY[@]}-1]="lua5.4 -e 'local c, e = require(\"nucleus\").run{argv={\"/bin/true\"}}; assert(c == 0, e)'"
for i in "${!SANITY[@]}"; do
  c=${SANITY[$i]}
  if [ "${NAMES[$i]}" = crun ]; then in_private_mntns sh -c "$c"; else sh -c "$c"; fi >/dev/null || die "failed: $c"
done

HF=(hyperfine -N --warmup "$WARMUP" --runs "$PER_ROUND" --style none)
HF_CRUN=("${PRIVATE_MNTNS[@]}" "${HF[@]}")
for i in "${!NAMES[@]}"; do
  if [ "${NAMES[$i]}" = crun ]; then HF_CRUN+=(-n "${NAMES[$i]}" "${CMDS[$i]}")
  else HF+=(-n "${NAMES[$i]}" "${CMDS[$i]}"); fi
done
note "$ROUNDS rounds x $PER_ROUND runs of ${#NAMES[@]} commands"
rounds=()
hf() {  # OUT.json CMD...
  local out=$1; shift
  bg_wait "$@" --export-json "$out" >/dev/null 2>"$W/hf.err" || { cat "$W/hf.err" >&2; die "hyperfine failed"; }
  rounds+=("$out")
}
for r in $(seq 1 "$ROUNDS"); do
  # two invocations per round (crun needs its own mount namespace), in
  # alternating order
  if [ $((r % 2)) -eq 1 ]; then
    hf "$W/round$r-a.json" "${HF[@]}"; hf "$W/round$r-b.json" "${HF_CRUN[@]}"
  else
    hf "$W/round$r-b.json" "${HF_CRUN[@]}"; hf "$W/round$r-a.json" "${HF[@]}"
  fi
done
ORDER=$(IFS=,; echo "${NAMES[*]}") stats merge "$DATA/startup.json" "${rounds[@]}"
stats csv "$DATA/startup.json" > "$DATA/startup.csv"

med() { stats get "$DATA/startup.json" "$1" median; }
idx() { local i; for i in "${!NAMES[@]}"; do [ "${NAMES[$i]}" = "$1" ] && echo "$i" && return; done; }
calc() { lua5.4 -e "print($1)"; }
N=$(med nucleus) BW=$(med bubblewrap) CR=$(med crun) UN=$(med unshare)
C1=$(med nucleus-ctx-copy) B1=$(med nucleus-ctx-bind) L1=$(med nucleus-lua) NT=$(med nucleus-state-tmpfs)
DR=$(med nucleus-dry-run)
ok() { lua5.4 -e "os.exit(($1) and 0 or 1)" && echo yes || echo no; }
cpu() { echo "$(fmt "$(stats get "$DATA/startup.json" "$1" user)") ms user + $(fmt "$(stats get "$DATA/startup.json" "$1" system)") ms system"; }
# Where the time goes, measured this way: temporary timestamps (CLOCK_MONOTONIC) at
# the stages of the run path in the Lua modules and in the child (core/src/child.c),
# 100 runs, medians; the seccomp load alone with a small C program that loads a
# given BPF program in a fresh fork, 300 times.
GAP="What a start does now: the CLI is one static PIE (no loader, no shared object, no symbol \
looked up at run time: -0.3 ms against the same code linked dynamically, alternating runs, 800 \
pairs; the host's passwd and group files are read by glibc's own code, getent(1) asked for what \
they lack, since a static glibc cannot load NSS modules); the network namespace (lo up) is made \
on a thread while the launch plan is compiled, and the container joins it; the record is one \
file, begun as a hard link before the cgroup and written while the container is set up (the \
workload waits for it at a gate); on this machine's root file system (ext4 without a journal, \
which skips the inodes deleted in the last minutes when it allocates one) that file's creation \
alone took 0.8 ms in a loop of runs, longer than the container's set-up, so the workload waited \
for it: records on a tmpfs (where /run is on a systemd host; not here) start faster, below; \
the Lua heap is MADV_DONTFORK; in the child each mount op's parent directory is made once, modes \
are set at creation, and Landlock takes 9 rules (links into /usr and trees the host lacks need \
none) without a stat each: 50 syscalls fewer; the CLI's commands other than run, and what only \
some run options need, are modules of their own, not loaded for a start (-0.1 ms: 4.5 KB of \
bytecode and the commands' option tables; -0.03 ms: 4 KB of the plan builder's); the \
seccomp filter is 178 instructions where libseccomp alone makes 510. Where a start goes (timestamps at each stage, 200-300 runs, medians, \
this machine's quieter phases): exec to the CLI's main ~0.5 ms (a bare exec of a small dynamic \
program: the same); the Lua state and libraries ~0.1 ms; the run path's ~56 KB of bytecode \
undumped ~0.2 ms; options, the plan table, the record begun, the cgroup and the compiled plan \
~0.6 ms; clone3 ~0.2 ms; in the child, the mounts ~0.3 ms (34 plan entries, the two pivots, the \
host tree's detach), identity and Landlock ~0.08 ms, seccomp ~0.1 ms (the kernel's BPF JIT); the \
workload's exec and run ~0.5 ms (as for bubblewrap); then the init's report, the exit line, the \
init's exit tearing the namespaces down (~0.1 ms: the cgroup can go only after it) and the CLI's \
exit. Tried and left out (measured with alternating runs, hundreds of pairs): the staging root \
made ahead on the thread too (a mount namespace with the staging and root tmpfs, pivoted; the \
child joined it: its own set-up 0.45 ms shorter, the start no shorter, +0.04 ms), and that thread \
started at the CLI's first instruction (+0.12 ms): on this machine two busy vCPUs do not run in \
parallel for free (two threads spinning together take 3-4 times as long as one alone, twice as \
long pinned to one CPU), so work moved off the critical path is paid for on it; for the same \
reason the network namespace made ahead measured even with making it in clone3 this time (1 000 \
pairs: -0.06 ms), kept for machines whose cores are their own; a pre-faulted Lua heap (-0.03 ms, \
noise); mount, IPC and UTS namespaces on the thread; copying /etc/ld.so.cache instead of binding \
it. What is left is the interpreter's start and its work before clone3, and the namespaces, mounts \
and filters the kernel builds, each measured above. Half of crun's median leaves \
$(fmt "$(calc "$CR / 2 - $UN")") ms over \`unshare\` alone with the same namespaces ($(fmt "$UN") ms: no root, no \
policies, no supervisor) for all the rest; bubblewrap takes $(fmt "$BW") ms. What would close it here: \
the records on a tmpfs, as /run is on a systemd host ($(fmt "$NT") ms in this run, \
$(fmt "$(calc "$NT / $CR")") of crun's median), and a few tenths of a millisecond off the interpreter's \
start (the run path's bytecode is undumped at every start: a smaller run path; keeping a compiled \
state between starts would take a daemon, which nucleus is not)."
# CPU per start counted by the kernel (perf stat's task-clock, every
# process of the start included) where perf works: hyperfine's user and
# system times are sampled at the tick and overstate short processes.
task_clock() {  # CMD... -> ms of CPU per run (mean of 50)
  perf stat -x, -e task-clock -r 50 "$@" 2>&1 >/dev/null | awk -F, '$3 == "task-clock" { printf "%.2f", $1 }'
}
TC=""
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  # five alternating rounds, the median of each (this machine's speed drifts)
  tn=() tb=() tt=()
  for _ in 1 2 3 4 5; do
    tn+=("$(task_clock sh -c "${CMDS[$(idx nucleus)]}")") tb+=("$(task_clock sh -c "${CMDS[$(idx bubblewrap)]}")")
    tt+=("$(task_clock sh -c true)")
  done
  TN=$(printf '%s\n' "${tn[@]}" | sort -g | sed -n 3p) TB=$(printf '%s\n' "${tb[@]}" | sort -g | sed -n 3p)
  TT=$(printf '%s\n' "${tt[@]}" | sort -g | sed -n 3p)
  [ -n "$TN" ] && [ -n "$TB" ] && [ -n "$TT" ] && TC="perf stat's task-clock (CPU of every process of a start, \`sh -c\` subtracted, medians of five alternating rounds of 50): \
nucleus $(fmt "$(calc "$TN - $TT")") ms, bubblewrap $(fmt "$(calc "$TB - $TT")") ms; "
fi
WHY="${TC}CPU per start (hyperfine's user and system means, tick-sampled): nucleus $(cpu nucleus), bubblewrap $(cpu bubblewrap), crun $(cpu crun); \
\`unshare\` with the same namespaces alone takes $(fmt "$UN") ms (median); \`nucleus run --dry-run\` (the launch plan \
compiled and printed as JSON, nothing started) $(fmt "$DR") ms; nucleus with its container records on a tmpfs instead \
of the root file system (where /run is here): $(fmt "$NT") ms. $GAP"
target "cold start: nucleus median <= bubblewrap median" "$(fmt "$N") ms vs $(fmt "$BW") ms" \
  "$(ok "$N <= $BW")" "$WHY"
target "cold start: nucleus median <= 0.5 x crun median" "$(fmt "$N") ms vs 0.5 x $(fmt "$CR") = $(fmt "$(calc "$CR / 2")") ms" \
  "$(ok "$N <= $CR / 2")" "$WHY"
headline "cold start, \`nucleus run -- /bin/true\` (median)" "$(fmt "$N") ms"
for p in bubblewrap crun runc runsc; do
  grep -qx "$p" < <(printf '%s\n' "${NAMES[@]}") || continue
  headline "… $p (median)" "$(fmt "$(med $p)") ms (nucleus / $p = $(fmt "$(calc "$N / $(med $p)")"))"
done
headline "… nucleus with a 1 000-file context, copied / bound" "$(fmt "$C1") ms / $(fmt "$B1") ms"
headline "… nucleus through the Lua API (stock lua5.4)" "$(fmt "$L1") ms"
NN=$(med nucleus-netns-none) NB=$(med nucleus-bridge) NS=$(med nucleus-bridge-slirp)
headline "… nucleus --network bridge, kernel / slirp4netns" "$(fmt "$NB") ms / $(fmt "$NS") ms (none, same nsenter: $(fmt "$NN") ms)"

{
  echo "## Start-up"
  echo
  echo "\`/bin/true\` in a fresh container, $((PER_ROUND * ROUNDS)) runs per command in $ROUNDS interleaved rounds"
  echo "(per round, one \`hyperfine -N --warmup $WARMUP --runs $PER_ROUND\` invocation over all commands but crun,"
  echo "and one for crun in a private mount namespace where \`/sys/fs/cgroup/unified\` is hidden, since crun"
  echo "refuses hybrid cgroups; the per-run times merged). The context is 1 000 files of 256 bytes in 10 directories."
  echo
  stats table "$DATA/startup.json" nucleus
  echo
  echo "- nucleus with a copied 1 000-file context costs $(fmt "$(lua5.4 -e "print($C1-$N)")") ms more than without; bound, $(fmt "$(lua5.4 -e "print($B1-$N)")") ms."
  echo "- through the Lua API from a stock \`lua5.4\`: $(fmt "$L1") ms (the CLI: $(fmt "$N") ms). Measured apart"
  echo "  (hyperfine, 100 runs): \`lua5.4 -e ''\` alone 1.0-1.3 ms; loading nucleus.core ~1.6 ms more (libnl is"
  echo "  still a shared object: its archives are not position-independent); \`nucleus\` itself is compiled from"
  echo "  its file, the other modules come from core.so's compiled copy (\`core.use_builtin_modules()\`, their files unchanged)."
  echo "- \`nucleus run --dry-run\` (options parsed, launch plan compiled and printed, nothing started): $(fmt "$DR") ms."
  echo "- with the container records on a tmpfs (\`--root\` under /dev/shm) instead of the state directory"
  echo "  on the root file system (where /run is here): $(fmt "$NT") ms. $GAP"
  echo "- CPU per start: ${TC}hyperfine's user and system means (tick-sampled): nucleus $(cpu nucleus), bubblewrap $(cpu bubblewrap), crun $(cpu crun), runc $(cpu runc)."
  echo "- $RUNSC_NOTE."
  echo "- \`--network bridge\` (run through \`nsenter\` into a network namespace of the benchmark's own, where the"
  echo "  bridge, its rules and the leases live): kernel backend $(fmt "$NB") ms, slirp4netns $(fmt "$NS") ms, against"
  echo "  $(fmt "$NN") ms for network none through the same \`nsenter\`: a bridged start costs $(fmt "$(calc "$NB - $NN")") ms more"
  echo "  (netlink, two \`iptables-restore\` batches, the lease), a slirp4netns one $(fmt "$(calc "$NS - $NN")") ms."
  echo
  echo "Commands (\`\$W\` is the benchmark's scratch directory, \`\$SHM\` one in /dev/shm, \`<repo>\` the repository; the Lua"
  echo "command runs with \`LUA_PATH=\"<repo>/lua/?.lua;<repo>/lua/?/init.lua;<repo>/build/lua/?.lua;;\"\`"
  echo "and \`LUA_CPATH=\"<repo>/build/lib/?.so;;\"\`):"
  echo
  echo '```'
  for i in "${!NAMES[@]}"; do printf '%-19s %s\n' "${NAMES[$i]}" "${CMDS[$i]}"; done | sed -e "s|$SHM_STATE|\$SHM|g" | docpaths
  echo '```'
  echo
  echo "Raw data: [bench-data/startup.json](bench-data/startup.json) (every run's time),"
  echo "[bench-data/startup.csv](bench-data/startup.csv)."
} > "$DATA/startup.md"

stats table "$DATA/startup.json" nucleus

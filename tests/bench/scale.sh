#!/usr/bin/env bash
# Scale: 100 containers started at once, and 1 000 runs in a row checked for
# leaks.
#
#  1. `nucleus run -- sleep 2` x PAR (100) in parallel: wall time until all
#     ended, every exit status 0; then the same with each container touching a
#     file in a shared volume first, whose mtimes give when each was running.
#     bubblewrap does the first case too, for reference.
#  2. `nucleus run -- /bin/true` x SEQ (1 000) in a row from this script: its
#     open fds, its zombie children, the system's zombies, MemAvailable,
#     Shmem, the mount table, nucleus processes, mount/pid/net namespace slab
#     objects, before and after (namespace teardown in the kernel is
#     asynchronous: the "after" is taken 2 s after the last run).
#  3. SEQ runs through the Lua API inside one lua5.4 process (leak.lua): the
#     process's own fds, VmRSS, Lua heap and zombie children.
#
#   tests/bench/scale.sh           (QUICK=1: PAR=20, SEQ=100)
set -euo pipefail
BENCH_NAME=scale
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need bwrap
if [ "$QUICK" = 1 ]; then PAR=${PAR:-20}; SEQ=${SEQ:-100}; else PAR=${PAR:-100}; SEQ=${SEQ:-1000}; fi
SLEEP=2
PIDS=()
# TERM first: nucleus passes it on and removes its cgroup; KILL what is left
on_exit 'for p in "${PIDS[@]}"; do kill -TERM "$p"; done; sleep 1; for p in "${PIDS[@]}"; do kill -KILL "$p"; done'

# --- 1. parallel --------------------------------------------------------------
# parallel CASE CMD... : start PAR copies of CMD (I is replaced by the index),
# wait for all; sets WALL (s) and FAILED (count of non-zero exits)
parallel() {
  local case=$1; shift
  local t0 t1 i rc a args
  PIDS=()
  t0=$(now)
  for i in $(seq 1 "$PAR"); do
    args=()
    for a in "$@"; do args+=("${a//@I@/$i}"); done
    "${args[@]}" </dev/null >"$W/par-$case-$i.out" 2>&1 &
    PIDS+=($!)
  done
  FAILED=0
  for i in "${!PIDS[@]}"; do
    rc=0; wait "${PIDS[$i]}" || rc=$?
    [ $rc -eq 0 ] || { FAILED=$((FAILED + 1)); note "$case #$((i + 1)) exited $rc: $(head -c 300 "$W/par-$case-$((i + 1)).out")"; }
  done
  PIDS=()
  t1=$(now)
  T0=$t0
  WALL=$(lua5.4 -e "print($t1 - $t0)")
}

parallel nucleus "$NUCLEUS" run -- sleep $SLEEP
N_WALL=$WALL N_FAILED=$FAILED
parallel bubblewrap bwrap --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib \
  --symlink usr/lib64 /lib64 --proc /proc --dev /dev --unshare-all sleep $SLEEP
B_WALL=$WALL B_FAILED=$FAILED
mkdir -m 0755 "$W/ready"
parallel nucleus-ready "$NUCLEUS" run --name nb-par-@I@ -v "$W/ready:/ready" -- \
  sh -c ': > /ready/$HOSTNAME; exec sleep '"$SLEEP"
R_WALL=$WALL R_FAILED=$FAILED
READY=$(ls "$W/ready" | wc -l)
# when each container was running, seconds after the first launch
find "$W/ready" -type f -printf '%T@\n' | awk -v t0="$T0" '{printf "%.4f\n", $1 - t0}' | sort -n > "$DATA/scale-ready.txt"
q() { awk -v q="$1" '{a[NR] = $1} END {i = int((NR - 1) * q) + 1; print a[i]}' "$DATA/scale-ready.txt"; }
R50=$(q 0.5) R90=$(q 0.9) R100=$(q 1)

# --- 2. sequential, CLI -------------------------------------------------------
snap() {  # one CSV line of host counters
  local fds zc zs avail shmem mounts procs mnt pidns netns
  sync
  fds=$(ls /proc/$$/fd | wc -l)
  zc=$(ps --ppid $$ -o stat= | grep -c '^Z' || true)
  zs=$(ps -e -o stat= | grep -c '^Z' || true)
  avail=$(awk '$1 == "MemAvailable:" {print $2}' /proc/meminfo)
  shmem=$(awk '$1 == "Shmem:" {print $2}' /proc/meminfo)
  mounts=$(wc -l < /proc/self/mountinfo)
  procs=$(pgrep -c -P $$ -x nucleus || true)
  mnt=$(awk '$1 == "mnt_cache" {print $2}' /proc/slabinfo 2>/dev/null || echo "")
  pidns=$(awk '$1 == "pid_namespace" {print $2}' /proc/slabinfo 2>/dev/null || echo "")
  netns=$(awk '$1 == "net_namespace" {print $2}' /proc/slabinfo 2>/dev/null || echo "")
  echo "$1,$fds,$zc,$zs,$avail,$shmem,$mounts,$procs,$(ls "$NUCLEUS_STATE_DIR/containers" 2>/dev/null | wc -l),${mnt:-},${pidns:-},${netns:-},$(cgroups)"
}
# cgroups under nucleus's default parent (<cgroup2 mount>/nucleus; other work
# on the machine may add its own)
CG2=$(awk '{for (i = 7; i < NF; i++) if ($i == "-") {if ($(i + 1) == "cgroup2") {print $5; exit} break}}' /proc/self/mountinfo)
cgroups() { find "${CG2:-/nonexistent}/nucleus" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l; }
SEQCSV=$DATA/scale-sequential.csv
echo "phase,driver_fds,driver_zombies,system_zombies,memavailable_kb,shmem_kb,mountinfo_lines,nucleus_children,state_records,mnt_cache,pid_namespace,net_namespace,nucleus_cgroups" > "$SEQCSV"
for _ in $(seq 1 20); do "$NUCLEUS" run -- /bin/true; done   # warm-up
rm -rf "$NUCLEUS_STATE_DIR/containers"/*
sleep 2
snap before >> "$SEQCSV"
t0=$(now)
fails=0
for i in $(seq 1 "$SEQ"); do
  rc=0
  "$NUCLEUS" run -- /bin/true || rc=$?
  # nucleus exits 128+N when its workload got signal N (a Ctrl-C reaches
  # both): bash would carry on, so stop here
  case $rc in 0) ;; 130|143) exit $rc ;; *) fails=$((fails + 1)) ;; esac
  [ "$i" -ne $((SEQ / 2)) ] || snap middle >> "$SEQCSV"
done
t1=$(now)
snap end >> "$SEQCSV"
sleep 2
snap after-2s >> "$SEQCSV"
SEQ_MS=$(lua5.4 -e "print(($t1 - $t0) / $SEQ * 1000)")

# --- 3. sequential, Lua API in one process ------------------------------------
export LUA_PATH=$LUA_SNAP_PATH LUA_CPATH=$LUA_SNAP_CPATH
{
  lua5.4 "$BENCH/leak.lua" "$SEQ" run
  lua5.4 "$BENCH/leak.lua" "$SEQ" compile | tail -n +2
} > "$DATA/scale-lua.csv"

# --- report -------------------------------------------------------------------
col() { awk -F, -v p="$1" -v c="$2" 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i} $1 == p {print $h[c]}' "$3"; }
delta_row() {  # NAME COLUMN [ok-threshold]: before, end, after-2s and the verdict
  local b e a ok
  b=$(col before "$2" "$SEQCSV") e=$(col end "$2" "$SEQCSV") a=$(col after-2s "$2" "$SEQCSV")
  if [ -z "$b" ]; then echo "| $1 | n/a | | | |"; return; fi
  ok=$([ $((a - b)) -le "${3:-0}" ] && echo "no growth" || echo "**grew by $((a - b))**")
  echo "| $1 | $b | $e | $a | $ok |"
}
MEMB=$(col before memavailable_kb "$SEQCSV") MEMA=$(col after-2s memavailable_kb "$SEQCSV")
table() {
  echo "Parallel: $PAR containers started at once, each \`sleep $SLEEP\`."
  echo
  echo "| case | wall time s | over the $SLEEP s sleep s | non-zero exits |"
  echo "|---|---:|---:|---:|"
  echo "| nucleus | $(fmt "$N_WALL") | $(fmt "$(lua5.4 -e "print($N_WALL - $SLEEP)")") | $N_FAILED / $PAR |"
  echo "| bubblewrap | $(fmt "$B_WALL") | $(fmt "$(lua5.4 -e "print($B_WALL - $SLEEP)")") | $B_FAILED / $PAR |"
  echo "| nucleus, with readiness files | $(fmt "$R_WALL") | $(fmt "$(lua5.4 -e "print($R_WALL - $SLEEP)")") | $R_FAILED / $PAR |"
  echo
  echo "Readiness: $READY / $PAR containers were running; half of them $(fmt "$R50" 3) s after the first"
  echo "launch, 90 % after $(fmt "$R90" 3) s, all after $(fmt "$R100" 3) s."
  echo
  echo "Sequential: $SEQ x \`nucleus run -- /bin/true\` from the benchmark script, $(fmt "$SEQ_MS") ms per run, $fails failed."
  echo
  echo "| counter | before | after $SEQ runs | 2 s later | verdict |"
  echo "|---|---:|---:|---:|---|"
  delta_row "open fds of the driver" driver_fds
  delta_row "zombie children of the driver" driver_zombies
  delta_row "zombies on the system (others' too)" system_zombies 2
  delta_row "mount table lines" mountinfo_lines
  delta_row "nucleus processes left (children of the driver)" nucleus_children
  delta_row "mnt_cache objects (slab, system-wide)" mnt_cache 200
  delta_row "pid_namespace objects (slab, system-wide)" pid_namespace 50
  delta_row "net_namespace objects (slab, system-wide)" net_namespace 50
  delta_row "Shmem KiB" shmem_kb 8192
  delta_row "cgroups under <cgroup2>/nucleus (others' too)" nucleus_cgroups
  echo "| MemAvailable KiB | $MEMB | $(col end memavailable_kb "$SEQCSV") | $MEMA | change $(( (MEMA - MEMB) / 1024 )) MiB (machine shared with other work) |"
  echo "| container records in the state directory | $(col before state_records "$SEQCSV") | $(col end state_records "$SEQCSV") | $(col after-2s state_records "$SEQCSV") | one per run without \`--rm\`, by design |"
  echo
  echo "Through the Lua API in one \`lua5.4\` process (leak.lua; \`run\`: \`nucleus.run{argv={\"/bin/true\"}, rm=true}\`,"
  echo "\`compile\`: one \`nucleus.compile\`, then \`nucleus.spawn_and_wait\`), after 20 warm-up runs:"
  echo
  echo "| mode | phase | runs | open fds | VmRSS KiB | Lua heap KiB | zombie children | s since warm-up |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  tail -n +2 "$DATA/scale-lua.csv" | awk -F, '{printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}'
}
TABLE=$(table)
GROWN=$(printf '%s\n' "$TABLE" | grep -c 'grew by' || true)
LUA_FDS=$(awk -F, 'NR > 1 {if (!($1 in f)) f[$1] = $4; l[$1] = $4} END {for (m in f) printf "%s%s %+d", (n++ ? ", " : ""), m, l[m] - f[m]}' "$DATA/scale-lua.csv")
headline "$PAR x \`nucleus run -- sleep $SLEEP\` in parallel: wall time, failures" "$(fmt "$N_WALL") s, $N_FAILED (bubblewrap: $(fmt "$B_WALL") s); all running after $(fmt "$R100" 2) s"
headline "$SEQ sequential runs: counters that grew" "$GROWN (Lua API fds: $LUA_FDS)"
{
  echo "## Scale"
  echo
  printf '%s\n' "$TABLE"
  echo
  echo "Raw data: [bench-data/scale-sequential.csv](bench-data/scale-sequential.csv),"
  echo "[bench-data/scale-lua.csv](bench-data/scale-lua.csv), [bench-data/scale-ready.txt](bench-data/scale-ready.txt)"
  echo "(seconds from the first launch until each container was running)."
} > "$DATA/scale.md"
printf '%s\n' "$TABLE"
[ "$N_FAILED" -eq 0 ] && [ "$R_FAILED" -eq 0 ] && [ "$fails" -eq 0 ] || die "some containers failed (see above)"

#!/usr/bin/env bash
# Supervisor cost: resident memory of the process that stays on the host
# while a container runs `sleep` (nucleus, and for comparison the bubblewrap,
# crun, runc and runsc processes in the same role), and the CPU it uses while
# the container idles (utime+stime from /proc/PID/stat over WINDOW seconds).
#
#   tests/bench/supervisor.sh        (WINDOW=10 s; QUICK=1: 3 s)
set -euo pipefail
BENCH_NAME=supervisor
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need bwrap crun runc busybox unshare
if [ "$QUICK" = 1 ]; then WINDOW=${WINDOW:-3}; else WINDOW=${WINDOW:-10}; fi
SLEEP=$((WINDOW + 5))
HZ=$(getconf CLK_TCK)

# TERM first: nucleus passes it on and removes its cgroup; KILL what is left
on_exit 'for p in "${PIDS[@]}"; do kill -TERM "$p"; done; sleep 1; for p in "${PIDS[@]}"; do kill -KILL "$p"; done'
on_exit 'cleanup_peers nb-sup-crun nb-sup-runc nb-sup-runsc nb-runsc-probe'
make_bundle "$W/bundle" nb-sup-runc
RUNSC=no
runsc_ok "$W/bundle" && RUNSC=yes
bundle_args "$W/bundle" /bin/sleep "$SLEEP"

NAMES=(nucleus bubblewrap crun runc)
CMDS=(
  "$NUCLEUS run -- sleep $SLEEP"
  "bwrap --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --unshare-all sleep $SLEEP"
  "crun --root $W/crun-state --cgroup-manager=disabled run --bundle $W/bundle nb-sup-crun"
  "runc --root $W/runc-state run --bundle $W/bundle nb-sup-runc"
)
if [ $RUNSC = yes ]; then
  NAMES+=(runsc)
  CMDS+=("runsc --root $W/runsc-state $RUNSC_FLAGS run --bundle $W/bundle nb-sup-runsc")
fi

# Start every container; each command is exec'd (by bash, or after the
# private mount namespace is set up), so $! is the supervisor itself.
PIDS=()
for i in "${!NAMES[@]}"; do
  # crun in the private mount namespace that hides the cgroup2 mount (not
  # with the function in_private_mntns: it would run in a subshell of its own)
  pre=()
  [ "${NAMES[$i]}" != crun ] || pre=("${PRIVATE_MNTNS[@]}")
  # shellcheck disable=SC2086
  "${pre[@]}" ${CMDS[$i]} </dev/null >"$W/${NAMES[$i]}.out" 2>&1 &
  PIDS+=($!)
done

# wait until each supervisor has its final name and a sleeping descendant
descendants() {  # all descendants of $1 (no /proc/PID/task/TID/children here)
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = p; while (q in parent && q != root && q > 1) q = parent[q]; if (q == root && p != root) print p } }'
}
deadline=$(( $(date +%s) + 30 ))
for i in "${!NAMES[@]}"; do
  p=${PIDS[$i]}
  while :; do
    comm=$(cat /proc/"$p"/comm 2>/dev/null || echo gone)
    [ "$comm" = gone ] && { cat "$W/${NAMES[$i]}.out" >&2; die "${NAMES[$i]} exited early"; }
    found=no
    if [ "${NAMES[$i]}" = runsc ]; then
      # the workload is not a host process under gVisor: ask runsc
      runsc --root "$W/runsc-state" state nb-sup-runsc 2>/dev/null | grep '"status": "running"' >/dev/null && found=yes
    elif [ "$comm" != unshare ] && [ "$comm" != bash ]; then
      for d in $(descendants "$p"); do
        [ "$(cat /proc/"$d"/comm 2>/dev/null)" = sleep ] && found=yes
      done
    fi
    [ $found = yes ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "${NAMES[$i]}: no sleeping container after 30 s"
    sleep 0.05
  done
done
sleep 1

kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
pss() { awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A RSS HWM PSS ANON T0 T1 TREE
for i in "${!NAMES[@]}"; do
  p=${PIDS[$i]} n=${NAMES[$i]}
  RSS[$n]=$(kb "$p" VmRSS) HWM[$n]=$(kb "$p" VmHWM) PSS[$n]=$(pss "$p") ANON[$n]=$(kb "$p" RssAnon)
  # the descendants that are not the workload (nucleus: its PID 1 mini-init)
  t=0
  for d in $(descendants "$p"); do
    [ "$(cat /proc/"$d"/comm 2>/dev/null)" = sleep ] || t=$((t + $(kb "$d" VmRSS || echo 0)))
  done
  TREE[$n]=$t
  T0[$n]=$(ticks "$p")
done
sleep "$WINDOW"
for i in "${!NAMES[@]}"; do T1[${NAMES[$i]}]=$(ticks "${PIDS[$i]}"); done

# every container ends normally
for i in "${!NAMES[@]}"; do
  rc=0; wait "${PIDS[$i]}" || rc=$?
  [ $rc -eq 0 ] || { cat "$W/${NAMES[$i]}.out" >&2; die "${NAMES[$i]} exited $rc"; }
done
PIDS=()

echo "supervisor,vmrss_kb,vmhwm_kb,pss_kb,rssanon_kb,helpers_rss_kb,cpu_ms_in_window,window_s" > "$DATA/supervisor.csv"
table() {
  echo "| supervisor | VmRSS KiB | VmHWM KiB | Pss KiB | RssAnon KiB | other processes KiB | CPU ms in ${WINDOW} s |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for n in "${NAMES[@]}"; do
    cpu=$(( (T1[$n] - T0[$n]) * 1000 / HZ ))
    echo "| $n | ${RSS[$n]} | ${HWM[$n]} | ${PSS[$n]} | ${ANON[$n]} | ${TREE[$n]} | $cpu |"
    echo "$n,${RSS[$n]},${HWM[$n]},${PSS[$n]},${ANON[$n]},${TREE[$n]},$cpu,$WINDOW" >> "$DATA/supervisor.csv"
  done
}
TABLE=$(table)
R=${RSS[nucleus]}
CPU=$(( (T1[nucleus] - T0[nucleus]) * 1000 / HZ ))
target "supervisor resident memory < 4 MiB (VmRSS of nucleus while the container sleeps)" \
  "$R KiB (peak $(( HWM[nucleus] )) KiB)" "$([ "$R" -lt 4096 ] && echo yes || echo no)" \
  "of the $R KiB, ${ANON[nucleus]} KiB are anonymous (heap, Lua state), the rest file pages of the binary and libc, shared (Pss ${PSS[nucleus]} KiB)"
headline "supervisor while the container sleeps: VmRSS / Pss / CPU in $WINDOW s" "$R KiB / ${PSS[nucleus]} KiB / $CPU ms (crun: ${RSS[crun]} KiB, runc: ${RSS[runc]} KiB)"

{
  echo "## Supervisor cost"
  echo
  echo "The process that stays on the host while the container runs \`sleep $SLEEP\`: its"
  echo "\`VmRSS\`/\`VmHWM\`/\`RssAnon\` from \`/proc/PID/status\`, \`Pss\` from \`smaps_rollup\`, the RSS of its"
  echo "other descendants except the workload (nucleus: the container's PID 1 mini-init; bubblewrap:"
  echo "its PID 1; runsc: the sandbox and gofer), and its utime+stime over $WINDOW s while the"
  echo "container idles (clock ticks of $((1000 / HZ)) ms). All containers ran at the same time."
  echo
  printf '%s\n' "$TABLE"
  echo
  echo "- nucleus: $R KiB resident while supervising, $CPU ms CPU in $WINDOW s."
  echo
  echo "Commands (crun, runc, runsc with the busybox bundle, args \`/bin/sleep $SLEEP\`):"
  echo
  echo '```'
  for i in "${!NAMES[@]}"; do printf '%-11s %s\n' "${NAMES[$i]}" "${CMDS[$i]}"; done | docpaths
  echo '```'
  echo
  echo "Raw data: [bench-data/supervisor.csv](bench-data/supervisor.csv)."
} > "$DATA/supervisor.md"

printf '%s\n' "$TABLE"

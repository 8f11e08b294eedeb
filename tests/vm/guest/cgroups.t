#!/usr/bin/env bash
# Runs INSIDE the test VM (pure cgroup v2): nucleus resource limits for
# real: OOM kill reported, a fork bomb held at --pids, --cpus throttling,
# io.max on a virtio disk, stats against the cgroup files, and the cgroup
# removed after the run and after rm -f.
GUEST_RUN_OPTS="--disk 64"
# shellcheck source=../../lib/guest.sh
. "$(dirname "$0")/../../lib/guest.sh"
export NUCLEUS_STATE_DIR=/run/nucleus-vm-test
BIN=$REPO/build/vm/bin
CG=/sys/fs/cgroup

# --- memory -------------------------------------------------------------------
out=$("$N" run --name oom --memory 32M -v "$BIN:/opt/b:ro" -- /opt/b/memhog 100 2>&1)
rc=$?
is "$rc" 137 "a process allocating past --memory 32M is killed (137)"
like "$out" "ran out of memory \(--memory 32M\): 1 process OOM-killed" "the run says it was an OOM kill (memory.events)"
like "$("$N" inspect oom)" '"oom_killed": true' "the record says so too"
out=$("$N" run --rm --memory 64M -v "$BIN:/opt/b:ro" -- /opt/b/memhog 16 2>&1)
is "$?" 0 "an allocation under the limit succeeds"

# --- pids -----------------------------------------------------------------------
# perl, not sh: a shell gives up at the first fork that fails
"$N" run --name bomb --pids 20 -- perl -e '$| = 1; my $n = 0; for (1 .. 60) { my $p = fork; if (defined $p) { if ($p == 0) { sleep 30; exit } $n++ } } print "$n\n"; sleep 30' > /tmp/bomb.out &
sup=$!
for _ in $(seq 100); do [ -s /tmp/bomb.out ] && break; sleep 0.1; done
cgpath=$("$N" inspect bomb | grep -o '"cgroup": "[^"]*"' | cut -d'"' -f4)
cur=$(cat "$cgpath/pids.current" 2>/dev/null || echo missing)
[ "$cur" = missing ] && diag "cgroup path '$cgpath': $("$N" inspect bomb 2>&1 | head -40)"
ok "$([ "$cur" != missing ] && [ "$cur" -le 20 ]; echo $?)" "a fork bomb is held at --pids 20 (pids.current $cur)"
like "$(cat "$cgpath/pids.events" 2>/dev/null)" "max [1-9]" "pids.events counts the refused forks"
forks=$(cat /tmp/bomb.out)
ok "$([ -n "$forks" ] && [ "$forks" -lt 20 ]; echo $?)" "the workload saw its forks refused ($forks of 60 succeeded)"
"$N" rm -f bomb >/dev/null
wait "$sup" 2>/dev/null
ok "$([ ! -d "$cgpath" ]; echo $?)" "rm -f of a running container removes its cgroup"

# --- cpu ----------------------------------------------------------------------------
# CPU time a busy loop gets in 3 s of wall time, unlimited and at --cpus 0.5
busy() { "$N" run --rm "$@" -- sh -c 'timeout 3 sh -c "while :; do :; done"; times' | tail -1; }
secs() { awk '{ split($1, u, "m"); split($2, s, "m"); print u[1]*60 + u[2] + s[1]*60 + s[2] }' | tr -d 's'; }
free=$(busy | secs)
half=$(busy --cpus 0.5 | secs)
ratio=$(awk -v a="$half" -v b="$free" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
ok "$(awk -v r="$ratio" 'BEGIN { exit !(r >= 0.3 && r <= 0.7) }'; echo $?)" \
  "--cpus 0.5 holds a busy loop to about half a CPU (ratio $ratio: $half s vs $free s)"

# --- io ---------------------------------------------------------------------------------
if modprobe virtio_blk 2>/dev/null && [ -b /dev/vda ]; then
  mkfs.ext4 -q -F /dev/vda >/dev/null 2>&1
  mkdir -p /tmp/vda && mount /dev/vda /tmp/vda
  dd if=/dev/urandom of=/tmp/vda/f bs=1M count=6 status=none && sync
  dev=$(cat /sys/block/vda/dev)
  rd() { "$N" run --rm -v /tmp/vda:/data:ro "$@" -- sh -c 'start=$(date +%s%N); dd if=/data/f of=/dev/null bs=256k iflag=direct status=none; echo $(( ($(date +%s%N) - start) / 1000000 ))'; }
  fast=$(rd)
  slow=$(rd --io-limit "$dev rbps=2M")
  ok "$([ "$slow" -ge 2000 ] && [ "$slow" -gt $((fast * 2)) ]; echo $?)" \
    "io.max rbps=2M slows 6 MiB of direct reads on $dev (${slow} ms vs ${fast} ms)"
  umount /tmp/vda
else
  skip "no virtio disk (tests/vm/run --disk)"
fi

# --- stats ----------------------------------------------------------------------------
"$N" run --name st --memory 64M --pids 100 -- sleep 60 &
sup=$!
for _ in $(seq 100); do "$N" inspect st 2>/dev/null | grep -q '"status": "running"' && break; sleep 0.1; done
cgpath=$("$N" inspect st | grep -o '"cgroup": "[^"]*"' | cut -d'"' -f4)
json=$("$N" stats --no-stream --format json st)
like "$json" "\"memory_max\": 67108864" "stats: memory limit from memory.max"
like "$json" "\"pids_max\": 100" "stats: pids limit from pids.max"
like "$json" "\"pids\": $(cat "$cgpath/pids.current")" "stats: pids.current"
mem=$(echo "$json" | grep -o '"memory": [0-9]*' | grep -o '[0-9]*$')
file=$(cat "$cgpath/memory.current")
ok "$([ -n "$mem" ] && [ $((mem > file ? mem - file : file - mem)) -le 1048576 ]; echo $?)" \
  "stats: memory usage matches memory.current ($mem vs $file)"
table=$("$N" stats --no-stream st)
like "$table" "st +[0-9.]+% +[0-9.]+s +[0-9.]+% +[0-9.]+[KM]iB / 64.0MiB +2 " "stats: a table row"
"$N" stop -t 1 st >/dev/null
wait "$sup" 2>/dev/null
ok "$([ ! -d "$cgpath" ]; echo $?)" "the cgroup is gone after the run"
"$N" rm oom st >/dev/null
ok "$([ ! -e "$CG/nucleus" ]; echo $?)" "the parent cgroup is removed once empty"

# --- exec (issue 16): in the container's cgroup, under its limits ------------------
"$N" run --name ex --pids 8 -- sleep 60 &
sup=$!
for _ in $(seq 100); do "$N" inspect ex 2>/dev/null | grep -q '"status": "running"' && break; sleep 0.1; done
cgpath=$("$N" inspect ex | grep -o '"cgroup": "[^"]*"' | cut -d'"' -f4)
base=$(cat "$cgpath/pids.current")
"$N" exec ex sleep 61 &
xsup=$!
for _ in $(seq 100); do [ "$(cat "$cgpath/pids.current")" -gt "$base" ] && break; sleep 0.1; done
is "$(cat "$cgpath/pids.current")" "$((base + 2))" \
  "issue 16: an exec'd process and its init count in the container's pids.current (from $base)"
like "$("$N" stats --no-stream --format json ex)" "\"pids\": $((base + 2))" "  ... and in its stats"
forks=$("$N" exec ex perl -e '$| = 1; my $n = 0; for (1 .. 30) { my $p = fork; if (defined $p) { if ($p == 0) { sleep 5; exit } $n++ } } print "$n\n"')
ok "$([ -n "$forks" ] && [ "$forks" -lt 8 ]; echo $?)" \
  "issue 16: an exec'd fork bomb is held at the container's --pids 8 ($forks of 30 forks succeeded)"
"$N" rm -f ex >/dev/null
wait "$sup" "$xsup" 2>/dev/null
is "$(pgrep -f '^sleep 6[01]$' | wc -l)" 0 "rm -f takes the exec'd processes down with the container"

# --- the cgroup namespace is rooted at the container's cgroup ----------------------
is "$("$N" run --rm -- cat /proc/self/cgroup)" "0::/" "inside, the container's cgroup is the root"

rm -rf "$NUCLEUS_STATE_DIR"
done_testing

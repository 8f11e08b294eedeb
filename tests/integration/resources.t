#!/usr/bin/env bash
# Resource options on this host: sizes and limits validated before anything
# starts; where cgroup v2 lacks the controllers (hybrid hosts), agent mode
# warns and runs; the container still gets (and leaves) its own cgroup.
# The limits themselves are proven in the VM: tests/vm/guest/cgroups.t.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
ctls=$(cat "$mount/cgroup.controllers" 2>/dev/null)

cg=$("$NUCLEUS" run -- cat /proc/self/cgroup | grep '^0::')
is "$cg" "0::/" "the container's cgroup namespace is rooted at its own cgroup"
"$NUCLEUS" run --name incg -- sleep 3071 &
sup=$!
for _ in $(seq 100); do "$NUCLEUS" inspect incg 2>/dev/null | grep -q '"status": "running"' && break; sleep 0.02; done
path=$("$NUCLEUS" inspect incg | grep -o '"cgroup": "[^"]*"' | cut -d'"' -f4)
like "$path" "^$mount/nucleus/[0-9a-f]{32}$" "each container has a cgroup of its own under <cgroup2>/nucleus"
pid=$("$NUCLEUS" inspect incg | grep -o '"pid": [0-9]*' | grep -o '[0-9]*$')
is "$(grep '^0::' /proc/$pid/cgroup | cut -d: -f3)" "${path#$mount}" "the init was placed in it by clone3"
"$NUCLEUS" rm -f incg >/dev/null
wait "$sup" 2>/dev/null
ok "$([ ! -d "$path" ]; echo $?)" "rm -f removes its cgroup"

# issue 16 (6): what `exec` runs is in the container's cgroup (clone3
# CLONE_INTO_CGROUP), not the caller's: under its limits (tests/vm/guest/
# cgroups.t), in its stats, reached by cgroup.kill
"$NUCLEUS" run --name excg -- sleep 3072 &
sup=$!
for _ in $(seq 100); do "$NUCLEUS" inspect excg 2>/dev/null | grep -q '"status": "running"' && break; sleep 0.02; done
path=$("$NUCLEUS" inspect excg | grep -o '"cgroup": "[^"]*"' | cut -d'"' -f4)
is "$("$NUCLEUS" exec excg cat /proc/self/cgroup | grep '^0::')" "0::/" \
  "issue 16: an exec'd process is in the container's cgroup (the root of its cgroup namespace)"
"$NUCLEUS" exec excg sleep 3073 &
xsup=$!
xpid=
for _ in $(seq 100); do xpid=$(pgrep -f '^sleep 3073$') && break; sleep 0.02; done
is "$(grep '^0::' "/proc/$xpid/cgroup" | cut -d: -f3)" "${path#"$mount"}" "  ... seen from the host, by its pid"
ok "$(grep -qx "$xpid" "$path/cgroup.procs"; echo $?)" "  ... listed in the container's cgroup.procs"
xinit=$(awk '{ print $4 }' "/proc/$xpid/stat")
ok "$(grep -qx "$xinit" "$path/cgroup.procs"; echo $?)" "  ... and so is the exec's init, outside the PID namespace"
"$NUCLEUS" rm -f excg >/dev/null
wait "$sup" "$xsup" 2>/dev/null
is "$(pgrep -f '^sleep 307[23]$' | wc -l)" 0 "rm -f (cgroup.kill) takes an exec'd sleeper down with the container"
ok "$([ ! -d "$path" ]; echo $?)" "  ... and its cgroup goes"
# a record naming another cgroup than the container's own is refused (the
# record is what exec trusts; the kernel says where the init really is);
# a --cgroup-parent is followed
"$NUCLEUS" run --name excg2 --cgroup-parent /nucleus-test-exec -- sleep 3074 &
sup=$!
for _ in $(seq 100); do "$NUCLEUS" inspect excg2 2>/dev/null | grep -q '"status": "running"' && break; sleep 0.02; done
path=$("$NUCLEUS" inspect excg2 | grep -o '"cgroup": "[^"]*"' | cut -d'"' -f4)
id=$(basename "$path")
rec=$NUCLEUS_STATE_DIR/containers/$id
cp "$rec" "$T/rec.keep"
mkdir -p "$mount/nucleus/$id" "$path/sub"
for bad in "$mount" "$mount/nucleus" "$mount/nucleus-test-exec/../nucleus-test-exec/$id" "$mount/other/$id" \
           "/tmp/$id" "$path/sub" "$mount/nucleus/$id"; do
  printf '{"cgroup":"%s"}\n' "$bad" >> "$rec"
  check_fails 125 "^nucleus: container excg2: cgroup \"$bad\": " "exec refuses a record naming $bad" -- exec excg2 true
  cp "$T/rec.keep" "$rec"
done
like "$("$NUCLEUS" exec excg2 true 2>&1; printf '{"cgroup":"%s"}\n' "$mount/nucleus/$id" >> "$rec"; "$NUCLEUS" exec excg2 true 2>&1)" \
  "the container's init is in /nucleus-test-exec/$id$" "  ... a cgroup of the tree where the init is not, by the init's own"
cp "$T/rec.keep" "$rec"
rmdir "$mount/nucleus/$id" "$path/sub"
rmdir "$mount/nucleus" 2>/dev/null
is "$("$NUCLEUS" exec excg2 cat /proc/self/cgroup | grep '^0::')" "0::/" \
  "  ... and the record as written is taken, under a --cgroup-parent"
"$NUCLEUS" rm -f excg2 >/dev/null
wait "$sup" 2>/dev/null
rmdir "$mount/nucleus-test-exec" 2>/dev/null

# the shared parent goes once empty (other nucleus runs on the machine may
# still be using it)
others() { ls "$mount/nucleus" 2>/dev/null | grep -cE '^[0-9a-f]{32}$'; }
[ "$(others)" = 0 ] && ok "$([ ! -d "$mount/nucleus" ]; echo $?)" "  ... and the empty parent" \
  || skip "other containers run on this machine"
"$NUCLEUS" run -- true
[ "$(others)" = 0 ] && ok "$([ ! -d "$mount/nucleus" ]; echo $?)" "nothing is left in the cgroup tree after a run" \
  || skip "other containers run on this machine"

if [[ " $ctls " != *" memory "* ]]; then
  out=$("$NUCLEUS" run --memory 64M -- echo ran 2>&1)
  like "$out" "warn: cgroup v2 controller memory not available .*: running without resource limits" \
    "no memory controller: agent mode warns"
  like "$out" "ran" "  ... and runs"
  is "$(printf '%s\n' "$out" | grep -c warn)" 1 "  ... warning once"
  out=$("$NUCLEUS" run -- echo quiet 2>&1)
  is "$out" quiet "without limits asked for, no warning (the default pids limit is skipped)"
else
  skip "this host has the memory controller in cgroup v2" 4
fi

# a mount hiding the cgroup2 mount point is not taken for it
out=$(unshare -m --propagation private sh -c "mount -t tmpfs -o size=4k none '$mount' && '$NUCLEUS' run --rm --memory 16M -- echo ran" 2>&1)
like "$out" "no cgroup2 hierarchy is mounted: running without resource limits" "a hidden cgroup2 mount: warned"
like "$out" "ran" "  ... and the container runs"

check() { check_fails 125 "$@"; }
check 'invalid --memory "12Q"' "unknown size suffix" -- run --memory 12Q -- true
check 'invalid --memory "-5M"' "negative size" -- run --memory -5M -- true
check 'invalid --memory "0".*above zero' "zero memory" -- run --memory 0 -- true
check 'invalid --memory "99999999T": too large' "overflowing size" -- run --memory 99999999T -- true
check '--memory-swap is memory plus swap' "swap below memory" -- run --memory 1G --memory-swap 512M -- true
check '--memory-swap and --swap need --memory' "swap without memory" -- run --swap -- true
check 'invalid --cpus "0"' "zero cpus" -- run --cpus 0 -- true
check 'invalid --cpus "-1"' "negative cpus" -- run --cpus -1 -- true
check 'invalid --cpus "lots"' "non-numeric cpus" -- run --cpus lots -- true
check 'invalid --cpu-weight "0": an integer from 1 to 10000' "cpu weight out of range" -- run --cpu-weight 0 -- true
check 'invalid --pids "-3"' "negative pids" -- run --pids -3 -- true
dev=$(ls /sys/dev/block | head -1)
check 'unknown key in "bogus=1"' "unknown io key" -- run --io-limit "$dev bogus=1" -- true
check 'no block device 250:250' "a device that does not exist" -- run --io-limit "250:250 rbps=1M" -- true
check 'expected "MAJ:MIN' "malformed io limit" -- run --io-limit "sda rbps=1M" -- true
check 'invalid --memlock "x"' "bad memlock" -- run --memlock x -- true
out=$("$NUCLEUS" run --memlock 1M -v "$PROBE_DIR:/opt/probe:ro" -- /opt/probe/probe limits)
is "$(value memlock <<<"$out")" 1048576,1048576 "--memlock sets RLIMIT_MEMLOCK"
check "cgroup parent \"/a/../b\": must not contain" "cgroup parent with .." -- run --cgroup-parent /a/../b -- true
check "cgroup parent \"/sys/fs/bpf/x\" is outside the cgroup2 mount" "cgroup parent outside the mount" -- run --cgroup-parent /sys/fs/bpf/x -- true
out=$("$NUCLEUS" run --cgroup-parent /nucleus-test-parent -- true 2>&1)
is "$?" 0 "an explicit cgroup parent inside the cgroup2 mount works"
is "$(ls "$mount/nucleus-test-parent" | grep -cE '^[0-9a-f]{32}$')" 0 "  ... and its container's cgroup is gone after"
rmdir "$mount/nucleus-test-parent" 2>/dev/null

# --- issue 16 (8): every tmpfs is bounded ---------------------------------------------------
# size and inodes of a mount point inside: "bytes inodes"
sizes() { "$NUCLEUS" run "$@" -- sh -c 'for d in / /tmp /root /dev/shm /dev; do echo $(stat -f -c "%S*%b %c" $d); done' 2>/dev/null \
  | awk '{ split($1, a, "*"); printf "%s:%.0f:%d ", NR, a[1] * a[2], $2 }'; }
G=1073741824
is "$(sizes)" "1:$G:1048576 2:$G:1048576 3:$G:1048576 4:67108864:65536 5:65536:1024 " \
  "issue 16: the root tmpfs (with /tmp, the home) is 1G with a KiB of it per inode by default, /dev/shm 64M, /dev 64K"
is "$(sizes --memory 256M)" "1:268435456:262144 2:268435456:262144 3:268435456:262144 4:67108864:65536 5:65536:1024 " \
  "  ... --memory 256M: 256M"
is "$(sizes --tmpfs-size 8M --memory 256M)" "1:8388608:8192 2:8388608:8192 3:8388608:8192 4:8388608:8192 5:65536:1024 " \
  "  ... --tmpfs-size 8M: 8M (/dev/shm too, below its 64M)"
is "$(sizes --tmpfs-size 3G)" "1:3221225472:3145728 2:3221225472:3145728 3:3221225472:3145728 4:67108864:65536 5:65536:1024 " \
  "  ... --tmpfs-size 3G: 3G (/dev/shm stays at 64M)"
out=$("$NUCLEUS" run --tmpfs-size 8M -- sh -c 'head -c 20M /dev/zero > /tmp/fill; echo "rc=$? $(stat -c %s /tmp/fill)"
  echo x > /root/more || echo home-full; head -c 20M /dev/zero > /dev/shm/fill; echo "shm=$? $(stat -c %s /dev/shm/fill)"' 2>&1)
like "$out" "No space left on device" "--tmpfs-size 8M: writing 20M to /tmp fails with ENOSPC"
like "$out" "rc=1 [0-9]+" "  ... the write stops"
ok "$(n=$(value rc <<<"$out" >/dev/null; grep -o 'rc=1 [0-9]*' <<<"$out" | cut -d' ' -f2); [ "$n" -le 8388608 ]; echo $?)" \
  "  ... within the bound"
like "$out" "home-full" "  ... and the home, on the same tmpfs, is full with it"
like "$out" "shm=1 [0-9]+" "  ... /dev/shm holds no more than its own bound"
out=$("$NUCLEUS" run --tmpfs-size 1M -- sh -c 'i=0; while [ $i -lt 2000 ] && true 2>/dev/null > /tmp/f$i; do i=$((i + 1)); done; echo files=$i')
n=$(value files <<<"$out")
ok "$([ -n "$n" ] && [ "$n" -lt 1024 ]; echo $?)" "empty files, which the size does not count, stop at the inode bound (1M: $n of 2000)"

# the context is copied into the root tmpfs: one that does not fit is
# refused before anything starts (a bind is not copied)
mkdir -p "$T/ctx" && head -c 20M /dev/zero > "$T/ctx/big" && echo hi > "$T/ctx/small"
rec_before=$(ls "$T/state/containers" | wc -l)
check_fails 125 "^nucleus: context $T/ctx: 20.0M of files, more than the 8.0M tmpfs it is copied into \(--tmpfs-size\)$" \
  "issue 16: a context larger than --tmpfs-size" -- run --name toobig --tmpfs-size 8M --context "$T/ctx" \
  --cgroup-parent /nucleus-test-toobig -- true
is "$(ls "$T/state/containers" | wc -l) $(ls "$mount/nucleus-test-toobig" 2>/dev/null | grep -cE '^[0-9a-f]{32}$')" \
  "$rec_before 0" "  ... refused before anything starts: no record, no cgroup"
rmdir "$mount/nucleus-test-toobig" 2>/dev/null
out=$("$NUCLEUS" run --rm --memory 16M --context "$T/ctx" -- true 2>&1)
is "$?:$(grep -v 'warn: .* running without resource limits' <<<"$out")" \
  "125:nucleus: context $T/ctx: 20.0M of files, more than the 16.0M tmpfs it is copied into (--tmpfs-size)" \
  "  ... --memory 16M bounds it too"
is "$("$NUCLEUS" run --tmpfs-size 8M --context "$T/ctx" --context-mode bind -- cat /context/small)" hi \
  "  ... a bound context is not copied: no bound applies"
is "$("$NUCLEUS" run --tmpfs-size 32M --context "$T/ctx" -- cat /context/small)" hi "  ... one that fits is copied"
rm "$T/ctx/big"
for i in $(seq 1100); do : > "$T/ctx/f$i"; done
check_fails 125 "context $T/ctx: 1101 files, directories and links, more than the 1024 inodes of the tmpfs" \
  "  ... and so is one with more files than its inodes" -- run --tmpfs-size 1M --context "$T/ctx" -- true
rm -rf "$T/ctx"

check 'invalid --tmpfs-size "x": a size such as 512M' "bad --tmpfs-size" -- run --tmpfs-size x -- true
check 'invalid --tmpfs-size "0": must be above zero' "zero --tmpfs-size" -- run --tmpfs-size 0 -- true
check 'invalid --tmpfs-size "512K": at least 1M' "--tmpfs-size below 1M" -- run --tmpfs-size 512K -- true
check 'invalid --tmpfs-size "99999999T": too large' "overflowing --tmpfs-size" -- run --tmpfs-size 99999999T -- true

is "$(host_state)" "$before" "nothing left behind"
done_testing

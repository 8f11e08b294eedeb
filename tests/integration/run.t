#!/usr/bin/env bash
# nucleus run, agent mode, as root: namespaces, filesystem, identity,
# environment, exit codes and signals, checked from inside real containers.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"
# uid 4242 stands for a user the host does not name
getent passwd 4242 >/dev/null && skip_all "uid 4242 has a passwd entry on this host: the tests take it for an unnamed user"

before=$(host_state)

# --- exit codes --------------------------------------------------------------
"$NUCLEUS" run -- /bin/true
is "$?" 0 "exit 0 propagates"
"$NUCLEUS" run -- sh -c 'exit 7'
is "$?" 7 "exit 7 propagates"
probe_run -- kill-self 15 >/dev/null
is "$?" 143 "killed by SIGTERM -> 128+15"
probe_run -- kill-self 9 >/dev/null
is "$?" 137 "killed by SIGKILL -> 128+9"

out=$("$NUCLEUS" run -- echo hello world)
is "$out" "hello world" "PATH search runs echo, output reaches stdout"
out=$("$NUCLEUS" run ls -d /usr 2>&1)
is "$out" "/usr" "options stop at the first non-option word (no -- needed)"

# --- namespaces ----------------------------------------------------------------
out=$(probe_run -- pid)
is "$(value pid <<<"$out")" 2 "workload is PID 2 under the mini-init"
is "$("$NUCLEUS" run -- cat /proc/1/comm)" "nucleus-init" "PID 1 is the nucleus mini-init"
out=$("$NUCLEUS" run -e HOSTVALUE=do-not-leak -- sh -c 'tr "\0" " " < /proc/1/cmdline')
unlike "$out" "do-not-leak|run|HOSTVALUE" "the host's command line does not show through /proc/1/cmdline"
out=$("$NUCLEUS" run -- sh -c 'ls /proc | grep -cE "^[0-9]+$"')
ok "$([ "$out" -le 4 ]; echo $?)" "host processes are invisible ($out pids visible)"
out=$(probe_run --hostname box1 -- hostname)
is "$(value hostname <<<"$out")" box1 "--hostname sets the UTS name"
out=$(probe_run --name web-1 -- hostname)
is "$(value hostname <<<"$out")" web-1 "hostname defaults to --name"
out=$("$NUCLEUS" run -- cat /proc/net/dev | grep -c ':')
is "$out" 1 "network none: only lo"
out=$("$NUCLEUS" run -- ip -o link show lo)
like "$out" "^1: lo: <([A-Z_]+,)*UP[,>]" "lo is up (in the namespace the supervisor's thread made ahead)"
for ns in net pid mnt uts ipc cgroup; do
  inside=$("$NUCLEUS" run -- readlink /proc/self/ns/$ns)
  isnt "$inside" "$(readlink /proc/self/ns/$ns)" "$ns namespace differs from the host's"
done
inside=$("$NUCLEUS" run --disable-cgroup-namespace -- readlink /proc/self/ns/cgroup)
is "$inside" "$(readlink /proc/self/ns/cgroup)" "--disable-cgroup-namespace keeps the host's"
if [ -e /proc/self/ns/time ]; then
  inside=$("$NUCLEUS" run --time-namespace -- readlink /proc/self/ns/time)
  isnt "$inside" "$(readlink /proc/self/ns/time)" "--time-namespace gives a new time namespace"
else
  skip "the kernel has no time namespaces (CONFIG_TIME_NS)"
fi
inside=$("$NUCLEUS" run --network host --allow-host-network -- readlink /proc/self/ns/net)
is "$inside" "$(readlink /proc/self/ns/net)" "--network host shares the host's network namespace"

# --- filesystem ------------------------------------------------------------------
out=$(probe_run -- write /usr/nucleus-test)
is "$(value write <<<"$out")" EROFS "/usr is read-only"
out=$(probe_run -- mountopts /usr)
like "$out" "mountopts=ro,nosuid,nodev" "/usr is ro,nosuid,nodev"
out=$("$NUCLEUS" run -- sh -c 'echo data > /dev/null && head -c 4 /dev/zero | wc -c')
is "$out" 4 "/dev/null and /dev/zero work"
out=$(probe_run -- stat /tmp)
is "$(value mode <<<"$out")" 1777 "/tmp is mode 1777"
out=$(probe_run -- stat /)
is "$(value mode <<<"$out")" 0755 "/ is mode 0755"
out=$("$NUCLEUS" run -- sh -c 'test -c /dev/pts/ptmx && test -L /dev/fd && test -d /dev/shm && test -L /dev/stdout && echo yes')
is "$out" yes "/dev has pts, fd links and shm"
out=$("$NUCLEUS" run -- cat /etc/hostname /etc/passwd)
like "$out" "^root:x:0:0:" "/etc/passwd is generated"
out=$("$NUCLEUS" run -- ls /etc)
unlike "$out" "shadow" "host /etc is not exposed"
out=$(probe_run -- mountopts /proc)
like "$out" "fstype=proc" "/proc is mounted"
out=$("$NUCLEUS" run -- sh -c 'echo 1 > /proc/sys/kernel/sysrq' 2>&1)
ok "$([ -n "$out" ]; echo $?)" "/proc/sys is not writable"

# context: copy
mkdir -p "$T/ctx/sub"
echo original > "$T/ctx/file.txt"
echo nested > "$T/ctx/sub/n.txt"
echo secret > "$T/ctx/.env"
ln -s file.txt "$T/ctx/link-in"
ln -s /etc/passwd "$T/ctx/link-out"
out=$("$NUCLEUS" run --context "$T/ctx" -- sh -c 'cat /context/file.txt /context/sub/n.txt; echo changed > /context/file.txt; cat /context/file.txt; pwd')
is "$out" "$(printf 'original\nnested\nchanged\n/context')" "context copy: readable, writable, default workdir /context"
is "$(cat "$T/ctx/file.txt")" original "a write in a copied context leaves the host file unchanged"
out=$("$NUCLEUS" run --context "$T/ctx" -- sh -c 'ls -a /context | tr "\n" " "')
unlike "$out" "\.env" "secrets (.env) are not copied"
unlike "$out" "link-out" "a symlink leading outside the context is not copied"
like "$out" "link-in" "a symlink inside the context is copied"
# context: bind
out=$("$NUCLEUS" run --context "$T/ctx" --context-mode bind -- sh -c 'cat /context/sub/n.txt; (echo x > /context/new) 2>/dev/null && echo wrote')
is "$out" nested "context bind: readable, read-only"
ok "$([ ! -e "$T/ctx/new" ]; echo $?)" "context bind: nothing written to the host"
# context: rw, the agent's edits land in the caller's tree (and what it
# builds there runs, unless --noexec-workspace)
mkdir -p "$T/rwctx"
printf 'int main(void){return 5;}\n' > "$T/rwctx/m.c"
if command -v gcc >/dev/null; then
  out=$("$NUCLEUS" run --context "$T/rwctx" --context-mode rw -- sh -c 'gcc m.c -o m && ./m; echo "rc=$?"; echo edited > notes.txt; pwd')
  is "$out" "$(printf 'rc=5\n/context')" "context rw: a program built in /context runs; /context is the workdir"
  is "$(cat "$T/rwctx/notes.txt" 2>/dev/null)" edited "context rw: the edit is in the host's tree"
  "$NUCLEUS" run --context "$T/rwctx" --context-mode rw --noexec-workspace -- ./m 2>/dev/null
  is "$?" 126 "context rw with --noexec-workspace: nothing in it runs"
else
  skip "gcc not installed" 3
fi
chown -R 1000:1000 "$T/rwctx"
out=$("$NUCLEUS" run --user 1000 --context "$T/rwctx" --context-mode rw -- sh -c 'echo mine > mine.txt && cat mine.txt')
is "$out" mine "context rw as --user 1000 in a tree of its own"
is "$(stat -c %u:%g "$T/rwctx/mine.txt")" 1000:1000 "... the file is the user's on the host"
out=$("$NUCLEUS" run --user 4242 --context "$T/rwctx" --context-mode rw -- sh -c 'echo x > theirs.txt' 2>&1)
ok "$([ ! -e "$T/rwctx/theirs.txt" ]; echo $?)" "... a user the tree is not writable for cannot write it (host permissions hold)"

# volumes
mkdir -p "$T/vol"
out=$("$NUCLEUS" run -v "$T/vol:/data" -- sh -c 'echo hi > /data/f && cat /data/f')
is "$out" hi "rw volume is writable"
is "$(cat "$T/vol/f")" hi "rw volume writes reach the host"
out=$(probe_run -v "$T/vol:/data:ro" -- write /data/g)
is "$(value write <<<"$out")" EROFS "ro volume is read-only"

# --- identity and environment ---------------------------------------------------------
out=$(probe_run -- ids)
is "$(value uid <<<"$out")" 0,0,0 "default uid is 0"
is "$(value groups <<<"$out")" "" "root's host supplementary groups are cleared"
out=$(probe_run --user 4242 -- ids)
is "$(value uid <<<"$out")" 4242,4242,4242 "--user 4242"
is "$(value gid <<<"$out")" 0,0,0 "numeric --user without a passwd entry gets gid 0"
if [ "$(getent passwd nobody | cut -d: -f3)" = 65534 ]; then
  out=$(probe_run --user nobody -- ids)
  is "$(value uid <<<"$out")" 65534,65534,65534 "--user nobody resolves the name"
else
  skip "this host has no user nobody of uid 65534"
fi
# the CLI reads the host's passwd and group files itself and asks getent(1)
# for the rest (a static glibc loads no NSS module): without getent on the
# PATH, a user the files lack still runs as its number, an unknown name fails
out=$(PATH=/nonexistent "$NUCLEUS" run --rm --user 4242 -- /usr/bin/id -un 2>&1)
is "$out" u4242 "--user 4242 without getent on the PATH: the numeric user"
out=$(PATH=/nonexistent "$NUCLEUS" run --rm --user no-such-user -- /usr/bin/true 2>&1)
is "$?:$out" '125:nucleus: unknown user "no-such-user"' "an unknown name without getent: one line, 125"
out=$(probe_run --user 1000 --group 1000 --additional-group 5 --additional-group 1000 -- ids)
is "$(value gid <<<"$out")" 1000,1000,1000 "--group sets the primary group"
is "$(value groups <<<"$out")" 5 "--additional-group, duplicates of the primary dropped"
out=$(probe_run --user 1000:2000 -- ids)
is "$(value gid <<<"$out")" 2000,2000,2000 "--user UID:GID"
out=$("$NUCLEUS" run --user 4242 -- sh -c 'echo ok > /tmp/f && cat /tmp/f && echo $HOME && touch $HOME/x && echo home')
is "$out" "$(printf 'ok\n/home/u4242\nhome')" "a non-root user can write /tmp and its home"

out=$(FOO_FROM_HOST=leak "$NUCLEUS" run -- env | sort | tr '\n' ' ')
is "$out" "HOME=/root HOSTNAME=$(echo "$out" | value HOSTNAME) PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin " "the environment is clean"
out=$("$NUCLEUS" run -e A=1 -e B=two=2 -e PATH=/bin -e EMPTY= -- /usr/bin/env | sort | tr '\n' ' ')
like "$out" "A=1 B=two=2 EMPTY= HOME=" "-e KEY=VALUE, split at the first ="
like "$out" "PATH=/bin " "-e overrides a default"
out=$(FROMHOST=yes "$NUCLEUS" run -e FROMHOST -e UNSET_XYZ -- /usr/bin/env | grep -E 'FROMHOST|UNSET' | tr '\n' ' ')
is "$out" "FROMHOST=yes " "-e KEY copies from the caller; unset keys are skipped"
out=$("$NUCLEUS" run -w /srv/job -- pwd)
is "$out" /srv/job "--workdir is created and entered"
out=$(probe_run -- fds)
is "$(value fds <<<"$out")" 0,1,2 "only fds 0, 1, 2 reach the workload"
exec 7>"$T/leak"
out=$(probe_run -- fds)
exec 7>&-
is "$(value fds <<<"$out")" 0,1,2 "an fd open in the caller does not leak"
out=$(probe_run --ulimit nofile=256:512 -- limits)
is "$(value nofile <<<"$out")" 256,512 "--ulimit nofile"

# --- signals ----------------------------------------------------------------
for sig in INT TERM HUP QUIT USR1 USR2; do
  # a background job of a script ignores SIGINT and SIGQUIT: start nucleus
  # with default dispositions, as from a terminal
  env --default-signal=INT,QUIT "$NUCLEUS" run -v "$PROBE_DIR:/opt/probe:ro" -- /opt/probe/probe signals > "$T/sig.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q ready "$T/sig.out" 2>/dev/null && break; sleep 0.02; done
  kill -"$sig" "$pid"
  [ "$sig" = TERM ] || { sleep 0.1; kill -TERM "$pid"; }
  wait "$pid"
  rc=$?
  num=$(kill -l "$sig")
  like "$(cat "$T/sig.out")" "signal=$num" "SIG$sig reaches the workload"
  is "$rc" 0 "workload handling SIG$sig exits normally"
done
"$NUCLEUS" run -- sleep 30 &
pid=$!
sleep 0.3
is "$(ls "/proc/$pid/task" | wc -l)" 1 "the supervisor runs one thread while its container runs (the namespace's thread is joined)"
kill -TERM "$pid"
wait "$pid"
is "$?" 143 "SIGTERM to nucleus stops a workload without a handler (143)"

# ^C: the workload dies of SIGINT, and so does nucleus, so that a shell
# loop around it stops as it would around any program
out=$(python3 - "$NUCLEUS" <<'PY'
import signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "run", "--", "sleep", "30"],
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(0.4)
p.send_signal(signal.SIGINT)
print(p.wait())
PY
)
is "$out" -2 "SIGINT: the workload dies of it, and nucleus dies of SIGINT too (a shell sees 130)"
# a signal our caller ignores (nohup) is not passed on, and stays ignored inside
out=$(python3 - "$NUCLEUS" "$PROBE_DIR" <<'PY'
import signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "run", "-v", sys.argv[2] + ":/opt/probe:ro", "--", "/opt/probe/probe", "sleep", "1"],
                     preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
time.sleep(0.4)
p.send_signal(signal.SIGHUP)
print(p.wait())
PY
)
is "$out" 0 "nohup: an ignored SIGHUP is neither forwarded nor fatal"

# the container dies with nucleus
"$NUCLEUS" run -- sleep 3044 &
pid=$!
sleep 0.3
child=$(pgrep -P "$pid" | head -1)
kill -KILL "$pid"
wait "$pid" 2>/dev/null
for _ in $(seq 50); do [ -d "/proc/$child" ] || break; sleep 0.05; done
ok "$([ ! -d "/proc/$child" ]; echo $?)" "SIGKILL of nucleus kills the container"
ok "$(pgrep -f 'sleep 3044' >/dev/null; [ $? -ne 0 ]; echo $?)" "no workload process survives"
# the killed supervisor could not clean up: rm does (record and cgroup)
"$NUCLEUS" rm $("$NUCLEUS" ps -a -q) >/dev/null

# the workload's status comes from the init before the init's own exit;
# what the workload left running dies with the init, and its cgroup goes
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
cgs=$(ls "$cg2/nucleus" 2>/dev/null | grep -cE '^[0-9a-f]{32}$')
"$NUCLEUS" run --rm -- sh -c 'sleep 3045 & exit 3'
is "$?" 3 "a workload that leaves a process behind: its own exit status"
pgrep -f 'sleep 3045' >/dev/null
is "$?" 1 "... the process it left is gone when run returns"
is "$(ls "$cg2/nucleus" 2>/dev/null | grep -cE '^[0-9a-f]{32}$')" "$cgs" "... and so is its cgroup"

is "$(host_state)" "$before" "no mount or process left on the host"
done_testing

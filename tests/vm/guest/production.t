#!/usr/bin/env bash
# Runs INSIDE the test VM: a production service from a prepared root (busybox
# httpd as a non-root user with a secret) starts, serves, has its zombies
# reaped by the init, receives SIGTERM through it and stops with its exit
# code; the mount audit passes; the secret is the workload user's alone;
# hidepid hides every other process; the audit log tells the story.
# shellcheck source=../../lib/guest.sh
. "$(dirname "$0")/../../lib/guest.sh"
command -v busybox >/dev/null || skip_all "busybox is needed for the prepared root"
export NUCLEUS_STATE_DIR=/run/nucleus-prod-test
W=$(mktemp -d)
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/www"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in sh httpd wget cat ls ps sleep stat head; do ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0::/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nweb:x:1000:\n' > "$R/etc/group"
echo hello-from-production > "$R/www/index.html"
printf 'api-key' > "$W/token"
chmod 0600 "$W/token"

# a journal for the audit events (journald outside systemd, as in the VM)
jd=
if [ -x /lib/systemd/systemd-journald ]; then
  mkdir -p /run/systemd/journal /run/log/journal
  /lib/systemd/systemd-journald >/dev/null 2>&1 &
  jd=$!
  for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
fi

pin=$("$N" rootfs attest "$R")

# the service: orphans that become zombies under the init, then httpd in
# the foreground (it dies of SIGTERM: 143); its root attested and pinned
"$N" run --service-mode production --name svc --memory 64M --pids 64 --rootfs "$R" --user web \
  --rootfs-attestation-sha256 "$pin" \
  --secret "$W/token:/run/secrets/token" -- \
  /bin/sh -c '(sleep 0.1 &); (sleep 0.1 &); (sleep 0.1 &); sleep 1; ps -o pid,stat,comm > /tmp/ps; ls /proc > /tmp/proc; exec httpd -f -p 127.0.0.1:8080 -h /www' &
sup=$!
up=1
for _ in $(seq 200); do
  "$N" exec svc wget -q -O - http://127.0.0.1:8080/index.html >"$W/page" 2>/dev/null && { up=0; break; }
  sleep 0.1
done
ok $up "the service starts and serves"
is "$(cat "$W/page")" hello-from-production "  ... the page from the prepared root"
out=$("$N" exec svc cat /tmp/ps)
like "$out" "sh" "the service saw its own processes"
unlike "$out" " Z " "the init reaps the orphans (no zombie)"
unlike "$out" "^ *1 " "hidepid: the init (root) is invisible to the workload user"
is "$("$N" exec svc cat /tmp/proc | grep -c -v '^[0-9]*$' | tr -d ' ')" 2 "subset=pid: /proc holds only process entries (and self, thread-self)"
is "$("$N" exec svc stat -c '%a %u' /run/secrets/token)" "400 1000" "the secret is 0400 and the workload user's"
is "$("$N" exec svc cat /run/secrets/token)" api-key "  ... readable by the workload"
# issue 16 (8): every tmpfs bounded, by --memory here
is "$("$N" exec svc sh -c 'for d in / /tmp /home/web /dev/shm /run/secrets; do stat -f -c "%S*%b" $d; done' \
     | while read -r x; do printf '%s ' $((x)); done)" "67108864 67108864 67108864 67108864 1048576 " \
  "issue 16: the root, /tmp and the home are --memory's 64M, /dev/shm 64M, the secrets 1M"
out=$("$N" exec svc sh -c 'echo x > /etc/passwd' 2>&1)
like "$out" "Read-only|Permission denied" "the prepared root is read-only"
"$N" stop -t 10 svc >/dev/null
wait "$sup"
is "$?" 143 "SIGTERM reaches the service through the init; its status is the exit code (143)"
log=$(cat "$NUCLEUS_STATE_DIR"/containers/*.audit.jsonl)
for ev in container_start security_applied mount_audit_passed container_stop; do
  like "$log" "\"event\":\"$ev\"" "audit log: $ev"
done
like "$log" '"exit_code":143' "audit log: the exit code"
like "$log" '"landlock_rules":[1-9]' "audit log: the security steps applied"
if [ -n "$jd" ] && [ -S /run/systemd/journal/socket ]; then
  sleep 0.5
  j=$(journalctl -t nucleus --no-pager -o cat 2>/dev/null)
  like "$j" "nucleus container_start [0-9a-f]{12}" "the audit events reach the journal too"
  like "$(journalctl -t nucleus --no-pager -o export 2>/dev/null | grep -a NUCLEUS_EVENT)" "NUCLEUS_EVENT=container_stop" \
    "  ... with their fields"
  kill "$jd"
else
  skip "no systemd-journald" 2
fi
"$N" rm svc >/dev/null
# no host root as the workload (issue 28)
n0=$(ls "$NUCLEUS_STATE_DIR/containers" | wc -l)
out=$("$N" run --rm --service-mode production --memory 64M --rootfs "$R" -- true 2>&1)
like "$out" "production mode runs no workload as host root" "production without --user is refused"
is "$(ls "$NUCLEUS_STATE_DIR/containers" | wc -l)" "$n0" "  ... before anything starts: no record"
# several tmpfs mounts each at the bound: their pages are the container's
# memory, so together they stay within --memory
out=$("$N" run --rm --service-mode production --memory 64M --rootfs "$R" --user web -- \
  sh -c 'head -c 40M /dev/zero > /tmp/a 2>/dev/null; head -c 40M /dev/zero > /home/web/b 2>/dev/null
         echo sum=$(( $(stat -c %s /tmp/a) + $(stat -c %s /home/web/b) ))' 2>&1)
rc=$?
sum=$(grep -o 'sum=[0-9]*' <<<"$out" | cut -d= -f2)
ok "$([ "$rc" -ne 0 ] || { [ -n "$sum" ] && [ "$sum" -lt 67108864 ]; }; echo $?)" \
  "issue 16: 40M in /tmp and 40M in the home do not both fit in --memory 64M (exit $rc, ${sum:-?} bytes written)"

rm -rf "$W" "$NUCLEUS_STATE_DIR"
done_testing

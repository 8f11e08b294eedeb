#!/usr/bin/env bash
# Production mode on this host: every invariant refused with its message
# and nothing left behind; the refusal where cgroup v2 lacks controllers;
# the mount audit's own check; secrets and systemd credentials (which agent
# mode has too).  The service itself runs in the VM: tests/vm/guest/production.t.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
R=$T/rootfs
mkdir -p "$R/bin"
cp "$(command -v busybox 2>/dev/null || echo /bin/true)" "$R/bin/" 2>/dev/null

check() { check_fails 125 "$@"; }
P=(run --service-mode production --memory 64M --rootfs "$R")
check "forbids --allow-degraded-security" "degraded security" -- "${P[@]}" --allow-degraded-security -- true
check "forbids --allow-chroot-fallback" "chroot fallback" -- "${P[@]}" --allow-chroot-fallback -- true
check "forbids --allow-host-network" "host network" -- "${P[@]}" --network host --allow-host-network -- true
check "forbids --seccomp-mode trace" "trace mode" -- "${P[@]}" --seccomp-mode trace --seccomp-log "$T/x" -- true
# the host's own root or system trees are no prepared root (refused by
# name, not left to the mount audit); a link to / is resolved first
ln -s / "$T/rootlink"
for r in / /usr /etc/ssl /proc "$T/rootlink"; do
  check_fails 125 "the host's own (root|system tree), not a prepared root" "--rootfs $r is refused" \
    -- run --service-mode production --rootfs "$r" --memory 64M -- true
done
check "requires --memory" "no memory limit" -- run --service-mode production --rootfs "$R" -- true
# a service is no host root (issue 28): --user, a user other than root
for u in "" "--user root" "--user 0" "--user 0:0"; do
  # shellcheck disable=SC2086 # no option, or one with its value
  check_fails 125 "^nucleus: production mode runs no workload as host root: give --user \(a user other than root\)\$" \
    "production refuses host root as the workload (${u:-no --user})" -- "${P[@]}" $u -- true
done
check "requires --rootfs DIR" "no rootfs" -- run --service-mode production --memory 64M -- true
check "rootfs \"$T/none\": No such file" "missing rootfs" -- run --service-mode production --memory 64M --rootfs "$T/none" -- true
check "--rootfs is for --service-mode production" "rootfs in agent mode" -- run --rootfs "$R" -- true
mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [[ " $(cat "$mount/cgroup.controllers" 2>/dev/null) " != *" memory "* ]]; then
  check "production mode needs its cgroup and every limit: cgroup v2 controller memory not available" \
    "no memory controller on this host: production refuses" -- "${P[@]}" --user 1000 -- /bin/true
else
  skip "this host has the memory controller" 3
fi
is "$(ls "$NUCLEUS_STATE_DIR/containers" 2>/dev/null | grep -cE '^[0-9a-f]{32}$')" 1 "only the refused start's record remains (for its audit log)"
like "$(cat "$NUCLEUS_STATE_DIR"/containers/*.audit.jsonl 2>/dev/null)" '"event":"container_failed"' "its audit log says why"
like "$("$NUCLEUS" inspect $(ls "$NUCLEUS_STATE_DIR/containers" | grep -E '^[0-9a-f]{32}$'))" \
  '"error": "production mode needs' "its record says why, and that it exited"
"$NUCLEUS" rm $(ls "$NUCLEUS_STATE_DIR/containers" | grep -E '^[0-9a-f]{32}$') >/dev/null 2>&1
is "$(ls "$NUCLEUS_STATE_DIR/containers" | wc -l)" 0 "rm removes the record and its audit log"

# --- rootfs attestation and kernel lockdown, checked on the host before start ---
A=$T/attested
mkdir -p "$A/bin" "$A/etc"
printf 'x' > "$A/bin/tool"
ln -s tool "$A/bin/link"
pin=$("$NUCLEUS" rootfs attest "$A")
like "$pin" "^[0-9a-f]{64}$" "rootfs attest prints the manifest's SHA-256"
is "$(sha256sum "$A/.nucleus-rootfs-sha256" | cut -d' ' -f1)" "$pin" "  ... of the manifest it wrote at the top of the tree"
AP=(run --service-mode production --memory 64M --rootfs "$A")
printf 'y' > "$A/bin/tool"
check "rootfs attestation $A: bin/tool: modified \(content\)" "a modified file is caught" -- "${AP[@]}" --verify-rootfs-attestation -- /bin/tool
printf 'x' > "$A/bin/tool"
printf 'new' > "$A/etc/added"
check "etc/added: added" "an added file is caught" -- "${AP[@]}" --verify-rootfs-attestation -- /bin/tool
rm "$A/etc/added"
ln -sf /etc/shadow "$A/bin/link"
check "bin/link: modified \(symlink target\)" "a swapped symlink is caught" -- "${AP[@]}" --verify-rootfs-attestation -- /bin/tool
ln -sf tool "$A/bin/link"
cp "$A/.nucleus-rootfs-sha256" "$T/manifest.bak"
chmod u+w "$A/.nucleus-rootfs-sha256"
echo "f 0644 $(printf 'z' | sha256sum | cut -d' ' -f1) bin/evil" >> "$A/.nucleus-rootfs-sha256"
check "SHA-256 mismatch: pinned $pin, manifest has [0-9a-f]{64}" "a rewritten manifest is caught by the pin" \
  -- "${AP[@]}" --rootfs-attestation-sha256 "$pin" -- /bin/tool
check "rootfs attestation needs --rootfs" "attestation without a rootfs" -- run --verify-rootfs-attestation -- true
if [ ! -e /sys/kernel/security/lockdown ]; then
  check "kernel lockdown cannot be determined" "lockdown required where it cannot be read" -- run --require-kernel-lockdown integrity -- true
else
  lk=$(grep -o '\[[a-z]*\]' /sys/kernel/security/lockdown | tr -d '[]')
  if [ "$lk" = none ]; then
    check 'kernel lockdown is "none", integrity is required' "lockdown none refused" -- run --require-kernel-lockdown integrity -- true
  else
    skip "kernel lockdown is $lk here" 3
  fi
fi
check "rootfs: expected 'attest DIR'" "rootfs without attest" -- rootfs frobnicate

# --- context integrity ------------------------------------------------------------
C=$T/ctxi
mkdir -p "$C/sub"
echo a > "$C/f"
echo b > "$C/sub/g"
echo secret > "$C/.env"
out=$("$NUCLEUS" run --context "$C" --verify-context-integrity -- cat /context/f)
is "$out" a "--verify-context-integrity: an unchanged context passes (copy)"
out=$("$NUCLEUS" run --context "$C" --context-mode bind --verify-context-integrity -- cat /context/sub/g)
is "$out" b "--verify-context-integrity: an unchanged context passes (bind)"
# a context that changes while the container starts
( while :; do echo x >> "$C/f"; done ) &
writer=$!
mismatch=1
for _ in 1 2 3 4 5; do
  out=$("$NUCLEUS" run --context "$C" --verify-context-integrity -- true 2>&1)
  rc=$?
  if [ $rc = 125 ]; then mismatch=0; break; fi
done
kill "$writer"; wait "$writer" 2>/dev/null
ok $mismatch "a context changed between the hash and the copy is refused"
like "$out" "context $C: integrity mismatch: manifest [0-9a-f]{64} before launch, [0-9a-f]{64} in /context" "  ... naming both hashes"
check "--verify-context-integrity needs --context" "integrity without a context" -- run --verify-context-integrity -- true

# --- the mount audit itself: a mount the plan asked read-only, covered by a
# writable one, is caught after pivot_root -----------------------------------
out=$(lua5.4 - "$ROOT" <<'LUA' 2>&1
local root = arg[1]
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/build/lua/?.lua;" .. package.path
package.cpath = root .. "/build/lib/?.so;" .. package.cpath
local core = require "nucleus.core"
local base = { argv = { "/bin/true" }, namespaces = { "mount", "pid" }, audit_mounts = true,
  mounts = { { kind = "bind", source = "/usr", target = "/usr", flags = { "ro", "nosuid", "nodev", "recursive" } },
             { kind = "symlink", target = "/bin", link = "usr/bin" }, { kind = "symlink", target = "/lib64", link = "usr/lib64" },
             { kind = "symlink", target = "/lib", link = "usr/lib" },
             { kind = "proc", target = "/proc" },
             { kind = "tmpfs", target = "/data", flags = { "ro" } } } }
local plan = assert(core.plan_compile(base))
local p, err = core.spawn(plan)
print("clean: " .. tostring(p and p:wait() or err))
table.insert(base.mounts, { kind = "tmpfs", target = "/data" }) -- writable, on top
plan = assert(core.plan_compile(base))
p, err = core.spawn(plan)
print("covered: " .. tostring(p and p:wait() or err))
LUA
)
like "$out" "clean: 0" "mount audit: a plan that holds passes"
like "$out" "covered: mount: mount audit: flags differ from the plan on /data" "mount audit: a read-only mount covered by a writable one is fatal"

# --- secrets (agent mode here; production has the same) --------------------------
printf 's3cret' > "$T/token"
chmod 0600 "$T/token"
out=$(probe_run --user 4242 --secret "$T/token:/run/secrets/token" -- stat /run/secrets/token)
is "$(value mode <<<"$out")" 0400 "a secret is mode 0400"
is "$(value uid <<<"$out")" 4242 "  ... owned by the workload's user"
out=$("$NUCLEUS" run --user 4242 --secret "$T/token:/run/secrets/token" -- cat /run/secrets/token)
is "$out" s3cret "  ... and readable by it"
out=$("$NUCLEUS" run --user 4242 --secret "$T/token:/run/secrets/token" -- sh -c 'echo x > /run/secrets/token 2>&1; echo y > /run/secrets/new 2>&1' 2>&1)
like "$out" "Permission denied|Read-only" "  ... not writable, and nothing can be added next to it"
mkdir -p "$T/creds"
printf 'cred-value' > "$T/creds/db"
out=$(CREDENTIALS_DIRECTORY=$T/creds "$NUCLEUS" run --systemd-credential db:/run/secrets/db -- cat /run/secrets/db)
is "$out" cred-value "--systemd-credential reads \$CREDENTIALS_DIRECTORY/NAME"
check "secret $T/none: No such file or directory" "missing secret" -- run --secret "$T/none:/run/secrets/x" -- true
check "secret $T/creds: not a regular file" "a directory as secret" -- run --secret "$T/creds:/run/secrets/x" -- true
ln -s "$T/token" "$T/link"
check "secret $T/link: Too many levels of symbolic links" "a symlink as secret" -- run --secret "$T/link:/run/secrets/x" -- true
# a FIFO as secret: refused, never waited on (under timeout(1): a hang fails)
mkfifo "$T/fifo"
printf '#!/bin/sh\nexec timeout 10 "%s" "$@"\n' "$NUCLEUS" > "$T/nucleus-timed"
chmod +x "$T/nucleus-timed"
NUCLEUS=$T/nucleus-timed check "secret $T/fifo: not a regular file" "a FIFO as secret" -- run --secret "$T/fifo:/run/secrets/x" -- true
check "the destination must be a file directly in /run/secrets" "secret outside /run/secrets" -- run --secret "$T/token:/etc/token" -- true
check "is given twice" "two secrets at one place" -- run --secret "$T/token:/run/secrets/a" --secret "$T/token:/run/secrets/a" -- true
check "expected SRC:DEST" "malformed secret" -- run --secret "$T/token" -- true
check "CREDENTIALS_DIRECTORY is not set" "credential without the directory" -- run --systemd-credential db:/run/secrets/db -- true
check 'invalid systemd credential "a/b:/run/secrets/x"' "credential name with /" -- run --systemd-credential a/b:/run/secrets/x -- true

# the supervisor forgets a secret once the workload has it: its bytes are
# nowhere in the supervisor's memory while the container runs
printf '%s' "never-$RANDOM$RANDOM-seen-$RANDOM$RANDOM" > "$T/needle"
"$NUCLEUS" run --secret "$T/needle:/run/secrets/n" -- sh -c 'wc -c < /run/secrets/n > /dev/null; sleep 30' &
sup=$!
for _ in $(seq 100); do
  [ -n "$(ls "$T/state/containers" 2>/dev/null)" ] && pgrep -P "$sup" >/dev/null && break
  sleep 0.05
done
count=$(python3 - "$sup" "$T/needle" <<'PY'
import sys
pid, needle = sys.argv[1], open(sys.argv[2], "rb").read()
n = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        addr, perms = line.split()[:2]
        if not perms.startswith("r"):
            continue
        lo, hi = (int(x, 16) for x in addr.split("-"))
        try:
            mem.seek(lo)
            n += mem.read(hi - lo).count(needle)
        except (OSError, ValueError, OverflowError):
            pass
print(n)
PY
)
kill -TERM "$sup"
wait "$sup" 2>/dev/null
is "$count" 0 "a secret's bytes are gone from the supervisor's memory once the workload runs"

is "$(host_state)" "$before" "nothing left behind"
done_testing

#!/usr/bin/env bash
# Security policy files: OCI seccomp profiles (actions, argument filters,
# architectures), capability and Landlock policies in TOML, SHA-256 pins,
# --seccomp-allow, --seccomp-log-denied, `nucleus policy check`, and every
# kind of bad input.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
P=$T/pol
mkdir -p "$P"

# A profile built from the default one: the default allow-list, plus rules
# of the kind under test.  $1 = extra JSON rules, $2 = file.
make_profile() {
  lua5.4 - "$ROOT/policies/default.seccomp.json" "$2" "$1" <<'LUA'
local cjson = require "cjson"
local f = assert(io.open(arg[1])); local p = cjson.decode(f:read("a")); f:close()
local extra = cjson.decode(arg[3])
-- drop the tested names from the default rules, then add the test rules
local drop = {}
for _, r in ipairs(extra) do for _, n in ipairs(r.names) do drop[n] = true end end
local rules = {}
for _, r in ipairs(p.syscalls) do
  local names = {}
  for _, n in ipairs(r.names) do if not drop[n] then names[#names + 1] = n end end
  if #names > 0 then r.names = names; rules[#rules + 1] = r end
end
for _, r in ipairs(extra) do rules[#rules + 1] = r end
p.syscalls = rules
local o = assert(io.open(arg[2], "w")); o:write(cjson.encode(p)); o:close()
LUA
}

# --- seccomp profiles ----------------------------------------------------------
make_profile '[{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
               {"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":97,"args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]' "$P/unix.json"
out=$(probe_run --seccomp-profile "$P/unix.json" -- syscall socket-unix)
is "$(value socket-unix <<<"$out")" ok "argument filter: socket(AF_UNIX) allowed"
out=$(probe_run --seccomp-profile "$P/unix.json" -- syscall socket-inet)
is "$(value socket-inet <<<"$out")" EAFNOSUPPORT "argument filter: socket(AF_INET) gets the rule's errno"

make_profile '[{"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]' "$P/errno.json"
out=$(probe_run --seccomp-profile "$P/errno.json" -- syscall getpid)
is "$(value getpid <<<"$out")" EACCES "action errno with errnoRet"
make_profile '[{"names":["getpid"],"action":"SCMP_ACT_KILL_PROCESS"}]' "$P/kill.json"
out=$(probe_run --seccomp-profile "$P/kill.json" -- syscall getpid)
is "$(value getpid <<<"$out")" signal:31 "action kill"
make_profile '[{"names":["getpid"],"action":"SCMP_ACT_TRAP"}]' "$P/trap.json"
out=$(probe_run --seccomp-profile "$P/trap.json" -- syscall getpid)
is "$(value getpid <<<"$out")" signal:31 "action trap (SIGSYS)"
make_profile '[{"names":["getpid"],"action":"SCMP_ACT_LOG"}]' "$P/log.json"
out=$(probe_run --seccomp-profile "$P/log.json" -- syscall getpid)
is "$(value getpid <<<"$out")" ok "action log: the call proceeds"
out=$(probe_run --seccomp-profile "$P/log.json" -- syscall-x32 getpid)
is "$(value x32 <<<"$out")" signal:31 "a profile file blocks the x32 ABI"
if host_abi i386; then
  out=$(probe_run --seccomp-profile "$P/log.json" -- syscall-i386 getpid)
  is "$(value i386 <<<"$out")" signal:31 "a profile file blocks the i386 ABI"
else
  skip "the host itself has no i386 syscall ABI (int \$0x80 faults outside any container)"
fi
out=$(probe_run --seccomp-profile "$P/log.json" -- syscall unknown)
is "$(value unknown <<<"$out")" ENOSYS "defaultAction/defaultErrnoRet honoured"

sum=$(sha256sum "$P/errno.json" | cut -d' ' -f1)
out=$(probe_run --seccomp-profile "$P/errno.json" --seccomp-profile-sha256 "$sum" -- syscall getpid)
is "$(value getpid <<<"$out")" EACCES "pinned profile with the right hash runs"
out=$(probe_run --seccomp-profile "$P/errno.json" --seccomp-profile-sha256 "${sum^^}" -- syscall getpid)
is "$(value getpid <<<"$out")" EACCES "the pin compares case-insensitively"

# --seccomp-allow and --seccomp-log-denied on the built-in profile
out=$(probe_run -- syscall kcmp)
is "$(value kcmp <<<"$out")" EPERM "kcmp denied by default"
out=$(probe_run --seccomp-allow kcmp -- syscall kcmp)
is "$(value kcmp <<<"$out")" ok "--seccomp-allow kcmp allows it"
out=$(probe_run --seccomp-allow kcmp -- syscall mount)
is "$(value mount <<<"$out")" EPERM "--seccomp-allow leaves the rest denied"
out=$("$NUCLEUS" run --seccomp-log-denied --dry-run -- true | grep seccomp_flags)
like "$out" '"seccomp_flags": 2' "--seccomp-log-denied sets SECCOMP_FILTER_FLAG_LOG"
out=$(probe_run --seccomp-log-denied -- syscall getpid)
is "$(value getpid <<<"$out")" ok "--seccomp-log-denied loads"
# the kernel logs a denied call (audit type=1326), read from /dev/kmsg from
# its current end (never clearing the shared ring buffer)
if [ -r /dev/kmsg ] && command -v python3 >/dev/null; then
  out=$(python3 - "$NUCLEUS" "$PROBE_DIR" <<'PY'
import os, subprocess, sys, time
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
os.lseek(fd, 0, os.SEEK_END)
subprocess.run([sys.argv[1], "run", "-v", sys.argv[2] + ":/opt/probe:ro", "--seccomp-log-denied",
                "--", "/opt/probe/probe", "syscall", "acct"], stdout=subprocess.DEVNULL)
time.sleep(0.3)
lines = []
while True:
    try:
        lines.append(os.read(fd, 8192).decode(errors="replace"))
    except BlockingIOError:
        break
    except OSError:
        continue
print("".join(l for l in lines if "type=1326" in l and "probe" in l))
PY
)
  like "$out" "type=1326.*syscall=163" "--seccomp-log-denied: the denied acct() reaches the kernel log"
else
  skip "/dev/kmsg is not readable here"
fi

# --- capability policies ----------------------------------------------------------
cat > "$P/bind.caps.toml" <<'EOF'
# a web server that binds port 80 as a non-root user
[bounding]
keep = ["NET_BIND_SERVICE"]
[ambient]
keep = ["CAP_NET_BIND_SERVICE"]
EOF
bind80='import socket; s=socket.socket(); s.bind(("127.0.0.1", 80)); print("bound")'
out=$("$NUCLEUS" run --user 4242 --caps-policy "$P/bind.caps.toml" -- python3 -c "$bind80" 2>&1)
is "$out" bound "caps policy: a non-root workload keeps NET_BIND_SERVICE and binds port 80"
out=$("$NUCLEUS" run --user 4242 -- python3 -c "$bind80" 2>&1)
like "$out" "Permission denied" "default: port 80 cannot be bound"
out=$(probe_run --user 4242 --caps-policy "$P/bind.caps.toml" -- caps)
is "$(value capamb <<<"$out")" 0000000000000400 "ambient set as the policy says"
is "$(value capbnd <<<"$out")" 0000000000000400 "bounding set as the policy says"
printf '' > "$P/none.caps.toml"
out=$(probe_run --caps-policy "$P/none.caps.toml" -- caps)
is "$(value capbnd <<<"$out")" 0000000000000000 "an empty policy drops everything"

# --- Landlock policies ----------------------------------------------------------
cat > "$P/noexec.landlock.toml" <<'EOF'
min_abi = 1
[[rules]]
path = "/usr"
access = ["read", "execute"]
[[rules]]
path = "/opt/probe"
access = ["read"]
EOF
sed 's/access = \["read"\]$/access = ["read", "execute"]/' "$P/noexec.landlock.toml" > "$P/exec.landlock.toml"
out=$(probe_run --landlock-policy "$P/noexec.landlock.toml" -- pid 2>&1)
is "$?" 126 "Landlock policy: read without execute stops execution (126)"
like "$out" "cannot execute: Permission denied" "  ... with a message"
out=$(probe_run --landlock-policy "$P/exec.landlock.toml" -- read /usr/bin/env)
is "$(value read <<<"$out")" ok "Landlock policy: read allowed where granted"
out=$(probe_run --landlock-policy "$P/exec.landlock.toml" -- read /etc/passwd)
is "$(value read <<<"$out")" EACCES "Landlock policy replaces the defaults (no /etc)"
printf 'min_abi = 99\n' > "$P/future.landlock.toml"

# --- policy check ----------------------------------------------------------------
out=$("$NUCLEUS" policy check "$ROOT/policies/default.seccomp.json" "$P/bind.caps.toml" "$P/exec.landlock.toml")
is "$?" 0 "policy check: valid files"
like "$out" "^seccomp	$(sha256sum "$ROOT/policies/default.seccomp.json" | cut -d' ' -f1)	" "policy check: kind and SHA-256"
like "$out" "caps	$(sha256sum "$P/bind.caps.toml" | cut -d' ' -f1)	" "policy check: caps"
like "$out" "landlock	[0-9a-f]{64}	" "policy check: landlock"

# --- bad input ---------------------------------------------------------------------
check() { check_fails 125 "$@"; }
printf '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [ oops ]\n}\n' > "$P/bad.json"
check "bad.json:3:17: invalid JSON" "malformed JSON, with its position" -- run --seccomp-profile "$P/bad.json" -- true
printf '{"defaultAction": "SCMP_ACT_ALLOW", "syscall": []}' > "$P/key.json"
check 'unknown key "syscall"' "unknown key in a profile" -- run --seccomp-profile "$P/key.json" -- true
printf '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", "no_such_call"], "action": "SCMP_ACT_ERRNO"}]}' > "$P/sc.json"
check 'syscalls\[1\]: unknown syscall "no_such_call"' "unknown syscall, entry named" -- run --seccomp-profile "$P/sc.json" -- true
printf '{"defaultAction": "SCMP_ACT_MAYBE"}' > "$P/act.json"
check 'unknown action "SCMP_ACT_MAYBE"' "unknown action" -- run --seccomp-profile "$P/act.json" -- true
printf '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}' > "$P/op.json"
check 'unknown op "SCMP_CMP_ABOUT"' "unknown op" -- run --seccomp-profile "$P/op.json" -- true
# two rules that libseccomp 2.5 never finishes compiling (found by fuzz_seccomp)
cat > "$P/hang.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
  {"names": ["ioctl"], "action": "SCMP_ACT_LOG", "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_LE"}, {"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]},
  {"names": ["ioctl"], "action": "SCMP_ACT_LOG", "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_LE"}, {"index": 5, "value": 7, "op": "SCMP_CMP_EQ"}]}]}
EOF
check 'syscalls\[1\], seccomp.syscalls\[2\]: "ioctl" rules sharing a non-EQ comparison, then comparing other arguments, hang libseccomp' \
  "rules that would hang libseccomp are refused, named" -- run --seccomp-profile "$P/hang.json" -- true
cat > "$P/nohang.json" <<'EOF'
{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
  {"names": ["ioctl"], "action": "SCMP_ACT_LOG", "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_LE"}, {"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]},
  {"names": ["ioctl"], "action": "SCMP_ACT_LOG", "args": [{"index": 1, "value": 5, "op": "SCMP_CMP_LE"}, {"index": 2, "value": 7, "op": "SCMP_CMP_EQ"}]}]}
EOF
out=$("$NUCLEUS" policy check "$P/nohang.json" 2>&1)
like "$out" "^seccomp	" "...while the same rules going on to the same argument compile"
check "SHA-256 mismatch: pinned 0{64}, file has $sum" "wrong hash names both" \
  -- run --seccomp-profile "$P/errno.json" --seccomp-profile-sha256 "$(printf '0%.0s' $(seq 64))" -- true
check "is not a SHA-256" "malformed pin" -- run --seccomp-profile "$P/errno.json" --seccomp-profile-sha256 abc -- true
check "given without --seccomp-profile" "pin without a profile" -- run --seccomp-profile-sha256 "$sum" -- true
check "seccomp profile $P/none.json: No such file or directory" "missing profile" -- run --seccomp-profile "$P/none.json" -- true
cp "$P/errno.json" "$P/unreadable.json"
chmod 000 "$P/unreadable.json"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$NUCLEUS" run --seccomp-profile "$P/unreadable.json" -- true 2>&1)
like "$out" "unreadable.json: Permission denied" "unreadable profile"
check "extends the built-in profile" "--seccomp-allow with a profile" -- run --seccomp-profile "$P/errno.json" --seccomp-allow ptrace -- true
check "--seccomp-allow nosuchcall: unknown syscall" "--seccomp-allow unknown name" -- run --seccomp-allow nosuchcall -- true
check "--seccomp-allow socket: the built-in profile filters its arguments; use a profile file" \
  "--seccomp-allow cannot widen socket's family allow-list (issue 16)" -- run --seccomp-allow socket -- true
printf '[bounding]\nkeep = ["NET_BIND_SERVICE", "CAP_TELEPATHY"]\n' > "$P/cap.caps.toml"
check 'cap.caps.toml:2: bounding.keep: unknown capability "CAP_TELEPATHY"' "unknown capability, with its line" \
  -- run --caps-policy "$P/cap.caps.toml" -- true
printf '[permited]\nkeep = []\n' > "$P/typo.caps.toml"
check 'typo.caps.toml:1: unknown key "permited"' "a typo'd table is an error" -- run --caps-policy "$P/typo.caps.toml" -- true
printf '[bounding]\nkeep = []\n[ambient]\nkeep = ["NET_RAW"]\n' > "$P/bnd.caps.toml"
check "not in the bounding set but kept: NET_RAW" "kept outside the bounding set" -- run --caps-policy "$P/bnd.caps.toml" -- true
printf '[bounding]\nkeep = ["CHOWN"\n' > "$P/syntax.caps.toml"
check "syntax.caps.toml:[0-9]+:[0-9]+: " "malformed TOML, with line:col" -- run --caps-policy "$P/syntax.caps.toml" -- true
check "needs Landlock ABI 99" "min_abi above the kernel's" -- run --landlock-policy "$P/future.landlock.toml" -- true
printf '[[rules]]\npath = "/usr"\naccess = ["read", "teleport"]\n' > "$P/right.landlock.toml"
check 'right.landlock.toml:[0-9]+: rules\[1\]: unknown access right "teleport"' "unknown access right" \
  -- run --landlock-policy "$P/right.landlock.toml" -- true
printf 'min_abi = 1\nrule = []\n' > "$P/lkey.landlock.toml"
check 'lkey.landlock.toml:2: unknown key "rule"' "unknown Landlock key" -- run --landlock-policy "$P/lkey.landlock.toml" -- true
check "typo.caps.toml:1: unknown key" "policy check stops at the first invalid file" \
  -- policy check "$P/bind.caps.toml" "$P/typo.caps.toml" "$P/exec.landlock.toml"
check "policy check: no file given" "policy check without files" -- policy check

# issue 16 (9): a policy file is a regular file of at most 1 MiB, opened
# without blocking; a device read forever, a FIFO that hangs the open, a
# directory or a larger file is one line naming the file, before anything
# starts.  Under timeout(1), so that a hang fails instead of hanging.
records=$(ls -A "$T/state/containers" | wc -l)
printf '#!/bin/sh\nexec timeout 10 "%s" "$@"\n' "$NUCLEUS" > "$T/nucleus-timed"
chmod +x "$T/nucleus-timed"
mkfifo "$P/fifo.json"
mkdir "$P/dir.json"
ln -s /dev/zero "$P/zero.json"
# 1 MiB and one byte of comment: valid TOML and, but for its size, a valid policy
{ printf '#'; head -c $((1024 * 1024 - 1)) /dev/zero | tr '\0' x; printf '\n'; } > "$P/big.caps.toml"
head -c $((1024 * 1024 - 1)) "$P/big.caps.toml" > "$P/max.caps.toml"
printf '\n' >> "$P/max.caps.toml"
kinds=("/dev/zero:a character device" "$P/zero.json:a character device" "$P/fifo.json:a FIFO" "$P/dir.json:a directory")
for flag in "--seccomp-profile:seccomp profile" "--caps-policy:capability policy" "--landlock-policy:Landlock policy" \
            "policy check:policy"; do
  opt=${flag%%:*} what=${flag#*:}
  if [ "$opt" = "policy check" ]; then cmd=(policy check); tail=(); else cmd=(run "$opt"); tail=(-- true); fi
  for k in "${kinds[@]}"; do
    f=${k%%:*} kind=${k#*:}
    NUCLEUS=$T/nucleus-timed check "^nucleus: $what $f: not a regular file \($kind\)$" "$opt ${f#"$T"/}: refused" \
      -- "${cmd[@]}" "$f" "${tail[@]}"
  done
  NUCLEUS=$T/nucleus-timed check "^nucleus: $what $P/big.caps.toml: larger than 1 MiB$" "$opt: a file over 1 MiB" \
    -- "${cmd[@]}" "$P/big.caps.toml" "${tail[@]}"
done
out=$("$NUCLEUS" policy check "$P/max.caps.toml" 2>&1)
like "$out" "^caps	" "policy check: a policy of exactly 1 MiB is read"
out=$("$NUCLEUS" run --caps-policy "$P/max.caps.toml" -- true 2>&1)
is "$?:$out" "0:" "run: a policy of exactly 1 MiB is read"
# a FIFO that a writer feeds is still not read (the writer would decide what the policy is)
( exec 3<>"$P/fifo.json"; printf '[bounding]\nkeep = []\n' >&3; sleep 2 ) &
sleep 0.2
NUCLEUS=$T/nucleus-timed check "not a regular file \(a FIFO\)" "a FIFO with a writer is refused too" \
  -- run --caps-policy "$P/fifo.json" -- true
wait
is "$(ls -A "$T/state/containers" | wc -l)" "$((records + 1))" "no record left by the refused policies (one by the run that worked)"

is "$(host_state)" "$before" "nothing left behind"
done_testing

#!/usr/bin/env bash
# Seccomp trace mode and `nucleus seccomp generate`: a complete record of
# every syscall of every process (seccomp user notification), each judged
# by the built-in profile (what it refuses stays refused while tracing),
# turned into the built-in profile cut down to the calls it permitted,
# enforced on the same workloads.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
W=$T/trace
mkdir -p "$W"

# --- the record ---------------------------------------------------------------
"$NUCLEUS" run --seccomp-mode trace --seccomp-log "$W/sh.ndjson" -- /bin/sh -c 'i=0; while [ $i -lt 200 ]; do i=$((i+1)); /bin/true; done; echo done'
is "$?" 0 "a traced workload runs"
lines=$(grep -c . "$W/sh.ndjson")
ok "$([ "$lines" -gt 10 ]; echo $?)" "the record has one line per syscall seen ($lines)"
valid=$(lua5.4 - "$W/sh.ndjson" <<'LUA'
  local cjson = require "cjson"
  local ok = 0
  for l in io.lines(arg[1]) do
    local r = cjson.decode(l)
    if type(r.name) == "string" and math.type(math.tointeger(r.nr)) == "integer"
       and r.arch == "SCMP_ARCH_X86_64" and r.count >= 1 and r.first_pid > 0 then ok = ok + 1 end
  end
  print(ok)
LUA
)
is "$valid" "$lines" "every line is a record: name, nr, arch, count, first process"
execve=$(grep '"name":"execve"' "$W/sh.ndjson" | grep -o '"count":[0-9]*' | cut -d: -f2)
is "$execve" 201 "nothing is lost: 201 execve calls counted (/bin/sh and 200 children)"

# a workload that tries 60 000 numbers no kernel table names: one bucket,
# not one entry each (the supervisor's memory and the record stay bounded)
"$NUCLEUS" run --seccomp-mode trace --seccomp-log "$W/flood.ndjson" -- python3 -c '
import ctypes
libc = ctypes.CDLL(None)
for n in range(1000, 61000):
    libc.syscall(n)
print("flooded")' > "$W/flood.out" 2>&1 &
flood=$!
peak=0
while kill -0 "$flood" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$flood/status" 2>/dev/null)
  [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
  sleep 0.1
done
wait "$flood"
is "$(cat "$W/flood.out")" flooded "a traced workload tries 60 000 unnamed syscall numbers"
ok "$([ "$(grep -c . "$W/flood.ndjson")" -lt 400 ]; echo $?)" "... the record stays small ($(grep -c . "$W/flood.ndjson") lines)"
like "$(grep '"unknown":true' "$W/flood.ndjson")" '"count":60000' "... the unnamed numbers counted in one bucket"
ok "$([ "$peak" -lt 20000 ]; echo $?)" "... and the supervisor stays small (peak ${peak} kB)"
"$NUCLEUS" seccomp generate "$W/flood.ndjson" -o "$W/flood.json"
is "$?" 0 "seccomp generate takes a record with the bucket"
unlike "$(cat "$W/flood.json")" 'syscall_' "... and allows nothing for it"

"$NUCLEUS" run -v "$PROBE_DIR:/opt/probe:ro" --seccomp-mode trace --seccomp-log "$W/child.ndjson" \
  -- sh -c '/opt/probe/probe syscall socket-unix >/dev/null'
like "$(grep '"name":"socket"' "$W/child.ndjson")" '"first_comm":"probe"' \
  "a syscall made only by a grandchild is recorded, with the process that made it"

# --- generate, then enforce -----------------------------------------------------
"$NUCLEUS" seccomp generate "$W/sh.ndjson" -o "$W/sh.json"
is "$?" 0 "generate writes a profile"
"$NUCLEUS" policy check "$W/sh.json" >/dev/null
is "$?" 0 "the generated profile is a valid OCI profile"
out=$("$NUCLEUS" run --seccomp-profile "$W/sh.json" -- /bin/sh -c 'i=0; while [ $i -lt 200 ]; do i=$((i+1)); /bin/true; done; echo done')
is "$out" done "the traced shell workload runs under its generated profile"

py='import json, hashlib, os; print(json.dumps({"h": hashlib.sha256(b"x").hexdigest()[:6], "pid": os.getpid() > 0}))'
"$NUCLEUS" run --seccomp-mode trace --seccomp-log "$W/py.ndjson" -- python3 -c "$py" >/dev/null
"$NUCLEUS" seccomp generate "$W/py.ndjson" -o "$W/py.json" 2>"$W/py.err"
out=$("$NUCLEUS" run --seccomp-profile "$W/py.json" -- python3 -c "$py")
is "$out" '{"h": "2d7116", "pid": true}' "a traced python3 program runs under its generated profile"

"$NUCLEUS" run -v "$PROBE_DIR:/opt/probe:ro" --seccomp-mode trace --seccomp-log "$W/probe.ndjson" \
  -- /opt/probe/probe syscall getpid >/dev/null
"$NUCLEUS" seccomp generate "$W/probe.ndjson" -o "$W/probe.json"
out=$(probe_run --seccomp-profile "$W/probe.json" -- syscall getpid)
is "$(value getpid <<<"$out")" ok "the traced call is allowed"
out=$(probe_run --seccomp-profile "$W/probe.json" -- syscall socket-unix)
is "$(value socket-unix <<<"$out")" ENOSYS "a call never traced is refused with the built-in profile's default errno (ENOSYS)"

# --- the trace keeps the built-in profile's refusals ------------------------------
# each call gets, traced, what it gets under the built-in profile, and the
# record says whether the profile permitted it (a trace that let every call
# through gave unshare(CLONE_NEWUSER) "ok" and kexec_load the kernel's ENOSYS)
for c in getpid kexec_load pivot_root unshare-user clone-newuser socket-vsock socket-unix unknown; do
  enforced=$(probe_run -- syscall "$c" | value "$c")
  traced=$(probe_run --seccomp-mode trace --seccomp-log "$W/p-$c.ndjson" -- syscall "$c" | value "$c")
  is "$traced" "$enforced" "traced, $c gets what the built-in profile gives it ($enforced)"
done
# record FILE NAME: the trace record of one call
record() { grep "\"name\":\"$2\"" "$1"; }
like "$(record "$W/p-kexec_load.ndjson" kexec_load)" '"errno":1,.*"permitted":0,"refused":1' \
  "kexec_load is recorded as refused (EPERM), never permitted"
like "$(record "$W/p-unshare-user.ndjson" unshare)" '"errno":1,.*"permitted":0,"refused":1' \
  "unshare(CLONE_NEWUSER) is recorded as refused"
like "$(record "$W/p-clone-newuser.ndjson" clone)" '"errno":1,.*"refused":1' \
  "clone with CLONE_NEWUSER is recorded as refused by the namespace-flag condition"
like "$(record "$W/p-socket-vsock.ndjson" socket)" '"errno":97,.*"permitted":0,"refused":1' \
  "socket(AF_VSOCK) is recorded as refused (EAFNOSUPPORT)"
like "$(record "$W/p-getpid.ndjson" getpid)" '"permitted":[1-9][0-9]*,"refused":0' "getpid is recorded as permitted"
like "$(grep '"unknown":true' "$W/p-unknown.ndjson")" '"errno":38,.*"refused":1' \
  "an unnamed number is recorded as refused (ENOSYS)"

# an x32 call: the built-in profile lists x86_64 alone and kills the
# process; so does the trace (the supervisor sends SIGKILL)
if [ "$(uname -m)" = x86_64 ]; then
  out=$(probe_run --seccomp-mode trace --seccomp-log "$W/x32.ndjson" -- syscall-x32 getpid)
  is "$(value x32 <<<"$out")" signal:9 "traced, an x32 call kills its process, as under the built-in profile"
  like "$(grep SCMP_ARCH_X32 "$W/x32.ndjson")" '"killed":1,.*"permitted":0,"refused":1' "... recorded as killed"
  "$NUCLEUS" seccomp generate "$W/x32.ndjson" -o "$W/x32.json" 2>"$W/x32.err"
  is "$?" 0 "generate takes a trace with an x32 call"
  like "$(cat "$W/x32.err")" 'SCMP_ARCH_X32 left out \(getpid\): --arch SCMP_ARCH_X32' "... names it on stderr as left out"
  unlike "$(cat "$W/x32.json")" 'X32' "... and the profile lists x86_64 alone"
  "$NUCLEUS" seccomp generate --arch SCMP_ARCH_X32 "$W/x32.ndjson" -o "$W/x32a.json" 2>"$W/x32a.err"
  like "$(tr -d ' \n' < "$W/x32a.json")" '"architectures":\["SCMP_ARCH_X32","SCMP_ARCH_X86_64"\]' \
    "with --arch SCMP_ARCH_X32 the profile lists x32"
  is "$(cat "$W/x32a.err")" "" "... and leaves nothing out"
  out=$(probe_run --seccomp-profile "$W/x32a.json" -- syscall-x32 getpid | value x32)
  like "$out" '^(ok|ENOSYS)$' "... under which the x32 call is no longer killed (the kernel says: $out)"
else
  skip "x32 is an x86_64 ABI" 8
fi

# an i386 record (this kernel may run no i386 code): left out unless asked
printf '%s\n' '{"name":"read","nr":3,"arch":"SCMP_ARCH_X86","count":2,"permitted":2,"refused":0,"first_pid":1}' \
  '{"name":"read","nr":0,"arch":"SCMP_ARCH_X86_64","count":1,"permitted":1,"refused":0,"first_pid":1}' > "$W/i386.ndjson"
"$NUCLEUS" seccomp generate "$W/i386.ndjson" -o "$W/i386.json" 2>"$W/i386.err"
like "$(cat "$W/i386.err")" '^nucleus: warn: seccomp generate: 1 call of SCMP_ARCH_X86 left out \(read\)' \
  "an i386 record is named on stderr"
unlike "$(cat "$W/i386.json")" 'SCMP_ARCH_X86"' "... and left out of the architectures"
"$NUCLEUS" seccomp generate --all-arches "$W/i386.ndjson" -o "$W/i386a.json"
like "$(tr -d ' \n' < "$W/i386a.json")" '"architectures":\["SCMP_ARCH_X86","SCMP_ARCH_X86_64"\]' \
  "--all-arches lists every architecture of the traces"

# allowed: is NAME in an SCMP_ACT_ALLOW rule of profile FILE (with its conditions, if any)
allowed() {
  lua5.4 - "$1" "$2" <<'LUA'
  local p = require("cjson").decode(io.open(arg[1]):read("a"))
  local out = "no"
  for _, r in ipairs(p.syscalls) do
    if r.action == "SCMP_ACT_ALLOW" then
      for _, n in ipairs(r.names) do
        if n == arg[2] then out = r.args and ("if " .. #r.args .. " condition(s)") or "yes" end
      end
    end
  end
  print(out)
LUA
}
"$NUCLEUS" seccomp generate "$W/p-kexec_load.ndjson" -o "$W/kexec.json" 2>"$W/kexec.err"
is "$(allowed "$W/kexec.json" kexec_load)" no "a call the built-in profile refused is left out of the profile"
like "$(cat "$W/kexec.err")" '^nucleus: warn: seccomp generate: kexec_load: the built-in profile refuses it \(errno 1: Operation not permitted\), left out: --allow-dangerous kexec_load allows it$' \
  "... and named on stderr, in one line"
"$NUCLEUS" seccomp generate --allow-dangerous kexec_load "$W/p-kexec_load.ndjson" -o "$W/kexec2.json" 2>"$W/kexec2.err"
is "$(allowed "$W/kexec2.json" kexec_load)" yes "--allow-dangerous kexec_load allows it"
is "$(cat "$W/kexec2.err")" "" "... and nothing is said"
"$NUCLEUS" seccomp generate "$W/p-socket-vsock.ndjson" -o "$W/vsock.json" 2>"$W/vsock.err"
is "$(allowed "$W/vsock.json" socket)" no "socket, whose every traced call the built-in profile refused, is left out"
like "$(cat "$W/vsock.err")" "socket: every call refused by the built-in profile's conditions \(errno 97" "... and named"
"$NUCLEUS" seccomp generate "$W/p-socket-unix.ndjson" -o "$W/unix.json"
is "$(allowed "$W/unix.json" socket)" "if 1 condition(s)" "socket(AF_UNIX) traced: socket allowed with the family conditions kept"
out=$(probe_run --seccomp-profile "$W/unix.json" -- syscall socket-vsock)
is "$(value socket-vsock <<<"$out")" EAFNOSUPPORT "... under which AF_VSOCK stays refused"

# unshare -Urm: refused while traced, so never allowed by the profile
"$NUCLEUS" run --seccomp-mode trace --seccomp-log "$W/unshare.ndjson" -- unshare -Urm true 2>"$W/unshare.out"
isnt "$?" 0 "traced, unshare -Urm is refused, as under the built-in profile"
like "$(cat "$W/unshare.out")" "Operation not permitted" "... with EPERM"
fk='/bin/true & wait; /bin/true | /bin/true; echo forked'
"$NUCLEUS" run --seccomp-mode trace --seccomp-log "$W/fork.ndjson" -- /bin/sh -c "$fk" >/dev/null
"$NUCLEUS" seccomp generate "$W/unshare.ndjson" "$W/fork.ndjson" "$W/p-clone-newuser.ndjson" "$W/p-unshare-user.ndjson" \
  -o "$W/unshare.json" 2>"$W/unshare.err"
is "$(allowed "$W/unshare.json" unshare)" no "the profile from the unshare -Urm trace does not allow unshare"
is "$(allowed "$W/unshare.json" clone)" "if 1 condition(s)" "... and allows clone only without CLONE_NEW* flags"
like "$(cat "$W/unshare.err")" "unshare: the built-in profile refuses it" "... and says so"
"$NUCLEUS" run --seccomp-profile "$W/unshare.json" -- unshare -U true 2>/dev/null
isnt "$?" 0 "under it, unshare -U is refused"
out=$(probe_run --seccomp-profile "$W/unshare.json" -- syscall clone-newuser)
is "$(value clone-newuser <<<"$out")" EPERM "... and so is clone(CLONE_NEWUSER)"
out=$("$NUCLEUS" run --seccomp-profile "$W/unshare.json" -- /bin/sh -c "$fk")
is "$out" forked "... while fork and plain clone work"
"$NUCLEUS" seccomp generate --allow-dangerous unshare "$W/unshare.ndjson" "$W/sh.ndjson" "$W/p-unshare-user.ndjson" \
  -o "$W/unshare2.json"
is "$(allowed "$W/unshare2.json" unshare)" yes "--allow-dangerous unshare allows it"
"$NUCLEUS" seccomp generate --allow-dangerous clone "$W/p-clone-newuser.ndjson" -o "$W/clone.json"
is "$(allowed "$W/clone.json" clone)" yes "--allow-dangerous clone allows clone with no condition"
if [ "$("$ROOT/build/probe" syscall unshare-user)" = unshare-user=ok ]; then
  out=$(probe_run --seccomp-profile "$W/unshare2.json" -- syscall unshare-user)
  is "$(value unshare-user <<<"$out")" ok "... and the kernel is asked: unshare(CLONE_NEWUSER) succeeds"
  out=$(probe_run --seccomp-profile "$W/clone.json" -- syscall clone-newuser)
  is "$(value clone-newuser <<<"$out")" ok "... and so does clone(CLONE_NEWUSER) under --allow-dangerous clone"
else
  skip "this host refuses unshare(CLONE_NEWUSER) itself" 2
fi

# round trips: a pipeline and threads, traced, then run under their profiles
rt='ls / | wc -l'
want=$("$NUCLEUS" run --seccomp-mode trace --seccomp-log "$W/rt.ndjson" -- /bin/sh -c "$rt")
"$NUCLEUS" seccomp generate "$W/rt.ndjson" -o "$W/rt.json"
got=$("$NUCLEUS" run --seccomp-profile "$W/rt.json" -- /bin/sh -c "$rt")
ok "$([ -n "$want" ] && [ "$got" = "$want" ]; echo $?)" "sh -c '$rt' runs under its profile ($got)"
th='import threading, os
r = []
ts = [threading.Thread(target=lambda i=i: r.append(i * i)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sum(r), os.getpid() > 0)'
"$NUCLEUS" run --seccomp-mode trace --seccomp-log "$W/th.ndjson" -- python3 -c "$th" >/dev/null
"$NUCLEUS" seccomp generate "$W/th.ndjson" -o "$W/th.json" 2>"$W/th.err"
out=$("$NUCLEUS" run --seccomp-profile "$W/th.json" -- python3 -c "$th")
is "$out" "140 True" "a python3 program with threads runs under its profile"
sum=$(sha256sum "$W/th.json" | cut -d' ' -f1)
out=$("$NUCLEUS" run --seccomp-profile "$W/th.json" --seccomp-profile-sha256 "$sum" -- python3 -c "$th")
is "$out" "140 True" "... pinned by its SHA-256"

# merging
"$NUCLEUS" seccomp generate "$W/sh.ndjson" "$W/py.ndjson" > "$W/ab.json" 2>/dev/null
"$NUCLEUS" seccomp generate "$W/py.ndjson" "$W/sh.ndjson" > "$W/ba.json" 2>/dev/null
cmp -s "$W/ab.json" "$W/ba.json"
ok $? "merging is deterministic (order of the traces does not matter)"
# nallowed FILE: how many calls the profile's SCMP_ACT_ALLOW rules name
nallowed() {
  lua5.4 - "$1" <<'LUA'
  local n = 0
  for _, r in ipairs(require("cjson").decode(io.open(arg[1]):read("a")).syscalls) do
    if r.action == "SCMP_ACT_ALLOW" then n = n + #r.names end
  end
  print(n)
LUA
}
n_ab=$(nallowed "$W/ab.json")
n_py=$(nallowed "$W/py.json")
n_sh=$(nallowed "$W/sh.json")
ok "$([ "$n_ab" -ge "$n_py" ] && [ "$n_ab" -ge "$n_sh" ] && [ "$n_ab" -gt 20 ]; echo $?)" \
  "the merge allows the union ($n_ab >= $n_py, $n_sh calls)"
"$NUCLEUS" seccomp generate "$W/sh.ndjson" > "$W/again.json"
cmp -s "$W/sh.json" "$W/again.json"
ok $? "the same trace gives the same bytes"

# --- bad input ----------------------------------------------------------------------
check() { check_fails 125 "$@"; }
printf '{"name":"read","nr":0,"arch":"SCMP_ARCH_X86_64","count":1,"first_pid":1}\nnot json\n' > "$W/bad.ndjson"
check "bad.ndjson:2: not a trace record" "a trace that is not NDJSON" -- seccomp generate "$W/bad.ndjson"
check "trace $W/none.ndjson: No such file" "missing trace" -- seccomp generate "$W/none.ndjson"
check "no trace file given" "no trace" -- seccomp generate
# a trace is a regular file (16 MiB at most): no FIFO to hang on, no device
# to read forever (under timeout(1): a hang fails)
printf '#!/bin/sh\nexec timeout 10 "%s" "$@"\n' "$NUCLEUS" > "$T/nucleus-timed"
chmod +x "$T/nucleus-timed"
mkfifo "$W/fifo.ndjson"
NUCLEUS=$T/nucleus-timed check "^nucleus: trace $W/fifo.ndjson: not a regular file \(a FIFO\)$" "a FIFO as trace" \
  -- seccomp generate "$W/fifo.ndjson"
NUCLEUS=$T/nucleus-timed check "^nucleus: trace /dev/zero: not a regular file \(a character device\)$" "/dev/zero as trace" \
  -- seccomp generate /dev/zero
NUCLEUS=$T/nucleus-timed check "^nucleus: trace $W: not a regular file \(a directory\)$" "a directory as trace" \
  -- seccomp generate "$W"
truncate -s $((16 * 1024 * 1024 + 1)) "$W/big.ndjson"
check "^nucleus: trace $W/big.ndjson: larger than 16 MiB$" "a trace over 16 MiB" -- seccomp generate "$W/big.ndjson"
printf '{"name":"read","nr":0,"arch":"SCMP_ARCH_X86_64","count":1,"first_pid":1}' > "$W/nonl.ndjson"
out=$("$NUCLEUS" seccomp generate "$W/nonl.ndjson")
like "$out" '"read"' "a trace whose last line has no newline is read whole"
# a record of before the verdicts (no permitted/refused): read, judged by
# the built-in profile all the same
printf '%s\n' '{"name":"read","nr":0,"arch":"SCMP_ARCH_X86_64","count":1,"first_pid":1}' \
  '{"name":"kexec_load","nr":246,"arch":"SCMP_ARCH_X86_64","count":1,"first_pid":1}' > "$W/old.ndjson"
"$NUCLEUS" seccomp generate "$W/old.ndjson" -o "$W/old.json" 2>"$W/old.err"
is "$(allowed "$W/old.json" read):$(allowed "$W/old.json" kexec_load)" "yes:no" \
  "an older record is read: its calls judged by the built-in profile"
like "$(cat "$W/old.err")" "kexec_load: the built-in profile refuses it, left out" "... what it refuses named"
# nothing is written for a bad input
gen_fails() {
  rm -f "$W/never.json"
  check "$@" -o "$W/never.json"
  ok "$([ ! -e "$W/never.json" ] && [ ! -e "$W/never.json.tmp" ]; echo $?)" "$2: no profile written"
}
gen_fails '^nucleus: seccomp generate: --allow-dangerous "bogus_call": not a syscall of this architecture$' \
  "--allow-dangerous of an unknown call" -- seccomp generate --allow-dangerous read,bogus_call "$W/sh.ndjson"
gen_fails '^nucleus: seccomp generate: --allow-dangerous "": not a syscall' \
  "--allow-dangerous with an empty name" -- seccomp generate --allow-dangerous read, "$W/sh.ndjson"
gen_fails '^nucleus: seccomp generate: --arch "bogus": unknown architecture \(expected one of SCMP_ARCH_AARCH64, ' \
  "--arch bogus" -- seccomp generate --arch bogus "$W/sh.ndjson"
gen_fails "^nucleus: seccomp generate: --arch and --all-arches exclude each other$" \
  "--arch with --all-arches" -- seccomp generate --arch SCMP_ARCH_X86 --all-arches "$W/sh.ndjson"
printf '%s\n' '{"name":"read","nr":0,"arch":"SCMP_ARCH_X86_64","count":1,"permitted":"yes","refused":0}' > "$W/bad2.ndjson"
gen_fails "^nucleus: $W/bad2.ndjson:1: not a trace record" "a record whose permitted count is a string" \
  -- seccomp generate "$W/bad2.ndjson"
printf '%s\n' '{"name":"read","nr":0,"arch":"SCMP_ARCH_X86_64","count":1,"permitted":1,"refused":-1}' > "$W/bad3.ndjson"
gen_fails "^nucleus: $W/bad3.ndjson:1: not a trace record" "a record with a negative count" \
  -- seccomp generate "$W/sh.ndjson" "$W/bad3.ndjson"
printf '%s\n' '{"name":"kexec_load\nnucleus: forged","nr":0,"arch":"SCMP_ARCH_X86_64","count":1}' > "$W/bad5.ndjson"
gen_fails "^nucleus: $W/bad5.ndjson:1: not a trace record" "a record whose name is not a syscall's" \
  -- seccomp generate "$W/bad5.ndjson"
printf '%s\n' '{"nr":0,"arch":"SCMP_ARCH_X86_64","count":1}' > "$W/bad4.ndjson"
gen_fails "^nucleus: $W/bad4.ndjson:1: not a trace record" "a record without a name" \
  -- seccomp generate "$W/bad4.ndjson"
check "needs --seccomp-log FILE" "trace without a log" -- run --seccomp-mode trace -- true
check "record of --seccomp-mode trace" "a log without trace" -- run --seccomp-log "$W/x" -- true
check "takes no --seccomp-profile" "trace with a profile" -- run --seccomp-mode trace --seccomp-log "$W/x" --seccomp-profile "$W/sh.json" -- true
check "seccomp log $W/no/dir/x: No such file or directory" "unwritable log" -- run --seccomp-mode trace --seccomp-log "$W/no/dir/x" -- true
check "expected 'generate" "unknown seccomp subcommand" -- seccomp frobnicate

is "$(host_state)" "$before" "nothing left behind"
done_testing

#!/usr/bin/env bash
# Seccomp trace mode and `nucleus seccomp generate`: a complete record of
# every syscall of every process (seccomp user notification), turned into
# the minimal profile, enforced on the same workloads.
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
"$NUCLEUS" seccomp generate "$W/py.ndjson" -o "$W/py.json"
out=$("$NUCLEUS" run --seccomp-profile "$W/py.json" -- python3 -c "$py")
is "$out" '{"h": "2d7116", "pid": true}' "a traced python3 program runs under its generated profile"

"$NUCLEUS" run -v "$PROBE_DIR:/opt/probe:ro" --seccomp-mode trace --seccomp-log "$W/probe.ndjson" \
  -- /opt/probe/probe syscall getpid >/dev/null
"$NUCLEUS" seccomp generate "$W/probe.ndjson" -o "$W/probe.json"
out=$(probe_run --seccomp-profile "$W/probe.json" -- syscall getpid)
is "$(value getpid <<<"$out")" ok "the traced call is allowed"
out=$(probe_run --seccomp-profile "$W/probe.json" -- syscall socket-unix)
is "$(value socket-unix <<<"$out")" EPERM "a call never traced is denied with the profile's errno (EPERM)"

# merging
"$NUCLEUS" seccomp generate "$W/sh.ndjson" "$W/py.ndjson" > "$W/ab.json"
"$NUCLEUS" seccomp generate "$W/py.ndjson" "$W/sh.ndjson" > "$W/ba.json"
cmp -s "$W/ab.json" "$W/ba.json"
ok $? "merging is deterministic (order of the traces does not matter)"
n_ab=$(grep -c '^      "' "$W/ab.json")
n_py=$(grep -c '^      "' "$W/py.json")
ok "$([ "$n_ab" -ge "$n_py" ]; echo $?)" "the merge allows the union ($n_ab >= $n_py names)"
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
check "needs --seccomp-log FILE" "trace without a log" -- run --seccomp-mode trace -- true
check "record of --seccomp-mode trace" "a log without trace" -- run --seccomp-log "$W/x" -- true
check "takes no --seccomp-profile" "trace with a profile" -- run --seccomp-mode trace --seccomp-log "$W/x" --seccomp-profile "$W/sh.json" -- true
check "seccomp log $W/no/dir/x: No such file or directory" "unwritable log" -- run --seccomp-mode trace --seccomp-log "$W/no/dir/x" -- true
check "expected 'generate" "unknown seccomp subcommand" -- seccomp frobnicate

is "$(host_state)" "$before" "nothing left behind"
done_testing

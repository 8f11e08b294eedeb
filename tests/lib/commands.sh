# shellcheck shell=bash
# commands.sh - every nucleus command driven with a valid and an invalid
# invocation (issue 17: "no command may ever print a traceback").  Sourced
# by tests/integration/commands.t (the host, hybrid cgroups here) and by
# tests/vm/guest/commands.t (the VM: pure cgroup v2).  Needs the TAP
# helpers, $NUCLEUS, $ROOT (the repository), $T (a scratch directory) and
# NUCLEUS_STATE_DIR (the records, inside $T).
#
# Each invocation: its exit status; nothing on stdout or stderr that reads
# as a Lua traceback or an internal error; a failure is one line on stderr,
# "nucleus: ...", and nothing on stdout.

# nc WANT WHAT -- nucleus-args...: sets $OUT and $ERR
nc() {
  local want=$1 what=$2 rc
  shift 3
  OUT=$("$NUCLEUS" "$@" 2>"$T/nc.err" </dev/null)
  rc=$?
  ERR=$(cat "$T/nc.err")
  is "$rc" "$want" "$what: exit $want"
  unlike "$OUT$ERR" 'stack traceback|internal error|\.lua:[0-9]+:|attempt to (index|call|compare|concatenate|perform)' \
    "$what: no traceback or internal error"
  if [ "$want" -ne 0 ]; then
    like "$ERR" '^nucleus: ' "$what: the error says it is nucleus's"
    is "$(printf '%s\n' "$ERR" | wc -l):${#OUT}" "1:0" "$what: one line on stderr, nothing on stdout"
  fi
}

# --- the program itself --------------------------------------------------------
nc 0 "--help" -- --help
like "$OUT" "^Usage: nucleus " "--help: the usage"
verbs=$(printf '%s\n' "$OUT" | awk '/^Commands:/ { c = 1; next } c && /^  [a-z]/ { print $1 }')
like "$(echo $verbs)" "^attach exec inspect kill network policy ps rm rootfs run seccomp stats stop$" \
  "--help lists the commands this test drives (a new one needs its cases here)"
nc 0 "--version" -- --version
like "$OUT" "^nucleus [0-9]" "--version: the version"
nc 125 "an unknown command" -- frobnicate
nc 125 "no command" --
nc 125 "an unknown global option" -- --bogus ps
nc 125 "--root without its value" -- --root
nc 125 "--log-level of no level" -- --log-level loud ps

# every command has its help, on stdout, exit 0
for v in $verbs; do
  nc 0 "$v --help" -- "$v" --help
  like "$OUT" "^Usage: nucleus $v" "$v --help: its usage"
done
for v in "network prune" "policy check" "rootfs attest" "seccomp generate"; do
  nc 0 "$v --help" -- $v --help
  like "$OUT" "^Usage: nucleus $v" "$v --help: its usage"
done

# --- no container yet: empty lists ------------------------------------------------------
nc 0 "ps of none" -- ps -a
is "$(printf '%s\n' "$OUT" | wc -l)" 1 "ps of none: the header alone"
nc 0 "ps --format json of none" -- ps -a --format json
is "$OUT" "[]" "ps --format json of none: an empty list"
nc 0 "stats --no-stream --format json of none" -- stats --no-stream --format json
is "$OUT" "[]" "stats --format json of none: an empty list"

# --- run ---------------------------------------------------------------------------
nc 0 "run" -- run --rm -- true
nc 0 "run --dry-run" -- run --dry-run -- true
like "$OUT" '"argv"' "run --dry-run: the launch plan"
nc 125 "run with an unknown option" -- run --bogus -- true
nc 127 "run of a command that is not there" -- run --rm -- /no/such/command
nc 0 "run that leaves its record (done)" -- run --name done -- true

# a running container for the other commands
"$NUCLEUS" run --name box -- sleep 3600 >/dev/null 2>"$T/box.err" &
box_pid=$!
up=1
for _ in $(seq 300); do
  [ "$("$NUCLEUS" ps -q 2>/dev/null | wc -l)" -ge 1 ] && "$NUCLEUS" exec box true 2>/dev/null && { up=0; break; }
  sleep 0.1
done
ok $up "a container (box) runs"

# --- ps, inspect ---------------------------------------------------------------
nc 0 "ps" -- ps
like "$OUT" " box " "ps: the running container"
unlike "$OUT" " done " "ps: not the stopped one"
nc 0 "ps -a" -- ps -a
like "$OUT" " done " "ps -a: the stopped one too"
nc 0 "ps -q" -- ps -q
like "$OUT" "^[0-9a-f]{12}$" "ps -q: short ids"
nc 0 "ps --format json" -- ps -a --format json
is "$(printf '%s' "$OUT" | python3 -c 'import json, sys; print(sorted(c["name"] for c in json.load(sys.stdin)))' 2>&1)" \
  "['box', 'done']" "ps --format json: JSON of both"
nc 125 "ps --format xml" -- ps --format xml
nc 125 "ps with an unknown option" -- ps -z
nc 0 "inspect" -- inspect box done
is "$(printf '%s' "$OUT" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' 2>&1)" 2 "inspect: JSON of both"
nc 1 "inspect of no such container" -- inspect nope
nc 125 "inspect of nothing" -- inspect

# --- stats -----------------------------------------------------------------------------
nc 0 "stats --no-stream" -- stats --no-stream box
like "$OUT" "box" "stats --no-stream: a row for box"
nc 0 "stats --no-stream --format json" -- stats --no-stream --format json
is "$(printf '%s' "$OUT" | python3 -c 'import json, sys; print([c["name"] for c in json.load(sys.stdin)])' 2>&1)" \
  "['box']" "stats --format json: JSON of the running container"
nc 1 "stats of no such container" -- stats --no-stream nope
nc 125 "stats with an unknown format" -- stats --format csv
# streaming: frame after frame (it crashed after its first frame on a
# hybrid-cgroup host once), then SIGTERM ends it
"$NUCLEUS" stats box >"$T/stats.out" 2>"$T/stats.err" &
sp=$!
for _ in $(seq 600); do
  [ "$(grep -c 'CONTAINER ID' "$T/stats.out")" -ge 3 ] && break
  kill -0 "$sp" 2>/dev/null || break
  sleep 0.1
done
ok "$(kill -0 "$sp" 2>/dev/null; echo $?)" "stats streams: still running after $(grep -c 'CONTAINER ID' "$T/stats.out") frames"
kill -TERM "$sp" 2>/dev/null
wait "$sp"
frames=$(grep -c 'CONTAINER ID' "$T/stats.out")
ok "$([ "$frames" -ge 3 ]; echo $?)" "stats: three frames or more, each with the header ($frames)"
is "$(grep -c ' box ' "$T/stats.out")" "$frames" "stats: box in each frame"
is "$(cat "$T/stats.err")" "" "stats: nothing on stderr"

# streaming every container while one of them stops and goes
"$NUCLEUS" run --name brief -- sleep 3600 >/dev/null 2>&1 &
brief_pid=$!
for _ in $(seq 300); do "$NUCLEUS" exec brief true 2>/dev/null && break; sleep 0.1; done
"$NUCLEUS" stats >"$T/stats2.out" 2>"$T/stats2.err" &
sp=$!
for _ in $(seq 600); do
  grep -q ' brief ' "$T/stats2.out" && break
  sleep 0.1
done
"$NUCLEUS" stop -t 0 brief >/dev/null 2>&1
wait "$brief_pid"
"$NUCLEUS" rm brief >/dev/null 2>&1
n=$(grep -c 'CONTAINER ID' "$T/stats2.out")
for _ in $(seq 600); do
  [ "$(grep -c 'CONTAINER ID' "$T/stats2.out")" -ge $((n + 2)) ] && break
  kill -0 "$sp" 2>/dev/null || break
  sleep 0.1
done
ok "$(kill -0 "$sp" 2>/dev/null; echo $?)" "stats of every container goes on after one of them went"
kill -TERM "$sp" 2>/dev/null
wait "$sp"
is "$(tail -n +"$(grep -n 'CONTAINER ID' "$T/stats2.out" | tail -1 | cut -d: -f1)" "$T/stats2.out" | grep -c ' brief ')" 0 \
  "... and its last frame no longer shows the container that went"
unlike "$(cat "$T/stats2.out" "$T/stats2.err")" 'stack traceback|internal error|\.lua:[0-9]+:' \
  "... no traceback or internal error"

# --- exec, attach ------------------------------------------------------------------
nc 0 "exec" -- exec box sh -c 'echo in-box'
is "$OUT" in-box "exec: the command's output"
OUT=$("$NUCLEUS" exec box sh -c 'exit 3' 2>&1)
is "$?:$OUT" "3:" "exec: the command's exit status, nothing said"
nc 127 "exec of a command that is not there" -- exec box /no/such/command
nc 126 "exec of a file that cannot be executed" -- exec box /etc/passwd
nc 125 "exec without a command" -- exec box
nc 125 "exec of no such container" -- exec nope true
nc 125 "exec in a stopped container" -- exec done true
nc 0 "attach -- CMD" -- attach box -- sh -c 'echo attached'
is "$OUT" attached "attach: the command's output"
nc 125 "attach of no such container" -- attach nope

# --- kill, stop, rm ------------------------------------------------------------------
nc 125 "kill with no such signal" -- kill -s BOGUS box
nc 1 "kill of no such container" -- kill nope
nc 125 "kill of nothing" -- kill
nc 0 "kill -s CONT" -- kill -s CONT box
nc 1 "rm of a running container" -- rm box
nc 125 "stop with a bad timeout" -- stop -t x box
nc 1 "stop of no such container" -- stop nope
nc 0 "stop" -- stop -t 5 box
wait "$box_pid"
is "$?" 143 "box stopped by SIGTERM"
is "$(cat "$T/box.err")" "" "... its run said nothing on stderr"
nc 0 "rm" -- rm box done
is "$("$NUCLEUS" ps -a -q | wc -l)" 0 "rm: no record left"
nc 1 "rm of no such container" -- rm nope
nc 125 "rm of nothing" -- rm
"$NUCLEUS" run --name gone -- sleep 3600 >/dev/null 2>&1 &
gone_pid=$!
for _ in $(seq 300); do "$NUCLEUS" exec gone true 2>/dev/null && break; sleep 0.1; done
nc 0 "rm -f of a running container" -- rm -f gone
wait "$gone_pid"
is "$?" 137 "rm -f killed it"

# --- policy, seccomp, rootfs, network --------------------------------------------------
nc 0 "policy check" -- policy check "$ROOT/policies/default.seccomp.json"
like "$OUT" "^seccomp	[0-9a-f]{64}	" "policy check: the kind and the SHA-256"
printf '{"defaultAction": "SCMP_ACT_NOPE"}\n' > "$T/bad.seccomp.json"
nc 125 "policy check of an invalid profile" -- policy check "$T/bad.seccomp.json"
nc 125 "policy check of no file" -- policy check "$T/none.json"
nc 125 "policy without check" -- policy lint x
nc 0 "run in trace mode" -- run --rm --seccomp-mode trace --seccomp-log "$T/trace.ndjson" -- true
nc 0 "seccomp generate" -- seccomp generate "$T/trace.ndjson"
like "$OUT" '"execve"' "seccomp generate: a profile allowing what ran"
nc 0 "seccomp generate -o" -- seccomp generate "$T/trace.ndjson" -o "$T/gen.json"
nc 0 "policy check of the generated profile" -- policy check "$T/gen.json"
nc 125 "seccomp generate of what is no trace" -- seccomp generate "$T/bad.seccomp.json"
nc 125 "seccomp generate of nothing" -- seccomp generate
nc 125 "seccomp without generate" -- seccomp make
mkdir -p "$T/rootfs/bin"
echo data > "$T/rootfs/bin/file"
nc 0 "rootfs attest" -- rootfs attest "$T/rootfs"
like "$OUT" "^[0-9a-f]{64}$" "rootfs attest: the SHA-256 to pin"
nc 125 "rootfs attest of no directory" -- rootfs attest "$T/none"
nc 125 "rootfs without attest" -- rootfs sign "$T/rootfs"
if unshare -n true 2>/dev/null; then
  # in a network namespace of its own: the rules it looks at are that
  # namespace's, none of another test's
  OUT=$(unshare -n "$NUCLEUS" network prune 2>&1)
  rc=$?
  is "$rc:$OUT" "0:" "network prune (in a new network namespace): exit 0, nothing to remove"
else
  skip "cannot make a network namespace here (unshare -n)"
fi
nc 125 "network without prune" -- network list

#!/usr/bin/env bash
# Container records and the verbs that use them: ps, inspect, kill, stop,
# rm, exec, attach; names, id prefixes, PID reuse, a killed supervisor,
# 50 containers at once, and bad references.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
N=$NUCLEUS
ST=$NUCLEUS_STATE_DIR

# wait until `ps` shows container $1 running (at most ~5 s)
wait_running() {
  for _ in $(seq 250); do
    "$N" ps -q --format table >/dev/null 2>&1
    [ "$("$N" inspect "$1" 2>/dev/null | grep -c '"status": "running"')" = 1 ] && return 0
    sleep 0.02
  done
  return 1
}

# --- a running container, seen by ps and inspect ---------------------------------
"$N" run --name web -v "$PROBE_DIR:/opt/probe:ro" -- /opt/probe/probe signals > "$T/web.out" 2>&1 &
web_sup=$!
wait_running web
ok $? "the container shows up as running"
out=$("$N" ps)
like "$out" "^CONTAINER ID +NAME +STATUS +PID +COMMAND +CREATED" "ps prints a header"
like "$out" "[0-9a-f]{12} +web +Up [0-9]+s +[0-9]+ +/opt/probe/probe signals" "ps shows the running container"
id=$("$N" ps -q)
like "$id" "^[0-9a-f]{12}$" "ps -q prints the short id"
json=$("$N" inspect web)
for key in '"id": "[0-9a-f]{32}"' '"name": "web"' '"status": "running"' '"pid": [0-9]+' '"pid_start": [0-9]+' \
           '"mode": "agent"' '"runtime": "native"' '"rootless": false' '"created": "20' '"started": "20' \
           '"network": "none"' '"supervisor_pid": '"$web_sup"; do
  like "$json" "$key" "inspect: $key"
done
full=$(echo "$json" | grep -oE '"id": "[0-9a-f]{32}"' | cut -d'"' -f4)
is "$("$N" inspect "$full" | grep -c "\"id\": \"$full\"")" 1 "a full id resolves"
is "$("$N" inspect "${full:0:6}" | grep -c "\"id\": \"$full\"")" 1 "a unique id prefix resolves"
"$N" ps --format json | lua5.4 -e 'local t = require("cjson").decode(io.read("a")); os.exit(#t == 1 and t[1].name == "web" and 0 or 1)'
ok $? "ps --format json is a JSON array of records"

# --- kill, exec ----------------------------------------------------------------------------
"$N" kill -s USR1 web >/dev/null
is "$?" 0 "kill -s USR1"
"$N" kill -s SIGUSR2 web >/dev/null
sleep 0.1 # two pending SIGUSR2 would merge into one
"$N" kill -s 12 web >/dev/null
sleep 0.2
like "$(cat "$T/web.out")" "signal=10" "the workload got SIGUSR1"
is "$(grep -c 'signal=12' "$T/web.out")" 2 "signal names with SIG and numbers work"
out=$("$N" exec web /opt/probe/probe pid)
is "$(value pid <<<"$out")" 3 "exec joins the container's PID namespace (PID 3)"
out=$("$N" exec web sh -c 'ls /proc | grep -cE "^[0-9]+$"')
ok "$([ "$out" -le 5 ]; echo $?)" "exec sees only the container's processes"
out=$("$N" exec web hostname)
is "$out" web "exec joins the UTS namespace"
"$N" exec web sh -c 'exit 5'
is "$?" 5 "exec returns the command's exit code"
out=$("$N" exec -e X=1 -w /tmp web sh -c 'echo $X $(pwd)')
is "$out" "1 /tmp" "exec -e and -w"
out=$(echo 'echo from-stdin' | "$N" attach web)
is "$out" from-stdin "attach runs a shell reading stdin"
out=$("$N" attach web -- echo attached)
is "$out" attached "attach -- CMD"
"$N" stop -t 5 web >/dev/null
wait "$web_sup"
is "$?" 0 "stop: SIGTERM reaches a workload that handles it (exit 0)"
like "$("$N" ps -a)" "web +Exited \(0\)" "ps -a shows it exited with its code"
is "$("$N" ps -q)" "" "ps without -a hides it"

# --- exec keeps the workload's identity and restrictions -----------------------------------
"$N" run --name u1000 --user 1000 -- sleep 3041 &
u_sup=$!
wait_running u1000
out=$("$N" exec u1000 cat /proc/self/status)
like "$out" "Uid:	1000	1000	1000" "exec runs as the container's user (1000)"
like "$out" "CapEff:	0000000000000000" "exec has no capabilities"
like "$out" "CapBnd:	0000000000000000" "exec has an empty bounding set"
like "$out" "NoNewPrivs:	1" "exec has no_new_privs"
like "$out" "Seccomp:	2" "exec is under seccomp"
out=$("$N" exec u1000 sh -c 'mkdir /x 2>&1; touch /usr/x 2>&1; unshare -r true 2>&1' | tr '\n' ' ')
like "$out" "Permission denied.*(Read-only|Permission denied).*Operation not permitted" "exec is held by Landlock, ro mounts and seccomp"
# a workload that ignores SIGTERM: stop escalates to SIGKILL after -t
"$N" run --name stubborn -- sh -c 'trap "" TERM; while :; do sleep 0.1; done' &
s_sup=$!
wait_running stubborn
start=$(date +%s%N)
"$N" stop -t 1 stubborn >/dev/null
wait "$s_sup"
rc=$?
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
is "$rc" 137 "stop -t 1: a workload ignoring SIGTERM is killed (137)"
ok "$([ "$elapsed" -ge 900 ]; echo $?)" "stop waited for the timeout first (${elapsed} ms)"
"$N" rm -f u1000 >/dev/null
is "$?" 0 "rm -f of a running container"
wait "$u_sup"
is "$("$N" inspect u1000 2>&1)" "nucleus: no such container: u1000" "rm -f removed a running container"
ok "$(pgrep -f 'sleep 3041' >/dev/null; [ $? -ne 0 ]; echo $?)" "its processes are gone"
is "$(ls "$ST/names" | grep -c u1000)" 0 "its name is free again"

# --- rm ------------------------------------------------------------------------------
"$N" run --name lived -- sleep 3042 &
l_sup=$!
wait_running lived
out=$("$N" rm lived 2>&1)
is "$?" 1 "rm of a running container without -f fails"
is "$out" "nucleus: container lived is running: stop it first, or use rm -f" "  ... and says so"
"$N" kill lived >/dev/null
wait "$l_sup"
is "$?" 137 "kill (default SIGKILL) ends the container: 137"
"$N" rm lived web stubborn >/dev/null
is "$?" 0 "rm of exited containers"
is "$("$N" ps -a -q)" "" "nothing is listed any more"
is "$(ls "$ST/containers" "$ST/names" "$ST/tmp" | grep -cv ':$\|^$')" 0 "no record and no name link remain"
"$N" run --rm --name gone -- true
is "$(ls "$ST/containers" | wc -l)" 0 "run --rm leaves no record"

# --- 50 containers at once ----------------------------------------------------------------
for i in $(seq 50); do "$N" run --name par-$i -- sh -c "exit $((i % 7))" & done
wait
is "$("$N" ps -a -q | wc -l)" 50 "50 containers started in parallel are all listed"
bad=0
for i in $(seq 50); do
  "$N" ps -a | grep -qE "par-$i +Exited \($((i % 7))\)" || bad=$((bad + 1))
done
is "$bad" 0 "each with its own name and exit code"
out=$("$N" run --name par-7 -- true 2>&1)
is "$?" 125 "a duplicate name is refused"
like "$out" "the name \"par-7\" is already in use by container [0-9a-f]{32}" "  ... naming the holder"
is "$("$N" ps -a -q | wc -l)" 50 "  ... and leaves no record"
# an ambiguous prefix: 50 random ids must share a first hex digit
p=$(ls "$ST/containers" | cut -c1 | sort | uniq -d | head -1)
out=$("$N" inspect "$p" 2>&1)
like "$out" "ambiguous container reference \"$p\": matches $p[0-9a-f]{31}, $p" "an ambiguous prefix lists the candidates"
"$N" rm $(for i in $(seq 50); do echo par-$i; done) >/dev/null
is "$("$N" ps -a -q | wc -l)" 0 "all removed"

# --- PID reuse and a killed supervisor ----------------------------------------------
"$N" run --name reuse -- true
rid=$(ls "$ST/containers")
lua5.4 - "$ST/containers/$rid" "$$" <<'LUA'
-- the record as written (its first line, without the line of its exit),
-- pretending it runs as our own shell's pid, with a start time not ours
local f = io.open(arg[1]); local t = f:read("l"); f:close()
t = t:gsub('"status": ?"%a+"', '"status":"running"'):gsub('"pid": ?%d+', '"pid":' .. arg[2])
     :gsub('"pid_start": ?%d+', '"pid_start":1')
f = io.open(arg[1], "w"); f:write(t, "\n"); f:close()
LUA
like "$(head -1 "$ST/containers/$rid")" "\"pid\":$$,.*\"status\":\"running\"" "(the record now names our shell's pid, running)"
like "$("$N" ps -a)" "reuse +Exited" "a record whose PID now belongs to another process is exited"
is "$("$N" ps -q)" "" "... and not listed as running"
"$N" rm reuse >/dev/null

# as root and as another user: a change of credentials clears the
# parent-death signal, which the child arms again
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
cgroups() { ls "$cg2/nucleus" 2>/dev/null | grep -cE '^[0-9a-f]{32}$'; }
cgs_before=$(cgroups)
for case in 0 0.002 0.01 0.05 0.3 u0.01 u0.3; do
  delay=${case#u} user=()
  [ "$case" = "$delay" ] || user=(--user 1000)
  "$N" run --name victim "${user[@]}" -- sleep 3043 &
  sup=$!
  sleep "$delay"
  kill -KILL "$sup"
  wait "$sup" 2>/dev/null
  for _ in $(seq 100); do pgrep -f 'sleep 3043' >/dev/null || break; sleep 0.02; done
  ok "$(pgrep -f 'sleep 3043' >/dev/null; [ $? -ne 0 ]; echo $?)" "supervisor killed after ${delay}s${user:+ (--user 1000)}: the container died with it"
  st=$("$N" ps -a 2>&1)
  if echo "$st" | grep -q victim; then
    like "$st" "victim +(Exited|Created)" "  ... ps shows it exited"
    ok "$(echo "$st" | grep victim | grep -q 'Up '; [ $? -ne 0 ]; echo $?)" "  ... never as running"
  else
    ok 0 "  ... (killed before its record was written)"
    ok 0 "  ... nothing listed"
  fi
  "$N" rm -f victim >/dev/null 2>&1
  "$N" ps -a >/dev/null # sweeps what a killed creator left half-made
  is "$(ls "$ST/containers" "$ST/names" "$ST/tmp" | grep -cv ':$\|^$')" 0 "  ... rm leaves nothing"
  is "$(cgroups)" "$cgs_before" "  ... and no cgroup (the sweep takes one whose record was never written)"
done

# --- corrupt records (issue 16, 10) ---------------------------------------------------
# A record truncated, overwritten with garbage or replaced by a directory is
# listed as corrupt, can be inspected (one line, exit 1) and removed with
# rm -f (by name or id prefix), which frees its name; nothing is left.
records() { ls "$ST/containers" "$ST/names" "$ST/tmp" | grep -cv ':$\|^$'; }
corrupt() { # corrupt NAME HOW: a container run with --name NAME, its record damaged
  "$N" run --name "$1" -- true
  local f=$ST/containers/$(readlink "$ST/names/$1")
  case $2 in
    truncated) truncate -s 40 "$f" ;;
    garbage) printf '\x00\xff garbage {\n"x"\n' > "$f" ;;
    directory) rm "$f"; mkdir -p "$f/sub"; ln -s /etc/passwd "$f/sub/link"; ln -s / "$f/root" ;;
  esac
}
for how in truncated garbage directory; do
  corrupt "bad-$how" "$how"
  cid=$(readlink "$ST/names/bad-$how")
  out=$("$N" ps -a 2>&1)
  like "$out" "${cid:0:12} +bad-$how +corrupt " "$how record: ps -a lists it as corrupt"
  is "$("$N" ps 2>&1 | grep -c "$cid")" 0 "$how record: ps without -a does not"
  "$N" ps -a --format json | CID=$cid NAME=bad-$how lua5.4 -e '
    local t = require("cjson").decode(io.read("a"))
    for _, r in ipairs(t) do
      if r.id == os.getenv("CID") and r.status == "corrupt" and r.name == os.getenv("NAME")
          and type(r.corrupt) == "string" then os.exit(0) end
    end
    os.exit(1)' 
  ok $? "$how record: ps --format json says corrupt, with why"
  check_fails 1 "^nucleus: container bad-$how: its record is corrupt: .*; 'nucleus rm -f ${cid:0:12}' removes it$" \
    "$how record: inspect" -- inspect "bad-$how"
  check_fails 1 "its record is corrupt" "$how record: rm without -f refuses" -- rm "bad-$how"
  check_fails 1 "its record is corrupt" "$how record: stop" -- stop "${cid:0:10}"
  check_fails 125 "its record is corrupt" "$how record: exec" -- exec "bad-$how" true
  out=$("$N" run --name "bad-$how" -- true 2>&1)
  is "$?" 125 "$how record: its name is still taken"
  ref=bad-$how
  [ "$how" = garbage ] && ref=${cid:0:10} # a unique prefix
  out=$("$N" rm -f "$ref" 2>&1)
  is "$?:$out" "0:$ref" "$how record: rm -f $ref removes it"
  is "$(records)" 0 "$how record: no record, name link or temporary left"
  "$N" run --name "bad-$how" -- true
  is "$?" 0 "$how record: the name can be used again"
  "$N" rm "bad-$how" >/dev/null
done
[ -e /etc/passwd ] && [ -d /etc ]; ok $? "removing a directory record followed none of its links"

# a running container whose record is damaged: rm -f kills what runs in
# its cgroup (the one the first line names, or the default one) and
# removes it
gone_cgroups=()
for how in truncated badfield; do
  "$N" run --name "run-$how" -- sleep 3044 &
  sup=$!
  wait_running "run-$how"
  cid=$(readlink "$ST/names/run-$how")
  f=$ST/containers/$cid
  case $how in
    truncated) truncate -s 40 "$f" ;;
    badfield) sed -i '1s/"pid":[0-9]*/"pid":"one"/' "$f" ;;
  esac
  like "$("$N" ps -a)" "${cid:0:12} +run-$how +corrupt" "running, $how record: listed as corrupt"
  "$N" rm -f "run-$how" >/dev/null
  is "$?" 0 "running, $how record: rm -f"
  wait "$sup" 2>/dev/null
  for _ in $(seq 100); do pgrep -f 'sleep 3044' >/dev/null || break; sleep 0.02; done
  ok "$(pgrep -f 'sleep 3044' >/dev/null; [ $? -ne 0 ]; echo $?)" "running, $how record: its processes are gone"
  [ ! -e "$cg2/nucleus/$cid" ]; ok $? "running, $how record: its cgroup is gone"
  gone_cgroups+=("$cid")
  is "$(records)" 0 "running, $how record: nothing left in the state directory"
done

# what a hostile record could try: a symlink (to a record elsewhere, to
# /dev/zero, to a FIFO), a FIFO, a JSON null, a cgroup outside the
# container's own; ps and rm neither hang, nor follow, nor touch it
mkdir -p "$T/outside"
mkfifo "$T/outside/fifo"
"$N" run --name decoy -- true
did=$(readlink "$ST/names/decoy")
cp "$ST/containers/$did" "$T/outside/record"
n=0 evil_ids=()
for target in "$T/outside/record" /dev/zero "$T/outside/fifo" fifo null cgroup-out cgroup-dotdot; do
  n=$((n + 1))
  "$N" run --name "evil-$n" -- true
  cid=$(readlink "$ST/names/evil-$n")
  evil_ids+=("$cid")
  f=$ST/containers/$cid
  case $target in
    fifo) rm "$f"; mkfifo "$f" ;;
    null) sed -i '1s/"hostname":"[^"]*"/"hostname":null/' "$f" ;;
    cgroup-out) mkdir -p "$cg2/nucleus-victim"
      printf '{"id":"%s","status":"exited","cgroup":"%s/nucleus-victim"}\n' "$cid" "$cg2" > "$f" ;;
    cgroup-dotdot) mkdir -p "$cg2/nucleus-victim/$cid"
      printf '{"id":"%s","status":"exited","pid":"x","cgroup":"%s/nucleus/../nucleus-victim/%s","cgroup_auto_parent":"%s/nucleus-victim"}\n' \
        "$cid" "$cg2" "$cid" "$cg2" > "$f" ;;
    *) rm "$f"; ln -s "$target" "$f" ;;
  esac
  out=$(timeout 10 "$N" ps -a 2>&1)
  rc=$?
  if [ "$target" = cgroup-out ]; then
    is "$rc:$(echo "$out" | grep -c "${cid:0:12}.*Exited")" 0:1 "hostile record ($target): ps -a lists it"
  else
    is "$rc:$(echo "$out" | grep -cE "${cid:0:12} +evil-$n +corrupt")" 0:1 "hostile record (${target#"$T"/}): ps -a lists it as corrupt"
  fi
  out=$(timeout 10 "$N" rm -f "evil-$n" 2>&1)
  is "$?" 0 "hostile record (${target#"$T"/}): rm -f removes it"
  is "$(echo "$out" | grep -c traceback)" 0 "hostile record (${target#"$T"/}): no traceback"
done
cmp -s "$ST/containers/$did" "$T/outside/record"; ok $? "the record a symlink pointed at is untouched"
[ -p "$T/outside/fifo" ]; ok $? "the FIFO a symlink pointed at is untouched"
[ -d "$cg2/nucleus-victim" ] && [ -d "$cg2/nucleus-victim/$cid" ]; ok $? "cgroups outside the container's own are untouched"
rmdir "$cg2/nucleus-victim/$cid" "$cg2/nucleus-victim"
"$N" rm decoy >/dev/null
is "$(records)" 0 "no record, name link or temporary left by the hostile records"
left=0
for cid in "${gone_cgroups[@]}" "${evil_ids[@]}"; do [ -e "$cg2/nucleus/$cid" ] && left=$((left + 1)); done
is "$left" 0 "no cgroup left by the damaged records"

# --- bad input ------------------------------------------------------------------------
# --- the record is in place before the workload runs --------------------------
# (written while the container is set up; the workload waits for it)
mkdir -m 0700 "$T/gate-state"
out=$("$N" --root "$T/gate-state" run --rm -v "$T/gate-state:/state:ro" -- \
  sh -c 'ls /state/containers; hostname; cat /state/containers/*' 2>&1)
ids=$(echo "$out" | sed -n 1p) host=$(echo "$out" | sed -n 2p)
like "$ids" "^[0-9a-f]{32}$" "the workload sees one record: its own"
is "${ids:0:12}" "$host" "... named by the container's id"
like "$out" '"status":"running"' "... saying running"
like "$out" '"pid":[0-9]+' "... with the container's pid"
is "$(ls "$T/gate-state/containers" | wc -l)" 0 "--rm removed it afterwards"

# a record that cannot be written: nothing of the workload runs, nothing is
# left (a state directory on a tmpfs with no inode to spare, in a mount
# namespace of the test's own)
mkdir "$T/full" "$T/mark"
out=$(unshare -m sh -c 'mount -t tmpfs -o nr_inodes=5,mode=0700 tmpfs "$1" && shift && exec "$@"' sh "$T/full" \
  "$N" --root "$T/full/state" run -v "$T/mark:/mark" -- touch /mark/ran 2>&1)
rc=$?
is "$rc" 125 "a record that cannot be written: exit 125"
like "$out" "^nucleus: state: .*No space left on device$" "... one line saying why"
is "$(echo "$out" | wc -l)" 1 "... and only that"
[ ! -e "$T/mark/ran" ]; ok $? "... the workload never ran"
is "$(cgroups)" "$cgs_before" "... its cgroup is gone"

check() { check_fails "$@"; }
check 1 "^nucleus: no such container: nope$" "unknown reference" -- inspect nope
check 1 "no such container: nope" "stop of an unknown reference" -- stop nope
check 125 "kill: invalid signal \"SIGFOO\"" "bad signal name" -- kill -s SIGFOO x
check 125 "kill: invalid signal \"99\"" "bad signal number" -- kill -s 99 x
check 125 "stop: invalid timeout \"-1\"" "negative timeout" -- stop -t -1 x
check 125 "stop: invalid timeout \"soon\"" "non-numeric timeout" -- stop -t soon x
check 125 "rm: no container given" "rm without a reference" -- rm
check 125 "exec: missing command" "exec without a command" -- exec x
"$N" run --name done1 -- true
check 125 "container done1 is not running" "exec into an exited container" -- exec done1 true
check 1 "container done1 is not running" "kill of an exited container" -- kill done1
check 125 "ps: unknown option '--bogus'" "unknown ps flag" -- ps --bogus
"$N" rm done1 >/dev/null
mkdir -m 0777 "$T/open-state"
check 125 "must be owned by uid 0 and not writable by others" "a world-writable state directory is refused" \
  -- --root "$T/open-state" ps

# stats streams frame after frame (it crashed after its first on a host
# whose cgroup2 tree has no controllers), and never prints a traceback
"$N" run --name streamer -- sleep 30 >/dev/null &
for _ in $(seq 50); do "$N" ps -q | grep -q . && break; sleep 0.1; done
err=$(timeout 3.5 "$N" stats 2>&1 >/dev/null)
is "$?" 124 "stats streams until stopped (several frames)"
is "$err" "" "... with nothing on stderr (no internal error, no traceback)"
is "$(timeout 3.5 "$N" stats streamer | grep -c streamer)" 3 "... a line per frame for the container"
"$N" rm -f streamer >/dev/null
wait
# a command with a newline (python3 -c, sh -c) stays on its container's row
"$N" run --name multiline -- sh -c 'exit 0
# second line' >/dev/null
is "$("$N" ps -a | grep -c multiline)" 1 "ps -a: a command with newlines keeps to one row"
is "$("$N" ps -a | wc -l)" "$(( $("$N" ps -a -q | wc -l) + 1 ))" "... every row a container (and the header)"
"$N" rm -f multiline >/dev/null

is "$(host_state)" "$before" "nothing left behind"
done_testing

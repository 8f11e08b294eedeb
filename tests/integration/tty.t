#!/usr/bin/env bash
# Terminals: -t gives the workload a pseudo-terminal of the container's own
# devpts; -i relays stdin; a session driven through a pty of the test's own
# shows a prompt, runs a command, exits with its code; window size follows.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"
command -v python3 >/dev/null || skip_all "python3 is needed to drive a pty"

before=$(host_state)

# drive ARGS... on a new pty: a script of (expect, send) steps; prints the
# transcript and "exit=N"
drive() {
  python3 - "$@" <<'PY'
import os, pty, sys, time, select, fcntl, termios, struct, signal
steps = [("# ", "echo hi-$((1+2))\n"), ("hi-3", "exit 3\n")]
mode = os.environ.get("DRIVE", "shell")
if mode == "winsize":
    steps = [("ready", None)]
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
out = b""
def expect(pat, timeout=10):
    global out
    end = time.time() + timeout
    while pat.encode() not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return pat.encode() in out
for pat, send in steps:
    if not expect(pat):
        print("timeout waiting for", repr(pat))
        break
    if send:
        os.write(fd, send.encode())
if mode == "winsize":
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
    expect("33 77", 5)
    os.kill(pid, signal.SIGTERM)
while True:
    try:
        r, _, _ = select.select([fd], [], [], 5)
        if not r:
            break
        d = os.read(fd, 4096)
        if not d:
            break
        out += d
    except OSError:
        break
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
print("exit=%d" % (os.waitstatus_to_exitcode(status)))
PY
}

out=$(drive "$NUCLEUS" run -t -i -- sh)
like "$out" "# " "run -t -i: the shell shows a prompt"
like "$out" "hi-3" "run -t -i: a command typed runs"
like "$out" "exit=3" "run -t -i: exit code of the session"
out=$("$NUCLEUS" run -t -- sh -c 'tty; test -t 0 && test -t 1 && test -t 2 && echo all-tty')
like "$out" "^/dev/pts/0" "run -t: the terminal is the container's own (ttyname works)"
like "$out" "all-tty" "run -t: stdin, stdout and stderr are the terminal"
out=$("$NUCLEUS" run -t --user 4242 -- sh -c 'stat -c %u $(tty)')
like "$out" "^4242" "run -t: the terminal belongs to the workload's user"
out=$(DRIVE=winsize drive "$NUCLEUS" run -t -i -- sh -c 'stty size; trap "stty size" WINCH; echo ready; while :; do sleep 0.05; done')
like "$out" "^40 100" "the window size is the caller's"
like "$out" "33 77" "a resize reaches the workload (SIGWINCH)"

"$NUCLEUS" run --name ttybox -- sleep 3061 &
sup=$!
for _ in $(seq 250); do "$NUCLEUS" exec ttybox true 2>/dev/null && break; sleep 0.02; done
out=$(drive "$NUCLEUS" exec -t -i ttybox sh)
like "$out" "hi-3" "exec -t -i: an interactive shell in a running container"
like "$out" "exit=3" "exec -t -i: its exit code"
"$NUCLEUS" rm -f ttybox >/dev/null
wait "$sup"

out=$(echo piped | "$NUCLEUS" run -i -- cat)
is "$out" piped "-i relays stdin"
out=$(echo piped | "$NUCLEUS" run -- cat)
is "$out" "" "without -i stdin is /dev/null"
out=$("$NUCLEUS" run -- sh -c 'test -t 0 || echo no-tty')
is "$out" no-tty "without -t there is no terminal"

# a workload that closes its terminal: the relay stops reading it (it
# used to spin on the hung-up master at 100% CPU)
cpu_of_run() { # nucleus run args...: the supervisor's CPU ticks over the run
  "$NUCLEUS" run "$@" &
  local pid=$! ticks=0
  sleep 1.5
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null)
  wait "$pid"
  echo "${ticks:-gone}"
}
ticks=$(cpu_of_run -t -- sh -c 'exec </dev/null >/dev/null 2>&1; sleep 2')
ok "$([ "$ticks" != gone ] && [ "$ticks" -lt 20 ]; echo $?)" "-t: a workload that closes its terminal costs the supervisor no CPU ($ticks ticks in 1.5 s)"
ticks=$(cpu_of_run -t -i -- sh -c 'exec </dev/null >/dev/null 2>&1; sleep 2' </dev/null)
ok "$([ "$ticks" != gone ] && [ "$ticks" -lt 20 ]; echo $?)" "-t -i: likewise ($ticks ticks)"

is "$(host_state)" "$before" "nothing left behind"
done_testing

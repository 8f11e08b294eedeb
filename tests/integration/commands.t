#!/usr/bin/env bash
# Every nucleus command, valid and invalid, on this host (issue 17): exit
# statuses, one-line errors, never a traceback; stats streams frame after
# frame.  The same cases run in the VM (tests/vm/guest/commands.t).
set -u
. "$(dirname "$0")/../lib/nucleus.sh"
command -v python3 >/dev/null || skip_all "python3 is needed to read the JSON output"

before=$(host_state)
. "$ROOT/tests/lib/commands.sh"

# a container that could get no cgroup (a hybrid host without the memory
# controller in cgroup v2) is still in stats, without figures
"$NUCLEUS" run --name nocg --memory 64M -- sleep 3600 >/dev/null 2>"$T/nocg.err" &
nocg=$!
for _ in $(seq 300); do "$NUCLEUS" exec nocg true 2>/dev/null && break; sleep 0.1; done
if grep -q "running without resource limits" "$T/nocg.err"; then
  nc 0 "stats of a container without a cgroup" -- stats --no-stream nocg
  like "$OUT" "nocg +- +- +- +- / -" "stats: its row, no figures"
else
  skip "this host's cgroup v2 has the memory controller: every container gets a cgroup" 4
fi
"$NUCLEUS" rm -f nocg >/dev/null
wait "$nocg"
is "$(host_state)" "$before" "no mount or process left on the host"
done_testing

#!/usr/bin/env bash
# Runs INSIDE the test VM (pure cgroup v2): every nucleus command, valid
# and invalid, as on the host (tests/integration/commands.t, issue 17):
# exit statuses, one-line errors, never a traceback; stats streams frame
# after frame with every controller there.
# shellcheck source=../../lib/guest.sh
. "$(dirname "$0")/../../lib/guest.sh"
command -v python3 >/dev/null || skip_all "python3 is needed to read the JSON output"
NUCLEUS=$N
ROOT=$REPO
T=$(mktemp -d)
export NUCLEUS_STATE_DIR=$T/state
trap 'ids=$(ls "$T/state/containers" 2>/dev/null); [ -n "$ids" ] && "$N" rm -f $ids >/dev/null 2>&1; rm -rf "$T"' EXIT

. "$REPO/tests/lib/commands.sh"
# with the controllers cgroup v2 has here, stats reads a container's
# memory and pids; the default process limit (4096) holds without --pids,
# under a parent no earlier container enabled the pids controller in
cgp=/sys/fs/cgroup/commands-t-$$
"$N" run --name lim --memory 64M --cgroup-parent "$cgp" -- sleep 3600 >/dev/null 2>&1 &
lim=$!
for _ in $(seq 300); do "$N" exec lim true 2>/dev/null && break; sleep 0.1; done
nc 0 "stats --no-stream --format json (memory limit)" -- stats --no-stream --format json lim
is "$(printf '%s' "$OUT" | python3 -c 'import json, sys; c = json.load(sys.stdin)[0]; print(c.get("memory_max"), c.get("pids_max"), c.get("pids", 0) > 0)' 2>&1)" \
  "67108864 4096 True" "stats: the memory limit, the default pids limit and the pids, from cgroup v2"
"$N" rm -f lim >/dev/null
wait "$lim"
rmdir "$cgp" 2>/dev/null
done_testing

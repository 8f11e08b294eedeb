#!/usr/bin/env bash
# The formal models under formal/, checked with SPIN: safety (assertions,
# no invalid end state) and every LTL claim; then mutations of the model
# that break the code's real safeguards, which the checker must catch (so
# the properties are not vacuous).
set -u
. "$(dirname "$0")/../lib/tap.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v spin >/dev/null || skip_all "spin is not installed (make deps)"
command -v gcc >/dev/null || skip_all "gcc is not installed"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# verify MODEL [CLAIM]: prints the error count
verify() {
  local model=$1 claim=${2:-}
  (
    cd "$W" || exit 1
    spin -a "$model" >/dev/null 2>&1 || { echo "spin failed"; exit 1; }
    if [ -z "$claim" ]; then
      gcc -O2 -DNOCLAIM -o pan pan.c 2>/dev/null && ./pan 2>&1 | grep -oE 'errors: [0-9]+'
    else
      gcc -O2 -o pan pan.c 2>/dev/null && ./pan -a -f -N "$claim" 2>&1 | grep -oE 'errors: [0-9]+'
    fi
  )
}

for model in "$ROOT"/formal/*.pml; do
  name=$(basename "$model")
  is "$(verify "$model")" "errors: 0" "$name: assertions and end states"
  for claim in $(grep -oE '^ltl [a-z_]+' "$model" | cut -d' ' -f2); do
    is "$(verify "$model" "$claim")" "errors: 0" "$name: $claim"
  done
done

# mutations of sync.pml: each removes a safeguard the code has
mutate() { # from to file
  python3 - "$ROOT/formal/sync.pml" "$W/$3" "$1" "$2" <<'PY'
import sys
s = open(sys.argv[1]).read()
assert sys.argv[3] in s, "mutation anchor not found"
open(sys.argv[2], "w").write(s.replace(sys.argv[3], sys.argv[4]))
PY
}
mutate '  :: true -> atomic { init_ready = true; holders-- }' '  :: true -> atomic { init_ready = true }' init-keeps-socket.pml
like "$(verify "$W/init-keeps-socket.pml" completes)" "errors: [1-9]" \
  "mutation caught: an init keeping its copy of the sync socket hangs the parent"
mutate '       (!child_alive);
       reaped = true' '       skip' no-reap.pml
like "$(verify "$W/no-reap.pml" failure_reaps)" "errors: [1-9]" \
  "mutation caught: a failed spawn that does not kill and reap its child"
mutate '  :: !parent_alive -> child_exit (); goto done
  fi;
  /* setup steps' '  fi;
  /* setup steps' no-pdeathsig.pml
like "$(verify "$W/no-pdeathsig.pml" death_cleans)" "errors: [1-9]" \
  "mutation caught: a child that outlives its dead parent (no PR_SET_PDEATHSIG)"
mutate '  :: gate_wanted && !gate_open ->
       if
       :: to_child ? m -> assert (m == GATE)' '  :: gate_wanted && !gate_open ->
       if
       :: true -> skip' no-gate-wait.pml
like "$(verify "$W/no-gate-wait.pml" gate_holds)" "errors: [1-9]" \
  "mutation caught: a child that does not wait at the gate runs its workload before the record exists"
mutate '            :: m == GATE && gate_open == false -> gate_open = true; goto pause_wait
' '' gate-while-paused.pml
like "$(verify "$W/gate-while-paused.pml")" "errors: [1-9]" \
  "mutation caught: a paused child that takes the gate's byte for the answer to its pause"
mutate '  :: init_ready -> skip' '  :: true -> skip' no-ready-wait.pml
like "$(verify "$W/no-ready-wait.pml" init_first)" "errors: [1-9]" \
  "mutation caught: a workload that execs before PID 1 is nucleus-init (a copy of the caller's memory)"
done_testing

# guest.sh - the shared start of the tests that run inside the test VM
# (tests/vm/guest/*.t, run by tests/vm/vm.t): $REPO, the TAP helpers and $N,
# the built nucleus.  Outside the VM they skip, saying how to run them
# there ($GUEST_RUN_OPTS: the tests/vm/run options they need).
set -u
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$REPO/tests/lib/tap.sh"
if [[ ${NUCLEUS_VM:-} != 1 ]]; then
  skip_all "runs inside the test VM only: tests/vm/run ${GUEST_RUN_OPTS:+$GUEST_RUN_OPTS }-- ${0#"$REPO"/}"
fi
N=$REPO/build/bin/nucleus
[ -x "$N" ] || skip_all "build/bin/nucleus not built"

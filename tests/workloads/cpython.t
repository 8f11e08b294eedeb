#!/usr/bin/env bash
# CPython's own regression tests (Debian's libpython3.11-testsuite), the
# OS-facing modules, run three ways: bare on the host, under bubblewrap and
# under nucleus (default agent mode, --network none).  What `make
# check-workloads` runs; too long for `make check` (about an hour on 2
# cores: the multiprocessing modules and test_asyncio take minutes each).
#
# One TAP test per module: a module that passes bare and fails under
# nucleus is `not ok`, unless tests/workloads/cpython-restrictions.txt
# names it with the reason (a deliberate restriction, README "CPython's
# regression tests"); a module listed there that passes under nucleus is
# `not ok` too (the list is kept true).  A line "MODULE TODO reason" makes
# its failure a TAP TODO: a known failure to fix, not a restriction.  The
# table (module, bare, bwrap, nucleus) goes to stdout as comments and to
# $OUT/table.txt, each run's log to $OUT/<env>/<module>.log.
#
#   CPYTHON_MODULES="test_os test_posix"  only these modules
#   CPYTHON_TIMEOUT=600                   seconds per module and way (default 600)
#   CPYTHON_JOBS=2                        modules run at once (default 2)
#   CPYTHON_OUT=DIR                       where logs and the table go (default build/workloads/cpython)
#
# Network rule: "bare" runs in a network namespace of its own with lo up
# (unshare -n), bubblewrap unshares it too and nucleus has --network none:
# no test can send anything beyond the machine, whatever regrtest resources
# it would use (none are enabled: -u is not given).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
NUCLEUS=$ROOT/build/bin/nucleus
PY=/usr/bin/python3.11
HERE=$ROOT/tests/workloads
RESTRICTIONS=$HERE/cpython-restrictions.txt

[ "$(id -u)" -eq 0 ] || skip_all "runs as root (the three ways run as root alike)"
[ -x "$NUCLEUS" ] || skip_all "build/bin/nucleus not built (run make)"
[ -x "$PY" ] || skip_all "$PY missing (Debian package python3.11)"
[ -f /usr/lib/python3.11/test/test_os.py ] || skip_all "CPython's tests missing (Debian package libpython3.11-testsuite)"
command -v bwrap >/dev/null || skip_all "bwrap missing (Debian package bubblewrap)"
command -v unshare >/dev/null || skip_all "unshare missing (util-linux)"
unshare -n true 2>/dev/null || skip_all "cannot make a network namespace here (unshare -n) for the bare run"

# The OS-facing modules: processes, signals, files, sockets on loopback,
# terminals, venvs, archives, threads and the event loop.
MODULES=${CPYTHON_MODULES:-"test_os test_posix test_subprocess test_socket test_venv test_tarfile
  test_multiprocessing_fork test_multiprocessing_forkserver test_multiprocessing_spawn
  test_asyncio test_concurrent_futures test_shutil test_tempfile test_signal test_select
  test_selectors test_epoll test_poll test_fcntl test_pty test_openpty test_tty test_ioctl
  test_resource test_pwd test_grp test_getpass test_mmap test_threading test_threadsignals
  test_socketserver test_pathlib test_glob test_fileio test_file_eintr test_eintr
  test_largefile test_stat test_posixpath test_time test_locale test_zipfile test_sqlite3
  test_uuid test_platform test_sysconfig test_site test_logging test_faulthandler
  test_ctypes test_compileall test_httpservers test_urllib2_localnet test_xmlrpc test_ssl
  test_wait3 test_wait4 test_cmd_line test_gdb test_tracemalloc test_support"}
TIMEOUT=${CPYTHON_TIMEOUT:-600}
JOBS=${CPYTHON_JOBS:-2}
OUT=${CPYTHON_OUT:-$ROOT/build/workloads/cpython}
rm -rf "$OUT"
mkdir -p "$OUT/bare" "$OUT/bwrap" "$OUT/nucleus"

W=$(mktemp -d /tmp/nucleus-cpython.XXXXXX)
chmod 0755 "$W"
export NUCLEUS_STATE_DIR=$W/state
trap 'ids=$(ls "$W/state/containers" 2>/dev/null); [ -n "$ids" ] && "$NUCLEUS" rm -f $ids >/dev/null 2>&1; rm -rf "$W"' EXIT

# one module, one way: the verdict (pass, skip, fail, timeout) in
# $OUT/<way>/<module>.verdict
run_one() { # way module
  local way=$1 mod=$2 log=$OUT/$1/$2.log rc home
  # -i '*VSOCK*': test_socket's vsock cases talk to the hypervisor (outside
  # the machine, whatever the network namespace; on a VM with a vsock
  # transport they hang there until the timeout)
  local test_cmd=("$PY" -m test -v --timeout "$((TIMEOUT - 30))" -i '*VSOCK*' "$mod")
  local env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  home=$W/home-$way-$mod
  mkdir -p "$home"
  case $way in
    bare)
      (cd "$home" && timeout -k 10 "$TIMEOUT" "${env[@]}" HOME="$home" TMPDIR="$home" \
        unshare -n sh -c 'ip link set lo up 2>/dev/null || true; exec "$@"' sh "${test_cmd[@]}") ;;
    bwrap)
      timeout -k 10 "$TIMEOUT" "${env[@]}" HOME=/root \
        bwrap --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib \
        --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --ro-bind /etc /etc \
        --tmpfs /tmp --tmpfs /root --tmpfs /var/tmp --proc /proc --dev /dev --unshare-all \
        --die-with-parent --chdir /root "${test_cmd[@]}" ;;
    nucleus)
      timeout -k 10 "$TIMEOUT" "${env[@]}" NUCLEUS_STATE_DIR="$NUCLEUS_STATE_DIR" \
        "$NUCLEUS" run --rm -- "${test_cmd[@]}" ;;
  esac >"$log" 2>&1 </dev/null
  rc=$?
  rm -rf "$home"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo timeout
  elif [ "$rc" -ne 0 ]; then echo fail
  elif grep -A1 -q '^1 test skipped:' "$log"; then echo skip
  else echo pass
  fi >"$OUT/$way/$mod.verdict"
}
export -f run_one
export OUT PY TIMEOUT W NUCLEUS NUCLEUS_STATE_DIR

# the three ways of a module run one after the other, $JOBS modules at once:
# whatever else loads the machine loads the three alike
start=$SECONDS
printf '%s\n' $MODULES | xargs -P "$JOBS" -I{} bash -c 'for w in bare bwrap nucleus; do run_one "$w" {}; done'
diag "ran $(printf '%s\n' $MODULES | wc -l) modules three ways in $((SECONDS - start)) s"

restriction() { # module: its reason in the restrictions file, if listed
  awk -v m="$1" '$1 == m { $1 = ""; sub(/^ +/, ""); print; exit }' "$RESTRICTIONS" 2>/dev/null
}
failing() { # log: the failing tests regrtest names
  grep -E '^(FAIL|ERROR): ' "$1" | sed -E 's/^(FAIL|ERROR): //' | sort -u | head -8 | tr '\n' ';'
}

{
  printf '%-34s %-8s %-8s %-8s\n' module bare bwrap nucleus
  for mod in $MODULES; do
    printf '%-34s %-8s %-8s %-8s\n' "$mod" "$(cat "$OUT/bare/$mod.verdict")" \
      "$(cat "$OUT/bwrap/$mod.verdict")" "$(cat "$OUT/nucleus/$mod.verdict")"
  done
  for w in bare bwrap nucleus; do
    printf '%s: %s of %s pass\n' "$w" "$(cat "$OUT/$w/"*.verdict | grep -c '^pass$')" "$(printf '%s\n' $MODULES | wc -l)"
  done
} >"$OUT/table.txt"
sed 's/^/# /' "$OUT/table.txt"

for mod in $MODULES; do
  bare=$(cat "$OUT/bare/$mod.verdict")
  nuc=$(cat "$OUT/nucleus/$mod.verdict")
  why=$(restriction "$mod")
  if [ "$bare" != pass ]; then
    skip "$mod does not pass bare ($bare): nothing to compare" 1
  elif [ "$nuc" = pass ] && [ "${why%% *}" = TODO ]; then
    TODO=${why#TODO } ok 0 "$mod: passes under nucleus (listed as TODO: drop it from $(basename "$RESTRICTIONS"))"
  elif [ "$nuc" = pass ]; then
    ok "$([ -z "$why" ]; echo $?)" "$mod: passes under nucleus${why:+ (but listed as restricted: drop it from $(basename "$RESTRICTIONS"))}"
  elif [ "${why%% *}" = TODO ]; then
    TODO=${why#TODO } ok 1 "$mod: passes bare, $nuc under nucleus"
    diag "failing: $(failing "$OUT/nucleus/$mod.log")"
  elif [ -n "$why" ]; then
    ok 0 "$mod: $nuc under nucleus, a documented restriction: $why"
  else
    ok 1 "$mod: passes bare, $nuc under nucleus"
    diag "failing: $(failing "$OUT/nucleus/$mod.log")"
    diag "log: $OUT/nucleus/$mod.log"
  fi
done
done_testing

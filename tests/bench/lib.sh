# shellcheck shell=bash
# lib.sh - shared set-up for the benchmark scripts (sourced, not run).
#
# Provides $ROOT (the repository), $NUCLEUS, $BENCH (this directory), $W (a
# scratch directory removed on exit), $DATA (where results go: $BENCH_DATA
# when set, e.g. docs/bench-data by all.sh, else a directory inside $W),
# $QUICK (1 for the short mode), and helpers.  Scripts register extra clean-up
# with `on_exit 'command'`; everything registered runs on EXIT, INT and TERM,
# last registered first, each step allowed to fail.
#
# Network rule: every benchmark talks only to 127.0.0.0/8.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/tests/bench
NUCLEUS=$ROOT/build/bin/nucleus
QUICK=${QUICK:-0}
BENCH_NAME=${BENCH_NAME:-$(basename "$0" .sh)}

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
note() { echo "$BENCH_NAME: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$NUCLEUS" ] || die "build first (make)"

# need TOOL... : fail with the package to install
need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "$t missing (tests/bench/deps.sh installs what the benchmarks need)"
  done
}
need lua5.4
lua5.4 -e 'require "cjson"' 2>/dev/null || die "lua-cjson missing (make deps)"

W=$(mktemp -d "/tmp/nucleus-bench-$BENCH_NAME.XXXXXX")
chmod 0755 "$W"
_ON_EXIT=()
on_exit() { _ON_EXIT=("$1" "${_ON_EXIT[@]}"); }
_BG=""
_run_exit() {
  local rc=$? c
  trap - EXIT INT TERM
  if [ -n "$_BG" ]; then kill -TERM -- "-$_BG" 2>/dev/null && sleep 1; kill -KILL -- "-$_BG" 2>/dev/null; fi
  for c in "${_ON_EXIT[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  # containers whose supervisor a failed or interrupted run killed: rm
  # removes their cgroups, which would otherwise stay behind
  if [ -d "$W/state/containers" ] && [ -n "$(ls "$W/state/containers")" ]; then
    "${NUCLEUS:-nucleus}" --root "$W/state" rm -f $(ls "$W/state/containers") >/dev/null 2>&1 || true
  fi
  rm -rf "$W"
  exit "$rc"
}
trap _run_exit EXIT
trap 'echo "$BENCH_NAME: line $LINENO: a command failed (exit $?)" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# A snapshot of the build, taken now: other work may rebuild build/ while a
# benchmark runs (an exec of a binary being linked fails), and a run should
# measure one build.  $NUCLEUS is the copy; LUA_SNAP_PATH and LUA_SNAP_CPATH
# load the Lua API from the copy (the tree's lua/ and build/ as at the start).
# all.sh takes one snapshot for the whole suite and passes it on in
# NUCLEUS_BENCH_SNAP.
if [ -n "${NUCLEUS_BENCH_SNAP:-}" ]; then
  SNAP=$NUCLEUS_BENCH_SNAP
else
  SNAP=$W/build
fi
[ -n "${NUCLEUS_BENCH_SNAP:-}" ] || for _try in 1 2 3 4 5; do
  mkdir -p "$SNAP/bin" "$SNAP/lua-src"
  cp "$NUCLEUS" "$SNAP/bin/nucleus" && cp -r "$ROOT/build/lib" "$ROOT/build/lua" "$SNAP/" &&
    cp -r "$ROOT/lua/." "$SNAP/lua-src/" &&
    cmp -s "$NUCLEUS" "$SNAP/bin/nucleus" && "$SNAP/bin/nucleus" --version >/dev/null 2>&1 && break
  [ "$_try" -lt 5 ] || die "cannot take a consistent copy of build/ (being rebuilt?)"
  sleep 2
done
NUCLEUS=$SNAP/bin/nucleus
# shellcheck disable=SC2034
LUA_SNAP_PATH="$SNAP/lua-src/?.lua;$SNAP/lua-src/?/init.lua;$SNAP/lua/?.lua;;"
# shellcheck disable=SC2034
LUA_SNAP_CPATH="$SNAP/lib/?.so;;"
# docpaths: turn the scratch paths of a command into what the document shows
docpaths() {
  sed -e "s|$SNAP/bin/nucleus|<repo>/build/bin/nucleus|g" -e "s|$SNAP/lua-src|<repo>/lua|g" \
    -e "s|$SNAP|<repo>/build|g" -e "s|$W|\$W|g" -e "s|$ROOT|<repo>|g"
}

# Container records (`nucleus ps`) go to a scratch state directory on the
# same file system as /run, removed with $W, not to the host's /run/nucleus.
export NUCLEUS_STATE_DIR=$W/state

if [ -n "${BENCH_DATA:-}" ]; then
  DATA=$BENCH_DATA
else
  DATA=$W/data
fi
mkdir -p "$DATA"

# bg_wait CMD... : run CMD (a program, not a function) in a process group of
# its own and wait for it, so that INT and TERM interrupt the wait (bash runs
# no trap while a foreground child that survives the signal, as hyperfine
# does, is running); the clean-up stops CMD's whole group.
bg_wait() {
  setsid "$@" &
  _BG=$!
  local rc=0
  wait "$_BG" || rc=$?
  _BG=""
  return $rc
}

# The summary tool: merges hyperfine JSON exports, prints tables, etc.
stats() { lua5.4 "$BENCH/stats.lua" "$@"; }

# A static busybox OCI bundle in $1 for crun, runc and runsc, running /bin/true
# (crun's default spec, edited in place: a JSON round trip would turn its
# empty lists into objects, which runc rejects).  The relative cgroupsPath
# puts runc's cgroup under our own in each hierarchy (machine.md section 6).
make_bundle() {
  local b=$1 cg=$2
  need busybox crun
  mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
  cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
  ln -sf busybox "$b/rootfs/bin/true"
  ln -sf busybox "$b/rootfs/bin/sleep"
  ln -sf busybox "$b/rootfs/bin/sh"
  (cd "$b" && crun spec)
  sed -i -e 's|"sh"|"/bin/true"|' -e 's|"terminal": true|"terminal": false|' \
    -e 's|"linux": {|"linux": {\n\t\t"cgroupsPath": "'"$cg"'",|' "$b/config.json"
}

# bundle_args BUNDLE ARG... : set the bundle's process args (JSON strings)
bundle_args() {
  local b=$1; shift
  local a="" x
  for x in "$@"; do a="$a${a:+, }\"$x\""; done
  sed -i -e '/"args": \[/,/\]/c\		"args": [ '"$a"' ],' "$b/config.json"
}

# Remove what the OCI peers can leave behind: their containers (state dirs
# under $W) and the cgroup directories named NAME that runc or runsc create
# under our own cgroup in each hierarchy.  Only rmdir: never a mount.
cleanup_peers() {
  local name d
  [ -d "$W/crun-state" ] && for name in "$@"; do crun --root "$W/crun-state" delete -f "$name"; done
  [ -d "$W/runc-state" ] && for name in "$@"; do runc --root "$W/runc-state" delete -f "$name"; done
  [ -d "$W/runsc-state" ] && for name in "$@"; do runsc --root "$W/runsc-state" delete -force "$name"; done
  for name in "$@"; do
    find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -depth -type d -name "$name" 2>/dev/null |
      while read -r d; do rmdir "$d" 2>/dev/null || true; done
  done
  return 0
}

# runsc_ok: runsc installed and able to run the bundle here (machine.md
# section 6: ptrace platform, no network, cgroups ignored).
RUNSC_FLAGS="--platform=ptrace --network=none --ignore-cgroups"
runsc_ok() {
  command -v runsc >/dev/null 2>&1 || return 1
  timeout 60 runsc --root "$W/runsc-state" $RUNSC_FLAGS run --bundle "$1" nb-runsc-probe >/dev/null 2>&1
}

# Run a script in a private mount namespace in which the hybrid cgroup2 mount
# is hidden, so crun sees pure v1 (the host's mounts are not touched).
PRIVATE_MNTNS=(unshare -m --propagation private bash -c
  'mount -t tmpfs -o size=4k none /sys/fs/cgroup/unified 2>/dev/null || true; exec "$@"' bash)
in_private_mntns() { "${PRIVATE_MNTNS[@]}" "$@"; }

# The version line of each tool, for the document.
version_of() {
  case $1 in
    nucleus) "$NUCLEUS" --version 2>&1 | sed -n 1p ;;
    hyperfine|crun|bwrap|runsc|runc|gnuplot) "$1" --version 2>&1 | sed -n 1p ;;
    lua5.4) lua5.4 -v 2>&1 | sed -n 1p ;;
    unshare) unshare --version | sed -n 1p ;;
    busybox) busybox 2>&1 | sed -n 1p ;;
    postgres) /usr/lib/postgresql/15/bin/postgres --version ;;
    pgbench) /usr/lib/postgresql/15/bin/pgbench --version ;;
    *) echo "$1 ?" ;;
  esac
}

# fmt NUMBER [DECIMALS]
fmt() { LC_ALL=C printf "%.${2:-2}f" "$1"; }

# now: seconds since the epoch, ns resolution
now() { date +%s.%N; }

# headline WHAT VALUE : one row of the summary table ($DATA/NAME.headline)
: > "$DATA/$BENCH_NAME.headline"
headline() { printf '| %s | %s |\n' "$1" "$2" >> "$DATA/$BENCH_NAME.headline"; }

# target NAME VALUE MET(yes|no) WHY : one line of this script's targets
# ($DATA/NAME.targets, read by all.sh)
: > "$DATA/$BENCH_NAME.targets"
target() {
  printf '%s|%s|%s|%s\n' "$1" "$2" "$3" "${4:-}" >> "$DATA/$BENCH_NAME.targets"
}

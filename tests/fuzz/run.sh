#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - build the libFuzzer targets of tests/fuzz
# (if needed) and run each for SECONDS (default 10); prints TAP.
#
#   tests/fuzz/run.sh          10 s per target (make check runs it with 8)
#   tests/fuzz/run.sh 300      the longer run (make fuzz)
#
# Everything goes under build/fuzz/ of the repository: the executables, the
# work corpora (build/fuzz/corpus/TARGET: new inputs accumulate there, the
# checked-in seeds in tests/fuzz/corpus/TARGET are read, never written),
# the logs (build/fuzz/fuzz_TARGET.log) and crash inputs
# (build/fuzz/artifacts/TARGET-crash-*).  A crash makes its test "not ok",
# prints the input's path and how to reproduce, and the exit status non-zero.
#
# Environment: FUZZ_TARGETS ("toml seccomp"), FUZZ_CC (clang), FUZZ_JOBS
# (parallel fuzzing processes per target, default 1), FUZZ_ARGS (extra
# libFuzzer flags), FUZZ_CORPUS_MAX (a work corpus with more files is first
# minimized with -merge=1; default 1000), NUCLEUS_FUZZ_LUA_DIR (the Lua
# modules; default lua/ of this tree).  Without clang or libFuzzer:
# "1..0 # SKIP reason".
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-10}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
out=$root/build/fuzz
cc=${FUZZ_CC:-clang}
targets=${FUZZ_TARGETS:-toml seccomp}
cd "$root" || exit 2

skip_all() { echo "1..0 # SKIP $1"; exit 0; }
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

command -v "$cc" >/dev/null 2>&1 || skip_all "$cc not installed (apt-get install clang libclang-rt-dev)"
mkdir -p "$out" || exit 2
probe_dir=$(mktemp -d /tmp/nucleus-fuzz-probe.XXXXXX) || exit 2
trap 'rm -rf "$probe_dir"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput (const uint8_t *d, size_t n) { return 0; }' > "$probe_dir/p.c"
"$cc" -fsanitize=fuzzer,address,undefined -o "$probe_dir/p" "$probe_dir/p.c" >"$probe_dir/log" 2>&1 \
  || skip_all "libFuzzer/sanitizer runtimes not usable with $cc (apt-get install libclang-rt-dev): $(head -c 200 "$probe_dir/log" | tr '\n' ' ')"
pkg-config --exists lua5.4 2>/dev/null || skip_all "liblua5.4-dev not installed (make deps)"

LUA_CFLAGS=$(pkg-config --cflags lua5.4)
CFLAGS="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 -fno-omit-frame-pointer
        -std=gnu11 -Wall -Wno-unused-parameter -Icore/include $LUA_CFLAGS $(pkg-config --cflags libnl-route-3.0)"
# Lua statically, its API exported (-E) for lua-cjson's cjson.so
LUA_LIBS="-Wl,-E -Wl,-Bstatic -llua5.4 -Wl,-Bdynamic -lm -ldl"

sources_of() {
  case $1 in
    toml) echo tests/fuzz/fuzz_toml.c ;;
    # (init_blob.S carries nucleus-init, which make builds first)
    seccomp) echo tests/fuzz/fuzz_seccomp.c core/src/*.c core/src/init_blob.S core/bind/l_core.c core/bind/l_plan.c core/bind/l_net.c ;;
  esac
}
libs_of() {
  case $1 in
    toml) echo "$LUA_LIBS" ;;
    seccomp) echo "-DNC_INIT_PATH=\"build/init/nucleus-init\" $LUA_LIBS -lseccomp -lcap -lcrypto -lnl-route-3 -lnl-3" ;;
  esac
}

# build TARGET: rebuilt when any source, header or this script is newer
build() {
  local t=$1 bin=$out/fuzz_$1 srcs deps newer
  srcs=$(sources_of "$t")
  [ -n "$srcs" ] || { echo "unknown target $t"; return 1; }
  deps="$srcs tests/fuzz/fuzz_lua.h tests/fuzz/run.sh"
  [ "$t" = seccomp ] && deps="$deps $(echo core/include/nucleus/*.h core/src/*.h core/bind/*.h)"
  if [ -x "$bin" ]; then
    # shellcheck disable=SC2086 # lists of paths without blanks
    newer=$(find $deps -newer "$bin" 2>/dev/null | head -1)
    [ -z "$newer" ] && return 0
  fi
  # shellcheck disable=SC2086,SC2046 # word splitting of flag lists is intended
  "$cc" $CFLAGS -o "$bin.tmp.$$" $srcs $(libs_of "$t") >"$out/fuzz_$t.build.log" 2>&1 \
    && mv -f "$bin.tmp.$$" "$bin"
  local rc=$?
  rm -f "$bin.tmp.$$"
  return $rc
}

# the symbolizer, for readable stacks (Debian installs it versioned)
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in "$(command -v llvm-symbolizer 2>/dev/null)" /usr/lib/llvm-*/bin/llvm-symbolizer; do
    if [ -n "$s" ] && [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH=$s; break; fi
  done
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# the Lua modules come from this tree and lua-cjson from the system paths
unset LUA_PATH LUA_PATH_5_4 LUA_CPATH LUA_CPATH_5_4 NUCLEUS_FUZZ_LUA_COV
export NUCLEUS_FUZZ_LUA_DIR=${NUCLEUS_FUZZ_LUA_DIR:-$root/lua}

n=0
failed=0
# shellcheck disable=SC2086 # a list of names
set -- $targets
echo "1..$#"
for t in "$@"; do
  n=$((n + 1))
  if ! build "$t"; then
    echo "not ok $n - fuzz_$t: build failed"
    [ -f "$out/fuzz_$t.build.log" ] && diag "$(tail -n 30 "$out/fuzz_$t.build.log")"
    failed=$((failed + 1))
    continue
  fi
  bin=$out/fuzz_$t
  work=$out/corpus/$t
  log=$out/fuzz_$t.log
  mkdir -p "$work" "$out/artifacts"
  # libFuzzer only adds to the work corpus, and runs all of it first: past
  # FUZZ_CORPUS_MAX files, keep only the inputs that add coverage
  if [ "$(find "$work" -type f | wc -l)" -gt "${FUZZ_CORPUS_MAX:-1000}" ]; then
    rm -rf "$work.merge" && mkdir -p "$work.merge"
    if "$bin" -merge=1 -max_len=4096 -timeout=30 "$work.merge" "$work" >"$out/fuzz_$t.merge.log" 2>&1; then
      rm -rf "$work" && mv "$work.merge" "$work"
    else
      rm -rf "$work.merge"
    fi
  fi
  jobs=()
  [ "${FUZZ_JOBS:-1}" -gt 1 ] && jobs=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
  # the first corpus directory is the writable one
  touch "$out/.run-$t"
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$secs" -max_len=4096 -timeout=30 -rss_limit_mb=2048 \
    -dict="$here/$t.dict" -artifact_prefix="$out/artifacts/$t-" -print_final_stats=1 \
    "${jobs[@]}" ${FUZZ_ARGS:-} "$work" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -n 1) # -fork
  stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' )
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    echo "ok $n - fuzz_$t: $runs runs, no crash"
    diag "$stats (Lua edges count in ft); corpus $work"
  else
    failed=$((failed + 1))
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    [ -n "$artifact" ] || artifact=$(find "$out/artifacts" -type f -name "$t-*" -newer "$out/.run-$t" | head -n 1)
    if [ -z "$artifact" ]; then
      echo "not ok $n - fuzz_$t: failed (exit $rc)"
      diag "$(tail -n 20 "$log")"
      diag "log: $log"
      continue
    fi
    echo "not ok $n - fuzz_$t: crashed (exit $rc)"
    diag "crash input: $artifact"
    diag "reproduce:   $bin $artifact"
    diag "log: $log"
    # the finding: from the first report line to libFuzzer's SUMMARY
    diag "$(sed -n '/^BUG:\|ERROR: [A-Za-z]*Sanitizer\|runtime error:\|ERROR: libFuzzer/,/^SUMMARY:/p' "$log" \
      | grep -v 'in fuzzer::\|in __sanitizer_print_stack_trace\|libc_start\|in _start' | head -n 40)"
  fi
done
[ "$failed" -eq 0 ]

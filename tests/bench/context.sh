#!/usr/bin/env bash
# Context population: how `nucleus run --context DIR -- /bin/true` grows with
# the size of DIR, in copy and bind modes, against `cp -a` of the same tree
# into a fresh tmpfs (in a private mount namespace) and nucleus without a
# context.  Trees of 100, 10 000 and 100 000 files of 256 bytes, 100 per
# directory.
#
#   tests/bench/context.sh          (QUICK=1: fewer runs; SIZES="100 10000" to choose)
set -euo pipefail
BENCH_NAME=context
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need hyperfine unshare
SIZES=${SIZES:-100 10000 100000}
runs_for() {  # runs per command for a tree of $1 files
  if [ "$QUICK" = 1 ]; then
    if [ "$1" -le 1000 ]; then echo 10; elif [ "$1" -le 10000 ]; then echo 5; else echo 3; fi
  else
    if [ "$1" -le 1000 ]; then echo 40; elif [ "$1" -le 10000 ]; then echo 20; else echo 8; fi
  fi
}

# nucleus without a context and with a bound one cost the same at every
# size, a few ms: they get many runs of their own, in rounds alternating
# the two (this machine's speed drifts within seconds), where the copies
# get the few above
if [ "$QUICK" = 1 ]; then CHEAP_ROUNDS=4; else CHEAP_ROUNDS=20; fi
CHEAP_PER_ROUND=5
mkdir -p "$W/mnt"
echo "files,command,median_ms,mean_ms,stddev_ms,min_ms,runs" > "$DATA/context.csv"
CMDS_DOC=""
for n in $SIZES; do
  T=$W/tree$n
  lua5.4 "$BENCH/mktree.lua" "$T" "$n"
  runs=$(runs_for "$n")
  # the bind case before the copies, whose tmpfs teardown can spill over
  names=(nucleus-no-context nucleus-bind nucleus-copy cp-a-tmpfs)
  cmds=(
    "$NUCLEUS run -- /bin/true"
    "$NUCLEUS run --context $T --context-mode bind -- /bin/true"
    "$NUCLEUS run --context $T -- /bin/true"
    "unshare -m --propagation private sh -c 'mount -t tmpfs none $W/mnt && cp -a $T $W/mnt/'"
  )
  # every command works, and the copy is complete
  for c in "${cmds[@]}"; do sh -c "$c" || die "failed: $c"; done
  got=$("$NUCLEUS" run --context "$T" -- sh -c 'find /context -type f | wc -l')
  [ "$got" -eq "$n" ] || die "copied context has $got files, expected $n"
  note "$n files: $((CHEAP_ROUNDS * CHEAP_PER_ROUND)) runs without and with a bound context, $runs of the copies"
  parts=()
  for r in $(seq "$CHEAP_ROUNDS"); do
    HF=(hyperfine -N --warmup 1 --runs "$CHEAP_PER_ROUND" --style none --export-json "$W/ctx$n-$r.json")
    for i in 0 1; do HF+=(-n "${names[$i]}" "${cmds[$i]}"); done
    bg_wait "${HF[@]}" >/dev/null 2>"$W/hf.err" || { cat "$W/hf.err" >&2; die "hyperfine failed"; }
    parts+=("$W/ctx$n-$r.json")
  done
  HF=(hyperfine -N --warmup 1 --runs "$runs" --style none --export-json "$W/ctx$n-copy.json")
  for i in 2 3; do HF+=(-n "${names[$i]}" "${cmds[$i]}"); done
  bg_wait "${HF[@]}" >/dev/null 2>"$W/hf.err" || { cat "$W/hf.err" >&2; die "hyperfine failed"; }
  ORDER=$(IFS=,; echo "${names[*]}") stats merge "$DATA/context-$n.json" "${parts[@]}" "$W/ctx$n-copy.json"
  stats csv "$DATA/context-$n.json" | tail -n +2 |
    awk -F, -v n="$n" '{print n "," $1 "," $2 "," $3 "," $4 "," $7 "," $9}' >> "$DATA/context.csv"
  [ -n "$CMDS_DOC" ] || for i in "${!names[@]}"; do
    CMDS_DOC+=$(printf '%-19s %s' "${names[$i]}" "${cmds[$i]}" | sed -e "s|$T|\$TREE|g" | docpaths)$'\n'
  done
  rm -rf "$T"
done

# median of command $2 at size $1
m() { awk -F, -v n="$1" -v c="$2" '$1 == n && $2 == c {print $3}' "$DATA/context.csv"; }
table() {
  echo "| files | nucleus, no context ms | nucleus copy ms | nucleus bind ms | cp -a to tmpfs ms | copy - no context ms | bind - no context ms |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  for n in $SIZES; do
    b=$(m "$n" nucleus-no-context) c=$(m "$n" nucleus-copy) d=$(m "$n" nucleus-bind) p=$(m "$n" cp-a-tmpfs)
    echo "| $n | $(fmt "$b") | $(fmt "$c") | $(fmt "$d") | $(fmt "$p") | $(fmt "$(lua5.4 -e "print($c-$b)")") | $(fmt "$(lua5.4 -e "print($d-$b)")") |"
  done
}

set -- $SIZES
first=$1 last=${!#}
B0=$(m "$first" nucleus-bind) B1=$(m "$last" nucleus-bind)
C0=$(m "$first" nucleus-copy) C1=$(m "$last" nucleus-copy)
P0=$(m "$first" cp-a-tmpfs) P1=$(m "$last" cp-a-tmpfs)
# "independent of size": the largest tree within 10 % (at least 0.5 ms) of the smallest
MET=$(lua5.4 -e "os.exit(($B1 - $B0) <= math.max(0.5, 0.1 * $B0) and 0 or 1)" && echo yes || echo no)
PERFILE_C=$(lua5.4 -e "print(($C1 - $C0) / ($last - $first) * 1000)")
PERFILE_P=$(lua5.4 -e "print(($P1 - $P0) / ($last - $first) * 1000)")
BN0=$(m "$first" nucleus-no-context) BN1=$(m "$last" nucleus-no-context)
target "bind-mode context start-up independent of size ($first -> $last files within 10 %)" \
  "$(fmt "$B0") ms -> $(fmt "$B1") ms" "$MET" \
  "a bind is one recursive bind mount, no scan of the tree; nucleus without a context measured $(fmt "$BN0") ms and $(fmt "$BN1") ms at the same two sizes (the machine is shared with other work)"
headline "context of $last files: copy / bind / \`cp -a\` into tmpfs" "$(fmt "$C1") ms / $(fmt "$B1") ms / $(fmt "$P1") ms"

{
  echo "## Context population"
  echo
  echo "Median start-up of \`/bin/true\` with a context of N files of 256 bytes (100 per directory),"
  echo "against \`cp -a\` of the same tree into a fresh tmpfs; hyperfine: nucleus without and with a bound"
  echo "context $((CHEAP_ROUNDS * CHEAP_PER_ROUND)) runs each per size, in $CHEAP_ROUNDS alternating rounds; the copies"
  echo "$(runs_for 100)/$(runs_for 10000)/$(runs_for 100000) runs for 100/10 000/100 000 files (1 warm-up run; the tree is in the page cache)."
  echo
  table
  echo
  echo "- copy mode grows by $(fmt "$PERFILE_C" 1) µs per file ($first -> $last files); \`cp -a\` by $(fmt "$PERFILE_P" 1) µs per file."
  echo "- bind mode: $(fmt "$B0") ms with $first files, $(fmt "$B1") ms with $last."
  echo
  echo "Commands:"
  echo
  echo '```'
  printf '%s' "$CMDS_DOC"
  echo '```'
  echo
  echo "Raw data: [bench-data/context.csv](bench-data/context.csv), \`bench-data/context-N.json\`."
} > "$DATA/context.md"

table

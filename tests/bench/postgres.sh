#!/usr/bin/env bash
# PostgreSQL under nucleus: pgbench SELECT-only (-S) and TPC-B-like (the
# default script) against the same server, same data directory and same
# settings, run bare and inside
#   nucleus run --network host --allow-host-network --user postgres \
#     -v DATADIR:/pgdata -v SOCKDIR:/pgsock -- postgres -D /pgdata ...
# The server binaries come from the host's /usr, bound read-only by nucleus.
# The server listens on 127.0.0.1 only (and a unix socket in SOCKDIR); pgbench
# connects over TCP to 127.0.0.1.  Rounds alternate the order (bare first,
# then nucleus first, ...) so that a drift of the machine does not favour one.
#
#   tests/bench/postgres.sh     (SCALE=10 DURATION=30 CLIENTS=4 THREADS=2 ROUNDS=2;
#                                QUICK=1: SCALE=2 DURATION=5 ROUNDS=1)
# Needs Debian's postgresql-15 (server, initdb, pgbench) and postgresql-client-15.
set -euo pipefail
BENCH_NAME=postgres
. "$(dirname "$0")/lib.sh"
PG=/usr/lib/postgresql/15/bin
for t in postgres initdb pgbench pg_isready; do
  [ -x "$PG/$t" ] || die "$PG/$t missing (apt-get install postgresql-15 postgresql-client-15)"
done
need setpriv ss
id postgres >/dev/null 2>&1 || die "no postgres user (apt-get install postgresql-15)"
if [ "$QUICK" = 1 ]; then
  SCALE=${SCALE:-2} DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-1} WARM=2
else
  SCALE=${SCALE:-10} DURATION=${DURATION:-30} ROUNDS=${ROUNDS:-2} WARM=5
fi
CLIENTS=${CLIENTS:-4} THREADS=${THREADS:-2}
PORT=${PG_BENCH_PORT:-54329}
HOST=127.0.0.1
ss -Htln "sport = :$PORT" | grep . >/dev/null && die "port $PORT is in use (set PG_BENCH_PORT)"

PGDATA_DIR=$W/pgdata SOCK=$W/pgsock
mkdir -m 0700 "$PGDATA_DIR"
mkdir -m 0755 "$SOCK"
chown postgres:postgres "$PGDATA_DIR" "$SOCK"
SERVER=""
stop_server() {
  [ -n "$SERVER" ] || return 0
  kill -INT "$SERVER" 2>/dev/null || true
  local rc=0
  wait "$SERVER" || rc=$?
  SERVER=""
  return $rc
}
on_exit 'if [ -n "$SERVER" ]; then kill -INT "$SERVER"; sleep 2; kill -KILL "$SERVER"; fi'

AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups)
"${AS_PG[@]}" "$PG/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --locale=C >"$W/initdb.log" 2>&1 ||
  { cat "$W/initdb.log" >&2; die "initdb failed"; }

SERVER_OPTS=(-c "listen_addresses=$HOST" -p "$PORT")
BARE_CMD=("${AS_PG[@]}" "$PG/postgres" -D "$PGDATA_DIR" "${SERVER_OPTS[@]}" -c unix_socket_directories="$SOCK")
NUCLEUS_CMD=("$NUCLEUS" run --network host --allow-host-network --user postgres
  -v "$PGDATA_DIR:/pgdata" -v "$SOCK:/pgsock" --
  "$PG/postgres" -D /pgdata "${SERVER_OPTS[@]}" -c unix_socket_directories=/pgsock)

start_server() {  # bare|nucleus
  local -n cmd=${1^^}_CMD
  "${cmd[@]}" </dev/null >>"$W/server-$1.log" 2>&1 &
  SERVER=$!

  for _ in $(seq 1 300); do
    "$PG/pg_isready" -q -h $HOST -p "$PORT" -U postgres && return 0
    kill -0 "$SERVER" 2>/dev/null || { cat "$W/server-$1.log" >&2; die "$1 server exited"; }
    sleep 0.1
  done
  cat "$W/server-$1.log" >&2
  die "$1 server not ready after 30 s"
}

PGB=("$PG/pgbench" -h "$HOST" -p "$PORT" -U postgres)
echo "round,server,test,tps,latency_avg_ms,latency_stddev_ms,transactions,failed" > "$DATA/postgres.csv"
bench() {  # ROUND SERVER TEST(select|tpcb)
  local flag=() out
  [ "$3" = select ] && flag=(-S)
  out=$("${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P "$DURATION" "${flag[@]}" postgres 2>&1) ||
    { echo "$out" >&2; die "pgbench $3 against $2 failed"; }
  echo "$out" > "$W/pgbench-$1-$2-$3.log"
  echo "$out" | awk -v r="$1" -v s="$2" -v t="$3" '
    /^tps = / {tps = $3}
    /^latency average = / {lat = $4}
    /^latency stddev = / {sd = $4}
    /^number of transactions actually processed:/ {n = $6}
    /^number of failed transactions:/ {f = $5}
    END {printf "%s,%s,%s,%s,%s,%s,%s,%s\n", r, s, t, tps, lat, sd, n, (f == "" ? 0 : f)}' >> "$DATA/postgres.csv"
}

note "initialising pgbench at scale $SCALE"
start_server bare
"${PGB[@]}" -i -q -s "$SCALE" postgres >"$W/init.log" 2>&1 || { cat "$W/init.log" >&2; die "pgbench -i failed"; }
stop_server
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order="bare nucleus"; else order="nucleus bare"; fi
  for s in $order; do
    note "round $r: $s server: $WARM s warm-up, select-only and TPC-B, $DURATION s each"
    start_server "$s"
    "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$WARM" -S postgres >/dev/null 2>&1
    bench "$r" "$s" select
    bench "$r" "$s" tpcb
    stop_server || die "$s server exited with status $? (see $W/server-$s.log)"
  done
done
grep -q 'database system is shut down' "$W/server-nucleus.log" || die "the nucleus server did not shut down cleanly"

# means over the rounds
avg() { awk -F, -v s="$1" -v t="$2" -v c="$3" 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i; next}
  $2 == s && $3 == t {x += $h[c]; n++} END {printf "%.3f", x / n}' "$DATA/postgres.csv"; }
table() {
  echo "| test | server | TPS | latency avg ms | latency stddev ms | TPS / bare |"
  echo "|---|---|---:|---:|---:|---:|"
  for t in select tpcb; do
    local bare; bare=$(avg bare $t tps)
    for s in bare nucleus; do
      local tps; tps=$(avg $s $t tps)
      echo "| $([ $t = select ] && echo 'SELECT-only (-S)' || echo 'TPC-B (default)') | $s | $(fmt "$tps" 1) | $(fmt "$(avg $s $t latency_avg_ms)" 3) | $(fmt "$(avg $s $t latency_stddev_ms)" 3) | $(fmt "$(lua5.4 -e "print($tps / $bare)")" 3) |"
    done
  done
}
TABLE=$(table)
RS=$(lua5.4 -e "print($(avg nucleus select tps) / $(avg bare select tps))")
RT=$(lua5.4 -e "print($(avg nucleus tpcb tps) / $(avg bare tpcb tps))")
PER_ROUND=$(awk -F, 'NR > 1 && $3 == "select" {t[$1 "," $2] = $4; r[$1] = 1}
  END {for (i in r) printf "%s%.3f", (n++ ? ", " : ""), t[i ",nucleus"] / t[i ",bare"]}' "$DATA/postgres.csv")
target "pgbench SELECT-only TPS under nucleus >= 0.98 x bare" "$(fmt "$RS" 3) x bare (TPC-B: $(fmt "$RT" 3) x)" \
  "$(lua5.4 -e "os.exit($RS >= 0.98 and 0 or 1)" && echo yes || echo no)" \
  "per round: $PER_ROUND; the server's syscalls pass the seccomp filter and Landlock, and pgbench shares the 2 cores with the server and the machine's other work"
headline "pgbench SELECT-only TPS, nucleus / bare" "$(fmt "$RS" 3) ($(fmt "$(avg nucleus select tps)" 0) / $(fmt "$(avg bare select tps)" 0))"
headline "pgbench TPC-B TPS, nucleus / bare" "$(fmt "$RT" 3) ($(fmt "$(avg nucleus tpcb tps)" 0) / $(fmt "$(avg bare tpcb tps)" 0))"

doc_cmd() { printf '%q ' "$@" | docpaths | sed -e 's/ $//'; echo; }
{
  echo "## PostgreSQL"
  echo
  echo "$(version_of postgres), $(version_of pgbench). Scale $SCALE, $CLIENTS clients, $THREADS threads, $DURATION s per"
  echo "test, $ROUNDS round(s) alternating which server goes first, each start followed by a $WARM s"
  echo "SELECT-only warm-up; the same data directory and settings (initdb defaults, fsync on) for both;"
  echo "pgbench on the same 2 cores, over TCP to 127.0.0.1. Means over the rounds:"
  echo
  printf '%s\n' "$TABLE"
  echo
  echo "Commands:"
  echo
  echo '```'
  echo "# bare"
  doc_cmd "${BARE_CMD[@]}"
  echo "# under nucleus"
  doc_cmd "${NUCLEUS_CMD[@]}"
  echo "# set-up, once, and the two tests"
  doc_cmd "${AS_PG[@]}" "$PG/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --locale=C
  doc_cmd "${PGB[@]}" -i -q -s "$SCALE" postgres
  doc_cmd "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P "$DURATION" -S postgres
  doc_cmd "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P "$DURATION" postgres
  echo '```'
  echo
  echo "Raw data: [bench-data/postgres.csv](bench-data/postgres.csv) (every round)."
} > "$DATA/postgres.md"
printf '%s\n' "$TABLE"

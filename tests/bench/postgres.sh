#!/usr/bin/env bash
# PostgreSQL under nucleus: pgbench SELECT-only (-S) and TPC-B-like (the
# default script), the server bare and inside
#   nucleus run --network host --allow-host-network --user postgres \
#     -v DATADIR:/pgdata -v SOCKDIR:/pgsock -- postgres -D /pgdata ...
# The server binaries come from the host's /usr, bound read-only by nucleus;
# the data directory is bind-mounted read-write.  Each server listens on
# 127.0.0.1 only (its own port) and on a unix socket in SOCKDIR; pgbench
# connects over TCP to 127.0.0.1.
#
# The bare server runs in a session of its own (setsid), like a daemon and
# like the container, whose PID 1 calls setsid: with sched_autogroup (on
# here) a session is a scheduling group, and a server sharing pgbench's
# session would get another share of the 2 cores.
#
# The servers run side by side, each on its own copy of one initialised data
# directory (same settings), and pgbench goes from one to the other in short
# runs: ROUNDS rounds of (SELECT-only on each server, TPC-B on each server),
# the order of the servers reversed every other round, so that the load of a
# shared machine drifting during the benchmark does not favour one; the
# servers are restarted every other round.  A third,
# diagnostic server runs under nucleus with an allow-all seccomp profile
# (--seccomp-profile), to tell the filter's cost from the rest (PG_DIAG=0
# leaves it out); a fourth behind --network bridge and a published port
# (PG_BRIDGE=0 leaves it out).
#
#   tests/bench/postgres.sh   (SCALE=10 DURATION=10 ROUNDS=6 CLIENTS=4 THREADS=2;
#                              QUICK=1: SCALE=2 DURATION=3 ROUNDS=2)
# Needs Debian's postgresql-15 (server, initdb, pgbench) and postgresql-client-15.
set -euo pipefail
BENCH_NAME=postgres
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
PG=/usr/lib/postgresql/15/bin
for t in postgres initdb pgbench pg_isready; do
  [ -x "$PG/$t" ] || die "$PG/$t missing (apt-get install postgresql-15 postgresql-client-15)"
done
need setpriv ss
id postgres >/dev/null 2>&1 || die "no postgres user (apt-get install postgresql-15)"
if [ "$QUICK" = 1 ]; then
  SCALE=${SCALE:-2} DURATION=${DURATION:-3} ROUNDS=${ROUNDS:-2} WARM=2
else
  SCALE=${SCALE:-10} DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-6} WARM=5
fi
CLIENTS=${CLIENTS:-4} THREADS=${THREADS:-2}
PORT0=${PG_BENCH_PORT:-54329}
HOST=127.0.0.1
SERVERS="bare nucleus"
[ "${PG_DIAG:-1}" = 0 ] || SERVERS="$SERVERS nucleus-seccomp-allow"
# nucleus-bridge: the server behind --network bridge and a published port,
# in a network namespace of the benchmark's own (its bridge and rules never
# touch the host's), pgbench entering that namespace to reach the port on
# its 127.0.0.1 (PG_BRIDGE=0 leaves it out)
if [ "${PG_BRIDGE:-1}" = 1 ]; then
  SERVERS="$SERVERS nucleus-bridge"
  NETNS=nb-pg-$$
  ip netns add "$NETNS" || die "cannot create a network namespace"
  on_exit "ip netns del $NETNS"
  ip -n "$NETNS" link set lo up
  export NUCLEUS_NET_DIR=$W/net
fi
in_ns() { if [ "$1" = nucleus-bridge ]; then echo nsenter "--net=/run/netns/$NETNS"; fi; }

declare -A PORT PID
i=0
for s in $SERVERS; do
  PORT[$s]=$((PORT0 + i)); i=$((i + 1))
  ss -Htln "sport = :${PORT[$s]}" | grep . >/dev/null && die "port ${PORT[$s]} is in use (set PG_BENCH_PORT)"
done

SOCK=$W/pgsock
mkdir -m 0755 "$SOCK"
chown postgres:postgres "$SOCK"
stop_server() {  # SERVER: shut down, its exit status
  local p=${PID[$1]:-} rc=0
  [ -n "$p" ] || return 0
  # bare: SIGINT, a fast shutdown.  nucleus: SIGTERM (a smart shutdown,
  # the same here: no session is open), which it passes on; a background
  # job of a script starts with SIGINT ignored, and nucleus does not pass
  # on what its caller ignores (as nohup expects)
  if [ "$1" = bare ]; then kill -INT "$p" 2>/dev/null || true; else kill -TERM "$p" 2>/dev/null || true; fi
  wait "$p" || rc=$?
  PID[$1]=""
  return $rc
}
on_exit 'for p in "${PID[@]}"; do [ -n "$p" ] && kill -INT "$p" && kill -TERM "$p"; done; sleep 3; for p in "${PID[@]}"; do [ -n "$p" ] && kill -KILL "$p"; done'

AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups)
INIT=$W/pgdata-init
mkdir -m 0700 "$INIT"
chown postgres:postgres "$INIT"
"${AS_PG[@]}" "$PG/initdb" -D "$INIT" -A trust -U postgres -E UTF8 --locale=C >"$W/initdb.log" 2>&1 ||
  { cat "$W/initdb.log" >&2; die "initdb failed"; }

server_cmd() {  # SERVER: sets CMD
  local s=$1 opts=(-c "listen_addresses=$HOST" -p "${PORT[$1]}")
  case $s in
    nucleus-bridge)
      # inside its own namespace the server listens on every address of
      # the container (eth0), on the standard port
      # shellcheck disable=SC2046 # the nsenter prefix
      CMD=($(in_ns "$s") "$NUCLEUS" run --network bridge --dns 192.0.2.53 -p "$HOST:${PORT[$s]}:5432"
        --user postgres -v "$W/pgdata-$s:/pgdata" -v "$SOCK:/pgsock" --
        "$PG/postgres" -D /pgdata -c listen_addresses='*' -p 5432 -c unix_socket_directories=/pgsock) ;;
    bare) CMD=(setsid "${AS_PG[@]}" "$PG/postgres" -D "$W/pgdata-$s" "${opts[@]}" -c "unix_socket_directories=$SOCK") ;;
    nucleus|nucleus-seccomp-allow)
      CMD=("$NUCLEUS" run)
      [ "$s" = nucleus ] || CMD+=(--seccomp-profile "$W/seccomp-allow.json")
      CMD+=(--network host --allow-host-network --user postgres
        -v "$W/pgdata-$s:/pgdata" -v "$SOCK:/pgsock" --
        "$PG/postgres" -D /pgdata "${opts[@]}" -c unix_socket_directories=/pgsock) ;;
  esac
}
echo '{"defaultAction": "SCMP_ACT_ALLOW"}' > "$W/seccomp-allow.json"

start_server() {  # SERVER [DATADIR]
  server_cmd "$1"
  "${CMD[@]}" </dev/null >>"$W/server-$1.log" 2>&1 &
  PID[$1]=$!
  for _ in $(seq 1 300); do
    # shellcheck disable=SC2046 # the nsenter prefix
    $(in_ns "$1") "$PG/pg_isready" -q -h "$HOST" -p "${PORT[$1]}" -U postgres && return 0
    kill -0 "${PID[$1]}" 2>/dev/null || { cat "$W/server-$1.log" >&2; die "$1 server exited"; }
    sleep 0.1
  done
  cat "$W/server-$1.log" >&2
  die "$1 server not ready after 30 s"
}

# shellcheck disable=SC2046 # the nsenter prefix
pgb() { local s=$1; shift; $(in_ns "$s") "$PG/pgbench" -h "$HOST" -p "${PORT[$s]}" -U postgres "$@" postgres; }
echo "round,server,test,tps,latency_avg_ms,latency_stddev_ms,transactions,failed" > "$DATA/postgres.csv"
bench() {  # ROUND SERVER TEST(select|tpcb)
  local flag=() out
  [ "$3" = select ] && flag=(-S)
  out=$(pgb "$2" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P "$DURATION" "${flag[@]}" 2>&1) ||
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
cp -a "$INIT" "$W/pgdata-bare"
start_server bare
pgb bare -i -q -s "$SCALE" >"$W/init.log" 2>&1 || { cat "$W/init.log" >&2; die "pgbench -i failed"; }
stop_server bare
for s in $SERVERS; do
  [ "$s" = bare ] || cp -a "$W/pgdata-bare" "$W/pgdata-$s"
done
# behind the bridge, pgbench's connections come from the gateway (the
# published port's hairpin NAT), not from 127.0.0.1
[ ! -d "$W/pgdata-nucleus-bridge" ] || echo "host all all 10.42.0.1/32 trust" >> "$W/pgdata-nucleus-bridge/pg_hba.conf"
start_all() {
  for s in $SERVERS; do
    start_server "$s"
    pgb "$s" -c "$CLIENTS" -j "$THREADS" -T "$WARM" -S >/dev/null 2>&1
  done
}
stop_all() {
  local s rc
  for s in $SERVERS; do
    rc=0; stop_server "$s" || rc=$?
    [ $rc -eq 0 ] || die "$s server exited with status $rc (see $W/server-$s.log)"
    [ "$s" = bare ] || grep -q 'database system is shut down' "$W/server-$s.log" ||
      die "the $s server did not shut down cleanly"
  done
}
note "servers: $SERVERS; $ROUNDS rounds of SELECT-only and TPC-B, $DURATION s per run"
for r in $(seq 1 "$ROUNDS"); do
  # fresh server processes every other round (a pair of rounds runs the
  # servers in both orders), so that no one start-up's luck weighs on all
  if [ $((r % 2)) -eq 1 ]; then
    [ "$r" -eq 1 ] || stop_all
    start_all
  fi
  order=$SERVERS
  # shellcheck disable=SC2086
  [ $((r % 2)) -eq 1 ] || order=$(printf '%s\n' $SERVERS | tac | tr '\n' ' ')
  for t in select tpcb; do
    for s in $order; do bench "$r" "$s" "$t"; done
  done
done
stop_all

# means over the rounds
avg() { awk -F, -v s="$1" -v t="$2" -v c="$3" 'NR == 1 {for (i = 1; i <= NF; i++) h[$i] = i; next}
  $2 == s && $3 == t {x += $h[c]; n++} END {printf "%.3f", x / n}' "$DATA/postgres.csv"; }
# TPS of SERVER / bare, per round (TEST SERVER)
per_round() { awk -F, -v t="$1" -v s="$2" 'NR > 1 && $3 == t {v[$1 "," $2] = $4; if ($1 > m) m = $1}
  END {for (i = 1; i <= m; i++) printf "%s%.3f", (i > 1 ? ", " : ""), v[i "," s] / v[i ",bare"]}' "$DATA/postgres.csv"; }
median_ratio() {  # TEST SERVER: the median of the per-round ratios
  per_round "$1" "$2" | tr ',' '\n' | sort -n | awk '{a[NR] = $1} END {printf "%.3f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
table() {
  echo "| test | server | TPS | latency avg ms | latency stddev ms | TPS / bare | median of the rounds' ratios | ratio to bare per round |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
  for t in select tpcb; do
    local bare; bare=$(avg bare $t tps)
    for s in $SERVERS; do
      local tps; tps=$(avg $s $t tps)
      echo "| $([ $t = select ] && echo 'SELECT-only (-S)' || echo 'TPC-B (default)') | $s | $(fmt "$tps" 1) | $(fmt "$(avg $s $t latency_avg_ms)" 3) | $(fmt "$(avg $s $t latency_stddev_ms)" 3) | $(fmt "$(lua5.4 -e "print($tps / $bare)")" 3) | $([ $s = bare ] || median_ratio $t $s) | $([ $s = bare ] || per_round $t $s) |"
    done
  done
}
TABLE=$(table)
BRIDGE_LINE=""
if [[ " $SERVERS " == *" nucleus-bridge "* ]]; then
  RB=$(lua5.4 -e "print($(avg nucleus-bridge select tps) / $(avg bare select tps))")
  RBT=$(lua5.4 -e "print($(avg nucleus-bridge tpcb tps) / $(avg bare tpcb tps))")
  headline "pgbench SELECT-only TPS, nucleus --network bridge -p / bare" "$(fmt "$RB" 3) (TPC-B: $(fmt "$RBT" 3))"
  BRIDGE_LINE="\`nucleus-bridge\` is the server behind \`--network bridge\` and a published port (DNAT, the bridge, a
veth), in a network namespace made for the benchmark; pgbench enters that namespace and connects to
the published port on its 127.0.0.1, so each query crosses the NAT twice."
fi
RS=$(lua5.4 -e "print($(avg nucleus select tps) / $(avg bare select tps))")
RT=$(lua5.4 -e "print($(avg nucleus tpcb tps) / $(avg bare tpcb tps))")
DIAG=""
if [[ " $SERVERS " == *" nucleus-seccomp-allow "* ]]; then
  RA=$(lua5.4 -e "print($(avg nucleus-seccomp-allow select tps) / $(avg bare select tps))")
  DIAG="; the same server under nucleus with an allow-all seccomp profile instead of the built-in one: $(fmt "$RA" 3) x bare (per round: $(per_round select nucleus-seccomp-allow))"
fi
target "pgbench SELECT-only TPS under nucleus >= 0.98 x bare" "$(fmt "$RS" 3) x bare (TPC-B: $(fmt "$RT" 3) x)" \
  "$(lua5.4 -e "os.exit($RS >= 0.98 and 0 or 1)" && echo yes || echo no)" \
  "ratio per round: $(per_round select nucleus) (median $(median_ratio select nucleus))$DIAG; pgbench shares the 2 cores with the servers (and the machine with other work)"
headline "pgbench SELECT-only TPS, nucleus / bare" "$(fmt "$RS" 3) ($(fmt "$(avg nucleus select tps)" 0) / $(fmt "$(avg bare select tps)" 0))"
headline "pgbench TPC-B TPS, nucleus / bare" "$(fmt "$RT" 3) ($(fmt "$(avg nucleus tpcb tps)" 0) / $(fmt "$(avg bare tpcb tps)" 0))"

doc_cmd() { printf '%q ' "$@" | docpaths | sed -e 's/ $//'; echo; }
{
  echo "## PostgreSQL"
  echo
  echo "$(version_of postgres), $(version_of pgbench). Scale $SCALE, $CLIENTS clients, $THREADS threads. The servers"
  echo "run side by side, each on a copy of the same initialised data directory (initdb defaults, fsync on),"
  echo "each warmed up by $WARM s of SELECT-only; then $ROUNDS rounds of SELECT-only on each server and TPC-B"
  echo "on each server, $DURATION s per run, the servers' order reversed and the servers restarted every other"
  echo "round. pgbench runs on the same 2 cores, over TCP to 127.0.0.1."
  echo
  echo "The bare server runs in a session of its own (\`setsid\`), like a daemon and like the container:"
  echo "with \`kernel.sched_autogroup_enabled=$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo '?')\` a session is a scheduling group, and a server in"
  echo "pgbench's session would get another share of the cores. \`nucleus-seccomp-allow\` is a diagnostic:"
  echo "the nucleus server with \`--seccomp-profile\` of an allow-all profile"
  echo "(\`{\"defaultAction\": \"SCMP_ACT_ALLOW\"}\`) instead of the built-in one. Means over the rounds, and"
  echo "the ratio to bare in each round (on this shared machine a 10 s run varies by tens of per cent)."
  [ -z "$BRIDGE_LINE" ] || echo "$BRIDGE_LINE"
  echo
  printf '%s\n' "$TABLE"
  echo
  echo "Commands (\`\$W/pgdata-SERVER\` is a copy of the initialised data directory, ports from $PORT0 on):"
  echo
  echo '```'
  for s in $SERVERS; do
    echo "# $s"
    server_cmd "$s"
    doc_cmd "${CMD[@]}"
  done
  echo "# set-up, once, and the two tests (against each server's port)"
  doc_cmd "${AS_PG[@]}" "$PG/initdb" -D "$INIT" -A trust -U postgres -E UTF8 --locale=C
  doc_cmd "$PG/pgbench" -h "$HOST" -p "$PORT0" -U postgres -i -q -s "$SCALE" postgres
  doc_cmd "$PG/pgbench" -h "$HOST" -p "$PORT0" -U postgres -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P "$DURATION" -S postgres
  doc_cmd "$PG/pgbench" -h "$HOST" -p "$PORT0" -U postgres -c "$CLIENTS" -j "$THREADS" -T "$DURATION" -P "$DURATION" postgres
  echo '```'
  echo
  echo "Raw data: [bench-data/postgres.csv](bench-data/postgres.csv) (every run)."
} > "$DATA/postgres.md"
printf '%s\n' "$TABLE"

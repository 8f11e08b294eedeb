#!/usr/bin/env bash
# deps.sh - install what the benchmarks need from Debian, if missing
# (the Makefile's bench-deps plus PostgreSQL, gnuplot and runsc).
#
# Installing postgresql-15 on Debian creates a "main" cluster and, where an
# init system answers, starts it: when this script installed it, the cluster
# is stopped again so that no server runs beside the benchmarks.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "deps.sh: run as root" >&2; exit 1; }
PKGS="hyperfine bubblewrap crun runc busybox-static runsc gnuplot-nox postgresql-15 postgresql-client-15
      lua5.4 lua-cjson procps util-linux iproute2"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'ok installed' >/dev/null || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
echo "deps.sh: installing:$missing" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
case " $missing " in
  *" postgresql-15 "*)
    if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | awk '$1 == 15 && $2 == "main" && $4 == "online"' | grep . >/dev/null; then
      pg_ctlcluster 15 main stop || true
    fi ;;
esac

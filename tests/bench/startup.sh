#!/usr/bin/env bash
# Start-up benchmark: `nucleus run -- /bin/true` (network none) side by side
# with plain exec, unshare with the same namespaces, bubblewrap, crun and
# runc, interleaved by one hyperfine run.  Prints medians and ratios.
#
#   tests/bench/startup.sh [RUNS]      (default 300 runs per command)
#
# crun refuses hybrid cgroups: the whole benchmark runs in a private mount
# namespace in which the cgroup2 mount is hidden (the host's mounts are not
# touched), and crun runs with its cgroup manager disabled; runc gets a
# relative cgroupsPath.  See the README's benchmark section for the figures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${1:-300}
NUCLEUS=$ROOT/build/bin/nucleus
[ "$(id -u)" -eq 0 ] || { echo "startup.sh: run as root" >&2; exit 1; }
[ -x "$NUCLEUS" ] || { echo "startup.sh: build first (make)" >&2; exit 1; }
for t in hyperfine bwrap crun runc busybox lua5.4; do
  command -v $t >/dev/null || { echo "startup.sh: $t missing (make bench-deps)" >&2; exit 1; }
done

W=$(mktemp -d /tmp/nucleus-bench.XXXXXX)
cleanup() {
  runc --root "$W/runc-state" delete -f nb-runc >/dev/null 2>&1 || true
  # runc's relative cgroup lands under our own cgroup in each hierarchy
  for d in /sys/fs/cgroup/*/nb-runc /sys/fs/cgroup/*/*/nb-runc; do rmdir "$d" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

# an OCI bundle with a static busybox
mkdir -p "$W/bundle/rootfs/bin" "$W/bundle/rootfs/proc" "$W/bundle/rootfs/dev" "$W/bundle/rootfs/sys"
cp "$(command -v busybox)" "$W/bundle/rootfs/bin/busybox"
ln -s busybox "$W/bundle/rootfs/bin/true"
(cd "$W/bundle" && crun spec)
# edit crun's default spec in place (a JSON round trip would turn its
# empty lists into objects, which runc rejects)
sed -i -e 's|"sh"|"/bin/true"|' -e 's|"terminal": true|"terminal": false|' \
  -e 's|"linux": {|"linux": {\n\t\t"cgroupsPath": "nb-runc",|' "$W/bundle/config.json"

cat > "$W/run.sh" <<EOF2
set -e
mount -t tmpfs -o size=4k none /sys/fs/cgroup/unified 2>/dev/null || true
cd "$W/bundle"
for c in "$NUCLEUS run -- /bin/true" "crun --root $W/crun-state --cgroup-manager=disabled run --bundle $W/bundle nb-crun" "runc --root $W/runc-state run --bundle $W/bundle nb-runc"; do sh -c "\$c" || { echo "failed: \$c" >&2; exit 1; }; done
hyperfine -N --warmup 20 --runs $RUNS --export-json "$W/result.json" \\
  -n exec '/bin/true' \\
  -n unshare 'unshare -fmpiunC --mount-proc /bin/true' \\
  -n nucleus '$NUCLEUS run -- /bin/true' \\
  -n bubblewrap 'bwrap --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev --unshare-all /bin/true' \\
  -n crun 'crun --root $W/crun-state --cgroup-manager=disabled run --bundle $W/bundle nb-crun' \\
  -n runc 'runc --root $W/runc-state run --bundle $W/bundle nb-runc' >/dev/null
EOF2
unshare -m --propagation private sh "$W/run.sh"

lua5.4 - "$W/result.json" <<'LUA'
local cjson = require "cjson"
local f = assert(io.open(arg[1])); local r = cjson.decode(f:read("a")); f:close()
local med = {}
for _, x in ipairs(r.results) do med[x.command] = x.median * 1000 end
local n = med.nucleus
print(("%-12s %10s %10s %14s"):format("command", "median ms", "mean ms", "vs nucleus"))
for _, x in ipairs(r.results) do
  print(("%-12s %10.2f %10.2f %13.2fx"):format(x.command, x.median * 1000, x.mean * 1000, x.median * 1000 / n))
end
LUA

#!/usr/bin/env bash
# Runs INSIDE the test VM (production mode needs its cgroup limits): a
# production service with --network bridge gets deny-all egress, DNS to its
# own resolver included; with --egress-allow it reaches exactly what is
# allowed.  The test host H and its peer P are network namespaces made
# here; nothing leaves them.
# shellcheck source=../../lib/guest.sh
. "$(dirname "$0")/../../lib/guest.sh"
[ -x "$REPO/build/probe" ] || skip_all "build/probe not built"
for c in busybox ip iptables-restore python3; do
  command -v "$c" >/dev/null || skip_all "$c is needed"
done
export NUCLEUS_STATE_DIR=/run/nucleus-net-test NUCLEUS_NET_DIR=/run/nucleus-net-test/net
W=$(mktemp -d)
R=$W/rootfs
mkdir -p "$R/bin" "$R/etc"
cp "$(command -v busybox)" "$R/bin/busybox"
cp "$REPO/build/probe" "$R/bin/probe"
for a in sh nc cat; do ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0::/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
chmod -R a+rX "$W"

H=vmh P=vmp
ip netns add $H && ip netns add $P || skip_all "cannot create network namespaces"
trap 'kill $(jobs -p) 2>/dev/null; ip netns del $H; ip netns del $P; rm -rf "$W"' EXIT
ip -n $H link set lo up; ip -n $P link set lo up
ip link add hp0 netns $H type veth peer name eth0 netns $P
ip -n $H addr add 198.51.100.1/24 dev hp0 && ip -n $H link set hp0 up
ip -n $P addr add 198.51.100.2/24 dev eth0 && ip -n $P addr add 198.51.100.53/24 dev eth0
ip -n $P link set eth0 up
for s in "198.51.100.2 8000 tcp" "198.51.100.2 8001 tcp" "198.51.100.53 53 udp"; do
  # shellcheck disable=SC2086 # address, port and protocol
  ip netns exec $P python3 "$REPO/tests/helpers/net.py" serve $s > "$W/serve.log" 2>&1 &
done
sleep 1

# nsenter, not ip netns exec: that remounts /sys, and the cgroup2 tree with it
prod() { nsenter --net=/run/netns/$H "$N" run --rm --service-mode production --memory 64M --rootfs "$R" --user 1000 "$@"; }
probe='echo x | nc -w 2 198.51.100.2 8000; echo tcp8000=$?; echo x | nc -w 2 198.51.100.2 8001; echo tcp8001=$?;
       probe udp 198.51.100.53 53'

out=$(prod --network bridge --dns 198.51.100.53 -- sh -c "$probe" 2>&1)
like "$out" 'tcp8000=1' "production bridge, no --egress-allow: tcp to the peer is dropped"
like "$out" 'tcp8001=1' "  ... on every port"
like "$out" 'udp=(TIMEOUT|EPERM)' "  ... and DNS to the configured resolver too (deny-all)"
unlike "$out" 'hello' "  ... nothing got through"

out=$(prod --network bridge --dns 198.51.100.53 --egress-allow 198.51.100.2 --egress-tcp-port 8000 -- sh -c "$probe" 2>&1)
like "$out" 'hello 198\.51\.100\.1' "production with --egress-allow: the allowed port answers (through NAT)"
like "$out" 'tcp8000=0' "  ... and connects"
like "$out" 'tcp8001=1' "  ... another port is dropped"
like "$out" 'udp=hello 198\.51\.100\.1' "  ... DNS to the configured resolver passes"

out=$(prod --network bridge -- true 2>&1)
like "$out" 'production mode with --network bridge requires --dns' "production bridge without --dns is refused"
is "$(ip netns exec $H iptables-save | grep -c 'nucleus:')" 0 "no container's rule left on the test host"
nsenter --net=/run/netns/$H "$N" network prune > /dev/null
is "$(ip netns exec $H iptables-save | grep -cE 'nucleus(-bridge)?:')" 0 "network prune: the bridge's rules gone too"
is "$(ip -n $H -o link show nucleus0 2>/dev/null | wc -l)" 0 "  ... and the bridge"
is "$(find "$NUCLEUS_NET_DIR" -type f ! -name '.*' 2>/dev/null | wc -l)" 0 "no lease left (the bridge's lock and markers stay with it)"
done_testing

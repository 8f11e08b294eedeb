#!/bin/bash
# network.t - --network bridge: the kernel backend (bridge, veth, NAT,
# published ports), egress policy, DNS and hosts files, slirp4netns for
# rootless runs, parallel address allocation, teardown and prune, bad input.
#
# All traffic stays on this machine: nucleus runs inside a network namespace
# made here (the "test host" H), and two more stand in for the outside
# world: peer P (198.51.100.2, linked to H's 198.51.100.1) and peer Q
# (203.0.113.2, linked to H's 203.0.113.1).  Every namespace is deleted at
# the end; nothing is sent anywhere else.
. "$(dirname "$0")/../lib/nucleus.sh"

for c in ip iptables-restore iptables-save slirp4netns python3 setpriv; do
  command -v "$c" >/dev/null || skip_all "$c is not installed (make deps)"
done

H=nth$$ P=ntp$$ Q=ntq$$
NETPY=$T/net.py
cp "$ROOT/tests/helpers/net.py" "$NETPY"
chmod 0755 "$NETPY"
export NUCLEUS_NET_DIR=$T/net
KMSG_SYSCTL=/proc/sys/net/netfilter/nf_log_all_netns
KMSG_SAVED=
cleanup_net() {
  jobs -p | xargs -r kill 2>/dev/null
  rm -rf "/etc/netns/$H"
  [ -n "${NETNS_ETC_MADE:-}" ] && rmdir /etc/netns 2>/dev/null
  ip netns del "$H" 2>/dev/null
  ip netns del "$P" 2>/dev/null
  ip netns del "$Q" 2>/dev/null
  [ -n "$KMSG_SAVED" ] && echo "$KMSG_SAVED" > "$KMSG_SYSCTL"
  cleanup_containers
}
trap cleanup_net EXIT

ip netns add "$H" && ip netns add "$P" && ip netns add "$Q" || skip_all "cannot create network namespaces"
inh() { ip netns exec "$H" "$@"; }
inp() { ip netns exec "$P" "$@"; }
inq() { ip netns exec "$Q" "$@"; }
for ns in "$H" "$P" "$Q"; do ip -n "$ns" link set lo up; done
ip link add hp0 netns "$H" type veth peer name eth0 netns "$P"
ip link add hq0 netns "$H" type veth peer name eth0 netns "$Q"
ip -n "$H" addr add 198.51.100.1/24 dev hp0 && ip -n "$H" link set hp0 up
ip -n "$H" addr add 203.0.113.1/24 dev hq0 && ip -n "$H" link set hq0 up
ip -n "$P" addr add 198.51.100.2/24 dev eth0 && ip -n "$P" link set eth0 up
ip -n "$Q" addr add 203.0.113.2/24 dev eth0 && ip -n "$Q" link set eth0 up

# serve NS ADDR PORT PROTO: a server in the background, waited for
serve() {
  local ns=$1 log=$T/serve.$RANDOM
  shift
  ip netns exec "$ns" python3 "$NETPY" serve "$@" > "$log" 2>&1 &
  for _ in $(seq 100); do grep -q ready "$log" && return 0; sleep 0.05; done
  echo "# server $* did not start: $(cat "$log")"
}
serve "$P" 198.51.100.2 8000 tcp
serve "$P" 198.51.100.2 8001 tcp
serve "$P" 198.51.100.2 8053 udp
serve "$Q" 203.0.113.2 8000 tcp

# what the test host holds: links, rules, leases.  A container's veth pair
# goes with its network namespace, which the kernel removes in the
# background once the container is gone: give that a moment.
net_state() {  # [running]: containers still run, no veth to wait for
  [ "${1:-}" = running ] ||
    for _ in $(seq 50); do inh ip -o link show | grep -q ': nv[0-9a-f]*@' || break; sleep 0.1; done
  inh ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -v '^nucleus0$' | sort | tr '\n' ' '
  echo "| rules: $(inh iptables-save | grep -cE 'nucleus(-bridge)?:')"
  # every rule of every table (before the first rule, there are no tables)
  echo "| iptables-save: $(inh iptables-save | grep '^-' | md5sum | cut -c1-12)"
  echo "| leases: $(find "$NUCLEUS_NET_DIR" -type f ! -name '.*' 2>/dev/null | wc -l)"
}
nrun() { inh "$NUCLEUS" run --rm -v "$T:/t:ro" "$@"; }
pristine=$(net_state; inh iptables-save | grep -c '^-')
host_before=$(host_state)

# --- the kernel backend: addresses, routes, files ----------------------------------
out=$(nrun --network bridge --name web1 --dns 198.51.100.53 -- sh -c \
  'ip -4 -o addr show eth0; ip route; cat /etc/resolv.conf /etc/hosts; echo "v6=$(ip -6 -o addr show eth0 | wc -l)"' 2>&1)
like "$out" 'eth0 +inet 10\.42\.[0-9]+\.[0-9]+/16' "bridge: eth0 has an address in 10.42.0.0/16"
like "$out" 'default via 10\.42\.0\.1 dev eth0' "bridge: default route through the gateway"
like "$out" 'nameserver 198\.51\.100\.53' "--dns is the container's resolver"
is "$(grep -c nameserver <<<"$out")" 1 "resolv.conf holds only the given resolver"
ip=$(sed -n 's/.*inet \(10\.42\.[0-9.]*\)\/16.*/\1/p' <<<"$out")
like "$out" "$ip	web1" "/etc/hosts maps the container's own name to its address"
like "$out" "v6=0" "eth0 has no IPv6 address (the bridge routes none, egress rules cover none)"
like "$(inh ip -d link show nucleus0)" 'bridge' "the host bridge nucleus0 exists"
like "$(inh ip -4 addr show nucleus0)" 'inet 10\.42\.0\.1/16' "the bridge carries the gateway address"
# the bridge and its rules stay for the next container (docker's model):
# from here on, nothing else may remain after a container
before=$(net_state)
like "$before" 'rules: 4$' "the bridge's four rules (MASQUERADE, two FORWARD, the raw 127.0.0.0/8 guard) stay; the container left none"

# without --dns: the test host's resolvers, less loopback ones (ip netns exec
# binds /etc/netns/NAME/resolv.conf over /etc/resolv.conf for its command)
[ -d /etc/netns ] || NETNS_ETC_MADE=1
mkdir -p "/etc/netns/$H"
printf 'nameserver 127.0.0.53\nnameserver 198.51.100.54\n' > "/etc/netns/$H/resolv.conf"
out=$(nrun --network bridge -- cat /etc/resolv.conf 2>&1)
is "$out" "nameserver 198.51.100.54" "no --dns: the host's resolvers, without its loopback stub"
printf 'nameserver 127.0.0.53\n' > "/etc/netns/$H/resolv.conf"
out=$(nrun --network bridge -- sh -c 'cat /etc/resolv.conf 2>&1 || echo none' 2>&1)
like "$out" "^nucleus: warn: no --dns and the host's resolv.conf names no resolver the container can reach" \
  "only a loopback resolver on the host: a warning says the container has no DNS"
like "$out" "none$" "  ... and it has no resolv.conf"
rm -r "/etc/netns/$H"
[ -n "${NETNS_ETC_MADE:-}" ] && rmdir /etc/netns

# the bridge gone and its rules with it (a reboot where the lease directory
# survived, or an administrator): the next container makes both again
inh ip link del nucleus0
for table in raw nat filter; do
  echo "*$table"
  inh iptables-save -t $table | grep 'nucleus-bridge:' | sed -n 's/^-A /-D /p'
  echo COMMIT
done | inh iptables-restore --noflush
is "$(inh iptables-save | grep -c 'nucleus-bridge:')" 0 "(the bridge's rules deleted by hand)"
out=$(nrun --network bridge -- python3 /t/net.py connect 198.51.100.2 8000 tcp 2>&1)
is "$out" "hello 198.51.100.1" "after the bridge and its rules were deleted behind nucleus's back, NAT works again"
is "$(net_state)" "$before" "  ... with the bridge's rules once, as before"
out=$(nrun --network bridge -- true 2>&1)
is "$(net_state)" "$before" "  ... and not added twice by the next container"

# --- NAT to the outside, and between containers -------------------------------------
out=$(nrun --network bridge -- python3 /t/net.py connect 198.51.100.2 8000 tcp 2>&1)
is "$out" "hello 198.51.100.1" "a bridged container reaches the peer host through NAT (source masqueraded)"
out=$(nrun --network bridge -- python3 /t/net.py connect 198.51.100.2 8053 udp 2>&1)
is "$out" "hello 198.51.100.1" "udp through NAT too"

inh "$NUCLEUS" run --rm --name srv -v "$T:/t:ro" --network bridge -- python3 /t/net.py serve 0.0.0.0 9000 tcp 1 \
  > "$T/srv.log" 2>&1 &
srv_pid=$!
for _ in $(seq 100); do grep -q ready "$T/srv.log" && break; sleep 0.05; done
srv_ip=$(inh "$NUCLEUS" inspect srv | sed -n 's/.*"ip": *"\([0-9.]*\)".*/\1/p')
like "$srv_ip" '^10\.42\.' "inspect shows the container's address"
like "$(inh "$NUCLEUS" exec srv cat /etc/hosts)" "$srv_ip	srv" "exec into a bridged container: its network, its hosts file"
out=$(nrun --network bridge -- python3 /t/net.py connect "$srv_ip" 9000 tcp 2>&1)
like "$out" "^hello 10\.42\." "two containers on the bridge reach each other"
wait "$srv_pid"
is "$?" 0 "the serving container exits 0"

# --- published ports ----------------------------------------------------------------
pub() { # pub PROTO PUBLISH-SPEC CLIENT-NS CLIENT-ADDR HOST-PORT
  local proto=$1 spec=$2 cns=$3 addr=$4 hport=$5 log=$T/pub.$RANDOM
  inh "$NUCLEUS" run --rm -v "$T:/t:ro" --network bridge -p "$spec" -- python3 /t/net.py serve 0.0.0.0 80 "$proto" 1 \
    > "$log" 2>&1 &
  local p=$!
  for _ in $(seq 100); do grep -q ready "$log" && break; sleep 0.05; done
  ip netns exec "$cns" python3 "$NETPY" connect "$addr" "$hport" "$proto"
  kill "$p" 2>/dev/null
  wait "$p" 2>/dev/null
}
like "$(pub tcp 8080:80 "$P" 198.51.100.1 8080)" '^hello 198\.51\.100\.2' "-p 8080:80: the peer host reaches the container's server"
like "$(pub udp 8081:80/udp "$P" 198.51.100.1 8081)" '^hello 198\.51\.100\.2' "-p 8081:80/udp: udp too"
like "$(pub tcp 127.0.0.1:8082:80 "$H" 127.0.0.1 8082)" '^hello 10\.42\.0\.1' "-p 127.0.0.1:8082:80: the test host's own loopback reaches it"
like "$(pub tcp 8083:80 "$H" 198.51.100.1 8083)" '^hello 10\.42\.0\.1' "a published port from the test host itself"

# a container cannot reach the test host's services bound to 127.0.0.1
# (route_localnet on the bridge, which loopback publishes need, would let
# packets for 127.0.0.0/8 in from it: SO_BINDTODEVICE needs no capability)
inh python3 -c '
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 7200)); u.settimeout(4)
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("127.0.0.1", 7201)); t.listen(4)
t.settimeout(0.1)
print("ready", flush=True)
n = 0
import time
end = time.time() + 4
while time.time() < end:
    try:
        u.settimeout(0.1); u.recvfrom(64); n += 1
    except OSError: pass
    try:
        t.accept(); n += 1
    except OSError: pass
print("received %d" % n, flush=True)
' > "$T/lo-server" 2>&1 &
lo_server=$!
for _ in $(seq 100); do grep -q ready "$T/lo-server" && break; sleep 0.05; done
out=$(inh "$NUCLEUS" run --rm --network bridge -p 8084:80 -- python3 -c '
import socket
for i in range(5):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    u.sendto(b"x", ("127.0.0.1", 7200))
    t = socket.socket(); t.settimeout(0.3)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    try: t.connect(("127.0.0.1", 7201))
    except OSError: pass
print("sent")
' 2>&1)
is "$out" sent "a workload sends to 127.0.0.1 through eth0 (SO_BINDTODEVICE)"
wait "$lo_server"
is "$(grep received "$T/lo-server")" "received 0" "... and the test host's loopback-bound services get nothing (raw PREROUTING drop)"
is "$(inh iptables-save -t raw | grep -c -- '-d 127.0.0.0/8 -i nucleus0 .*nucleus-bridge:nucleus0"\? -j DROP')" 1 "... the bridge's guard is there once"

# --- egress policy ----------------------------------------------------------------
eg=(--network bridge --egress-allow 198.51.100.2 --egress-tcp-port 8000)
is "$(nrun "${eg[@]}" -- python3 /t/net.py connect 198.51.100.2 8000 tcp 1 2>&1)" "hello 198.51.100.1" \
  "egress: the allowed address and port connect"
is "$(nrun "${eg[@]}" -- python3 /t/net.py connect 198.51.100.2 8001 tcp 1 2>&1)" "error: TIMEOUT" \
  "egress: another port of the allowed peer is dropped"
is "$(nrun "${eg[@]}" -- python3 /t/net.py connect 203.0.113.2 8000 tcp 1 2>&1)" "error: TIMEOUT" \
  "egress: the allowed port on another peer is dropped"
is "$(nrun --network bridge --egress-allow 198.51.100.0/24 -- python3 /t/net.py connect 198.51.100.2 8001 tcp 1 2>&1)" \
  "hello 198.51.100.1" "egress: a CIDR alone allows every port to it"
is "$(nrun --network bridge --egress-tcp-port 8000 -- python3 /t/net.py connect 203.0.113.2 8000 tcp 1 2>&1)" \
  "hello 203.0.113.1" "egress: a port alone is allowed to any address"
like "$(nrun --network bridge --egress-tcp-port 8000 -- python3 /t/net.py connect 198.51.100.2 8053 udp 1 2>&1)" \
  '^error: (TIMEOUT|EPERM)$' "egress: ...and udp to another port is dropped"
# egress rules go in with iptables-legacy where it is installed; without it
# (hidden here in a mount namespace of the test's own), with the default
legacy=$(readlink -f "$(command -v iptables-legacy-restore 2>/dev/null)")
if [ -n "$legacy" ] && [ -f "$legacy" ]; then
  out=$(unshare -m --propagation private sh -c 'mount --bind /dev/null "$0" && exec "$@"' "$legacy" \
    ip netns exec "$H" "$NUCLEUS" run --rm -v "$T:/t:ro" "${eg[@]}" -- \
    sh -c 'echo "legacy=$(cat /proc/net/ip_tables_names)"; python3 /t/net.py connect 198.51.100.2 8000 tcp 1;
           python3 /t/net.py connect 198.51.100.2 8001 tcp 1' 2>&1 | tr '\n' ' ')
  like "$out" '^legacy= hello 198\.51\.100\.1 error: TIMEOUT $' "egress without iptables-legacy: the default iptables (no legacy table) applies the same policy"
  like "$(nrun "${eg[@]}" -- cat /proc/net/ip_tables_names)" '^filter$' "  ... where it is installed, iptables-legacy loads it"
else
  skip "iptables-legacy is not installed: the default iptables is the only path"
fi
# the drop reaches the kernel log with the prefix (LOG from a namespace
# other than the first needs nf_log_all_netns; set for this test, restored)
if [ -w "$KMSG_SYSCTL" ] && [ -r /dev/kmsg ]; then
  KMSG_SAVED=$(cat "$KMSG_SYSCTL")
  echo 1 > "$KMSG_SYSCTL"
  out=$(python3 - "$NUCLEUS" "$H" "$T" <<'PY'
import os, subprocess, sys, time
fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
os.lseek(fd, 0, os.SEEK_END)
subprocess.run(["ip", "netns", "exec", sys.argv[2], sys.argv[1], "run", "--rm", "-v", sys.argv[3] + ":/t:ro",
                "--network", "bridge", "--egress-allow", "198.51.100.2", "--egress-tcp-port", "8000", "--",
                "python3", "/t/net.py", "connect", "198.51.100.2", "8001", "tcp", "0.5"], stdout=subprocess.DEVNULL)
time.sleep(0.2)
while True:
    try:
        line = os.read(fd, 8192).decode(errors="replace")
    except BlockingIOError:
        break
    if "nucleus-egress-denied" in line:
        print(line.split(";", 1)[-1].strip())
PY
)
  echo "$KMSG_SAVED" > "$KMSG_SYSCTL"
  KMSG_SAVED=
  like "$out" 'nucleus-egress-denied: .*DST=198\.51\.100\.2 .*DPT=8001' "egress: the drop is logged with the nucleus-egress-denied: prefix"
else
  skip "the kernel log or $KMSG_SYSCTL is not accessible here"
fi

# --- 20 containers in parallel -------------------------------------------------------
pids=()
for i in $(seq 20); do
  # each holds its address until all 20 have printed theirs
  nrun --network bridge -- sh -c 'ip -4 -o addr show eth0; while [ ! -e /t/go ]; do sleep 0.1; done' \
    > "$T/par.$i" 2>&1 &
  pids+=($!)
done
for _ in $(seq 300); do [ "$(cat "$T"/par.* | grep -c inet)" -ge 20 ] && break; sleep 0.1; done
touch "$T/go"
wait "${pids[@]}"
addrs=$(cat "$T"/par.* | sed -n 's/.*inet \([0-9.]*\)\/.*/\1/p' | sort)
is "$(wc -l <<<"$addrs")" 20 "20 parallel containers all got an address"
is "$(sort -u <<<"$addrs" | wc -l)" 20 "...and no two the same, all running at once"
is "$(net_state)" "$before" "after they exit: no veth, rule or lease remains"

# --- a killed supervisor: rm and network prune clean up -------------------------------
# bg_container NAME [OPTS]: a bridged container running sleep, waited for
bg_container() {
  local name=$1
  shift
  inh "$NUCLEUS" run --name "$name" --network bridge "$@" -- sleep 60 > /dev/null 2>&1 &
  bg=$!
  for _ in $(seq 100); do inh "$NUCLEUS" ps -q | grep -q . && break; sleep 0.05; done
  sleep 0.3
}
bg_container orphan -p 8090:80
like "$(net_state running)" 'rules: ([4-9]|[1-9][0-9])' "a running container with a published port has rules of its own"
pkill -KILL -f "nucleus run --name orphan " ; wait "$bg" 2>/dev/null
sleep 0.3
like "$(net_state)" 'rules: ([4-9]|[1-9][0-9])' "a killed supervisor leaves them"
out=$(inh "$NUCLEUS" network prune)
like "$out" "rules of [0-9a-f]+" "network prune names what it removed: the container's rules"
like "$out" "lease 10\.42\." "  ... its lease"
like "$out" "bridge nucleus0" "  ... and the bridge nobody uses any more"
is "$(net_state; inh iptables-save | grep -c '^-')" "$pristine" "network prune leaves the test host as it was before the first container"
inh "$NUCLEUS" rm orphan > /dev/null
bg_container orphan2 -p 8091:80
pkill -KILL -f "nucleus run --name orphan2" ; wait "$bg" 2>/dev/null
sleep 0.3
inh "$NUCLEUS" rm orphan2 > /dev/null
is "$(net_state)" "$before" "rm of a container whose supervisor was killed removes its rules and lease"
# a killed container's published ports never go to the next holder of its
# address: the lease is taken over with the dead owner's rules removed
# first (supervisors killed at random points of their start and life)
for i in 1 2 3 4 5 6; do
  inh "$NUCLEUS" run --name "victim$i" --network bridge -p "92$i$i:80" -- sleep 60 > /dev/null 2>&1 &
  v=$!
  sleep "0.$((RANDOM % 6))"
  pkill -KILL -f "nucleus run --name victim$i " 2>/dev/null
  wait "$v" 2>/dev/null
done
diag "after the kills: $(inh iptables-save -t nat | grep -c DNAT) DNAT rules, leases: $(ls "$NUCLEUS_NET_DIR"/*/ 2>/dev/null | tr '\n' ' ')"
bg_container heir
heir_ip=$(inh "$NUCLEUS" exec heir sh -c "ip -4 -o addr show eth0" | sed -n 's/.*inet \([0-9.]*\)\/.*/\1/p')
like "$heir_ip" '^10\.42\.' "a new container takes an address (the killed ones' leases are stale)"
is "$(inh iptables-save | grep -c -- "--to-destination $heir_ip:")" 0 \
  "no DNAT of a killed container points at the address the new one holds"
is "$(inh iptables-save | grep -- "-d $heir_ip/32" | grep -vc "nucleus:$(inh "$NUCLEUS" inspect heir | python3 -c 'import json, sys; r = json.load(sys.stdin); print((r[0] if isinstance(r, list) else r)["id"])')")" 0 \
  "... nor any rule of another container's"
inh "$NUCLEUS" stop -t 1 heir > /dev/null
wait "$bg"
inh "$NUCLEUS" rm heir > /dev/null
for i in 1 2 3 4 5 6; do inh "$NUCLEUS" rm -f "victim$i" > /dev/null 2>&1; done
inh "$NUCLEUS" network prune > /dev/null
bg_container keeper
is "$(inh "$NUCLEUS" network prune)" "" "network prune leaves a bridge in use alone"
inh "$NUCLEUS" stop -t 1 keeper > /dev/null
wait "$bg"
inh "$NUCLEUS" rm keeper > /dev/null

# --- the userspace backend: slirp4netns ---------------------------------------------------
# slirp_tests LABEL RUNNER...: the same checks as root and rootless
slirp_tests() {
  local label=$1 out log p
  shift
  out=$("$@" "$NUCLEUS" run --rm -v "$T:/t:ro" --network bridge --nat-backend userspace -- sh -c \
    'ip -4 -o addr show tap0; cat /etc/resolv.conf; python3 /t/net.py connect 198.51.100.2 8000 tcp' 2>&1)
  like "$out" 'tap0 +inet 10\.0\.2\.100/24' "$label: slirp4netns gives tap0 10.0.2.100"
  like "$out" 'nameserver 10\.0\.2\.3' "$label: resolv.conf names slirp's resolver"
  like "$out" 'hello 198\.51\.100\.1' "$label: outbound to the peer host"
  out=$("$@" "$NUCLEUS" run --rm -v "$T:/t:ro" --network bridge --nat-backend userspace --allow-host-loopback -- \
    python3 /t/net.py connect 10.0.2.2 7000 tcp 2>&1)
  like "$out" '^hello 127\.0\.0\.1' "$label: --allow-host-loopback reaches the test host's loopback server through 10.0.2.2"
  out=$("$@" "$NUCLEUS" run --rm -v "$T:/t:ro" --network bridge --nat-backend userspace -- \
    python3 /t/net.py connect 10.0.2.2 7000 tcp 1 2>&1)
  like "$out" '^error: ' "$label: without it the host's loopback is out of reach"
  log=$T/slirp-pub.$RANDOM
  out=$("$@" "$NUCLEUS" run --rm --network bridge --nat-backend userspace -p 18081:81/udp -- true 2>&1)
  like "$out" 'publish "18081:81/udp": slirp4netns drops .* \(add --allow-host-loopback\)$' \
    "$label: a UDP publish without --allow-host-loopback is refused, saying why"
  "$@" "$NUCLEUS" run --rm -v "$T:/t:ro" --network bridge --nat-backend userspace --allow-host-loopback \
    -p 18080:80 -p 18081:81/udp -- sh -c \
    'python3 /t/net.py serve 0.0.0.0 81 udp 1 & python3 /t/net.py serve 0.0.0.0 80 tcp 1; wait' > "$log" 2>&1 &
  p=$!
  for _ in $(seq 100); do [ "$(grep -c ready "$log")" = 2 ] && break; sleep 0.05; done
  like "$(inh python3 "$NETPY" connect 127.0.0.1 18080 tcp)" '^hello ' "$label: -p 18080:80 through slirp4netns"
  like "$(inh python3 "$NETPY" connect 127.0.0.1 18081 udp)" '^hello ' "$label: -p 18081:81/udp through slirp4netns"
  wait "$p"
  [ "$(grep -c ready "$log")" = 2 ] || diag "$(cat "$log")"
  out=$("$@" "$NUCLEUS" run --rm -v "$T:/t:ro" --network bridge --nat-backend userspace -p 7000:80 -- true 2>&1)
  like "$out" 'publish "7000:80": .*in use' "$label: a host port already taken is refused"
  out=$("$@" "$NUCLEUS" run --rm -v "$T:/t:ro" --network bridge --nat-backend userspace \
    --egress-allow 198.51.100.2 --egress-tcp-port 8000 -- \
    sh -c 'python3 /t/net.py connect 198.51.100.2 8000 tcp 1; python3 /t/net.py connect 198.51.100.2 8001 tcp 1' 2>&1 | tr '\n' ' ')
  like "$out" 'hello 198\.51\.100\.1.*error: TIMEOUT' "$label: egress policy: the allowed port passes, another is dropped"
  is "$(pgrep -x slirp4netns | wc -l)" 0 "$label: no slirp4netns left running"
}
serve "$H" 127.0.0.1 7000 tcp
slirp_tests "userspace backend as root" inh
is "$(find "$T/state" -name 'slirp*' | wc -l)" 0 "no API socket or log left"

# rootless: an unprivileged user.  slirp4netns opens /dev/net/tun as that
# user; where the device is 0600 (no udev here), the test binds a 0666 node
# over it in a mount namespace of its own (Debian's udev default).
mkdir -p "$T/state-nobody" "$T/net-nobody" && chown 65534:65534 "$T/state-nobody" "$T/net-nobody"
as_nobody() {
  NUCLEUS_STATE_DIR=$T/state-nobody NUCLEUS_NET_DIR=$T/net-nobody inh setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
with_tun() {
  NUCLEUS_STATE_DIR=$T/state-nobody NUCLEUS_NET_DIR=$T/net-nobody inh unshare -m --propagation private sh -c \
    'mount --bind "$0" /dev/net/tun && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"' "$T/tun" "$@"
}
if ! as_nobody unshare -U true 2>/dev/null; then
  skip "unprivileged user namespaces are not allowed here" 16
else
  if ! as_nobody test -r /dev/net/tun -a -w /dev/net/tun; then
    out=$(as_nobody "$NUCLEUS" run --network bridge -- true 2>&1)
    like "$out" '^nucleus: slirp4netns needs read-write access to /dev/net/tun \(its mode is 0600' \
      "rootless without access to /dev/net/tun: the message says why"
    mknod "$T/tun" c 10 200 && chmod 0666 "$T/tun"
    runner=with_tun
  else
    ok 0 "rootless: /dev/net/tun is open to users here"
    runner=as_nobody
  fi
  slirp_tests "rootless" "$runner"
  out=$(as_nobody "$NUCLEUS" run --network bridge --nat-backend kernel -- true 2>&1)
  is "$?" 125 "rootless with --nat-backend kernel: exit 125"
  like "$out" '^nucleus: --nat-backend kernel needs root .*userspace' "rootless with --nat-backend kernel: one line naming the way out"
fi

# --- bad input: one line, exit 125, nothing left ------------------------------------------
bad() { # bad REGEX DESCRIPTION -- run options
  local re=$1 what=$2
  shift 3
  local out rc
  out=$(inh "$NUCLEUS" run "$@" -- true 2>&1 >/dev/null)
  rc=$?
  is "$rc" 125 "$what: exit 125"
  like "$out" "$re" "$what: message"
  is "$(printf '%s\n' "$out" | wc -l)" 1 "$what: one line"
}
bad 'subnet "10\.42\.0/16": expected an IPv4 network' "malformed --subnet" -- --network bridge --subnet 10.42.0/16
bad 'subnet "10\.42\.0\.5/16": host bits set \(the network is 10\.42\.0\.0/16\)' "--subnet with host bits" -- --network bridge --subnet 10.42.0.5/16
bad 'egress-allow "1\.2\.3\.4/33"' "malformed --egress-allow" -- --network bridge --egress-allow 1.2.3.4/33
bad 'egress-allow "010\.0\.0\.1"' "--egress-allow with a leading zero" -- --network bridge --egress-allow 010.0.0.1
bad 'egress-tcp-port "70000": expected a port number from 1 to 65535' "port out of range" -- --network bridge --egress-tcp-port 70000
bad 'publish "99999:80": host port "99999"' "--publish host port out of range" -- --network bridge -p 99999:80
bad 'publish "80": expected \[IP:\]HOST_PORT:CONTAINER_PORT' "--publish without a host port" -- --network bridge -p 80
bad 'publish "8080:80/sctp": protocol "sctp"' "--publish with an unknown protocol" -- --network bridge -p 8080:80/sctp
bad 'publish "1.2.3:8080:80": "1.2.3" is not an IPv4 address' "--publish with a bad address" -- --network bridge -p 1.2.3:8080:80
bad 'dns "8.8.8": expected an IPv4 address' "bad --dns" -- --network bridge --dns 8.8.8
bad 'egress-allow needs --network bridge \(the network is none\)' "--egress-allow without bridge" -- --egress-allow 198.51.100.2
bad 'publish needs --network bridge' "--publish without bridge" -- -p 8080:80
bad 'bridge "a/b": 1 to 15' "bad --bridge name" -- --network bridge --bridge a/b
bad 'bridge hp0: a veth link of that name exists' "--bridge naming a link that is not a bridge" -- --network bridge --bridge hp0
bad 'bridge nucleus0 has address 10\.42\.0\.1/16, not 10\.43\.0\.1/16' "--subnet that does not match the existing bridge" -- --network bridge --subnet 10.43.0.0/16
serve "$H" 0.0.0.0 8095 tcp
bad 'publish "8095:80": 0\.0\.0\.0:8095/tcp: the host port is already in use' "a host port already taken" -- --network bridge -p 8095:80
bad 'publish "8096:81": host port 8096/tcp is published twice' "the same host port twice" -- --network bridge -p 8096:80 -p 8096:81
inh "$NUCLEUS" run --rm --name holder --network bridge -p 8097:80 -- sleep 30 > /dev/null 2>&1 &
holder=$!
for _ in $(seq 100); do inh "$NUCLEUS" ps -q | grep -q . && break; sleep 0.05; done
out=$(inh "$NUCLEUS" run --network bridge -p 8097:80 -- true 2>&1)
like "$out" 'publish "8097:80": .*already in use' "a host port held by another container is refused"
out=$(inh "$NUCLEUS" ps)
like "$out" 'holder .* ago +0\.0\.0\.0:8097->80/tcp$' "ps shows the published port, as docker does"
is "$(wc -l <<<"$out")" 2 "  ... a header and one line"
inh "$NUCLEUS" stop -t 1 holder > /dev/null
wait "$holder"
out=$(inh "$NUCLEUS" network 2>&1)
is "$?" 125 "nucleus network without a subcommand: exit 125"
like "$out" "^nucleus: network: expected 'prune'" "  ... says what it expects"
out=$(inh "$NUCLEUS" network prune now 2>&1)
is "$?" 125 "nucleus network prune with an operand: exit 125"
out=$(as_nobody "$NUCLEUS" network prune 2>&1)
is "$?" 125 "nucleus network prune as a user: exit 125"
like "$out" "needs root" "  ... it needs root"
is "$(net_state)" "$before" "after every bad input and failure: no veth, rule or lease"
out=$(inh "$NUCLEUS" network prune)
like "$out" "bridge nucleus0" "network prune removes the bridge nobody uses..."
like "$out" "rules of bridge nucleus0" "  ... and its rules"
is "$(net_state; inh iptables-save | grep -c '^-')" "$pristine" "the test host is as it was before the first container"
is "$(inh "$NUCLEUS" network prune)" "" "network prune with nothing to do prints nothing"
inh "$NUCLEUS" rm -f $(inh "$NUCLEUS" ps -aq) > /dev/null 2>&1
is "$(host_state)" "$host_before" "no mount, process or cgroup left"

done_testing

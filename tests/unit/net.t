#!/usr/bin/env lua5.4
-- nucleus.net: address and port parsing, configuration rules, and the
-- exact iptables-restore batches (egress policy, host NAT rules).  The real
-- rules are exercised in tests/integration/network.t; here every branch of
-- what they are built from.
local src = debug.getinfo(1, "S").source:sub(2)
local root = src:match("^(.*)/tests/unit/[^/]+$") or "."
package.path = root .. "/tests/lib/?.lua;" .. root .. "/lua/?.lua;" .. package.path
local tap = require "tap"
package.loaded["nucleus.core"] = { ids = function() return { euid = 0, pid = 1 } end }
local net = require "nucleus.net"

-- IPv4 and CIDR
tap.is(net.ipv4("10.42.0.1"), 10 << 24 | 42 << 16 | 1, "dotted quad")
for _, bad in ipairs { "10.42.0", "10.42.0.256", "010.0.0.1", "1.2.3.4 ", "a.b.c.d", "1..2.3", "" } do
  tap.is(net.ipv4(bad), nil, ("not an address: %q"):format(bad))
end
tap.is(net.ntoa(net.ipv4("203.0.113.7")), "203.0.113.7", "ntoa(ipv4(x)) == x")
local c = assert(net.cidr("10.42.0.0/16", "--subnet"))
tap.is(c.prefix, 16, "cidr prefix")
tap.is(c.text, "10.42.0.0/16", "cidr text")
tap.is(select(2, net.cidr("10.42.0.0/33", "--subnet")), '--subnet "10.42.0.0/33": expected an IPv4 network such as 10.42.0.0/16', "prefix over 32")
tap.is(select(2, net.cidr("10.42.1.0/16", "--subnet")), '--subnet "10.42.1.0/16": host bits set (the network is 10.42.0.0/16)', "host bits named with the network meant")
tap.ok(net.cidr("0.0.0.0/0", "x"), "0.0.0.0/0")

-- publish specs
local p = assert(net.publish("8080:80"))
tap.ok(p.host_port == 8080 and p.port == 80 and p.proto == "tcp" and p.host_ip == nil, "HOST:CONTAINER defaults to tcp")
p = assert(net.publish("127.0.0.1:5353:53/udp"))
tap.ok(p.host_ip == "127.0.0.1" and p.host_port == 5353 and p.port == 53 and p.proto == "udp", "IP:HOST:CONTAINER/udp")
for spec, msg in pairs {
  ["80"] = "expected %[IP:%]HOST_PORT:CONTAINER_PORT",
  ["1:2:3:4"] = "expected",
  ["0:80"] = "host port \"0\"",
  ["8080:65536"] = "container port \"65536\"",
  ["8080:80/icmp"] = "protocol \"icmp\" is not tcp or udp",
  ["x:8080:80"] = "\"x\" is not an IPv4 address",
  [":80"] = "host port \"\"",
} do
  tap.like(select(2, net.publish(spec)) or "", msg, ("bad publish %q"):format(spec))
end

-- configuration rules
local function cfg(o, ctx)
  o.network = o.network or "bridge"
  return net.config(o, ctx or { euid = 0 })
end
tap.is(cfg { network = "none" }, nil, "network none: nothing to configure")
tap.like(select(2, cfg { network = "none", dns = { "1.1.1.1" } }), "^%-%-dns needs %-%-network bridge %(the network is none%)", "--dns without bridge")
tap.like(select(2, cfg { network = "host", nat_backend = "kernel" }), "^%-%-nat%-backend needs", "--nat-backend without bridge")
local k = assert(cfg { dns = { "198.51.100.53" } })
tap.ok(k.backend == "kernel" and k.bridge == "nucleus0" and k.subnet.text == "10.42.0.0/16", "root: kernel backend, nucleus0, 10.42.0.0/16")
tap.is(net.ntoa(k.gateway), "10.42.0.1", "gateway is the subnet's first address")
tap.is(k.egress, nil, "agent mode without egress flags: no policy")
local u = assert(cfg({}, { euid = 1000 }))
tap.ok(u.backend == "userspace" and net.ntoa(u.ip) == "10.0.2.100" and u.dns[1] == "10.0.2.3", "rootless: slirp4netns, 10.0.2.100, its resolver")
tap.like(select(2, cfg({ nat_backend = "kernel" }, { euid = 1000 })), "needs root", "rootless kernel backend refused")
tap.like(select(2, cfg({ subnet = "10.0.0.0/26" }, { euid = 1000 })), "at least a /25", "slirp subnet too small")
tap.like(select(2, cfg { subnet = "10.0.0.0/31" }), "from /8 to /30", "bridge subnet too small")
tap.like(select(2, cfg { subnet = "127.0.0.0/8" }), "not a unicast range", "loopback subnet refused")
tap.like(select(2, cfg { subnet = "224.0.0.0/8" }), "not a unicast range", "multicast subnet refused")
tap.like(select(2, cfg { bridge = "a-very-long-bridge-name" }), "1 to 15", "bridge name over IFNAMSIZ")
tap.like(select(2, cfg { allow_host_loopback = true }), "userspace", "--allow-host-loopback is slirp's")
tap.like(select(2, cfg({ publish = { "53:53/udp" } }, { euid = 1000 })), "add %-%-allow%-host%-loopback", "slirp UDP publish needs host loopback")
tap.ok(cfg({ publish = { "53:53/udp" }, allow_host_loopback = true }, { euid = 1000 }), "...and works with it")
tap.like(select(2, cfg { publish = { "80:80", "80:81" } }), "published twice", "the same host port twice")
tap.ok(cfg { publish = { "80:80", "80:80/udp" } }, "the same port for tcp and udp")
tap.like(select(2, cfg({}, { euid = 0, prod = true })), "requires %-%-dns", "production needs --dns")
local pr = assert(cfg({ dns = { "198.51.100.53" } }, { euid = 0, prod = true }))
tap.ok(pr.egress and #pr.egress.allow == 0 and pr.egress.dns == false, "production: deny-all, DNS included")

-- egress batches
local function egress(o, ctx)
  o.dns = o.dns or { "198.51.100.53" }
  return net.egress_rules(assert(cfg(o, ctx)))
end
local deny = egress({}, { euid = 0, prod = true })
tap.ok(not deny:match("%-j ACCEPT\n.*%-j ACCEPT\n.*%-j ACCEPT"), "deny-all: only lo and established are accepted")
tap.ok(not deny:match("dport 53"), "deny-all: no DNS")
tap.like(deny, ":OUTPUT DROP", "the OUTPUT policy is DROP")
tap.like(deny, '%-j LOG %-%-log%-prefix "nucleus%-egress%-denied: "', "denied traffic is logged with the prefix")
tap.like(deny, "%-A OUTPUT %-j DROP\nCOMMIT\n$", "and dropped last")
local both = egress { egress_allow = { "198.51.100.2", "203.0.113.0/24" }, egress_tcp_port = { "443" }, egress_udp_port = { "123" } }
tap.like(both, "%-A OUTPUT %-d 198%.51%.100%.2/32 %-p tcp %-m tcp %-%-dport 443 %-j ACCEPT", "address + tcp port")
tap.like(both, "%-A OUTPUT %-d 203%.0%.113%.0/24 %-p udp %-m udp %-%-dport 123 %-j ACCEPT", "network + udp port")
tap.like(both, "%-A OUTPUT %-d 198%.51%.100%.53/32 %-p udp %-m udp %-%-dport 53 %-j ACCEPT", "DNS to the configured resolver")
tap.ok(not both:match("%-A OUTPUT %-d 198%.51%.100%.2/32 %-j ACCEPT"), "with ports, a CIDR is not opened whole")
local cidr_only = egress { egress_allow = { "203.0.113.0/24" } }
tap.like(cidr_only, "%-A OUTPUT %-d 203%.0%.113%.0/24 %-j ACCEPT", "a CIDR alone: every port to it")
local port_only = egress { egress_tcp_port = { "443" } }
tap.like(port_only, "%-A OUTPUT %-p tcp %-m tcp %-%-dport 443 %-j ACCEPT", "a port alone: to any address")
tap.like(select(2, cfg { egress_tcp_port = { "0" } }), '%-%-egress%-tcp%-port "0": expected a port number from 1 to 65535', "port 0")
tap.like(select(2, cfg { egress_allow = { "10.0.0.1/8" } }), "host bits set", "allow-list entry with host bits")

-- host rules: every container rule tagged, adds and deletes mirror each other
local h = assert(cfg { dns = { "198.51.100.53" }, publish = { "127.0.0.1:8080:80", "5353:53/udp" } })
h.ip = net.ipv4("10.42.0.7")
local id = ("ab"):rep(16)
local add, del = net.host_rules(h, id, "A"), net.host_rules(h, id, "D")
local n_add, n_del, untagged = 0, 0, 0
for line in add:gmatch("[^\n]+") do
  if line:match("^%-[AI] ") then
    n_add = n_add + 1
    if not line:find("--comment nucleus:" .. id, 1, true) then untagged = untagged + 1 end
  end
end
for line in del:gmatch("[^\n]+") do if line:match("^%-D ") then n_del = n_del + 1 end end
tap.is(untagged, 0, "every host rule carries the container's tag")
tap.is(n_add, n_del, "teardown deletes exactly what setup added")
tap.like(add, "%-A POSTROUTING %-d 10%.42%.0%.7/32 %-o nucleus0 %-p tcp %-m tcp %-%-dport 80 %-m addrtype %-%-src%-type LOCAL .* %-j MASQUERADE",
  "hairpin MASQUERADE for the host's own clients")
tap.like(add, "%-I FORWARD %-d 10%.42%.0%.7/32 %-o nucleus0 %-p udp %-m udp %-%-dport 53 .* %-j ACCEPT", "FORWARD accept of a published port, inserted ahead of a host firewall")
tap.is(net.host_rules(k, id, "A"), nil, "a container without published ports has no rules of its own")
local br = net.bridge_rules(k, "A")
tap.like(br, "%-A POSTROUTING %-s 10%.42%.0%.0/16 ! %-o nucleus0 %-m comment %-%-comment nucleus%-bridge:nucleus0 %-j MASQUERADE", "the bridge's MASQUERADE, tagged with its name")
tap.like(br, "%-I FORWARD %-i nucleus0 %-m comment %-%-comment nucleus%-bridge:nucleus0 %-j ACCEPT", "FORWARD from the bridge, inserted first")
tap.like(br, "%-I FORWARD %-o nucleus0 %-m conntrack %-%-ctstate RELATED,ESTABLISHED .* %-j ACCEPT", "FORWARD of replies to the bridge")
tap.like(br, "%*raw\n%-I PREROUTING %-i nucleus0 %-d 127%.0%.0%.0/8 %-m comment %-%-comment nucleus%-bridge:nucleus0 %-j DROP",
  "raw PREROUTING drops what comes in from the bridge for 127.0.0.0/8 (route_localnet's hole)")
tap.is(select(2, net.bridge_rules(k, "D"):gsub("\n%-D ", "")), 4, "the bridge's rules delete as they were added")
tap.like(add, "%-A PREROUTING %-d 127%.0%.0%.1/32 %-p tcp %-m tcp %-%-dport 8080 .* %-j DNAT %-%-to%-destination 10%.42%.0%.7:80", "DNAT from the published address")
tap.like(add, "%-A OUTPUT %-p udp %-m udp %-%-dport 5353 .* %-j DNAT %-%-to%-destination 10%.42%.0%.7:53", "DNAT for the host's own clients (udp)")
tap.done()

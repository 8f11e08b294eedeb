--- nucleus.net: container networking (--network bridge).
--
-- Two backends give a container its own network namespace a way out:
--   kernel     a host bridge (default nucleus0, 10.42.0.0/16) and a veth
--              pair per container, the peer created directly in the
--              container's namespace as eth0; links, addresses and routes
--              through netlink (core.net_*); MASQUERADE, FORWARD and DNAT
--              rules with iptables-restore, one batch per container, each
--              rule tagged "nucleus:<id>" so that teardown and prune remove
--              exactly that container's rules and nothing else.
--   userspace  slirp4netns attached to the container's namespaces (rootless
--              runs), published ports through its API socket.
-- Egress policy: an OUTPUT chain in the container's own namespace, loaded
-- in one iptables-restore transaction before the workload runs.
--
-- config() validates everything before anything exists; prepare() takes
-- the address lease and the host ports (before the container starts);
-- attach() wires the running container's namespace (while it is paused
-- before its workload); teardown() undoes whatever of that happened.
local core = require "nucleus.core"
local log = require "nucleus.log"

local M = {}

M.DEFAULT_BRIDGE = "nucleus0"
M.DEFAULT_SUBNET = "10.42.0.0/16"
M.SLIRP_SUBNET = "10.0.2.0/24"
M.LOG_PREFIX = "nucleus-egress-denied: "

-- --- addresses ---------------------------------------------------------------

--- Strict dotted-quad IPv4 (no leading zeros, no shorthand).  Returns the
-- address as an integer or nil.
function M.ipv4(s)
  if type(s) ~= "string" then return nil end
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local n = 0
  for _, o in ipairs { a, b, c, d } do
    if #o > 1 and o:sub(1, 1) == "0" then return nil end
    local v = tonumber(o)
    if v > 255 then return nil end
    n = n * 256 + v
  end
  return n
end

function M.ntoa(n)
  return ("%d.%d.%d.%d"):format(n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)
end

--- ADDR/PREFIX.  Returns { base =, prefix =, mask =, text = } or nil, msg.
-- A host part other than zero is an error (it is a typo more often than not).
function M.cidr(s, what)
  local a, p = tostring(s):match("^([^/]+)/(%d%d?)$")
  local n = a and M.ipv4(a)
  p = tonumber(p)
  if not n or p > 32 then
    return nil, ("%s %q: expected an IPv4 network such as 10.42.0.0/16"):format(what, tostring(s))
  end
  local mask = p == 0 and 0 or (0xffffffff << (32 - p)) & 0xffffffff
  if n & mask ~= n then
    return nil, ("%s %q: host bits set (the network is %s/%d)"):format(what, s, M.ntoa(n & mask), p)
  end
  return { base = n, prefix = p, mask = mask, text = M.ntoa(n) .. "/" .. p }
end

--- An allow-list entry: a CIDR, or a single address (= /32).
local function allow_cidr(s)
  if M.ipv4(s) then return s .. "/32" end
  local c, err = M.cidr(s, "--egress-allow")
  if not c then return nil, err end
  return c.text
end

local function port(s, what)
  local n = tostring(s):match("^%d+$") and tonumber(s)
  if not n or n < 1 or n > 65535 then
    return nil, ("%s %q: expected a port number from 1 to 65535"):format(what, tostring(s))
  end
  return math.tointeger(n)
end

--- -p [IP:]HOST:CONTAINER[/tcp|udp].  Returns { host_ip =, host_port =,
-- port =, proto = } or nil, msg.
function M.publish(spec)
  local bad = ("--publish %q: expected [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]"):format(spec)
  local body, proto = spec:match("^(.-)/(%a+)$")
  if not body then body, proto = spec, "tcp" end
  if proto ~= "tcp" and proto ~= "udp" then
    return nil, ("--publish %q: protocol %q is not tcp or udp"):format(spec, proto)
  end
  local parts = {}
  for f in (body .. ":"):gmatch("([^:]*):") do parts[#parts + 1] = f end
  if #parts ~= 2 and #parts ~= 3 then return nil, bad end
  local ip = #parts == 3 and parts[1] or nil
  if ip and not M.ipv4(ip) then
    return nil, ("--publish %q: %q is not an IPv4 address"):format(spec, ip)
  end
  local hp, err = port(parts[#parts - 1], ("--publish %q: host port"):format(spec))
  if not hp then return nil, err end
  local cp
  cp, err = port(parts[#parts], ("--publish %q: container port"):format(spec))
  if not cp then return nil, err end
  return { host_ip = ip, host_port = hp, port = cp, proto = proto, spec = spec }
end

-- The host's own resolvers, without loopback ones (a stub resolver on the
-- host's 127.0.0.53 is not reachable from the container).
local function host_resolvers()
  local out = {}
  local f = io.open("/etc/resolv.conf")
  if not f then return out end
  for line in f:lines() do
    local ip = line:match("^%s*nameserver%s+([%d.]+)%s*$")
    if ip and M.ipv4(ip) and not ip:match("^127%.") then out[#out + 1] = ip end
  end
  f:close()
  return out
end

-- --- configuration -------------------------------------------------------------

--- The network of a run, checked whole.  ctx = { prod =, userns =, euid = }.
-- Returns nil for no networking beyond the namespace (none, host), a
-- config table for bridge, or false, msg.
function M.config(o, ctx)
  if o.network ~= "bridge" then
    local flag = require("nucleus.options").bridge_option(o)
    if flag then return false, ("%s needs --network bridge (the network is %s)"):format(flag, o.network) end
    return nil
  end
  local c = { publish = {}, dns = {}, egress = nil }
  local backend = o.nat_backend or "auto"
  if backend == "auto" then backend = ctx.euid == 0 and "kernel" or "userspace" end
  if backend == "kernel" and ctx.euid ~= 0 then
    return false, "--nat-backend kernel needs root (a bridge, veths and NAT rules on the host): "
      .. "rootless runs use --nat-backend userspace (slirp4netns)"
  end
  c.backend = backend
  if backend == "kernel" then
    if o.allow_host_loopback then
      return false, "--allow-host-loopback applies to --nat-backend userspace (slirp4netns) only"
    end
    c.bridge = o.bridge or M.DEFAULT_BRIDGE
    if #c.bridge > 15 or not c.bridge:match("^[A-Za-z0-9][A-Za-z0-9_.-]*$") then
      return false, ("--bridge %q: 1 to 15 of [A-Za-z0-9_.-], starting with a letter or digit"):format(c.bridge)
    end
    local s, err = M.cidr(o.subnet or M.DEFAULT_SUBNET, "--subnet")
    if not s then return false, err end
    if s.prefix < 8 or s.prefix > 30 then
      return false, ("--subnet %q: the prefix must be from /8 to /30"):format(s.text)
    end
    if s.base >> 24 == 127 or s.base >> 28 >= 14 then
      return false, ("--subnet %q: not a unicast range a bridge can use"):format(s.text)
    end
    c.subnet = s
    c.gateway = s.base + 1
  else
    if o.bridge then return false, "--bridge applies to --nat-backend kernel only" end
    local s, err = M.cidr(o.subnet or M.SLIRP_SUBNET, "--subnet")
    if not s then return false, err end
    if s.prefix > 25 then
      return false, ("--subnet %q: slirp4netns needs at least a /25"):format(s.text)
    end
    c.subnet = s
    c.gateway = s.base + 2
    c.ip = s.base + 100
    c.builtin_dns = s.base + 3
    c.host_loopback = o.allow_host_loopback
    for _, spec in ipairs(o.publish or {}) do
      if spec:match("/udp$") and not c.host_loopback then
        return false, ("--publish %q: slirp4netns drops the container's UDP replies to a published port "
          .. "unless it may reach the host (add --allow-host-loopback)"):format(spec)
      end
    end
  end
  for _, spec in ipairs(o.publish or {}) do
    local p, err = M.publish(spec)
    if not p then return false, err end
    for _, q in ipairs(c.publish) do
      if q.host_port == p.host_port and q.proto == p.proto then
        return false, ("--publish %q: host port %d/%s is published twice"):format(spec, p.host_port, p.proto)
      end
    end
    c.publish[#c.publish + 1] = p
  end
  for _, d in ipairs(o.dns or {}) do
    if not M.ipv4(d) then return false, ("--dns %q: expected an IPv4 address"):format(d) end
    c.dns[#c.dns + 1] = d
  end
  if #c.dns == 0 then
    if ctx.prod then
      return false, "production mode with --network bridge requires --dns (no default resolvers)"
    end
    if c.builtin_dns then
      c.dns = { M.ntoa(c.builtin_dns) }
    else
      c.dns = host_resolvers()
      if #c.dns == 0 then
        c.warning = "no --dns and the host's resolv.conf names no resolver the container can reach: "
          .. "it has no DNS"
      end
    end
  else
    c.own_dns = true
  end

  -- egress: CIDRs alone allow every port to them; ports alone allow those
  -- ports anywhere; both, those ports to those networks
  local allow, tcp, udp = {}, {}, {}
  for _, s in ipairs(o.egress_allow or {}) do
    local v, err = allow_cidr(s)
    if not v then return false, err end
    allow[#allow + 1] = v
  end
  for _, s in ipairs(o.egress_tcp_port or {}) do
    local v, err = port(s, "--egress-tcp-port")
    if not v then return false, err end
    tcp[#tcp + 1] = v
  end
  for _, s in ipairs(o.egress_udp_port or {}) do
    local v, err = port(s, "--egress-udp-port")
    if not v then return false, err end
    udp[#udp + 1] = v
  end
  if #allow > 0 or #tcp > 0 or #udp > 0 then
    c.egress = { allow = allow, tcp = tcp, udp = udp, dns = true }
  elseif ctx.prod then
    c.egress = { allow = {}, tcp = {}, udp = {}, dns = false } -- deny-all, DNS included
  end
  return c
end

--- The container's /etc/resolv.conf, or nil.
function M.resolv_conf(c)
  if #c.dns == 0 then return nil end
  local t = {}
  for _, d in ipairs(c.dns) do t[#t + 1] = "nameserver " .. d end
  return table.concat(t, "\n") .. "\n"
end

--- The container's /etc/hosts once its address is known.
function M.hosts(c, hostname)
  return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n")
    :format(M.ntoa(c.ip), hostname)
end

-- --- egress rules ----------------------------------------------------------------

--- The iptables-restore input of an egress policy (the container's own
-- filter table, replaced whole).
function M.egress_rules(c)
  local e = c.egress
  local r = { "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT DROP [0:0]",
              "-A OUTPUT -o lo -j ACCEPT",
              "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT" }
  if e.dns then
    for _, d in ipairs(c.dns) do
      r[#r + 1] = ("-A OUTPUT -d %s/32 -p udp -m udp --dport 53 -j ACCEPT"):format(d)
      r[#r + 1] = ("-A OUTPUT -d %s/32 -p tcp -m tcp --dport 53 -j ACCEPT"):format(d)
    end
  end
  -- nothing allowed at all (production's deny-all): no accept rule
  local dests = #e.allow > 0 and e.allow or (#e.tcp + #e.udp > 0 and { false } or {})
  for _, d in ipairs(dests) do
    local dst = d and (" -d " .. d) or ""
    if #e.tcp == 0 and #e.udp == 0 then
      r[#r + 1] = ("-A OUTPUT%s -j ACCEPT"):format(dst)
    end
    for _, p in ipairs(e.tcp) do r[#r + 1] = ("-A OUTPUT%s -p tcp -m tcp --dport %d -j ACCEPT"):format(dst, p) end
    for _, p in ipairs(e.udp) do r[#r + 1] = ("-A OUTPUT%s -p udp -m udp --dport %d -j ACCEPT"):format(dst, p) end
  end
  r[#r + 1] = ('-A OUTPUT -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "%s"'):format(M.LOG_PREFIX)
  r[#r + 1] = "-A OUTPUT -j DROP"
  r[#r + 1] = "COMMIT"
  return table.concat(r, "\n") .. "\n"
end

-- --- helpers ------------------------------------------------------------------------

local TRUSTED = { "/usr/sbin", "/sbin", "/usr/bin", "/bin", "/run/current-system/sw/bin" }

--- A helper program: from the trusted directories (then $PATH when not
-- root), owned by root or us and writable by nobody else.
local helpers = {} -- found once per process

function M.find_helper(name)
  if helpers[name] then return helpers[name] end
  local dirs = { table.unpack(TRUSTED) }
  if core.ids().euid ~= 0 then
    for d in (os.getenv("PATH") or ""):gmatch("[^:]+") do
      if d:sub(1, 1) == "/" then dirs[#dirs + 1] = d end
    end
  end
  local euid = core.ids().euid
  for _, d in ipairs(dirs) do
    local p = core.realpath(d .. "/" .. name)
    local st = p and core.lstat(p)
    if st and st.type == "file" and st.mode & 73 ~= 0 and st.mode & 18 == 0
        and (st.uid == 0 or st.uid == euid) then
      helpers[name] = p
      return p
    end
  end
  return nil, ("%s not found (install it: it is needed for --network bridge)"):format(name)
end

local function run_helper(name, argv, opts, what)
  local path, err = M.find_helper(name)
  if not path then return nil, err end
  local code, out = core.helper(path, argv, opts)
  if not code then return nil, ("%s: %s"):format(what, out) end
  if code ~= 0 then
    out = (out or ""):gsub("%s+$", ""):gsub("\n", "; ")
    return nil, ("%s: %s exited with %d: %s"):format(what, name, code, out)
  end
  return true
end

local function restore(input, opts, what)
  opts = opts or {}
  opts.input = input
  local argv = { "iptables-restore", "-w", "5" }
  if opts.noflush then argv[#argv + 1] = "--noflush" end
  opts.noflush = nil
  return run_helper("iptables-restore", argv, opts, what)
end

local function write_sysctl(path, v)
  local f = io.open(path)
  local cur = f and f:read("l")
  if f then f:close() end
  if cur == v then return true end
  f = io.open(path, "w")
  if not f then return nil, ("cannot set %s to %s"):format(path:gsub("^/proc/sys/", ""):gsub("/", "."), v) end
  local ok = f:write(v)
  f:close()
  return ok ~= nil
end

-- --- kernel backend: leases -----------------------------------------------------------

local function net_base()
  local base = os.getenv("NUCLEUS_NET_DIR")
  if not base or base == "" then base = "/run/nucleus/net" end
  return base
end

-- Leases live with the bridge they belong to: one directory per network
-- namespace and bridge, one file per address, created with link() so that
-- it appears complete or not at all.  A lease whose holder (supervisor pid
-- and start time) is gone is stale and taken over by rename, which only one
-- taker can win.
function M.lease_dir(c)
  local base = net_base()
  local ino = core.readlink("/proc/self/ns/net"):match("%[(%d+)%]")
  return ("%s/%s-%s"):format(base, ino, c.bridge), base
end

local function lease_live(path)
  local f = io.open(path)
  if not f then return true end -- gone meanwhile: let the next try decide
  local l = require("cjson.safe").decode(f:read("a"))
  f:close()
  if type(l) ~= "table" or not l.supervisor_pid then return true end
  return require("nucleus.state").alive(math.tointeger(l.supervisor_pid), math.tointeger(l.supervisor_start))
end

local remove_tagged, CONTAINER_TAG -- below

-- A lease whose supervisor is gone is taken over under the lease
-- directory's lock: the dead owner's rules (its published ports' DNAT and
-- FORWARD, tagged with its id) are removed first, then our lease replaces
-- its file in one rename, so that no moment exists where the address is
-- ours, or free, while a rule still sends traffic for it to the dead one's
-- ports (a publish of A's reaching B).  Returns true when it is ours.
local function takeover(dir, path, tmp)
  local lock = core.flock(dir .. "/.lock")
  if not lock then return false end
  local ok = false
  local f = io.open(path)
  local s = f and f:read("a")
  if f then f:close() end
  if s and not lease_live(path) then
    local dead = s:match('"id":"(%x+)"')
    local gone = true
    -- without iptables there are no rules to remove
    if dead and M.find_helper("iptables-save") then
      gone = remove_tagged(CONTAINER_TAG, dead)
    end
    ok = gone and os.rename(tmp, path) or false
  end
  core.close(lock)
  return ok
end

local function take_lease(dir, ip, body)
  local path = dir .. "/" .. M.ntoa(ip)
  local tmp = ("%s/.%s.%d"):format(dir, M.ntoa(ip), core.ids().pid)
  local f = io.open(tmp, "w")
  if not f then
    -- the last container of the bridge may have just removed the empty
    -- directory: make it again, once
    core.mkdir(dir, 448)
    f = io.open(tmp, "w")
    if not f then return nil end
  end
  f:write(body)
  f:close()
  if core.link(tmp, path) then
    os.remove(tmp)
    return path
  end
  if not lease_live(path) and takeover(dir, path, tmp) then return path end
  os.remove(tmp)
  return nil
end

--- Take the container's address.  Returns true or nil, msg.
function M.lease(c, id)
  local dir, base = M.lease_dir(c)
  c.lease_dir = dir
  for _, d in ipairs { base:match("^(.*)/[^/]+$"), base, dir } do
    if d ~= "" then core.mkdir(d, 448) end
  end
  local st = core.lstat(dir)
  if not st or st.type ~= "dir" or st.uid ~= core.ids().euid then
    return nil, ("lease directory %s: not a directory of ours"):format(dir)
  end
  local ids = core.ids()
  local body = ('{"id":"%s","supervisor_pid":%d,"supervisor_start":%d}\n')
    :format(id, ids.pid, require("nucleus.state").self_start())
  local size = 1 << (32 - c.subnet.prefix)
  for i = 2, size - 2 do
    local ip = c.subnet.base + i
    local path = take_lease(dir, ip, body)
    if path then
      c.ip, c.lease = ip, path
      return true
    end
  end
  return nil, ("--subnet %s: no free address left on bridge %s"):format(c.subnet.text, c.bridge)
end

-- --- kernel backend: host rules ------------------------------------------------------

-- Rules come in two kinds, each tagged so that it can be found again:
--   the bridge's ("nucleus-bridge:<name>"): MASQUERADE of its subnet,
--     FORWARD accepts, and a raw PREROUTING drop of what comes in from
--     the bridge for 127.0.0.0/8 (route_localnet, which loopback publishes
--     need, would otherwise let a container reach the host's services bound
--     to 127.0.0.1 with SO_BINDTODEVICE: CVE-2020-8558's class, dropped as
--     docker and kube-proxy do), added once when the bridge first serves (a marker
--     file next to its leases says they are there) and removed with it by
--     network prune; a container without published ports costs no
--     iptables run at all;
--   a container's ("nucleus:<id>"): its published ports' DNAT, hairpin
--     MASQUERADE and FORWARD accepts, one batch in, one batch out.
-- "A" adds ("I" in FORWARD, ahead of a host firewall's DROP), "D" deletes.
function M.bridge_rules(c, op)
  local tag = ("-m comment --comment nucleus-bridge:%s"):format(c.bridge)
  local fwd = op == "A" and "I" or op
  return table.concat({
    "*raw",
    ("-%s PREROUTING -i %s -d 127.0.0.0/8 %s -j DROP"):format(fwd, c.bridge, tag),
    "COMMIT", "*nat",
    ("-%s POSTROUTING -s %s ! -o %s %s -j MASQUERADE"):format(op, c.subnet.text, c.bridge, tag),
    "COMMIT", "*filter",
    ("-%s FORWARD -i %s %s -j ACCEPT"):format(fwd, c.bridge, tag),
    ("-%s FORWARD -o %s -m conntrack --ctstate RELATED,ESTABLISHED %s -j ACCEPT"):format(fwd, c.bridge, tag),
    "COMMIT" }, "\n") .. "\n"
end

--- The rules of one container's published ports, or nil when it has none.
function M.host_rules(c, id, op)
  if #c.publish == 0 then return nil end
  local tag = ("-m comment --comment nucleus:%s"):format(id)
  local ip, br = M.ntoa(c.ip), c.bridge
  local fwd = op == "A" and "I" or op
  local nat, filter = { "*nat" }, { "*filter" }
  for _, p in ipairs(c.publish) do
    local d = p.host_ip and (" -d " .. p.host_ip .. "/32") or ""
    local m = ("-p %s -m %s --dport %d"):format(p.proto, p.proto, p.host_port)
    local to = ("-j DNAT --to-destination %s:%d"):format(ip, p.port)
    nat[#nat + 1] = ("-%s PREROUTING%s %s -m addrtype --dst-type LOCAL %s %s"):format(op, d, m, tag, to)
    nat[#nat + 1] = ("-%s OUTPUT%s %s -m addrtype --dst-type LOCAL %s %s"):format(op, d, m, tag, to)
    -- from the host itself (127.0.0.1 included): the source becomes the gateway
    nat[#nat + 1] = ("-%s POSTROUTING -d %s/32 -o %s -p %s -m %s --dport %d -m addrtype --src-type LOCAL %s -j MASQUERADE")
      :format(op, ip, br, p.proto, p.proto, p.port, tag)
    filter[#filter + 1] = ("-%s FORWARD -d %s/32 -o %s -p %s -m %s --dport %d %s -j ACCEPT")
      :format(fwd, ip, br, p.proto, p.proto, p.port, tag)
  end
  nat[#nat + 1] = "COMMIT"
  filter[#filter + 1] = "COMMIT"
  return table.concat(nat, "\n") .. "\n" .. table.concat(filter, "\n") .. "\n"
end

--- Every rule whose tag matches pattern (a Lua pattern capturing the tag's
-- value), as a deletion batch, from iptables-save.  Returns batch,
-- { value = true } or nil, msg.
function M.tagged_rules(pattern, want)
  local path, err = M.find_helper("iptables-save")
  if not path then return nil, err end
  local code, out = core.helper(path, { "iptables-save" }, {})
  if code ~= 0 then return nil, "iptables-save failed: " .. tostring(out) end
  -- one deletion per tagged rule, under its table's header
  local found, batch, table_of, table_done = {}, {}, nil, nil
  for line in out:gmatch("[^\n]+") do
    local t = line:match("^%*(%S+)")
    if t then table_of = t end
    local v = line:match("^%-A ") and line:match('%-%-comment "?' .. pattern .. '"?')
    if v and (want == nil or v == want) then
      found[v] = true
      if table_done ~= table_of then
        if table_done then batch[#batch + 1] = "COMMIT" end
        batch[#batch + 1] = "*" .. table_of
        table_done = table_of
      end
      batch[#batch + 1] = "-D " .. line:sub(4)
    end
  end
  if table_done then batch[#batch + 1] = "COMMIT" end
  return #batch > 0 and (table.concat(batch, "\n") .. "\n") or "", found
end

CONTAINER_TAG = "nucleus:(%x+)"
local BRIDGE_TAG = "nucleus%-bridge:([%w_.-]+)"

function remove_tagged(pattern, want)
  local batch, err = M.tagged_rules(pattern, want)
  if not batch then return nil, err end
  if batch == "" then return true end
  return restore(batch, { noflush = true }, "remove rules")
end

-- The bridge, its address and its rules, under the lock of its lease
-- directory (two first starts must not both add the rules, and prune must
-- not remove a bridge that a start is about to use).
local function ensure_bridge(c)
  local lock, err = core.flock(c.lease_dir .. "/.lock")
  if not lock then return nil, err end
  local created
  created, err = core.net_bridge(c.bridge, ("%s/%d"):format(M.ntoa(c.gateway), c.subnet.prefix))
  local ok = created ~= nil
  if created then
    local f = io.open(c.lease_dir .. "/.created", "w")
    if f then f:close() end
  end
  -- (".rules" marked the rule set before its raw guard: such a bridge
  -- gets its rules anew)
  local marker, old_marker = c.lease_dir .. "/.rules.2", c.lease_dir .. "/.rules"
  -- a bridge made just now while the marker says its rules are there: the
  -- host rebooted (with a /run that survived) or someone deleted the
  -- bridge; whatever is left of the old rules goes, and they are added anew
  if ok and ((created and core.lstat(marker)) or core.lstat(old_marker)) then
    ok, err = remove_tagged(BRIDGE_TAG, c.bridge)
    if ok then os.remove(marker); os.remove(old_marker) end
  end
  if ok and not core.lstat(marker) then
    ok, err = restore(M.bridge_rules(c, "A"), { noflush = true }, "bridge rules")
    if ok then
      local f = io.open(marker, "w")
      if f then f:write(c.subnet.text, "\n"); f:close() end
    end
  end
  core.close(lock)
  if not ok then return nil, err end
  return true
end

-- --- lifecycle ------------------------------------------------------------------------------

--- Before the container exists: the lease and the host ports.  Fills
-- c.ip (kernel), c.lease and c.reserved.  Returns true or nil, msg.
function M.prepare(c, id)
  c.id = id
  c.reserved = {}
  if c.backend == "kernel" then
    local ok, err = M.lease(c, id)
    if not ok then return nil, err end
    c.veth = "nv" .. id:sub(1, 12)
    for _, p in ipairs(c.publish) do
      local fd, perr = core.reserve_port(p.proto, p.host_ip or "0.0.0.0", p.host_port)
      if not fd then
        M.teardown(c)
        return nil, ("--publish %q: %s"):format(p.spec, perr)
      end
      c.reserved[#c.reserved + 1] = fd
    end
  end
  return true
end

local function slirp_start(c, pid, userns, state_dir)
  local path, err = M.find_helper("slirp4netns")
  if not path then return nil, err end
  -- it opens the tap device inside the container's namespaces, as the
  -- container's root: that is the caller, for the device's permissions
  if not core.access("/dev/net/tun", "rw") then
    local st = core.lstat("/dev/net/tun")
    return nil, ("slirp4netns needs read-write access to /dev/net/tun%s"):format(
      st and (" (its mode is %04o; distributions make it 0666)"):format(st.mode & 4095) or " (missing)")
  end
  local sock = ("%s/slirp-%s.sock"):format(state_dir, c.id)
  os.remove(sock)
  local ready_r, ready_w = core.pipe()
  local exit_r, exit_w = core.pipe()
  local argv = { "slirp4netns", "--configure", "--mtu=65520", "--enable-seccomp",
                 "--ready-fd=" .. ready_w, "--exit-fd=" .. exit_r, "--api-socket", sock,
                 "--cidr", c.subnet.text }
  if not c.host_loopback then argv[#argv + 1] = "--disable-host-loopback" end
  if c.own_dns then argv[#argv + 1] = "--disable-dns" end
  -- its sandbox (a private root) is safe only where it cannot propagate
  -- unmounts to the host's mounts (/run/netns): inside a user namespace
  if core.ids().euid ~= 0 then argv[#argv + 1] = "--enable-sandbox" end
  if userns then argv[#argv + 1] = ("--userns-path=/proc/%d/ns/user"):format(pid) end
  argv[#argv + 1] = tostring(pid)
  argv[#argv + 1] = "tap0"
  local logpath = sock:gsub("%.sock$", ".log")
  local spid, serr = core.helper(path, argv, { detach = true, keep = { ready_w, exit_r }, log = logpath })
  core.close(ready_w)
  core.close(exit_r)
  if not spid then
    core.close(ready_r); core.close(exit_w)
    return nil, serr
  end
  c.slirp = { pid = spid, start = core.proc_start(spid), exit_fd = exit_w, socket = sock }
  local b = core.read_byte(ready_r, 10000)
  core.close(ready_r)
  if b ~= "1" then
    local code = core.reap(spid, 1000)
    c.slirp.pid = nil
    local f = io.open(logpath)
    local why = f and f:read("a"):gsub("WARNING: [^\n]*\n", ""):gsub("%s+$", ""):match("([^\n]*)$") or ""
    if f then f:close() end
    os.remove(logpath)
    return nil, ("slirp4netns %s before it was ready%s"):format(
      code and ("exited with " .. code) or "did not answer", why ~= "" and (": " .. why) or "")
  end
  os.remove(logpath) -- it logs nothing more of use; its file is unlinked
  for _, p in ipairs(c.publish) do
    -- slirp4netns says only "failed" when the port is taken: look first
    local fd, perr = core.reserve_port(p.proto, p.host_ip or "0.0.0.0", p.host_port)
    if not fd then return nil, ("--publish %q: %s"):format(p.spec, perr) end
    core.close(fd)
    local req = ('{"execute":"add_hostfwd","arguments":{"proto":"%s","host_addr":"%s","host_port":%d,"guest_port":%d}}')
      :format(p.proto, p.host_ip or "0.0.0.0", p.host_port, p.port)
    local reply, rerr = core.unix_request(sock, req)
    if not reply then return nil, ("--publish %q: slirp4netns: %s"):format(p.spec, rerr) end
    local e = reply:match('"error"%s*:%s*{.-"desc"%s*:%s*"([^"]*)"') or (reply:match('"error"') and reply)
    if e then
      if e:match("hostfwd failed") then e = "slirp4netns could not bind the host port (" .. e .. ")" end
      return nil, ("--publish %q: %s"):format(p.spec, e)
    end
  end
  return true
end

--- While the container is paused before its workload: wire its network
-- namespace.  ctx = { pid =, userns =, state_dir = }.  Returns true or
-- nil, msg (the caller then calls teardown).
function M.attach(c, ctx)
  local pid = ctx.pid
  if c.backend == "kernel" then
    local ok, err = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    if not ok then return nil, err end
    ok, err = ensure_bridge(c)
    if not ok then return nil, err end
    local loopback = false
    for _, p in ipairs(c.publish) do
      loopback = loopback or not p.host_ip or p.host_ip:match("^127%.") ~= nil
    end
    if loopback then
      -- published where the host's loopback reaches it (all addresses, or
      -- 127.x): that traffic may leave through the bridge (masqueraded);
      -- the bridge's raw guard keeps the way in closed
      ok, err = write_sysctl(("/proc/sys/net/ipv4/conf/%s/route_localnet"):format(c.bridge), "1")
      if not ok then return nil, err end
    end
    ok, err = core.net_veth(c.veth, pid, c.bridge)
    if not ok then return nil, err end
    c.veth_made = true
    ok, err = core.net_configure(pid, "eth0", ("%s/%d"):format(M.ntoa(c.ip), c.subnet.prefix), M.ntoa(c.gateway))
    if not ok then return nil, err end
    local rules = M.host_rules(c, c.id, "A")
    if rules then
      c.rules_added = true
      ok, err = restore(rules, { noflush = true }, "published ports")
      if not ok then return nil, err end
    end
  else
    local ok, err = slirp_start(c, pid, ctx.userns, ctx.state_dir)
    if not ok then return nil, err end
  end
  if c.egress then
    -- The container's namespace holds no rules but these, so the fastest
    -- backend will do: iptables-legacy loads a table in one setsockopt,
    -- where an nf_tables commit waits for RCU grace periods (ten times
    -- longer, docs/design-measurements.md).  Where legacy is missing or refused,
    -- the default.
    local rules, opts = M.egress_rules(c), { pid = pid, userns = ctx.userns }
    local ok, err
    if M.find_helper("iptables-legacy-restore") then
      ok = run_helper("iptables-legacy-restore", { "iptables-legacy-restore", "-w", "5" },
                      { pid = pid, userns = ctx.userns, input = rules }, "egress policy")
    end
    if not ok then ok, err = restore(rules, opts, "egress policy") end
    if not ok then return nil, err end
  end
  return true
end

--- Undo whatever prepare() and attach() did; safe to call more than once
-- and after a partial setup.  Problems are logged, never raised.
function M.teardown(c)
  for _, fd in ipairs(c.reserved or {}) do core.close(fd) end
  c.reserved = {}
  if c.slirp then
    if c.slirp.exit_fd then core.close(c.slirp.exit_fd); c.slirp.exit_fd = nil end
    if c.slirp.pid then
      if not core.reap(c.slirp.pid, 2000) then
        core.signal_pid(c.slirp.pid, c.slirp.start, core.signals.KILL)
        core.reap(c.slirp.pid, 2000)
      end
      c.slirp.pid = nil
    end
    os.remove(c.slirp.socket)
  end
  if c.rules_added then
    local ok = restore(M.host_rules(c, c.id, "D"), { noflush = true }, "remove rules")
    if not ok then
      local ok2, err = remove_tagged(CONTAINER_TAG, c.id)
      if not ok2 then log.warn("network teardown: %s", err) end
    end
    c.rules_added = false
  end
  -- the veth pair goes with the container's network namespace, which the
  -- kernel tears down in the background once the container is gone: a
  -- synchronous RTM_DELLINK here would wait tens of milliseconds for RCU
  -- grace periods on the critical path, for the same result
  c.veth_made = false
  if c.lease then
    os.remove(c.lease)
    os.remove((c.lease:match("^(.*)/[^/]+$"))) -- the bridge's directory, once empty
    c.lease = nil
  end
end

--- What a record keeps so that rm and prune can clean up after a
-- supervisor that was killed.
function M.record(c)
  return { backend = c.backend, bridge = c.bridge, ip = c.ip and M.ntoa(c.ip), veth = c.veth,
           lease = c.lease, subnet = c.subnet.text, publish = #c.publish > 0 and c.publish or nil }
end

--- Clean up after a container whose supervisor is gone: its rules, veth
-- and lease (rm, network prune).
function M.cleanup_record(id, r)
  if not r or r.backend ~= "kernel" then return true end
  local ok, err = true, nil
  if r.publish then ok, err = remove_tagged(CONTAINER_TAG, id) end
  -- what the record names, only if it is what nucleus makes: a host
  -- link of its own naming, a lease file in the lease directories
  if r.veth == "nv" .. id:sub(1, 12) then core.net_link_del(r.veth) end
  local base = net_base() .. "/"
  if type(r.lease) == "string" and r.lease:sub(1, #base) == base
      and not (r.lease .. "/"):find("/%.%.?/") and lease_live(r.lease) == false then
    os.remove(r.lease)
  end
  return ok, err
end

--- nucleus network prune: what containers that are gone left in this
-- network namespace: their leases, published-port rules and veths; and
-- each bridge no container uses any more, with its rules.  A container is
-- alive while its lease's supervisor is (whatever state directory records
-- it).  Returns a list of what was removed.
function M.prune()
  local removed, alive = {}, {}
  local base = net_base()
  local here = core.readlink("/proc/self/ns/net"):match("%[(%d+)%]") .. "-"
  local idle = {} -- bridges of this namespace without a live lease
  for _, d in ipairs(core.listdir(base) or {}) do
    local dir = base .. "/" .. d
    local users = 0
    for _, f in ipairs(core.listdir(dir) or {}) do
      local p = dir .. "/" .. f
      if f:sub(1, 1) == "." then
        -- a temporary of a taker that died between write and link
        local pid = f:match("%.(%d+)$")
        if pid and not core.proc_start(tonumber(pid)) then os.remove(p) end
      elseif lease_live(p) then
        users = users + 1
        local fh = io.open(p)
        local id = fh and fh:read("a"):match('"id":"(%x+)"')
        if fh then fh:close() end
        if id then alive[#alive + 1] = id end
      else
        os.remove(p)
        removed[#removed + 1] = "lease " .. f
      end
    end
    if users == 0 and d:sub(1, #here) == here then idle[#idle + 1] = { dir = dir, bridge = d:sub(#here + 1) } end
    os.remove(dir) -- only when empty
  end
  local function live(id)
    for _, a in ipairs(alive) do
      if a:sub(1, #id) == id then return true end
    end
    return false
  end
  local _, ids = M.tagged_rules(CONTAINER_TAG)
  for id in pairs(ids or {}) do
    if not live(id) then
      local ok, err = remove_tagged(CONTAINER_TAG, id)
      if ok then removed[#removed + 1] = "rules of " .. id else log.warn("%s", err) end
    end
  end
  for name, kind in pairs(core.net_links() or {}) do
    local short = name:match("^nv(%x+)$")
    if short and kind == "veth" and not live(short) then
      if core.net_link_del(name) then removed[#removed + 1] = "veth " .. name end
    end
  end
  for _, b in ipairs(idle) do
    -- under the lock: a start may have leased an address since, and then
    -- it keeps the bridge (the lock file itself stays, for the next start)
    local lock = core.flock(b.dir .. "/.lock")
    local users = 0
    for _, f in ipairs(core.listdir(b.dir) or {}) do
      if f:sub(1, 1) ~= "." then users = users + 1 end
    end
    if lock and users == 0 then
      local ok, err = true, nil
      if core.lstat(b.dir .. "/.rules.2") or core.lstat(b.dir .. "/.rules") then
        ok, err = remove_tagged(BRIDGE_TAG, b.bridge)
        if ok then
          os.remove(b.dir .. "/.rules.2")
          os.remove(b.dir .. "/.rules")
          removed[#removed + 1] = "rules of bridge " .. b.bridge
        else
          log.warn("%s", err)
        end
      end
      -- only a bridge nucleus made: one the host had before is not ours
      if ok and core.lstat(b.dir .. "/.created") then
        local links = core.net_links() or {}
        if links[b.bridge] == "bridge" and core.net_link_del(b.bridge) then
          removed[#removed + 1] = "bridge " .. b.bridge
        end
        os.remove(b.dir .. "/.created")
      end
    end
    if lock then core.close(lock) end
  end
  table.sort(removed)
  return removed
end

return M

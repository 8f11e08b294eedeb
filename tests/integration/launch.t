#!/usr/bin/env lua5.4
-- nucleus.launch: containers as handles that do not block, many from one
-- Lua state (a host tool's `require "nucleus"`), polled in one loop,
-- stopped, waited and torn down with nothing left behind; the same with a
-- bridged container, inside a network namespace made here.
local src = debug.getinfo(1, "S").source:sub(2)
package.path = (src:match("^(.*)/[^/]+$") or ".") .. "/../lib/?.lua;" .. package.path
local tap = require "tap"
local root = tap.tree()

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local NS = os.getenv("LAUNCH_T_NETNS")
if not os.getenv("NUCLEUS_STATE_DIR") then
  -- records (and bridge leases) in directories of this test's own
  local dir = sh("mktemp -d"):gsub("%s+$", "")
  local ok, _, code = os.execute(("NUCLEUS_STATE_DIR=%q/state NUCLEUS_NET_DIR=%q/net lua5.4 %q")
    :format(dir, dir, src))
  os.execute(("rm -rf %q"):format(dir))
  os.exit(ok and 0 or code or 1)
end

local f = io.open(root .. "/build/lib/nucleus/core.so")
if not f then tap.skip_all("build/lib/nucleus/core.so not built") end
f:close()
if sh("id -u"):gsub("%s+$", "") ~= "0" then tap.skip_all("runs containers as root") end

local nucleus = require "nucleus"
local core = require "nucleus.core"
local STATE = os.getenv("NUCLEUS_STATE_DIR")

local function records()
  local n = 0
  for _, name in ipairs(core.listdir(STATE .. "/containers") or {}) do
    if not name:match("^%.") then n = n + 1 end
  end
  return n
end
local function alive(pid) return core.lstat("/proc/" .. pid) ~= nil end
local function mounts()
  local n = 0
  for _ in io.lines("/proc/self/mountinfo") do n = n + 1 end
  return n
end

-- Poll handles until pred() or timeout seconds; the loop a host tool runs.
local function loop(handles, pred, timeout)
  local deadline = core.monotonic() + timeout
  while not pred() and core.monotonic() < deadline do
    local fds = {}
    for _, h in ipairs(handles) do
      for _, fd in ipairs(h:fds()) do fds[#fds + 1] = fd end
    end
    core.poll(fds, 0.5)
    for _, h in ipairs(handles) do h:poll() end
  end
  return pred()
end

if NS then
  -- the bridged half: in the test's own network namespace
  local rules = function()
    return tonumber((sh("iptables-save 2>/dev/null | grep -c 'nucleus:'"):gsub("%s+$", ""))) or 0
  end
  local leases = function()
    return tonumber((sh(("find %q -type f ! -name '.*' 2>/dev/null | wc -l"):format(os.getenv("NUCLEUS_NET_DIR"))):gsub("%s+$", ""))) or 0
  end
  local web = assert(nucleus.launch { argv = { "sleep", "30" }, network = "bridge", publish = { "9200:8000" }, rm = true })
  local plain = assert(nucleus.launch { argv = { "sh", "-c", "exit 4" }, rm = true })
  local quick = assert(nucleus.launch { argv = { "sh", "-c", "ip -4 -o addr show eth0 | grep -q 10.42. && exit 6" },
                                        network = "bridge", rm = true })
  tap.ok(web:start(), "bridged: started")
  tap.ok(plain:start(), "bridged: a default container started next to it")
  tap.ok(quick:start(), "bridged: a second bridged one started")
  tap.ok(rules() > 0, "bridged: the published port's rules are in place while it runs")
  tap.is(leases(), 2, "bridged: two leases taken")
  tap.ok(loop({ web, plain, quick }, function() return plain:poll() and quick:poll() end, 20),
    "bridged: the short ones exit while the long one runs")
  tap.is(plain:poll(), 4, "bridged: the default one's exit code")
  tap.is(quick:poll(), 6, "bridged: the bridged one saw its address on eth0")
  tap.is(web:poll(), false, "bridged: the long one still runs")
  local code = web:stop(5)
  tap.is(code, 143, "bridged: stop ends it with SIGTERM")
  for _, h in ipairs { web, plain, quick } do h:teardown() end
  tap.is(rules(), 0, "bridged: no container rule left")
  tap.is(leases(), 0, "bridged: no lease left")
  tap.is(records(), 0, "bridged: no record left")
  tap.done()
end

local before_mounts = mounts()

-- three from one state, one loop
local a = assert(nucleus.launch { argv = { "sleep", "30" }, rm = true })
local b = assert(nucleus.launch { argv = { "sh", "-c", "sleep 0.2; exit 3" }, rm = true })
local c = assert(nucleus.launch { argv = { "sh", "-c", "exit 5" }, rm = true })
tap.ok(a.id ~= b.id and b.id ~= c.id and #a.id == 32, "each launch has its own id")
tap.is(records(), 0, "launch builds only: no record yet")
tap.ok(a:start() and b:start() and c:start(), "three started from one Lua state")
tap.is(records(), 3, "three records while they run")
tap.ok(alive(a.pid) and a:poll() == false, "poll returns false while a container runs")
tap.ok(#a:fds() >= 1, "fds() gives the loop something to poll")
tap.ok(loop({ a, b, c }, function() return b:poll() and c:poll() end, 20), "the two short ones end in the loop")
tap.is(b:poll(), 3, "exit code of the second")
tap.is(c:poll(), 5, "exit code of the third")
tap.is(#c:fds(), 0, "an exited container has no fds to poll")
tap.is(a:poll(), false, "the first still runs")
local apid = a.pid
local code, sig = a:stop(5)
tap.is(code, 143, "stop: SIGTERM ends it (128 + 15)")
tap.is(sig, 0, "stop: the init reports the workload's end as its exit code")
tap.ok(not alive(apid), "stop: its process is gone")
for _, h in ipairs { a, b, c } do tap.ok(h:teardown(), "teardown " .. h.id:sub(1, 12)) end
tap.ok(a:teardown() and b:teardown(), "teardown twice is harmless")
tap.is(records(), 0, "no record left (--rm)")
for _, h in ipairs { a, b, c } do
  if h.cgroup then tap.ok(not core.lstat(h.cgroup.path), "cgroup of " .. h.id:sub(1, 12) .. " removed") end
end
tap.is(mounts(), before_mounts, "no mount left in the caller's namespace")

-- without --rm the record stays, saying how it ended
local kept = assert(nucleus.launch { argv = { "sh", "-c", "exit 7" } })
assert(kept:start())
tap.is(kept:wait(), 7, "wait() blocks until the end")
kept:teardown()
local state = require "nucleus.state"
local rec = assert(state.read(assert(state.open(STATE)), kept.id))
tap.is(rec.status, "exited", "the record says exited")
tap.is(rec.exit_code, 7, "... with its exit code")
tap.is(rec.mode, "agent", "... and the mode it ran in")
os.remove(STATE .. "/containers/" .. kept.id)

-- an fd of ours open on a new file (the output tests below)
local function out_file()
  local path = os.tmpname()
  local fh = assert(io.open(path, "w"))
  for i = 3, 255 do
    if core.readlink("/proc/self/fd/" .. i) == path then return fh, i, path end
  end
end
local function read(path)
  local fh = io.open(path)
  local t = fh and fh:read("a") or ""
  if fh then fh:close() end
  return t
end

-- a signal by name; a stop that has to kill
local outf, outfd, outpath = out_file()
local stubborn = assert(nucleus.launch { argv = { "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done" },
                                         rm = true })
assert(stubborn:start { stdout = outfd })
loop({ stubborn }, function() return read(outpath):match("ready") end, 10)
tap.ok(stubborn:signal("CONT"), "signal() by name")
tap.is(select(2, stubborn:signal("NOPE")), 'invalid signal "NOPE"', "signal(): an unknown name refused")
code = stubborn:stop(0.5)
tap.is(code, 137, "stop: a workload ignoring SIGTERM is killed after the timeout")
stubborn:teardown()
outf:close()
os.remove(outpath)

-- teardown of one that runs: killed, reaped, cleaned
local running = assert(nucleus.launch { argv = { "sleep", "30" }, rm = true })
assert(running:start())
local rpid = running.pid
tap.ok(running:teardown(), "teardown of a running container")
tap.ok(not alive(rpid), "... kills it")
tap.is(records(), 0, "... and removes its record")

-- a dropped handle is torn down when collected
rpid = (function()
  local lost = assert(nucleus.launch { argv = { "sleep", "30" }, rm = true })
  assert(lost:start())
  return lost.pid
end)()
collectgarbage()
collectgarbage()
tap.ok(not alive(rpid), "a collected handle's container is killed")
tap.is(records(), 0, "... and its record removed")

-- <close>
do
  local scoped <close> = assert(nucleus.launch { argv = { "sleep", "30" }, rm = true })
  assert(scoped:start())
  rpid = scoped.pid
end
tap.ok(not alive(rpid), "a <close> handle is torn down at the end of its scope")

-- failures: one line, the CLI's exit status, nothing left
local h, err, status = nucleus.launch { argv = { "true" }, memory = "lots" }
tap.ok(h == nil and err:match("memory") and status == 125, "launch: bad option refused", err)
h, err, status = nucleus.launch { argv = {} }
tap.ok(h == nil and status == 125, "launch: empty argv refused", err)
local nf = assert(nucleus.launch { argv = { "/no/such/command" }, rm = true })
local ok
ok, err, status = nf:start()
tap.ok(ok == nil and status == 127 and err:match("command not found"), "start: command not found is 127", err)
tap.is(records(), 0, "... and leaves no record")
tap.ok(nf:teardown(), "teardown after a failed start is harmless")
ok, err = nf:start()
tap.ok(ok == nil and err:match("already started"), "start twice refused", err)

local first = assert(nucleus.launch { argv = { "sleep", "30" }, name = "launch-t", rm = true })
local second = assert(nucleus.launch { argv = { "true" }, name = "launch-t", rm = true })
assert(first:start())
ok, err, status = second:start()
tap.ok(ok == nil and status == 125 and err:match("already in use"), "a name in use: refused at start", err)
tap.is(records(), 1, "... leaving only the first one's record")
first:teardown()
second:teardown()

local inter = assert(nucleus.launch { argv = { "cat" }, interactive = true, rm = true })
assert(inter:start())
ok, err = inter:poll()
tap.ok(ok == nil and err:match("stdin"), "poll(): an interactive container needs wait()", err)
inter:teardown()

-- output to an fd of the caller's choosing
local out, fd, path = out_file()
local echo = assert(nucleus.launch { argv = { "sh", "-c", "echo to-out; echo to-err >&2" }, rm = true })
assert(echo:start { stdout = fd, stderr = fd })
tap.is(echo:wait(), 0, "an output-redirected container ran")
echo:teardown()
out:close()
local text = read(path)
os.remove(path)
tap.ok(text:match("to%-out") and text:match("to%-err"), "start{ stdout =, stderr = }: its output lands there", text)
ok, err = pcall(function()
  local bad = assert(nucleus.launch { argv = { "true" }, rm = true })
  local r = { bad:start { stdout = 999 } }
  bad:teardown()
  return table.unpack(r)
end)
tap.ok(not ok and tostring(err):match("stdout"), "start{ stdout = a closed fd } raises", err)
tap.is(records(), 0, "... and leaves no record")

-- the bridged half, in a network namespace of the test's own
local function have(cmd) return select(2, sh("command -v " .. cmd .. " >/dev/null 2>&1")) end
if not (have("ip") and have("iptables-save")) then
  tap.skip("ip and iptables are needed for the bridged half", 1)
else
  local ns = "lt" .. sh("echo $$"):gsub("%s+$", "") .. math.random(1000, 9999)
  if not os.execute("ip netns add " .. ns) then
    tap.skip("cannot create a network namespace", 1)
  else
    local r = sh(("ip netns exec %s env LAUNCH_T_NETNS=1 lua5.4 %q 2>&1; echo \"exit=$?\""):format(ns, src))
    os.execute("ip netns del " .. ns)
    for line in r:gmatch("[^\n]+") do
      if line:match("^not ok") or line:match("^#") then io.write("# ", line, "\n") end
    end
    tap.ok(r:match("exit=0\n$") and not r:match("\nnot ok"), "bridged: three containers (two bridged) from one state, nothing left", r)
  end
end
tap.done()

#!/usr/bin/env lua5.4
-- The embedding API: `require "nucleus"` from a stock lua5.4 with
-- LUA_PATH/LUA_CPATH pointing at the build, running real containers.
local src = debug.getinfo(1, "S").source:sub(2)
package.path = (src:match("^(.*)/[^/]+$") or ".") .. "/../lib/?.lua;" .. package.path
local tap = require "tap"
local root = tap.tree()

-- container records go to a directory of this test's own
if not os.getenv("NUCLEUS_STATE_DIR") then
  local mk = io.popen("mktemp -d")
  local dir = mk:read("l")
  mk:close()
  local ok, _, code = os.execute(("NUCLEUS_STATE_DIR=%q lua5.4 %q"):format(dir, src))
  os.execute(("rm -rf %q"):format(dir))
  os.exit(ok and 0 or code or 1)
end

local f = io.open(root .. "/build/lib/nucleus/core.so")
if not f then tap.skip_all("build/lib/nucleus/core.so not built") end
f:close()
local p = io.popen("id -u")
local uid = p:read("l")
p:close()
if uid ~= "0" then tap.skip_all("runs containers as root") end

local function status_line(field)
  for l in io.lines("/proc/self/status") do
    local v = l:match("^" .. field .. ":%s*(%S+)")
    if v then return v end
  end
end
local cgt, blk = status_line("SigCgt"), status_line("SigBlk")
local nsearchers = #package.searchers
local nucleus = require "nucleus"
tap.is(#package.searchers, nsearchers, "require has no side effect on package.searchers")
tap.is(require("nucleus.core").use_builtin_modules(), true, "core.use_builtin_modules: this core.so carries the modules")
tap.is(#package.searchers, nsearchers + 1, "... and adds one searcher when asked")
require("nucleus.core").use_builtin_modules()
tap.is(#package.searchers, nsearchers + 1, "... once")
tap.is(status_line("SigCgt"), cgt, "require has no side effect on signal handlers")
tap.is(status_line("SigBlk"), blk, "require has no side effect on the signal mask")
tap.like(nucleus.version, "^%d+%.%d+%.%d+$", "nucleus.version")

-- core.so's compiled copy of the modules stands in for a file whose text
-- is the one it was compiled from, and for no other
local _, where = require "nucleus.mode.agent"
tap.like(where, "/lua/nucleus/mode/agent%.lua %(built%-in copy%)$",
  "an unchanged module comes from core.so's compiled copy")
local function lua_out(path, code)
  local h = io.popen(("LUA_PATH=%q LUA_CPATH=%q lua5.4 -e %q 2>&1"):format(path, package.cpath, code))
  local out = h:read("a")
  h:close()
  return out
end
local edited = os.tmpname()
os.remove(edited)
os.execute(("mkdir -p %q && cp -r %q/lua/nucleus %q/"):format(edited, root, edited))
local vf = assert(io.open(edited .. "/nucleus/validate.lua", "a"))
vf:write("\n-- edited\n")
vf:close()
local probe = [[require("nucleus.core").use_builtin_modules()
local v, w1 = require "nucleus.validate"
local _, w2 = require "nucleus.landlock"
print(w1) print(w2)]]
local out = lua_out(edited .. "/?.lua;" .. edited .. "/?/init.lua;" .. root .. "/build/lua/?.lua", probe)
tap.like(out, "/nucleus/validate%.lua\n", "an edited module is compiled from its file")
tap.like(out, "/nucleus/landlock%.lua %(built%-in copy%)\n", "... the others beside it still come from the copy")
os.execute(("rm -rf %q"):format(edited))

local ldd = io.popen("ldd " .. root .. "/build/lib/nucleus/core.so")
local deps = ldd:read("a")
ldd:close()
tap.ok(not deps:find("liblua"), "core.so does not link its own liblua", deps)

tap.is(nucleus.run { argv = { "/bin/true" } }, 0, "run returns 0")
tap.is(nucleus.run { argv = { "sh", "-c", "exit 42" } }, 42, "run returns the exit code")
local code, sig = nucleus.run { argv = { "sh", "-c", "kill -TERM $$" } }
tap.is(code, 143, "killed by a signal: 128+N")
tap.is(sig, 0, "the init exited normally (the signal is folded into the code)")

local tmp = os.tmpname()
local code2 = nucleus.run { argv = { "sh", "-c", 'test "$GREETING" = hi && test "$(hostname)" = api-box' },
                            env = { GREETING = "hi" }, hostname = "api-box" }
tap.is(code2, 0, "env as a map and hostname")

local c, err, status = nucleus.run { argv = { "x" }, bogus = true }
tap.is(c, nil, "unknown option: nil")
tap.like(err, 'unknown option "bogus"', "unknown option: message")
tap.is(status, 125, "unknown option: status 125")
c, err, status = nucleus.run { argv = { "no-such-command-xyz" } }
tap.is(status, 127, "command not found: 127")
tap.like(err, "no%-such%-command%-xyz: command not found", "command not found: message")
c, err, status = nucleus.run { argv = {} }
tap.is(status, 125, "empty argv refused")

-- the layers below run(): plan table -> compiled plan -> spawn -> wait
local tbl = assert(nucleus.plan { argv = { "true" }, name = "p1" })
tap.is(tbl.hostname, "p1", "nucleus.plan returns the plan table")
local plan = assert(nucleus.compile { argv = { "sh", "-c", "exit 9" } })
local d = plan:describe()
tap.is(d.argv[3], "exit 9", "plan:describe shows argv")
tap.ok(d.seccomp_instructions > 100, "plan:describe shows the seccomp program")
tap.is(nucleus.spawn_and_wait(plan), 9, "a compiled plan can be spawned")
tap.is(nucleus.spawn_and_wait(plan), 9, "... and spawned again (plans are reusable)")
-- a plan alone cannot carry what is set up around the process: compile
-- refuses it rather than start a bridged container with no network
local nb, nberr = nucleus.compile { argv = { "true" }, network = "bridge" }
tap.ok(nb == nil and nberr:match("use nucleus.launch"), "compile: a bridged plan is refused, not run without its network", nberr)
-- describe() shows every part of a plan (--dry-run, golden tests)
local bl = assert(nucleus.launch { argv = { "true" }, network = "bridge" })
local bd = assert(bl:describe())
tap.ok(bd.bridged == true and bd.pause_after_root == true and bd.join == false and bd.audit_mounts == false,
  "describe: bridged, pause_after_root, join, audit_mounts")
bl:teardown()

local core = require "nucleus.core"
local bad, perr, kind = core.plan_compile { argv = { "x" }, surprise = 1 }
tap.is(bad, nil, "plan_compile: unknown key refused")
tap.like(perr, 'unknown key "surprise"', "plan_compile: message names the key")
tap.is(kind, "EPLAN", "plan_compile: EPLAN")
tap.ok(not pcall(core.plan_compile, "not a table"), "plan_compile: misuse raises")
-- device nodes: the host node is looked at when the plan is compiled
local function dev_plan(source)
  return core.plan_compile { argv = { "x" }, namespaces = { "mount" },
                             mounts = { { kind = "device", source = source, target = "/dev/x" } } }
end
local dp, derr = dev_plan(nil)
tap.ok(dp == nil and derr:match('mounts%[1%]: missing "source"'), "device without a source refused")
dp, derr = dev_plan("/nonexistent-node")
tap.ok(dp == nil and derr:match("device /nonexistent%-node: No such file or directory"), "device whose node is missing refused")
dp, derr = dev_plan("/etc/hostname")
tap.ok(dp == nil and derr:match("device /etc/hostname: not a character device"), "device that is not a character device refused")
dp = assert(dev_plan("/dev/null"))
local dm = dp:describe().mounts[1]
tap.ok(dm.kind == "device" and dm.mode == 438, "device /dev/null: compiled with the host node's mode")
-- overlay layers: each entry in one, each overlay with its layer made first
local function layer_plan(mounts)
  return core.plan_compile { argv = { "x" }, namespaces = { "mount" }, mounts = mounts }
end
local L = { "layer" }
local lp, lerr = layer_plan { { kind = "hide", target = "/etc/x" } }
tap.ok(lp == nil and lerr:match('mounts%[1%]: "hide" is a whiteout of an overlay layer'), "hide without the layer flag refused")
lp, lerr = layer_plan { { kind = "dir", target = "/etc", flags = L }, { kind = "hide", target = "/etc/x", flags = L } }
tap.ok(lp == nil and lerr:match("layer entry /etc is under no overlay after it"), "a layer without its overlay refused")
lp, lerr = layer_plan { { kind = "overlay", source = "/etc", target = "/etc" } }
tap.ok(lp == nil and lerr:match("overlay /etc has no layer directory"), "an overlay without its layer refused")
lp, lerr = layer_plan { { kind = "dir", target = "/e:t", flags = L }, { kind = "overlay", source = "/etc", target = "/e:t" } }
tap.ok(lp == nil and lerr:match("cannot hold ':'"), "an overlay target with ':' refused")
lp, lerr = layer_plan { { kind = "dir", target = "/etc", flags = L },
                        { kind = "overlay", source = "/etc", target = "/etc", flags = { "recursive" } } }
tap.ok(lp == nil and lerr:match("an overlay takes only ro, nosuid, nodev and noexec"), "an overlay with a bind's flag refused")
lp, lerr = layer_plan { { kind = "bind", source = "/etc", target = "/etc", flags = L } }
tap.ok(lp == nil and lerr:match("only dir, file, symlink and hide entries go in a layer"), "a bind in a layer refused")
tap.ok(not pcall(core.random_hex, 0) and not pcall(core.random_hex, 65), "random_hex: 1 to 64 bytes only")
tap.like(core.random_hex(16), "^%x+$", "random_hex: hex digits")
tap.is(#core.random_hex(16), 32, "random_hex: two per byte")

-- a network namespace made ahead, on a thread (what nucleus.run does for
-- the default network): the container joins that one, with lo up
local function readfile(path)
  local fh = io.open(path)
  local text = fh and fh:read("a")
  if fh then fh:close() end
  return text
end
local nsdir = io.popen("mktemp -d"):read("l")
local ns = assert(core.netns_prepare())
local nsfd = assert(ns:fd())
local made = core.readlink("/proc/self/fd/" .. nsfd)
tap.like(made, "^net:%[%d+%]$", "netns_prepare: ns:fd() is a network namespace")
tap.ok(made ~= core.readlink("/proc/self/ns/net"), "netns_prepare: a new one, not ours")
local nt = assert(nucleus.plan { argv = { "sh", "-c", "readlink /proc/self/ns/net > /data/ns; ip -o link > /data/links" },
                                 volume = { nsdir .. ":/data" } })
local nproc = assert(core.spawn(assert(core.plan_compile(nt)), {}, { netns = ns }))
ns:close()
tap.is(nproc:wait({}), 0, "spawn with io.netns: the workload ran")
tap.is(readfile(nsdir .. "/ns"), made .. "\n", "spawn with io.netns: the container is in the namespace made ahead")
local links = readfile(nsdir .. "/links") or ""
tap.ok(links:match("^1: lo: <[^>]*,UP[,>]") and not links:find("\n2:"), "spawn with io.netns: lo only, up")
os.execute(("rm -rf %q"):format(nsdir))
tap.is(select(2, ns:fd()), "network: network namespace: closed", "ns:fd() after close: nil and why")
tap.ok(not pcall(core.spawn, assert(core.plan_compile(nt)), {}, { netns = ns }), "spawn: a closed io.netns raises")
tap.ok(not pcall(core.spawn, assert(core.plan_compile(nt)), {}, { netns = 3 }), "spawn: an io.netns that is no handle raises")
local function refused(t, what)
  local ns2 = assert(core.netns_prepare())
  local pr, msg = core.spawn(assert(core.plan_compile(t)), {}, { netns = ns2 })
  ns2:close()
  tap.ok(pr == nil and msg:match("a network namespace made ahead is only for a new one with lo up"),
    "spawn with io.netns refused: " .. what)
end
local nt2 = assert(nucleus.plan { argv = { "true" }, rootless = true })
refused(nt2, "a plan with a user namespace")
nt2 = assert(nucleus.plan { argv = { "true" }, network = "host", allow_host_network = true })
refused(nt2, "a plan without a network namespace")

-- mount ops in the child: a directory an op needs is made again when a
-- later op covered it (the child skips the mkdir only after an op that
-- made sure of the same directory); modes are the plan's, set-id bits
-- and files that were there already included
local mdir = io.popen("mktemp -d"):read("l")
local mt = assert(nucleus.plan { argv = { "sh", "-c",
  "ls /a/b > /data/ab; stat -c %a /m /t /tmp/x/f1 /tmp/x/hn > /data/modes; cat /tmp/x/hn > /data/hn" },
  volume = { mdir .. ":/data" } })
for _, op in ipairs {
  { kind = "file", target = "/a/b/c", content = "c", mode = 420 },
  { kind = "tmpfs", target = "/a" },
  { kind = "file", target = "/a/b/d", content = "d", mode = 420 },
  { kind = "dir", target = "/m", mode = tonumber("2775", 8) },
  { kind = "dir", target = "/t", mode = tonumber("1777", 8) },
  { kind = "file", target = "/tmp/x/f1", content = "", mode = tonumber("600", 8) },
  { kind = "file", target = "/tmp/x/hn", content = "first\n", mode = tonumber("644", 8) },
  { kind = "file", target = "/tmp/x/hn", content = "again\n", mode = tonumber("640", 8) },
} do mt.mounts[#mt.mounts + 1] = op end
local mproc = assert(core.spawn(assert(core.plan_compile(mt)), {}))
tap.is(mproc:wait({}), 0, "mount ops: the workload ran")
tap.is(readfile(mdir .. "/ab"), "d\n", "mount ops: a directory covered by a later tmpfs is made again")
tap.is(readfile(mdir .. "/modes"), "2775\n1777\n600\n640\n",
  "mount ops: modes as planned (set-gid, sticky, a new file, a file written twice)")
tap.is(readfile(mdir .. "/hn"), "again\n", "mount ops: a file written twice has the second content")
os.execute(("rm -rf %q"):format(mdir))

-- core.helper: argv, path and log are copied to C memory before the fork
local hcode, hout = core.helper("/bin/sh", { "sh", "-c", "echo \"$0:$1\"", "a b", "c" })
tap.ok(hcode == 0 and hout == "a b:c\n", "helper: argv reaches the program as given")
hcode, hout = core.helper("/nonexistent-helper", { "x" })
tap.ok(hcode == 127 and hout:match("/nonexistent%-helper"), "helper: a program that is not there: 127 and its name")
tap.ok(not pcall(core.helper, "/bin/true", { "true", {} }), "helper: an argv entry that is no string raises")
tap.ok(not pcall(core.helper, "/bin/true", {}), "helper: an empty argv raises")
local hlog = os.tmpname()
local hpid = assert(core.helper("/bin/sh", { "sh", "-c", "echo logged" }, { detach = true, log = hlog .. ".log" }))
local logged
for _ = 1, 500 do
  local lf = io.open(hlog .. ".log")
  logged = lf and lf:read("l")
  if lf then lf:close() end
  if logged then break end
  core.sleep(0.01)
end
tap.ok(hpid > 0 and logged == "logged", "helper: a detached program's output goes to its log")
os.remove(hlog .. ".log")
os.remove(hlog)

-- records: one file each, a line of JSON then lines that update it
local state = require "nucleus.state"
-- their times: UTC computed from os.time(), as glibc's strftime would
local tbad = 0
for _, t in ipairs { 0, 59, 86399, 86400, 951782399, 951782400, 951868800, 1709164800, 4107542400,
                     os.time(), 253402300799 } do
  if state.now(t) ~= os.date("!%Y-%m-%dT%H:%M:%SZ", t) then tbad = tbad + 1 end
end
for i = 1, 20000 do
  local t = (i * 2654435761) % 253402300800
  if state.now(t) ~= os.date("!%Y-%m-%dT%H:%M:%SZ", t) then tbad = tbad + 1 end
end
tap.is(tbad, 0, "state.now: the same UTC time as strftime (leap days, centuries, year 9999)")
local sdir = io.popen("mktemp -d"):read("l")
local st = assert(state.open(sdir))
local function put(path, text)
  local fh = assert(io.open(path, "w"))
  fh:write(text)
  fh:close()
end
local rid = core.random_hex(16)
put(sdir .. "/containers/" .. rid, ('{"id":"%s","status":"running","pid":1,"pid_start":1}\n'
  .. '{"status":"exited","exit_code":3}\n{"exit_code":'):format(rid))
local rrec = state.read(st, rid)
tap.ok(rrec and rrec.status == "exited" and rrec.exit_code == 3,
  "state: a record's update lines apply; a last line without its newline (being written) does not")
put(sdir .. "/containers/" .. rid, ('{"id":"%s","status":"running","pid":1,"pid_start":1}\n3\n'):format(rid))
tap.is(state.read(st, rid).status, "running", "state: an update line that is no JSON object is passed over")
put(sdir .. "/containers/" .. rid, ('{"id":"%s","status":"running","pid":1,"pid_start":1}\n'):format(rid))
rrec = state.read(st, rid)
assert(state.set_exited(st, rrec, 5, true))
rrec = state.read(st, rid)
tap.ok(rrec.status == "exited" and rrec.exit_code == 5 and rrec.oom_killed and rrec.finished,
  "state.set_exited: one line appended")
put(sdir .. "/containers/" .. string.rep("a", 32), "not json\n")
put(sdir .. "/containers/" .. string.rep("b", 32), ('{"id":"%s"}\n'):format(rid))
put(sdir .. "/containers/" .. rid .. ".audit.jsonl", "{}\n")
local listed = state.list(st)
tap.ok(#listed == 1 and listed[1].id == rid,
  "state.list: a file that is no record (not JSON, another id, an audit log) is skipped")
state.remove(st, rrec)
tap.ok(not core.lstat(sdir .. "/containers/" .. rid) and not core.lstat(sdir .. "/containers/" .. rid .. ".audit.jsonl"),
  "state.remove: the record and its audit log")
local uok, uerr = state.update(st, rrec, { status = "exited" })
tap.ok(not uok and uerr and not core.lstat(sdir .. "/containers/" .. rid), "state.update: a removed record stays removed")
-- a record begun is a name (a hard link to tmp/.begun), not a file of its
-- own; writing it replaces that name, never writes through it
local lok, lerr, lcode = core.link(sdir .. "/no-such-file", sdir .. "/tmp/x")
tap.ok(lok == nil and lerr:match("/tmp/x: No such file") and lcode == 2, "core.link: a missing target, named, with its errno")
lok, lerr, lcode = core.link(sdir .. "/tmp/.begun", sdir .. "/tmp/.begun")
tap.ok(lok == nil and lcode == 17, "core.link: an existing path is refused (EEXIST)")
tap.ok(not pcall(core.link, sdir), "core.link: a missing argument raises")
-- core.append: one O_APPEND write to a file that exists, never a new one
local apath = sdir .. "/appended"
put(apath, "a\n")
tap.ok(core.append(apath, "b\n") and readfile(apath) == "a\nb\n", "core.append: added at the end")
local aok, aerr, acode = core.append(sdir .. "/not-there", "x\n")
tap.ok(aok == nil and aerr:match("/not%-there: No such file") and acode == 2 and not core.lstat(sdir .. "/not-there"),
  "core.append: a missing file is named, ENOENT, and not created")
assert(core.symlink(apath, sdir .. "/alink"))
aok, aerr, acode = core.append(sdir .. "/alink", "x\n")
tap.ok(aok == nil and acode == 40 and readfile(apath) == "a\nb\n", "core.append: a symlink is not followed (ELOOP)")
tap.ok(not pcall(core.append, apath), "core.append: missing data raises")
-- two writers of 400 lines each: no line lost or torn
put(apath, "")
local lua = arg[-1] or "lua5.4"
local writer = ("package.cpath = %q; local c = require 'nucleus.core'; local l = (%%q):rep(60) .. '\\n'; "
  .. "for _ = 1, 400 do assert(c.append(%q, l)) end"):format(package.cpath, apath)
os.execute(("%s -e %q & %s -e %q & wait"):format(lua, writer:format("x"), lua, writer:format("y")))
local lines, whole = 0, true
for line in (readfile(apath) or ""):gmatch("([^\n]*)\n") do
  lines = lines + 1
  whole = whole and (line == ("x"):rep(60) or line == ("y"):rep(60))
end
tap.ok(lines == 800 and whole, "core.append: concurrent appends keep every line whole (" .. lines .. " lines)")
local bid = core.random_hex(16)
local begun = assert(state.begin(st, bid))
local lb, lm = core.lstat(begun), core.lstat(sdir .. "/tmp/.begun")
tap.ok(lb.ino == lm.ino and lm.nlink == 2 and lm.size == 0, "state.begin: a hard link to tmp/.begun")
assert(state.begun_cgroup(begun, "/sys/fs/cgroup/x"))
tap.ok(core.lstat(begun).ino ~= lm.ino and core.lstat(sdir .. "/tmp/.begun").size == 0,
  "state.begun_cgroup: a file of its own put in its place; tmp/.begun is left empty")
state.abandon(begun)
begun = assert(state.begin(st, bid))
assert(state.create(st, { id = bid, status = "running" }, begun))
tap.ok(state.read(st, bid) and not core.lstat(begun) and core.lstat(sdir .. "/tmp/.begun").size == 0
  and core.lstat(sdir .. "/tmp/.begun").nlink == 1, "state.create: the record replaces the name, then goes into place")
state.remove(st, state.read(st, bid))
os.remove(sdir .. "/tmp/.begun")
begun = assert(state.begin(st, bid))
tap.ok(core.lstat(sdir .. "/tmp/.begun"), "state.begin: a state directory without tmp/.begun gets one")
state.abandon(begun)
-- the sweep: a record begun by a creator that is gone, with the cgroup it
-- named (under a parent of its caller's choosing), and one it did not name
local cgroup = require "nucleus.cgroup"
local cgm = cgroup.mountpoint()
if cgm then
  local gone = io.popen("sh -c 'echo $$'"):read("l")
  local parent = cgm .. "/nucleus-test-sweep-" .. core.random_hex(4)
  local named, auto = core.random_hex(16), core.random_hex(16)
  assert(core.mkdir(parent, 493) and core.mkdir(parent .. "/" .. named, 493))
  assert(core.mkdir(cgm .. "/nucleus", 493) or core.lstat(cgm .. "/nucleus"))
  assert(core.mkdir(cgm .. "/nucleus/" .. auto, 493))
  assert(state.begun_cgroup(("%s/tmp/%s.%s.1"):format(sdir, named, gone), parent .. "/" .. named))
  assert(core.link(sdir .. "/tmp/.begun", ("%s/tmp/%s.%s.1"):format(sdir, auto, gone)))
  put(("%s/tmp/%s.%s.1~"):format(sdir, auto, gone), "{}\n") -- a record being put in place
  put(("%s/tmp/%s.%d.%d"):format(sdir, core.random_hex(16), core.ids().pid, state.self_start()), "")
  assert(state.open(sdir))
  tap.ok(not core.lstat(parent .. "/" .. named), "sweep: the cgroup a dead creator named in its begun record is removed")
  tap.ok(not core.lstat(cgm .. "/nucleus/" .. auto), "sweep: ... and one it did not name, found by the container's id")
  tap.is(#core.listdir(sdir .. "/tmp"), 2, "sweep: the begun records of dead creators go; a live creator's and tmp/.begun stay")
  os.remove(parent)
else
  tap.skip("no cgroup2 mount: the sweep's cgroups", 3)
end
os.execute(("rm -rf %q"):format(sdir))

-- a recipe: several containers from one script, results compared
local mk = io.popen("mktemp -d")
local dir = mk:read("l")
mk:close()
local r = nucleus.run { argv = { "sh", "-c", "echo from-container > /data/o" },
                        volume = { dir .. ":/data" } }
tap.is(r, 0, "recipe: container writes through a volume")
local fh = io.open(dir .. "/o")
tap.is(fh and fh:read("l"), "from-container", "recipe: the host sees the file")
if fh then fh:close() end
os.remove(dir .. "/o")

-- issue 16 (8): a context is measured when the plan is compiled, against
-- the tmpfs it is copied into; one that grows after that is stopped by
-- the tmpfs's bound (ENOSPC), never copied past it into memory
local ctx = dir .. "/ctx"
os.execute(("mkdir %q && head -c 1M /dev/urandom > %q/f"):format(ctx, ctx))
local big, berr = nucleus.compile { argv = { "true" }, context = ctx, tmpfs_size = "512K" }
tap.ok(big == nil and berr:match("invalid %-%-tmpfs%-size"), "compile: a bound below 1M refused", berr)
os.execute(("head -c 9M /dev/urandom >> %q/f"):format(ctx))
big, berr = nucleus.compile { argv = { "true" }, context = ctx, tmpfs_size = "8M" }
tap.ok(big == nil and berr:find("context " .. ctx .. ": 10.0M of files, more than the 8.0M tmpfs", 1, true),
  "compile: a context larger than the tmpfs refused, with its size and the bound", berr)
os.execute(("truncate -s 1M %q/f"):format(ctx))
local grown = assert(nucleus.compile { argv = { "sh", "-c", "stat -c %s /context/f > /data/size" },
                                      context = ctx, tmpfs_size = "8M", volume = { dir .. ":/data" } })
os.execute(("head -c 20M /dev/urandom >> %q/f"):format(ctx))
local gcode, gmsg, gstatus = nucleus.spawn_and_wait(grown)
if gcode == nil then
  tap.ok(gmsg:match("No space left on device") and gstatus == 125,
    "a context grown past the tmpfs after the scan: the copy stops at the bound (ENOSPC)", gmsg)
else
  local sz = tonumber(readfile(dir .. "/size"))
  tap.ok(gcode == 0 and sz and sz <= 8 << 20,
    "a context grown past the tmpfs after the scan: no more than the bound is copied", tostring(sz))
end
os.execute(("rm -rf %q %q/size"):format(ctx, dir))
os.remove(dir)
-- a context file swapped for a FIFO between the scan and the copy: the
-- copy refuses it at once (the open does not block on the FIFO)
do
  local ctx = io.popen("mktemp -d"):read("l")
  local fh = assert(io.open(ctx .. "/f", "w"))
  fh:write("data\n")
  fh:close()
  local cplan = assert(nucleus.compile { argv = { "true" }, context = ctx })
  os.remove(ctx .. "/f")
  os.execute(("mkfifo %q"):format(ctx .. "/f"))
  local t0 = os.time()
  local code, msg = nucleus.spawn_and_wait(cplan)
  tap.is(code, nil, "context: a file swapped for a FIFO after the scan fails the start")
  tap.like(msg, "no longer a regular file: f", "... naming it")
  tap.ok(os.time() - t0 < 10, "... at once")
  os.execute(("rm -rf %q"):format(ctx))
end

-- a sparse context file is copied sparsely (its holes kept, its size too),
-- and counts for its data against the tmpfs it goes to (8M here)
do
  local ctx = io.popen("mktemp -d"):read("l")
  os.execute(("truncate -s 512M %q && printf end >> %q"):format(ctx .. "/sparse", ctx .. "/sparse"))
  local out = io.popen(("%s run --rm --tmpfs-size 8M --context %q -- sh -c 'stat -c \"%%s %%b\" /context/sparse; tail -c 3 /context/sparse' 2>&1")
    :format(root .. "/build/bin/nucleus", ctx)):read("a")
  local size, blocks, tail = out:match("^(%d+) (%d+)\n(.*)$")
  tap.is(size, tostring(512 * 1024 * 1024 + 3), "context: a sparse file keeps its size")
  tap.ok(blocks and tonumber(blocks) < 1024, "... and its holes (" .. tostring(blocks) .. " blocks of 512 bytes)")
  tap.is(tail, "end", "... and its data")
  os.execute(("rm -rf %q"):format(ctx))
end

-- a terminating signal while the start goes on (here: the started hook,
-- where the record is written) ends the start; the workload never runs
do
  local dir = io.popen("mktemp -d"):read("l")
  local p = assert(nucleus.compile { argv = { "sh", "-c", "touch /data/ran" }, volume = { dir .. ":/data" } })
  local self = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
  local proc, warnings, code = core.spawn(p, { 15 }, {
    started = function()
      os.execute(("kill -TERM %s"):format(self))
      return true
    end })
  tap.is(proc, nil, "a SIGTERM before the workload runs ends the start")
  tap.like(warnings, "interrupted %(Terminated%)", "... saying so")
  tap.is(code, 4, "... EINTR")
  os.execute("sleep 0.2")
  tap.ok(not core.lstat(dir .. "/ran"), "... and the workload never ran")
  os.execute(("rm -rf %q"):format(dir))
end

-- hostile tables: metatables on every level never run and never lie
do
  local function hostile(t)
    return setmetatable(t, {
      __len = function() return 1 << 61 end,
      __index = function() error("__index ran") end,
      __pairs = function() error("__pairs ran") end,
      __tostring = function() error("__tostring ran") end,
    })
  end
  local ok, p, err = pcall(nucleus.plan, hostile { argv = hostile { "true" }, env = hostile { "A=1" } })
  tap.ok(ok and p and p.argv[1] == "true", "plan: hostile metatables on the options and their lists are not called")
  ok, p, err = pcall(nucleus.plan, { argv = setmetatable({}, { __len = function() return -1 end }) })
  tap.ok(ok and p == nil and err:match("argv"), "plan: a list whose __len lies is judged by what it holds (nil, msg)")
  ok, p, err = pcall(nucleus.plan, { argv = { "true" }, [hostile {}] = 1 })
  tap.ok(ok and p == nil and err:match("unknown option"), "plan: a key that is a hostile table: nil, msg")
  local argv = { "sh", "-c", "exit 3" }
  local compiled = assert(nucleus.compile { argv = argv })
  argv[3] = "exit 4"
  tap.is(nucleus.spawn_and_wait(compiled), 3, "plan: the caller's lists are copied (a later change does nothing)")
  -- the compiler reads the plan table raw too
  local t = assert(nucleus.plan { argv = { "true" } })
  t.argv = setmetatable({ "true" }, { __len = function() return 1 << 61 end, __index = function() return "x" end })
  t.env = setmetatable({}, { __len = function() return -1 end })
  ok, p, err = pcall(core.plan_compile, t)
  tap.ok(ok and p ~= nil, "plan_compile: __len and __index of a plan's lists are not used (no overflow, no crash)")
end

os.remove(tmp)
tap.done()

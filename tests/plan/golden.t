#!/usr/bin/env lua5.4
-- Golden tests of the Lua -> C translation: option sets in cases/*.lua are
-- built into plans for a fixed, made-up host, compiled by the real
-- core.plan_compile, and plan:describe() is compared with cases/*.json.
-- UPDATE_GOLDEN=1 rewrites the expected files.
local src = debug.getinfo(1, "S").source:sub(2)
local here = src:match("^(.*)/[^/]+$") or "."
package.path = here .. "/../lib/?.lua;" .. package.path
local tap = require "tap"
tap.tree()
local okc, core = pcall(require, "nucleus.core")
if not okc then tap.skip_all("build/lib/nucleus/core.so not built") end
if core.landlock_abi() == 0 then tap.skip_all("Landlock is not available on this kernel") end

-- the fixed host (the real core still compiles, checks and freezes)
local fs = {
  ["/usr"] = { type = "dir" }, ["/bin"] = { type = "link", link = "usr/bin" },
  ["/lib"] = { type = "link", link = "usr/lib" }, ["/etc/ld.so.cache"] = { type = "file" },
  ["/dev/null"] = { type = "char" }, ["/dev/zero"] = { type = "char" }, ["/srv/ctx"] = { type = "dir" },
  -- two of the paths agent mode masks: a directory and a file
  ["/proc/acpi"] = { type = "dir" }, ["/proc/keys"] = { type = "file" },
  -- /etc and what of it agent mode hides: a file, a directory, a name in
  -- a directory everyone may list (hidden alone) and one in a directory
  -- they may not (hidden with it)
  ["/etc"] = { type = "dir", mode = 493 }, ["/etc/shadow"] = { type = "file", mode = 416 },
  ["/etc/sudoers.d"] = { type = "dir", mode = 488 }, ["/etc/ssl"] = { type = "dir", mode = 493 },
  ["/etc/ssl/private"] = { type = "dir", mode = 456 }, ["/etc/ssh"] = { type = "dir", mode = 493 },
  ["/etc/ppp"] = { type = "dir", mode = 448 }, ["/etc/services"] = { type = "file", mode = 420 },
}
local etc_files = {
  ["/etc/passwd"] = "root:x:0:0:root:/root:/bin/bash\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
    .. "alice:x:1001:1001:Alice:/home/alice:/bin/zsh\nbob:x:1002:1002::/home/bob:/bin/bash\n"
    .. "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
  ["/etc/group"] = "root:x:0:\nstaff:x:50:bob,alice,bin\nalice:x:1001:\nbob:x:1002:\nnogroup:x:65534:\n",
  ["/etc/login.defs"] = "UID_MIN 1000\nGID_MIN 1000\n",
}
core.listdir = function(dir)
  local t = {}
  for path in pairs(fs) do
    local name = path:sub(#dir + 2)
    if path:sub(1, #dir + 1) == dir .. "/" and not name:find("/", 1, true) then t[#t + 1] = name end
  end
  table.sort(t)
  return t
end
core.ids = function() return { uid = 0, gid = 0, euid = 0, egid = 0 } end
core.lstat = function(p) return fs[p] end
core.readlink = function(p) return fs[p] and fs[p].link end
core.realpath = function(p) return fs[p] and p end
core.getpw = function(k)
  if k == "alice" or k == 1001 then return { name = "alice", uid = 1001, gid = 1001 } end
end
core.getgr = function(k) if k == "staff" or k == 50 then return { name = "staff", gid = 50 } end end
core.landlock_abi = function() return 6 end

local options = require "nucleus.options"
local agent = require "nucleus.mode.agent"
agent.read_host = function(path) return etc_files[path] end
local json = require "nucleus.json"

local p = io.popen("ls " .. here .. "/cases/*.lua")
for file in p:lines() do
  local name = file:match("([^/]+)%.lua$")
  local opts = assert(options.normalize(dofile(file)))
  local tbl = assert(agent.build(opts, { id = ("0123456789abcdef"):rep(2) })).plan
  local plan, err = core.plan_compile(tbl)
  if not tap.ok(plan, name .. ": compiles", err) then goto continue end
  do
    local got = json.encode(plan:describe(), "  ") .. "\n"
    local path = here .. "/cases/" .. name .. ".json"
    if os.getenv("UPDATE_GOLDEN") then
      local f = assert(io.open(path, "w"))
      f:write(got)
      f:close()
    end
    local f = io.open(path)
    local want = f and f:read("a")
    if f then f:close() end
    tap.ok(want == got, name .. ": describe() matches " .. name .. ".json",
      want and "differs; rerun with UPDATE_GOLDEN=1 and review the diff" or "no golden file")
  end
  ::continue::
end
p:close()

-- Landlock rules follow the host's trees: a link into /usr needs none
-- (/usr's rule covers where it leads), a tree the host lacks gets none,
-- and a real directory or a link elsewhere keeps its own.
local function rule_paths(host)
  fs = host
  local tbl = assert(agent.build(assert(options.normalize { argv = { "true" } }), { id = ("ab"):rep(16) })).plan
  local set = {}
  for _, r in ipairs(tbl.landlock.rules) do set[r.path] = true end
  return set
end
local merged = rule_paths {
  ["/usr"] = { type = "dir" }, ["/bin"] = { type = "link", link = "usr/bin" },
  ["/sbin"] = { type = "link", link = "/usr/sbin" }, ["/lib64"] = { type = "link", link = "/opt/lib64" },
  ["/lib"] = { type = "link", link = "usr/../lib.real" },
}
tap.ok(merged["/usr"] and not merged["/bin"] and not merged["/sbin"],
  "links into /usr get no rule of their own")
tap.ok(merged["/lib64"] and merged["/lib"], "a link elsewhere, or through .., keeps its rule")
tap.ok(not merged["/lib32"] and not merged["/nix"], "trees the host lacks get no rule")
local split = rule_paths { ["/usr"] = { type = "dir" }, ["/bin"] = { type = "dir" }, ["/nix"] = { type = "dir" } }
tap.ok(split["/bin"] and split["/nix"] and split["/usr"], "real directories keep their rules")
local no_usr = rule_paths { ["/bin"] = { type = "link", link = "usr/bin" } }
tap.ok(no_usr["/bin"], "without a /usr to cover it, a link into usr keeps its rule")

-- /etc/passwd and /etc/group of the fixed host: its system users and
-- groups, the workload's user with its shell and container home, no
-- other human user, no hash
local passwd, group = agent.users({ uid = 1001, gid = 1001, name = "alice", home = "/home/alice", groups = { 50 } }, true)
tap.is(passwd, "root:x:0:0:root:/root:/bin/bash\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
  .. "alice:x:1001:1001:alice:/home/alice:/bin/zsh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
  "passwd: system users, the workload's user in its place with its shell, not bob")
tap.is(group, "root:x:0:\nstaff:x:50:bin,alice\nalice:x:1001:\nnogroup:x:65534:\n",
  "group: system groups and the user's, bob in no member list, alice in staff")
passwd, group = agent.users({ uid = 4242, gid = 77, name = "u4242", home = "/home/u4242", groups = { 88 } }, true)
tap.like(passwd, "\nu4242:x:4242:77:u4242:/home/u4242:/bin/sh\n", "passwd: a user the host lacks, with /bin/sh")
tap.like(group, "\ng77:x:77:\ng88:x:88:u4242\n$", "group: groups the host lacks are added, the user a member of its additional one")
etc_files["/etc/login.defs"] = "#SYS_UID_MAX 10\nSYS_UID_MAX  1\nUID_MIN 1000\n"
passwd = agent.users({ uid = 0, gid = 0, name = "root", home = "/root" }, true)
tap.is(passwd, "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
  "passwd: SYS_UID_MAX of login.defs bounds the system users (bin, uid 2, is above 1)")
etc_files["/etc/passwd"] = "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
tap.like(agent.users({ uid = 1001, gid = 1001, name = "alice", home = "/home/alice" }, true), "^root:x:0:0:",
  "passwd: root is there even when the host's file lacks it")
tap.done()

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
}
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
tap.done()

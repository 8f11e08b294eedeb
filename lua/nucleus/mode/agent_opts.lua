--- nucleus.mode.agent_opts: what the agent's plan needs only for some
-- options (--user and --group, --ulimit, --volume, --seccomp-allow), apart
-- from mode/agent.lua so that a default start loads none of it.
local core = require "nucleus.core"
local validate = require "nucleus.validate"

local M = {}

-- Mount points that volumes may not cover.
local RESERVED = { "/proc", "/dev", "/sys", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32",
                   "/lib64", "/libx32", "/nix", "/context" }

--- Is path prefix or under it?
function M.under(path, prefix)
  return path == prefix or path:sub(1, #prefix + 1) == prefix .. "/"
end
local under = M.under

-- The CLI's own lookups read the host's passwd and group files only (a
-- static glibc cannot load the other services nsswitch.conf may name:
-- main.c); an entry they lack is asked of getent(1), which has them all.
-- db: "passwd" or "group".
local function getent(db, key)
  key = tostring(key)
  -- no user or group name starts with "-": none is passed as an option
  if not core.nss_files_only or key:sub(1, 1) == "-" then return nil end
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    local path = dir .. "/getent"
    if dir:sub(1, 1) == "/" and core.access(path, "x") then
      local code, out = core.helper(path, { "getent", db, key })
      if code ~= 0 or type(out) ~= "string" then return nil end
      local f = {}
      for field in (out:match("^[^\n]*") .. ":"):gmatch("([^:]*):") do f[#f + 1] = field end
      local id = math.tointeger(tonumber(f[3] or ""))
      if db == "passwd" and #f == 7 and id and math.tointeger(tonumber(f[4])) then
        return { name = f[1], uid = id, gid = math.tointeger(tonumber(f[4])), home = f[6], shell = f[7] }
      elseif db == "group" and #f == 4 and id then
        local members = {}
        for m in f[4]:gmatch("[^,]+") do members[#members + 1] = m end
        return { name = f[1], gid = id, members = members }
      end
      return nil
    end
  end
  return nil
end

--- "name" or "uid" -> passwd-like table.  Names come from the host's user
-- database (the container's /usr is the host's, and its /etc/passwd is
-- generated from what is resolved here), or from lookup(name) when given
-- (a production rootfs's own).
function M.user(spec, lookup)
  if spec:match("^%d+$") then
    local uid = math.tointeger(tonumber(spec))
    if not uid or uid > 0xfffffffe then return nil, ("invalid user %q"):format(spec) end
    local pw = core.getpw(uid) or getent("passwd", uid)
    return pw or { name = uid == 0 and "root" or ("u" .. uid), uid = uid, gid = 0, numeric = true }
  end
  local pw = (lookup and lookup(spec)) or core.getpw(spec) or not lookup and getent("passwd", spec)
  if not pw then return nil, ("unknown user %q"):format(spec) end
  return pw
end

--- "name" or "gid" -> group-like table.
function M.group(spec)
  if spec:match("^%d+$") then
    local gid = math.tointeger(tonumber(spec))
    if not gid or gid > 0xfffffffe then return nil, ("invalid group %q"):format(spec) end
    return core.getgr(gid) or getent("group", gid) or { name = "g" .. gid, gid = gid }
  end
  local gr = core.getgr(spec) or getent("group", spec)
  if not gr then return nil, ("unknown group %q"):format(spec) end
  return gr
end

local ULIMITS = {}
for n in ("as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack")
    :gmatch("%S+") do ULIMITS[n] = true end

--- --ulimit NAME=SOFT[:HARD] -> { resource =, soft =, hard = }
function M.ulimit(s)
  local name, soft, hard = s:match("^([%a_]+)=([^:]+):?(.*)$")
  if not name then return nil, ("invalid ulimit %q: expected NAME=SOFT[:HARD]"):format(s) end
  if not ULIMITS[name:lower()] then return nil, ("invalid ulimit %q: unknown resource %q"):format(s, name) end
  local sv = validate.limit(soft)
  local hv = hard ~= "" and validate.limit(hard) or sv
  if not sv or not hv then return nil, ("invalid ulimit %q: limits are integers or 'unlimited'"):format(s) end
  if sv > hv then return nil, ("invalid ulimit %q: soft limit above hard limit"):format(s) end
  return { resource = name:lower(), soft = sv, hard = hv }
end

-- A volume's or cache's destination, checked: what of the container it
-- may not cover.
local function destination(what, s, dst)
  local d, derr = validate.container_path(dst, what .. " destination")
  if not d then return nil, derr end
  if d == "/" then return nil, ("%s %q: cannot cover the root"):format(what, s) end
  for _, r in ipairs(RESERVED) do
    if under(d, r) then return nil, ("%s %q: %s is reserved"):format(what, s, r) end
  end
  return d
end

--- --volume SRC:DST[:ro|rw] -> { source =, target =, ro =, file = }
function M.volume(s)
  local src, dst, mode = s:match("^([^:]+):([^:]+):?(.*)$")
  if not src then return nil, ("invalid volume %q: expected SRC:DST[:ro|rw]"):format(s) end
  if mode ~= "" and mode ~= "ro" and mode ~= "rw" then
    return nil, ("invalid volume %q: mode must be ro or rw"):format(s)
  end
  local real, err = core.realpath(src)
  if not real then return nil, ("volume %q: %s"):format(s, err) end
  local d, derr = destination("volume", s, dst)
  if not d then return nil, derr end
  local st = core.lstat(real, true)
  return { source = real, target = d, ro = mode == "ro", file = st and st.type ~= "dir" }
end

--- The directory caches are kept in: $NUCLEUS_CACHE_DIR, else
-- /var/lib/nucleus/cache as root, else $XDG_CACHE_HOME/nucleus (or
-- ~/.cache/nucleus).  Persistent, unlike the state directory (/run).
function M.cache_dir(euid, getenv)
  local d = getenv("NUCLEUS_CACHE_DIR")
  if d and d ~= "" then return d end
  if euid == 0 then return "/var/lib/nucleus/cache" end
  local xdg = getenv("XDG_CACHE_HOME")
  if xdg and xdg:sub(1, 1) == "/" then return xdg .. "/nucleus" end
  local home = getenv("HOME")
  if home and home:sub(1, 1) == "/" then return home .. "/.cache/nucleus" end
  return nil
end

--- --cache NAME:DST -> { source =, target = }.  The cache is a directory
-- of the host's, DIR/UID/NAME, UID the host uid the workload's files get
-- (its user's, or the one container root maps to): made on first use,
-- 0700 and that uid's, so that a cache is never shared between users
-- (one could plant files for the other).  home: the workload's, for "~/".
-- host = { uid =, gid = } (host ids), euid, getenv.
function M.cache(s, home, host, euid, getenv)
  local name, dst = s:match("^([^:]+):(.+)$")
  if not name then return nil, ("invalid cache %q: expected NAME:DST"):format(s) end
  if not name:match("^[A-Za-z0-9][A-Za-z0-9_.-]*$") or #name > 64 or name:find("..", 1, true) then
    return nil, ("invalid cache %q: the name is 1 to 64 of [A-Za-z0-9_.-], starting with a letter or digit, no \"..\""):format(s)
  end
  if dst == "~" then dst = home elseif dst:sub(1, 2) == "~/" then dst = home .. dst:sub(2) end
  local d, derr = destination("cache", s, dst)
  if not d then return nil, derr end
  local base = M.cache_dir(euid, getenv)
  if not base or base:sub(1, 1) ~= "/" then
    return nil, ("cache %q: no cache directory (set NUCLEUS_CACHE_DIR or HOME)"):format(s)
  end
  -- the tree down to DIR/UID: the caller's; DIR/UID and the cache: the uid's
  local path = ""
  for part in base:gmatch("[^/]+") do
    path = path .. "/" .. part
    local ok, err = core.mkdir(path, 493)
    if not ok then return nil, ("cache %q: %s"):format(s, err) end
  end
  local owned = euid == 0 and host.uid ~= 0
  for _, p in ipairs { path .. "/" .. host.uid, path .. "/" .. host.uid .. "/" .. name } do
    local ok, err = core.mkdir(p, 448, owned and host.uid or nil, owned and host.gid or nil)
    if not ok then return nil, ("cache %q: %s"):format(s, err) end
    -- not a link, and the uid's: bound by path, it must be what was made
    local st = core.lstat(p)
    if not st or st.type ~= "dir" or st.uid ~= host.uid then
      return nil, ("cache %q: %s is not a directory of uid %d"):format(s, p, host.uid)
    end
  end
  return { source = path .. "/" .. host.uid .. "/" .. name, target = d }
end

local function deep_copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = deep_copy(v) end
  return c
end

--- The built-in profile widened by --seccomp-allow.
function M.seccomp_allow(o, builtin)
  local prof = deep_copy(require("nucleus.policies")[(builtin or "default") .. ".seccomp.json"])
  local allow = prof.syscalls[1].names
  local allowed = {}
  for _, n in ipairs(allow) do allowed[n] = true end
  for _, name in ipairs(o.seccomp_allow) do
    if not core.seccomp_resolve(name) then
      return nil, ("--seccomp-allow %s: unknown syscall"):format(name)
    end
    for _, rule in ipairs(prof.syscalls) do
      if rule.args then
        for _, n in ipairs(rule.names) do
          if n == name then
            return nil, ("--seccomp-allow %s: the built-in profile filters its arguments; use a profile file"):format(name)
          end
        end
      end
    end
    if not allowed[name] then
      allow[#allow + 1] = name
      allowed[name] = true
    end
    for r = #prof.syscalls, 1, -1 do
      local rule = prof.syscalls[r]
      if rule.action ~= "SCMP_ACT_ALLOW" then
        for i = #rule.names, 1, -1 do
          if rule.names[i] == name then table.remove(rule.names, i) end
        end
        if #rule.names == 0 then table.remove(prof.syscalls, r) end
      end
    end
  end
  return prof
end

return M

--- nucleus.cgroup: cgroup v2 placement and limits of a container.
--
-- Each container gets <cgroup2 mount><parent>/<id> (parent "/nucleus" by
-- default, --cgroup-parent or NUCLEUS_CGROUP_ROOT to choose); clone3
-- places the init in it (CLONE_INTO_CGROUP) before it runs anything, so
-- the container's cgroup namespace is rooted there.  Controllers are
-- enabled along the way only when a limit needs them and the kernel offers
-- them there.  Removal: cgroup.kill, then rmdir.
local core = require "nucleus.core"
local validate = require "nucleus.validate"

local M = {}

--- The cgroup2 mount point, or nil.  The two usual places are tried
-- first (pure v2, then hybrid's "unified"); the mount table only after.
local mountpoint_cache
function M.mountpoint()
  if mountpoint_cache ~= nil then return mountpoint_cache or nil end
  -- statfs, not the mount table alone: a mount over the cgroup2 mount
  -- point (a tmpfs hiding it, say) must not be taken for it
  for _, mp in ipairs { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" } do
    if core.is_cgroup2(mp) then
      mountpoint_cache = mp
      return mp
    end
  end
  for line in io.lines("/proc/self/mountinfo") do
    local mp, fstype = line:match("^%S+ %S+ %S+ %S+ (%S+) .- %- (%S+) ")
    if fstype == "cgroup2" then
      mp = mp:gsub("\\040", " ")
      if core.is_cgroup2(mp) then
        mountpoint_cache = mp
        return mp
      end
    end
  end
  mountpoint_cache = false
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, value)
  local f, err = io.open(path, "w")
  if not f then return nil, err end
  f:setvbuf("no")
  local ok, werr = f:write(value)
  f:close()
  if not ok then return nil, ("%s: %s"):format(path, werr) end
  return true
end

-- sizes are parsed in one place (validate.size); kept here for callers
M.size = validate.size

local IO_KEYS = { riops = true, wiops = true, rbps = true, wbps = true }

--- Turn the resource options into cgroup files to write.
-- Returns { files = {{name, value}...}, controllers = {...} } or nil, msg.
function M.limits(o)
  local files, need = {}, {}
  local function add(ctl, name, value)
    files[#files + 1] = { name, value }
    need[ctl] = true
  end
  if o.memory then
    local b, err = M.size(o.memory, "--memory")
    if not b then return nil, err end
    add("memory", "memory.max", tostring(b))
    if o.swap then
      add("memory", "memory.swap.max", "max")
    elseif o.memory_swap then
      local t, serr = M.size(o.memory_swap, "--memory-swap")
      if not t then return nil, serr end
      if t < b then return nil, "--memory-swap is memory plus swap: it cannot be below --memory" end
      add("memory", "memory.swap.max", tostring(t - b))
    else
      add("memory", "memory.swap.max", "0")
    end
  elseif o.memory_swap or o.swap then
    return nil, "--memory-swap and --swap need --memory"
  end
  if o.cpus then
    local n = tonumber(o.cpus)
    if not n or n ~= n or n <= 0 or n > 65536 then
      return nil, ("invalid --cpus %q: a number of CPUs above 0, such as 0.5 or 2"):format(o.cpus)
    end
    local quota = math.floor(n * 100000)
    if quota < 1000 then return nil, ("invalid --cpus %q: at least 0.01"):format(o.cpus) end
    add("cpu", "cpu.max", ("%d 100000"):format(quota))
  end
  if o.cpu_weight then
    local w = math.tointeger(tonumber(o.cpu_weight))
    if not w or w < 1 or w > 10000 then
      return nil, ("invalid --cpu-weight %q: an integer from 1 to 10000"):format(o.cpu_weight)
    end
    add("cpu", "cpu.weight", tostring(w))
  end
  if o.pids then
    local n = math.tointeger(tonumber(o.pids))
    if not n or n < 0 then return nil, ("invalid --pids %q: 0 (unlimited) or more"):format(o.pids) end
    add("pids", "pids.max", n == 0 and "max" or tostring(n))
  end
  for _, spec in ipairs(o.io_limit or {}) do
    local dev, rest = spec:match("^%s*(%d+:%d+)%s+(.+)$")
    if not dev then
      return nil, ("invalid --io-limit %q: expected \"MAJ:MIN riops=N wiops=N rbps=N wbps=N\""):format(spec)
    end
    if not core.lstat("/sys/dev/block/" .. dev) then
      return nil, ("invalid --io-limit %q: no block device %s"):format(spec, dev)
    end
    local parts = { dev }
    for kv in rest:gmatch("%S+") do
      local k, v = kv:match("^(%a+)=(%S+)$")
      if not k or not IO_KEYS[k] then
        return nil, ("invalid --io-limit %q: unknown key in %q (riops, wiops, rbps, wbps)"):format(spec, kv)
      end
      local val = v == "max" and "max" or (k:match("bps$") and M.size(v, "--io-limit") or math.tointeger(tonumber(v)))
      if not val or (type(val) == "number" and val <= 0) then
        return nil, ("invalid --io-limit %q: bad value %q"):format(spec, v)
      end
      parts[#parts + 1] = k .. "=" .. tostring(val)
    end
    if #parts == 1 then return nil, ("invalid --io-limit %q: no limit given"):format(spec) end
    add("io", "io.max", table.concat(parts, " "))
  end
  local controllers = {}
  for c in pairs(need) do controllers[#controllers + 1] = c end
  table.sort(controllers)
  -- the default process limit (init.lua writes it) needs the pids
  -- controller enabled down to the container's cgroup, where the host has it
  return { files = files, controllers = controllers, optional = o.pids == nil and { "pids" } or {} }
end

--- Where the container's cgroup goes: mount, parent path (relative to the
-- mount, "/..."), or nil and why not.
function M.parent(o)
  local mount = M.mountpoint()
  if not mount then return nil, "no cgroup2 hierarchy is mounted" end
  local p = o.cgroup_parent or os.getenv("NUCLEUS_CGROUP_ROOT")
  if p and p ~= "" then
    -- a path in the cgroup2 tree ("/nucleus"), or the same as a path of
    -- the mount ("/sys/fs/cgroup/nucleus"); anything else under /sys is a
    -- path outside the cgroup2 mount
    if p:sub(1, #mount + 1) == mount .. "/" then
      p = p:sub(#mount + 1)
    elseif p:sub(1, 5) == "/sys/" or p == mount then
      return nil, ("cgroup parent %q is outside the cgroup2 mount (%s)"):format(p, mount), "invalid"
    end
    local clean, err = validate.container_path(p, "cgroup parent")
    if not clean then return nil, err, "invalid" end
    return mount, clean, true
  end
  if core.ids().euid ~= 0 then return nil, "not root and no --cgroup-parent given" end
  return mount, "/nucleus"
end

--- Create the cgroup for id with limits.  Returns cg = { path =, ... } or
-- nil, message, and (when only the limits are impossible) the warning
-- kind "unavailable".
function M.create(o, id, limits)
  local mount, parent, explicit = M.parent(o)
  if not mount then return nil, parent, explicit or "unavailable" end
  local cg, err, kind = M.create_in(mount, parent, explicit, id, limits)
  if not cg and not kind and not explicit then
    -- another container may have removed the shared parent meanwhile
    cg, err, kind = M.create_in(mount, parent, explicit, id, limits)
  end
  if cg and not explicit then cg.auto_parent = cg.parent end
  return cg, err, kind
end

function M.create_in(mount, parent, explicit, id, limits)
  local available = {}
  for c in (read(mount .. "/cgroup.controllers") or ""):gmatch("%S+") do available[c] = true end
  local missing = {}
  for _, c in ipairs(limits.controllers) do
    if not available[c] then missing[#missing + 1] = c end
  end
  if #missing > 0 then
    return nil, ("cgroup v2 controller%s %s not available (in %s)"):format(#missing > 1 and "s" or "",
      table.concat(missing, ", "), mount), "unavailable"
  end
  -- the parent chain, enabling the controllers on the way down
  local path = mount
  local created = {}
  local function undo()
    for i = #created, 1, -1 do os.remove(created[i]) end
  end
  local optional = {}
  for _, c in ipairs(limits.optional or {}) do
    if available[c] then optional[#optional + 1] = c end
  end
  -- +controller in path's subtree_control for those not there yet; the
  -- optional ones (a default's) where they can be, never an error
  local function enable(at)
    if #limits.controllers + #optional == 0 then return true end
    local sub = read(at .. "/cgroup.subtree_control") or ""
    local todo, maybe = {}, {}
    for _, c in ipairs(limits.controllers) do
      if not sub:find(c, 1, true) then todo[#todo + 1] = "+" .. c end
    end
    for _, c in ipairs(optional) do
      if not sub:find(c, 1, true) then maybe[#maybe + 1] = "+" .. c end
    end
    if #maybe > 0 then write(at .. "/cgroup.subtree_control", table.concat(maybe, " ")) end
    if #todo == 0 then return true end
    local ok, err = write(at .. "/cgroup.subtree_control", table.concat(todo, " "))
    if ok then return true end
    undo()
    return nil, ("cgroup %s: cannot enable %s: %s"):format(at, table.concat(todo, " "), err)
  end
  for comp in parent:gmatch("[^/]+") do
    local ok, err = enable(path)
    if not ok then return nil, err end
    path = path .. "/" .. comp
    if not core.lstat(path) then
      ok, err = core.mkdir(path, 493)
      if not ok then
        undo()
        return nil, ("cgroup %s"):format(err), not explicit and "unavailable" or nil
      end
      created[#created + 1] = path
    end
  end
  local eok, eerr = enable(path)
  if not eok then return nil, eerr end
  local cg = path .. "/" .. id
  local ok, err = core.mkdir(cg, 493)
  if not ok then
    undo()
    return nil, ("cgroup %s"):format(err)
  end
  for _, f in ipairs(limits.files) do
    local wok, werr = write(cg .. "/" .. f[1], f[2])
    if not wok then
      os.remove(cg)
      undo()
      return nil, ("cgroup %s = %s: %s"):format(f[1], f[2], werr)
    end
  end
  return { path = cg, parent = path, created = created }
end

--- The cgroup a running container's record names, checked before a
-- process is put there (exec): a path in the cgroup2 mount, no "." or
-- "..", under the parent the container was started with (its
-- --cgroup-parent, NUCLEUS_CGROUP_ROOT) or the default /nucleus, named
-- after the container, and the cgroup its init is in.  Returns the path,
-- false when the record names none (a host without it: as before), or
-- nil and a one-line reason.
function M.of_container(rec, o)
  local path = rec.cgroup
  if path == nil then return false end
  local function refuse(why)
    return nil, ("container %s: cgroup %q: %s"):format(rec.name or rec.id:sub(1, 12), tostring(path), why)
  end
  if type(path) ~= "string" or type(rec.id) ~= "string" or not rec.id:match("^%x+$") then
    return refuse("not a cgroup of this container")
  end
  local mount = M.mountpoint()
  if not mount then return refuse("no cgroup2 hierarchy is mounted") end
  if path:sub(1, #mount + 1) ~= mount .. "/" then return refuse("outside the cgroup2 mount " .. mount) end
  local rel = path:sub(#mount + 1)
  if validate.container_path(rel, "cgroup") ~= rel then return refuse("not a clean path") end
  local allowed = { ["/nucleus/" .. rec.id] = true }
  local pmount, parent = M.parent(o)
  if pmount == mount and type(parent) == "string" then allowed[parent .. "/" .. rec.id] = true end
  if not allowed[rel] then return refuse("not the container's cgroup under the nucleus cgroup tree") end
  -- where the kernel says its init is (pid and start time checked by the caller)
  local f = io.open(("/proc/%d/cgroup"):format(rec.pid))
  local cur = f and f:read("a"):match("0::([^\n]*)")
  if f then f:close() end
  if cur ~= rel then return refuse(("the container's init is in %s"):format(cur or "no cgroup2 cgroup")) end
  return path
end

--- How many processes the kernel OOM-killed in it (memory.events).
function M.oom_kills(path)
  local ev = read(path .. "/memory.events") or ""
  return tonumber(ev:match("oom_kill (%d+)")) or 0
end

--- Kill whatever is in it, remove it, and remove the default parent when
-- it is left empty (an explicit --cgroup-parent stays).
function M.remove(path, auto_parent)
  local ok, err = core.cgroup_remove(path)
  if auto_parent then os.remove(auto_parent) end -- fails while others live there
  return ok, err
end

return M

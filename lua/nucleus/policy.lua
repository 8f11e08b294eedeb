--- nucleus.policy: security policy files, read and hashed on the host
-- before anything starts, validated strictly (an unknown key or name is an
-- error naming it), turned into plan fields.
--
--   seccomp   OCI runtime-spec linux.seccomp JSON   -> plan.seccomp (C validates the rest)
--   caps      TOML: [bounding] keep = [...], ...    -> plan.caps masks
--   landlock  TOML: min_abi, [[rules]] path/access  -> plan.landlock
local core = require "nucleus.core"
local landlock = require "nucleus.landlock"
local toml = require "nucleus.toml"

local M = {}

M.KINDS = { "seccomp", "caps", "landlock" }

-- Linux capability numbers (uapi/linux/capability.h), which are ABI.
M.CAPS = {
  CHOWN = 0, DAC_OVERRIDE = 1, DAC_READ_SEARCH = 2, FOWNER = 3, FSETID = 4, KILL = 5,
  SETGID = 6, SETUID = 7, SETPCAP = 8, LINUX_IMMUTABLE = 9, NET_BIND_SERVICE = 10,
  NET_BROADCAST = 11, NET_ADMIN = 12, NET_RAW = 13, IPC_LOCK = 14, IPC_OWNER = 15,
  SYS_MODULE = 16, SYS_RAWIO = 17, SYS_CHROOT = 18, SYS_PTRACE = 19, SYS_PACCT = 20,
  SYS_ADMIN = 21, SYS_BOOT = 22, SYS_NICE = 23, SYS_RESOURCE = 24, SYS_TIME = 25,
  SYS_TTY_CONFIG = 26, MKNOD = 27, LEASE = 28, AUDIT_WRITE = 29, AUDIT_CONTROL = 30,
  SETFCAP = 31, MAC_OVERRIDE = 32, MAC_ADMIN = 33, SYSLOG = 34, WAKE_ALARM = 35,
  BLOCK_SUSPEND = 36, AUDIT_READ = 37, PERFMON = 38, BPF = 39, CHECKPOINT_RESTORE = 40,
}

--- The most a policy file may hold: far more than any real one, and a
-- bound on what a file named by mistake (or malice) costs to read.
M.MAX_BYTES = 1 << 20

--- The whole of a file named by the user, which must be a regular file
-- of at most max bytes (default M.MAX_BYTES): never a FIFO (whose open
-- would hang), a device (/dev/zero, read forever) or a directory.
-- Returns bytes or nil, "<what> <path>: <why>".
function M.read_file(path, what, max)
  local data, err = core.read_regular(path, max or M.MAX_BYTES)
  if data then return data end
  -- the binding says "<path>: <why>"; the path may itself hold ": "
  if err:sub(1, #path + 2) == path .. ": " then err = err:sub(#path + 3) end
  return nil, ("%s %s: %s"):format(what, path, err)
end

--- Read a file and check its SHA-256 against pin (hex, any case) if given.
-- Returns bytes, hex or nil, message.
function M.read_pinned(path, what, pin)
  local data, err = M.read_file(path, what)
  if not data then return nil, err end
  local sum = core.sha256(data)
  if pin then
    local want = pin:lower():match("^%s*(%x+)%s*$")
    if not want or #want ~= 64 then
      return nil, ("%s %s: the pin %q is not a SHA-256 (64 hex digits)"):format(what, path, pin)
    end
    if want ~= sum then
      return nil, ("%s %s: SHA-256 mismatch: pinned %s, file has %s"):format(what, path, want, sum)
    end
  end
  return data, sum
end

local function line_col(text, offset)
  local line, col = 1, 1
  for i = 1, math.min(offset - 1, #text) do
    if text:byte(i) == 10 then line, col = line + 1, 1 else col = col + 1 end
  end
  return line, col
end

--- Decode a JSON seccomp profile.  Errors carry LINE:COL.
function M.seccomp(text, path)
  local ok = pcall(require, "cjson.safe")
  if not ok then return nil, "seccomp profile: lua-cjson is not installed" end
  local v, err = require("nucleus.json").decode(text)
  if v == nil then
    local at = tonumber(tostring(err):match("character (%d+)"))
    if at then
      local l, c = line_col(text, at)
      return nil, ("%s:%d:%d: invalid JSON: %s"):format(path, l, c, (err:gsub(" at character %d+", "")))
    end
    return nil, ("%s: %s"):format(path, tostring(err))
  end
  if type(v) ~= "table" or v.defaultAction == nil then
    return nil, ("%s: not a seccomp profile (no defaultAction)"):format(path)
  end
  return v
end

local function cap_set(list, where)
  if list == nil then return 0 end
  if not toml.is_array(list) then return nil, ("%s: expected a list of capability names"):format(where) end
  local mask = 0
  for i, name in ipairs(list) do
    if type(name) ~= "string" then return nil, ("%s[%d]: expected a capability name"):format(where, i) end
    local n = M.CAPS[name:gsub("^CAP_", "")]
    if not n then return nil, ("%s: unknown capability %q"):format(where, name) end
    mask = mask | (1 << n)
  end
  return mask
end

local function cap_names(mask)
  local out = {}
  for name, n in pairs(M.CAPS) do if mask & (1 << n) ~= 0 then out[#out + 1] = name end end
  table.sort(out)
  return table.concat(out, ", ")
end

local SETS = { "bounding", "permitted", "effective", "inheritable", "ambient" }

--- Capability policy -> { bounding=, permitted=, effective=, inheritable=, ambient= } masks.
-- Listing a capability as effective, inheritable or ambient implies
-- permitted, and ambient implies inheritable (the kernel requires both);
-- every kept capability must be in the bounding set.
function M.caps(text, path)
  local v, err = toml.decode(text, { positions = true })
  if not v then return nil, ("%s:%s"):format(path, err) end
  local pos = err
  local sets = {}
  for k, t in pairs(v) do
    local known = false
    for _, s in ipairs(SETS) do if s == k then known = true end end
    if not known then
      return nil, ("%s:%d: unknown key %q (expected %s)"):format(path, pos[v][k] or 0, k, table.concat(SETS, ", "))
    end
    if type(t) ~= "table" or toml.is_array(t) then
      return nil, ("%s:%d: [%s] must be a table with keep = [...]"):format(path, pos[v][k] or 0, k)
    end
    for tk in pairs(t) do
      if tk ~= "keep" then
        return nil, ("%s:%d: unknown key %q in [%s]"):format(path, pos[t] and pos[t][tk] or 0, tk, k)
      end
    end
    local mask, merr = cap_set(t.keep, ("%s:%d: %s.keep"):format(path, pos[t] and pos[t].keep or 0, k))
    if not mask then return nil, merr end
    sets[k] = mask
  end
  local c = {}
  for _, s in ipairs(SETS) do c[s] = sets[s] or 0 end
  c.inheritable = c.inheritable | c.ambient
  c.permitted = c.permitted | c.effective | c.inheritable | c.ambient
  local outside = c.permitted & ~c.bounding
  if outside ~= 0 then
    return nil, ("%s: not in the bounding set but kept: %s"):format(path, cap_names(outside))
  end
  return c
end

local ACCESS = {}
for k, v in pairs(landlock.ACCESS) do ACCESS[k] = v end
for k, v in pairs(landlock.FS) do ACCESS[k] = v end

--- Landlock policy -> plan.landlock for the running ABI, plus warnings.
function M.landlock(text, path, abi)
  local v, err = toml.decode(text, { positions = true })
  if not v then return nil, ("%s:%s"):format(path, err) end
  local pos = err
  for k in pairs(v) do
    if k ~= "min_abi" and k ~= "rules" then
      return nil, ("%s:%d: unknown key %q (expected min_abi, rules)"):format(path, pos[v][k] or 0, k)
    end
  end
  local min_abi = v.min_abi or 1
  if math.type(min_abi) ~= "integer" or min_abi < 1 then
    return nil, ("%s:%d: min_abi must be a positive integer"):format(path, pos[v].min_abi or 0)
  end
  if abi < min_abi then
    return nil, ("%s: needs Landlock ABI %d, the kernel has %s"):format(path, min_abi,
      abi > 0 and ("ABI " .. abi) or "no Landlock")
  end
  if not toml.is_array(v.rules or toml.new_array()) then
    return nil, ("%s: rules must be an array of tables ([[rules]])"):format(path)
  end
  local rules, warnings = {}, {}
  local handled = landlock.fs_rights(abi)
  for i, r in ipairs(v.rules or {}) do
    local line = pos[v.rules] and pos[v.rules][i] or 0
    if type(r) ~= "table" or toml.is_array(r) then
      return nil, ("%s:%d: rules[%d] must be a table"):format(path, line, i)
    end
    for k in pairs(r) do
      if k ~= "path" and k ~= "access" and k ~= "optional" then
        return nil, ("%s:%d: unknown key %q in rules[%d]"):format(path, pos[r] and pos[r][k] or line, k, i)
      end
    end
    if type(r.path) ~= "string" or r.path:sub(1, 1) ~= "/" then
      return nil, ("%s:%d: rules[%d].path must be an absolute path"):format(path, line, i)
    end
    if not toml.is_array(r.access or 0) or #r.access == 0 then
      return nil, ("%s:%d: rules[%d].access must be a non-empty list"):format(path, line, i)
    end
    local access = 0
    for _, name in ipairs(r.access) do
      local bits = type(name) == "string" and ACCESS[name]
      if not bits then
        return nil, ("%s:%d: rules[%d]: unknown access right %q"):format(path, line, i, tostring(name))
      end
      access = access | bits
    end
    if r.optional ~= nil and type(r.optional) ~= "boolean" then
      return nil, ("%s:%d: rules[%d].optional must be a boolean"):format(path, line, i)
    end
    if access & ~handled ~= 0 then
      warnings[#warnings + 1] = ("%s: rules[%d] (%s): rights beyond Landlock ABI %d are not enforced by this kernel")
        :format(path, i, r.path, abi)
    end
    rules[#rules + 1] = { path = r.path, access = access & handled, optional = r.optional or nil }
  end
  return { handled_fs = handled, scoped = landlock.scopes(abi), rules = rules }, warnings
end

--- Guess a policy file's kind from its name, then its content.
function M.kind_of(path, text)
  if path:match("%.seccomp%.json$") or path:match("%.json$") then return "seccomp" end
  if path:match("%.caps%.toml$") then return "caps" end
  if path:match("%.landlock%.toml$") then return "landlock" end
  if text:match("^%s*{") then return "seccomp" end
  if text:match("%[%[rules%]%]") or text:match("min_abi") then return "landlock" end
  return "caps"
end

return M

--- nucleus.mode.production: the rules of --service-mode production, on
-- top of the agent plan: a prepared root bound read-only instead of the
-- host's trees, a read-only root, /proc with hidepid and only the process
-- directories, a mount audit after pivot_root, required memory limit and
-- Landlock ABI 3, and no degraded or weakened option at all.
local core = require "nucleus.core"

local M = {}

local FORBIDDEN = {
  { "allow_degraded_security", "--allow-degraded-security" },
  { "allow_chroot_fallback", "--allow-chroot-fallback" },
  { "allow_host_network", "--allow-host-network" },
}

--- Invariants checked before anything is built.
function M.check(o, abi)
  for _, f in ipairs(FORBIDDEN) do
    if o[f[1]] then return nil, ("production mode forbids %s"):format(f[2]) end
  end
  if o.network == "host" then return nil, "production mode forbids --network host" end
  if o.seccomp_mode == "trace" then return nil, "production mode forbids --seccomp-mode trace" end
  if not o.memory then return nil, "production mode requires --memory" end
  if not o.rootfs then return nil, "production mode requires --rootfs DIR (a prepared root)" end
  if abi < 3 then
    return nil, ("production mode requires Landlock ABI 3 or newer, the kernel has %s"):format(
      abi > 0 and ("ABI " .. abi) or "no Landlock")
  end
  return true
end

local HOST_TREES = { usr = true, bin = true, sbin = true, lib = true, lib32 = true, lib64 = true,
                     libx32 = true, etc = true, boot = true, proc = true, sys = true, dev = true }

local SKIP = { dev = true, proc = true, sys = true, tmp = true, run = true, context = true,
               [".nucleus-rootfs-sha256"] = true }

--- The prepared root's top-level entries, as mounts (replacing the host's
-- /bin /usr ...).  Returns a list of mount tables or nil, message.
function M.rootfs_mounts(dir)
  local real, err = core.realpath(dir)
  if not real then return nil, ("rootfs %q: %s"):format(dir, (err:gsub("^.-: ", ""))) end
  local st = core.lstat(real)
  if not st or st.type ~= "dir" then return nil, ("rootfs %q: not a directory"):format(dir) end
  -- the host's own root, or one of its system trees, is no prepared root:
  -- said here, not left to the mount audit to trip over
  local top = real:match("^/([^/]*)")
  if real == "/" or HOST_TREES[top] then
    return nil, ("rootfs %q: %s is the host's own %s, not a prepared root"):format(dir, real,
      real == "/" and "root" or "system tree")
  end
  local names = core.listdir(real) or {}
  table.sort(names)
  local out = {}
  for _, name in ipairs(names) do
    if not SKIP[name] then
      local p = real .. "/" .. name
      local e = core.lstat(p)
      if e and e.type == "link" then
        out[#out + 1] = { kind = "symlink", target = "/" .. name, link = core.readlink(p) }
      elseif e and e.type == "dir" then
        out[#out + 1] = { kind = "bind", source = p, target = "/" .. name,
                          flags = { "ro", "nosuid", "nodev", "recursive" } }
      elseif e and e.type == "file" then
        out[#out + 1] = { kind = "bind", source = p, target = "/" .. name, file = true,
                          flags = { "ro", "nosuid", "nodev" } }
      end
    end
  end
  return out, nil, real
end

--- A user name looked up in the prepared root's /etc/passwd.
function M.lookup_user(rootfs, name)
  local f = io.open(rootfs .. "/etc/passwd")
  if not f then return nil end
  for line in f:lines() do
    local n, uid, gid, home = line:match("^([^:]*):[^:]*:(%d+):(%d+):[^:]*:([^:]*):")
    if n == name then
      f:close()
      return { name = n, uid = tonumber(uid), gid = tonumber(gid), home = home }
    end
  end
  f:close()
end

return M

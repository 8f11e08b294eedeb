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

--- The prepared root, resolved once: its directory and each of its
-- top-level entries opened (O_PATH), so that what is checked (the
-- attestation, the user's line in /etc/passwd) is what is mounted, read
-- through those fds and never by path again: a --rootfs link switched to
-- another tree, or a top-level directory renamed and replaced, after
-- this point changes nothing of this start.  Returns
-- { dir =, real =, fd =, top = { { name =, stat =, fd = } ... } } (sorted
-- by name; root:close() closes what the plan did not take) or nil,
-- message.
function M.open_root(dir)
  local fd, err = core.open_path(dir)
  if not fd then return nil, ("rootfs %q: %s"):format(dir, (err:gsub("^.-: ", ""))) end
  local root = { dir = dir, fd = fd, top = {} }
  function root.close()
    fd:close()
    for _, t in ipairs(root.top) do t.fd:close() end
  end
  -- all but the fds plan's mounts hold (for core.plan_compile to take)
  function root.close_unused(plan)
    local used = {}
    for _, m in ipairs(plan.mounts or {}) do
      if m.fd then used[m.fd] = true end
    end
    fd:close()
    for _, t in ipairs(root.top) do
      if not used[t.fd] then t.fd:close() end
    end
  end
  local st = fd:stat()
  if not st or st.type ~= "dir" then
    root.close()
    return nil, ("rootfs %q: not a directory"):format(dir)
  end
  local real = fd:realpath()
  root.real = real
  -- the host's own root, or one of its system trees, is no prepared root:
  -- said here, not left to the mount audit to trip over
  local top = real and real:match("^/([^/]*)")
  if not real or real == "/" or HOST_TREES[top] then
    root.close()
    return nil, ("rootfs %q: %s is the host's own %s, not a prepared root"):format(dir, tostring(real),
      real == "/" and "root" or "system tree")
  end
  local names, lerr = core.listdir(fd:path())
  if not names then
    root.close()
    return nil, ("rootfs %q: %s"):format(dir, (lerr:gsub("^.-: ", "")))
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local efd, est = core.open_path(fd, name)
    -- gone since the listing: not in this root
    if efd then root.top[#root.top + 1] = { name = name, stat = est, fd = efd } end
  end
  return root
end

--- The prepared root's top-level entries, as mounts (replacing the host's
-- /bin /usr ...): binds of the fds open_root made.
function M.rootfs_mounts(root)
  local out = {}
  for _, t in ipairs(root.top) do
    local name, e = t.name, t.stat
    if not SKIP[name] then
      if e.type == "link" then
        local link = t.fd:readlink()
        if link then out[#out + 1] = { kind = "symlink", target = "/" .. name, link = link } end
      elseif e.type == "dir" then
        out[#out + 1] = { kind = "bind", source = root.real .. "/" .. name, fd = t.fd, target = "/" .. name,
                          flags = { "ro", "nosuid", "nodev", "recursive" } }
      elseif e.type == "file" then
        out[#out + 1] = { kind = "bind", source = root.real .. "/" .. name, fd = t.fd, target = "/" .. name,
                          file = true, flags = { "ro", "nosuid", "nodev" } }
      end
    end
  end
  return out
end

--- Who may be able to change an attested root while containers run from
-- it: root, and the caller (rootless) -- nobody else.  A bind mount shows
-- the host's files as they are now, not as they were verified, so the
-- verification holds only as long as nobody else can write there.
-- Symlinks are not asked (changed only by their directory's writer);
-- group-writable covers POSIX ACLs too (the mask shows there).
function M.writers_check(euid)
  return function(rel, st)
    local top = rel:match("^[^/]*")
    if SKIP[top] then return nil end -- not mounted
    if st.uid ~= 0 and st.uid ~= euid then
      return ("owned by uid %d: an attested root must be changeable by root alone"):format(st.uid)
    end
    if st.mode & 18 ~= 0 then -- 0022
      return ("writable by its %s (mode %04o): an attested root must be changeable by root alone")
        :format(st.mode & 16 ~= 0 and "group" or "others", st.mode)
    end
  end
end

--- Verify the attestation of the root open_root made, through its fds:
-- what is checked is what is mounted.  Returns true or nil, message.
function M.verify(root, pin, euid)
  return require("nucleus.attest").verify(root.real, pin,
    { base = root.fd:path(), top = root.top, check = M.writers_check(euid) })
end

--- A user name looked up in the prepared root's /etc/passwd (the one
-- that is mounted).
function M.lookup_user(root, name)
  local etc
  for _, t in ipairs(root.top) do
    if t.name == "etc" and t.stat.type == "dir" then etc = t end
  end
  local f = etc and io.open(etc.fd:path() .. "/passwd")
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

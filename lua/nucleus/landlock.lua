--- nucleus.landlock: Landlock access rights by name, ABI masking and the
-- agent mode's default rules.  Pure Lua; the rights are the kernel's UAPI
-- bit values.  "read" never implies "execute".
local M = {}

local FS = {
  execute = 1 << 0, write_file = 1 << 1, read_file = 1 << 2, read_dir = 1 << 3,
  remove_dir = 1 << 4, remove_file = 1 << 5, make_char = 1 << 6, make_dir = 1 << 7,
  make_reg = 1 << 8, make_sock = 1 << 9, make_fifo = 1 << 10, make_block = 1 << 11,
  make_sym = 1 << 12, refer = 1 << 13, truncate = 1 << 14, ioctl_dev = 1 << 15,
}
M.FS = FS

M.SCOPE = { abstract_unix_socket = 1 << 0, signal = 1 << 1 }

-- Filesystem rights each ABI version handles.
local ABI_FS = {
  [1] = (1 << 13) - 1,
  [2] = (1 << 14) - 1,
  [3] = (1 << 15) - 1,
  [4] = (1 << 15) - 1,
}
ABI_FS[5] = (1 << 16) - 1
ABI_FS[6] = ABI_FS[5]

function M.fs_rights(abi)
  if abi <= 0 then return 0 end
  return ABI_FS[math.min(abi, 6)] -- ABI 7 added no filesystem right
end

function M.scopes(abi)
  if abi < 6 then return 0 end
  return M.SCOPE.abstract_unix_socket | M.SCOPE.signal
end

local READ = FS.read_file | FS.read_dir
local EXEC = FS.execute
local WRITE = FS.write_file | FS.truncate | FS.remove_dir | FS.remove_file | FS.make_dir
  | FS.make_reg | FS.make_sock | FS.make_fifo | FS.make_sym | FS.refer
M.READ, M.EXEC, M.WRITE = READ, EXEC, WRITE

--- Named access sets, as policy files spell them.
M.ACCESS = {
  read = READ, execute = EXEC, write = FS.write_file | FS.truncate,
  create = FS.make_char | FS.make_dir | FS.make_reg | FS.make_sock | FS.make_fifo
    | FS.make_sym | FS.make_block,
  remove = FS.remove_dir | FS.remove_file, readdir = FS.read_dir, truncate = FS.truncate,
  refer = FS.refer, ioctl_dev = FS.ioctl_dev,
}

--- Agent mode rules: system trees read+execute, /dev usable, /proc read
-- only, /dev/shm read+write but never execute.  `extra` lists
-- {path=, access=} for /tmp, the home directory, volumes and /context
-- (executable unless the mode promises W^X);
-- `skip` is a set of paths that get no rule (a host tree the container
-- lacks, or a link into /usr, which /usr's rule covers).
function M.agent_rules(extra, skip)
  local rules = {
    { path = "/", access = FS.read_dir },
    { path = "/usr", access = READ | EXEC, optional = true },
    { path = "/bin", access = READ | EXEC, optional = true },
    { path = "/sbin", access = READ | EXEC, optional = true },
    { path = "/lib", access = READ | EXEC, optional = true },
    { path = "/lib32", access = READ | EXEC, optional = true },
    { path = "/lib64", access = READ | EXEC, optional = true },
    { path = "/libx32", access = READ | EXEC, optional = true },
    { path = "/nix", access = READ | EXEC, optional = true },
    { path = "/etc", access = READ },
    { path = "/proc", access = READ },
    { path = "/dev", access = READ | FS.write_file | FS.ioctl_dev },
    { path = "/dev/shm", access = READ | WRITE },
    { path = "/dev/mqueue", access = READ | WRITE, optional = true },
  }
  for _, r in ipairs(extra or {}) do rules[#rules + 1] = r end
  if skip then
    local kept = {}
    for _, r in ipairs(rules) do
      if not skip[r.path] then kept[#kept + 1] = r end
    end
    rules = kept
  end
  return rules
end

--- Mask a rule set to what the running kernel handles.
function M.for_abi(rules, abi)
  local handled = M.fs_rights(abi)
  local out = {}
  for i, r in ipairs(rules) do
    out[i] = { path = r.path, access = r.access & handled, optional = r.optional or nil }
  end
  return { handled_fs = handled, scoped = M.scopes(abi), rules = out }
end

return M

#!/usr/bin/env lua5.4
-- Unit tests of the Lua layer, without privilege and without the C core:
-- nucleus.core is replaced by a fake describing a made-up host, so the
-- agent plan builder is tested for what it decides, not for this machine.
local src = debug.getinfo(1, "S").source:sub(2)
local root = src:match("^(.*)/tests/unit/[^/]+$") or "."
package.path = root .. "/tests/lib/?.lua;" .. root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;"
  .. root .. "/build/lua/?.lua;" .. package.path
local tap = require "tap"

-- a fake host: merged /usr (/bin, /lib, /lib64 are symlinks), no /nix
local fs = {
  ["/usr"] = { type = "dir" }, ["/bin"] = { type = "link", link = "usr/bin" },
  ["/sbin"] = { type = "link", link = "usr/sbin" }, ["/lib"] = { type = "link", link = "usr/lib" },
  ["/lib64"] = { type = "link", link = "usr/lib64" }, ["/etc/ld.so.cache"] = { type = "file" },
  ["/etc/localtime"] = { type = "link", link = "/usr/share/zoneinfo/UTC" },
  ["/dev/null"] = { type = "char" }, ["/dev/zero"] = { type = "char" },
  ["/srv/ctx"] = { type = "dir" }, ["/srv/file"] = { type = "file" },
}
local users = { alice = { name = "alice", uid = 1001, gid = 1001 }, [1001] = "alice" }
local groups = { staff = { name = "staff", gid = 50 }, [50] = "staff" }
package.loaded["nucleus.core"] = {
  version = "0.0.0-test",
  signals = { INT = 2, TERM = 15, HUP = 1, QUIT = 3, USR1 = 10, USR2 = 12, WINCH = 28, CONT = 18, TSTP = 20 },
  ids = function() return { uid = 0, gid = 0, euid = 0, egid = 0 } end,
  lstat = function(p) local e = fs[p]; if e then return e end; return nil, p .. ": No such file or directory", 2 end,
  readlink = function(p) return fs[p] and fs[p].link end,
  realpath = function(p) if fs[p] then return p end; return nil, p .. ": No such file or directory", 2 end,
  getpw = function(k) if type(k) == "number" then k = users[k] end; return users[k] end,
  getgr = function(k) if type(k) == "number" then k = groups[k] end; return groups[k] end,
  landlock_abi = function() return 6 end,
}
package.loaded["nucleus.policies"] = { ["default.seccomp.json"] = { defaultAction = "SCMP_ACT_ERRNO" } }

local validate = require "nucleus.validate"
local options = require "nucleus.options"
local landlock = require "nucleus.landlock"
local agent = require "nucleus.mode.agent"

-- validate
tap.ok(validate.hostname("a-b.c1"), "hostname: labels with inner dashes")
for _, bad in ipairs { "", "-a", "a-", "a..b", "a_b", ("a"):rep(65), "a b" } do
  tap.ok(not validate.hostname(bad), ("hostname: %q refused"):format(bad))
end
tap.ok(validate.name("web_1.a-b"), "name: letters, digits, _ . -")
tap.ok(not validate.name("-x") and not validate.name("a/b") and not validate.name(""), "name: bad names refused")
local k, v = validate.env("A=b=c")
tap.ok(k == "A" and v == "b=c", "env: split at the first =")
tap.is(select(2, validate.env("=x")):match("non%-empty KEY") ~= nil, true, "env: empty key")
tap.is(validate.env("UNSET", function() return nil end), false, "env: KEY alone and unset is skipped")
tap.is(select(2, validate.env("K", function() return "v" end)), "v", "env: KEY alone copies the caller's value")
tap.is(validate.container_path("/a/./b//c", "x"), "/a/b/c", "container path normalised")
tap.ok(not validate.container_path("/a/../b", "x"), "container path with .. refused")
tap.ok(not validate.container_path("a", "x"), "relative container path refused")
tap.is(validate.limit("unlimited"), math.maxinteger, "limit: unlimited")
tap.is(validate.limit("12"), 12, "limit: integer")
tap.ok(not validate.limit("1.5") and not validate.limit("x"), "limit: junk refused")

-- options.normalize
local o, err = options.normalize { argv = { "x" }, env = { B = "2", A = "1" }, rootless = true }
tap.ok(o and o.env[1] == "A=1" and o.env[2] == "B=2", "normalize: env map sorted into a list")
tap.is(o.context_mode, "copy", "normalize: defaults filled")
tap.is(#o.volume, 0, "normalize: lists default to empty")
o, err = options.normalize { argv = { "x" }, rootles = true }
tap.like(err, 'unknown option "rootles"', "normalize: unknown option")
o, err = options.normalize { argv = { "x" }, rootless = "yes" }
tap.like(err, "rootless: expected a boolean", "normalize: flag type")
o, err = options.normalize { argv = { "x" }, network = "bridge0" }
tap.like(err, "network: \"bridge0\" is not one of none, host", "normalize: choices")
o, err = options.normalize { argv = {} }
tap.like(err, "argv: expected a non%-empty list", "normalize: empty argv")

-- landlock
tap.is(landlock.fs_rights(0), 0, "landlock: ABI 0 handles nothing")
tap.is(landlock.fs_rights(1), (1 << 13) - 1, "landlock: ABI 1 rights")
tap.is(landlock.fs_rights(3) & landlock.FS.truncate, landlock.FS.truncate, "landlock: ABI 3 has truncate")
tap.is(landlock.fs_rights(4) & landlock.FS.ioctl_dev, 0, "landlock: ABI 4 lacks ioctl_dev")
tap.is(landlock.scopes(5), 0, "landlock: scoping needs ABI 6")
tap.is(landlock.READ & landlock.EXEC, 0, "landlock: read never implies execute")
local masked = landlock.for_abi({ { path = "/t", access = landlock.WRITE | landlock.FS.ioctl_dev } }, 2)
tap.is(masked.rules[1].access & (landlock.FS.truncate | landlock.FS.ioctl_dev), 0,
  "landlock: rules masked to the running ABI")

-- agent plans
local function build(opts, host)
  local nopts = assert(options.normalize(opts))
  local b, err = agent.build(nopts, host or { id = ("ab"):rep(16) })
  if not b then return nil, err end
  return b.plan, b.warnings
end
local plan = assert(build { argv = { "sh" } })
local function find(p, target)
  for _, m in ipairs(p.mounts) do if m.target == target then return m end end
end
tap.is(plan.hostname, "abababababab", "hostname defaults to the id's first 12 digits")
tap.is(find(plan, "/usr").kind, "bind", "/usr bound")
tap.is(table.concat(find(plan, "/usr").flags, ","), "ro,nosuid,nodev,recursive", "/usr read-only, recursive")
tap.is(find(plan, "/bin").kind, "symlink", "symlinked /bin copied as a symlink")
tap.is(find(plan, "/bin").link, "usr/bin", "... with the host's target")
tap.is(find(plan, "/nix"), nil, "absent /nix skipped")
tap.is(find(plan, "/tmp").mode, 1023, "/tmp is 01777")
tap.is(find(plan, "/dev/null").kind, "device", "/dev/null made anew (root, no user namespace)")
tap.is(find(plan, "/dev/null").source, "/dev/null", "... from the host's node")
tap.is(find(plan, "/dev/tty"), nil, "absent host nodes skipped")
tap.ok(plan.loopback, "network none: loopback up")
tap.is(table.concat(plan.namespaces, ","), "mount,pid,uts,ipc,net,cgroup", "namespaces")
tap.is(plan.uid_map, nil, "root: no user namespace by default")
tap.ok(plan.init, "mini-init on")
tap.is(plan.cwd, "/", "workdir defaults to /")
tap.is(plan.path, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PATH search list")
tap.is(plan.caps.bounding | plan.caps.permitted | plan.caps.effective, 0, "every capability dropped")
tap.is(plan.landlock.scoped, 3, "Landlock scoping on ABI 6")
local names = {}
for _, r in ipairs(plan.landlock.rules) do names[r.path] = r.access end
tap.is(names["/tmp"] & landlock.FS.execute, landlock.FS.execute, "/tmp: execute (agent mode runs what it builds)")
tap.is(plan.root_noexec, nil, "the root tmpfs is executable by default")
tap.is(plan.memfd_noexec, nil, "... and memfds too")
do
  local wx = assert(build { argv = { "sh" }, noexec_workspace = true, volume = { "/srv/ctx:/data" } })
  local n = {}
  for _, r in ipairs(wx.landlock.rules) do n[r.path] = r.access end
  tap.is(n["/tmp"] & landlock.FS.execute, 0, "--noexec-workspace: /tmp: no execute")
  tap.is(n["/data"] & landlock.FS.execute, 0, "--noexec-workspace: rw volume: no execute")
  tap.is(table.concat(find(wx, "/data").flags, ","), "nosuid,nodev,noexec,recursive", "--noexec-workspace: rw volume mounted noexec")
  tap.is(wx.root_noexec, true, "--noexec-workspace: the root tmpfs is noexec")
  tap.is(wx.memfd_noexec, true, "--noexec-workspace: vm.memfd_noexec=2")
  tap.is(n["/usr"] & landlock.FS.execute, landlock.FS.execute, "--noexec-workspace: /usr still runs")
end
tap.is(names["/usr"] & landlock.EXEC, landlock.EXEC, "/usr: execute")
tap.is(names["/proc"] & landlock.FS.write_file, 0, "/proc: read only")

plan = assert(build { argv = { "sh" }, context = "/srv/ctx" })
tap.is(find(plan, "/context").kind, "copy", "context copy")
tap.is(plan.cwd, "/context", "workdir defaults to /context with a context")
plan = assert(build { argv = { "sh" }, context = "/srv/ctx", context_mode = "bind" })
tap.is(find(plan, "/context").kind, "bind", "context bind")
tap.ok(table.concat(find(plan, "/context").flags, ","):find("noexec"), "context bind is noexec")
local _, cerr = build { argv = { "sh" }, context = "/srv/file" }
tap.like(cerr, "not a directory", "context must be a directory")

plan = assert(build { argv = { "id" }, user = "alice", additional_group = { "staff", "1001" } })
tap.is(plan.user.uid, 1001, "user by name")
tap.is(plan.user.gid, 1001, "primary group from passwd")
tap.is(#plan.user.groups, 1, "duplicate of the primary group dropped")
tap.is(plan.user.groups[1], 50, "additional group by name")
tap.like(find(plan, "/etc/passwd").content, "alice:x:1001:1001:alice:/home/alice:/bin/sh", "passwd entry")
tap.is(find(plan, "/home/alice").flags[1], "owned", "home owned by the user")
local _, uerr = build { argv = { "id" }, user = "bob" }
tap.like(uerr, 'unknown user "bob"', "unknown user")
_, uerr = build { argv = { "id" }, group = "staff" }
tap.like(uerr, "need %-%-user", "group without user")

plan = assert(build({ argv = { "sh" } }, { id = ("ab"):rep(16), euid = 1000, egid = 100 }))
tap.is(plan.uid_map, "0 1000 1", "unprivileged: container root is the caller")
tap.is(plan.gid_map, "0 100 1", "unprivileged: gid map")
tap.ok(plan.setgroups_deny, "unprivileged: setgroups denied")
tap.is(plan.user.groups, nil, "unprivileged: no setgroups call")
plan = assert(build { argv = { "sh" }, rootless = true })
tap.is(plan.uid_map, "0 65534 1", "root --rootless: container root is host nobody")
tap.is(find(plan, "/dev/null").kind, "bind", "in a user namespace /dev/null is bound from the host (no mknod there)")

plan = assert(build { argv = { "sh" }, network = "host", allow_host_network = true })
tap.ok(not plan.loopback, "host network: no loopback set-up")
local _, nerr = build { argv = { "sh" }, network = "host" }
tap.like(nerr, "allow%-host%-network", "host network needs the opt-in")

plan = assert(build { argv = { "sh" }, name = "a_b" })
tap.is(plan.hostname, "abababababab", "a name that is no hostname falls back to the id")
_, nerr = build { argv = { "sh" }, hostname = "a_b" }
tap.like(nerr, "invalid hostname", "an explicit bad hostname is an error")

plan = assert(build { argv = { "sh" }, volume = { "/srv/ctx:/data", "/srv/file:/cfg/f:ro" } })
tap.is(table.concat(find(plan, "/data").flags, ","), "nosuid,nodev,recursive", "rw volume is executable (agent default)")
tap.ok(find(plan, "/cfg/f").file, "file volume")
for _, r in ipairs(plan.landlock.rules) do names[r.path] = r.access end
tap.is(names["/data"] & landlock.FS.execute, landlock.FS.execute, "rw volume: Landlock execute (agent default)")
tap.is(names["/cfg/f"] & landlock.FS.execute, landlock.FS.execute, "ro volume: executable")

plan = assert(build({ argv = { "sh" } }, { id = ("ab"):rep(16), landlock_abi = 0 }) == nil and { } or {})
local _, lerr = build({ argv = { "sh" } }, { id = ("ab"):rep(16), landlock_abi = 0 })
tap.like(lerr, "Landlock is not available", "no Landlock: refused")
local p2, warnings = build({ argv = { "sh" }, allow_degraded_security = true }, { id = ("ab"):rep(16), landlock_abi = 0 })
tap.ok(p2 and not p2.landlock and warnings[1]:find("without it"), "no Landlock + degraded: warning")
-- production invariants (production.check is pure)
local production = require "nucleus.mode.production"
local po = assert(options.normalize { argv = { "x" }, service_mode = "production", memory = "64M", rootfs = "/srv/ctx" })
tap.ok(production.check(po, 6), "production: a complete request passes")
local _, perr = production.check(po, 2)
tap.like(perr, "requires Landlock ABI 3 or newer, the kernel has ABI 2", "production: Landlock ABI 2 refused")
_, perr = production.check(po, 0)
tap.like(perr, "the kernel has no Landlock", "production: no Landlock refused")
for flag, msg in pairs { allow_degraded_security = "%-%-allow%-degraded%-security", allow_chroot_fallback = "%-%-allow%-chroot%-fallback" } do
  local bad = assert(options.normalize { argv = { "x" }, service_mode = "production", memory = "64M", rootfs = "/r", [flag] = true })
  _, perr = production.check(bad, 6)
  tap.like(perr, "forbids " .. msg, "production: " .. flag .. " refused")
end
tap.done()

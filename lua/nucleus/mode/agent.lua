--- nucleus.mode.agent: turn `run` options into a launch-plan table for an
-- ephemeral agent sandbox.  Pure policy: it asks nucleus.core only about
-- the host (stat, realpath, users) and returns a plain table that
-- core.plan_compile validates and freezes.
--
-- The container: a fresh tmpfs root; host /bin /sbin /usr /lib* /nix
-- bound read-only (symlinks copied as symlinks); the host's /etc read-only
-- with its secrets hidden and its identity files replaced; a /dev
-- tmpfs with host device nodes bound in; /proc of the new PID namespace,
-- /proc/sys read-only and docker's masked paths hidden;
-- /tmp (1777) and a home directory; /context copied or bound; all
-- capabilities dropped; no_new_privs; Landlock and the default seccomp
-- profile; a C mini-init as PID 1.
local core = require "nucleus.core"
local landlock = require "nucleus.landlock"
-- policy files are the exception: loaded (with the TOML parser) only when used
local function policy() return require "nucleus.policy" end
-- what only some options need (agent_opts.lua): not loaded for a default start
local function opts() return require "nucleus.mode.agent_opts" end
local validate = require "nucleus.validate"

local M = {}

local DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
local SYSTEM_DIRS = { "/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/nix" }
local DEV_NODES = { "null", "zero", "full", "random", "urandom", "tty" }
--- What of /proc docker masks (issue 16): the host's keys, timers, kernel
-- memory, scheduler and hardware details.
local PROC_MASKED = { "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                      "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats" }
--- Secrets that a context copy leaves behind (a bind shows the tree as is).
M.CONTEXT_EXCLUDE = {
  names = { ".env", ".ssh", ".gnupg", ".aws", ".azure", ".docker", ".netrc", ".kube",
            ".git-credentials", ".npmrc", ".pypirc", ".pgpass" },
  prefixes = { ".env." },
  suffixes = { ".pem", ".key", ".p12", ".pfx", ".jks" },
}

local RO = { "ro", "nosuid", "nodev", "recursive" }

--- What of the host's /etc the container does not see (issue 17): what
-- holds password hashes, private keys, credentials or the host's
-- identity, and what a synthesized file replaces (the backups of passwd
-- and group list the host's other users).  A directory is hidden whole.
-- Paths are relative to /etc; each is looked up when the plan is built
-- and hidden only if the host has it.
M.ETC_HIDDEN = {
  -- users and groups: hashes, the other users, their id ranges
  "shadow", "shadow-", "gshadow", "gshadow-", "passwd-", "group-", ".pwd.lock",
  "subuid", "subuid-", "subgid", "subgid-", "security/opasswd",
  -- privilege and the host's identity
  "sudoers", "sudoers.d", "doas.conf", "machine-id", "credstore", "credstore.encrypted",
  -- private keys and credentials of host services
  "ssh/ssh_host_rsa_key", "ssh/ssh_host_dsa_key", "ssh/ssh_host_ecdsa_key", "ssh/ssh_host_ed25519_key",
  "ssl/private", "pki/tls/private", "letsencrypt", "krb5.keytab", "cryptsetup-keys.d",
  "ipsec.secrets", "ipsec.d/private", "openvpn", "wireguard", "ppp/chap-secrets", "ppp/pap-secrets",
  "ppp/srp-secrets", "NetworkManager/system-connections", "wpa_supplicant", "netplan",
  "libvirt/secrets", "ceph", "kubernetes", "rancher", "mysql/debian.cnf", "postfix/sasl_passwd",
  "postfix/sasl_passwd.db", "exim4/passwd.client", "msmtprc", "ssmtp", "davfs2/secrets",
  "gitlab", "gitlab-runner",
  -- etckeeper's history holds every version of the files above
  ".git", ".etckeeper",
}

-- tmpfs bounds (issue 16): without a size a tmpfs may take half the RAM,
-- and without nr_inodes empty files take kernel memory (about 1 KiB each)
-- that its size does not count; one inode per KiB of size keeps that
-- within the size again
M.TMPFS_DEFAULT = 1 << 30 -- agents build software in /tmp
M.TMPFS_MIN = 1 << 20
M.SHM_SIZE = 64 << 20     -- /dev/shm, as docker
local function tmpfs_bounds(bytes)
  return ("size=%d,nr_inodes=%d"):format(bytes, bytes // 1024)
end

--- The size of each writable tmpfs: --tmpfs-size, else --memory (its
-- pages are charged to the container's memory anyway), else 1G.
function M.tmpfs_size(o)
  local size = validate.size
  if o.tmpfs_size then
    local b, err = size(o.tmpfs_size, "--tmpfs-size")
    if not b then return nil, err end
    if b < M.TMPFS_MIN then return nil, ("invalid --tmpfs-size %q: at least 1M"):format(o.tmpfs_size) end
    return b
  elseif o.memory then
    local b, err = size(o.memory, "--memory")
    if not b then return nil, err end
    return math.max(b, M.TMPFS_MIN)
  end
  return M.TMPFS_DEFAULT
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
--- The host's passwd, group and login.defs are read through this (the
-- golden tests give a fixed host's).
M.read_host = read_file

--- Parse passwd or group text into a list of field lists (lines of
-- another shape, NIS's "+" among them, left out): one anchored match a
-- line, the cheapest way in Lua.
local PASSWD_LINE = "^([^:]*):[^:]*:(%d+):(%d+):([^:]*):([^:]*):([^:]*)$"
local GROUP_LINE = "^([^:]*):[^:]*:(%d+):([^:]*)$"
local function records(text, pattern)
  local t = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local f = { line:match(pattern) }
    if f[1] then t[#t + 1] = f end
  end
  return t
end

--- The container's /etc/passwd and /etc/group.  host: from the host's
-- files, its system users and groups (up to SYS_UID_MAX and SYS_GID_MAX
-- of login.defs, else below UID_MIN and GID_MIN, else 999; and nobody),
-- with their shells, no other human user, no hash; then the workload's
-- user, its home the container's, and its groups, it a member of each.
-- Else root and the workload's user alone.
function M.users(who, host)
  local home_line = ("%s:x:%d:%d:%s:%s:%s\n")
  if not host then
    local passwd = "root:x:0:0:root:/root:/bin/sh\n"
    local group = "root:x:0:\n"
    if who.uid ~= 0 then passwd = passwd .. home_line:format(who.name, who.uid, who.gid, who.name, who.home, "/bin/sh") end
    if who.gid ~= 0 then group = group .. ("%s:x:%d:\n"):format(who.group or who.name, who.gid) end
    return passwd, group
  end
  local defs = "\n" .. (M.read_host("/etc/login.defs") or "")
  local function setting(key)
    -- a plain find: a pattern over the whole file costs 100 us a key
    local at = defs:find("\n" .. key, 1, true)
    return at and tonumber(defs:match("^[ \t]+(%d+)", at + #key + 1))
  end
  local function limit(sys, min)
    local v = setting(sys)
    if v then return v end
    v = setting(min)
    return v and v - 1 or 999
  end
  local uid_max, gid_max = limit("SYS_UID_MAX", "UID_MIN"), limit("SYS_GID_MAX", "GID_MIN")
  local out, names, shell, at = {}, {}, nil, nil
  for _, f in ipairs(records(M.read_host("/etc/passwd"), PASSWD_LINE)) do
    local uid = math.tointeger(tonumber(f[2]))
    if (uid <= uid_max or uid == 65534) and uid ~= who.uid and f[1] ~= who.name
        and not names[f[1]] then
      names[f[1]] = true
      out[#out + 1] = ("%s:x:%s:%s:%s:%s:%s\n"):format(f[1], f[2], f[3], f[4], f[5], f[6])
    elseif (uid == who.uid or f[1] == who.name) and not at then
      shell = f[6] -- the user's own, in its place (root's first)
      at = #out + 1
      out[at] = ""
    end
  end
  if not names.root and who.uid ~= 0 then
    table.insert(out, 1, "root:x:0:0:root:/root:/bin/sh\n")
    at = at and at + 1
  end
  out[at or #out + 1] = home_line:format(who.name, who.uid, who.gid, who.uid == 0 and "root" or who.name, who.home,
    shell ~= "" and shell or "/bin/sh")
  names[who.name] = true
  local passwd = table.concat(out)

  local mine = { [who.gid] = true }
  for _, g in ipairs(who.groups or {}) do mine[g] = true end
  out = {}
  local seen = {}
  for _, f in ipairs(records(M.read_host("/etc/group"), GROUP_LINE)) do
    local gid = math.tointeger(tonumber(f[2]))
    if not seen[gid] and (gid <= gid_max or gid == 65534 or mine[gid]) then
      seen[gid] = true
      local members = {}
      for name in f[3]:gmatch("[^,]+") do
        if names[name] and name ~= who.name then members[#members + 1] = name end
      end
      if mine[gid] and gid ~= who.gid then members[#members + 1] = who.name end
      out[#out + 1] = ("%s:x:%d:%s\n"):format(gid == who.gid and who.group or f[1], gid, table.concat(members, ","))
    end
  end
  for _, gid in ipairs({ who.gid, table.unpack(who.groups or {}) }) do
    if not seen[gid] then
      seen[gid] = true
      local name = gid == who.gid and (who.group or (gid == who.uid and who.name)) or ("g" .. gid)
      out[#out + 1] = ("%s:x:%d:%s\n"):format(name, gid, gid == who.gid and "" or who.name)
    end
  end
  return passwd, table.concat(out)
end

local function identity(o, userns, lookup)
  local spec, gspec = o.user, o.group
  if spec and spec:find(":", 1, true) then
    if gspec then return nil, "give the group either in --user USER:GROUP or in --group, not both" end
    spec, gspec = spec:match("^([^:]*):(.*)$")
  end
  if spec == "" then return nil, "invalid user \"\": empty name" end
  if gspec == "" then return nil, "invalid group \"\": empty name" end
  if not spec and (gspec or #o.additional_group > 0) then
    return nil, "--group and --additional-group need --user"
  end
  local pw = { name = "root", uid = 0, gid = 0 }
  if spec then
    local err
    pw, err = opts().user(spec, lookup)
    if not pw then return nil, err end
  end
  local gid, gname = pw.gid, nil
  if gspec then
    local gr, err = opts().group(gspec)
    if not gr then return nil, err end
    gid, gname = gr.gid, gr.name
  end
  local groups = {}
  local seen = { [gid] = true }
  for _, g in ipairs(o.additional_group) do
    local gr, err = opts().group(g)
    if not gr then return nil, err end
    if not seen[gr.gid] then
      groups[#groups + 1] = gr.gid
      seen[gr.gid] = true
    end
  end
  if userns then
    if pw.uid ~= 0 or gid ~= 0 or #groups > 0 then
      return nil, "rootless: only root (uid 0, gid 0) exists in the user namespace; drop --user/--group/--additional-group"
    end
    groups = nil -- setgroups is denied in the namespace
  end
  local home = pw.uid == 0 and "/root" or ("/home/" .. pw.name)
  return { uid = pw.uid, gid = gid, groups = groups, name = pw.name, group = gname, home = home }
end

--- The seccomp part of the plan: the built-in profile by name, the same
-- profile widened by --seccomp-allow, or a profile file.
function M.seccomp(o)
  if o.seccomp_mode == "trace" then
    if not o.seccomp_log then return nil, "--seccomp-mode trace needs --seccomp-log FILE" end
    if o.seccomp_profile or #o.seccomp_allow > 0 then
      return nil, "--seccomp-mode trace judges every call by the built-in profile: it takes no --seccomp-profile or --seccomp-allow"
    end
    -- the supervisor records each call and answers it as this profile
    -- would (plan.seccomp_trace)
    return "default"
  elseif o.seccomp_log then
    return nil, "--seccomp-log is the record of --seccomp-mode trace"
  end
  if o.seccomp_profile then
    if #o.seccomp_allow > 0 then
      return nil, "--seccomp-allow extends the built-in profile: with --seccomp-profile, allow the calls in that file"
    end
    local data, err = policy().read_pinned(o.seccomp_profile, "seccomp profile", o.seccomp_profile_sha256)
    if not data then return nil, err end
    return policy().seccomp(data, o.seccomp_profile)
  elseif o.seccomp_profile_sha256 then
    return nil, "--seccomp-profile-sha256 given without --seccomp-profile"
  end
  -- compiled at build time; production's refuses ptrace and reading or
  -- writing other processes' memory, which agents need (gdb, strace, ASan)
  local builtin = o.service_mode == "production" and "production" or "default"
  if #o.seccomp_allow == 0 then return builtin end
  return opts().seccomp_allow(o, builtin)
end

--- Build a launch from normalized options: a pure function of o and
-- host, returning one table or nil, message:
--   plan           the plan table (core.plan_compile's input)
--   id, warnings   the container's id; what the caller should print
--   net            the bridge network's configuration (nucleus.net), or nil
--   context_check  { dir =, hash = }: /context compared before the workload
-- host = { euid =, egid =, landlock_abi =, getenv =, id = }; missing
-- fields are looked up.  A production plan's rootfs binds carry fds
-- (nucleus.Fd) that core.plan_compile takes; M.release(plan) closes them
-- where the table is not compiled.
local build
local opened_root -- the production root build() opened, for M.build to close what is unused
function M.build(o, host)
  opened_root = nil
  local b, err = build(o, host)
  -- what the plan does not carry (the root's own fd, its links and the
  -- entries it does not mount), or all of it when there is no plan
  if opened_root then
    if not b then opened_root.close() else opened_root.close_unused(b.plan) end
    opened_root = nil
  end
  return b, err
end

--- Close the fds a plan table still holds (not compiled, or not all).
function M.release(plan)
  for _, m in ipairs(plan and plan.mounts or {}) do
    if m.fd then m.fd:close() end
  end
end

build = function(o, host)
  host = host or {}
  local context_check, lookup_user
  local ids = core.ids()
  local euid = host.euid or ids.euid
  local egid = host.egid or ids.egid
  local getenv = host.getenv or os.getenv
  local warnings = {}

  if o.name then
    local ok, err = validate.name(o.name)
    if not ok then return nil, err end
  end
  local id = host.id
  if not id then
    local rerr
    id, rerr = core.random_hex(16)
    if not id then return nil, ("container id: %s"):format(rerr) end
  end
  local hostname = o.hostname or o.name or id:sub(1, 12)
  local h, herr = validate.hostname(hostname)
  if not h then
    if o.hostname then return nil, herr end
    -- a valid name such as "a_b" is not a valid hostname: fall back to the id
    hostname = id:sub(1, 12)
  end

  local prod = o.service_mode == "production"
  local abi = host.landlock_abi or core.landlock_abi()
  if o.require_kernel_lockdown then
    local ok, lerr = require("nucleus.attest").lockdown(o.require_kernel_lockdown)
    if not ok then return nil, lerr end
  end
  if (o.verify_rootfs_attestation or o.rootfs_attestation_sha256) and not o.rootfs then
    return nil, "rootfs attestation needs --rootfs"
  end
  local rootfs_mounts
  if prod then
    local production = require "nucleus.mode.production"
    local ok, perr = production.check(o, abi)
    if not ok then return nil, perr end
    -- resolved once; checked and mounted through the same fds
    local root, rerr = production.open_root(o.rootfs)
    if not root then return nil, rerr end
    opened_root = root
    rootfs_mounts = production.rootfs_mounts(root)
    if o.verify_rootfs_attestation or o.rootfs_attestation_sha256 then
      -- on the host, before anything is mounted from it, through what
      -- will be mounted
      local aok, aerr = production.verify(root, o.rootfs_attestation_sha256, euid)
      if not aok then return nil, aerr end
    end
    lookup_user = function(name) return production.lookup_user(root, name) end
  elseif o.rootfs then
    return nil, "--rootfs is for --service-mode production"
  end

  local tmpfs_size, terr = M.tmpfs_size(o)
  if not tmpfs_size then return nil, terr end
  -- agent mode runs what the agent builds: its workspace, /tmp, the home
  -- and rw volumes are executable unless --noexec-workspace; production
  -- never executes what it can write
  local wx = prod or o.noexec_workspace or false
  local RW = landlock.READ | landlock.WRITE | (wx and 0 or landlock.EXEC)

  local userns = euid ~= 0 or o.rootless
  local who, ierr = identity(o, userns, lookup_user)
  if not who then return nil, ierr end
  if prod and not userns and who.uid == 0 then
    -- a service is no host root, capabilities or not (it would own every
    -- root-owned file a volume shows it): the "restricted" policy of
    -- Kubernetes' pod security standards (runAsNonRoot).  Root of a user
    -- namespace is no host root and passes.
    return nil, "production mode runs no workload as host root: give --user (a user other than root)"
  end

  local plan = {
    argv = o.argv,
    hostname = hostname,
    namespaces = { "mount", "pid", "uts", "ipc" },
    init = true,
    degraded = o.allow_degraded_security,
    chroot_fallback = o.allow_chroot_fallback,
    root_options = "mode=0755," .. tmpfs_bounds(tmpfs_size),
    -- W^X (production, --noexec-workspace): what the workload can write
    -- is never executable, by path (noexec mounts, Landlock) or as a memfd
    root_noexec = wx or nil,
    memfd_noexec = wx or nil,
    mounts = {},
    user = { uid = who.uid, gid = who.gid, groups = who.groups },
    caps = { bounding = 0, permitted = 0, effective = 0, inheritable = 0, ambient = 0 },
  }
  local ns = plan.namespaces
  if o.network == "none" then
    ns[#ns + 1] = "net"
    plan.loopback = true
  elseif o.network == "host" then
    if not o.allow_host_network then
      return nil, "--network host shares the host's network stack: add --allow-host-network"
    end
  end
  local net
  if o.network == "bridge" or require("nucleus.options").bridge_option(o) then
    local nerr
    net, nerr = require("nucleus.net").config(o, { prod = prod, euid = euid })
    if net == false then return nil, nerr end
    if net then
      ns[#ns + 1] = "net"
      plan.loopback = true
      plan.bridged = true
      plan.pause_after_root = true -- wired while paused, before the workload
      if net.warning then warnings[#warnings + 1] = net.warning end
    end
  end
  if not o.disable_cgroup_namespace then ns[#ns + 1] = "cgroup" end
  if o.time_namespace then ns[#ns + 1] = "time" end
  if userns then
    ns[#ns + 1] = "user"
    if euid ~= 0 then
      plan.uid_map = ("0 %d 1"):format(euid)
      plan.gid_map = ("0 %d 1"):format(egid)
      plan.setgroups_deny = true
    else
      -- root asking for --rootless gets a real privilege drop: container
      -- root is the host's unprivileged "nobody", not host root
      plan.uid_map = "0 65534 1"
      plan.gid_map = "0 65534 1"
      plan.setgroups_deny = true
    end
  end

  -- environment: clean, then the user's -e in order (later wins)
  local env, index = {}, {}
  local function setenv(k, v)
    if index[k] then env[index[k]] = k .. "=" .. v
    else env[#env + 1] = k .. "=" .. v; index[k] = #env end
  end
  setenv("PATH", DEFAULT_PATH)
  setenv("HOME", who.home)
  setenv("HOSTNAME", hostname)
  for _, e in ipairs(o.env) do
    local k, v = validate.env(e, getenv)
    if k == nil then return nil, v end
    if k then setenv(k, v) end
  end
  plan.env = env
  plan.path = env[index.PATH]:sub(6)

  if o.workdir then
    local w, err = validate.container_path(o.workdir, "workdir")
    if not w then return nil, err end
    plan.cwd = w
  else
    plan.cwd = o.context and "/context" or "/"
  end

  local rlimits = {}
  for _, u in ipairs(o.ulimit) do
    local r, err = opts().ulimit(u)
    if not r then return nil, err end
    rlimits[#rlimits + 1] = r
  end
  if o.memlock then
    local b, merr = validate.size(o.memlock, "--memlock")
    if not b then return nil, merr end
    rlimits[#rlimits + 1] = { resource = "memlock", soft = b, hard = b }
  end
  plan.rlimits = rlimits

  local m = plan.mounts
  local function add(t) m[#m + 1] = t end

  local own_etc = false
  local no_rule = {} -- host trees that need no Landlock rule of their own
  if prod then
    -- the prepared root instead of the host's trees; its /etc, if any,
    -- is the service's and is not replaced
    for _, mt in ipairs(rootfs_mounts) do
      add(mt)
      if mt.target == "/etc" then own_etc = true end
    end
  else
    local into_usr, usr_bound = {}, false
    for _, d in ipairs(SYSTEM_DIRS) do
      local st = core.lstat(d)
      if st and st.type == "link" then
        local link = assert(core.readlink(d))
        add { kind = "symlink", target = d, link = link }
        -- /bin -> usr/bin: what it leads to is under /usr's rule
        into_usr[d] = link:match("^/?usr/.") and not ("/" .. link .. "/"):find("/../", 1, true)
      elseif st and st.type == "dir" then
        add { kind = "bind", source = d, target = d, flags = RO }
        usr_bound = usr_bound or d == "/usr"
      else
        no_rule[d] = true -- not in the container at all
      end
    end
    for d, yes in pairs(into_usr) do
      if yes and usr_bound then no_rule[d] = true end
    end
  end

  -- /etc: the host's with its secrets hidden and the identity files
  -- synthesized (agent mode), or the files alone (a production root
  -- without /etc of its own)
  if not own_etc then
    local est = not prod and core.lstat("/etc")
    local layer = est and est.type == "dir"
    local lflags = layer and { "layer" } or nil
    if layer then
      -- One read-only overlay: a layer on the staging tmpfs, holding the
      -- synthesized files and a whiteout per hidden entry, over the
      -- host's /etc.  Not a bind of /etc with a mount per hidden entry
      -- and per file: that is some twenty mounts, and a file the host
      -- lacks (or has as a symlink, as Ubuntu's resolv.conf) has nothing
      -- in a read-only bind to mount over.  What the overlay does not
      -- show: mounts under the host's /etc (a layer is one file system).
      add { kind = "dir", target = "/etc", mode = est.mode, flags = lflags }
      -- one listing of /etc, not a stat per hidden name: most hosts have
      -- few of them
      local present = {}
      for _, name in ipairs(core.listdir("/etc") or {}) do present[name] = true end
      local made = {}
      for _, rel in ipairs(M.ETC_HIDDEN) do
        -- a directory of the layer is what the merged one shows (its
        -- mode and owner): one is made only where everyone may list the
        -- host's anyway, else that directory is hidden whole
        local path, hide, dirs = "/etc", false, {}
        for name, last in rel:gmatch("([^/]+)()") do
          path = path .. "/" .. name
          local top = path == "/etc/" .. name
          if (top and not present[name]) or made[path] == "hidden" then break end
          if top and last > #rel then
            hide = true
            break
          end
          local pst = core.lstat(path)
          if not pst then break end
          if last > #rel or pst.type ~= "dir" or pst.mode & 5 ~= 5 then
            hide = pst.type ~= "link" or last > #rel
            break
          end
          dirs[#dirs + 1] = { path, pst.mode }
        end
        if hide then
          for _, d in ipairs(dirs) do
            if not made[d[1]] then
              made[d[1]] = true
              add { kind = "dir", target = d[1], mode = d[2], flags = lflags }
            end
          end
          add { kind = "hide", target = path, flags = lflags }
          made[path] = "hidden"
        end
      end
    else
      add { kind = "dir", target = "/etc", mode = 493 }
    end
    local passwd, group = M.users(who, layer)
    add { kind = "file", target = "/etc/passwd", content = passwd, mode = 420, flags = lflags }
    add { kind = "file", target = "/etc/group", content = group, mode = 420, flags = lflags }
    add { kind = "file", target = "/etc/hostname", content = hostname .. "\n", mode = 420, flags = lflags }
    add { kind = "file", target = "/etc/hosts", mode = 420, flags = lflags, content = net and net.ip
      and require("nucleus.net").hosts(net, hostname)
      or ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n"):format(hostname) }
    if net and net.backend == "kernel" then
      net.hosts_mount = m[#m] -- its address is leased later, before the start
      net.hostname = hostname
    end
    local resolv
    if net then
      resolv = require("nucleus.net").resolv_conf(net)
    elseif o.network == "host" then
      resolv = read_file("/etc/resolv.conf")
    elseif layer then
      -- not the host's name servers: there is no network to reach them
      resolv = "# --network none: no name servers\n"
    end
    if resolv then
      add { kind = "file", target = "/etc/resolv.conf", content = resolv, mode = 420, flags = lflags }
    elseif layer then
      -- no resolver the container can reach: none, rather than the host's
      add { kind = "hide", target = "/etc/resolv.conf", flags = lflags }
    end
    if layer then
      add { kind = "overlay", source = "/etc", target = "/etc", flags = { "ro", "nosuid", "nodev", "noexec" } }
    end
  end

  -- /dev: its own tmpfs (the root tmpfs is nodev), with the host's
  -- character devices made anew, or bound where mknod is impossible
  add { kind = "tmpfs", target = "/dev", options = "mode=0755,size=64k,nr_inodes=1024", flags = { "nosuid", "noexec" } }
  for _, n in ipairs(DEV_NODES) do
    local dst = core.lstat("/dev/" .. n)
    if dst then
      if userns or dst.type ~= "char" then
        -- mknod is impossible in a user namespace (and the host's node may
        -- be something else than a device): the host's nodes, bound
        add { kind = "bind", source = "/dev/" .. n, target = "/dev/" .. n, file = true, flags = { "nosuid", "noexec" } }
      else
        -- made anew, as crun does: a mount (and its teardown) less each
        add { kind = "device", source = "/dev/" .. n, target = "/dev/" .. n }
      end
    end
  end
  add { kind = "devpts", target = "/dev/pts", options = "newinstance,ptmxmode=0666,mode=0620",
        flags = { "nosuid", "noexec" } }
  add { kind = "symlink", target = "/dev/ptmx", link = "pts/ptmx" }
  add { kind = "tmpfs", target = "/dev/shm", options = "mode=1777," .. tmpfs_bounds(math.min(M.SHM_SIZE, tmpfs_size)),
        flags = { "nosuid", "nodev", "noexec" } }
  add { kind = "mqueue", target = "/dev/mqueue", flags = { "nosuid", "nodev", "noexec" } }
  add { kind = "symlink", target = "/dev/fd", link = "/proc/self/fd" }
  add { kind = "symlink", target = "/dev/stdin", link = "/proc/self/fd/0" }
  add { kind = "symlink", target = "/dev/stdout", link = "/proc/self/fd/1" }
  add { kind = "symlink", target = "/dev/stderr", link = "/proc/self/fd/2" }
  add { kind = "symlink", target = "/dev/core", link = "/proc/kcore" }

  if prod then
    -- only the process directories, only the workload's own processes,
    -- read-only: no sysctl, kcore, keys or sysrq to mask
    add { kind = "proc", target = "/proc", options = "hidepid=invisible,subset=pid",
          flags = { "ro", "nosuid", "nodev", "noexec" } }
  else
    add { kind = "proc", target = "/proc", flags = { "nosuid", "nodev", "noexec" } }
    -- sysctls are writable by uid 0 without any capability: keep them read-only
    add { kind = "bind", source = "/proc/sys", target = "/proc/sys", flags = { "ro", "nosuid", "nodev", "noexec", "inner" } }
    if core.lstat("/proc/sysrq-trigger") then
      add { kind = "bind", source = "/proc/sysrq-trigger", target = "/proc/sysrq-trigger", file = true,
            flags = { "ro", "nosuid", "nodev", "noexec", "inner" } }
    end
    -- docker's masked paths, those the host has: a directory under an empty
    -- read-only tmpfs, a file under the container's /dev/null bound
    -- read-only (nodev would make it unreadable); the directories first,
    -- whose parent the /proc mount has just made sure of.  /sys is an empty
    -- directory here: its masked paths have nothing to cover.
    local files = {}
    for _, p in ipairs(PROC_MASKED) do
      local pst = core.lstat(p)
      if pst and pst.type == "dir" then
        add { kind = "tmpfs", target = p, options = "mode=0555", flags = { "ro", "nosuid", "nodev", "noexec" } }
      elseif pst then
        files[#files + 1] = p
      end
    end
    for _, p in ipairs(files) do
      add { kind = "bind", source = "/dev/null", target = p, file = true,
            flags = { "ro", "nosuid", "noexec", "inner" } }
    end
  end
  add { kind = "dir", target = "/sys", mode = 493 }
  if prod then
    -- the root is read-only: the writable places are tmpfs of their own
    add { kind = "tmpfs", target = "/tmp", options = "mode=1777," .. tmpfs_bounds(tmpfs_size),
          flags = { "nosuid", "nodev", "noexec" } }
    add { kind = "tmpfs", target = who.home,
          options = ("mode=0700,uid=%d,gid=%d,%s"):format(who.uid, who.gid, tmpfs_bounds(tmpfs_size)),
          flags = { "nosuid", "nodev", "noexec" } }
    plan.root_readonly = true
    plan.audit_mounts = true
  else
    add { kind = "dir", target = "/tmp", mode = 1023 }
    add { kind = "dir", target = who.home, mode = 448, flags = { "owned" } }
  end

  -- secrets: read by the core on the host before the fork, on a tmpfs of
  -- their own, 0400 and the workload's
  local secrets = {}
  for _, sdef in ipairs(o.secret) do
    local src, dst = sdef:match("^([^:]+):(.+)$")
    if not src then return nil, ("invalid secret %q: expected SRC:DEST"):format(sdef) end
    secrets[#secrets + 1] = { src, dst, sdef }
  end
  for _, cdef in ipairs(o.systemd_credential) do
    local name, dst = cdef:match("^([^:]+):(.+)$")
    if not name or name:find("/", 1, true) or name == "." or name == ".." then
      return nil, ("invalid systemd credential %q: expected NAME:DEST"):format(cdef)
    end
    local dir = getenv("CREDENTIALS_DIRECTORY")
    if not dir or dir == "" then
      return nil, ("systemd credential %q: $CREDENTIALS_DIRECTORY is not set"):format(name)
    end
    secrets[#secrets + 1] = { dir .. "/" .. name, dst, cdef }
  end
  if #secrets > 0 then
    add { kind = "tmpfs", target = "/run/secrets",
          options = ("mode=0500,uid=%d,gid=%d,%s"):format(who.uid, who.gid, tmpfs_bounds(1 << 20)),
          flags = { "nosuid", "nodev", "noexec" } }
    local seen = {}
    for _, sc in ipairs(secrets) do
      local dst, derr = validate.container_path(sc[2], "secret destination")
      if not dst then return nil, derr end
      if not opts().under(dst, "/run/secrets") or dst == "/run/secrets" or dst:find("/", 14, true) then
        return nil, ("secret %q: the destination must be a file directly in /run/secrets"):format(sc[3])
      end
      if seen[dst] then return nil, ("secret %q: %s is given twice"):format(sc[3], dst) end
      seen[dst] = true
      add { kind = "secret", source = sc[1], target = dst }
    end
  end

  local extra = { { path = who.home, access = RW }, { path = "/tmp", access = RW } }
  for _, mt in ipairs(rootfs_mounts or {}) do
    -- the prepared root is read-only code and data, like the host trees
    if mt.kind == "bind" then extra[#extra + 1] = { path = mt.target, access = landlock.READ | landlock.EXEC } end
  end
  if #secrets > 0 then extra[#extra + 1] = { path = "/run/secrets", access = landlock.READ } end

  for _, v in ipairs(o.volume) do
    local vol, err = opts().volume(v)
    if not vol then return nil, err end
    local flags = vol.ro and { "ro", "nosuid", "nodev", "recursive" }
      or wx and { "nosuid", "nodev", "noexec", "recursive" } or { "nosuid", "nodev", "recursive" }
    add { kind = "bind", source = vol.source, target = vol.target, file = vol.file, flags = flags }
    extra[#extra + 1] = { path = vol.target, access = vol.ro and (landlock.READ | landlock.EXEC) or RW }
  end

  -- caches: writable and kept, the workload's user's own (a hostile
  -- workload may fill the file system they are on: nothing bounds them)
  if #o.cache > 0 then
    local hid = not userns and { uid = who.uid, gid = who.gid }
      or euid ~= 0 and { uid = euid, gid = egid } or { uid = 65534, gid = 65534 }
    for _, c in ipairs(o.cache) do
      local cache, err = opts().cache(c, who.home, hid, euid, getenv)
      if not cache then return nil, err end
      add { kind = "bind", source = cache.source, target = cache.target,
            flags = wx and { "nosuid", "nodev", "noexec" } or { "nosuid", "nodev" } }
      extra[#extra + 1] = { path = cache.target, access = RW }
    end
  end

  if o.context then
    local real, err = core.realpath(o.context)
    if not real then return nil, ("context directory %q: %s"):format(o.context, err:gsub("^.-: ", "")) end
    local cst = core.lstat(real)
    if not cst or cst.type ~= "dir" then
      return nil, ("context directory %q: not a directory"):format(o.context)
    end
    if o.verify_context_integrity then
      -- hashed here on the host; compared with /context once it is built
      local attest = require "nucleus.attest"
      local opts = o.context_mode == "copy" and attest.copy_options(M.CONTEXT_EXCLUDE) or nil
      local h, herr = attest.tree_hash(real, opts)
      if not h then return nil, ("context directory %q: %s"):format(o.context, herr) end
      plan.pause_after_root = true
      context_check = { dir = o.context, hash = h }
    end
    if o.context_mode == "copy" then
      -- into the root tmpfs: a tree that cannot fit is refused before
      -- anything starts (the scan's sizes), and one that grows meanwhile
      -- stops at the tmpfs's bound (ENOSPC), not at the host's memory
      add { kind = "copy", source = real, target = "/context", exclude = M.CONTEXT_EXCLUDE,
            max_bytes = tmpfs_size, max_entries = tmpfs_size // 1024 }
      extra[#extra + 1] = { path = "/context", access = RW }
    elseif o.context_mode == "rw" then
      -- the agent edits the caller's working tree in place, and runs
      -- what it builds there (unless W^X); nothing is left out of it
      add { kind = "bind", source = real, target = "/context",
            flags = wx and { "nosuid", "nodev", "noexec", "recursive" } or { "nosuid", "nodev", "recursive" } }
      extra[#extra + 1] = { path = "/context", access = RW }
    else
      add { kind = "bind", source = real, target = "/context", flags = { "ro", "nosuid", "nodev", "noexec", "recursive" } }
      extra[#extra + 1] = { path = "/context", access = landlock.READ }
    end
  end

  -- security policies: files are read and hashed here, on the host
  local err
  plan.seccomp, err = M.seccomp(o)
  if plan.seccomp == nil then return nil, err end
  plan.seccomp_trace = o.seccomp_mode == "trace" or nil
  plan.seccomp_log = o.seccomp_log_denied or nil
  if o.caps_policy then
    local data, derr = policy().read_pinned(o.caps_policy, "capability policy", o.caps_policy_sha256)
    if not data then return nil, derr end
    plan.caps, err = policy().caps(data, o.caps_policy)
    if not plan.caps then return nil, err end
  elseif o.caps_policy_sha256 then
    return nil, "--caps-policy-sha256 given without --caps-policy"
  end
  if o.landlock_policy then
    local data, derr = policy().read_pinned(o.landlock_policy, "Landlock policy", o.landlock_policy_sha256)
    if not data then return nil, derr end
    local lwarn
    plan.landlock, lwarn = policy().landlock(data, o.landlock_policy, abi)
    if not plan.landlock then return nil, lwarn end
    for _, w in ipairs(lwarn) do warnings[#warnings + 1] = w end
  elseif o.landlock_policy_sha256 then
    return nil, "--landlock-policy-sha256 given without --landlock-policy"
  elseif abi > 0 then
    plan.landlock = landlock.for_abi(landlock.agent_rules(extra, no_rule), abi)
  elseif o.allow_degraded_security then
    warnings[#warnings + 1] = "Landlock is not available on this kernel: running without it"
  else
    return nil, "Landlock is not available on this kernel (--allow-degraded-security runs without it)"
  end

  if o.verify_context_integrity and not o.context then
    return nil, "--verify-context-integrity needs --context"
  end
  return { plan = plan, warnings = warnings, id = id, net = net, context_check = context_check }
end

--- The plan for `exec`: run argv inside a running container, with the
-- container's identity, capabilities, rlimits, seccomp and Landlock (built
-- from the options it was started with, policy pins re-checked), joining
-- its namespaces instead of creating any.
-- rec: its state record; x: { argv =, env = {...}, workdir = }.
function M.build_exec(rec, x, host)
  local o, oerr = require("nucleus.options").normalize(rec.options)
  if not o then return nil, ("container %s: its record's options: %s"):format(rec.id:sub(1, 12), oerr) end
  if o.seccomp_mode == "trace" then
    return nil, "exec into a container in seccomp trace mode is not supported"
  end
  local copy = {}
  for k, v in pairs(o) do copy[k] = v end
  copy.argv = x.argv
  local env = {}
  for _, e in ipairs(o.env or {}) do env[#env + 1] = e end
  for _, e in ipairs(x.env or {}) do env[#env + 1] = e end
  copy.env = env
  copy.workdir = x.workdir or rec.workdir
  copy.hostname = rec.hostname
  local b, err = M.build(copy, host)
  if not b then return nil, err end
  local plan, warnings = b.plan, b.warnings
  M.release(plan)
  plan.mounts, plan.hostname, plan.loopback, plan.pause_after_root = nil, nil, nil, nil
  plan.bridged = nil
  plan.uid_map, plan.gid_map, plan.setgroups_deny = nil, nil, nil
  plan.staging, plan.root_options, plan.chroot_fallback = nil, nil, nil
  plan.namespaces = rec.namespaces
  plan.join_pid, plan.join_start = rec.pid, rec.pid_start
  return plan, warnings
end

return M

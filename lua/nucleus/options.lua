--- nucleus.options: the options of `run`, shared by the CLI and by
-- nucleus.run{}.  One table describes each option once; cli.lua builds the
-- argparse parser from it and normalize() validates API callers with it.
local M = {}

-- kind: "string" (one value), "list" (repeatable), "flag" (boolean),
-- "choice" (one of choices).  Names are the Lua keys; the CLI flag is the
-- name with "_" -> "-".  bridge = true: meaningful with --network bridge only.
M.run = {
  { name = "service_mode", kind = "choice", choices = { "agent", "production" }, default = "agent",
    help = "agent: ephemeral sandbox; production: strict, every security failure fatal" },
  { name = "rootfs", kind = "string", meta = "DIR", help = "A prepared root (production), bound read-only" },
  { name = "secret", kind = "list", meta = "SRC:DEST",
    help = "A host file, read before start, at DEST under /run/secrets (0400, the workload's)" },
  { name = "systemd_credential", kind = "list", meta = "NAME:DEST",
    help = "Like --secret, from $CREDENTIALS_DIRECTORY/NAME" },
  { name = "verify_rootfs_attestation", kind = "flag",
    help = "Check the rootfs against its .nucleus-rootfs-sha256 manifest (nucleus rootfs attest)" },
  { name = "rootfs_attestation_sha256", kind = "string", meta = "HEX",
    help = "Required SHA-256 of that manifest (implies the check)" },
  { name = "require_kernel_lockdown", kind = "choice", choices = { "integrity", "confidentiality" },
    help = "Refuse to start unless the kernel's lockdown mode is at least this" },
  { name = "name", kind = "string", meta = "NAME",
    help = "Container name (letters, digits, '.', '_', '-'; default: the id)" },
  { name = "hostname", kind = "string", meta = "HOST", help = "Hostname (default: the name)" },
  { name = "env", short = "e", kind = "list", meta = "KEY=VALUE",
    help = "Set an environment variable (KEY alone copies it from the caller)" },
  { name = "workdir", short = "w", kind = "string", meta = "DIR",
    help = "Working directory inside the container (created if missing)" },
  { name = "user", short = "u", kind = "string", meta = "USER[:GROUP]",
    help = "Run the workload as this user (name or uid)" },
  { name = "group", kind = "string", meta = "GROUP", help = "Primary group (name or gid)" },
  { name = "additional_group", kind = "list", meta = "GROUP", help = "Supplementary group" },
  { name = "context", kind = "string", meta = "DIR", help = "Host directory exposed at /context" },
  { name = "verify_context_integrity", kind = "flag",
    help = "Hash the context before launch and check /context against it before the workload runs" },
  { name = "context_mode", kind = "choice", choices = { "copy", "bind", "rw" }, default = "copy",
    help = "copy: into the container's tmpfs (changes are thrown away); bind: read-only (review); rw: the directory itself, read-write (edit in place)" },
  { name = "volume", short = "v", kind = "list", meta = "SRC:DST[:ro|rw]",
    help = "Bind a host path (rw volumes are executable unless --noexec-workspace)" },
  { name = "cache", kind = "list", meta = "NAME:DST",
    help = "A persistent writable cache of the workload's user at DST (~/ for its home), kept in the cache directory under NAME" },
  { name = "network", kind = "choice", choices = { "none", "host", "bridge" }, default = "none",
    help = "none: own network namespace with lo only; host: the host's; bridge: NAT to the outside" },
  { name = "allow_host_network", kind = "flag", help = "Required with --network host" },
  { name = "nat_backend", bridge = true, kind = "choice", choices = { "auto", "kernel", "userspace" }, default = "auto",
    help = "bridge: kernel (bridge + veth + iptables, root) or userspace (slirp4netns); auto picks by privilege" },
  { name = "publish", bridge = true, short = "p", kind = "list", meta = "[IP:]HOST:CONTAINER[/tcp|udp]",
    help = "Publish a container port on the host (bridge)" },
  { name = "dns", bridge = true, kind = "list", meta = "IP", help = "Resolver for the container's resolv.conf (bridge)" },
  { name = "subnet", bridge = true, kind = "string", meta = "CIDR", help = "Bridge subnet (default 10.42.0.0/16; slirp 10.0.2.0/24)" },
  { name = "bridge", bridge = true, kind = "string", meta = "NAME", help = "Host bridge (kernel backend; default nucleus0)" },
  { name = "allow_host_loopback", bridge = true, kind = "flag",
    help = "userspace backend: let the container reach the host's 127.0.0.1 through the gateway" },
  { name = "egress_allow", bridge = true, kind = "list", meta = "CIDR", help = "Allow outbound traffic to this network (others dropped)" },
  { name = "egress_tcp_port", bridge = true, kind = "list", meta = "PORT", help = "Allow outbound TCP to this port" },
  { name = "egress_udp_port", bridge = true, kind = "list", meta = "PORT", help = "Allow outbound UDP to this port" },
  { name = "rootless", kind = "flag",
    help = "Use a user namespace (automatic when not run as root)" },
  { name = "time_namespace", kind = "flag", help = "Give the container its own time namespace" },
  { name = "disable_cgroup_namespace", kind = "flag", help = "Do not unshare the cgroup namespace" },
  { name = "memory", short = "m", kind = "string", meta = "SIZE", help = "Memory limit (memory.max), e.g. 512M, 1.5G" },
  { name = "memory_swap", kind = "string", meta = "SIZE", help = "Memory plus swap limit (default: no swap)" },
  { name = "swap", kind = "flag", help = "Leave swap unrestricted" },
  { name = "cpus", kind = "string", meta = "N", help = "CPU limit (cpu.max), e.g. 0.5" },
  { name = "cpu_weight", kind = "string", meta = "W", help = "CPU weight, 1 to 10000 (cpu.weight)" },
  { name = "pids", kind = "string", meta = "N", help = "Process limit (pids.max; 0 = unlimited; default 4096)" },
  { name = "io_limit", kind = "list", meta = "'MAJ:MIN riops=N wiops=N rbps=N wbps=N'", help = "I/O limit (io.max)" },
  { name = "memlock", kind = "string", meta = "SIZE", help = "Locked memory limit (RLIMIT_MEMLOCK)" },
  { name = "tmpfs_size", kind = "string", meta = "SIZE",
    help = "Size of each writable tmpfs: the root (with /tmp, the home and /context), production's /tmp and home; /dev/shm gets 64M at most (default: --memory, else 1G)" },
  { name = "cgroup_parent", kind = "string", meta = "PATH", help = "Parent cgroup (default /nucleus)" },
  { name = "ulimit", kind = "list", meta = "NAME=SOFT[:HARD]",
    help = "Resource limit (nofile, nproc, core, memlock, stack, ...)" },
  { name = "seccomp_profile", kind = "string", meta = "FILE",
    help = "Seccomp profile (OCI runtime-spec JSON) instead of the built-in one" },
  { name = "seccomp_profile_sha256", kind = "string", meta = "HEX", help = "Required SHA-256 of the profile" },
  { name = "seccomp_allow", kind = "list", meta = "SYSCALL", help = "Also allow this syscall (built-in profile)" },
  { name = "seccomp_log_denied", kind = "flag", help = "Have the kernel log denied syscalls (audit)" },
  { name = "seccomp_mode", kind = "choice", choices = { "enforce", "trace" }, default = "enforce",
    help = "trace: record every syscall, each permitted or refused as the built-in profile would (needs --seccomp-log)" },
  { name = "seccomp_log", kind = "string", meta = "FILE", help = "Where trace mode writes its NDJSON record" },
  { name = "caps_policy", kind = "string", meta = "FILE", help = "Capability policy (TOML)" },
  { name = "caps_policy_sha256", kind = "string", meta = "HEX", help = "Required SHA-256 of the capability policy" },
  { name = "landlock_policy", kind = "string", meta = "FILE",
    help = "Landlock policy (TOML) instead of the built-in rules" },
  { name = "landlock_policy_sha256", kind = "string", meta = "HEX", help = "Required SHA-256 of the Landlock policy" },
  { name = "allow_chroot_fallback", kind = "flag",
    help = "Use chroot when pivot_root is impossible (weaker)" },
  { name = "noexec_workspace", kind = "flag",
    help = "W^X: nothing the workload can write (/context, /tmp, the home, rw volumes, memfds) can be executed (production always)" },
  { name = "allow_degraded_security", kind = "flag",
    help = "Turn seccomp and Landlock failures into warnings" },
  { name = "interactive", short = "i", kind = "flag", help = "Keep stdin open (default: /dev/null)" },
  { name = "tty", short = "t", kind = "flag", help = "Give the workload a terminal (with -i: interactive)" },
  { name = "rm", kind = "flag", help = "Remove the container's record when it exits" },
  { name = "dry_run", kind = "flag", help = "Print the compiled launch plan and exit" },
}

--- The flag of the first option for --network bridge only that o sets
-- (anything but its default), or nil.
function M.bridge_option(o)
  for _, spec in ipairs(M.run) do
    local v = spec.bridge and o[spec.name]
    if v and v ~= spec.default and not (type(v) == "table" and #v == 0) then
      return "--" .. (spec.name:gsub("_", "-"))
    end
  end
  return nil
end

M.by_name = {}
for _, o in ipairs(M.run) do M.by_name[o.name] = o end

-- A copy of list t made with raw access (no __index, __len or __pairs of
-- the caller's is called), or nil when t is not a list of strings.
local function copy_strings(t)
  if type(t) ~= "table" then return nil end
  local n, count = rawlen(t), 0
  for _ in next, t do count = count + 1 end
  if count ~= n then return nil end
  local out = {}
  for i = 1, n do
    local s = rawget(t, i)
    if type(s) ~= "string" then return nil, i end
    out[i] = s
  end
  return out
end

--- Validate and complete an options table as given to nucleus.run{}.
-- argv is required; env may also be a map {KEY = "value"}.  Returns a new
-- table (lists copied: later changes to the caller's tables change
-- nothing) or nil, message.  Tables are read raw: a metatable's methods
-- are never called.
function M.normalize(opts)
  if type(opts) ~= "table" then return nil, "options: expected a table" end
  local out = {}
  for k, v in next, opts do
    if k == "argv" then
      local l, bad = copy_strings(v)
      if not l or #l == 0 then
        if bad then return nil, ("argv[%d]: expected a string"):format(bad) end
        return nil, "argv: expected a non-empty list of strings"
      end
      out.argv = l
    else
      local o = type(k) == "string" and M.by_name[k]
      if not o then return nil, ("unknown option %q"):format(type(k) == "string" and k or type(k)) end
      if o.kind == "flag" then
        if type(v) ~= "boolean" then return nil, ("%s: expected a boolean"):format(k) end
      elseif o.kind == "list" then
        if type(v) == "string" then v = { v } end
        if k == "env" and type(v) == "table" and rawlen(v) == 0 and next(v) ~= nil then
          local l = {}
          for ek, ev in next, v do
            if type(ek) ~= "string" or (type(ev) ~= "string" and type(ev) ~= "number") then
              return nil, "env: expected KEY = \"value\" pairs"
            end
            l[#l + 1] = ek .. "=" .. ev
          end
          table.sort(l)
          v = l
        end
        local l, bad = copy_strings(v)
        if not l then
          if bad then return nil, ("%s[%d]: expected a string"):format(k, bad) end
          return nil, ("%s: expected a list of strings"):format(k)
        end
        v = l
      elseif o.kind == "choice" then
        local ok = false
        for _, c in ipairs(o.choices) do if v == c then ok = true end end
        if not ok then
          return nil, ("%s: %q is not one of %s"):format(k, type(v) == "string" and v or type(v),
            table.concat(o.choices, ", "))
        end
      elseif type(v) ~= "string" then
        return nil, ("%s: expected a string"):format(k)
      end
      out[k] = v
    end
  end
  if not out.argv then return nil, "argv: missing command" end
  for _, o in ipairs(M.run) do
    if out[o.name] == nil then
      if o.kind == "list" then out[o.name] = {}
      elseif o.kind == "flag" then out[o.name] = false
      else out[o.name] = o.default end
    end
  end
  return out
end

return M

--- nucleus: the public Lua API.
--
--   local nucleus = require "nucleus"
--   local code, err, status = nucleus.run{ argv = {"sh", "-c", "id"}, context = "." }
--
-- run() takes the options of `nucleus run` (see nucleus.options; flags as
-- booleans, repeatable options as lists, env also as a map) and returns the
-- workload's exit code (128+N when killed by signal N), or nil, a one-line
-- message and the exit status the CLI would use (125 setup, 126 not
-- executable, 127 not found).  Loading this module has no side effects.
local core = require "nucleus.core"
local options = require "nucleus.options"
local log = require "nucleus.log"
local state = require "nucleus.state"

local M = { version = core.version }

M.EXIT_SETUP, M.EXIT_NOEXEC, M.EXIT_NOTFOUND = 125, 126, 127

-- Signals the supervisor passes on to the container.
local FORWARD = { "INT", "TERM", "HUP", "QUIT", "USR1", "USR2", "WINCH", "CONT", "TSTP" }

-- The signals to pass on, asked each time: one that our caller ignores
-- (nohup, a shell's background job) is not passed on, and the workload
-- inherits it ignored, as any program would.
local function forward_list()
  local out = {}
  for _, s in ipairs(FORWARD) do
    local n = core.signals[s]
    if not core.ignored(n) then out[#out + 1] = n end
  end
  return out
end

--- The launch-plan table for opts, before compilation.
-- Returns plan, warnings, id or nil, message.
function M.plan(opts)
  local o, err = options.normalize(opts)
  if not o then return nil, err end
  return require("nucleus.mode.agent").build(o)
end

--- Compile opts into an immutable nucleus.Plan.
-- Returns plan, warnings, id or nil, message.
function M.compile(opts)
  local tbl, warnings, id = M.plan(opts)
  if not tbl then return nil, warnings end
  local plan, err = core.plan_compile(tbl)
  if not plan then return nil, err end
  return plan, warnings, id
end

local function exec_failure(msg, code, stage, detail)
  if stage == "exec" then
    local ENOENT, ENOTDIR = 2, 20
    if code == ENOENT or code == ENOTDIR then
      return nil, ("%s: command not found"):format(detail), M.EXIT_NOTFOUND
    end
    return nil, ("%s: cannot execute: %s"):format(detail, core.strerror(code)), M.EXIT_NOEXEC
  end
  return nil, msg, M.EXIT_SETUP
end

--- Spawn a compiled plan and wait for it, forwarding signals.
-- io (optional): { tty =, interactive = }; without interactive stdin is
-- the container's /dev/null.
-- Returns code, signal, proc (whose :trace() holds a trace-mode record).
function M.spawn_and_wait(plan, io)
  local forward = forward_list()
  local proc, warnings_or_msg, code, stage, detail = core.spawn(plan, forward, io)
  if not proc then return exec_failure(warnings_or_msg, code, stage, detail) end
  for _, w in ipairs(warnings_or_msg) do log.warn("%s", w) end
  local status, sig_or_err = proc:wait(forward)
  if not status then return nil, sig_or_err, M.EXIT_SETUP end
  return status, sig_or_err, proc
end

--- The trace-mode record: one JSON object per line and syscall.
function M.write_trace(f, records)
  local json = require "nucleus.json"
  for _, r in ipairs(records) do
    if r.nr == -1 then
      -- the bucket of numbers no kernel table names (trace.c)
      f:write(json.encode { unknown = true, arch = r.arch, count = r.count, first_pid = r.first_pid,
                            first_comm = r.first_comm,
                            note = "calls of syscall numbers the kernel's tables do not name, counted together" }, "\n")
    else
      f:write(json.encode { name = r.name or ("syscall_" .. r.nr), nr = r.nr, arch = r.arch,
                            count = r.count, first_pid = r.first_pid, first_comm = r.first_comm }, "\n")
    end
  end
end

-- The options a record keeps for exec: only what differs from the
-- defaults (normalize() fills those in again).
local function set_options(o)
  local out = {}
  for _, spec in ipairs(options.run) do
    local v = o[spec.name]
    if v ~= nil and v ~= false and v ~= spec.default and not (type(v) == "table" and #v == 0) then
      out[spec.name] = v
    end
  end
  out.argv = o.argv
  return out
end

local function record_for(o, tbl, id)
  local ids = core.ids()
  return {
    id = id, name = o.name, hostname = tbl.hostname, command = o.argv, mode = "agent",
    runtime = "native", status = "created", created = state.now(),
    supervisor_pid = ids.pid, supervisor_start = state.self_start(),
    namespaces = tbl.namespaces, network = o.network, rootless = tbl.uid_map ~= nil,
    user = { uid = tbl.user.uid, gid = tbl.user.gid }, workdir = tbl.cwd, options = set_options(o),
  }
end

--- Run a container to completion.  ctx (optional): state_dir = a state
-- directory other than the default, state = false for no record at all.
function M.run(opts, ctx)
  ctx = ctx or {}
  -- The default network's namespace (lo only) is made on a thread while
  -- the plan is compiled; the container joins it (core.netns_prepare).
  -- Guessed from the raw options, confirmed by the plan below; not with a
  -- user namespace, whose root would have no say over it.
  local ahead <close> = (opts.network == nil or opts.network == "none") and not opts.rootless
    and core.ids().euid == 0 and core.netns_prepare() or nil
  local o, err = options.normalize(opts)
  if not o then return nil, err, M.EXIT_SETUP end
  local tbl, warnings, id, context_check, netcfg = require("nucleus.mode.agent").build(o)
  if not tbl then return nil, warnings, M.EXIT_SETUP end
  local netns = ahead and tbl.loopback and not tbl.bridged and not tbl.uid_map and ahead or nil
  if ahead and not netns then ahead:close() end
  local cgroup = require "nucleus.cgroup"
  local limits, lerr = cgroup.limits(o)
  if not limits then return nil, lerr, M.EXIT_SETUP end

  local trace_out
  if o.seccomp_mode == "trace" then
    trace_out, err = io.open(o.seccomp_log, "w")
    if not trace_out then return nil, ("seccomp log %s"):format(err), M.EXIT_SETUP end
  end

  -- The record is written once the container's process exists (with its
  -- pid, so in one write), while that process sets the container up: the
  -- workload starts only after the record is in place (the gate of
  -- core.spawn's `started` hook).  If this supervisor dies before, what
  -- it made is still found: the cgroup by the sweep of half-made records
  -- (state.open), the network's lease and rules by `network prune`.
  local st, rec, recorded
  if ctx.state ~= false then
    st, err = state.open(ctx.state_dir)
    if not st then
      if trace_out then trace_out:close() end
      return nil, err, M.EXIT_SETUP
    end
    if o.name then
      -- refused here, before anything starts; claimed for good below
      local owner = state.name_owner(st, o.name)
      if owner then
        if trace_out then trace_out:close() end
        return nil, ("the name %q is already in use by container %s"):format(o.name, owner), M.EXIT_SETUP
      end
    end
    rec = {} -- what is known before the record is written (its cgroup, its network)
  end
  -- the record's directory, before the cgroup: what the sweep goes by
  local pending
  if rec then
    pending, err = state.begin(st, id)
    if not pending then
      if trace_out then trace_out:close() end
      return nil, ("state: %s"):format(err), M.EXIT_SETUP
    end
  end
  local prod = o.service_mode == "production"
  local function audit(event, fields)
    if prod and recorded then state.audit(st, id, event, fields) end
  end
  local start_event = { command = o.argv, mode = o.service_mode, rootfs = o.rootfs,
                        memory = o.memory, cpus = o.cpus, pids = o.pids }
  -- Write the record (pid = nil: a start that failed before its process
  -- existed).  Returns true or nil, message.
  local function record(pid)
    local r = record_for(o, tbl, id)
    for k, v in pairs(rec) do r[k] = v end
    rec = r
    if pid then
      rec.status, rec.pid, rec.pid_start, rec.started = "running", pid, core.proc_start(pid), rec.created
    end
    local ok, werr = state.create(st, rec, pending)
    if ok and o.name then
      ok, werr = state.claim_name(st, o.name, id)
      if not ok then state.remove(st, rec) end
    end
    if not ok then return nil, werr:match("name") and werr or ("state: %s"):format(werr) end
    recorded = true
    audit("container_start", start_event)
    return true
  end
  local function fail(msg)
    -- a failed production start keeps its record and audit log, so the
    -- failure can be read afterwards
    if prod and rec then
      rec.status, rec.finished, rec.error = "exited", state.now(), msg
      if recorded then
        state.update(st, rec, { status = "exited", finished = rec.finished, error = msg })
      else
        record()
      end
      audit("container_failed", { error = msg })
    elseif recorded then
      state.remove(st, rec)
    elseif pending then
      state.abandon(pending)
    end
    if trace_out then trace_out:close() end
    return nil, msg, M.EXIT_SETUP
  end

  -- the cgroup: limits need it; without limits it is still where the
  -- container lives (stats, and a kill that reaches everything)
  local cg, cerr, ckind = cgroup.create(o, id, limits)
  if not cg and ckind == "unavailable" and o.pids == nil and #limits.files == 0 then
    cerr = nil -- nothing asked for: no warning either
  end
  if not cg and (ckind ~= "unavailable" or o.service_mode == "production") then
    return fail(o.service_mode == "production" and cerr
      and ("production mode needs its cgroup and every limit: %s"):format(cerr) or cerr)
  end
  if not cg and cerr then
    log.warn("%s: running without resource limits", cerr)
  elseif cg and o.pids == nil then
    -- the default process limit, where the pids controller is there
    local f = io.open(cg.path .. "/pids.max", "w")
    if f then f:write("4096"); f:close() end
  end
  tbl.cgroup = cg and cg.path or nil
  if rec and cg then
    rec.cgroup, rec.cgroup_auto_parent = cg.path, cg.auto_parent
    -- one the sweep would not find by the container's id
    if not cg.auto_parent then state.begun_cgroup(pending, cg.path) end
  end
  local function drop_cgroup()
    if cg then cgroup.remove(cg.path, cg.auto_parent) end
  end

  -- the network's address and host ports, before anything starts
  local net = netcfg and require "nucleus.net"
  if netcfg then
    local ok, nerr = net.prepare(netcfg, id)
    if not ok then
      drop_cgroup()
      return fail(nerr)
    end
    if netcfg.hosts_mount then netcfg.hosts_mount.content = net.hosts(netcfg, netcfg.hostname) end
    if rec then rec.net = net.record(netcfg) end
  end
  local function drop_net()
    if netcfg then net.teardown(netcfg) end
  end

  local plan, perr = core.plan_compile(tbl)
  if not plan then
    drop_net()
    drop_cgroup()
    return fail(perr)
  end
  for _, w in ipairs(warnings) do log.warn("%s", w) end

  local io_opts = { tty = o.tty, interactive = o.interactive, netns = netns }
  local paused_error -- a hook's own message: nc_err would cut it
  local function check_context(pid)
    local attest = require "nucleus.attest"
    local h, herr = attest.tree_hash(("/proc/%d/root/context"):format(pid))
    if not h then
      paused_error = ("context integrity: %s"):format(herr)
      return nil, paused_error
    end
    if h ~= context_check.hash then
      paused_error = ("context %s: integrity mismatch: manifest %s before launch, %s in /context")
        :format(context_check.dir, context_check.hash, h)
      return nil, paused_error
    end
    audit("context_integrity_verified", { sha256 = h })
    return true
  end
  if context_check or netcfg then
    -- the copy (or bind) as the container sees it, then its network,
    -- before anything of the workload runs
    io_opts.paused = function(pid)
      if context_check then
        local ok, cerr = check_context(pid)
        if not ok then return nil, cerr end
      end
      if netcfg then
        local ok, nerr = net.attach(netcfg, { pid = pid, userns = tbl.uid_map ~= nil,
                                              state_dir = st and st.dir or "/tmp" })
        if not ok then
          paused_error = nerr
          return nil, nerr
        end
        audit("network_attached", { backend = netcfg.backend, address = netcfg.ip and net.ntoa(netcfg.ip),
                                    egress = netcfg.egress and (#netcfg.egress.allow + #netcfg.egress.tcp
                                      + #netcfg.egress.udp > 0 and "allow-list" or "deny-all") or "none" })
      end
      return true
    end
  end
  if rec then
    io_opts.started = function(pid)
      local ok, rerr = record(pid)
      if not ok then paused_error = rerr end
      return ok, rerr
    end
  end
  local forward = forward_list()
  local proc, warnings_or_msg, code, stage, detail = core.spawn(plan, forward, io_opts)
  if netns then netns:close() end -- the container's now, or unused
  if not proc then
    drop_net()
    drop_cgroup()
    local _, msg, status = exec_failure(warnings_or_msg, code, stage, detail)
    if paused_error then msg, status = paused_error, M.EXIT_SETUP end
    fail(msg)
    return nil, msg, status
  end
  for _, w in ipairs(warnings_or_msg) do log.warn("%s", w) end
  if prod then
    local d = plan:describe()
    audit("security_applied", {
      namespaces = d.namespaces, user = d.user, capabilities = d.caps,
      seccomp = d.seccomp_builtin or (d.seccomp_instructions > 0 and "profile") or "none",
      seccomp_instructions = d.seccomp_instructions, landlock_rules = #d.landlock_rules,
      no_new_privs = true, root_readonly = d.root_readonly, cgroup = cg and cg.path,
    })
    audit("mount_audit_passed", { mounts = #d.mounts })
  end

  local status, sig_or_err, forwarded = proc:wait(forward)
  if trace_out then
    if status then M.write_trace(trace_out, proc:trace()) end
    trace_out:close()
  end
  local oom = cg and cgroup.oom_kills(cg.path) or 0
  if oom > 0 then
    log.error("the container ran out of memory (--memory %s): %d process%s OOM-killed",
      o.memory or "?", oom, oom > 1 and "es" or "")
  end
  audit("container_stop", { exit_code = status, oom_killed = oom > 0 })
  if rec then
    if o.rm then
      state.remove(st, rec)
    else
      state.set_exited(st, rec, status or 255, oom > 0)
    end
  end
  drop_net()
  drop_cgroup()
  if not status then return nil, sig_or_err, M.EXIT_SETUP end
  return status, sig_or_err, forwarded
end

--- Run argv inside a running container (nucleus exec / attach).
-- x = { argv =, env = {...}, workdir = }.  Returns like run().
function M.exec(ref, x, ctx)
  ctx = ctx or {}
  local st, err = state.open(ctx.state_dir)
  if not st then return nil, err, M.EXIT_SETUP end
  local rec
  rec, err = state.resolve(st, ref)
  if not rec then return nil, err, M.EXIT_SETUP end
  if rec.corrupt then return nil, require("nucleus.manage").corrupt_error(ref, rec), M.EXIT_SETUP end
  if state.status(rec) ~= "running" then
    return nil, ("container %s is not running"):format(ref), M.EXIT_SETUP
  end
  local tbl, warnings = require("nucleus.mode.agent").build_exec(rec, x)
  if not tbl then return nil, warnings, M.EXIT_SETUP end
  -- in the container's cgroup from its first instruction, as the init is
  -- (clone3 CLONE_INTO_CGROUP): under its limits, in its stats, reached
  -- by cgroup.kill
  local cg, cerr = require("nucleus.cgroup").of_container(rec, assert(options.normalize(rec.options)))
  if cg == nil then return nil, cerr, M.EXIT_SETUP end
  tbl.cgroup = cg or nil
  local plan, perr = core.plan_compile(tbl)
  if not plan then return nil, perr, M.EXIT_SETUP end
  local code, sig, status = M.spawn_and_wait(plan, { tty = x.tty, interactive = x.interactive })
  if not code then return nil, sig, status end
  return code, sig
end

return M

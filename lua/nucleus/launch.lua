--- nucleus.launch: one container's life as a handle that does not block.
--
--   local h = assert(nucleus.launch { argv = { "sleep", "60" } })
--   assert(h:start())          -- returns once the workload has been exec'd
--   while not h:poll() do core.poll(h:fds(), 1) end
--   h:teardown()
--
-- launch() builds (options -> plan table -> checks; nothing exists yet).
-- start() makes what the container needs, in this order: its record's
-- directory, its cgroup, its network's lease and rules, then the process,
-- and pushes the undoing of each on the handle's cleanup stack.
-- teardown() runs that stack once, whatever happened before (a start that
-- failed half-way runs it itself), killing the container first if it
-- still runs; a collected or closed handle is torn down too, so keep the
-- handle for as long as the container should live.
--
-- Any number of handles live in one Lua state: nothing here is global.
local core = require "nucleus.core"
local options = require "nucleus.options"
local log = require "nucleus.log"
local state = require "nucleus.state"

local M = {}

M.EXIT_SETUP, M.EXIT_NOEXEC, M.EXIT_NOTFOUND = 125, 126, 127

-- Signals a foreground supervisor passes on to the container.
local FORWARD = { "INT", "TERM", "HUP", "QUIT", "USR1", "USR2", "WINCH", "CONT", "TSTP" }

-- The signals to pass on, asked each time: one that our caller ignores
-- (nohup, a shell's background job) is not passed on, and the workload
-- inherits it ignored, as any program would.
function M.forward_list()
  local out = {}
  for _, s in ipairs(FORWARD) do
    local n = core.signals[s]
    if not core.ignored(n) then out[#out + 1] = n end
  end
  return out
end

--- A failed spawn's message and exit status: 127 for a command that is
-- not there, 126 for one that cannot run, else 125.
function M.exec_failure(msg, code, stage, detail)
  if stage == "exec" then
    local ENOENT, ENOTDIR = 2, 20
    if code == ENOENT or code == ENOTDIR then
      return ("%s: command not found"):format(detail), M.EXIT_NOTFOUND
    end
    return ("%s: cannot execute: %s"):format(detail, core.strerror(code)), M.EXIT_NOEXEC
  end
  return msg, M.EXIT_SETUP
end

--- The trace-mode record: one JSON object per line and syscall, with
-- how often the profile the trace ran under (the built-in default)
-- permitted and refused it: errno, that of the first refusal by errno;
-- killed, the refusals that killed (an architecture it does not list).
function M.write_trace(f, records)
  local json = require "nucleus.json"
  for _, r in ipairs(records) do
    local killed = r.killed and r.killed > 0 and r.killed or nil
    if r.nr == -1 then
      -- the bucket of numbers no kernel table names (trace.c)
      f:write(json.encode { unknown = true, arch = r.arch, count = r.count, permitted = r.permitted,
                            refused = r.refused, errno = r.errno, killed = killed,
                            first_pid = r.first_pid, first_comm = r.first_comm,
                            note = "calls of syscall numbers the kernel's tables do not name, counted together" }, "\n")
    else
      f:write(json.encode { name = r.name or ("syscall_" .. r.nr), nr = r.nr, arch = r.arch,
                            count = r.count, permitted = r.permitted, refused = r.refused,
                            errno = r.errno, killed = killed,
                            first_pid = r.first_pid, first_comm = r.first_comm }, "\n")
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

local Launch = {}
Launch.__index = Launch

--- Build a launch from run options (those of `nucleus run`: flags as
-- booleans, repeatable options as lists).  ctx (optional): state_dir = a
-- state directory other than the default, state = false for no record.
-- Returns a handle, or nil, message, exit status.
function M.new(opts, ctx)
  ctx = ctx or {}
  -- The default network's namespace (lo only) is made on a thread while
  -- the plan is built; the container joins it (core.netns_prepare).
  -- Guessed from the raw options, confirmed by the plan below; not with a
  -- user namespace, whose root would have no say over it.
  local ahead = type(opts) == "table" and (opts.network == nil or opts.network == "none")
    and not opts.rootless and core.ids().euid == 0 and core.netns_prepare() or nil
  local function refuse(msg)
    if ahead then ahead:close() end
    return nil, log.one_line(msg), M.EXIT_SETUP
  end
  local o, err = options.normalize(opts)
  if not o then return refuse(err) end
  local b, berr = require("nucleus.mode.agent").build(o)
  if not b then return refuse(berr) end
  local limits, lerr = require("nucleus.cgroup").limits(o)
  if not limits then
    require("nucleus.mode.agent").release(b.plan)
    return refuse(lerr)
  end
  local tbl = b.plan
  if ahead and not (tbl.loopback and not tbl.bridged and not tbl.uid_map) then
    ahead:close()
    ahead = nil
  end
  return setmetatable({
    id = b.id, name = o.name, opts = o, ctx = ctx, plan_table = tbl, warnings = b.warnings,
    netcfg = b.net, context_check = b.context_check, limits = limits, netns = ahead,
    prod = o.service_mode == "production",
    undo = {},          -- the cleanup stack: functions, run last first
    phase = "built",    -- then starting, running, exited; or failed
  }, Launch)
end

function Launch:audit(event, fields)
  if self.prod and self.recorded then state.audit(self.st, self.id, event, fields) end
end

-- Push fn on the cleanup stack.
function Launch:defer(fn)
  self.undo[#self.undo + 1] = fn
end

-- The record, written once the process exists (pid = nil: a start that
-- failed before it existed).  Returns true or nil, message.
function Launch:record(pid)
  local o, tbl, ids = self.opts, self.plan_table, core.ids()
  local r = {
    id = self.id, name = o.name, hostname = tbl.hostname, command = o.argv, mode = o.service_mode,
    runtime = "native", status = "created", created = state.now(),
    supervisor_pid = ids.pid, supervisor_start = state.self_start(),
    namespaces = tbl.namespaces, network = o.network, rootless = tbl.uid_map ~= nil,
    user = { uid = tbl.user.uid, gid = tbl.user.gid }, workdir = tbl.cwd, options = set_options(o),
  }
  for k, v in pairs(self.rec) do r[k] = v end
  self.rec = r
  if pid then
    r.status, r.pid, r.pid_start, r.started = "running", pid, core.proc_start(pid), r.created
  end
  local ok, werr = state.create(self.st, r, self.pending)
  if ok and o.name then
    ok, werr = state.claim_name(self.st, o.name, self.id)
    if not ok then state.remove(self.st, r) end
  end
  if not ok then return nil, werr:match("name") and werr or ("state: %s"):format(werr) end
  self.recorded = true
  self:audit("container_start", { command = o.argv, mode = o.service_mode, rootfs = o.rootfs,
                                  memory = o.memory, cpus = o.cpus, pids = o.pids })
  return true
end

-- What becomes of the record at teardown: a failed production start keeps
-- it (and its audit log) to be read afterwards; --rm removes it; else it
-- says how the container ended.
function Launch:close_record()
  local st, rec = self.st, self.rec
  if self.phase == "failed" then
    local msg = self.error
    if self.prod then
      rec.status, rec.finished, rec.error = "exited", state.now(), msg
      if self.recorded then
        state.update(st, rec, { status = "exited", finished = rec.finished, error = msg })
      else
        self:record()
      end
      self:audit("container_failed", { error = msg })
    elseif self.recorded then
      state.remove(st, rec)
    else
      state.abandon(self.pending)
    end
  elseif self.opts.rm then
    state.remove(st, rec)
  else
    state.set_exited(st, rec, self.code or 255, self.oom)
  end
end

-- A start that failed: undo what was made, keep the message.
function Launch:fail(msg, status)
  msg = log.one_line(msg)
  self.phase, self.error = "failed", msg
  self:teardown()
  return nil, msg, status or M.EXIT_SETUP
end

--- Make the container and start its workload; returns true once the
-- workload has been exec'd, or nil, message, exit status (and then
-- nothing it made is left).  sopts (optional):
--   forward = true   hold the signals a foreground supervisor passes on
--                    (for :wait{ forward = true })
--   stdout, stderr   fds the workload's output is copied to (default ours)
function Launch:start(sopts)
  sopts = sopts or {}
  if self.phase ~= "built" then return nil, ("container %s: already started"):format(self.id), M.EXIT_SETUP end
  self.phase = "starting"
  local o, ctx, tbl = self.opts, self.ctx, self.plan_table
  local err

  if o.seccomp_mode == "trace" then
    local f
    f, err = io.open(o.seccomp_log, "w")
    if not f then return self:fail(("seccomp log %s"):format(err)) end
    self.trace_out = f
    self:defer(function()
      if self.phase == "exited" then M.write_trace(f, self.proc_trace or {}) end
      f:close()
    end)
  end

  -- The record is written once the container's process exists (with its
  -- pid, so in one write), while that process sets the container up: the
  -- workload starts only after the record is in place (the gate of
  -- core.spawn's `started` hook).  If this supervisor dies before, what
  -- it made is still found: the cgroup by the sweep of half-made records
  -- (state.open), the network's lease and rules by `network prune`.
  if ctx.state ~= false then
    self.st, err = state.open(ctx.state_dir)
    if not self.st then return self:fail(err) end
    if o.name then
      -- refused here, before anything starts; claimed for good in record()
      local owner = state.name_owner(self.st, o.name)
      if owner then
        return self:fail(("the name %q is already in use by container %s"):format(o.name, owner))
      end
    end
    self.rec = {} -- what is known before the record is written (its cgroup, its network)
    -- the record's directory, before the cgroup: what the sweep goes by
    self.pending, err = state.begin(self.st, self.id)
    if not self.pending then return self:fail(("state: %s"):format(err)) end
    self:defer(function() self:close_record() end)
  end

  -- the cgroup: limits need it; without limits it is still where the
  -- container lives (stats, and a kill that reaches everything)
  local cgroup = require "nucleus.cgroup"
  local limits = self.limits
  local cg, cerr, ckind = cgroup.create(o, self.id, limits)
  if not cg and ckind == "unavailable" and o.pids == nil and #limits.files == 0 then
    cerr = nil -- nothing asked for: no warning either
  end
  if not cg and (ckind ~= "unavailable" or self.prod) then
    return self:fail(self.prod and cerr and ("production mode needs its cgroup and every limit: %s"):format(cerr) or cerr)
  end
  if not cg and cerr then
    log.warn("%s: running without resource limits", cerr)
  elseif cg and o.pids == nil then
    -- the default process limit, where the pids controller is there
    local f = io.open(cg.path .. "/pids.max", "w")
    if f then f:write("4096"); f:close() end
  end
  tbl.cgroup = cg and cg.path or nil
  self.cgroup = cg
  if cg then
    if self.rec then
      self.rec.cgroup, self.rec.cgroup_auto_parent = cg.path, cg.auto_parent
      -- one the sweep would not find by the container's id
      if not cg.auto_parent then state.begun_cgroup(self.pending, cg.path) end
    end
    self:defer(function()
      if self.phase == "exited" then
        self.oom = cgroup.oom_kills(cg.path) > 0 or nil
        if self.oom then
          local n = cgroup.oom_kills(cg.path)
          log.error("the container ran out of memory (--memory %s): %d process%s OOM-killed",
            o.memory or "?", n, n > 1 and "es" or "")
        end
        self:audit("container_stop", { exit_code = self.code, oom_killed = self.oom or false })
      end
      cgroup.remove(cg.path, cg.auto_parent)
    end)
  end

  -- the network's address and host ports, before anything starts
  local netcfg = self.netcfg
  local net = netcfg and require "nucleus.net"
  if netcfg then
    local ok, nerr = net.prepare(netcfg, self.id)
    if not ok then return self:fail(nerr) end
    self:defer(function() net.teardown(netcfg) end)
    if netcfg.hosts_mount then netcfg.hosts_mount.content = net.hosts(netcfg, netcfg.hostname) end
    if self.rec then self.rec.net = net.record(netcfg) end
  end

  local plan, perr = core.plan_compile(tbl)
  require("nucleus.mode.agent").release(tbl) -- what it did not take
  if not plan then return self:fail(perr) end
  for _, w in ipairs(self.warnings) do log.warn("%s", w) end

  local io_opts = { tty = o.tty, interactive = o.interactive, netns = self.netns,
                    stdout = sopts.stdout, stderr = sopts.stderr }
  local hook_error -- a hook's own message: the core's error record would cut it
  local check = self.context_check
  if check or netcfg then
    -- the copy (or bind) as the container sees it, then its network,
    -- before anything of the workload runs
    io_opts.paused = function(pid)
      if check then
        local attest = require "nucleus.attest"
        local h, herr = attest.tree_hash(("/proc/%d/root/context"):format(pid))
        if not h then
          hook_error = ("context integrity: %s"):format(herr)
          return nil, hook_error
        end
        if h ~= check.hash then
          hook_error = ("context %s: integrity mismatch: manifest %s before launch, %s in /context")
            :format(check.dir, check.hash, h)
          return nil, hook_error
        end
        self:audit("context_integrity_verified", { sha256 = h })
      end
      if netcfg then
        local ok, nerr = net.attach(netcfg, { pid = pid, userns = tbl.uid_map ~= nil,
                                              state_dir = self.st and self.st.dir or "/tmp" })
        if not ok then
          hook_error = nerr
          return nil, nerr
        end
        self:audit("network_attached", { backend = netcfg.backend, address = netcfg.ip and net.ntoa(netcfg.ip),
                                         egress = netcfg.egress and (#netcfg.egress.allow + #netcfg.egress.tcp
                                           + #netcfg.egress.udp > 0 and "allow-list" or "deny-all") or "none" })
      end
      return true
    end
  end
  if self.rec then
    io_opts.started = function(pid)
      local ok, rerr = self:record(pid)
      if not ok then hook_error = rerr end
      return ok, rerr
    end
  end
  self.forward = sopts.forward and M.forward_list() or nil
  local proc, warnings_or_msg, code, stage, detail = core.spawn(plan, self.forward or {}, io_opts)
  if self.netns then
    self.netns:close() -- the container's now, or unused
    self.netns = nil
  end
  if not proc then
    plan:close()
    local msg, status = M.exec_failure(warnings_or_msg, code, stage, detail)
    if hook_error then msg, status = hook_error, M.EXIT_SETUP end
    return self:fail(msg, status)
  end
  self.proc, self.pid, self.phase = proc, proc:pid(), "running"
  for _, w in ipairs(warnings_or_msg) do log.warn("%s", w) end
  if self.prod then
    local d = plan:describe()
    self:audit("security_applied", {
      namespaces = d.namespaces, user = d.user, capabilities = d.caps,
      seccomp = d.seccomp_builtin or (d.seccomp_instructions > 0 and "profile") or "none",
      seccomp_instructions = d.seccomp_instructions, landlock_rules = #d.landlock_rules,
      no_new_privs = true, root_readonly = d.root_readonly, cgroup = cg and cg.path,
    })
    self:audit("mount_audit_passed", { mounts = #d.mounts })
  end
  -- the workload runs: its plan's fds are closed and its secrets' bytes
  -- zeroed now, not when the collector gets to them
  plan:close()
  return true
end

--- The compiled plan as a table (what `run --dry-run` prints), without
-- starting anything; or nil, message.
function Launch:describe()
  local plan, err = core.plan_compile(self.plan_table)
  require("nucleus.mode.agent").release(self.plan_table)
  if not plan then return nil, err end
  local d = plan:describe()
  plan:close()
  return d
end

-- The container's first process has ended with code (128+N for signal N).
function Launch:exited(code, sig)
  self.phase, self.code, self.signal = "exited", code, sig
  if self.trace_out then self.proc_trace = self.proc:trace() end
  self.proc:close()
  return code, sig
end

--- The fds an event loop polls for this container (core.poll): readable
-- means poll() has work.  Empty once it has exited.
function Launch:fds()
  if self.phase ~= "running" then return {} end
  return self.proc:fds()
end

--- Without blocking: relay what the workload wrote; returns its exit code
-- and signal once its first process has exited, false while it runs, or
-- nil, message.  Not for an interactive (-i) container: see wait().
function Launch:poll()
  if self.phase == "exited" then return self.code, self.signal end
  if self.phase ~= "running" then return nil, ("container %s is not running"):format(self.id) end
  local code, sig = self.proc:poll()
  if code == false then return false end
  if not code then return nil, sig end
  return self:exited(code, sig)
end

--- Block until the container's first process exits, relaying its
-- terminal and standard streams, and passing on the signals held at
-- start (start{ forward = true }).  Returns code, signal, the last
-- signal passed on | nil, message.
function Launch:wait()
  if self.phase == "exited" then return self.code, self.signal end
  if self.phase ~= "running" then return nil, ("container %s is not running"):format(self.id) end
  local code, sig, forwarded = self.proc:wait(self.forward)
  if not code then
    -- the kernel did not say how it ended: recorded as 255
    self.phase = "exited"
    self.proc:close()
    return nil, sig
  end
  self:exited(code, sig)
  return code, sig, forwarded
end

--- Send sig (a number or a name: "TERM") to the container's first process.
function Launch:signal(sig)
  if self.phase ~= "running" then return nil, ("container %s is not running"):format(self.id) end
  local n = type(sig) == "string" and core.signals[sig:upper():gsub("^SIG", "")] or sig
  if math.type(n) ~= "integer" then return nil, ("invalid signal %q"):format(tostring(sig)) end
  return self.proc:signal(n)
end

--- SIGTERM, then SIGKILL once timeout seconds (default 10) have passed;
-- returns the exit code and signal once the container has exited.
function Launch:stop(timeout)
  timeout = timeout or 10
  if self.phase == "exited" then return self.code, self.signal end
  if self.phase ~= "running" then return nil, ("container %s is not running"):format(self.id) end
  local deadline = core.monotonic() + timeout
  local sig = timeout > 0 and core.signals.TERM or core.signals.KILL
  self.proc:signal(sig)
  while true do
    local code, esig = self:poll()
    if code ~= false then return code, esig end
    local left = deadline - core.monotonic()
    if left <= 0 and sig ~= core.signals.KILL then
      sig = core.signals.KILL
      self.proc:signal(sig)
    end
    core.poll(self.proc:fds(), math.max(left, 0.1))
  end
end

--- Undo everything the container made, last first, once: a container that
-- still runs is killed and reaped before.  Safe to call at any time and
-- more than once.
function Launch:teardown()
  if self.phase == "running" then self:stop(0) end
  -- the fds of a production root the plan table holds, where no compile took them
  require("nucleus.mode.agent").release(self.plan_table)
  if self.netns then
    self.netns:close()
    self.netns = nil
  end
  local undo, first_err = self.undo, nil
  while #undo > 0 do
    local ok, err = pcall(table.remove(undo))
    if not ok and not first_err then first_err = err end
  end
  if first_err then return nil, tostring(first_err) end
  return true
end

Launch.__close = function(self) self:teardown() end
Launch.__gc = function(self) self:teardown() end

return M

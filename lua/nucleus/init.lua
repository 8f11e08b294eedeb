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

local launch = require "nucleus.launch"
M.EXIT_SETUP, M.EXIT_NOEXEC, M.EXIT_NOTFOUND = launch.EXIT_SETUP, launch.EXIT_NOEXEC, launch.EXIT_NOTFOUND

--- The launch-plan table for opts, before compilation.
-- Returns plan, warnings, id or nil, message.  A production plan holds
-- fds of its root (nucleus.Fd): core.plan_compile takes them, or close
-- them with require("nucleus.mode.agent").release(plan).
function M.plan(opts)
  local o, err = options.normalize(opts)
  if not o then return nil, log.one_line(err) end
  local b, berr = require("nucleus.mode.agent").build(o)
  if not b then return nil, log.one_line(berr) end
  return b.plan, b.warnings, b.id
end

--- Compile opts into an immutable nucleus.Plan, for spawn_and_wait: a
-- plan alone, so options that need more around the process (a bridge
-- network, a context check) are refused here: launch() them.
-- Returns plan, warnings, id or nil, message.
function M.compile(opts)
  local o, err = options.normalize(opts)
  if not o then return nil, log.one_line(err) end
  local b, berr = require("nucleus.mode.agent").build(o)
  if not b then return nil, log.one_line(berr) end
  if b.net then
    return nil, "compile: a bridged network is set up around the process: use nucleus.launch"
  end
  if b.context_check then
    return nil, "compile: --verify-context-integrity checks the started container: use nucleus.launch"
  end
  local plan, perr = core.plan_compile(b.plan)
  require("nucleus.mode.agent").release(b.plan) -- what it did not take
  if not plan then return nil, log.one_line(perr) end
  return plan, b.warnings, b.id
end

--- Spawn a compiled plan and wait for it, forwarding signals.
-- io (optional): { tty =, interactive = }; without interactive stdin is
-- the container's /dev/null.
-- Returns code, signal, proc (whose :trace() holds a trace-mode record).
function M.spawn_and_wait(plan, io)
  local forward = launch.forward_list()
  local proc, warnings_or_msg, code, stage, detail = core.spawn(plan, forward, io)
  if not proc then
    local msg, status = launch.exec_failure(warnings_or_msg, code, stage, detail)
    return nil, msg, status
  end
  for _, w in ipairs(warnings_or_msg) do log.warn("%s", w) end
  local status, sig_or_err = proc:wait(forward)
  if not status then return nil, sig_or_err, M.EXIT_SETUP end
  return status, sig_or_err, proc
end

M.write_trace = launch.write_trace

--- A container as a handle that does not block (nucleus.launch): opts are
-- run()'s; ctx (optional): state_dir =, state = false.  Returns the
-- handle (:start, :fds, :poll, :wait, :signal, :stop, :teardown) or nil,
-- message, exit status.
function M.launch(opts, ctx)
  return launch.new(opts, ctx)
end

--- Run a container to completion in the foreground: launch, start
-- (passing signals on), wait, teardown.  ctx as launch's.
function M.run(opts, ctx)
  local h, err, status = launch.new(opts, ctx)
  if not h then return nil, err, status end
  local ok, serr, sstatus = h:start { forward = true }
  if not ok then return nil, serr, sstatus end
  local code, sig_or_err, forwarded = h:wait()
  h:teardown()
  if not code then return nil, sig_or_err, M.EXIT_SETUP end
  return code, sig_or_err, forwarded
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

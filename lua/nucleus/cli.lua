--- nucleus.cli: the command line.  Parses with nucleus.args, maps every
-- outcome to an exit status in one place (main), and prints one-line
-- errors on stderr.  The work itself is nucleus.run.
local args = require "nucleus.args"
local nucleus = require "nucleus"
local options = require "nucleus.options"
local log = require "nucleus.log"

local M = {}

local function usage_error(fmt, ...)
  log.error(fmt, ...)
  return nucleus.EXIT_SETUP
end

local GLOBAL = {
  { name = "help", short = "h", kind = "flag", help = "Show this help and exit" },
  { name = "root", kind = "string", meta = "DIR", help = "State directory (default /run/nucleus as root)" },
  { name = "version", kind = "flag", help = "Print the version and exit" },
  { name = "log_level", kind = "choice", choices = { "error", "warn", "info", "debug" },
    default = "warn", help = "Runtime messages to show on stderr" },
}

local VERBS = {
  run = "Run a command in a new container and wait for it",
  policy = "policy check FILE...: validate policy files, print their kind and SHA-256",
  seccomp = "seccomp generate TRACE... [-o FILE]: the built-in profile cut down to the traced calls",
  ps = "List containers (running; -a all)",
  inspect = "Show containers' records as JSON",
  stop = "Stop containers: SIGTERM, then SIGKILL after -t seconds",
  kill = "Send a signal to containers",
  rm = "Remove containers (-f: running ones too)",
  stats = "Resource usage of running containers (cgroup v2)",
  rootfs = "rootfs attest DIR: write DIR's manifest, print the SHA-256 to pin",
  network = "network prune: remove bridge rules, veths and leases of containers that are gone",
  exec = "Run a command in a running container",
  attach = "Run a shell (or -- CMD) in a running container",
}

local RUN = { { name = "help", short = "h", kind = "flag", help = "Show this help and exit" } }
for _, o in ipairs(options.run) do RUN[#RUN + 1] = o end

local function global_help()
  local lines = { args.help("Usage: nucleus [OPTIONS] COMMAND [ARGS...]",
    "A lightweight container runtime: agent sandboxes and production services.", GLOBAL),
    "Commands:" }
  local verbs = {}
  for verb in pairs(VERBS) do verbs[#verbs + 1] = verb end
  table.sort(verbs)
  for _, verb in ipairs(verbs) do lines[#lines + 1] = ("  %-8s %s"):format(verb, VERBS[verb]) end
  return table.concat(lines, "\n") .. "\n"
end

local function cmd_run(argv, ctx)
  local a, err = args.parse(RUN, argv, 1, true)
  if not a then return usage_error("run: %s (see 'nucleus run --help')", err) end
  if a.help then
    io.stdout:write(args.help("Usage: nucleus run [OPTIONS] [--] CMD [ARGS...]", VERBS.run, RUN))
    return 0
  end
  if #a.operands == 0 then
    return usage_error("run: missing command (usage: nucleus run [OPTIONS] [--] CMD [ARGS...])")
  end
  local opts = { argv = a.operands }
  for _, o in ipairs(options.run) do
    local v = a[o.name]
    if o.name ~= "dry_run" and v ~= nil and not (o.kind == "flag" and v == false) then
      opts[o.name] = v
    end
  end
  local h, lerr, lstatus = nucleus.launch(opts, ctx)
  if not h then
    log.error("%s", lerr)
    return lstatus
  end
  if a.dry_run then
    local d, derr = h:describe()
    h:teardown()
    if not d then return usage_error("%s", derr) end
    io.stdout:write(require("nucleus.json").encode(d, "  "), "\n")
    return 0
  end
  local ok, serr, sstatus = h:start { forward = true }
  if not ok then
    log.error("%s", serr)
    return sstatus
  end
  -- the start is done: from here on the supervisor lives as long as the
  -- container, and collects its garbage (main.c stopped the collector)
  collectgarbage("restart")
  local code, werr, status = h:wait()
  h:teardown()
  if not code then
    log.error("%s", werr)
    return nucleus.EXIT_SETUP
  end
  -- ^C or ^\ from the terminal ended the workload: end the same way, so
  -- that a calling shell loop stops too (the status a shell sees is the
  -- same 128+N)
  local core = require "nucleus.core"
  if (status == core.signals.INT or status == core.signals.QUIT) and code == 128 + status then
    core.die_of(status)
  end
  return code
end

function M.main(argv)
  local g, err = args.parse(GLOBAL, argv, 1, true)
  if not g then return usage_error("%s (see 'nucleus --help')", err) end
  log.set_level(g.log_level)
  if g.version then
    io.stdout:write("nucleus ", nucleus.version, "\n")
    return 0
  end
  local verb = g.operands[1]
  if g.help or verb == "help" then
    io.stdout:write(global_help())
    return 0
  end
  if not verb then return usage_error("missing command (see 'nucleus --help')") end
  local rest = { table.unpack(g.operands, 2) }
  local ctx = { state_dir = g.root }
  if verb == "run" then return cmd_run(rest, ctx) end
  -- only run's start is worth the collector's pause (main.c); stats and
  -- logs live long
  collectgarbage("restart")
  return require("nucleus.verbs").dispatch(verb, rest, ctx, VERBS)
    or usage_error("unknown command '%s' (see 'nucleus --help')", verb)
end

return M

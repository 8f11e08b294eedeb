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
  seccomp = "seccomp generate TRACE... [-o FILE]: the minimal profile allowing the traced calls",
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

local HELP = { name = "help", short = "h", kind = "flag", help = "Show this help and exit" }
local SPECS = {
  ps = { HELP, { name = "all", short = "a", kind = "flag", help = "Also stopped containers" },
         { name = "quiet", short = "q", kind = "flag", help = "Only the short ids" },
         { name = "format", kind = "choice", choices = { "table", "json" }, default = "table",
           help = "Output format" } },
  inspect = { HELP },
  stats = { HELP, { name = "no_stream", kind = "flag", help = "One sample, then exit" },
            { name = "format", kind = "choice", choices = { "table", "json" }, default = "table",
              help = "Output format" } },
  stop = { HELP, { name = "time", short = "t", kind = "string", meta = "SECONDS",
                   help = "Seconds between SIGTERM and SIGKILL (default 10)" } },
  kill = { HELP, { name = "signal", short = "s", kind = "string", meta = "SIGNAL",
                   help = "Signal name or number (default KILL)" } },
  rm = { HELP, { name = "force", short = "f", kind = "flag", help = "Kill running containers first" } },
  exec = { HELP, { name = "env", short = "e", kind = "list", meta = "KEY=VALUE", help = "Add an environment variable" },
           { name = "workdir", short = "w", kind = "string", meta = "DIR", help = "Working directory" },
           { name = "interactive", short = "i", kind = "flag", help = "Keep stdin open (default: /dev/null)" },
           { name = "tty", short = "t", kind = "flag", help = "Give the command a terminal" } },
}
SPECS.attach = SPECS.exec

local USAGE = {
  ps = "Usage: nucleus ps [-a] [-q] [--format table|json]",
  inspect = "Usage: nucleus inspect CONTAINER...",
  stats = "Usage: nucleus stats [--no-stream] [--format table|json] [CONTAINER...]",
  stop = "Usage: nucleus stop [-t SECONDS] CONTAINER...",
  kill = "Usage: nucleus kill [-s SIGNAL] CONTAINER...",
  rm = "Usage: nucleus rm [-f] CONTAINER...",
  exec = "Usage: nucleus exec [-e KEY=VALUE] [-w DIR] CONTAINER CMD [ARGS...]",
  attach = "Usage: nucleus attach [-e KEY=VALUE] [-w DIR] CONTAINER [-- CMD [ARGS...]]",
}

local function cmd_manage(verb, argv, ctx)
  local manage = require "nucleus.manage"
  local stop_early = verb == "exec" or verb == "attach"
  local a, err = args.parse(SPECS[verb], argv, 1, stop_early)
  if not a then return usage_error("%s: %s (see 'nucleus %s --help')", verb, err, verb) end
  if a.help then
    io.stdout:write(args.help(USAGE[verb], VERBS[verb], SPECS[verb]))
    return 0
  end
  a.verb = verb
  if verb == "exec" or verb == "attach" then
    local ref = a.operands[1]
    if not ref then return usage_error("%s: no container given (%s)", verb, USAGE[verb]) end
    local cmd = { table.unpack(a.operands, 2) }
    if cmd[1] == "--" then table.remove(cmd, 1) end
    if #cmd == 0 then
      if verb == "exec" then return usage_error("exec: missing command (%s)", USAGE.exec) end
      cmd = { "/bin/sh" }
    end
    local code, rerr, status = nucleus.exec(ref, { argv = cmd, env = a.env, workdir = a.workdir,
      tty = a.tty, interactive = a.interactive or verb == "attach" }, ctx)
    if not code then
      log.error("%s", rerr)
      return status
    end
    return code
  end
  return manage[verb](a, ctx)
end

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
  if a.dry_run then
    local plan, perr = nucleus.compile(opts)
    if not plan then return usage_error("%s", perr) end
    io.stdout:write(require("nucleus.json").encode(plan:describe(), "  "), "\n")
    return 0
  end
  local code, rerr, status = nucleus.run(opts, ctx)
  if not code then
    log.error("%s", rerr)
    return status
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

-- nucleus policy check FILE...: each file's kind and SHA-256 (the value a
-- Nix expression pins), stopping at the first invalid one.
local function cmd_policy(argv)
  local policy = require "nucleus.policy"
  local core = require "nucleus.core"
  if argv[1] ~= "check" then
    return usage_error("policy: expected 'check FILE...' (see 'nucleus --help')")
  end
  if #argv < 2 then return usage_error("policy check: no file given") end
  for i = 2, #argv do
    local path = argv[i]
    local data, sum = policy.read_pinned(path, "policy", nil)
    if not data then return usage_error("%s", sum) end
    local kind = policy.kind_of(path, data)
    local ok, err
    if kind == "seccomp" then
      local prof
      prof, err = policy.seccomp(data, path)
      if prof then ok, err = core.plan_compile { argv = { "x" }, seccomp = prof } end
      if not ok and err then err = err:gsub("^plan: ", path .. ": ") end
    elseif kind == "caps" then
      ok, err = policy.caps(data, path)
    else
      -- validated against the newest ABI: whether this kernel can enforce
      -- it is decided when a container starts
      ok, err = policy.landlock(data, path, math.maxinteger)
    end
    if not ok then return usage_error("%s", err) end
    io.stdout:write(("%s\t%s\t%s\n"):format(kind, sum, path))
  end
  return 0
end

local GENERATE = {
  { name = "help", short = "h", kind = "flag", help = "Show this help and exit" },
  { name = "output", short = "o", kind = "string", meta = "FILE", help = "Write the profile here (default: stdout)" },
}

-- nucleus seccomp generate TRACE... [-o FILE]: merge trace-mode records
-- into the smallest OCI profile that allows exactly the calls seen.
local function cmd_seccomp(argv)
  if argv[1] ~= "generate" then
    return usage_error("seccomp: expected 'generate TRACE... [-o FILE]' (see 'nucleus --help')")
  end
  local a, err = args.parse(GENERATE, argv, 2, false)
  if not a then return usage_error("seccomp generate: %s", err) end
  if a.help then
    io.stdout:write(args.help("Usage: nucleus seccomp generate TRACE... [-o FILE]", VERBS.seccomp, GENERATE))
    return 0
  end
  if #a.operands == 0 then return usage_error("seccomp generate: no trace file given") end
  local cjson = require "cjson.safe"
  local names, arches = {}, {}
  for _, path in ipairs(a.operands) do
    local f, oerr = io.open(path, "rb")
    if not f then return usage_error("trace %s", oerr) end
    local n = 0
    for line in f:lines() do
      n = n + 1
      if line:match("%S") then
        local r = cjson.decode(line)
        if type(r) ~= "table" or type(r.name) ~= "string" or type(r.arch) ~= "string" then
          f:close()
          return usage_error("%s:%d: not a trace record (NDJSON from --seccomp-mode trace expected)", path, n)
        end
        if not r.name:match("^syscall_%d+$") then names[r.name] = true end
        arches[r.arch] = true
      end
    end
    f:close()
  end
  local list, alist = {}, {}
  for k in pairs(names) do list[#list + 1] = k end
  for k in pairs(arches) do alist[#alist + 1] = k end
  table.sort(list)
  table.sort(alist)
  local profile = {
    defaultAction = "SCMP_ACT_ERRNO", defaultErrnoRet = 1, architectures = alist,
    syscalls = { { names = list, action = "SCMP_ACT_ALLOW" } },
  }
  local text = require("nucleus.json").encode(profile, "  ") .. "\n"
  if not a.output then
    io.stdout:write(text)
    return 0
  end
  local tmp = a.output .. ".tmp"
  local o, werr = io.open(tmp, "wb")
  if not o then return usage_error("output %s", werr) end
  o:write(text)
  o:close()
  local ok, rerr = os.rename(tmp, a.output)
  if not ok then
    os.remove(tmp)
    return usage_error("output %s", rerr)
  end
  return 0
end

-- nucleus network prune: what killed supervisors left of their networks
local function cmd_network(argv)
  if argv[1] ~= "prune" or #argv > 1 then
    return usage_error("network: expected 'prune' (see 'nucleus --help')")
  end
  if require("nucleus.core").ids().euid ~= 0 then
    return usage_error("network prune: needs root (bridge networks are root's)")
  end
  for _, what in ipairs(require("nucleus.net").prune()) do io.stdout:write(what, "\n") end
  return 0
end

local function cmd_rootfs(argv)
  if argv[1] ~= "attest" or #argv ~= 2 then
    return usage_error("rootfs: expected 'attest DIR' (see 'nucleus --help')")
  end
  local pin, err = require("nucleus.attest").attest(argv[2])
  if not pin then return usage_error("%s", err) end
  io.stdout:write(pin, "\n")
  return 0
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
  if SPECS[verb] then return cmd_manage(verb, rest, ctx) end
  if verb == "policy" then return cmd_policy(rest) end
  if verb == "seccomp" then return cmd_seccomp(rest) end
  if verb == "rootfs" then return cmd_rootfs(rest) end
  if verb == "network" then return cmd_network(rest) end
  return usage_error("unknown command '%s' (see 'nucleus --help')", verb)
end

return M

--- nucleus.verbs: the CLI's commands other than run (the containers' own:
-- ps, inspect, stats, stop, kill, rm, exec, attach; and policy, seccomp,
-- rootfs, network), their options and usage lines.  Apart from cli.lua so
-- that a container's start loads none of it.
local args = require "nucleus.args"
local nucleus = require "nucleus"
local log = require "nucleus.log"

local M = {}

-- set by dispatch: the one-line descriptions cli.lua shows in --help
local VERBS = {}

local function usage_error(fmt, ...)
  log.error(fmt, ...)
  return nucleus.EXIT_SETUP
end

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

-- each command's usage line, beside its options (args.parse reads only
-- the array part)
SPECS.ps.usage = "Usage: nucleus ps [-a] [-q] [--format table|json]"
SPECS.inspect.usage = "Usage: nucleus inspect CONTAINER..."
SPECS.stats.usage = "Usage: nucleus stats [--no-stream] [--format table|json] [CONTAINER...]"
SPECS.stop.usage = "Usage: nucleus stop [-t SECONDS] CONTAINER..."
SPECS.kill.usage = "Usage: nucleus kill [-s SIGNAL] CONTAINER..."
SPECS.rm.usage = "Usage: nucleus rm [-f] CONTAINER..."
SPECS.exec.usage = "Usage: nucleus exec [-e KEY=VALUE] [-w DIR] CONTAINER CMD [ARGS...]"
SPECS.attach = { usage = "Usage: nucleus attach [-e KEY=VALUE] [-w DIR] CONTAINER [-- CMD [ARGS...]]",
                 table.unpack(SPECS.exec) }

local function cmd_manage(verb, argv, ctx)
  local manage = require "nucleus.manage"
  local stop_early = verb == "exec" or verb == "attach"
  local a, err = args.parse(SPECS[verb], argv, 1, stop_early)
  if not a then return usage_error("%s: %s (see 'nucleus %s --help')", verb, err, verb) end
  if a.help then
    io.stdout:write(args.help(SPECS[verb].usage, VERBS[verb], SPECS[verb]))
    return 0
  end
  a.verb = verb
  if verb == "exec" or verb == "attach" then
    local ref = a.operands[1]
    if not ref then return usage_error("%s: no container given (%s)", verb, SPECS[verb].usage) end
    local cmd = { table.unpack(a.operands, 2) }
    if cmd[1] == "--" then table.remove(cmd, 1) end
    if #cmd == 0 then
      if verb == "exec" then return usage_error("exec: missing command (%s)", SPECS.exec.usage) end
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

-- the most a trace file may hold (16 MiB)
local TRACE_MAX_BYTES = 16 << 20

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
    -- a regular file (no FIFO to hang on, no /dev/zero to read forever):
    -- a trace has a line per syscall and architecture seen, far below this
    local text, rerr = require("nucleus.policy").read_file(path, "trace", TRACE_MAX_BYTES)
    if not text then return usage_error("%s", rerr) end
    local n = 0
    for line in (text:sub(-1) == "\n" and text or text .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      if line:match("%S") then
        local r = cjson.decode(line)
        -- the bucket of unnamed numbers allows nothing
        if type(r) == "table" and r.unknown == true and type(r.arch) == "string" then
          r = { name = "syscall_-1", arch = r.arch }
        end
        if type(r) ~= "table" or type(r.name) ~= "string" or type(r.arch) ~= "string" then
          return usage_error("%s:%d: not a trace record (NDJSON from --seccomp-mode trace expected)", path, n)
        end
        if not r.name:match("^syscall_%-?%d+$") then names[r.name] = true end
        arches[r.arch] = true
      end
    end
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

-- the commands with a subcommand: -h or --help, in place of the
-- subcommand or right after it, prints the usage (as every command does)
local SUB_USAGE = {
  policy = "Usage: nucleus policy check FILE...",
  rootfs = "Usage: nucleus rootfs attest DIR",
  network = "Usage: nucleus network prune",
}

local function is_help(word) return word == "--help" or word == "-h" end

--- Run verb with argv (what follows it) and ctx ({state_dir =}); the
-- exit status, or nil for a verb that is not one of these.
function M.dispatch(verb, argv, ctx, descriptions)
  VERBS = descriptions
  if SPECS[verb] then return cmd_manage(verb, argv, ctx) end
  if verb == "seccomp" and is_help(argv[1]) then return cmd_seccomp({ "generate", "--help" }) end
  if SUB_USAGE[verb] and (is_help(argv[1]) or is_help(argv[2])) then
    io.stdout:write(args.help(SUB_USAGE[verb], VERBS[verb], { HELP }))
    return 0
  end
  if verb == "policy" then return cmd_policy(argv) end
  if verb == "seccomp" then return cmd_seccomp(argv) end
  if verb == "rootfs" then return cmd_rootfs(argv) end
  if verb == "network" then return cmd_network(argv) end
  return nil
end

return M

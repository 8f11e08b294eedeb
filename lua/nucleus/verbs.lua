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
  { name = "allow_dangerous", kind = "list", meta = "CALL[,CALL...]",
    help = "Allow these calls with no condition, even those the built-in profile refuses or filters (repeatable)" },
  { name = "arch", kind = "list", meta = "ARCH",
    help = "Also allow the traced calls of this architecture (SCMP_ARCH_X86, SCMP_ARCH_X32, ...; repeatable)" },
  { name = "all_arches", kind = "flag", help = "Allow the traced calls of every architecture the traces name" },
}
GENERATE.usage = "Usage: nucleus seccomp generate TRACE... [-o FILE] [--allow-dangerous CALL[,CALL...]] "
                 .. "[--arch ARCH | --all-arches]"
GENERATE.about = [[
The profile is the built-in one cut down to the calls the traces saw it
permit: each keeps the built-in rules for it, argument conditions
included (clone without CLONE_NEW* flags, socket of the families it
lists), and what it refuses stays refused with its errno.  A traced call
the built-in profile refused is left out and named on stderr; only
--allow-dangerous allows it, then with no condition.  Calls of an
architecture other than the built-in profile's are left out (and named)
unless --arch or --all-arches asks for them.
]]

-- the architectures a profile may list (core/bind/l_plan.c)
local ARCHES = { SCMP_ARCH_X86 = true, SCMP_ARCH_X86_64 = true, SCMP_ARCH_X32 = true, SCMP_ARCH_ARM = true,
                 SCMP_ARCH_AARCH64 = true, SCMP_ARCH_RISCV64 = true, SCMP_ARCH_PPC64LE = true,
                 SCMP_ARCH_S390X = true }

-- the most a trace file may hold (16 MiB)
local TRACE_MAX_BYTES = 16 << 20

local function count_field(r, k)
  local v = r[k]
  return v == nil or (math.type(v) == "integer" and v >= 0)
end

-- One trace file's records, merged into calls[arch][name] = { permitted =,
-- refused =, killed =, errno = }.  Returns true or nil, message.
local function read_trace(path, calls)
  -- a regular file (no FIFO to hang on, no /dev/zero to read forever):
  -- a trace has a line per syscall and architecture seen, far below this
  local text, rerr = require("nucleus.policy").read_file(path, "trace", TRACE_MAX_BYTES)
  if not text then return nil, rerr end
  local json = require "nucleus.json"
  local n = 0
  for line in (text:sub(-1) == "\n" and text or text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if line:match("%S") then
      local r = json.decode(line)
      -- names as libseccomp spells them: a note on stderr stays one line
      local okr = type(r) == "table" and type(r.arch) == "string" and r.arch:match("^[%w_]+$")
                  and ((type(r.name) == "string" and r.name:match("^[%w_%-]+$")) or r.unknown == true)
                  and count_field(r, "permitted") and count_field(r, "refused") and count_field(r, "killed")
                  and (r.errno == nil or math.type(r.errno) == "integer")
      if not okr then
        return nil, ("%s:%d: not a trace record (NDJSON from --seccomp-mode trace expected)"):format(path, n)
      end
      -- the bucket of unnamed numbers allows nothing
      if not r.unknown and not r.name:match("^syscall_%-?%d+$") then
        calls[r.arch] = calls[r.arch] or {}
        local c = calls[r.arch][r.name] or { permitted = 0, refused = 0, killed = 0 }
        calls[r.arch][r.name] = c
        -- a record older than the verdicts: every call was let through
        local permitted = r.permitted or (r.refused == nil and 1 or 0)
        c.permitted = c.permitted + permitted
        c.refused = c.refused + (r.refused or 0)
        c.killed = c.killed + (r.killed or 0)
        c.errno = c.errno or r.errno
      end
    end
  end
  return true
end

local function sorted_keys(t)
  local l = {}
  for k in pairs(t) do l[#l + 1] = k end
  table.sort(l)
  return l
end

local function has(list, x)
  for _, v in ipairs(list or {}) do if v == x then return true end end
  return false
end

-- " (errno 1: Operation not permitted)", or "" for a record without one
local function errno_text(e)
  return e and (" (errno %d: %s)"):format(e, require("nucleus.core").strerror(e)) or ""
end

-- nucleus seccomp generate TRACE...: the built-in profile cut down to the
-- calls the trace-mode records saw it permit (GENERATE.about).
local function cmd_seccomp(argv)
  if argv[1] ~= "generate" then
    return usage_error("seccomp: expected 'generate TRACE... [-o FILE]' (see 'nucleus --help')")
  end
  local a, err = args.parse(GENERATE, argv, 2, false)
  if not a then return usage_error("seccomp generate: %s", err) end
  if a.help then
    io.stdout:write(args.help(GENERATE.usage, VERBS.seccomp, GENERATE), "\n", GENERATE.about)
    return 0
  end
  if #a.operands == 0 then return usage_error("seccomp generate: no trace file given") end
  local core = require "nucleus.core"
  local base = require("nucleus.policies")["default.seccomp.json"]

  local dangerous, dlist = {}, {}
  for _, v in ipairs(a.allow_dangerous or {}) do
    for name in (v .. ","):gmatch("([^,]*),") do
      if not name:match("^[%w_]+$") or not core.seccomp_resolve(name) then
        return usage_error("seccomp generate: --allow-dangerous %q: not a syscall of this architecture", name)
      end
      if not dangerous[name] then dlist[#dlist + 1] = name end
      dangerous[name] = true
    end
  end
  table.sort(dlist)
  local arches = {}
  for _, v in ipairs(base.architectures or {}) do arches[v] = true end
  for _, v in ipairs(a.arch or {}) do
    if not ARCHES[v] then
      return usage_error("seccomp generate: --arch %q: unknown architecture (expected one of %s)", v,
        table.concat(sorted_keys(ARCHES), ", "))
    end
    arches[v] = true
  end
  if a.all_arches and #(a.arch or {}) > 0 then return usage_error("seccomp generate: --arch and --all-arches exclude each other") end

  local calls = {}
  for _, path in ipairs(a.operands) do
    local ok, rerr = read_trace(path, calls)
    if not ok then return usage_error("%s", rerr) end
  end

  -- what the built-in profile permits of each name, under what conditions
  local allow_rules = {}
  for _, rule in ipairs(base.syscalls) do
    if rule.action == "SCMP_ACT_ALLOW" then
      for _, n in ipairs(rule.names) do allow_rules[n] = true end
    end
  end

  local notes, keep = {}, {}
  for _, arch in ipairs(sorted_keys(calls)) do
    local native = has(base.architectures, arch)
    local asked = arches[arch] or (a.all_arches and ARCHES[arch])
    if not asked then
      local names = sorted_keys(calls[arch])
      notes[#notes + 1] = ("%d call%s of %s left out (%s): --arch %s or --all-arches allows them")
        :format(#names, #names == 1 and "" or "s", arch, table.concat(names, ", "), arch)
    else
      arches[arch] = true
      for _, name in ipairs(sorted_keys(calls[arch])) do
        local c = calls[arch][name]
        -- a call of an architecture the built-in profile does not list was
        -- refused for that alone: its name decides, as on the native one
        local wanted = c.permitted > 0 or (not native and c.killed > 0)
        if dangerous[name] then
          keep[name] = true
        elseif wanted and allow_rules[name] then
          keep[name] = true
          if c.refused > c.killed then
            notes[#notes + 1] = ("%s: %d of %d calls refused by the built-in profile's conditions%s stay refused: "
              .. "--allow-dangerous %s allows them"):format(name, c.refused - c.killed, c.permitted + c.refused,
              errno_text(c.errno), name)
          end
        elseif allow_rules[name] then
          notes[#notes + 1] = ("%s: every call refused by the built-in profile's conditions%s, left out: "
            .. "--allow-dangerous %s allows it"):format(name, errno_text(c.errno), name)
        else
          notes[#notes + 1] = ("%s: the built-in profile refuses it%s, left out: --allow-dangerous %s allows it")
            :format(name, errno_text(c.errno), name)
        end
      end
    end
  end

  -- the built-in profile with its allow rules cut down to the calls kept,
  -- and the dangerous ones freed of every rule of theirs
  local rules = {}
  local function copy_rule(rule, names)
    local r = {}
    for k, v in pairs(rule) do r[k] = v end
    r.names = names
    rules[#rules + 1] = r
  end
  for _, rule in ipairs(base.syscalls) do
    local names = {}
    for _, n in ipairs(rule.names) do
      if not dangerous[n] and (rule.action ~= "SCMP_ACT_ALLOW" or keep[n]) then names[#names + 1] = n end
    end
    if #names > 0 then copy_rule(rule, names) end
  end
  if #dlist > 0 then
    rules[#rules + 1] = { names = dlist, action = "SCMP_ACT_ALLOW",
                          comment = "--allow-dangerous: with no condition, beyond the built-in profile" }
  end
  local profile = { defaultAction = base.defaultAction, defaultErrnoRet = base.defaultErrnoRet,
                    architectures = sorted_keys(arches), syscalls = rules }
  -- as `nucleus run --seccomp-profile` will: a profile that does not
  -- compile is not written
  local ok, cerr = core.plan_compile { argv = { "x" }, seccomp = profile }
  if not ok then return usage_error("seccomp generate: the profile does not compile: %s", cerr) end
  for _, note in ipairs(notes) do log.warn("seccomp generate: %s", note) end
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
  local okr, rerr = os.rename(tmp, a.output)
  if not okr then
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

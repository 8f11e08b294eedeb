--- nucleus.cli: the command line.  Parses with lua-argparse, maps every
-- outcome to an exit status in one place (main), and prints one-line
-- errors on stderr.  The work itself is nucleus.run.
local argparse = require "argparse"
local nucleus = require "nucleus"
local options = require "nucleus.options"
local log = require "nucleus.log"

local M = {}

local function build_parser()
  local p = argparse("nucleus", "A lightweight container runtime: agent sandboxes and production services.")
    :command_target("command")
    :require_command(false)
    :help_max_width(100)
  p:flag("--version", "Print the version and exit.")
  p:option("--log-level", "Runtime log level: error, warn, info, debug.", "warn")
    :choices({ "error", "warn", "info", "debug" })
  local run = p:command("run", "Run a command in a new container and wait for it.")
  run:usage("Usage: nucleus run [OPTIONS] [--] CMD [ARGS...]")
  for _, o in ipairs(options.run) do
    local flag = "--" .. o.name:gsub("_", "-")
    if o.short then flag = "-" .. o.short .. " " .. flag end
    if o.kind == "flag" then
      run:flag(flag, o.help)
    else
      local opt = run:option(flag, o.help):argname(o.meta or ("<" .. o.name .. ">"))
      if o.kind == "list" then opt:count("*") end
      if o.kind == "choice" then opt:choices(o.choices) end
      if o.default then opt:default(o.default) end
    end
  end
  run:argument("cmd", "The command and its arguments."):args("*")
  return p
end

-- Options stop at the first word that is neither an option nor an
-- option's value, so `nucleus run ls -la` runs `ls -la`, as docker does.
local function split_run_args(args, from)
  local takes_value = {}
  for _, o in ipairs(options.run) do
    if o.kind ~= "flag" then
      takes_value["--" .. o.name:gsub("_", "-")] = true
      if o.short then takes_value["-" .. o.short] = true end
    end
  end
  local out = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    out[#out + 1] = a
    if i >= from then
      if a == "--" then
        for j = i + 1, #args do out[#out + 1] = args[j] end
        return out
      elseif a:sub(1, 1) == "-" and #a > 1 then
        if takes_value[a] and args[i + 1] then
          i = i + 1
          out[#out + 1] = args[i]
        end
      else
        out[#out] = "--"
        for j = i, #args do out[#out + 1] = args[j] end
        return out
      end
    end
    i = i + 1
  end
  return out
end

local function cmd_run(a)
  local opts = { argv = a.cmd }
  for _, o in ipairs(options.run) do
    local v = a[o.name]
    if v ~= nil and not (o.kind == "flag" and v == false) then opts[o.name] = v end
  end
  if #a.cmd == 0 then
    log.error("run: missing command (usage: nucleus run [OPTIONS] [--] CMD [ARGS...])")
    return nucleus.EXIT_SETUP
  end
  if a.dry_run then
    opts.dry_run = nil
    local plan, err = nucleus.compile(opts)
    if not plan then
      log.error("%s", err)
      return nucleus.EXIT_SETUP
    end
    io.stdout:write(require("nucleus.json").encode(plan:describe(), "  "), "\n")
    return 0
  end
  local code, err, status = nucleus.run(opts)
  if not code then
    log.error("%s", err)
    return status
  end
  return code
end

function M.main(args)
  local parser = build_parser()
  -- find "run" to know where its arguments start
  local from, i = #args + 1, 1
  while i <= #args do
    if args[i] == "run" then
      from = i + 1
      break
    end
    if args[i] == "--log-level" then i = i + 1 end
    i = i + 1
  end
  local ok, a = parser:pparse(split_run_args(args, from))
  if not ok then
    log.error("%s (see 'nucleus --help')", (a:gsub("%s*\n%s*", " ")))
    return nucleus.EXIT_SETUP
  end
  if a.version then
    io.stdout:write("nucleus ", nucleus.version, "\n")
    return 0
  end
  log.set_level(a.log_level)
  if a.command == "run" then return cmd_run(a) end
  log.error("missing command (see 'nucleus --help')")
  return nucleus.EXIT_SETUP
end

return M

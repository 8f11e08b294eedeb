--- nucleus.log: messages of the runtime itself, on stderr, never mixed
-- into the workload's stdout.  Levels: error, warn, info, debug.
local M = {}

local levels = { error = 1, warn = 2, info = 3, debug = 4 }
local threshold = levels.warn
local sink = function(line) io.stderr:write(line, "\n") end

function M.set_level(name)
  local l = levels[name]
  if not l then return nil, ("unknown log level %q"):format(tostring(name)) end
  threshold = l
  return true
end

--- Replace where lines go (a function taking one line).  Returns the old sink.
function M.set_sink(fn)
  local old = sink
  sink = fn
  return old
end

--- msg as one line: a newline that %q left as backslash-newline becomes
-- \n, and any other control character (an option's value can hold
-- anything) \ddd, so a message never spans lines nor drives a terminal.
function M.one_line(msg)
  msg = tostring(msg)
  if not msg:find("%c") then return msg end
  return (msg:gsub("\\\n", "\\n"):gsub("%c", function(c) return ("\\%03d"):format(c:byte()) end))
end

local function emit(level, fmt, ...)
  if levels[level] > threshold then return end
  local msg = select("#", ...) > 0 and fmt:format(...) or fmt
  sink(("nucleus: %s%s"):format(level == "error" and "" or level .. ": ", M.one_line(msg)))
end

function M.error(fmt, ...) emit("error", fmt, ...) end
function M.warn(fmt, ...) emit("warn", fmt, ...) end
function M.info(fmt, ...) emit("info", fmt, ...) end
function M.debug(fmt, ...) emit("debug", fmt, ...) end

return M

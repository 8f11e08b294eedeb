--- nucleus.manage: the verbs that act on containers by reference:
-- ps, inspect, stop, kill, rm, stats (exec and attach are nucleus.exec).
-- Each returns an exit status and prints one-line errors through
-- nucleus.log.
local core = require "nucleus.core"
local state = require "nucleus.state"
local log = require "nucleus.log"
local json = require "nucleus.json"

local M = {}

local EXIT_SETUP = require("nucleus.launch").EXIT_SETUP

local function open(ctx)
  local st, err = state.open(ctx.state_dir)
  if not st then log.error("%s", err) end
  return st
end

--- Signal number from a name (TERM, SIGTERM, term) or a number.
function M.signal_number(s)
  if type(s) == "number" then s = tostring(s) end
  if s:match("^%d+$") then
    local n = tonumber(s)
    if n >= 1 and n <= 64 then return n end
    return nil
  end
  return core.signals[s:upper():gsub("^SIG", "")]
end

local function ago(iso)
  if not iso then return "" end
  local y, mo, d, h, mi, se = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
  if not y then return iso end
  -- os.time reads a table as local time; the offset cancels in the difference
  local now = os.time(os.date("!*t"))
  local t = os.time { year = y, month = mo, day = d, hour = h, min = mi, sec = se }
  local s = math.max(0, now - t)
  if s < 60 then return s .. "s" end
  if s < 3600 then return (s // 60) .. "m" end
  if s < 86400 then return (s // 3600) .. "h" end
  return (s // 86400) .. "d"
end

local function status_text(rec, status)
  if status == "corrupt" then return "corrupt" end
  if status == "running" then return "Up " .. ago(rec.started) end
  if status == "created" then return "Created" end
  if rec.exit_code then return ("Exited (%d) %s ago"):format(rec.exit_code, ago(rec.finished)) end
  return "Exited (unknown: the supervisor was killed)"
end

-- Truncate to n characters (UTF-8 aware) with an ellipsis.
local function trunc(s, n)
  if utf8.len(s) and utf8.len(s) > n then
    return s:sub(1, utf8.offset(s, n - 2) - 1) .. "..."
  end
  return s
end

function M.ps(a, ctx)
  local st = open(ctx)
  if not st then return EXIT_SETUP end
  local rows = json.array {}
  -- a record that cannot be read is listed (status "corrupt", with why)
  -- so that it can be seen and removed
  for _, rec in ipairs(state.list(st, a.all)) do
    local status = rec.corrupt and "corrupt" or state.status(rec)
    if a.all or status == "running" or status == "created" then
      rec.status = status
      rows[#rows + 1] = rec
    end
  end
  if a.quiet then
    for _, rec in ipairs(rows) do io.stdout:write(rec.id:sub(1, 12), "\n") end
  elseif a.format == "json" then
    for _, rec in ipairs(rows) do rec.names = nil end
    io.stdout:write(json.encode(rows, "  "), "\n")
  else
    local fmt = "%-12s   %-20s %-30s %-8s %-30s %-16s %s\n"
    io.stdout:write(fmt:format("CONTAINER ID", "NAME", "STATUS", "PID", "COMMAND", "CREATED", "PORTS"))
    for _, rec in ipairs(rows) do
      -- published ports as docker shows them: 0.0.0.0:8080->80/tcp
      local ports = {}
      for _, p in ipairs(rec.net and rec.net.publish or {}) do
        ports[#ports + 1] = ("%s:%d->%d/%s"):format(p.host_ip or "0.0.0.0", p.host_port, p.port, p.proto)
      end
      local line = fmt:format(rec.id:sub(1, 12), trunc(rec.name or "", 20),
        status_text(rec, rec.status), rec.status == "running" and tostring(rec.pid) or "-",
        -- one row a container: a command's newlines, tabs and escapes shown as spaces
        trunc((table.concat(rec.command or {}, " "):gsub("%c", " ")), 30), rec.created and ago(rec.created) .. " ago" or "-",
        table.concat(ports, ", "))
      io.stdout:write((line:gsub(" +\n$", "\n")))
    end
  end
  return 0
end

--- The one line that says ref's record is corrupt.
local function corrupt_error(ref, rec)
  return ("container %s: its record is corrupt: %s; 'nucleus rm -f %s' removes it"):format(ref,
    rec.corrupt, rec.id:sub(1, 12))
end
M.corrupt_error = corrupt_error

local function each(a, ctx, fn)
  local st = open(ctx)
  if not st then return EXIT_SETUP end
  if #a.operands == 0 then
    log.error("%s: no container given", a.verb)
    return EXIT_SETUP
  end
  local rc = 0
  for _, ref in ipairs(a.operands) do
    local rec, err = state.resolve(st, ref)
    if rec and rec.corrupt and a.verb ~= "rm" then
      rec, err = nil, corrupt_error(ref, rec)
    end
    if not rec then
      log.error("%s", err)
      rc = 1
    else
      local ok, ferr = fn(st, rec, ref)
      if not ok then
        log.error("%s", ferr)
        rc = 1
      end
    end
  end
  return rc
end

function M.inspect(a, ctx)
  local out = {}
  local rc = each(a, ctx, function(_, rec)
    rec.status = state.status(rec)
    out[#out + 1] = rec
    return true
  end)
  if #out > 0 then io.stdout:write(json.encode(out, "  "), "\n") end
  return rc
end

function M.kill(a, ctx)
  local sig = M.signal_number(a.signal or "KILL")
  if not sig then
    log.error("kill: invalid signal %q", tostring(a.signal))
    return EXIT_SETUP
  end
  return each(a, ctx, function(_, rec, ref)
    if state.status(rec) ~= "running" then return nil, ("container %s is not running"):format(ref) end
    local ok, err = core.signal_pid(rec.pid, rec.pid_start, sig)
    if not ok then return nil, ("kill %s: %s"):format(ref, err) end
    io.stdout:write(ref, "\n")
    return true
  end)
end

-- SIGTERM, then SIGKILL after timeout seconds (at once when nil); returns
-- once the init is gone.
local function stop_one(rec, timeout)
  if state.status(rec) ~= "running" then return true end
  if timeout and timeout > 0 then
    core.signal_pid(rec.pid, rec.pid_start, core.signals.TERM)
  end
  if not timeout or timeout == 0
      or not core.wait_pid_exit(rec.pid, rec.pid_start, math.floor(timeout * 1000)) then
    core.signal_pid(rec.pid, rec.pid_start, core.signals.KILL)
    core.wait_pid_exit(rec.pid, rec.pid_start, 5000)
  end
  -- let the supervisor record the exit status
  if rec.supervisor_pid and rec.supervisor_start then
    core.wait_pid_exit(rec.supervisor_pid, rec.supervisor_start, 2000)
  end
  return true
end

function M.stop(a, ctx)
  local t = a.time and tonumber(a.time)
  if a.time and (not t or t < 0 or t ~= t) then
    log.error("stop: invalid timeout %q: seconds, 0 or more", a.time)
    return EXIT_SETUP
  end
  return each(a, ctx, function(_, rec, ref)
    stop_one(rec, t or 10)
    io.stdout:write(ref, "\n")
    return true
  end)
end

function M.rm(a, ctx)
  return each(a, ctx, function(st, rec, ref)
    if rec.corrupt then
      -- what it was is unknown: only with -f, and then its cgroup (if its
      -- first line names one nucleus could have made, or the default
      -- one) goes with whatever runs in it; its network is left to
      -- `network prune`, which goes by the leases, not by the record
      if not a.force then return nil, corrupt_error(ref, rec) end
      local cgroup = require("nucleus.cgroup")
      local path, auto = rec.cgroup, rec.cgroup_auto_parent
      if not path and core.ids().euid == 0 and cgroup.mountpoint() then
        path, auto = state.safe_cgroup(rec.id, cgroup.mountpoint() .. "/nucleus/" .. rec.id,
          cgroup.mountpoint() .. "/nucleus")
      end
      if path then
        local ok, cerr = cgroup.remove(path, auto)
        if not ok then return nil, ("rm %s: cgroup %s"):format(ref, cerr) end
      end
      local ok, rerr = state.remove(st, rec)
      if not ok then return nil, ("rm %s: %s"):format(ref, rerr) end
      io.stdout:write(ref, "\n")
      return true
    end
    if state.status(rec) == "running" then
      if not a.force then
        return nil, ("container %s is running: stop it first, or use rm -f"):format(ref)
      end
      stop_one(rec, nil)
    end
    if rec.cgroup then
      -- only a cgroup nucleus could have made for it: what a record says
      -- never has rm kill and remove another part of the tree
      local path, auto = state.safe_cgroup(rec.id, rec.cgroup, rec.cgroup_auto_parent)
      if path then
        require("nucleus.cgroup").remove(path, auto)
      else
        log.warn("rm %s: cgroup %s is not one nucleus makes for it: left alone", ref, rec.cgroup)
      end
    end
    if rec.net then require("nucleus.net").cleanup_record(rec.id, rec.net) end
    state.remove(st, rec, true)
    io.stdout:write(ref, "\n")
    return true
  end)
end

local function readnum(path, pattern)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  if pattern then return tonumber(s:match(pattern)) end
  if s:match("^max") then return "max" end
  return tonumber(s:match("^(%d+)"))
end

local function sample(rec)
  local p = rec.cgroup
  local s = { id = rec.id, name = rec.name, t = core.monotonic() }
  s.cpu_usec = readnum(p .. "/cpu.stat", "usage_usec (%d+)")
  s.memory = readnum(p .. "/memory.current")
  s.memory_peak = readnum(p .. "/memory.peak")
  s.memory_max = readnum(p .. "/memory.max")
  s.pids = readnum(p .. "/pids.current")
  s.pids_max = readnum(p .. "/pids.max")
  local f = io.open(p .. "/io.stat")
  if f then
    s.io_read, s.io_write = 0, 0
    for line in f:lines() do
      s.io_read = s.io_read + (tonumber(line:match("rbytes=(%d+)")) or 0)
      s.io_write = s.io_write + (tonumber(line:match("wbytes=(%d+)")) or 0)
    end
    f:close()
  end
  return s
end

local function human(n)
  if type(n) ~= "number" then return n == "max" and "unlimited" or "-" end
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and ("%dB"):format(n) or ("%.1f%s"):format(n, units[i])
end

--- nucleus stats [REF...] [--no-stream] [--format json]
function M.stats(a, ctx)
  local st = open(ctx)
  if not st then return EXIT_SETUP end
  local recs = {}
  if #a.operands > 0 then
    for _, ref in ipairs(a.operands) do
      local rec, err = state.resolve(st, ref)
      if rec and rec.corrupt then rec, err = nil, corrupt_error(ref, rec) end
      if not rec then log.error("%s", err); return 1 end
      if state.status(rec) ~= "running" then log.error("container %s is not running", ref); return 1 end
      recs[#recs + 1] = rec
    end
  else
    for _, rec in ipairs(state.list(st)) do
      if state.status(rec) == "running" then recs[#recs + 1] = rec end
    end
  end
  local prev = {}
  for _, rec in ipairs(recs) do
    if rec.cgroup then prev[rec.id] = sample(rec) end
  end
  local interval = a.no_stream and 0.5 or 1
  repeat
    core.sleep(interval)
    local rows = json.array {}
    for _, rec in ipairs(recs) do
      if state.status(rec) == "running" then
        -- one without a cgroup (none could be made for it): its row, no figures
        local s = rec.cgroup and sample(rec) or { id = rec.id, name = rec.name, t = core.monotonic() }
        local p = prev[rec.id]
        if p and s.cpu_usec and p.cpu_usec then
          s.cpu_percent = (s.cpu_usec - p.cpu_usec) / ((s.t - p.t) * 1e6) * 100
        end
        if type(s.memory) == "number" and type(s.memory_max) == "number" and s.memory_max > 0 then
          s.memory_percent = s.memory / s.memory_max * 100
        end
        prev[rec.id] = { cpu_usec = s.cpu_usec, t = s.t }
        s.t = nil
        rows[#rows + 1] = s
      end
    end
    if a.format == "json" then
      io.stdout:write(json.encode(rows, "  "), "\n")
    else
      if not a.no_stream then io.stdout:write("\27[H\27[2J") end
      local fmt = "%-12s   %-16s %8s %12s %8s %24s %7s %10s %10s\n"
      io.stdout:write(fmt:format("CONTAINER ID", "NAME", "CPU %", "CPU TIME", "MEM %", "MEM USAGE / LIMIT",
        "PIDS", "IO READ", "IO WRITE"))
      for _, s in ipairs(rows) do
        io.stdout:write(fmt:format(s.id:sub(1, 12), (s.name or ""):sub(1, 16),
          s.cpu_percent and ("%.1f%%"):format(s.cpu_percent) or "-",
          s.cpu_usec and ("%.2fs"):format(s.cpu_usec / 1e6) or "-",
          s.memory_percent and ("%.1f%%"):format(s.memory_percent) or "-",
          human(s.memory) .. " / " .. human(s.memory_max), tostring(s.pids or "-"),
          human(s.io_read), human(s.io_write)))
      end
    end
    io.stdout:flush()
  until a.no_stream
  return 0
end

return M

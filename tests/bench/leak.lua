-- leak.lua N MODE - N runs of /bin/true through the Lua API in this one
-- process, with this process's open fds, VmRSS, Lua heap and zombie children
-- counted after a warm-up, at every quarter and at the end.
--   MODE run:     nucleus.run{argv={"/bin/true"}, rm=true} each time
--   MODE compile: one nucleus.compile, then nucleus.spawn_and_wait N times
-- Prints CSV: mode,phase,runs,fds,vmrss_kb,lua_kb,zombies,seconds
local nucleus = require "nucleus"
local n, mode = tonumber(arg[1]), arg[2] or "run"
local pid = assert(io.open("/proc/self/stat")):read("l"):match("^(%d+)")

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("a")
  p:close()
  return s
end
local function status(key)
  for l in io.lines("/proc/self/status") do
    local v = l:match("^" .. key .. ":%s+(%d+)")
    if v then return tonumber(v) end
  end
end
local function snapshot(phase, runs, secs)
  collectgarbage()
  collectgarbage()
  -- the popen pipe itself is one of the fds, the same at every snapshot
  local fds = tonumber(sh("ls /proc/" .. pid .. "/fd | wc -l"))
  local zombies = tonumber(sh("ps --ppid " .. pid .. " -o stat= | grep -c '^Z' || true"))
  print(("%s,%s,%d,%d,%d,%.0f,%d,%.3f"):format(mode, phase, runs, fds, status("VmRSS"),
    collectgarbage("count"), zombies, secs))
  io.stdout:flush()
end

local plan
if mode == "compile" then plan = assert(nucleus.compile { argv = { "/bin/true" } }) end
local function one()
  local code, err
  if mode == "compile" then
    code, err = nucleus.spawn_and_wait(plan)
  else
    code, err = nucleus.run { argv = { "/bin/true" }, rm = true }
  end
  if code ~= 0 then
    io.stderr:write(("leak.lua: run failed: %s %s\n"):format(tostring(code), tostring(err)))
    os.exit(1)
  end
end

print("mode,phase,runs,fds,vmrss_kb,lua_kb,zombies,seconds")
for _ = 1, 20 do one() end
snapshot("after-warmup", 20, 0)
local wall0 = tonumber(sh("date +%s.%N"))
for i = 1, n do
  one()
  if i % math.max(1, n // 4) == 0 and i < n then
    snapshot("after-" .. (20 + i), 20 + i, tonumber(sh("date +%s.%N")) - wall0)
  end
end
snapshot("end", 20 + n, tonumber(sh("date +%s.%N")) - wall0)

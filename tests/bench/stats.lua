-- stats.lua - statistics over hyperfine JSON exports (lua5.4 + lua-cjson).
--
--   stats.lua merge OUT.json IN.json...   merge rounds: the per-run times of each
--                                         command (by name) are concatenated, in order
--   stats.lua table MERGED.json [REF]     markdown table, ratios against command REF
--   stats.lua csv MERGED.json             CSV of the summary (ms)
--   stats.lua get MERGED.json NAME FIELD  one number (ms for times; FIELD is
--                                         median, mean, stddev, min, max, p25, p75, runs)
--   stats.lua summary JSON                pretty summary JSON without the per-run times
local cjson = require "cjson"

local function readjson(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return cjson.decode(s)
end

local function writefile(path, s)
  local f = assert(io.open(path, "w"))
  f:write(s)
  f:close()
end

local function quantile(sorted, q)
  local n = #sorted
  if n == 0 then return 0 / 0 end
  local pos = (n - 1) * q + 1
  local lo = math.floor(pos)
  local hi = math.min(lo + 1, n)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
end

-- summary of a list of times (seconds)
local function summarize(times)
  local s = {}
  for i, t in ipairs(times) do s[i] = t end
  table.sort(s)
  local n, sum = #s, 0
  for _, t in ipairs(s) do sum = sum + t end
  local mean = sum / n
  local var = 0
  for _, t in ipairs(s) do var = var + (t - mean) ^ 2 end
  return {
    runs = n, mean = mean, median = quantile(s, 0.5), p25 = quantile(s, 0.25),
    p75 = quantile(s, 0.75), min = s[1], max = s[n],
    stddev = n > 1 and math.sqrt(var / (n - 1)) or 0,
  }
end

local cmd = arg[1]

if cmd == "merge" then
  local out = arg[2]
  local order, by = {}, {}
  for i = 3, #arg do
    local r = readjson(arg[i])
    for _, x in ipairs(r.results) do
      local name = x.command
      local m = by[name]
      if not m then
        m = { command = name, times = {}, user = {}, system = {}, rounds = 0 }
        by[name] = m
        order[#order + 1] = m
      end
      m.rounds = m.rounds + 1
      for _, t in ipairs(x.times) do m.times[#m.times + 1] = t end
      m.user[#m.user + 1] = x.user
      m.system[#m.system + 1] = x.system
    end
  end
  -- ORDER (environment): command names, comma-separated, for the output order
  -- (commands not named keep their order, after the named ones)
  local rank, n = {}, 0
  for name in (os.getenv("ORDER") or ""):gmatch("[^,]+") do n = n + 1; rank[name] = n end
  for i, m in ipairs(order) do m.key = rank[m.command] or (1e6 + i) end
  table.sort(order, function(a, b) return a.key < b.key end)
  local results = {}
  for _, m in ipairs(order) do
    local s = summarize(m.times)
    local u, sy = 0, 0
    for _, v in ipairs(m.user) do u = u + v end
    for _, v in ipairs(m.system) do sy = sy + v end
    s.command, s.times, s.rounds = m.command, m.times, m.rounds
    m.key = nil
    s.user, s.system = u / #m.user, sy / #m.system
    results[#results + 1] = s
  end
  writefile(out, cjson.encode({ results = results }) .. "\n")

elseif cmd == "table" then
  local r = readjson(arg[2])
  local ref
  for _, x in ipairs(r.results) do if x.command == arg[3] then ref = x.median end end
  local head = "| command | median ms | mean ms | stddev ms | p25 ms | p75 ms | min ms | runs |"
  local rule = "|---|---:|---:|---:|---:|---:|---:|---:|"
  if ref then
    head = head .. " median / " .. arg[3] .. " |"
    rule = rule .. "---:|"
  end
  print(head)
  print(rule)
  for _, x in ipairs(r.results) do
    local line = ("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d |"):format(x.command,
      x.median * 1e3, x.mean * 1e3, x.stddev * 1e3, x.p25 * 1e3, x.p75 * 1e3, x.min * 1e3, x.runs)
    if ref then line = line .. (" %.2f |"):format(x.median / ref) end
    print(line)
  end

elseif cmd == "csv" then
  local r = readjson(arg[2])
  print("command,median_ms,mean_ms,stddev_ms,p25_ms,p75_ms,min_ms,max_ms,runs,user_ms,system_ms")
  for _, x in ipairs(r.results) do
    print(("%s,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%.3f,%.3f"):format(x.command, x.median * 1e3,
      x.mean * 1e3, x.stddev * 1e3, x.p25 * 1e3, x.p75 * 1e3, x.min * 1e3, x.max * 1e3, x.runs,
      x.user * 1e3, x.system * 1e3))
  end

elseif cmd == "get" then
  local r = readjson(arg[2])
  for _, x in ipairs(r.results) do
    if x.command == arg[3] then
      local v = x[arg[4]]
      if arg[4] ~= "runs" and arg[4] ~= "rounds" then v = v * 1e3 end
      print(("%.3f"):format(v))
      os.exit(0)
    end
  end
  io.stderr:write("stats.lua: no command ", tostring(arg[3]), "\n")
  os.exit(1)

elseif cmd == "summary" then
  local r = readjson(arg[2])
  for _, x in ipairs(r.results) do x.times = nil end
  print(cjson.encode(r))

else
  io.stderr:write("usage: stats.lua merge|table|csv|get|summary ...\n")
  os.exit(2)
end

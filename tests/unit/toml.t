#!/usr/bin/env lua5.4
-- TAP test for nucleus.toml: the toml-test conformance suite (in-process),
-- focused error-message cases, and end-to-end runs of tests/toml-decoder.
--
-- The suite is looked up at ../shared/conformance/toml-test relative to
-- the repository root (override with NUCLEUS_TOML_TEST_DIR).

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
package.path = root .. "/lua/?.lua;" .. package.path

local toml = require "nucleus.toml"

local format = string.format

local suite = os.getenv("NUCLEUS_TOML_TEST_DIR")
  or (root .. "/../shared/conformance/toml-test")

local function readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function shquote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

---------------------------------------------------------------------------
-- Minimal JSON reader that keeps arrays distinguishable (even when empty)
---------------------------------------------------------------------------

local JARR = {}

local function json_decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local function err(m) error(format("json: %s at byte %d", m, pos), 0) end
  local value
  local function str()
    local buf = {}
    pos = pos + 1
    while true do
      local j = s:find('["\\]', pos)
      if not j then err("unterminated string") end
      buf[#buf + 1] = s:sub(pos, j - 1)
      if s:byte(j) == 34 then pos = j + 1; return table.concat(buf) end
      local e = s:sub(j + 1, j + 1)
      local simple = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t",
                       ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
      if simple[e] then
        buf[#buf + 1] = simple[e]; pos = j + 2
      elseif e == "u" then
        local cp = tonumber(s:sub(j + 2, j + 5), 16)
        pos = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF and s:sub(pos, pos + 1) == "\\u" then
          local lo = tonumber(s:sub(pos + 2, pos + 5), 16)
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
          pos = pos + 6
        end
        buf[#buf + 1] = utf8.char(cp)
      else
        err("bad escape")
      end
    end
  end
  value = function()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then err("expected key") end
        local k = str()
        ws()
        if s:sub(pos, pos) ~= ":" then err("expected ':'") end
        pos = pos + 1
        t[k] = value()
        ws()
        c = s:sub(pos, pos); pos = pos + 1
        if c == "}" then return t end
        if c ~= "," then err("expected ',' or '}'") end
      end
    elseif c == "[" then
      local t = setmetatable({}, JARR)
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value()
        ws()
        c = s:sub(pos, pos); pos = pos + 1
        if c == "]" then return t end
        if c ~= "," then err("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    else
      local lit = s:match("^[%w%.%+%-]+", pos)
      if not lit then err("unexpected character") end
      pos = pos + #lit
      if lit == "true" then return true elseif lit == "false" then return false
      elseif lit == "null" then return nil end
      return tonumber(lit) or err("bad literal")
    end
  end
  local v = value()
  ws()
  if pos <= #s then err("trailing garbage") end
  return v
end

---------------------------------------------------------------------------
-- Value normalisation, the way toml-test compares
---------------------------------------------------------------------------

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Datetimes compare as instants (offset applied), fractions by value;
-- ' ' / 't' / 'z' are accepted like 'T' / 'Z'.
local function norm_datetime(kind, text)
  local s = text:gsub("[ t]", "T"):gsub("z", "Z")
  local y, mo, d, rest, secs
  if kind ~= "time-local" then
    y, mo, d, rest = s:match("^(%d+)%-(%d+)%-(%d+)(.*)$")
    if not y then return "bad:" .. text end
    secs = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    if kind == "date-local" then
      return rest == "" and tostring(secs) or "bad:" .. text
    end
    rest = rest:match("^T(.*)$")
    if not rest then return "bad:" .. text end
  else
    rest, secs = s, 0
  end
  local h, mi, sc, tail = rest:match("^(%d%d):(%d%d):(%d%d)(.*)$")
  if not h then return "bad:" .. text end
  secs = secs + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sc)
  local frac = tail:match("^%.(%d+)")
  if frac then tail = tail:sub(#frac + 2) end
  frac = (frac or ""):sub(1, 9):gsub("0+$", "")
  if kind == "datetime" then
    if tail == "Z" then
      -- UTC
    else
      local sg, oh, om = tail:match("^([+-])(%d%d):(%d%d)$")
      if not sg then return "bad:" .. text end
      local off = (tonumber(oh) * 60 + tonumber(om)) * 60
      secs = secs - (sg == "-" and -off or off)
    end
  elseif tail ~= "" then
    return "bad:" .. text
  end
  return format("%d.%s", secs, frac)
end

local function norm_float(x)
  if x ~= x then return "nan" end
  if x == math.huge then return "+inf" elseif x == -math.huge then return "-inf" end
  return format("%.17g", x)
end

-- Normal form of a tagged JSON scalar {"type": T, "value": S}.
local function norm_tagged(tag)
  local t, s = tag.type, tag.value
  if t == "integer" then
    return "integer:" .. tostring(math.tointeger(tonumber(s)) or ("bad " .. s))
  elseif t == "float" then
    local l = s:lower()
    if l == "nan" or l == "+nan" or l == "-nan" then return "float:nan" end
    if l == "inf" or l == "+inf" then return "float:+inf" end
    if l == "-inf" then return "float:-inf" end
    local x = tonumber(s:find("[.eEn]") and s or s .. ".0")
    return "float:" .. (x and norm_float(x) or ("bad " .. s))
  elseif t == "datetime" or t == "datetime-local" or t == "date-local"
      or t == "time-local" then
    return t .. ":" .. norm_datetime(t, s)
  end
  return t .. ":" .. s
end

-- Normal form of a decoded scalar.
local function norm_value(v)
  local t = toml.type_of(v)
  if t == "integer" then return "integer:" .. format("%d", v)
  elseif t == "float" then return "float:" .. norm_float(v)
  elseif t == "bool" then return "bool:" .. tostring(v)
  elseif t == "string" then return "string:" .. v
  elseif t then return t .. ":" .. norm_datetime(t, v.text)
  end
  return "unknown:" .. tostring(v)
end

local function is_tag(e)
  if type(e) ~= "table" or getmetatable(e) == JARR then return false end
  local n = 0
  for _ in pairs(e) do n = n + 1 end
  return n == 2 and type(e.type) == "string" and type(e.value) == "string"
end

local function show(s)
  return (s:gsub("[%c\128-\255]", function(c) return format("\\x%02X", c:byte()) end))
end

-- Compare expected tagged JSON `e` with `g`: a decoded value, or (when
-- `g_json` is true) another tagged JSON tree.  Returns nil or a message.
local function compare(e, g, g_json, path)
  path = path or "$"
  if is_tag(e) then
    local ge
    if g_json then
      if not is_tag(g) then return path .. ": expected a tagged scalar" end
      ge = norm_tagged(g)
    else
      if toml.type_of(g) == "table" or toml.type_of(g) == "array" then
        return path .. ": expected a scalar, got " .. toml.type_of(g)
      end
      ge = norm_value(g)
    end
    local ee = norm_tagged(e)
    if ee ~= ge then
      return format("%s: expected %s, got %s", path, show(ee), show(ge))
    end
    return nil
  end
  if getmetatable(e) == JARR then
    local isarr
    if g_json then isarr = type(g) == "table" and getmetatable(g) == JARR
    else isarr = toml.is_array(g) end
    if not isarr then return path .. ": expected an array" end
    if #e ~= #g then return format("%s: expected %d elements, got %d", path, #e, #g) end
    for i = 1, #e do
      local m = compare(e[i], g[i], g_json, path .. "[" .. i .. "]")
      if m then return m end
    end
    return nil
  end
  local istab
  if g_json then istab = type(g) == "table" and getmetatable(g) ~= JARR and not is_tag(g)
  else istab = toml.type_of(g) == "table" end
  if not istab then return path .. ": expected a table" end
  for k, ev in pairs(e) do
    if g[k] == nil then return format("%s: missing key %q", path, k) end
    local m = compare(ev, g[k], g_json, path .. "." .. k)
    if m then return m end
  end
  for k in pairs(g) do
    if e[k] == nil then return format("%s: unexpected key %q", path, k) end
  end
  return nil
end

---------------------------------------------------------------------------
-- TAP plumbing
---------------------------------------------------------------------------

local tests = {}
local function test(name, fn) tests[#tests + 1] = { name = name, fn = fn } end

local function run()
  print("1.." .. #tests)
  local failed = 0
  for i, t in ipairs(tests) do
    local ok, res = pcall(t.fn)
    if ok and res == nil then
      print(format("ok %d - %s", i, t.name))
    else
      failed = failed + 1
      print(format("not ok %d - %s", i, t.name))
      local why = ok and tostring(res) or ("raised: " .. tostring(res))
      for line in (why .. "\n"):gmatch("(.-)\n") do print("#   " .. line) end
    end
  end
  if failed > 0 then
    print(format("# failed %d of %d", failed, #tests))
  end
  os.exit(failed == 0 and 0 or 1)
end

local ERRFMT = "^%d+:%d+: [^\n]+$"

---------------------------------------------------------------------------
-- Conformance suite
---------------------------------------------------------------------------

local list = readfile(suite .. "/files")
if not list then
  print("1..0 # SKIP toml-test suite not found at ../shared/conformance/toml-test")
  os.exit(0)
end

local cases = {}
for line in list:gmatch("[^\r\n]+") do
  if line:match("%.toml$") then cases[#cases + 1] = line end
end

for _, rel in ipairs(cases) do
  local path = suite .. "/" .. rel
  if rel:match("^valid/") then
    test(rel, function()
      local text = readfile(path)
      if not text then return "cannot read " .. rel end
      local v, err = toml.decode(text)
      if v == nil then return "decode failed: " .. tostring(err) end
      local js = readfile((path:gsub("%.toml$", ".json")))
      if not js then return "missing expected .json" end
      return compare(json_decode(js), v, false)
    end)
  elseif rel:match("^invalid/") then
    test(rel, function()
      local text = readfile(path)
      if not text then return "cannot read " .. rel end
      local v, err = toml.decode(text)
      if v ~= nil then return "accepted invalid input" end
      if type(err) ~= "string" or not err:match(ERRFMT) then
        return "bad error message: " .. tostring(err)
      end
    end)
  end
end

---------------------------------------------------------------------------
-- Focused unit cases
---------------------------------------------------------------------------

local function expect_error(name, text, pattern)
  test(name, function()
    local v, err = toml.decode(text)
    if v ~= nil then return "accepted: " .. show(text) end
    if not err:match(ERRFMT) then return "bad error shape: " .. err end
    if not err:match(pattern) then
      return format("error %q does not match %q", err, pattern)
    end
  end)
end

expect_error("error: duplicate key on line 3",
  "a = 1\nb = 2\na = 3\n", '^3:1: duplicate key "a"$')
expect_error("error: duplicate key column counts characters",
  "[t]\nx = 1\n# é\n  \"é\" = 1\n  'é' = 2\n", '^5:3: duplicate key "é"$')
expect_error("error: duplicate dotted key",
  "[t]\nx.y = 1\nz = 0; x.y = 2\n", "^3:6: ")
expect_error("error: unterminated basic string",
  'a = 1\nb = "abc\nc = 2\n', "^2:5: unterminated string$")
expect_error("error: unterminated multi-line string",
  'a = """abc\n\n', "^1:5: unterminated multi%-line string$")
expect_error("error: integer overflow",
  "x = 1\nn = 9223372036854775808\n", "^2:5: integer 9223372036854775808 is out of range")
expect_error("error: negative integer overflow",
  "n = -9_223_372_036_854_775_809", "^1:5: integer .* out of range")
expect_error("error: hex integer overflow",
  "n = 0x8000000000000000", "^1:5: integer .* out of range")
expect_error("error: binary integer overflow",
  "n = 0b" .. string.rep("1", 64), "^1:5: integer .* out of range")
expect_error("error: float overflow",
  "x = 1\nf = 1e400\n", "^2:5: float 1e400 is out of range")
expect_error("error: negative float overflow",
  "f = -1.5e3_08_0", "^1:5: float .* out of range")
expect_error("error: invalid UTF-8 position",
  "a = 1\nb = \"x\255\"\n", "^2:7: invalid UTF%-8$")
expect_error("error: bare CR",
  "a = 1\rb = 2\n", "^1:6: bare carriage return")
expect_error("error: table defined twice",
  "[a]\nx = 1\n\n[a]\n", '^4:2: table "a" is defined twice$')
expect_error("error: inline table is immutable",
  "a = {b = 1}\n[a.c]\n", '^2:2: cannot define table "a%.c": "a" is an inline table$')
expect_error("error: missing value at end of file", "key =", "^1:6: expected a value")

test("integer range limits are accepted", function()
  local v, err = toml.decode(
    "max = 9223372036854775807\nmin = -9223372036854775808\n" ..
    "hex = 0x7FFF_FFFF_FFFF_FFFF\noct = 0o777777777777777777777\n" ..
    "bin = 0b" .. string.rep("1", 63) .. "\n")
  if not v then return err end
  if v.max ~= math.maxinteger or v.min ~= math.mininteger
      or v.hex ~= math.maxinteger or v.oct ~= math.maxinteger
      or v.bin ~= math.maxinteger then
    return "wrong values"
  end
  if math.type(v.max) ~= "integer" then return "not an integer" end
end)

test("bad input never raises; misuse does", function()
  local inputs = { "", "[", "[[", "a=", "a={", 'a="\\u', "a=[1,", "\255", "[a]\n[a]",
    "a = 1979-02-29", "t = 24:00:00", "x = {a=1,}", string.rep("[", 5000) }
  for _, s in ipairs(inputs) do
    local ok, v, err = pcall(toml.decode, s)
    if not ok then return "raised on " .. show(s) .. ": " .. tostring(v) end
    if s ~= "" and (v ~= nil or not err:match(ERRFMT)) then
      return "bad result for " .. show(s) .. ": " .. tostring(err)
    end
  end
  if pcall(toml.decode, 42) then return "non-string argument did not raise" end
end)

test("representation: arrays, tables, datetimes", function()
  local v = assert(toml.decode(
    "e = []\nt = {}\nd = 1979-05-27 07:32:00.5-07:00\nl = 2000-02-29\nf = 1e3\n"))
  if not toml.is_array(v.e) or toml.type_of(v.e) ~= "array" then return "[] not an array" end
  if toml.is_array(v.t) or toml.type_of(v.t) ~= "table" then return "{} not a table" end
  if toml.type_of(v.d) ~= "datetime" or v.d.text ~= "1979-05-27T07:32:00.5-07:00"
      or v.d.offset ~= -420 or v.d.nanosecond ~= 500000000 or v.d.hour ~= 7 then
    return "bad datetime " .. tostring(v.d)
  end
  if toml.type_of(v.l) ~= "date-local" or v.l.day ~= 29 then return "bad date" end
  if math.type(v.f) ~= "float" or v.f ~= 1000 then return "bad float" end
end)

test("positions option maps keys to lines", function()
  local v, pos = toml.decode(
    "# policy\nname = \"x\"\n\n[caps]\nallow = [\n  \"a\",\n  \"b\",\n]\n" ..
    "[[rule]]\npath = \"/\"\n[[rule]]\npath = \"/tmp\"\n", { positions = true })
  if not v then return pos end
  if pos[v].name ~= 2 or pos[v].caps ~= 4 or pos[v.caps].allow ~= 5 then
    return "wrong key lines"
  end
  if pos[v.caps.allow][2] ~= 7 then return "wrong array element line" end
  if pos[v.rule][2] ~= 11 or pos[v.rule[2]].path ~= 12 then return "wrong [[rule]] lines" end
end)

test("a 50-line policy decodes (its speed is measured in tests/bench, not here)", function()
  local lines = { "# capability policy", "version = 1", "name = \"web\"", "" }
  lines[#lines + 1] = "[capabilities]"
  lines[#lines + 1] = 'keep = ["CAP_NET_BIND_SERVICE", "CAP_CHOWN", "CAP_SETUID"]'
  lines[#lines + 1] = "drop_all = true"
  for i = 1, 10 do
    lines[#lines + 1] = ""
    lines[#lines + 1] = "[[landlock.rule]]"
    lines[#lines + 1] = format('path = "/srv/data/%d"', i)
    lines[#lines + 1] = 'access = ["read_file", "read_dir", "write_file"]'
  end
  while #lines < 50 do lines[#lines + 1] = format("limit_%d = %d # comment", #lines, #lines) end
  local v, err = toml.decode(table.concat(lines, "\n") .. "\n")
  if not v then return err end
  if #v.landlock.rule ~= 10 or v.capabilities.keep[1] ~= "CAP_NET_BIND_SERVICE" then
    return "wrong structure"
  end
end)

---------------------------------------------------------------------------
-- End to end through tests/toml-decoder
---------------------------------------------------------------------------

local decoder = here .. "/../toml-decoder"

local function run_decoder(tomlpath)
  local out = os.tmpname()
  local errf = os.tmpname()
  local cmd = format("%s < %s > %s 2> %s", shquote(decoder), shquote(tomlpath),
    shquote(out), shquote(errf))
  local ok, how, code = os.execute(cmd)
  local o, e = readfile(out) or "", readfile(errf) or ""
  os.remove(out); os.remove(errf)
  if how ~= "exit" then code = -1 end
  return (ok and 0 or code), o, e
end

local e2e_valid = { "valid/example.toml", "valid/spec-example-1.toml",
  "valid/array/array.toml", "valid/float/inf-and-nan.toml",
  "valid/datetime/milliseconds.toml", "valid/string/escape-tricky.toml",
  "valid/inline-table/key-dotted-01.toml", "valid/table/array-nest.toml",
  "valid/array/empty.toml" }
local e2e_invalid = { "invalid/table/duplicate-key-01.toml",
  "invalid/integer/leading-zero-01.toml", "invalid/control/bare-cr.toml",
  "invalid/encoding/bad-utf8-in-multiline.toml" }

local have = {}
for _, c in ipairs(cases) do have[c] = true end

for _, rel in ipairs(e2e_valid) do
  if have[rel] then
    test("decoder e2e: " .. rel, function()
      local path = suite .. "/" .. rel
      local code, out, err = run_decoder(path)
      if code ~= 0 then return format("exit %s: %s", tostring(code), err) end
      local ok, got = pcall(json_decode, out)
      if not ok then return "output is not JSON: " .. got end
      return compare(json_decode(readfile((path:gsub("%.toml$", ".json")))), got, true)
    end)
  end
end
for _, rel in ipairs(e2e_invalid) do
  if have[rel] then
    test("decoder e2e: " .. rel, function()
      local code, out, err = run_decoder(suite .. "/" .. rel)
      if code ~= 1 then return format("exit %s, want 1", tostring(code)) end
      if out ~= "" then return "unexpected stdout" end
      if not err:match("^%d+:%d+: [^\n]+\n$") then return "bad stderr: " .. err end
    end)
  end
end

run()

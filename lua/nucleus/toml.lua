-- nucleus.toml: a strict TOML 1.0.0 decoder in pure Lua 5.4.
--
--   local toml = require "nucleus.toml"
--   local value, err = toml.decode(text [, opts])
--
-- On success `value` is the root table.  On invalid input the result is
-- `nil, "LINE:COL: what is wrong"` (one line; LINE and COL are 1-based,
-- COL counts characters).  Bad input never raises; passing something that
-- is not a string does.
--
-- Representation of TOML values:
--   string         Lua string
--   integer        Lua integer (math.type "integer"), full signed 64-bit range
--   float          Lua float (inf/nan included)
--   boolean        Lua boolean
--   table          plain Lua table
--   array          Lua sequence whose metatable is M.array_mt (see M.is_array)
--   date/time      table with metatable M.datetime_mt:
--                    { kind = "datetime" | "datetime-local" | "date-local"
--                             | "time-local",
--                      text = canonical RFC 3339 text ('T' separator,
--                             upper-case 'Z', fraction as written),
--                      year, month, day,          (absent for time-local)
--                      hour, minute, second,      (absent for date-local)
--                      fraction = "digits" or nil,
--                      nanosecond = integer (fraction truncated to 9 digits),
--                      offset = minutes east of UTC (datetime only; 0 = Z) }
--   M.type_of(v) returns the toml-test type name of any decoded value.
--
-- opts.positions = true makes decode return a second table `pos` with
-- pos[container][key] = line number where that key (or array element) was
-- defined; for tables introduced by a [header] it is the header's line.

local M = {}

local byte, sub, find, match, gsub, char, format, rep =
  string.byte, string.sub, string.find, string.match, string.gsub,
  string.char, string.format, string.rep
local concat = table.concat
local utf8_char, utf8_len = utf8.char, utf8.len
local mtype = math.type
local setmetatable, getmetatable, type, tonumber, tostring, pcall, error, select =
  setmetatable, getmetatable, type, tonumber, tostring, pcall, error, select

local array_mt = { __name = "nucleus.toml.array" }
M.array_mt = array_mt

local datetime_mt = {
  __name = "nucleus.toml.datetime",
  __tostring = function(d) return d.text end,
  __eq = function(a, b) return a.kind == b.kind and a.text == b.text end,
}
M.datetime_mt = datetime_mt

function M.is_array(v)
  return type(v) == "table" and getmetatable(v) == array_mt
end

function M.is_datetime(v)
  return type(v) == "table" and getmetatable(v) == datetime_mt
end

-- Returns "string", "integer", "float", "bool", "datetime",
-- "datetime-local", "date-local", "time-local", "array", "table" (or nil for
-- values that cannot come out of the decoder).
function M.type_of(v)
  local t = type(v)
  if t == "string" then return "string"
  elseif t == "boolean" then return "bool"
  elseif t == "number" then
    return mtype(v) == "integer" and "integer" or "float"
  elseif t == "table" then
    local mt = getmetatable(v)
    if mt == array_mt then return "array"
    elseif mt == datetime_mt then return v.kind end
    return "table"
  end
  return nil
end

-- Make an empty array (for callers building values by hand).
function M.new_array(t)
  return setmetatable(t or {}, array_mt)
end

---------------------------------------------------------------------------
-- Parser state.  Only meaningful during one M.decode call; decode never
-- yields, so module-level upvalues are safe and fast.
---------------------------------------------------------------------------

local src        -- the (normalised) document text
local len        -- #src
local pos        -- current byte index into src
local tkind      -- table/array -> "implicit"|"defined"|"dotted"|"aot"
local tsect      -- dotted table -> id of the section/inline table that made it
local nsect      -- section id counter
local depth      -- nesting depth of arrays / inline tables
local posmap     -- positions output (or nil)
local linestarts -- lazily built line start offsets (positions only)

local MAX_DEPTH = 400

local ERR = {}  -- metatable marking our own error objects

local function fail(p, msg, ...)
  if select("#", ...) > 0 then msg = format(msg, ...) end
  error(setmetatable({ pos = p, msg = msg }, ERR), 0)
end

-- Line and column (characters) of byte offset p in text.
local function linecol(text, p)
  local line, ls, i = 1, 1, 1
  while true do
    local j = find(text, "\n", i, true)
    if not j or j >= p then break end
    line, ls, i = line + 1, j + 1, j + 1
  end
  local col = p - ls
  if p - 1 >= ls then col = utf8_len(text, ls, p - 1) or col end
  return line, col + 1
end

local function errat(text, p, msg)
  if mtype(p) ~= "integer" then p = 1 end
  if p > #text + 1 then p = #text + 1 end
  local line, col = linecol(text, p)
  msg = gsub(msg, "[\r\n]", " ")
  return format("%d:%d: %s", line, col, msg)
end

local function line_of(p)
  local ls = linestarts
  if not ls then
    ls = { 1 }
    local i, n = 1, 1
    while true do
      local j = find(src, "\n", i, true)
      if not j then break end
      n = n + 1; ls[n] = j + 1; i = j + 1
    end
    linestarts = ls
  end
  local lo, hi = 1, #ls
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    if ls[mid] <= p then lo = mid else hi = mid - 1 end
  end
  return lo
end

local function record(container, key, p)
  local m = posmap[container]
  if not m then m = {}; posmap[container] = m end
  m[key] = line_of(p)
end

-- Human-readable description of what is at byte offset p.
local function describe(p)
  local c = byte(src, p)
  if not c then return "end of file" end
  if c == 10 then return "newline" end
  if c == 39 then return [["'"]] end
  if c < 128 then return "'" .. char(c) .. "'" end
  return "'" .. (match(src, "^[\192-\247][\128-\191]*", p) or "?") .. "'"
end

local function quote(s)
  return '"' .. gsub(s, '[%c"\\]', function(c)
    return format("\\u%04X", byte(c))
  end) .. '"'
end

-- Key path for messages: "a.b" when all parts are bare keys, otherwise
-- the TOML spelling with the non-bare parts quoted (a."b c").
local function keypath(keys, n)
  if type(keys) == "string" then keys = { keys } end
  local parts, bare = {}, true
  for i = 1, n do
    local k = keys[i]
    if find(k, "^[A-Za-z0-9_-]+$") then
      parts[i] = k
    else
      parts[i], bare = quote(k), false
    end
  end
  local s = concat(parts, ".")
  return bare and '"' .. s .. '"' or s
end

local function what(v)
  local t = M.type_of(v)
  if t == "table" then
    local k = tkind[v]
    if k == nil then return "an inline table" end
    return "a table"
  elseif t == "array" then
    if tkind[v] == "aot" then return "an array of tables" end
    return "a static array"
  elseif t == "integer" then return "an integer"
  end
  return "a " .. t
end

-- Skip spaces and tabs; returns the byte now at pos.
local function skip_ws()
  local c = byte(src, pos)
  if c == 32 or c == 9 then
    local _, e = find(src, "^[ \t]*", pos)
    pos = e + 1
    c = byte(src, pos)
  end
  return c
end

-- Skip whitespace, newlines and comments (inside arrays); returns the byte
-- now at pos.
local function skip_ws_nl()
  local c = byte(src, pos)
  while c == 32 or c == 10 or c == 35 or c == 9 do
    if c == 35 then
      pos = find(src, "\n", pos, true) or len + 1
    else
      local _, e = find(src, "^[ \t\n]*", pos)
      pos = e + 1
    end
    c = byte(src, pos)
  end
  return c
end

---------------------------------------------------------------------------
-- Strings
---------------------------------------------------------------------------

local ESC = {
  [98] = "\b", [116] = "\t", [110] = "\n", [102] = "\f", [114] = "\r",
  [34] = '"', [92] = "\\",
}

-- j: index of a backslash.  Returns the decoded text and the next index.
local function parse_escape(j)
  local e = byte(src, j + 1)
  local s = ESC[e]
  if s then return s, j + 2 end
  if e == 117 or e == 85 then -- u U
    local n = e == 117 and 4 or 8
    local hex = match(src, "^%x+", j + 2)
    if not hex or #hex < n then
      fail(j, "invalid escape: \\%s needs %d hex digits", char(e), n)
    end
    hex = sub(hex, 1, n)
    local cp = tonumber(hex, 16)
    if cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then
      fail(j, "invalid escape \\%s%s: not a Unicode scalar value", char(e), hex)
    end
    return utf8_char(cp), j + 2 + n
  end
  if e == nil or e == 10 then fail(j, "invalid escape: backslash at end of line") end
  fail(j, "invalid escape sequence \\%s", e < 128 and char(e) or describe(j + 1))
end

local function parse_basic_string()
  local start = pos
  local i = pos + 1
  local buf, nb
  while true do
    local j = find(src, '[\n"\\]', i)
    if not j or byte(src, j) == 10 then
      fail(start, "unterminated string")
    end
    if byte(src, j) == 34 then
      pos = j + 1
      if not buf then return sub(src, i, j - 1) end
      nb = nb + 1; buf[nb] = sub(src, i, j - 1)
      return concat(buf, "", 1, nb)
    end
    if not buf then buf, nb = {}, 0 end
    nb = nb + 1; buf[nb] = sub(src, i, j - 1)
    local s
    s, i = parse_escape(j)
    nb = nb + 1; buf[nb] = s
  end
end

local function parse_literal_string()
  local j = find(src, "['\n]", pos + 1)
  if not j or byte(src, j) == 10 then fail(pos, "unterminated literal string") end
  local s = sub(src, pos + 1, j - 1)
  pos = j + 1
  return s
end

local function parse_ml_basic_string()
  local start = pos
  local i = pos + 3
  if byte(src, i) == 10 then i = i + 1 end
  local k = i
  local buf, nb = {}, 0
  while true do
    local j = find(src, '["\\]', k)
    if not j then fail(start, "unterminated multi-line string") end
    if byte(src, j) == 34 then
      local _, e = find(src, '^"+', j)
      local q = e - j + 1
      if q >= 3 then
        if q > 5 then fail(j + 5, "too many quotes at end of multi-line string") end
        nb = nb + 1; buf[nb] = sub(src, i, e - 3)
        pos = e + 1
        return concat(buf, "", 1, nb)
      end
      k = e + 1
    else
      nb = nb + 1; buf[nb] = sub(src, i, j - 1)
      local _, e = find(src, "^[ \t]*\n", j + 1)
      if e then -- line-ending backslash: trim all following whitespace
        _, e = find(src, "^[ \t\n]*", e + 1)
        i = e + 1
      else
        local s
        s, i = parse_escape(j)
        nb = nb + 1; buf[nb] = s
      end
      k = i
    end
  end
end

local function parse_ml_literal_string()
  local start = pos
  local i = pos + 3
  if byte(src, i) == 10 then i = i + 1 end
  local j = find(src, "'''", i, true)
  if not j then fail(start, "unterminated multi-line literal string") end
  local _, e = find(src, "^'+", j)
  if e - j + 1 > 5 then fail(j + 5, "too many quotes at end of multi-line literal string") end
  pos = e + 1
  return sub(src, i, e - 3)
end

---------------------------------------------------------------------------
-- Keys
---------------------------------------------------------------------------

local function parse_simple_key()
  local c = byte(src, pos)
  if c == 34 then
    if byte(src, pos + 1) == 34 and byte(src, pos + 2) == 34 then
      fail(pos, "multi-line strings cannot be used as keys")
    end
    return parse_basic_string()
  elseif c == 39 then
    if byte(src, pos + 1) == 39 and byte(src, pos + 2) == 39 then
      fail(pos, "multi-line strings cannot be used as keys")
    end
    return parse_literal_string()
  end
  local _, e = find(src, "^[A-Za-z0-9_-]+", pos)
  if not e then
    if c == nil or c == 10 or c == 61 or c == 46 or c == 93 or c == 35 then
      fail(pos, "expected a key, found %s", describe(pos))
    end
    fail(pos, "invalid character %s in key (bare keys may only contain A-Z a-z 0-9 _ -)",
      describe(pos))
  end
  local k = sub(src, pos, e)
  pos = e + 1
  return k
end

-- Dotted key; leaves pos after trailing whitespace.  Returns keys, kpos, n:
-- the key parts and their offsets, or for the common undotted case (n == 1)
-- the key string and its offset themselves (saves two tables per line).
local function parse_key()
  local p1 = pos
  local k1 = parse_simple_key()
  if skip_ws() ~= 46 then return k1, p1, 1 end
  local keys, kpos, n = { k1 }, { p1 }, 1
  repeat
    pos = pos + 1
    skip_ws()
    n = n + 1
    kpos[n] = pos
    keys[n] = parse_simple_key()
  until skip_ws() ~= 46
  return keys, kpos, n
end

---------------------------------------------------------------------------
-- Scalars: numbers, booleans, dates and times
---------------------------------------------------------------------------

local function bad_underscores(s)
  return byte(s, 1) == 95 or byte(s, -1) == 95 or find(s, "__", 1, true)
end

local MDAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function check_date(y, mo, d, start, tok)
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 then fail(start, "invalid month in date %s", tok) end
  local maxd = MDAYS[mo]
  if mo == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then maxd = 29 end
  if d < 1 or d > maxd then fail(start, "invalid day of month in date %s", tok) end
  return y, mo, d
end

local function parse_time(t, dt, start, tok)
  local h, mi, s, rest = match(t, "^(%d%d):(%d%d):(%d%d)(.*)$")
  if not h then fail(start, "invalid time in %s (expected HH:MM:SS)", tok) end
  h, mi, s = tonumber(h), tonumber(mi), tonumber(s)
  if h > 23 then fail(start, "invalid hour in %s", tok) end
  if mi > 59 then fail(start, "invalid minute in %s", tok) end
  if s > 60 then fail(start, "invalid second in %s", tok) end
  dt.hour, dt.minute, dt.second = h, mi, s
  local frac = match(rest, "^%.(%d+)")
  if frac then
    rest = sub(rest, #frac + 2)
    dt.fraction = frac
    local ns = sub(frac, 1, 9)
    dt.nanosecond = tonumber(ns .. rep("0", 9 - #ns))
  elseif byte(rest, 1) == 46 then
    fail(start, "missing digits after '.' in time %s", tok)
  else
    dt.nanosecond = 0
  end
  return sub(t, 1, #t - #rest), rest
end

local function parse_datetime(tok, start)
  local dt = {}
  local y, mo, d, rest = match(tok, "^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then fail(start, "invalid date %s (expected YYYY-MM-DD)", tok) end
  dt.year, dt.month, dt.day = check_date(y, mo, d, start, tok)
  local date = y .. "-" .. mo .. "-" .. d
  if rest == "" then
    dt.kind, dt.text = "date-local", date
    return setmetatable(dt, datetime_mt)
  end
  local sep = byte(rest, 1)
  if sep ~= 84 and sep ~= 116 then
    fail(start, "invalid date-time %s", tok)
  end
  local time, off = parse_time(sub(rest, 2), dt, start, tok)
  if off == "" then
    dt.kind, dt.text = "datetime-local", date .. "T" .. time
  elseif off == "Z" or off == "z" then
    dt.kind, dt.text, dt.offset = "datetime", date .. "T" .. time .. "Z", 0
  else
    local sg, oh, om = match(off, "^([+-])(%d%d):(%d%d)$")
    if not sg then fail(start, "invalid time zone offset in %s", tok) end
    oh, om = tonumber(oh), tonumber(om)
    if oh > 23 or om > 59 then fail(start, "invalid time zone offset in %s", tok) end
    dt.kind, dt.text = "datetime", date .. "T" .. time .. off
    dt.offset = (sg == "-" and -1 or 1) * (oh * 60 + om)
  end
  return setmetatable(dt, datetime_mt)
end

local INT_RADIX = {
  x = { 16, "^[0-9A-Fa-f_]+$", "hexadecimal", 16, 55 },  -- 55 = '7'
  o = { 8, "^[0-7_]+$", "octal", 21, 55 },
  b = { 2, "^[01_]+$", "binary", 63, 49 },
}

local function parse_number(tok, start)
  local sign, body = "", tok
  local c = byte(tok, 1)
  if c == 43 or c == 45 then sign, body = sub(tok, 1, 1), sub(tok, 2) end
  if body == "inf" then return sign == "-" and -math.huge or math.huge end
  if body == "nan" then return 0.0 / 0.0 end
  if byte(body, 1) == 48 then
    local r = INT_RADIX[sub(body, 2, 2)]
    if r then
      local digits = sub(body, 3)
      if sign ~= "" then fail(start, "sign not allowed on %s integer %s", r[3], tok) end
      if not find(digits, r[2]) then fail(start, "invalid %s integer %s", r[3], tok) end
      if bad_underscores(digits) then
        fail(start, "invalid underscore in %s (underscores must be between digits)", tok)
      end
      digits = match(gsub(digits, "_", ""), "^0*(.*)$")
      if digits == "" then return 0 end
      if #digits > r[4] or (#digits == r[4] and byte(digits, 1) > r[5]) then
        fail(start, "integer %s is out of range (must fit in 64 bits)", tok)
      end
      return tonumber(digits, r[1])
    end
  end
  local ip, rest = match(body, "^([0-9_]+)(.*)$")
  if not ip then fail(start, "invalid value %s", tok) end
  if bad_underscores(ip) then
    fail(start, "invalid underscore in %s (underscores must be between digits)", tok)
  end
  local ipc = gsub(ip, "_", "")
  if #ipc > 1 and byte(ipc, 1) == 48 then
    fail(start, "leading zeros are not allowed in %s", tok)
  end
  if rest == "" then
    local v = tonumber(sign .. ipc)
    if mtype(v) ~= "integer" then
      fail(start, "integer %s is out of range (must fit in 64 bits)", tok)
    end
    return v
  end
  -- float
  local fp = "0"
  if byte(rest, 1) == 46 then
    local f
    f, rest = match(rest, "^%.([0-9_]+)(.*)$")
    if not f then fail(start, "invalid float %s (digits required after '.')", tok) end
    if bad_underscores(f) then
      fail(start, "invalid underscore in %s (underscores must be between digits)", tok)
    end
    fp = gsub(f, "_", "")
  end
  local ex = "0"
  if rest ~= "" then
    local es, ed = match(rest, "^[eE]([+-]?)([0-9_]+)$")
    if not es then fail(start, "invalid value %s", tok) end
    if bad_underscores(ed) then
      fail(start, "invalid underscore in %s (underscores must be between digits)", tok)
    end
    ex = es .. gsub(ed, "_", "")
  end
  local v = tonumber(sign .. ipc .. "." .. fp .. "e" .. ex)
  if v == math.huge or v == -math.huge then
    fail(start, "float %s is out of range (must fit in a 64-bit double; write inf for infinity)", tok)
  end
  return v
end

local function parse_bare_value()
  local start = pos
  local _, e = find(src, "^[0-9A-Za-z_:.+-]+", pos)
  if not e then fail(pos, "expected a value, found %s", describe(pos)) end
  local tok = sub(src, pos, e)
  pos = e + 1
  if e - start < 18 and find(tok, "^[+-]?[1-9]%d*$") then
    return tonumber(tok) -- fast path: plain decimal integer that cannot overflow
  end
  if tok == "true" then return true elseif tok == "false" then return false end
  if find(tok, "^%d%d%d%d%-") then
    -- "YYYY-MM-DD HH:MM:SS...": a space may separate date and time
    if #tok == 10 and byte(src, pos) == 32 and find(src, "^%d%d:", pos + 1) then
      local _, e2 = find(src, "^[0-9A-Za-z_:.+-]+", pos + 1)
      tok = tok .. "T" .. sub(src, pos + 1, e2)
      pos = e2 + 1
    end
    return parse_datetime(tok, start)
  end
  if find(tok, "^%d%d:") then
    local dt = { kind = "time-local" }
    local text, rest = parse_time(tok, dt, start, tok)
    if rest ~= "" then fail(start, "invalid local time %s", tok) end
    dt.text = text
    return setmetatable(dt, datetime_mt)
  end
  return parse_number(tok, start)
end

---------------------------------------------------------------------------
-- Compound values and key/value pairs
---------------------------------------------------------------------------

local parse_value

local function parse_keyval(t, sect)
  local keys, kpos, n = parse_key()
  if byte(src, pos) ~= 61 then
    fail(pos, "expected '=' after key %s, found %s", keypath(keys, n), describe(pos))
  end
  pos = pos + 1
  skip_ws()
  for i = 1, n - 1 do
    local k = keys[i]
    local v = t[k]
    if v == nil then
      v = {}
      t[k] = v
      tkind[v], tsect[v] = "dotted", sect
      if posmap then record(t, k, kpos[i]) end
    else
      local kd = type(v) == "table" and getmetatable(v) == nil and tkind[v]
      if kd == "implicit" then
        tkind[v], tsect[v] = "dotted", sect
      elseif not (kd == "dotted" and tsect[v] == sect) then
        if kd == "defined" then
          fail(kpos[i], "cannot use dotted key %s: table %s was already defined by a [table] header",
            keypath(keys, n), keypath(keys, i))
        elseif kd then
          fail(kpos[i], "cannot use dotted key %s: table %s was defined in another section",
            keypath(keys, n), keypath(keys, i))
        end
        fail(kpos[i], "cannot use dotted key %s: %s is already defined as %s",
          keypath(keys, n), keypath(keys, i), what(v))
      end
    end
    t = v
  end
  local k, kp = keys, kpos
  if n > 1 then k, kp = keys[n], kpos[n] end
  if t[k] ~= nil then
    fail(kp, "duplicate key %s", keypath(keys, n))
  end
  t[k] = parse_value()
  if posmap then record(t, k, kp) end
end

local function parse_array()
  local start = pos
  depth = depth + 1
  if depth > MAX_DEPTH then fail(pos, "arrays/inline tables nested too deeply") end
  pos = pos + 1
  local arr = setmetatable({}, array_mt)
  local n = 0
  while true do
    local c = skip_ws_nl()
    if c == 93 then break end
    if c == nil then fail(start, "unterminated array") end
    if c == 44 then fail(pos, "expected a value in array, found ','") end
    n = n + 1
    local vp = pos
    arr[n] = parse_value()
    if posmap then record(arr, n, vp) end
    c = skip_ws_nl()
    if c == 44 then
      pos = pos + 1
    elseif c == 93 then
      break
    elseif c == nil then
      fail(start, "unterminated array")
    else
      fail(pos, "expected ',' or ']' after array element, found %s", describe(pos))
    end
  end
  pos = pos + 1
  depth = depth - 1
  return arr
end

local function parse_inline_table()
  local start = pos
  depth = depth + 1
  if depth > MAX_DEPTH then fail(pos, "arrays/inline tables nested too deeply") end
  pos = pos + 1
  nsect = nsect + 1
  local id = nsect
  local t = {}
  skip_ws()
  if byte(src, pos) == 125 then
    pos = pos + 1
    depth = depth - 1
    return t
  end
  while true do
    local c = byte(src, pos)
    if c == nil then fail(start, "unterminated inline table") end
    if c == 10 then fail(pos, "newlines are not allowed inside inline tables") end
    if c == 44 then fail(pos, "expected a key in inline table, found ','") end
    if c == 125 then fail(pos, "trailing comma is not allowed in inline tables") end
    parse_keyval(t, id)
    c = skip_ws()
    if c == 44 then
      pos = pos + 1
      skip_ws()
    elseif c == 125 then
      break
    elseif c == nil then
      fail(start, "unterminated inline table")
    elseif c == 10 then
      fail(pos, "newlines are not allowed inside inline tables")
    else
      fail(pos, "expected ',' or '}' in inline table, found %s", describe(pos))
    end
  end
  pos = pos + 1
  depth = depth - 1
  return t
end

parse_value = function()
  local c = byte(src, pos)
  if c == 34 then
    if byte(src, pos + 1) == 34 and byte(src, pos + 2) == 34 then
      return parse_ml_basic_string()
    end
    return parse_basic_string()
  elseif c == 39 then
    if byte(src, pos + 1) == 39 and byte(src, pos + 2) == 39 then
      return parse_ml_literal_string()
    end
    return parse_literal_string()
  elseif c == 91 then
    return parse_array()
  elseif c == 123 then
    return parse_inline_table()
  end
  return parse_bare_value()
end

---------------------------------------------------------------------------
-- Table headers and the document
---------------------------------------------------------------------------

local function parse_header(root)
  local aot = byte(src, pos + 1) == 91
  pos = pos + (aot and 2 or 1)
  skip_ws()
  local keys, kpos, n = parse_key()
  if aot then
    if byte(src, pos) ~= 93 or byte(src, pos + 1) ~= 93 then
      fail(pos, "expected ']]' to close array-of-tables header, found %s", describe(pos))
    end
    pos = pos + 2
  else
    if byte(src, pos) ~= 93 then
      fail(pos, "expected ']' to close table header, found %s", describe(pos))
    end
    pos = pos + 1
  end
  local t = root
  for i = 1, n - 1 do
    local k = keys[i]
    local v = t[k]
    if v == nil then
      v = {}
      t[k] = v
      tkind[v] = "implicit"
      if posmap then record(t, k, kpos[i]) end
    else
      local kd = type(v) == "table" and tkind[v]
      if kd == "aot" then
        v = v[#v]
      elseif not kd then
        fail(kpos[i], "cannot define table %s: %s is %s", keypath(keys, n),
          keypath(keys, i), what(v))
      end
    end
    t = v
  end
  local k, kp = keys, kpos
  if n > 1 then k, kp = keys[n], kpos[n] end
  local v = t[k]
  if aot then
    if v == nil then
      v = setmetatable({}, array_mt)
      tkind[v] = "aot"
      t[k] = v
      if posmap then record(t, k, kp) end
    elseif tkind[v] ~= "aot" then
      fail(kp, "cannot define array of tables %s: key is already %s",
        keypath(keys, n), what(v))
    end
    local nt = {}
    tkind[nt] = "defined"
    local idx = #v + 1
    v[idx] = nt
    if posmap then record(v, idx, kp) end
    return nt
  end
  if v == nil then
    v = {}
    t[k] = v
    tkind[v] = "defined"
    if posmap then record(t, k, kp) end
    return v
  end
  local kd = type(v) == "table" and tkind[v]
  if kd == "implicit" then
    tkind[v] = "defined"
    if posmap then record(t, k, kp) end
    return v
  elseif kd == "defined" then
    fail(kp, "table %s is defined twice", keypath(keys, n))
  elseif kd == "dotted" then
    fail(kp, "table %s was already defined by dotted keys", keypath(keys, n))
  end
  fail(kp, "cannot define table %s: key is already %s", keypath(keys, n), what(v))
end

local function parse_document()
  local root = {}
  local cur, cur_sect = root, 0
  while true do
    local c = skip_ws()
    if c == nil then break end
    if c == 10 then
      pos = pos + 1
    elseif c == 35 then
      pos = find(src, "\n", pos, true) or len + 1
    else
      local after
      if c == 91 then
        cur = parse_header(root)
        nsect = nsect + 1
        cur_sect = nsect
        after = "table header"
      else
        parse_keyval(cur, cur_sect)
        after = "value"
      end
      c = skip_ws()
      if c == 35 then
        pos = find(src, "\n", pos, true) or len + 1
        c = byte(src, pos)
      end
      if c ~= nil and c ~= 10 then
        fail(pos, "expected end of line after %s, found %s", after, describe(pos))
      end
    end
  end
  return root
end

---------------------------------------------------------------------------
-- Entry point
---------------------------------------------------------------------------

function M.decode(text, opts)
  if type(text) ~= "string" then
    error("nucleus.toml.decode: expected a string, got " .. type(text), 2)
  end
  if byte(text, 1) == 0xEF and sub(text, 1, 3) == "\239\187\191" then
    text = sub(text, 4)
  end
  local ok, bad = utf8_len(text)
  if not ok then return nil, errat(text, bad, "invalid UTF-8") end
  local _, cc = find(text, "^[\32-\126\n\128-\255\t\r]*")
  if cc < #text then
    cc = cc + 1
    return nil, errat(text, cc, format("control character U+%04X is not allowed", byte(text, cc)))
  end
  if find(text, "\r", 1, true) then
    local p = find(text, "\r[^\n]") or (byte(text, -1) == 13 and #text)
    if p then
      return nil, errat(text, p, "bare carriage return (CR) is not allowed")
    end
    text = gsub(text, "\r\n", "\n")
  end

  src, len, pos = text, #text, 1
  tkind, tsect, nsect, depth = {}, {}, 0, 0
  posmap = (opts and opts.positions) and {} or nil
  linestarts = nil
  local okp, res = pcall(parse_document)
  local pm = posmap
  local p = pos
  src, tkind, tsect, posmap, linestarts = nil, nil, nil, nil, nil
  if okp then
    if pm then return res, pm end
    return res
  end
  if getmetatable(res) == ERR then
    return nil, errat(text, res.pos, res.msg)
  end
  return nil, errat(text, p or 1, "internal error: " .. tostring(res))
end

return M

--- nucleus.validate: checks of user input shared by the modes.  Each
-- returns the cleaned value, or nil and a one-line reason naming the input.
local M = {}

--- Hostname: RFC 1123 labels, at most 64 bytes (the kernel's limit).
function M.hostname(h)
  if #h == 0 or #h > 64 then
    return nil, ("invalid hostname %q: must be 1 to 64 characters"):format(h)
  end
  for label in (h .. "."):gmatch("([^.]*)%.") do
    if #label == 0 or #label > 63 then
      return nil, ("invalid hostname %q: empty or over-long label"):format(h)
    end
    if not label:match("^[A-Za-z0-9]") or not label:match("[A-Za-z0-9]$")
        or label:match("[^A-Za-z0-9-]") then
      return nil, ("invalid hostname %q: labels are letters, digits and inner '-'"):format(h)
    end
  end
  return h
end

--- Container name.
function M.name(n)
  if not n:match("^[A-Za-z0-9][A-Za-z0-9_.-]*$") or #n > 128 then
    return nil, ("invalid name %q: 1 to 128 of [A-Za-z0-9_.-], starting with a letter or digit"):format(n)
  end
  return n
end

--- KEY=VALUE (or KEY alone, taken from lookup(KEY)).  Returns key, value.
function M.env(s, lookup)
  local k, v = s:match("^([^=]*)=(.*)$")
  if not k then k = s end
  if k == "" or k:match("[%s%z]") then
    return nil, ("invalid environment variable %q: expected KEY=VALUE with a non-empty KEY"):format(s)
  end
  if not v then
    v = lookup and lookup(k)
    if v == nil then return false end -- KEY alone and unset: skipped, as docker does
  end
  return k, v
end

--- Absolute container path without "..": returns it with "." components
-- and repeated slashes removed.
function M.container_path(p, what)
  if p:sub(1, 1) ~= "/" then return nil, ("%s %q: must be an absolute path"):format(what, p) end
  local parts = {}
  for c in p:gmatch("[^/]+") do
    if c == ".." then return nil, ("%s %q: must not contain '..'"):format(what, p) end
    if c ~= "." then parts[#parts + 1] = c end
  end
  return "/" .. table.concat(parts, "/")
end

--- A size: an integer or a decimal with an optional K/M/G/T suffix
-- (powers of 1024) and B.  Returns bytes or nil, message naming what.
function M.size(s, what)
  local num, unit = tostring(s):match("^(%d+%.?%d*)([KkMmGgTt]?)[Bb]?$")
  if not num then
    return nil, ("invalid %s %q: a size such as 512M, 1.5G or 1048576"):format(what, tostring(s))
  end
  local mult = ({ [""] = 1, k = 1 << 10, m = 1 << 20, g = 1 << 30, t = 1 << 40 })[unit:lower()]
  local v = tonumber(num) * 1.0 * mult
  if v >= 2 ^ 62 then return nil, ("invalid %s %q: too large"):format(what, tostring(s)) end
  v = math.floor(v)
  if v <= 0 then return nil, ("invalid %s %q: must be above zero"):format(what, tostring(s)) end
  return math.tointeger(v)
end

--- An rlimit value: a non-negative integer, or "unlimited" (or -1).
function M.limit(s)
  if s == "unlimited" or s == "-1" then return math.maxinteger end
  local n = s:match("^%d+$")
  if n then
    local v = math.tointeger(tonumber(n))
    if v then return v end
  end
  return nil
end

return M

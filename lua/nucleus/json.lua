--- nucleus.json: a small deterministic JSON encoder (sorted keys), for
-- --dry-run and golden plan tests.  Decoding is lua-cjson's job.
local M = {}

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function str(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

--- The metatable of a list that is one when empty too: json.array(t)
-- encodes as [] then (any other empty table is {}).
M.ARRAY = {}
function M.array(t) return setmetatable(t, M.ARRAY) end

local function encode(v, indent, depth, out)
  local t = type(v)
  if t == "table" then
    local n = #v
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    local pad = indent and ("\n" .. indent:rep(depth + 1)) or ""
    local close = indent and ("\n" .. indent:rep(depth)) or ""
    if n > 0 and #keys == n then
      out[#out + 1] = "["
      for i = 1, n do
        out[#out + 1] = (i > 1 and "," or "") .. pad
        encode(v[i], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "]"
    elseif #keys == 0 then
      out[#out + 1] = getmetatable(v) == M.ARRAY and "[]" or "{}"
    else
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        out[#out + 1] = (i > 1 and "," or "") .. pad .. str(tostring(k)) .. (indent and ": " or ":")
        encode(v[k], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "}"
    end
  elseif t == "string" then
    out[#out + 1] = str(v)
  elseif t == "number" then
    out[#out + 1] = math.type(v) == "integer" and tostring(v) or ("%.17g"):format(v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif v == nil then
    out[#out + 1] = "null"
  else
    error("json: cannot encode a " .. t)
  end
end

--- Decode with lua-cjson, giving integral numbers back as integers (cjson
-- reads every number as a float).  Returns value or nil, message, and
-- fails on integers a double cannot hold exactly (above 2^53).
function M.decode(text)
  local v, err = require("cjson.safe").decode(text)
  if v == nil then return nil, err end
  local bad
  local function ints(t)
    for k, x in pairs(t) do
      if type(x) == "table" then ints(x)
      elseif math.type(x) == "float" and x == math.floor(x) then
        local i = math.tointeger(x)
        if not i or math.abs(x) > 2 ^ 53 then bad = bad or x else t[k] = i end
      end
    end
  end
  if type(v) == "table" then ints(v) end
  if bad then return nil, ("number %.17g is not an integer JSON can carry exactly (at most 2^53)"):format(bad) end
  return v
end

function M.encode(v, indent)
  local out = {}
  encode(v, indent, 0, out)
  return table.concat(out)
end

return M

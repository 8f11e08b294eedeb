--- nucleus.args: GNU-style command-line parsing driven by the option tables
-- of nucleus.options.
--
-- Why not lua-argparse: loading it and building a parser costs a large
-- part of a whole container start (docs/design-measurements.md); this
-- parser costs next to nothing and knows
-- the one thing we need beyond it: options stop at the first operand, so
-- `nucleus run ls -la` runs `ls -la`, as docker does.
--
-- Accepted: --long VALUE, --long=VALUE, -s VALUE, -sVALUE, bundled short
-- flags (-ab), repeated list options, "--" ending the options.
local M = {}

local function flag_name(o) return "--" .. o.name:gsub("_", "-") end

-- The spec entry of a flag ("--name-with-dashes" or "-s"), or nil.  A
-- linear search per argument given: cheaper than indexing every option of
-- `run` for the two or three a command line has.
local function find(spec, flag)
  if flag:sub(1, 2) == "--" then
    if flag:find("_", 3, true) then return nil end
    local name = flag:sub(3):gsub("-", "_")
    for _, o in ipairs(spec) do
      if o.name == name then return o end
    end
  else
    local short = flag:sub(2)
    for _, o in ipairs(spec) do
      if o.short == short then return o end
    end
  end
  return nil
end

local function suggest(spec, word)
  local best, bestd
  for _, o in ipairs(spec) do
    local k = flag_name(o)
    -- common-prefix length as a cheap similarity
    local n = 0
    while n < #k and n < #word and k:byte(n + 1) == word:byte(n + 1) do n = n + 1 end
    if n > 3 and (not bestd or n > bestd) then best, bestd = k, n end
  end
  return best and (" (did you mean %s?)"):format(best) or ""
end

--- Parse args[first..] against spec.
-- Returns values (by option name, plus .operands), or nil, message.
-- stop_at_operand: the first operand and everything after it are operands.
function M.parse(spec, args, first, stop_at_operand)
  local v = { operands = {} }
  local i = first or 1

  local function store(o, value, shown)
    if o.kind == "flag" then
      if value ~= nil then return ("option %s takes no value"):format(shown) end
      v[o.name] = true
      return
    end
    if o.kind == "choice" then
      local okc = false
      for _, c in ipairs(o.choices) do if c == value then okc = true end end
      if not okc then
        return ("option %s: %q is not one of %s"):format(shown, value, table.concat(o.choices, ", "))
      end
    end
    if o.kind == "list" then
      local l = v[o.name] or {}
      l[#l + 1] = value
      v[o.name] = l
    else
      v[o.name] = value
    end
  end

  -- Stores an option's value, taking the next argument when none was
  -- attached ("--name=value", "-nvalue").
  local function take(o, value, name)
    if value == nil then
      i = i + 1
      value = args[i]
      if value == nil then return ("option %s needs a value"):format(name) end
    end
    return store(o, value, name)
  end

  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i + 1, #args do v.operands[#v.operands + 1] = args[j] end
      break
    elseif a:sub(1, 2) == "--" and #a > 2 then
      local name, value = a:match("^(%-%-[^=]+)=(.*)$")
      name = name or a
      local o = find(spec, name)
      if not o then return nil, ("unknown option '%s'%s"):format(name, suggest(spec, name)) end
      local err
      if o.kind == "flag" then err = store(o, value, name) else err = take(o, value, name) end
      if err then return nil, err end
    elseif a:sub(1, 1) == "-" and #a > 1 then
      -- short options, possibly bundled; a value may be attached
      local j = 2
      while j <= #a do
        local name = "-" .. a:sub(j, j)
        local o = find(spec, name)
        if not o then return nil, ("unknown option '%s'"):format(name) end
        if o.kind == "flag" then
          store(o, nil, name)
          j = j + 1
        else
          local value = a:sub(j + 1)
          local err = take(o, value ~= "" and value or nil, name)
          if err then return nil, err end
          break
        end
      end
    else
      if stop_at_operand then
        for j = i, #args do v.operands[#v.operands + 1] = args[j] end
        break
      end
      v.operands[#v.operands + 1] = a
    end
    i = i + 1
  end
  for _, o in ipairs(spec) do
    if v[o.name] == nil then
      if o.kind == "list" then v[o.name] = {}
      elseif o.kind == "flag" then v[o.name] = false
      else v[o.name] = o.default end
    end
  end
  return v
end

--- Help text for a command: usage, description, one line per option.
function M.help(usage, description, spec)
  local lines = { usage, "", description, "", "Options:" }
  local rows, width = {}, 0
  for _, o in ipairs(spec) do
    local left = (o.short and ("-" .. o.short .. ", ") or "    ") .. flag_name(o)
    if o.kind ~= "flag" then
      left = left .. " " .. (o.meta or (o.choices and table.concat(o.choices, "|")) or "VALUE")
    end
    rows[#rows + 1] = { left, o.help .. (o.default and (" (default: " .. o.default .. ")") or "") }
    if #left > width then width = #left end
  end
  for _, r in ipairs(rows) do
    lines[#lines + 1] = ("  %-" .. width .. "s  %s"):format(r[1], r[2])
  end
  return table.concat(lines, "\n") .. "\n"
end

return M

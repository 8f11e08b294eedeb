--- tap.lua: a minimal TAP producer for Lua tests.
local M = { n = 0, failed = 0 }

local function result(okv, name, diag)
  M.n = M.n + 1
  io.write(okv and "ok " or "not ok ", M.n, " - ", name, "\n")
  if not okv then
    M.failed = M.failed + 1
    if diag then io.write((("# " .. diag):gsub("\n", "\n# ")), "\n") end
  end
  io.flush()
  return okv
end

function M.ok(v, name, diag) return result(not not v, name, diag) end

function M.is(got, want, name)
  return result(got == want, name, ("got:  %s\nwant: %s"):format(tostring(got), tostring(want)))
end

function M.like(got, pat, name)
  return result(type(got) == "string" and got:find(pat) ~= nil, name,
    ("got: %s\nexpected to match: %s"):format(tostring(got), pat))
end

--- n tests skipped, with the reason printed.
function M.skip(reason, n)
  for _ = 1, n or 1 do
    M.n = M.n + 1
    io.write("ok ", M.n, " # SKIP ", reason, "\n")
  end
end

function M.skip_all(reason)
  io.write("1..0 # SKIP ", reason, "\n")
  os.exit(0)
end

function M.done()
  io.write("1..", M.n, "\n")
  os.exit(M.failed == 0 and 0 or 1)
end

--- The tree's Lua modules (lua/, build/lua/) and core.so (build/lib/)
-- first on package.path and package.cpath.  Returns the repository root,
-- found from this file's location.
function M.tree()
  local src = debug.getinfo(1, "S").source:sub(2)
  local root = (src:match("^(.*)/[^/]+$") or ".") .. "/../.." -- tests/lib/..
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/build/lua/?.lua;"
    .. package.path
  package.cpath = root .. "/build/lib/?.so;" .. package.cpath
  return root
end

return M

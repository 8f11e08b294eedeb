-- mktree.lua DIR N [SIZE] - a tree of N small files (SIZE bytes, default 256),
-- 100 per directory: DIR/d0000/f00.txt ...  Used as a context by the benchmarks.
local dir, n, size = arg[1], tonumber(arg[2]), tonumber(arg[3] or 256)
assert(dir and n, "usage: mktree.lua DIR N [SIZE]")
local line = ("0123456789abcdef"):rep(math.ceil(size / 16)):sub(1, size - 1) .. "\n"
assert(os.execute("mkdir -p '" .. dir .. "'"))
local made = {}
for i = 0, n - 1 do
  local d = ("%s/d%04d"):format(dir, i // 100)
  if not made[d] then
    assert(os.execute("mkdir -p '" .. d .. "'"))
    made[d] = true
  end
  local f = assert(io.open(("%s/f%02d.txt"):format(d, i % 100), "w"))
  f:write(line)
  f:close()
end

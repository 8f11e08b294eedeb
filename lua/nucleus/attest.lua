--- nucleus.attest: tree manifests (rootfs attestation, context integrity)
-- and the kernel lockdown assertion.
--
-- Manifest format (version 1), text, one entry per line, every line ending
-- in "\n":
--
--   nucleus-manifest 1
--   <kind> <mode> <hash> <path>
--
--   kind  f (regular file), d (directory), l (symlink)
--   mode  the permission bits, 4 octal digits (lstat st_mode & 07777)
--   hash  f: SHA-256 of the content; l: SHA-256 of the target string (the
--         link is never followed, so a loop is harmless and a retargeted
--         link is a change); d: "-"
--   path  relative to the tree, "/"-separated, with every byte outside
--         printable ASCII (0x21-0x7e) and "%" written as %XX (upper-case
--         hex): a name with spaces, newlines or odd bytes stays one field
--         of one line and cannot forge an entry
--
-- Entries are sorted by the encoded path, bytewise.  The tree's root itself
-- has no entry; uid, gid, times and hard links are not recorded.  Other
-- file types (devices, fifos, sockets) are an error naming the path.  The
-- manifest file, .nucleus-rootfs-sha256 at the top of the tree, is left
-- out of the walk; nesting deeper than 256 directories is an error.
--
-- Paths in error messages are encoded the same way, so every message is
-- one line whatever the names.
--
-- The manifest lives inside the tree it describes, so on its own it only
-- catches a tree changed without rewriting it consistently: the SHA-256
-- of the manifest (what M.attest returns) is the value to pin.
local core = require "nucleus.core"

local M = {}

M.MANIFEST = ".nucleus-rootfs-sha256"
M.HEADER = "nucleus-manifest 1"
M.MAX_DEPTH = 256
M.LOCKDOWN = "/sys/kernel/security/lockdown"
-- the most a manifest may hold: a line per entry of a tree of millions
M.MAX_MANIFEST = 256 << 20

local MODE_0444 = tonumber("444", 8)
local FILE_BITS = tonumber("777", 8)   -- what the copier keeps of a file's mode
local DIR_BITS = tonumber("1777", 8)   -- and of a directory's (mkdir drops setgid)

--- Percent-encode path bytes outside printable ASCII, and "%".
function M.encode(s)
  return (s:gsub("[^!-$&-~]", function(c) return ("%%%02X"):format(c:byte()) end))
end
local show = M.encode

-- Bytewise string order; Lua's < uses strcoll, which follows LC_COLLATE.
local function bytewise(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function sort_paths(list, key)
  local c = os.setlocale(nil, "collate")
  if c == "C" or c == "POSIX" then
    table.sort(list, function(a, b) return a[key] < b[key] end)
  else
    table.sort(list, function(a, b) return bytewise(a[key], b[key]) end)
  end
end
local function before(a, b)
  local c = os.setlocale(nil, "collate")
  if c == "C" or c == "POSIX" then return a < b end
  return bytewise(a, b)
end

-- "path: reason" from core's "path: strerror" messages
local function reason(err, path)
  err = tostring(err)
  if err:sub(1, #path + 2) == path .. ": " then return err:sub(#path + 3) end
  return err
end

local function ascii_lower(s) return (s:gsub("[A-Z]", function(c) return string.char(c:byte() + 32) end)) end

-- The context copier's exclusion rules (core/src/plan.c excluded()).
local function exclude_fn(ex)
  if ex == nil then return nil end
  if type(ex) == "function" then return ex end
  local names, inames = {}, {}
  for _, n in ipairs(ex.names or {}) do names[n] = true end
  for _, n in ipairs(ex.inames or {}) do inames[ascii_lower(n)] = true end
  return function(name)
    if names[name] or inames[ascii_lower(name)] then return true end
    for _, p in ipairs(ex.prefixes or {}) do if name:sub(1, #p) == p then return true end end
    for _, s in ipairs(ex.suffixes or {}) do if #name >= #s and name:sub(-#s) == s then return true end end
    local low = ascii_lower(name)
    for _, s in ipairs(ex.icontains or {}) do if low:find(ascii_lower(s), 1, true) then return true end end
    return false
  end
end

-- Does a symlink at rel pointing to target stay inside the tree?  Lexical,
-- absolute targets never do (core/src/plan.c link_stays_inside()).
local function link_stays_inside(rel, target)
  if target:sub(1, 1) == "/" then return false end
  local _, depth = rel:gsub("/", "")
  for part in target:gmatch("[^/]+") do
    if part == ".." then
      depth = depth - 1
      if depth < 0 then return false end
    elseif part ~= "." then
      depth = depth + 1
    end
  end
  return true
end

local OPTS = { exclude = true, copy = true, max_depth = true, base = true, top = true, check = true }

--- Options that make a manifest of a context tree match the manifest of
-- its copy in /context: the copier's exclusions (e.g. agent.CONTEXT_EXCLUDE)
-- and what it leaves out (special files, symlinks leading outside the tree,
-- setuid/setgid bits).
function M.copy_options(exclude)
  return { exclude = exclude, copy = true, max_depth = 128 }
end

--- The entries of the tree at dir: { kind=, mode=, hash=, path= (encoded) }
-- sorted by path, or nil, message.
-- opts (all optional): exclude = { names=, inames=, prefixes=, suffixes=,
-- icontains= } or function(name, rel) -> true to leave an entry out;
-- copy = true for the context copier's rules (see M.copy_options);
-- max_depth = levels of directories below dir (default 256);
-- base = the path to read the tree by (dir only names it in messages:
-- a /proc/self/fd/N of the directory resolved once);
-- top = the top level as already opened, instead of listing base: a list
-- of { name =, stat =, fd = } (nucleus.Fd of core.open_path(dir_fd, name),
-- read through, never by name again);
-- check = function(rel, stat) -> nil or why the entry is refused, for
-- every entry but symlinks.
function M.entries(dir, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTS[k] then return nil, ("tree manifest: unknown option %q"):format(tostring(k)) end
  end
  local max_depth = opts.max_depth or M.MAX_DEPTH
  local excluded = exclude_fn(opts.exclude)
  local copy, check = opts.copy, opts.check
  local base = opts.base or dir
  local st, err = core.lstat(base, true)
  if not st then return nil, ("%s: %s"):format(show(dir), reason(err, base)) end
  if st.type ~= "dir" then return nil, ("%s: not a directory"):format(show(dir)) end
  local out = {}
  local function named(r) return show(r == "" and dir or dir .. "/" .. r) end

  local walk
  -- one entry: p is the path to read it by (nil: through fd), e its lstat
  local function entry(p, fd, r, e, depth)
    local mode = e.mode
    if check and e.type ~= "link" then
      local why = check(r, e)
      if why then return nil, ("%s: %s"):format(named(r), why) end
    end
    if e.type == "dir" then
      out[#out + 1] = { kind = "d", mode = copy and mode & DIR_BITS or mode, hash = "-", path = show(r) }
      return walk(p or fd:path(), r, depth + 1)
    elseif e.type == "file" then
      local h, herr
      if p then h, herr = core.sha256_file(p) else h, herr = fd:sha256() end
      if not h then return nil, ("%s: %s"):format(named(r), reason(herr, p or "")) end
      out[#out + 1] = { kind = "f", mode = copy and mode & FILE_BITS or mode, hash = h, path = show(r) }
    elseif e.type == "link" then
      local target, rerr
      if p then target, rerr = core.readlink(p) else target, rerr = fd:readlink() end
      if not target then return nil, ("%s: %s"):format(named(r), reason(rerr, p or "")) end
      if not copy or link_stays_inside(r, target) then
        out[#out + 1] = { kind = "l", mode = mode, hash = core.sha256(target), path = show(r) }
      end
    elseif not copy then
      return nil, ("%s: a %s cannot be attested (only files, directories and symlinks)")
        :format(named(r), e.type == "char" and "character device" or e.type == "block"
          and "block device" or e.type)
    end
    return true
  end

  walk = function(abs, rel, depth)
    if depth > max_depth then
      return nil, ("%s: deeper than %d levels at %s"):format(show(dir), max_depth, show(rel))
    end
    local names, lerr = core.listdir(abs)
    if not names then return nil, ("%s: %s"):format(named(rel), reason(lerr, abs)) end
    for _, name in ipairs(names) do
      local r = rel == "" and name or rel .. "/" .. name
      if not (rel == "" and name == M.MANIFEST) and not (excluded and excluded(name, r)) then
        local p = abs .. "/" .. name
        local e, serr = core.lstat(p)
        if not e then return nil, ("%s: %s"):format(named(r), reason(serr, p)) end
        local ok, werr = entry(p, nil, r, e, depth)
        if not ok then return nil, werr end
      end
    end
    return true
  end

  local ok, werr
  if opts.top then
    if check then
      local why = check("", st)
      if why then return nil, ("%s: %s"):format(show(dir), why) end
    end
    ok = true
    for _, t in ipairs(opts.top) do
      if t.name ~= M.MANIFEST and not (excluded and excluded(t.name, t.name)) then
        ok, werr = entry(nil, t.fd, t.name, t.stat, 0)
        if not ok then break end
      end
    end
  else
    ok, werr = walk(base, "", 0)
  end
  if not ok then return nil, werr end
  sort_paths(out, "path")
  return out
end

local function render(entries)
  local out = { M.HEADER, "\n" }
  for _, e in ipairs(entries) do
    out[#out + 1] = ("%s %04o %s %s\n"):format(e.kind, e.mode, e.hash, e.path)
  end
  return table.concat(out)
end

--- The manifest text of the tree at dir, or nil, message (opts: M.entries).
function M.manifest(dir, opts)
  local entries, err = M.entries(dir, opts)
  if not entries then return nil, err end
  return render(entries)
end

--- SHA-256 of the manifest of the tree at dir (context integrity: taken of
-- the host tree before launch and of the copy after it).
function M.tree_hash(dir, opts)
  local text, err = M.manifest(dir, opts)
  if not text then return nil, err end
  return core.sha256(text)
end

--- Parse manifest text into entries, strictly.  Returns entries or nil,
-- message ("line N: ...").
function M.parse(text)
  if text:sub(1, #M.HEADER + 1) ~= M.HEADER .. "\n" then
    return nil, ("line 1: not a manifest (expected %q)"):format(M.HEADER)
  end
  if text:sub(-1) ~= "\n" then return nil, "the last line has no newline" end
  local out, n, prev = {}, 1, nil
  for l in text:sub(#M.HEADER + 2):gmatch("([^\n]*)\n") do
    n = n + 1
    local kind, mode, hash, path = l:match("^([fdl]) ([0-7][0-7][0-7][0-7]) (%S+) ([!-~]+)$")
    if not kind or (kind == "d") ~= (hash == "-") or (kind ~= "d" and not hash:match("^" .. ("%x"):rep(64) .. "$")) then
      return nil, ("line %d: malformed entry"):format(n)
    end
    if prev and not before(prev, path) then return nil, ("line %d: %s: out of order or repeated"):format(n, path) end
    prev = path
    out[#out + 1] = { kind = kind, mode = tonumber(mode, 8), hash = hash, path = path }
  end
  return out
end

local KIND = { f = "file", d = "directory", l = "symlink" }

-- The first difference between two sorted entry lists, as "path: what".
local function first_difference(want, got)
  local i, j = 1, 1
  while want[i] or got[j] do
    local a, b = want[i], got[j]
    if a and b and a.path == b.path then
      if a.kind ~= b.kind then
        return ("%s: type changed (%s -> %s)"):format(a.path, KIND[a.kind], KIND[b.kind])
      elseif a.hash ~= b.hash then
        return ("%s: modified (%s)"):format(a.path, a.kind == "l" and "symlink target" or "content")
      elseif a.mode ~= b.mode then
        return ("%s: modified (mode %04o -> %04o)"):format(a.path, a.mode, b.mode)
      end
      i, j = i + 1, j + 1
    elseif b and (not a or before(b.path, a.path)) then
      return ("%s: added (%s)"):format(b.path, KIND[b.kind])
    else
      return ("%s: removed (%s)"):format(a.path, KIND[a.kind])
    end
  end
  return nil
end

local function valid_pin(pin)
  local want = tostring(pin):lower():match("^%s*(%x+)%s*$")
  if not want or #want ~= 64 then return nil end
  return want
end

--- Write <dir>/.nucleus-rootfs-sha256 (atomically, mode 0444) and return
-- the SHA-256 of the manifest, the value to pin; or nil, message.
function M.attest(dir)
  local text, err = M.manifest(dir)
  if not text then return nil, err end
  local path = dir .. "/" .. M.MANIFEST
  local rnd = io.open("/dev/urandom", "rb")
  local bytes = rnd and rnd:read(16)
  if rnd then rnd:close() end
  if not bytes or #bytes ~= 16 then return nil, "rootfs attestation: cannot read /dev/urandom" end
  -- an unpredictable name, so nothing can be waiting there to be written
  -- through; created with mode 0444 by a shell (set -C refuses an existing
  -- name) as core has no chmod: no later chmod by name that could follow
  -- a swapped-in symlink
  local tmp = ("%s.%s.tmp"):format(path, (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
  local src = os.tmpname()
  local f, oerr = io.open(src, "wb")
  if not f then os.remove(src); return nil, ("rootfs attestation: %s"):format(oerr) end
  local wok, werr = f:write(text)
  f:close()
  if not wok then os.remove(src); return nil, ("rootfs attestation: %s: %s"):format(src, werr) end
  local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local sh = io.popen(("{ set -C; umask 0333; cat < %s > %s; } 2>&1"):format(q(src), q(tmp)), "r")
  local shout = sh and sh:read("a") or ""
  local ok = sh and sh:close()
  os.remove(src)
  if not ok or shout ~= "" then
    os.remove(tmp)
    local why = shout:match("([^:\n]+)%s*$") or "cannot create"
    return nil, ("%s: %s"):format(show(tmp), why:match("^%s*(.-)%s*$"))
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    return nil, ("%s: %s"):format(show(path), reason(rerr, tmp))
  end
  -- read back what is in place now
  local st = core.lstat(path)
  local got = core.read_regular(path, #text + 1, true)
  if not st or st.type ~= "file" or st.mode ~= MODE_0444 or got ~= text then
    return nil, ("%s: changed while being written"):format(show(path))
  end
  return core.sha256(text)
end

--- Check the tree at dir against its manifest; pin (hex, any case) is the
-- SHA-256 the manifest must have.  Returns true, manifest_sha256 or nil,
-- one line naming the manifest (bad pin) or the first differing path.
-- Without a pin only an inconsistent change is caught: a tree changed and
-- attested again passes.  opts: base, top and check of M.entries (the
-- manifest is read by base too).
function M.verify(dir, pin, opts)
  opts = opts or {}
  local base = opts.base or dir
  local shown = dir .. "/" .. M.MANIFEST
  local path = base .. "/" .. M.MANIFEST
  local want
  if pin ~= nil then
    want = valid_pin(pin)
    if not want then
      return nil, ("%s: the pin %q is not a SHA-256 (64 hex digits)"):format(show(shown), show(tostring(pin)))
    end
  end
  local d, derr = core.lstat(base, true)
  if not d then return nil, ("%s: %s"):format(show(dir), reason(derr, base)) end
  if d.type ~= "dir" then return nil, ("%s: not a directory"):format(show(dir)) end
  local st, err = core.lstat(path)
  if not st then return nil, ("%s: %s (attest the tree first)"):format(show(shown), reason(err, path)) end
  if st.type ~= "file" then return nil, ("%s: not a regular file"):format(show(shown)) end
  -- read without following a link and without blocking: what is there
  -- now may not be what lstat saw (a FIFO would hang an open, a device
  -- never end)
  local stored, oerr = core.read_regular(path, M.MAX_MANIFEST, true)
  if not stored then return nil, ("%s: %s"):format(show(shown), reason(oerr, path)) end
  local sum = core.sha256(stored)
  if want and want ~= sum then
    return nil, ("%s: SHA-256 mismatch: pinned %s, manifest has %s"):format(show(shown), want, sum)
  end
  local entries, merr = M.entries(dir, { base = opts.base, top = opts.top, check = opts.check })
  if not entries then return nil, merr end
  if render(entries) == stored then return true, sum end
  local old, perr = M.parse(stored)
  if not old then return nil, ("%s: %s"):format(show(shown), perr) end
  local diff = first_difference(old, entries)
  return nil, ("rootfs attestation %s: %s"):format(show(dir), diff or "the manifest does not match the tree")
end

local LEVEL = { none = 0, integrity = 1, confidentiality = 2 }

--- Require kernel lockdown at least `required` ("integrity" or
-- "confidentiality"; the latter satisfies the former).  path defaults to
-- /sys/kernel/security/lockdown ("none [integrity] confidentiality", the
-- bracketed mode is active).  Returns true, active mode or nil, message.
function M.lockdown(required, path)
  path = path or M.LOCKDOWN
  if required ~= "integrity" and required ~= "confidentiality" then
    return nil, ("kernel lockdown: %q is not one of integrity, confidentiality"):format(show(tostring(required)))
  end
  local f, err = io.open(path, "r")
  if not f then
    return nil, ("kernel lockdown cannot be determined: %s: %s"):format(path, reason(err, path))
  end
  local text = f:read("a")
  f:close()
  local active = text and text:match("%[(%l+)%]")
  if not active or not LEVEL[active] then
    return nil, ("kernel lockdown cannot be determined: %s: unexpected content \"%s\"")
      :format(path, ((text or ""):gsub("%s+$", ""):gsub("[^ -~]", function(c) return ("\\x%02x"):format(c:byte()) end)))
  end
  if LEVEL[active] < LEVEL[required] then
    return nil, ("kernel lockdown is %q, %s is required"):format(active, required)
  end
  return true, active
end

return M

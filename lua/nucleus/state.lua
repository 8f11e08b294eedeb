--- nucleus.state: container records on disk.
--
-- Layout under the state directory (/run/nucleus as root,
-- $XDG_RUNTIME_DIR/nucleus otherwise; --root or NUCLEUS_STATE_DIR win):
--   containers/<id>              the record: one line of JSON, then lines
--                                of JSON that update it (its exit): an
--                                append, never a new file (a new inode is
--                                the dear part of a record on a disk file
--                                system); a last line without its newline
--                                is still being written and not read
--   containers/<id>.audit.jsonl  production's audit log
--   names/<name> -> <id>         a symlink: creating it claims the name, so
--                                two runs cannot take the same name
--   tmp/<id>.<pid>.<start>       a record begun: made before the
--                                container's cgroup, as a hard link to
--                                tmp/.begun (a name, not a new inode: the
--                                record's own file is written while the
--                                container is set up), replaced by the
--                                record (<name>~ renamed over it), then
--                                renamed into containers/; swept, with
--                                that cgroup, when its creator is gone (a
--                                cgroup under a parent of the caller's
--                                choosing is named in a file put there)
-- A record says "running" only while its init process (pid + start time,
-- so a reused pid is never mistaken for it) is alive.
local core = require "nucleus.core"
local json = require "nucleus.json"

local M = {}

function M.default_dir()
  local d = os.getenv("NUCLEUS_STATE_DIR")
  if d and d ~= "" then return d end
  local ids = core.ids()
  if ids.euid == 0 then return "/run/nucleus" end
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  if xdg and xdg ~= "" then return xdg .. "/nucleus" end
  return ("/tmp/nucleus-%d"):format(ids.euid)
end

local function write_file(path, rec)
  local f, ferr = io.open(path, "w")
  if not f then return nil, ferr end
  local ok, werr = f:write(rec and json.encode(rec) .. "\n" or "")
  local cok, cerr = f:close()
  if not ok or not cok then return nil, werr or cerr end
  return true
end

--- Open (creating if needed) a state directory.  Returns st or nil, msg.
function M.open(dir)
  dir = dir or M.default_dir()
  local fresh = not core.lstat(dir .. "/tmp") -- else set up already
  local ok, err
  if fresh then
    ok, err = core.mkdir(dir, 448)
    if not ok then return nil, ("state directory %s"):format(err) end
  end
  local st = core.lstat(dir)
  local euid = core.ids().euid
  if not st or st.type ~= "dir" then return nil, ("state directory %s: not a directory"):format(dir) end
  if st.uid ~= euid or st.mode & 18 ~= 0 then
    return nil, ("state directory %s: must be owned by uid %d and not writable by others"):format(dir, euid)
  end
  for _, sub in ipairs(fresh and { "/containers", "/names", "/tmp" } or {}) do
    ok, err = core.mkdir(dir .. sub, 448)
    if not ok then return nil, ("state directory %s"):format(err) end
  end
  if fresh then write_file(dir .. "/tmp/.begun") end
  -- sweep records whose creator died before moving them into place, and
  -- the cgroups it made for them
  for _, e in ipairs(core.listdir(dir .. "/tmp") or {}) do
    local id, pid, start, part = e:match("^(%x+)%.(%d+)%.(%d+)(~?)$")
    if pid and core.proc_start(tonumber(pid)) ~= tonumber(start) then
      local f = dir .. "/tmp/" .. e
      local named = part == "" and M.decode(f)
      if part == "" then
        local cgroup = require "nucleus.cgroup"
        local path, auto = named and named.cgroup, named and named.cgroup_auto_parent
        if not path and euid == 0 and cgroup.mountpoint() then
          auto = cgroup.mountpoint() .. "/nucleus"
          path = auto .. "/" .. id
        end
        if path and core.lstat(path) then cgroup.remove(path, auto) end
      end
      os.remove(f)
    end
  end
  return { dir = dir }
end

--- This process's start time (the tmp/ names and records say whose they
-- are by pid and start time), read once per pid (a host may fork).
local self_pid, self_start
function M.self_start()
  local pid = core.ids().pid
  if pid ~= self_pid then self_pid, self_start = pid, core.proc_start(pid) or 0 end
  return self_start
end

--- Begin the record of container id: its name in tmp/, before anything
-- else of it exists.  Returns that path or nil, message.
function M.begin(st, id)
  local tmpf = ("%s/tmp/%s.%d.%d"):format(st.dir, id, core.ids().pid, M.self_start())
  local begun = st.dir .. "/tmp/.begun"
  local ok, err, code = core.link(begun, tmpf)
  if not ok and code == 2 then -- ENOENT: a state directory of an earlier nucleus
    write_file(begun)
    ok, err, code = core.link(begun, tmpf)
  end
  if not ok and code ~= 17 then -- EEXIST would be a name of ours: refused below
    ok, err = write_file(tmpf) -- EMLINK, a file system without hard links
  end
  if not ok then return nil, err end
  return tmpf
end

-- Put a file's text at path by a rename: the link tmp/.begun is replaced,
-- never written through.
local function replace_file(path, rec)
  local ok, err = write_file(path .. "~", rec)
  if ok then ok, err = os.rename(path .. "~", path) end
  if not ok then os.remove(path .. "~") end
  return ok, err
end

--- Name the cgroup of a record begun (one under a parent of the caller's
-- choosing, which the sweep would not find by the container's id).
function M.begun_cgroup(tmpf, path)
  return replace_file(tmpf, { cgroup = path })
end

--- A record begun and never written: remove it.
function M.abandon(tmpf)
  os.remove(tmpf)
end

local function cfile(st, id) return st.dir .. "/containers/" .. id end

--- The time as UTC, ISO 8601, computed from os.time(): glibc's gmtime
-- and strftime read /etc/localtime (tzset) first, a few system calls a
-- start does not need (days to a civil date: Howard Hinnant's algorithm).
function M.now(t)
  t = t or os.time()
  local days, secs = t // 86400, t % 86400
  local z = days + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return ("%04d-%02d-%02dT%02d:%02d:%02dZ"):format(y, m, d, secs // 3600, secs % 3600 // 60, secs % 60)
end

--- The id of the container that holds name, or nil.
function M.name_owner(st, name)
  local owner = core.readlink(st.dir .. "/names/" .. name)
  if owner and core.lstat(cfile(st, owner)) then return owner end
  return nil
end

--- Claim name for id; a link left by a record that no longer exists is
-- taken over.  Returns true or nil, msg.
function M.claim_name(st, name, id)
  local link = st.dir .. "/names/" .. name
  for _ = 1, 2 do
    local ok, _, code = core.symlink(id, link)
    if ok then return true end
    if code ~= 17 then return nil, ("cannot claim name %q"):format(name) end -- EEXIST
    local owner = M.name_owner(st, name)
    if owner then
      return nil, ("the name %q is already in use by container %s"):format(name, owner)
    end
    os.remove(link) -- stale: its container is gone
  end
  return nil, ("cannot claim name %q"):format(name)
end

--- Create the record of a new container in the file M.begin made (or a
-- new one): it appears in containers/ complete or not at all.
function M.create(st, rec, tmpf)
  if not tmpf then
    local err
    tmpf, err = M.begin(st, rec.id)
    if not tmpf then return nil, err end
  end
  local ok, err = replace_file(tmpf, rec)
  if ok then ok, err = os.rename(tmpf, cfile(st, rec.id)) end
  if not ok then
    M.abandon(tmpf)
    return nil, err
  end
  return true
end

--- Update a record: fields (set in rec too) appended as a line of their
-- own, in one O_APPEND write (the supervisor and `stop` may append at
-- once).  A record that `rm` removed meanwhile stays removed.
function M.update(st, rec, fields)
  for k, v in pairs(fields) do rec[k] = v end
  return core.append(cfile(st, rec.id), json.encode(fields) .. "\n")
end

--- Mark it exited.
function M.set_exited(st, rec, code, oom)
  return M.update(st, rec, { status = "exited", finished = M.now(), exit_code = code,
                             oom_killed = oom or nil })
end

--- A record file's fields: its first line, updated by each complete line
-- after it; nil when the first line is not a JSON object.
function M.decode(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local rec
  for line in (text or ""):gmatch("([^\n]*)\n") do
    local fields = json.decode(line)
    if type(fields) == "table" then
      if not rec then rec = fields else for k, v in pairs(fields) do rec[k] = v end end
    elseif not rec then
      return nil
    end
  end
  return rec
end

function M.read(st, id)
  if not id:match("^%x+$") then return nil end
  local rec = M.decode(cfile(st, id))
  if not rec or rec.id ~= id then return nil end
  return rec
end

--- The record's status, as of now: a "running" record whose init is gone
-- (its supervisor was killed, say) is "exited".
function M.status(rec)
  if rec.status == "running" or rec.status == "created" then
    if rec.pid and rec.pid_start and core.proc_start(rec.pid) == rec.pid_start then
      return "running"
    end
    if rec.status == "created" and rec.supervisor_pid
        and core.proc_start(rec.supervisor_pid) == rec.supervisor_start then
      return "created" -- still being set up
    end
    return "exited"
  end
  return rec.status
end

--- Every record, oldest first.
function M.list(st)
  local out = {}
  for _, id in ipairs(core.listdir(st.dir .. "/containers") or {}) do
    local rec = id:match("^%x+$") and M.read(st, id)
    if rec then out[#out + 1] = rec end
  end
  table.sort(out, function(a, b)
    if a.created ~= b.created then return (a.created or "") < (b.created or "") end
    return a.id < b.id
  end)
  return out
end

--- Resolve a reference: a full id, a name, or a unique id prefix.
function M.resolve(st, ref)
  if ref == "" then return nil, "empty container reference" end
  if ref:match("^%x+$") and #ref == 32 then
    local rec = M.read(st, ref)
    if rec then return rec end
  end
  local id = not ref:find("/", 1, true) and core.readlink(st.dir .. "/names/" .. ref)
  if id then
    local rec = M.read(st, id)
    if rec then return rec end
  end
  -- a record whose creator died before it linked the name
  for _, rec in ipairs(M.list(st)) do
    if rec.name == ref then return rec end
  end
  if ref:match("^%x+$") then
    local found = {}
    for _, cid in ipairs(core.listdir(st.dir .. "/containers") or {}) do
      if cid:sub(1, #ref) == ref and cid:match("^%x+$") then found[#found + 1] = cid end
    end
    if #found == 1 then
      local rec = M.read(st, found[1])
      if rec then return rec end
    elseif #found > 1 then
      table.sort(found)
      return nil, ("ambiguous container reference %q: matches %s"):format(ref, table.concat(found, ", "))
    end
  end
  return nil, ("no such container: %s"):format(ref)
end

--- Append one audit event (a JSON line) to the container's audit log,
-- next to its record: never into the workload's output.
function M.audit(st, id, event, fields)
  local rec = { event = event, time = M.now(), container = id }
  for k, v in pairs(fields or {}) do rec[k] = v end
  local line = json.encode(rec)
  local f = io.open(cfile(st, id) .. ".audit.jsonl", "a")
  if f then
    f:write(line, "\n")
    f:close()
  end
  -- and the journal, when there is one
  if core.lstat("/run/systemd/journal/socket") then
    core.journal_send {
      MESSAGE = ("nucleus %s %s"):format(event, id:sub(1, 12)), SYSLOG_IDENTIFIER = "nucleus",
      PRIORITY = event:match("fail") and "3" or "6", NUCLEUS_EVENT = event, CONTAINER_ID = id,
      NUCLEUS_JSON = line,
    }
  end
  return f ~= nil
end

--- Remove every trace of a record.
function M.remove(st, rec)
  if rec.name then
    local link = st.dir .. "/names/" .. rec.name
    if core.readlink(link) == rec.id then os.remove(link) end
  end
  os.remove(cfile(st, rec.id))
  os.remove(cfile(st, rec.id) .. ".audit.jsonl")
end

return M

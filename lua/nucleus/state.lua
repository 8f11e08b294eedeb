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
-- so a reused pid is never mistaken for it) is alive.  A record file that
-- cannot be used (cut short, garbage, fields of the wrong type, not a
-- regular file) is "corrupt": listed, refused by the verbs in one line,
-- removed by rm -f (M.read, M.remove), never followed or waited on.
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
        local path, auto
        if named then path, auto = M.safe_cgroup(id, named.cgroup, named.cgroup_auto_parent) end
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

--- The most a record file may hold (its command line, options and a few
-- update lines are far less): a bound on what a damaged one costs.
M.MAX_RECORD = 4 << 20

-- why read_regular refused a record file, in words
local function refused(err, code)
  if code == 40 then return "a symlink" end -- ELOOP: O_NOFOLLOW
  return (tostring(err):match("^.*: (not a regular file .*)$") or tostring(err):match("^.*: (larger than .*)$")
    or tostring(err):match("([^:]+)$"):gsub("^%s+", ""))
end

--- A record file's fields: its first line, updated by each complete line
-- after it that is a JSON object.  Returns rec, or nil and why it is no
-- record (nil, nil when there is no file at all) and what of its first
-- line could be decoded (a table or nil).  The file is read without
-- following a symlink or waiting on a FIFO; only a regular file is one.
function M.decode(path)
  local text, err, code = core.read_regular(path, M.MAX_RECORD, true)
  if not text then
    if code == 2 then return nil end -- ENOENT
    return nil, refused(err, code)
  end
  if text == "" then return nil, "empty" end
  local rec
  for line in text:gmatch("([^\n]*)\n") do
    local fields = json.decode(line)
    local object = type(fields) == "table" and rawget(fields, 1) == nil
    if not rec then
      if not object then return nil, "its first line is not a JSON object" end
      rec = fields
    elseif object then
      for k, v in pairs(fields) do rec[k] = v end
    end
  end
  if not rec then return nil, "no complete line: truncated, or no record" end
  return rec
end

-- A value made of strings, numbers, booleans and tables only (a JSON null
-- decodes to cjson.null, which nothing here can print or use).
local function plain(v, depth)
  local t = type(v)
  if t == "table" then
    if depth > 32 then return false end
    for k, x in pairs(v) do
      if type(k) ~= "string" and math.type(k) ~= "integer" then return false end
      if not plain(x, depth + 1) then return false end
    end
    return true
  end
  return t == "string" or t == "number" or t == "boolean"
end

local INTEGER = { "pid", "pid_start", "supervisor_pid", "supervisor_start", "exit_code" }
local STRING = { "status", "created", "started", "finished", "hostname", "cgroup", "cgroup_auto_parent",
                 "mode", "runtime", "network", "workdir", "error" }
local TABLE = { "command", "net", "user", "namespaces", "options" }

--- Why a decoded record of container id cannot be used as one (the verbs
-- format and act on its fields), or nil when it can.
function M.unusable(rec, id)
  if rec.id ~= id then return "its id is not its file's name" end
  if not plain(rec, 0) then return "a field is null or nested too deep" end
  if type(rec.status) ~= "string" then return "it has no status" end
  for _, k in ipairs(INTEGER) do
    if rec[k] ~= nil and math.type(rec[k]) ~= "integer" then return ("%s is not an integer"):format(k) end
  end
  for _, k in ipairs(STRING) do
    if rec[k] ~= nil and type(rec[k]) ~= "string" then return ("%s is not a string"):format(k) end
  end
  for _, k in ipairs(TABLE) do
    if rec[k] ~= nil and type(rec[k]) ~= "table" then return ("%s is not a table"):format(k) end
  end
  if rec.name ~= nil and not (type(rec.name) == "string" and require("nucleus.validate").name(rec.name)) then
    return "its name is not a container name"
  end
  for _, c in ipairs(rec.command or {}) do
    if type(c) ~= "string" then return "command is not a list of strings" end
  end
  if rec.net then
    if rec.net.publish ~= nil and type(rec.net.publish) ~= "table" then return "net.publish is not a list" end
    for _, p in ipairs(rec.net.publish or {}) do
      if type(p) ~= "table" or math.type(p.host_port) ~= "integer" or math.type(p.port) ~= "integer"
          or type(p.proto) ~= "string" or (p.host_ip ~= nil and type(p.host_ip) ~= "string") then
        return "net.publish holds a malformed port"
      end
    end
    for _, k in ipairs { "backend", "veth", "lease", "bridge" } do
      if rec.net[k] ~= nil and type(rec.net[k]) ~= "string" then return ("net.%s is not a string"):format(k) end
    end
  end
  return nil
end

--- The names (links under names/) that point at id.
function M.names_of(st, id)
  local out = {}
  for _, n in ipairs(core.listdir(st.dir .. "/names") or {}) do
    if core.readlink(st.dir .. "/names/" .. n) == id then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

--- The record of container id: rec; or, for a record file that exists but
-- cannot be used, a stand-in { id =, name =, names =, status = "corrupt",
-- corrupt = why, cgroup =, cgroup_auto_parent = } (the cgroup only if its
-- first line says one, and only one that state.safe_cgroup accepts);
-- nil when there is none.
function M.read(st, id)
  if type(id) ~= "string" or not id:match("^%x+$") then return nil end
  local rec, why = M.decode(cfile(st, id))
  if rec then why = M.unusable(rec, id) end
  if not why then return rec end -- a record, or none at all
  local names = M.names_of(st, id)
  local stub = { id = id, name = names[1], names = names, status = "corrupt", corrupt = why }
  if rec and type(rec.cgroup) == "string" then
    stub.cgroup, stub.cgroup_auto_parent = M.safe_cgroup(id, rec.cgroup, rec.cgroup_auto_parent)
  end
  return stub
end

--- The cgroup path (and auto parent) a record or a record begun names for
-- container id, if it is one nucleus could have made: <cgroup2 mount>/
-- .../<id>, without "", "." or ".." components, which is either gone or
-- a cgroup2 directory reached without a symlink; the auto parent only if
-- it is that cgroup's parent below the mount.  nil otherwise: what a
-- record says never makes rm touch anything outside the cgroup tree.
function M.safe_cgroup(id, path, auto)
  local mp = require("nucleus.cgroup").mountpoint()
  if not mp or type(path) ~= "string" or type(id) ~= "string" then return nil end
  if path:sub(1, #mp + 1) ~= mp .. "/" then return nil end
  local rest = path:sub(#mp + 2)
  for c in (rest .. "/"):gmatch("([^/]*)/") do
    if c == "" or c == "." or c == ".." then return nil end
  end
  if rest:match("[^/]+$") ~= id then return nil end
  if core.lstat(path) and (core.realpath(path) ~= path or not core.is_cgroup2(path)) then return nil end
  local parent = path:match("^(.*)/[^/]+$")
  return path, (auto == parent and parent ~= mp) and auto or nil
end

--- Is pid still the process that started at start (clock ticks since
-- boot, /proc/PID/stat field 22)?  A pid alone may have been reused.
function M.alive(pid, start)
  return math.type(pid) == "integer" and math.type(start) == "integer" and core.proc_start(pid) == start
end

--- The record's status, as of now: a "running" record whose init is gone
-- (its supervisor was killed, say) is "exited".
function M.status(rec)
  if rec.status == "running" or rec.status == "created" then
    if M.alive(rec.pid, rec.pid_start) then
      return "running"
    end
    if rec.status == "created" and M.alive(rec.supervisor_pid, rec.supervisor_start) then
      return "created" -- still being set up
    end
    return "exited"
  end
  return rec.status
end

--- Every record, oldest first; with_corrupt: and the stand-ins of those
-- that cannot be read (status "corrupt", see M.read).
function M.list(st, with_corrupt)
  local out = {}
  for _, id in ipairs(core.listdir(st.dir .. "/containers") or {}) do
    local rec = id:match("^%x+$") and M.read(st, id)
    if rec and (with_corrupt or not rec.corrupt) then out[#out + 1] = rec end
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
  -- a record whose creator died before it linked the name (its record
  -- says the name: never a corrupt one, whose name is only its link)
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

--- Remove every trace of a record (of a corrupt one too: its file, a
-- directory with what it holds or a symlink, never followed).  Its name's
-- link goes; with every_name (and for a corrupt record) each name that
-- links to it, whatever the record says.  Returns true or nil, message.
function M.remove(st, rec, every_name)
  if rec.name then
    local link = st.dir .. "/names/" .. rec.name
    if core.readlink(link) == rec.id then os.remove(link) end
  end
  if rec.corrupt or every_name then
    for _, n in ipairs(M.names_of(st, rec.id)) do os.remove(st.dir .. "/names/" .. n) end
  end
  if rec.corrupt then
    local ok, err = core.remove_tree(st.dir .. "/containers", rec.id)
    core.remove_tree(st.dir .. "/containers", rec.id .. ".audit.jsonl")
    if not ok then return nil, err end
    return true
  end
  os.remove(cfile(st, rec.id))
  os.remove(cfile(st, rec.id) .. ".audit.jsonl")
  return true
end

return M

#!/usr/bin/env lua5.4
-- nucleus.attest on real temporary trees (the real core, no privilege
-- needed): manifests, attestation, verification, kernel lockdown parsing.
local src = debug.getinfo(1, "S").source:sub(2)
package.path = (src:match("^(.*)/[^/]+$") or ".") .. "/../lib/?.lua;" .. package.path
local tap = require "tap"
local root = tap.tree()

local so = io.open(root .. "/build/lib/nucleus/core.so")
if not so then tap.skip_all("build/lib/nucleus/core.so not built (run make)") end
so:close()

local core = require "nucleus.core"
local attest = require "nucleus.attest"
local is_root = core.ids().euid == 0

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("command failed: " .. cmd, 2) end
end
local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end
local function read(path)
  local f = assert(io.open(path, "rb"))
  local d = f:read("a")
  f:close()
  return d
end
local function one_line(msg, name)
  tap.ok(type(msg) == "string" and not msg:find("\n"), name .. ": the message is one line", tostring(msg))
end

local mk = assert(io.popen("mktemp -d"))
local TMP = mk:read("l")
mk:close()
assert(TMP and TMP:match("^/"), "mktemp -d failed")

local n = 0
-- a fresh tree: a/f, a/g, a/b/ (empty), a/lnk -> f, top
local function tree()
  n = n + 1
  local d = ("%s/t%d"):format(TMP, n)
  sh(("mkdir -p %s/a/b && chmod 0755 %s/a %s/a/b"):format(q(d), q(d), q(d)))
  write(d .. "/a/f", "hello\n")
  write(d .. "/a/g", "other\n")
  write(d .. "/top", "top\n")
  sh(("chmod 0644 %s/a/f %s/a/g %s/top && ln -s f %s/a/lnk"):format(q(d), q(d), q(d), q(d)))
  return d
end
local function attested()
  local d = tree()
  local pin = assert(attest.attest(d))
  return d, pin
end

local function main()
  -- attest, verify
  local d, pin = attested()
  tap.like(pin, "^" .. ("%x"):rep(64) .. "$", "attest returns a SHA-256")
  local mpath = d .. "/" .. attest.MANIFEST
  tap.is(core.sha256(read(mpath)), pin, "the pin is the SHA-256 of the manifest file")
  local st = core.lstat(mpath)
  tap.ok(st.type == "file" and st.mode == tonumber("444", 8), "manifest is a regular file, mode 0444")
  tap.is(attest.verify(d, pin), true, "verify: untouched tree, pinned")
  tap.is(attest.verify(d), true, "verify: untouched tree, no pin")
  tap.is(attest.verify(d, "  " .. pin:upper() .. "\n"), true, "verify: pin in upper case with blanks")
  tap.is(select(2, attest.verify(d, pin)), pin, "verify returns the manifest's SHA-256 as well")
  local names = core.listdir(d)
  table.sort(names)
  tap.is(table.concat(names, " "), ".nucleus-rootfs-sha256 a top", "attest leaves no temporary file")
  tap.is(attest.tree_hash(d), pin, "tree_hash = SHA-256 of the manifest (the manifest excludes itself)")
  tap.ok(not read(mpath):find("nucleus-rootfs-sha256", 1, true), "the manifest has no entry for itself")
  tap.is(attest.attest(d), pin, "attest again (over the read-only manifest): same hash")
  local d2 = tree()
  tap.is(attest.attest(d2), pin, "an identical tree elsewhere: same hash (paths are relative)")
  tap.is(attest.manifest(d), read(mpath), "manifest() is what attest wrote")
  tap.is(read(mpath), table.concat({
    "nucleus-manifest 1",
    "d 0755 - a",
    "d 0755 - a/b",
    "f 0644 " .. core.sha256("hello\n") .. " a/f",
    "f 0644 " .. core.sha256("other\n") .. " a/g",
    "l 0777 " .. core.sha256("f") .. " a/lnk",
    "f 0644 " .. core.sha256("top\n") .. " top", "" }, "\n"), "manifest format")
  sh(("touch -d '2001-01-01' %s/a/f"):format(q(d)))
  tap.is(attest.verify(d, pin), true, "times are not recorded")

  -- changes, each in a fresh tree
  local function changed(what, cmd, want)
    local t, p = attested()
    sh((cmd:gsub("D", q(t))))
    local ok, err = attest.verify(t, p)
    tap.ok(ok == nil, what .. ": refused")
    tap.is(err, ("rootfs attestation %s: %s"):format(t, want), what .. ": names the path and the change")
    one_line(err, what)
  end
  changed("modified file", "echo x >> D/a/f", "a/f: modified (content)")
  changed("same size, other content", "printf 'hellO\\n' > D/a/f", "a/f: modified (content)")
  changed("mode change", "chmod 0755 D/a/g", "a/g: modified (mode 0644 -> 0755)")
  changed("added file", "echo new > D/a/new", "a/new: added (file)")
  changed("added empty directory", "mkdir D/a/empty", "a/empty: added (directory)")
  changed("added symlink", "ln -s /etc/passwd D/zz", "zz: added (symlink)")
  changed("removed file", "rm D/a/g", "a/g: removed (file)")
  changed("removed empty directory", "rmdir D/a/b", "a/b: removed (directory)")
  changed("symlink retargeted", "ln -sfn g D/a/lnk", "a/lnk: modified (symlink target)")
  changed("file replaced by a symlink to it", "mv D/a/f D/a/f.real && ln -s f.real D/a/f",
    "a/f: type changed (file -> symlink)")
  changed("symlink replaced by a copy of its target", "rm D/a/lnk && cp D/a/f D/a/lnk",
    "a/lnk: type changed (symlink -> file)")
  changed("directory replaced by a file", "rmdir D/a/b && echo > D/a/b", "a/b: type changed (directory -> file)")
  changed("first of several differences", "echo x >> D/top && echo x >> D/a/g", "a/g: modified (content)")

  -- symlinks are never followed
  local t = tree()
  sh(("ln -s b %s/la && ln -s la %s/lb && ln -s . %s/a/self && ln -s / %s/hostroot"):format(q(t), q(t), q(t), q(t)))
  local lp, lerr = attest.attest(t)
  tap.ok(lp, "a symlink loop (la -> b -> ..., lb -> la), a link to . and one to / attest fine", lerr)
  tap.is(attest.verify(t, lp), true, "and verify fine")
  local m = attest.manifest(t)
  tap.ok(m:find("\nl 0777 " .. core.sha256("/") .. " hostroot\n", 1, true) and not m:find("hostroot/", 1, true),
    "a link to / is one entry: its target is hashed, never walked")
  sh(("rm %s/la %s/lb && ln -s lb %s/la && ln -s la %s/lb"):format(q(t), q(t), q(t), q(t)))
  local _, lerr2 = attest.verify(t, lp)
  tap.like(lerr2, ": la: modified %(symlink target%)$", "a link loop re-pointed is detected")

  -- the manifest rewritten
  local t3, p3 = attested()
  local mp3 = t3 .. "/" .. attest.MANIFEST
  sh(("echo evil >> %s/a/f"):format(q(t3)))
  local p3b = assert(attest.attest(t3))
  local ok, err = attest.verify(t3, p3)
  tap.is(err, ("%s: SHA-256 mismatch: pinned %s, manifest has %s"):format(mp3, p3, p3b),
    "tree changed and re-attested: the pin catches the rewritten manifest, naming both hashes")
  tap.is(attest.verify(t3), true,
    "tree changed and re-attested, no pin: passes (only the pin protects against a consistent rewrite)")
  sh(("chmod 0644 %s"):format(q(mp3)))
  write(mp3, (read(mp3):gsub(core.sha256("hello\nevil\n"), core.sha256("hello\n"))))
  ok, err = attest.verify(t3)
  tap.is(err, ("rootfs attestation %s: a/f: modified (content)"):format(t3),
    "a manifest edited to disagree with the tree is caught without a pin")
  write(mp3, "junk\n")
  ok, err = attest.verify(t3)
  tap.is(err, mp3 .. ': line 1: not a manifest (expected "nucleus-manifest 1")', "junk manifest")
  write(mp3, attest.HEADER .. "\nf 0644 " .. ("0"):rep(64) .. " a/f\nx\n")
  ok, err = attest.verify(t3)
  tap.is(err, mp3 .. ": line 3: malformed entry", "malformed line, numbered")
  write(mp3, attest.HEADER .. "\nd 0755 - b\nd 0755 - a\n")
  ok, err = attest.verify(t3)
  tap.is(err, mp3 .. ": line 3: a: out of order or repeated", "entries out of order")
  os.remove(mp3)
  ok, err = attest.verify(t3, p3)
  tap.is(err, mp3 .. ": No such file or directory (attest the tree first)", "missing manifest")
  sh(("ln -s %s %s"):format(q(d .. "/" .. attest.MANIFEST), q(mp3)))
  ok, err = attest.verify(t3)
  tap.is(err, mp3 .. ": not a regular file", "a manifest that is a symlink is refused")

  -- pins
  for _, bad in ipairs { pin:sub(2), pin .. "0", ("g"):rep(64), "", "sha256:" .. pin } do
    ok, err = attest.verify(d, bad)
    tap.like(err, "the pin .* is not a SHA%-256 %(64 hex digits%)$", ("pin %q refused"):format(bad:sub(1, 12)))
  end
  ok, err = attest.verify(d, ("0"):rep(64))
  tap.like(err, "SHA%-256 mismatch: pinned 0+, manifest has " .. pin .. "$", "wrong pin of the right length")

  -- names that try to forge lines
  local t4 = tree()
  local forged = "x\nf 0644 " .. core.sha256("hello\n") .. " forged"
  local odd = { "a b", forged, "100%", "a%20b", "tab\there", "\xff\xfe", "-", "#", "\\" }
  for _, name in ipairs(odd) do write(t4 .. "/" .. name, name) end
  local p4 = assert(attest.attest(t4))
  local m4 = read(t4 .. "/" .. attest.MANIFEST)
  local lines = 0
  for _ in m4:gmatch("\n") do lines = lines + 1 end
  tap.is(lines, 1 + 6 + #odd, "one line per entry whatever the names")
  tap.ok(not m4:find("\nf 0644 " .. core.sha256("hello\n") .. " forged\n", 1, true), "a newline in a name forges no entry")
  tap.ok(m4:find(" x%0Af%200644%20" .. core.sha256("hello\n") .. "%20forged\n", 1, true), "it is percent-encoded")
  tap.ok(m4:find(" a%20b\n", 1, true) and m4:find(" a%2520b\n", 1, true), "'a b' and 'a%20b' stay distinct")
  tap.ok(m4:find(" 100%25\n", 1, true) and m4:find(" %FF%FE\n", 1, true) and m4:find(" tab%09here\n", 1, true),
    "%, high bytes and tabs encoded")
  tap.ok(not m4:find("[^\n -~]"), "the manifest is printable ASCII")
  tap.ok(attest.parse(m4), "the manifest parses back")
  tap.is(attest.verify(t4, p4), true, "odd names verify")
  sh(("mv %s %s"):format(q(t4 .. "/a b"), q(t4 .. "/a c")))
  ok, err = attest.verify(t4, p4)
  tap.is(err, ("rootfs attestation %s: a%%20b: removed (file)"):format(t4), "a renamed odd name is detected")
  one_line(err, "odd names")
  tap.is(attest.encode("a b\n%/\x7f"), "a%20b%0A%25/%7F", "encode")

  -- determinism and order
  local t5 = TMP .. "/order"
  sh(("mkdir -p %s/B %s/a-b %s/a/b %s/_"):format(q(t5), q(t5), q(t5), q(t5)))
  write(t5 .. "/Z", "")
  write(t5 .. "/a.b", "")
  local paths = {}
  for l in attest.manifest(t5):gmatch("\n[fdl] %d+ %S+ (%S+)") do paths[#paths + 1] = l end
  tap.is(table.concat(paths, " "), "B Z _ a a-b a.b a/b", "entries sorted bytewise by path")
  local prev = os.setlocale(nil, "collate")
  local loc = os.setlocale("C.UTF-8", "collate") or os.setlocale("C.utf8", "collate")
  tap.is(attest.manifest(t5) .. tostring(loc ~= nil), attest.manifest(t5) .. "true",
    "same manifest under another collation locale (" .. tostring(loc) .. ")")
  os.setlocale(prev, "collate")

  -- special files
  local t6 = tree()
  sh(("mkfifo %s/a/b/pipe"):format(q(t6)))
  ok, err = attest.attest(t6)
  tap.is(err, t6 .. "/a/b/pipe: a fifo cannot be attested (only files, directories and symlinks)", "a fifo is an error naming it")
  tap.ok(not core.lstat(t6 .. "/" .. attest.MANIFEST), "and nothing is written")
  os.remove(t6 .. "/a/b/pipe")
  if is_root then
    sh(("mknod %s/a/null c 1 3"):format(q(t6)))
    ok, err = attest.manifest(t6)
    tap.is(err, t6 .. "/a/null: a character device cannot be attested (only files, directories and symlinks)",
      "a device is an error naming it")
  else
    sh(("chmod 000 %s/a/f"):format(q(t6)))
    ok, err = attest.manifest(t6)
    tap.is(err, t6 .. "/a/f: Permission denied", "an unreadable file is an error naming it")
    sh(("chmod 0644 %s/a/f && chmod 0555 %s"):format(q(t6), q(t6)))
    ok, err = attest.attest(t6)
    tap.like(err, "^" .. t6:gsub("%p", "%%%0") .. "/%.nucleus%-rootfs%-sha256%.%x+%.tmp: Permission denied$",
      "a directory that cannot be written: attest fails naming the file")
    sh(("chmod 0755 %s"):format(q(t6)))
  end

  -- depth
  local t7 = TMP .. "/deep"
  sh(("mkdir -p %s/1/2/3/4"):format(q(t7)))
  tap.ok(attest.manifest(t7, { max_depth = 4 }), "max_depth 4: 4 nested directories are fine")
  ok, err = attest.manifest(t7, { max_depth = 3 })
  tap.is(err, t7 .. ": deeper than 3 levels at 1/2/3/4", "max_depth 3: error naming where")
  local t8 = TMP .. "/deeper"
  sh(("mkdir -p %s/%s"):format(q(t8), ("d/"):rep(257)))
  ok, err = attest.attest(t8)
  tap.like(err, ": deeper than 256 levels at d/d/", "the default limit is 256 levels")
  os.execute(("rm -rf %s/%s"):format(q(t8), ("d/"):rep(256) .. "d"))
  tap.ok(attest.attest(t8), "256 levels are fine")

  -- a directory name the shell would mangle
  local tq = TMP .. "/it's $(false) `x` a dir;"
  sh(("mkdir %s"):format(q(tq)))
  write(tq .. "/f", "f")
  local pq, qerr = attest.attest(tq)
  tap.ok(pq and attest.verify(tq, pq), "attest and verify a directory named with quotes, $( ) and backquotes", qerr)

  -- read through fds opened once (base, top: what production mounts),
  -- messages naming the directory; check refuses entries (issue 28)
  do
    local ta, pa = attested()
    local rfd = assert(core.open_path(ta))
    local top = {}
    for _, name in ipairs(assert(core.listdir(rfd:path()))) do
      local fd, st = assert(core.open_path(rfd, name))
      top[#top + 1] = { name = name, fd = fd, stat = st }
    end
    table.sort(top, function(x, y) return x.name < y.name end)
    local vopts = { base = rfd:path(), top = top }
    tap.is(select(2, attest.verify(ta, pa, vopts)), pa, "verify through fds: the same manifest as by path")
    -- the path now names another tree: the fds still read the first
    sh(("mv %s %s.old && cp -a %s.old %s && echo changed > %s/a/f"):format(q(ta), q(ta), q(ta), q(ta), q(ta)))
    tap.ok(attest.verify(ta, pa, vopts), "  ... and keep reading the tree they were opened on, whatever the path names")
    ok, err = attest.verify(ta, pa)
    tap.is(err, ("rootfs attestation %s: a/f: modified (content)"):format(ta), "  ... which by path is another")
    vopts.check = function(rel, st) if rel == "a/g" then return ("mode %04o refused"):format(st.mode) end end
    ok, err = attest.verify(ta, pa, vopts)
    tap.is(err, ta .. "/a/g: mode 0644 refused", "check: a refused entry is named by the directory's path, not the fd's")
    vopts.check = function(rel) if rel == "" then return "the root refused" end end
    tap.is(select(2, attest.verify(ta, pa, vopts)), ta .. ": the root refused", "check: the root itself is asked")
    local seen = {}
    vopts.check = function(rel) seen[#seen + 1] = rel end
    assert(attest.verify(ta, pa, vopts))
    table.sort(seen)
    tap.is(table.concat(seen, " "), " a a/b a/f a/g top", "check: every entry but symlinks (and the manifest)")
    rfd:close()
    for _, t in ipairs(top) do t.fd:close() end
  end

  -- bad input
  ok, err = attest.manifest(TMP .. "/nope")
  tap.is(err, TMP .. "/nope: No such file or directory", "missing directory")
  ok, err = attest.verify(d .. "/top")
  tap.is(err, d .. "/top: not a directory", "verify of a file")
  ok, err = attest.manifest(d, { exlcude = {} })
  tap.is(err, 'tree manifest: unknown option "exlcude"', "unknown option")

  -- the context copier's rules (M.copy_options)
  local t9 = TMP .. "/ctx"
  sh(("mkdir -p %s/s/.ssh && mkfifo %s/s/pipe && ln -s /etc %s/abs && ln -s ../.. %s/s/up && ln -s ../top %s/s/in")
    :format(q(t9), q(t9), q(t9), q(t9), q(t9)))
  write(t9 .. "/top", "t")
  write(t9 .. "/.env", "SECRET=1")
  write(t9 .. "/s/id.KEY", "k")
  write(t9 .. "/s/.ssh/id", "k")
  write(t9 .. "/suid", "x")
  sh(("chmod 04755 %s/suid && chmod 02755 %s/s"):format(q(t9), q(t9)))
  local copy = attest.copy_options { names = { ".env", ".ssh" }, inames = { "id.key" } }
  m = attest.manifest(t9, copy)
  tap.ok(m and not m:find("pipe") and not m:find("abs") and not m:find(" s/up\n"), "copy rules: fifo and links leaving the tree left out", m)
  tap.ok(m and m:find(" s/in\n", 1, true), "copy rules: a link staying inside is kept")
  tap.ok(m and not m:find("env") and not m:find("ssh") and not m:find("KEY"), "copy rules: exclusions by name, any case, at any depth")
  tap.ok(m and m:find("\nf 0755 %x+ suid\n") and m:find("\nd 0755 %- s\n"), "copy rules: setuid/setgid bits dropped")
  tap.like(select(2, attest.manifest(t9)), "s/pipe: a fifo cannot be attested", "without them the fifo is an error")
  local skip = attest.manifest(t9, { exclude = function(name) return name == "s" end, copy = true })
  tap.ok(skip and not skip:find(" s/", 1, true) and not skip:find(" s\n", 1, true) and skip:find(" suid\n", 1, true),
    "exclude as a function")

  -- kernel lockdown
  local lk = TMP .. "/lockdown"
  local function lockdown(content, required)
    write(lk, content)
    return attest.lockdown(required, lk)
  end
  tap.is(lockdown("none [integrity] confidentiality\n", "integrity"), true, "lockdown integrity satisfies integrity")
  tap.is(select(2, lockdown("none [integrity] confidentiality\n", "integrity")), "integrity", "and returns the active mode")
  tap.is(select(2, lockdown("none [integrity] confidentiality\n", "confidentiality")),
    'kernel lockdown is "integrity", confidentiality is required', "integrity does not satisfy confidentiality")
  tap.is(lockdown("none integrity [confidentiality]\n", "integrity"), true, "confidentiality satisfies integrity")
  tap.is(lockdown("none integrity [confidentiality]\n", "confidentiality"), true, "confidentiality satisfies confidentiality")
  tap.is(select(2, lockdown("[none] integrity confidentiality\n", "integrity")),
    'kernel lockdown is "none", integrity is required', "none satisfies nothing")
  tap.is(select(2, lockdown("none integrity confidentiality\n", "integrity")),
    ('kernel lockdown cannot be determined: %s: unexpected content "none integrity confidentiality"'):format(lk),
    "no active mode: cannot be determined")
  tap.like(select(2, lockdown("[weird]\n", "integrity")), "cannot be determined: .*unexpected content", "unknown mode")
  tap.is(select(2, attest.lockdown("integrity", TMP .. "/missing")),
    ("kernel lockdown cannot be determined: %s/missing: No such file or directory"):format(TMP), "missing file")
  for _, bad in ipairs { "none", "Integrity", "", 1 } do
    tap.is(select(2, attest.lockdown(bad, lk)),
      ('kernel lockdown: "%s" is not one of integrity, confidentiality'):format(bad), ("required %q refused"):format(bad))
  end
  local real_ok, real_err = attest.lockdown("integrity")
  tap.ok(real_ok == true or (type(real_err) == "string" and real_err:match("^kernel lockdown")),
    "the real " .. attest.LOCKDOWN .. ": " .. tostring(real_err or "integrity or more"))
end

local ok, err = xpcall(main, debug.traceback)
tap.ok(ok, "the test ran to the end", err)
os.execute(("chmod -R u+rwx %s 2>/dev/null; rm -rf %s"):format(q(TMP), q(TMP)))
tap.done()

#!/usr/bin/env bash
# Production roots are resolved once (issue 28): the attestation is read
# through the fds that are then mounted, so a tree swapped on the host
# while containers start (a directory renamed in a loop, a --rootfs link
# switched) is never what a start both verified and ran; an attested root
# that anyone but root could change is refused; no fd of the root reaches
# the workload or outlives a refused start.
#
# Production starts need a cgroup with the memory controller, which this
# host may not have (tests/vm has the whole service): the starts here are
# the production plan itself (nucleus.mode.agent.build, as `nucleus run`
# builds it) compiled and spawned through nucleus.core, without a cgroup:
# real namespaces, real mounts, the same code from the options to exec.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"
command -v lua5.4 >/dev/null || skip_all "lua5.4 not installed"
command -v busybox >/dev/null || skip_all "busybox is needed for the prepared roots"
command -v python3 >/dev/null || skip_all "python3 is needed (the renaming loops)"

before=$(host_state)

# starts.lua N ROOTFS PIN|- USER -- ARGV...: N production starts; for each
# "start I: ok" after the workload's output, or "start I: refused: MSG";
# then the driver's own open fds before and after ("fds A B")
cat > "$T/starts.lua" <<'EOF'
local root, n, rootfs, pin, user = arg[1], tonumber(arg[2]), arg[3], arg[4], arg[5]
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/build/lua/?.lua;" .. package.path
package.cpath = root .. "/build/lib/?.so;" .. package.cpath
local core = require "nucleus.core"
local options = require "nucleus.options"
local agent = require "nucleus.mode.agent"
local argv = table.move(arg, 7, #arg, 1, {})
local function fds() collectgarbage(); collectgarbage(); return #core.listdir("/proc/self/fd") end
local fd0 = fds()
for i = 1, n do
  local o = assert(options.normalize { argv = argv, service_mode = "production", memory = "64M",
    rootfs = rootfs, rootfs_attestation_sha256 = pin ~= "-" and pin or nil,
    verify_rootfs_attestation = pin == "-" or nil, user = user ~= "-" and user or nil })
  local b, err = agent.build(o)
  local tbl = b and b.plan
  local plan, perr
  if tbl then plan, perr = core.plan_compile(tbl) end
  local p, serr
  if plan then p, serr = core.spawn(plan) end
  local code = p and p:wait()
  io.stdout:flush()
  if code == 0 then print(("start %d: ok"):format(i))
  else print(("start %d: refused: %s"):format(i, tostring(err or perr or serr or ("exit " .. tostring(code))))) end
  io.stdout:flush()
  tbl, plan, p = nil, nil, nil
end
print(("fds %d %d"):format(fd0, fds()))
EOF
starts() { lua5.4 "$T/starts.lua" "$ROOT" "$@"; }

# a prepared root, owned by root and writable by it alone
mkroot() { # DIR CONTENT
  mkdir -p "$1/bin" "$1/etc" "$1/tmp"
  cp "$(command -v busybox)" "$1/bin/busybox"
  for a in sh cat ls wc; do ln -s busybox "$1/bin/$a"; done
  printf 'root:x:0:0::/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n' > "$1/etc/passwd"
  echo "$2" > "$1/etc/tool"
  chmod 1777 "$1/tmp" # not mounted (the container has its own /tmp): not asked
  chmod -R go-w "$1/bin" "$1/etc"
}
W=$T/trees
mkdir -p "$W"
mkroot "$W/good" good
mkroot "$W/bad" tampered
pin=$("$NUCLEUS" rootfs attest "$W/good")
"$NUCLEUS" rootfs attest "$W/bad" >/dev/null # consistent in itself: only the pin tells them apart

out=$(starts 1 "$W/good" "$pin" web -- /bin/sh -c 'cat /etc/tool; ls /proc/self/fd | wc -l')
like "$out" $'^good\n *4\nstart 1: ok' "an attested root starts, as --user web, and runs from that root"
#   0 1 2 and ls's own directory fd: no fd of the root (its O_PATH fds, the
#   detached trees) reaches the workload
like "$out" "fds ([0-9]+) \\1\$" "  ... and the driver holds no fd of it afterwards"

# --- the mechanism, through nucleus.core: a bind of an fd (core.open_path)
# mounts what the fd is, whatever its path names by then, at every spawn
# of the plan; bad uses are refused in one line
mkdir -p "$T/data"
echo original > "$T/data/f"
out=$(lua5.4 - "$ROOT" "$T" <<'LUA' 2>&1
local root, T = arg[1], arg[2]
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. root .. "/build/lua/?.lua;" .. package.path
package.cpath = root .. "/build/lib/?.so;" .. package.cpath
local core = require "nucleus.core"
local function mounts(extra)
  local m = { { kind = "bind", source = "/usr", target = "/usr", flags = { "ro", "nosuid", "nodev", "recursive" } },
              { kind = "symlink", target = "/bin", link = "usr/bin" }, { kind = "symlink", target = "/lib", link = "usr/lib" },
              { kind = "symlink", target = "/lib64", link = "usr/lib64" } }
  m[#m + 1] = extra
  return m
end
local fd = assert(core.open_path(T .. "/data"))
local plan = assert(core.plan_compile { argv = { "/bin/cat", "/data/f" }, namespaces = { "mount", "pid" },
  mounts = mounts { kind = "bind", source = T .. "/data", fd = fd, target = "/data", flags = { "ro", "nosuid", "nodev" } } })
print("taken: " .. tostring(not pcall(fd.path, fd)))
-- the path now names another tree
assert(os.rename(T .. "/data", T .. "/data.old"))
os.execute("mkdir " .. T .. "/data && echo swapped > " .. T .. "/data/f")
for i = 1, 2 do
  io.stdout:flush()
  local p, err = core.spawn(plan)
  print(("spawn %d: %s"):format(i, tostring(p and p:wait() or err)))
end
local function refused(what, m)
  local ok, err, code = core.plan_compile { argv = { "x" }, mounts = { m } }
  print(("%s: %s %s %s"):format(what, tostring(ok), tostring(err), tostring(code)))
end
refused("not an fd", { kind = "bind", source = "/x", fd = "3", target = "/x" })
local ffd = assert(core.open_path(T .. "/data/f"))
refused("a file as a directory", { kind = "bind", source = "/x", fd = ffd, target = "/x" })
refused("a tmpfs", { kind = "tmpfs", target = "/x", fd = ffd })
refused("inner", { kind = "bind", source = "/x", fd = ffd, file = true, flags = { "inner" }, target = "/x" })
ffd:close()
refused("closed", { kind = "bind", source = "/x", fd = ffd, file = true, target = "/x" })
print("missing: " .. table.concat({ tostring(select(2, core.open_path(T .. "/none"))), tostring(select(3, core.open_path(T .. "/none"))) }, " "))
print("two components: " .. tostring(select(2, pcall(core.open_path, assert(core.open_path(T)), "data/f"))))
LUA
)
like "$out" "taken: true" "core.plan_compile takes a bind's fd (closed for Lua)"
like "$out" $'original\nspawn 1: 0\noriginal\nspawn 2: 0' \
  "a bind of an fd mounts the tree it was opened on, not what the path names later, at every spawn"
like "$out" "not an fd: nil plan: mounts\[1\].fd: expected a nucleus.Fd EPLAN" "plan: an fd that is not a nucleus.Fd is refused"
like "$out" "a file as a directory: nil plan: mounts\[1\].fd: not a directory EPLAN" "plan: a file's fd bound as a directory is refused"
like "$out" "a tmpfs: nil plan: mounts\[1\].fd: only a bind takes an fd EPLAN" "plan: an fd on another kind is refused"
like "$out" "inner: nil plan: mounts\[1\]: \"inner\" takes a path of the new root, not an fd EPLAN" "plan: an inner bind takes no fd"
like "$out" "closed: nil plan: mounts\[1\].fd: already closed EPLAN" "plan: a closed fd is refused"
like "$out" "missing: $T/none: No such file or directory 2" "core.open_path: a missing path, with its errno"
like "$out" "two components: .*one path component" "core.open_path(dir, name): a name of more than one component is misuse"

# --- the flip race: the directory --rootfs names is renamed in a loop
# between the attested tree and a tampered one while containers start.
# Each start either refuses (the pin does not match) or runs the tree it
# verified: never the tampered file.
F=$T/flip
mkdir -p "$F"
mkroot "$F/current" good
"$NUCLEUS" rootfs attest "$F/current" >/dev/null
mkroot "$F/spare" tampered
"$NUCLEUS" rootfs attest "$F/spare" >/dev/null
# (exchanged atomically, renameat2 RENAME_EXCHANGE, every millisecond or
# two: the name flips between a start's verification and its mounts)
python3 -c 'import ctypes, os, sys, time
F = sys.argv[1].encode()
libc = ctypes.CDLL(None, use_errno=True)
while True:
    if libc.renameat2(-100, F + b"/current", -100, F + b"/spare", 2) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    time.sleep(0.001)' "$F" &
flipper=$!
out=$(starts 60 "$F/current" "$pin" web -- /bin/cat /etc/tool 2>&1)
kill "$flipper"; wait "$flipper" 2>/dev/null
n_ok=$(grep -c ': ok$' <<<"$out")
n_ref=$(grep -c ': refused: ' <<<"$out")
is "$((n_ok + n_ref))" 60 "flip race: 60 starts, each either ran or was refused ($n_ok ran, $n_ref refused)"
unlike "$out" tampered "  ... no start ran the tampered tree"
is "$(grep -c '^good$' <<<"$out")" "$n_ok" "  ... every start that ran read the verified file"
unlike "$(grep ': refused: ' <<<"$out" | grep -v 'SHA-256 mismatch: pinned')" . \
  "  ... a refused start says why in one line (the pin does not match)"
like "$out" "fds ([0-9]+) \\1\$" "  ... no fd left behind by 60 starts, refused or not"

# --- a --rootfs symlink switched between the two trees after it is
# resolved: the same, through a link (switched atomically by rename)
ln -s good "$W/link"
python3 -c 'import os, sys, time
W = sys.argv[1]
while True:
    for t in ("bad", "good"):
        try: os.remove(W + "/l2")
        except OSError: pass
        os.symlink(t, W + "/l2")
        os.rename(W + "/l2", W + "/link")
        time.sleep(0.001)' "$W" &
flipper=$!
out=$(starts 40 "$W/link" "$pin" web -- /bin/cat /etc/tool 2>&1)
kill "$flipper"; wait "$flipper" 2>/dev/null
n_ok=$(grep -c ': ok$' <<<"$out")
n_ref=$(grep -c ': refused: ' <<<"$out")
is "$((n_ok + n_ref))" 40 "switched --rootfs link: 40 starts ($n_ok ran, $n_ref refused)"
unlike "$out" tampered "  ... no start ran the tampered tree"
is "$(grep -c '^good$' <<<"$out")" "$n_ok" "  ... every start that ran read the verified file"
unlike "$(grep ': refused: ' <<<"$out" | grep -v 'SHA-256 mismatch: pinned')" . "  ... refusals are pin mismatches"

# --- who can change an attested root: root alone ------------------------
# a bind shows the host's files as they are now, so the verification holds
# only while nobody else can write there
M=$T/writable
mkroot "$M" good
chmod g+w "$M/etc"
p2=$("$NUCLEUS" rootfs attest "$M")
out=$(starts 1 "$M" "$p2" web -- /bin/cat /etc/tool)
like "$out" "^start 1: refused: $M/etc: writable by its group \\(mode 0775\\): an attested root must be changeable by root alone\$" \
  "a group-writable directory in an attested root is refused, by name"
chmod g-w "$M/etc"; chmod o+w "$M/etc/tool"
p2=$("$NUCLEUS" rootfs attest "$M")
out=$(starts 1 "$M" "$p2" web -- /bin/cat /etc/tool)
like "$out" "^start 1: refused: $M/etc/tool: writable by its others \\(mode 0646\\)" "an other-writable file too"
chmod o-w "$M/etc/tool"; chown 1000 "$M/bin/busybox"
p2=$("$NUCLEUS" rootfs attest "$M")
out=$(starts 1 "$M" - web -- /bin/cat /etc/tool)
like "$out" "^start 1: refused: $M/bin/busybox: owned by uid 1000: an attested root must be changeable by root alone\$" \
  "a file owned by another user too (--verify-rootfs-attestation)"
chown 0 "$M/bin/busybox"; chmod 0777 "$M"
p2=$("$NUCLEUS" rootfs attest "$M")
out=$(starts 1 "$M" "$p2" web -- /bin/cat /etc/tool)
like "$out" "^start 1: refused: $M: writable by its group" "the root directory itself too"
chmod 0755 "$M"
p2=$("$NUCLEUS" rootfs attest "$M")
out=$(starts 1 "$M" "$p2" web -- /bin/cat /etc/tool)
like "$out" $'^good\nstart 1: ok' "  ... and once only root can write it, it starts"
like "$out" "fds ([0-9]+) \\1\$" "  ... no fd left behind by refused starts"

# the CLI says the same, in one line, and leaves nothing behind
chmod g+w "$M/etc"
check_fails 125 "^nucleus: $M/etc: writable by its group \\(mode 0775\\)" "nucleus run: a writable attested root" \
  -- run --service-mode production --memory 64M --rootfs "$M" --user web --verify-rootfs-attestation -- /bin/true
chmod g-w "$M/etc"

is "$(host_state)" "$before" "nothing left behind (mounts, processes, cgroups)"
is "$(ls "$NUCLEUS_STATE_DIR/containers" 2>/dev/null | wc -l)" 0 "  ... and no record"
done_testing

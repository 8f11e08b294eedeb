#!/usr/bin/env bash
# make install puts the CLI, the Lua modules and nucleus/core.so where a
# stock lua5.4 looks for them under PREFIX (checked with lua5.4's own
# default search paths, moved under a DESTDIR).
set -u
. "$(dirname "$0")/../lib/nucleus.sh"
command -v lua5.4 >/dev/null || skip_all "lua5.4 not installed"

D=$T/destdir
make -s -C "$ROOT" install DESTDIR="$D" PREFIX=/usr/local >/dev/null 2>&1
is "$?" 0 "make install DESTDIR=... PREFIX=/usr/local"
ok "$([ -x "$D/usr/local/bin/nucleus" ]; echo $?)" "the CLI is installed"
ok "$([ -f "$D/usr/local/include/nucleus/nc.h" ] && [ -f "$D/usr/local/lib/libnucleus.a" ]; echo $?)" "header and static library"
out=$(lua5.4 - "$D" <<'LUA' 2>&1
local d = arg[1]
-- lua5.4's defaults, as if DESTDIR were /
package.path = package.path:gsub("/usr/local/", d .. "/usr/local/")
package.cpath = package.cpath:gsub("/usr/local/", d .. "/usr/local/")
local nucleus = require "nucleus"
print("version " .. nucleus.version)
print("code " .. tostring(nucleus.run({ argv = { "sh", "-c", "exit 3" } }, { state = false })))
LUA
)
like "$out" "version [0-9]+\.[0-9]+" "require \"nucleus\" finds the installed modules through lua5.4's default paths"
like "$out" "code 3" "  ... and runs a container with the installed core.so"
out=$("$D/usr/local/bin/nucleus" run --rm -- echo installed)
is "$out" installed "the installed CLI runs from anywhere"
# one static PIE: nothing for a loader to map or look up at each start
# (Makefile: CLI_LIBS), and still position-independent (ASLR)
dyn=$(readelf -W -l -d "$D/usr/local/bin/nucleus" 2>&1)
ok "$(grep -qE 'INTERP|\(NEEDED\)' <<<"$dyn"; [ $? -ne 0 ]; echo $?)" "the CLI needs no loader and no shared object"
like "$(readelf -h "$D/usr/local/bin/nucleus")" "Type: +DYN" "  ... and is position-independent"
out=$("$D/usr/local/bin/nucleus" policy check "$ROOT/policies/default.seccomp.json" 2>&1)
is "$?" 0 "  ... with lua-cjson in it (a JSON seccomp profile is read: $out)"
done_testing

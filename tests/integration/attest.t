#!/usr/bin/env bash
# nucleus.attest against real containers: the manifest of a context tree
# taken on the host with attest.copy_options(agent.CONTEXT_EXCLUDE) must be
# the manifest of the copy the C copier makes in /context (what
# --verify-context-integrity compares), and the plain manifest must be that
# of a bound context.  The hash inside is taken by the same module run by
# the host's lua5.4 in the container.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"
command -v lua5.4 >/dev/null || skip_all "lua5.4 not installed"

# the Lua tree and core.so where the container can read them
mkdir -p "$T/lib/nucleus"
cp -r "$ROOT/lua" "$T/lua"
cp "$ROOT/build/lib/nucleus/core.so" "$T/lib/nucleus/core.so"
cat > "$T/hash.lua" <<'EOF'
-- hash.lua DIR copy|plain [manifest]: the tree hash (or manifest) of DIR
local attest = require "nucleus.attest"
local opts
if arg[2] == "copy" then opts = attest.copy_options(require("nucleus.mode.agent").CONTEXT_EXCLUDE) end
local fn = arg[3] == "manifest" and attest.manifest or attest.tree_hash
local v, err = fn(arg[1], opts)
io.write(v or ("error: " .. err .. "\n"), arg[3] == "manifest" and "" or "\n")
EOF
chmod -R a+rX "$T/lua" "$T/lib" "$T/hash.lua"

host_hash() { # DIR copy|plain [manifest]
  LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;$ROOT/build/lua/?.lua;;" \
    LUA_CPATH="$ROOT/build/lib/?.so;;" lua5.4 "$T/hash.lua" "$@"
}
inside_hash() { # [run options...] -- copy|plain [manifest]
  local opts=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  "$NUCLEUS" run -v "$T:/opt/attest:ro" -e 'LUA_PATH=/opt/attest/lua/?.lua;;' \
    -e 'LUA_CPATH=/opt/attest/lib/?.so;;' "${opts[@]}" -- lua5.4 /opt/attest/hash.lua /context "$@"
}

# a context with what the copier treats specially
C=$T/ctx
mkdir -p "$C/src/deep/er" "$C/.ssh" "$C/empty" "$C/shared" "$C/sg"
echo 'int main(void) { return 0; }' > "$C/src/main.c"
printf 'a\nb\n' > "$C/src/deep/er/data.txt"
echo x > "$C/src/with space"
echo x > "$C/src/$(printf 'new\nline')"
echo x > "$C/src/$(printf 'high\xff')"
echo x > "$C/src/100%"
head -c 200000 /dev/urandom > "$C/blob.bin"
echo SECRET=1 > "$C/.env"
echo k > "$C/.ssh/id_ed25519"
echo k > "$C/src/server.key"
echo k > "$C/.env.local"
echo '#!/bin/sh' > "$C/run.sh"
chmod 0755 "$C/run.sh"
echo p > "$C/private"
chmod 0600 "$C/private"
echo s > "$C/suid"
chmod 04755 "$C/suid"
chmod 02775 "$C/sg"
chmod 01777 "$C/shared"
ln -s main.c "$C/src/link-in"
ln -s ../src/deep "$C/empty/dir-link"
ln -s /etc/passwd "$C/abs-link"
ln -s ../../outside "$C/src/up-link"
ln -s loop-b "$C/loop-a"
ln -s loop-a "$C/loop-b"
mkfifo "$C/src/pipe"

want=$(host_hash "$C" copy)
like "$want" '^[0-9a-f]{64}$' "host: tree hash of the context with the copier's rules"
got=$(inside_hash --context "$C" -- copy)
is "$got" "$want" "the copy in /context has the same tree hash"
if [ "$got" != "$want" ]; then
  diff <(host_hash "$C" copy manifest) <(inside_hash --context "$C" -- copy manifest) | sed 's/^/# /'
fi
got=$(inside_hash --context "$C" -u 65534:65534 -- copy)
is "$got" "$want" "same as another user (the copy is chowned, ownership is not recorded)"
manifest=$(host_hash "$C" copy manifest)
unlike "$manifest" 'env|ssh|server\.key|pipe|abs-link|up-link' "secrets, the fifo and links leaving the tree are not in it"
like "$manifest" ' src/link-in$' "a link inside the tree is"
like "$manifest" ' src/new%0Aline$' "odd names are encoded"

# what the copy_options are for: without the copier's rules they differ
rm "$C/src/pipe"
plain=$(host_hash "$C" plain)
isnt "$plain" "$(inside_hash --context "$C" -- plain)" "without copy_options the host tree and its copy differ (secrets)"

# a change between the host hash and the copy is visible
echo changed >> "$C/src/main.c"
isnt "$(inside_hash --context "$C" -- copy)" "$want" "a file changed after the host hash: the copy's hash differs"

# a bound context is the tree as it is: the plain manifest matches
plain=$(host_hash "$C" plain)
got=$(inside_hash --context "$C" --context-mode bind -- plain)
is "$got" "$plain" "a bound context has the host tree's plain hash"

# rootless: the host uid 65534 copies (so everything must be readable by it)
chmod 0644 "$C/private"
want=$(host_hash "$C" copy)
got=$(inside_hash --context "$C" --rootless -- copy)
is "$got" "$want" "the copy made in rootless mode has the same tree hash"

done_testing

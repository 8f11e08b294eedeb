#!/usr/bin/env bash
# --cache NAME:DST (issue 17): a persistent writable directory of the
# workload's user, kept per host uid in the cache directory, checked from
# inside real containers as root, as --user 1000, with --rootless and run
# by an unprivileged caller.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
export NUCLEUS_CACHE_DIR=$T/cache

# --- each identity: writable, kept across runs, the right host owner --------
for who in "root:0:" "user 1000:1000:--user 1000" "rootless:65534:--rootless"; do
  name=${who%%:*}
  rest=${who#*:}
  uid=${rest%%:*}
  flags=${rest#*:}
  # shellcheck disable=SC2086
  out=$("$NUCLEUS" run $flags --cache pip:~/.cache/pip -- sh -c 'echo first > ~/.cache/pip/f && cat ~/.cache/pip/f' 2>&1)
  is "$out" first "$name: the cache is writable at ~/.cache/pip"
  is "$(stat -c %u "$T/cache/$uid/pip/f" 2>&1)" "$uid" "$name: its files are host uid $uid's"
  is "$(stat -c %a:%u "$T/cache/$uid/pip" 2>&1)" "700:$uid" "$name: the cache is 0700 and uid $uid's"
  # shellcheck disable=SC2086
  out=$("$NUCLEUS" run $flags --cache pip:/var/cache/pip -- cat /var/cache/pip/f 2>&1)
  is "$out" first "$name: the next container finds it (at another destination too)"
  # shellcheck disable=SC2086
  out=$(probe_run $flags --cache pip:/c -- mountopts /c)
  like "$out" "mountopts=rw,nosuid,nodev" "$name: bound rw,nosuid,nodev"
done
# one user's cache is not another's: nothing root wrote is in user 1000's
out=$("$NUCLEUS" run --user 1000 --cache other:/c -- sh -c 'ls -A /c | wc -l')
is "$out" 0 "a cache name of root's is a new, empty one for user 1000"
out=$("$NUCLEUS" run --user 1000 --cache pip:/c -- sh -c 'cat /c/f; echo x > /c/g && echo wrote' 2>&1)
is "$out" "$(printf 'first\nwrote')" "user 1000's own cache is its own"
ok "$([ ! -e "$T/cache/0/pip/g" ]; echo $?)" "... and root's is untouched by it"
out=$("$NUCLEUS" run --noexec-workspace --cache pip:/c -- sh -c 'cp /bin/true /c/t && /c/t' 2>&1)
isnt "$?" 0 "--noexec-workspace: nothing in a cache runs"

# --- what one workload leaves for the next -----------------------------------
"$NUCLEUS" run --cache trap:/c -- sh -c 'ln -s /etc/shadow /c/link; ln -s / /c/root; mkfifo /c/fifo' 2>&1
out=$("$NUCLEUS" run --cache trap:/c -- sh -c 'cat /c/link; ls /c/root/' 2>&1)
like "$out" "No such file" "a link planted in a cache leads into the next container, not to the host's /etc/shadow"
unlike "$out" "oldroot|newroot" "... and a link to / is the next container's root"
out=$("$NUCLEUS" run --cache trap:/c -- sh -c 'test -p /c/fifo && echo fifo' 2>&1)
is "$out" fifo "a FIFO planted in a cache does not stall the next start"
# a cache directory the host replaced by a link is refused, not followed
ln -s / "$T/cache/0/evil"
check_fails 125 "^nucleus: cache \"evil:/c\": .*/cache/0/evil is not a directory of uid 0$" "a cache that is a link" -- run --cache evil:/c -- true
rm "$T/cache/0/evil"

# --- bad input: one line, exit 125, nothing made ------------------------------
mkdir -p "$T/cache-none"
for bad in "../x:/c" "a/b:/c" "..:/c" ".hidden:/c" "x" ":/c" "$(printf 'n%.0s' $(seq 65)):/c"; do
  NUCLEUS_CACHE_DIR=$T/cache-none check_fails 125 "^nucleus: invalid cache " "--cache '$bad'" -- run --cache "$bad" -- true
done
for bad in "a:/etc/x" "a:/" "a:relative" "a:/proc/x"; do
  NUCLEUS_CACHE_DIR=$T/cache-none check_fails 125 "^nucleus: (cache|invalid)" "--cache '$bad'" -- run --cache "$bad" -- true
done
is "$(ls -A "$T/cache-none")" "" "refused caches leave nothing in the cache directory"

# --- an unprivileged caller: its own cache directory --------------------------
cp "$NUCLEUS" "$T/nucleus" && chmod 0755 "$T/nucleus"
mkdir -m 0700 "$T/state-nobody" "$T/cache-nobody" && chown 65534:65534 "$T/state-nobody" "$T/cache-nobody"
as_nobody() { NUCLEUS_STATE_DIR=$T/state-nobody NUCLEUS_CACHE_DIR=$T/cache-nobody setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if as_nobody unshare -U true 2>/dev/null; then
  out=$(as_nobody "$T/nucleus" run --cache npm:~/.npm -- sh -c 'echo n > ~/.npm/f; cat ~/.npm/f' 2>&1)
  is "$out" n "unprivileged caller: the cache is writable"
  is "$(stat -c %u "$T/cache-nobody/65534/npm/f" 2>&1)" 65534 "unprivileged caller: its files are the caller's"
else
  skip "unprivileged user namespaces are not allowed here" 2
fi

is "$(host_state)" "$before" "nothing left behind"
done_testing

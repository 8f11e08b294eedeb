#!/usr/bin/env bash
# Rootless: nucleus run by an unprivileged user (uid 65534) gets a user
# namespace automatically; --rootless as root maps container root to the
# unprivileged host uid 65534 rather than to host root.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

cp "$NUCLEUS" "$T/nucleus"
chmod 0755 "$T/nucleus"
mkdir -m 0700 "$T/state-nobody" && chown 65534:65534 "$T/state-nobody"
as_nobody() { NUCLEUS_STATE_DIR=$T/state-nobody setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody unshare -U true 2>/dev/null || skip_all "unprivileged user namespaces are not allowed here"

before=$(host_state)
prun() { # runner [opts] -- probe args
  local runner=$1; shift
  local opts=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  $runner "$T/nucleus" run -v "$PROBE_DIR:/opt/probe:ro" "${opts[@]}" -- /opt/probe/probe "$@"
}

for mode in unprivileged rootless-flag; do
  if [ $mode = unprivileged ]; then R=as_nobody; F=(); else R=; F=(--rootless); fi
  out=$($R "$T/nucleus" run "${F[@]}" -- cat /proc/self/uid_map | tr -s ' ')
  is "$out" " 0 65534 1" "$mode: container root is host uid 65534"
  out=$(prun "$R" "${F[@]}" -- ids)
  is "$(value uid <<<"$out")" 0,0,0 "$mode: uid 0 inside"
  out=$(prun "$R" "${F[@]}" -- caps)
  is "$(value capeff <<<"$out")" 0000000000000000 "$mode: no capabilities"
  is "$(value nonewprivs <<<"$out")" 1 "$mode: no_new_privs"
  is "$(value seccomp <<<"$out")" 2 "$mode: seccomp"
  out=$(prun "$R" "${F[@]}" -- pid)
  is "$(value pid <<<"$out")" 2 "$mode: own PID namespace"
  out=$($R "$T/nucleus" run "${F[@]}" -- sh -c 'echo x > /dev/null && head -c 3 /dev/urandom | wc -c')
  is "$out" 3 "$mode: bound device nodes work in the user namespace"
  out=$(prun "$R" "${F[@]}" -- write /usr/x)
  is "$(value write <<<"$out")" EROFS "$mode: /usr read-only"
  out=$(prun "$R" "${F[@]}" -- syscall mount)
  is "$(value mount <<<"$out")" EPERM "$mode: mount denied"
  out=$(prun "$R" "${F[@]}" -- syscall unshare)
  is "$(value unshare <<<"$out")" EPERM "$mode: nested user namespace denied"
  out=$(prun "$R" "${F[@]}" -- write /tmp/x)
  is "$(value write <<<"$out")" ok "$mode: /tmp writable"
  mkdir -p "$T/ctx-$mode"
  echo hi > "$T/ctx-$mode/f"
  chmod -R a+rX "$T/ctx-$mode"
  out=$($R "$T/nucleus" run "${F[@]}" --context "$T/ctx-$mode" -- sh -c 'cat /context/f; echo y > /context/f; cat /context/f')
  is "$out" "$(printf 'hi\ny')" "$mode: context copy"
  is "$(cat "$T/ctx-$mode/f")" hi "$mode: host context unchanged"
  $R "$T/nucleus" run "${F[@]}" -- sh -c 'exit 3'
  is "$?" 3 "$mode: exit status"
  out=$($R "$T/nucleus" run "${F[@]}" --user 4242 -- true 2>&1)
  like "$out" "only root" "$mode: --user other than root is refused"
done

# files written through a volume belong to the unprivileged host uid
mkdir -p "$T/vol" && chmod 0777 "$T/vol"
"$T/nucleus" run --rootless -v "$T/vol:/data" -- sh -c 'echo x > /data/f'
is "$(stat -c %u "$T/vol/f")" 65534 "--rootless as root writes as host uid 65534, not root"
mkdir -m 0700 "$T/rootonly"
out=$("$T/nucleus" run --rootless -v "$T/rootonly:/data" -- ls /data 2>&1)
like "$out" "Permission denied" "--rootless cannot read a root-only host directory"

is "$(host_state)" "$before" "nothing left behind"
done_testing

#!/usr/bin/env bash
# Agent mode's /etc (issue 17): the host's, read-only, with its secrets
# hidden and hostname, hosts, resolv.conf, passwd and group synthesized,
# checked from inside real containers as root, as --user 1000 and with
# --rootless.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
[ -d /etc ] || skip_all "the host has no /etc"

# the hidden list, from the module itself
hidden=$(lua5.4 -e "package.path='$ROOT/lua/?.lua;'..package.path
  package.cpath='$ROOT/build/lib/?.so;'..package.cpath
  for _, r in ipairs(require('nucleus.mode.agent').ETC_HIDDEN) do print(r) end")
ok "$([ -n "$hidden" ]; echo $?)" "the hidden list is read from nucleus.mode.agent"
# those the host has (as root sees them)
present=
for r in $hidden; do
  if [ -e "/etc/$r" ] || [ -L "/etc/$r" ]; then present="$present $r"; fi
done
diag "hidden entries this host has:$present"

host_passwd_sum=$(sha256sum /etc/passwd)
# the host's human users (login.defs's range), by name
uid_min=$(awk '$1 == "UID_MIN" { print $2 }' /etc/login.defs 2>/dev/null)
humans=$(awk -F: -v min="${uid_min:-1000}" '$3 >= min && $3 != 65534 { print $1 }' /etc/passwd)
systems=$(awk -F: -v min="${uid_min:-1000}" '$3 < min || $3 == 65534 { print $1 }' /etc/passwd | sort)

id1000=$(getent passwd 1000 | cut -d: -f1)
for who in "root:" "user 1000:--user 1000" "rootless:--rootless"; do
  name=${who%%:*}
  flags=${who#*:}
  # shellcheck disable=SC2086
  run() { "$NUCLEUS" run $flags "$@"; }

  # --- what the host's /etc brings --------------------------------------------
  out=$(run -- awk 'BEGIN { print 6 * 7 }' 2>&1)
  is "$out" 42 "$name: awk resolves (/etc/alternatives)"
  if command -v cc >/dev/null; then
    out=$(run -- cc --version 2>&1 | head -1)
    like "$out" "gcc|clang|cc" "$name: cc --version resolves (/etc/alternatives)"
  else
    skip "no cc on the host" 1
  fi
  out=$(run -- getent services http 2>&1)
  like "$out" "^http +80/tcp" "$name: getent services http (/etc/services)"
  out=$(run -- python3 -c 'import socket; print(socket.getservbyname("http"), socket.getprotobyname("tcp"))' 2>&1)
  is "$out" "80 6" "$name: getservbyname, getprotobyname (/etc/services, /etc/protocols)"
  if [ -d /etc/ssl/certs ]; then
    out=$(run -- sh -c 'ls /etc/ssl/certs | grep -c .' 2>&1)
    is "$out" "$(ls /etc/ssl/certs | grep -c .)" "$name: /etc/ssl/certs as the host's"
  else
    skip "the host has no /etc/ssl/certs" 1
  fi

  # --- what it does not ------------------------------------------------------
  if [ -n "$present" ]; then
    # each one the host has: absent, or neither listable nor readable
    out=$(run -- sh -c 'for r; do
        p=/etc/$r
        if [ -e "$p" ] || [ -L "$p" ]; then
          if [ -d "$p" ]; then ls -A "$p" >/dev/null 2>&1 && echo "listable:$r"
          else cat "$p" >/dev/null 2>&1 && echo "readable:$r"; fi
        fi
      done; echo done' sh $present 2>&1)
    is "$out" done "$name: no hidden entry of the host's is readable inside ($(echo $present | wc -w) checked)"
    out=$(run -- sh -c 'ls -a /etc' 2>&1)
    leaked=
    for r in $present; do
      case $r in */*) ;; *) printf '%s\n' "$out" | grep -qxF "$r" && leaked="$leaked $r" ;; esac
    done
    is "$leaked" "" "$name: hidden names are absent from the listing of /etc"
  else
    skip "the host has none of the hidden entries" 2
  fi

  # --- read-only, nothing reaches the host -----------------------------------
  out=$(probe_run $flags -- write /etc/nucleus-etc-test)
  is "$(value write <<<"$out")" EROFS "$name: /etc is read-only"
  out=$(probe_run $flags -- write /etc/passwd)
  is "$(value write <<<"$out")" EROFS "$name: a synthesized file is read-only too"
  ok "$([ ! -e /etc/nucleus-etc-test ]; echo $?)" "$name: nothing written appears in the host's /etc"
  out=$(probe_run $flags -- mountopts /etc)
  like "$out" "mountopts=ro,nosuid,nodev,noexec" "$name: /etc is ro,nosuid,nodev,noexec"

  # --- the synthesized files ---------------------------------------------------
  out=$(run --hostname etc-box -- sh -c 'cat /etc/hostname; grep -c etc-box /etc/hosts; grep -c nameserver /etc/resolv.conf' 2>&1)
  is "$out" "$(printf 'etc-box\n1\n0')" "$name: hostname and hosts are the container's, resolv.conf names no server (--network none)"
  passwd=$(run -- cat /etc/passwd)
  is "$(printf '%s\n' "$passwd" | awk -F: '$2 != "x"' | wc -l)" 0 "$name: no password field but x"
  me=root
  [ "$name" = "user 1000" ] && me=${id1000:-u1000}
  inside=$(printf '%s\n' "$passwd" | cut -d: -f1 | grep -vxF "$me" | sort)
  is "$inside" "$(printf '%s\n' "$systems" | grep -vxF "$me")" "$name: the host's system users are there, no other"
  for h in $humans; do
    [ "$h" = "$me" ] && continue
    unlike "$passwd" "^$h:" "$name: human user $h of the host is absent"
  done
  like "$passwd" "^nobody:x:65534:" "$name: nobody is there"
  if [ "$name" = "user 1000" ]; then
    want_shell=$(getent passwd 1000 | cut -d: -f7)
    like "$passwd" "^$me:x:1000:[0-9]+:[^:]*:/home/$me:${want_shell:-/bin/sh}\$" \
      "$name: the workload's user, with the container's home and its shell"
    out=$(run -- sh -c 'id -un; echo ~')
    is "$out" "$(printf '%s\n/home/%s' "$me" "$me")" "$name: id and ~ agree with it"
  else
    like "$passwd" "^root:x:0:0:[^:]*:/root:" "$name: root is there"
  fi
  group=$(run -- cat /etc/group)
  like "$group" "^nogroup:x:65534:|^nobody:x:65534:" "$name: the host's nogroup is in /etc/group"
  is "$(printf '%s\n' "$group" | awk -F: '$2 != "x"' | wc -l)" 0 "$name: no group password but x"
done

# additional groups of the host's: the user a member of them
out=$("$NUCLEUS" run --user 1000 --additional-group staff -- sh -c 'grep "^staff:" /etc/group; id -Gn' 2>&1)
like "$out" "^staff:x:50:([^,]*,)*${id1000:-u1000}$" "--additional-group staff: the user is a member in /etc/group"

is "$(sha256sum /etc/passwd)" "$host_passwd_sum" "the host's /etc/passwd is unchanged"
is "$(host_state)" "$before" "nothing left behind"
done_testing

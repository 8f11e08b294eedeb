#!/usr/bin/env bash
# The post-fork path must stay async-signal-safe: every external symbol
# child.o uses must be on this allowlist (system call wrappers and the
# string functions POSIX.1-2016 lists as async-signal-safe).  A malloc,
# printf or Lua call in child.c fails this test.
set -u
. "$(dirname "$0")/../lib/tap.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OBJ=$ROOT/build/obj/core/src/child.o
[ -f "$OBJ" ] || skip_all "build/obj/core/src/child.o not built"
command -v nm >/dev/null || skip_all "nm not installed"

allowed=" __errno_location __stack_chk_fail _exit chdir chmod chown chroot clone close dup2 execve fchmod fchown
 fchownat fcntl fstat ioctl kill memchr memcmp memcpy memset mkdir mkdirat mknod mount open poll prctl read sendfile sendmsg sethostname
 setgroups setns setresgid setresuid setrlimit setsid sigfillset sigprocmask sigwaitinfo socket strchr
 strlen symlink symlinkat syscall umask umount2 wait4 write __memcpy_chk __open_2 __read_chk "
for sym in $(nm -u "$OBJ" | awk '{print $2}' | sed 's/@.*//'); do
  case "$allowed" in
    *" $sym "* | *" $sym"$'\n'* | *$'\n'"$sym "*) ok 0 "child.o uses $sym (allowed)" ;;
    *) ok 1 "child.o uses $sym, which is not on the async-signal-safe allowlist" ;;
  esac
done
# the entry point is really there
nm "$OBJ" | grep -q ' T nc_child_run$'
ok $? "nc_child_run is defined in child.o"
done_testing

#!/usr/bin/env bash
# The post-fork path must stay async-signal-safe: every external symbol
# child.o uses must be on this allowlist (system call wrappers and the
# string functions POSIX.1-2016 lists as async-signal-safe).  A malloc,
# printf or Lua call in child.c fails this test.  Not glibc's setgroups,
# setresuid or setresgid either, safe as POSIX says they are: after clone3
# of a process with threads they wait for ever for threads that are not
# there (nptl's setxid broadcast); the child makes the system calls.
set -u
. "$(dirname "$0")/../lib/tap.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ -f "$ROOT/build/obj/core/src/child.o" ] || skip_all "build/obj/core/src/child.o not built"
command -v nm >/dev/null || skip_all "nm not installed"

allowed=" __errno_location __stack_chk_fail _exit chdir chroot clone close dup2 execve fchmod fchown fchownat
 fcntl fstat ftruncate getpid ioctl lseek memchr memcmp memcpy memset mkdir mkdirat mknodat mount open openat pipe2
 poll prctl read sendfile sendmsg sethostname setns setrlimit setsid sigemptyset signal sigprocmask
 socket strchr strlen symlinkat syscall umask umount2 write __memcpy_chk __open_2 __read_chk "
# every post-fork path: the container's child, and core.helper's
for obj in child helper; do
  OBJ=$ROOT/build/obj/core/src/$obj.o
  for sym in $(nm -u "$OBJ" | awk '{print $2}' | sed 's/@.*//'); do
    case "$allowed" in
      *" $sym "* | *" $sym"$'\n'* | *$'\n'"$sym "*) ok 0 "$obj.o uses $sym (allowed)" ;;
      *) ok 1 "$obj.o uses $sym, which is not on the async-signal-safe allowlist" ;;
    esac
  done
done
# the entry points are really there
nm "$ROOT/build/obj/core/src/child.o" | grep -q ' T nc_child_run$'
ok $? "nc_child_run is defined in child.o"
nm "$ROOT/build/obj/core/src/helper.o" | grep -q ' T nc_helper_child$'
ok $? "nc_helper_child is defined in helper.o"

# nucleus-init, PID 1 of every container: a static program of its own with
# no interpreter and no dynamic section (nothing of a libc, nothing loaded)
INIT=$ROOT/build/init/nucleus-init
if [ -f "$INIT" ] && command -v readelf >/dev/null; then
  readelf -lW "$INIT" | grep -q INTERP
  ok $((! $?)) "nucleus-init has no program interpreter"
  readelf -dW "$INIT" | grep -q 'There is no dynamic section'
  ok $? "nucleus-init has no dynamic section"
  size=$(stat -c %s "$INIT")
  ok "$([ "$size" -lt 65536 ]; echo $?)" "nucleus-init is small ($size bytes)"
else
  skip "build/init/nucleus-init or readelf missing" 3
fi
done_testing

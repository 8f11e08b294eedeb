/* helper.c - the post-fork side of core.helper (bind/l_net.c): the
 * child that becomes iptables, slirp4netns, getent, ... after entering a
 * container's network namespace.
 *
 * Runs in: the child of fork(), between fork and execve.  Like child.c,
 * async-signal-safe only (tests/core/child_safety.t checks this object's
 * symbols too): the parent holds the Lua state and maybe other threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "internal.h"

/* One line to fd ("what: errno N"; strerror is not async-signal-safe),
 * then exit 127. */
NC_CHILD static _Noreturn void helper_fail (int fd, const char *what)
{
  char buf[160];
  size_t n = 0;
  int e = errno;
  for (const char *s = what; *s && n < 120; s++)
    buf[n++] = *s;
  const char *tag = ": errno ";
  for (const char *s = tag; *s; s++)
    buf[n++] = *s;
  char digits[12];
  int d = 0;
  do
    digits[d++] = (char) ('0' + e % 10);
  while ((e /= 10) > 0 && d < 11);
  while (d > 0)
    buf[n++] = digits[--d];
  buf[n++] = '\n';
  if (fd >= 0)
    (void) !write (fd, buf, n);
  _exit (127);
}

_Noreturn void nc_helper_child (const struct nc_helper *h)
{
  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP)
      signal (s, SIG_DFL);
  int errfd = h->out_fd;
  if (h->ns_pidfd >= 0)
    {
      if (setns (h->ns_pidfd, CLONE_NEWNET | (h->userns ? CLONE_NEWUSER : 0)) < 0)
        helper_fail (errfd, "enter the container's network namespace");
      if (h->userns
          && (syscall (SYS_setresgid, 0, 0, 0) < 0 || syscall (SYS_setresuid, 0, 0, 0) < 0))
        helper_fail (errfd, "become root in the container's user namespace");
    }
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  int sink = h->out_fd >= 0 ? h->out_fd : null;
  if (h->log && h->out_fd < 0)
    sink = open (h->log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (dup2 (h->in_fd >= 0 ? h->in_fd : null, 0) < 0)
    helper_fail (errfd, "stdin");
  if (dup2 (sink, 1) < 0 || dup2 (sink, 2) < 0)
    helper_fail (errfd, "stdout");
  for (int i = 0; i < h->nkeep; i++)
    {
      int fl = fcntl (h->keep[i], F_GETFD);
      if (fl < 0 || fcntl (h->keep[i], F_SETFD, fl & ~FD_CLOEXEC) < 0)
        helper_fail (2, "keep descriptor");
    }
  execve (h->path, h->argv, h->envp);
  helper_fail (2, h->path);
}

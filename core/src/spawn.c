/* spawn.c - clone3, the parent's half of the sync protocol, and waiting.
 *
 * Runs in: parent.  Protocol on a SOCK_SEQPACKET socketpair (one record per
 * write, see nc.h):
 *   sync 1  parent -> child  NC_SYNC_GO once the id maps are written
 *                            (NC_SYNC_GO_GATED: io->started runs now, and
 *                            the child waits at sync 2d for it)
 *   sync 2  child -> parent  zero or more NC_MSG_WARN records
 *   sync 2c child -> parent  NC_MSG_PAUSED, answered by NC_SYNC_GO after
 *                            io->paused (plan->pause_after_root)
 *   sync 2d parent -> child  NC_SYNC_GATE once io->started succeeded; the
 *                            child waits for it before seccomp and the
 *                            workload (gated only)
 *   sync 3  child -> parent  one NC_MSG_ERROR record then _exit, or EOF
 *                            when the workload's execve closed the socket.
 * Every early return after clone3 kills and reaps the child, so a failed
 * spawn leaves no process behind.
 * A pipe apart from the socket carries the mini-init's report of the
 * workload's exit status, written just before the init exits: the init's
 * exit tears the container's namespaces down (a quarter of a millisecond
 * for a mount namespace), which the caller's own work on the way out
 * (the record) may overlap (nc_proc_wait with proc->early, nc_proc_reap).
 * See: formal/sync.pml.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <stdlib.h>

#include "internal.h"

static int write_file (pid_t pid, const char *name, const char *data, struct nc_err *err)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, name);
  NC_AUTOCLOSE int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return nc_err_set (err, NC_STAGE_USERNS, errno, "open %s", name);
  size_t len = strlen (data);
  if (write (fd, data, len) != (ssize_t) len)
    return nc_err_set (err, NC_STAGE_USERNS, errno, "write %s \"%s\"", name, data);
  return 0;
}

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* sync 2b (trace mode): the child announced the number its seccomp
 * listener will have; copy it out of the child once it exists. */
static int take_listener (int pidfd, int n, struct nc_err *err)
{
  for (int i = 0; i < 20000; i++)
    {
      int fd = (int) syscall (SYS_pidfd_getfd, pidfd, n, 0);
      if (fd >= 0)
        {
          char path[64], link[64];
          snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
          ssize_t l = readlink (path, link, sizeof link - 1);
          if (l > 0 && (link[l] = '\0', strcmp (link, "anon_inode:seccomp notify") == 0))
            return fd;
          close (fd);
        }
      else if (errno != EBADF)
        return nc_err_set (err, NC_STAGE_SECCOMP, errno, "take the seccomp listener");
      usleep (100);
    }
  return nc_err_set (err, NC_STAGE_SECCOMP, ETIMEDOUT, "take the seccomp listener");
}

static void kill_and_reap (pid_t pid, int pidfd)
{
  siginfo_t si;
  syscall (SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  while (waitid (P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0 && errno == EINTR)
    ;
  (void) pid;
}

static void restore_mask (struct nc_proc *proc)
{
  if (proc->held)
    pthread_sigmask (SIG_SETMASK, &proc->held_from, NULL);
  proc->held = 0;
}

int nc_spawn (const struct nc_plan *plan, struct nc_proc *proc, const int *hold, size_t nhold,
              const struct nc_io *io, nc_warn_fn warn, void *ctx, struct nc_err *err)
{
  NC_AUTOCLOSE int parent_fd = -1;
  NC_AUTOCLOSE int child_fd = -1;
  int sv[2];
  int ret;

  proc->pid = 0;
  proc->pidfd = -1;
  proc->listener = -1;
  proc->pty_master = -1;
  proc->relay_stdin = 0;
  proc->held = 0;
  memset (&proc->trace, 0, sizeof proc->trace);
  proc->relay_stdin = io && io->tty && io->interactive;
  proc->last_forwarded = 0;
  proc->status_fd = -1;
  proc->early = proc->reported = 0;

  int netns_fd = io ? io->netns_fd : -1;
  if (netns_fd >= 0
      && (!(plan->clone_flags & CLONE_NEWNET) || (plan->clone_flags & CLONE_NEWUSER)
          || !plan->net_loopback || plan->net_bridged || plan->join_pidfd >= 0))
    return nc_err_set (err, NC_STAGE_NETWORK, EINVAL,
                       "a network namespace made ahead is only for a new one with lo up, "
                       "not bridged, without a user namespace");

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return nc_err_set (err, NC_STAGE_SYNC, errno, "socketpair");
  parent_fd = sv[0];
  child_fd = sv[1];
  /* the mini-init's report of the workload's exit (nc_proc_wait) */
  int report[2] = { -1, -1 };
  if (plan->mini_init && pipe2 (report, O_CLOEXEC) < 0)
    return nc_err_set (err, NC_STAGE_SYNC, errno, "pipe");
  NC_AUTOCLOSE int report_w = report[1];
  proc->status_fd = report[0];

  /* Block every signal across clone3: the child must not run a handler
   * of the host (the lua interpreter's SIGINT hook, say) before
   * CLONE_CLEAR_SIGHAND takes effect, and it restores this mask only
   * right before execve. */
  sigset_t all, old;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);

  int pidfd = -1;
  struct clone_args args;
  memset (&args, 0, sizeof args);
  args.flags = plan->clone_flags | CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
  if (netns_fd >= 0)
    args.flags &= ~(uint64_t) CLONE_NEWNET; /* the child joins that one */
  if (plan->cgroup_fd >= 0)
    {
      /* in its cgroup before it runs anything: the cgroup namespace
       * it creates is rooted there */
      args.flags |= CLONE_INTO_CGROUP;
      args.cgroup = (uint64_t) plan->cgroup_fd;
    }
  args.pidfd = (uint64_t) (uintptr_t) &pidfd;
  args.exit_signal = SIGCHLD;
  int status_r = proc->status_fd; /* proc is Lua memory: not read in the child */
  pid_t pid = (pid_t) syscall (SYS_clone3, &args, sizeof args);
  if (pid == 0)
    {
      close (parent_fd);
      if (status_r >= 0)
        close (status_r);
      nc_child_run (plan, child_fd, &old, io ? io->stdin_fd : -1, io && io->tty, report_w,
                    netns_fd);
    }
  int clone_errno = errno;
  if (nhold)
    {
      sigset_t keep = old;
      for (size_t i = 0; i < nhold; i++)
        sigaddset (&keep, hold[i]);
      proc->held_from = old;
      proc->held = 1;
      pthread_sigmask (SIG_SETMASK, &keep, NULL);
    }
  else
    pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (pid < 0)
    {
      restore_mask (proc);
      if (proc->status_fd >= 0)
        close (proc->status_fd);
      proc->status_fd = -1;
      return nc_err_set (err, NC_STAGE_CLONE, clone_errno, "clone3");
    }
  close (nc_steal_fd (&child_fd));
  close (nc_steal_fd (&report_w));

  if (plan->clone_flags & CLONE_NEWUSER)
    {
      if ((plan->setgroups_deny && (ret = write_file (pid, "setgroups", "deny", err)) < 0)
          || (plan->uid_map && (ret = write_file (pid, "uid_map", plan->uid_map, err)) < 0)
          || (plan->gid_map && (ret = write_file (pid, "gid_map", plan->gid_map, err)) < 0))
        goto fail;
    }

  int gated = io && io->started;
  char go = gated ? NC_SYNC_GO_GATED : NC_SYNC_GO;
  if (send (parent_fd, &go, 1, MSG_NOSIGNAL) != 1)
    {
      ret = nc_err_set (err, NC_STAGE_SYNC, errno, "send go");
      goto fail;
    }
  /* sync 2d: the caller's work, while the child sets up, then the gate */
  if (gated)
    {
      if (io->started (io->started_ctx, pid, err) != 0)
        {
          ret = -(err->code ? err->code : EPERM);
          goto fail;
        }
      char open_ = NC_SYNC_GATE;
      /* EPIPE: the child failed meanwhile; its error record is read below */
      if (send (parent_fd, &open_, 1, MSG_NOSIGNAL) != 1 && errno != EPIPE && errno != ECONNRESET)
        {
          ret = nc_err_set (err, NC_STAGE_SYNC, errno, "send gate");
          goto fail;
        }
    }

  int failed = 0, reset_seen = 0;
  for (;;)
    {
      if (proc->listener >= 0)
        {
          /* trace mode: the child's own syscalls wait for our answers */
          struct pollfd pfd[2] = { { parent_fd, POLLIN, 0 }, { proc->listener, POLLIN, 0 } };
          if (poll (pfd, 2, -1) < 0)
            {
              if (errno == EINTR)
                continue;
              ret = nc_err_set (err, NC_STAGE_SYNC, errno, "poll");
              goto fail;
            }
          if ((pfd[1].revents & POLLIN) && (ret = nc_trace_service (proc->listener, &proc->trace)) < 0)
            {
              nc_err_set (err, NC_STAGE_SECCOMP, -ret, "trace");
              goto fail;
            }
          if (!(pfd[0].revents & (POLLIN | POLLHUP)))
            continue;
        }
      struct nc_sync_msg m;
      /* a record may carry an fd (NC_MSG_PTY: the terminal's master) */
      union {
        struct cmsghdr h;
        char buf[CMSG_SPACE (sizeof (int))];
      } cbuf;
      struct iovec iov = { &m, sizeof m };
      struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
                           .msg_controllen = sizeof cbuf.buf };
      ssize_t n = recvmsg (parent_fd, &mh, MSG_CMSG_CLOEXEC);
      int passed_fd = -1;
      if (n > 0)
        for (struct cmsghdr *c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c))
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy (&passed_fd, CMSG_DATA (c), sizeof passed_fd);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == ECONNRESET && gated && !reset_seen)
        {
          /* the child ended with our gate byte unread: the socket reports
           * that once, then gives what the child wrote (its error) */
          reset_seen = 1;
          continue;
        }
      if (n < 0)
        {
          ret = nc_err_set (err, NC_STAGE_SYNC, errno, "recv");
          goto fail;
        }
      if (n == 0)
        break;
      if (n != sizeof m)
        {
          ret = nc_err_set (err, NC_STAGE_SYNC, EPROTO, "short record (%zd bytes)", n);
          goto fail;
        }
      m.err.detail[NC_ERR_DETAIL - 1] = '\0';
      if (m.type == NC_MSG_PTY && passed_fd >= 0 && proc->pty_master < 0)
        {
          struct winsize ws;
          proc->pty_master = passed_fd;
          if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
            ioctl (passed_fd, TIOCSWINSZ, &ws);
          continue;
        }
      if (passed_fd >= 0)
        close (passed_fd);
      if (m.type == NC_MSG_PAUSED)
        {
          if (io && io->paused && io->paused (io->paused_ctx, pid, err) != 0)
            {
              ret = -(err->code ? err->code : EPERM);
              goto fail;
            }
          char go2 = NC_SYNC_GO;
          if (send (parent_fd, &go2, 1, MSG_NOSIGNAL) != 1)
            {
              ret = nc_err_set (err, NC_STAGE_SYNC, errno, "send go");
              goto fail;
            }
          continue;
        }
      if (m.type == NC_MSG_LISTENER && proc->listener < 0)
        {
          proc->listener = take_listener (pidfd, m.err.code, err);
          if (proc->listener < 0)
            {
              ret = proc->listener;
              proc->listener = -1;
              goto fail;
            }
        }
      else if (m.type == NC_MSG_WARN)
        {
          if (warn)
            warn (ctx, &m.err);
        }
      else if (m.type == NC_MSG_ERROR && !failed)
        {
          *err = m.err;
          failed = 1;
        }
    }
  if (failed)
    {
      ret = -(err->code ? err->code : EIO);
      goto fail;
    }

  proc->pid = pid;
  proc->pidfd = pidfd;
  return 0;

fail:
  restore_mask (proc);
  kill_and_reap (pid, pidfd);
  if (proc->status_fd >= 0)
    close (proc->status_fd);
  proc->status_fd = -1;
  if (proc->pty_master >= 0)
    close (proc->pty_master);
  proc->pty_master = -1;
  close (pidfd);
  if (proc->listener >= 0)
    close (proc->listener);
  proc->listener = -1;
  nc_trace_free (&proc->trace);
  return ret;
}

int nc_proc_signal (struct nc_proc *proc, int sig)
{
  if (proc->pidfd < 0)
    return -ESRCH;
  return syscall (SYS_pidfd_send_signal, proc->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

static void status_from (const siginfo_t *si, struct nc_status *st)
{
  if (si->si_code == CLD_EXITED)
    {
      st->code = si->si_status;
      st->signal = 0;
    }
  else
    {
      st->code = 128 + si->si_status;
      st->signal = si->si_status;
    }
}

/* Copy what is readable on from to to; returns bytes moved, 0 at EOF or
 * when nothing is there, -1 when from is gone (EIO on a hung-up pty). */
static ssize_t pump (int from, int to)
{
  char buf[16384];
  ssize_t n = read (from, buf, sizeof buf);
  if (n < 0)
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  for (ssize_t off = 0; off < n;)
    {
      ssize_t w = write (to, buf + off, (size_t) (n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return -1;
      off += w;
    }
  return n;
}

int nc_proc_wait (struct nc_proc *proc, const int *sigs, size_t nsigs, struct nc_status *st,
                  struct nc_err *err)
{
  siginfo_t si;
  if (proc->pidfd < 0)
    return nc_err_set (err, NC_STAGE_WAIT, ESRCH, "process already released");
  if (nsigs == 0 && proc->listener < 0 && proc->pty_master < 0)
    {
      restore_mask (proc);
      for (;;)
        {
          memset (&si, 0, sizeof si);
          if (waitid (P_PIDFD, (id_t) proc->pidfd, &si, WEXITED) == 0)
            break;
          if (errno != EINTR)
            return nc_err_set (err, NC_STAGE_WAIT, errno, "waitid");
        }
      status_from (&si, st);
      return 0;
    }

  /* Forward signals through a signalfd while they are blocked, so the
   * host's own handlers (if any) do not run meanwhile. */
  sigset_t set, old;
  sigemptyset (&set);
  for (size_t i = 0; i < nsigs; i++)
    sigaddset (&set, sigs[i]);
  pthread_sigmask (SIG_BLOCK, &set, &old);
  if (proc->held)
    old = proc->held_from; /* what the caller had before nc_spawn */
  proc->held = 0;
  NC_AUTOCLOSE int sfd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  int ret = 0;
  struct termios saved_tio;
  int raw = 0;
  int in_open = proc->pty_master >= 0 && proc->relay_stdin;
  if (sfd < 0)
    {
      ret = nc_err_set (err, NC_STAGE_WAIT, errno, "signalfd");
      goto out;
    }
  if (in_open && isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &saved_tio) == 0)
    {
      /* keystrokes go to the container's terminal as they are typed; its
       * line discipline, not ours, turns ^C into SIGINT */
      struct termios t = saved_tio;
      cfmakeraw (&t);
      raw = tcsetattr (STDIN_FILENO, TCSANOW, &t) == 0;
    }
  for (;;)
    {
      enum { P_PID, P_SIG, P_TRACE, P_PTY, P_IN, P_REPORT };
      struct pollfd pfd[6] = {
        [P_PID] = { proc->pidfd, POLLIN, 0 },
        [P_SIG] = { sfd, POLLIN, 0 },
        [P_TRACE] = { proc->listener, POLLIN, 0 },
        [P_PTY] = { proc->pty_master, POLLIN, 0 },
        [P_IN] = { in_open ? STDIN_FILENO : -1, POLLIN, 0 },
        /* (trace mode waits for the last traced process, not for the report) */
        [P_REPORT] = { proc->early && proc->listener < 0 ? proc->status_fd : -1, POLLIN, 0 },
      };
      if (poll (pfd, 6, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          ret = nc_err_set (err, NC_STAGE_WAIT, errno, "poll");
          goto out;
        }
      if (pfd[P_TRACE].revents & POLLIN)
        nc_trace_service (proc->listener, &proc->trace);
      else if (pfd[P_TRACE].revents & (POLLHUP | POLLERR))
        {
          /* every traced process is gone */
          close (proc->listener);
          proc->listener = -1;
        }
      if (pfd[P_PTY].revents & (POLLIN | POLLHUP | POLLERR))
        pump (proc->pty_master, STDOUT_FILENO);
      if (pfd[P_IN].revents & (POLLIN | POLLHUP | POLLERR) && pump (STDIN_FILENO, proc->pty_master) <= 0)
        {
          /* our stdin ended: the terminal reads EOF (^D) */
          char eot = 4;
          if (write (proc->pty_master, &eot, 1) < 0)
            {
            }
          in_open = 0;
        }
      if (pfd[P_SIG].revents & POLLIN)
        {
          struct signalfd_siginfo ssi;
          while (read (sfd, &ssi, sizeof ssi) == sizeof ssi)
            {
              struct winsize ws;
              if (ssi.ssi_signo == SIGWINCH && proc->pty_master >= 0)
                {
                  /* the kernel signals the terminal's foreground group */
                  if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) == 0
                      || ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
                    ioctl (proc->pty_master, TIOCSWINSZ, &ws);
                }
              else
                {
                  nc_proc_signal (proc, (int) ssi.ssi_signo);
                  proc->last_forwarded = (int) ssi.ssi_signo;
                }
            }
        }
      if (pfd[P_REPORT].revents & (POLLIN | POLLHUP | POLLERR))
        {
          /* the workload is gone and the init is on its way out: its
           * report is the container's status (an init that died without
           * one shows as EOF: its own exit says it then) */
          int code;
          ssize_t n = read (proc->status_fd, &code, sizeof code);
          close (proc->status_fd);
          proc->status_fd = -1;
          if (n == sizeof code)
            {
              proc->reported = 1;
              st->code = code;
              st->signal = 0;
              break;
            }
        }
      if (pfd[P_PID].revents & (POLLIN | POLLHUP))
        {
          memset (&si, 0, sizeof si);
          if (waitid (P_PIDFD, (id_t) proc->pidfd, &si, WEXITED | WNOHANG) < 0)
            {
              if (errno == EINTR)
                continue;
              ret = nc_err_set (err, NC_STAGE_WAIT, errno, "waitid");
              goto out;
            }
          if (si.si_pid != 0)
            break;
        }
    }
  if (proc->pty_master >= 0)
    {
      /* what the workload wrote last */
      int fl = fcntl (proc->pty_master, F_GETFL);
      fcntl (proc->pty_master, F_SETFL, fl | O_NONBLOCK);
      while (pump (proc->pty_master, STDOUT_FILENO) > 0)
        ;
    }
  if (!proc->reported)
    status_from (&si, st);
out:
  if (raw)
    tcsetattr (STDIN_FILENO, TCSANOW, &saved_tio);
  /* Signals that raced with the exit were meant for the container, not
   * for us: consume them before unblocking. */
  if (sfd >= 0)
    {
      struct signalfd_siginfo ssi;
      while (read (sfd, &ssi, sizeof ssi) == sizeof ssi)
        ;
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return ret;
}

void nc_proc_reap (struct nc_proc *proc)
{
  siginfo_t si;
  if (proc->reported && proc->pidfd >= 0)
    while (waitid (P_PIDFD, (id_t) proc->pidfd, &si, WEXITED) < 0 && errno == EINTR)
      ;
  proc->reported = 0;
}

void nc_proc_release (struct nc_proc *proc)
{
  nc_proc_reap (proc);
  if (proc->status_fd >= 0)
    close (proc->status_fd);
  proc->status_fd = -1;
  restore_mask (proc);
  if (proc->pidfd >= 0)
    close (proc->pidfd);
  proc->pidfd = -1;
  if (proc->listener >= 0)
    close (proc->listener);
  proc->listener = -1;
  if (proc->pty_master >= 0)
    close (proc->pty_master);
  proc->pty_master = -1;
}

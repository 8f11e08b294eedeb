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
 * The container's status is what the kernel says of its first process
 * (waitid on its pidfd): nucleus-init exits with the workload's status.
 * No channel the workload could reach (a pipe, a file) is trusted for it.
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
#include <sys/mman.h>
#include <sys/stat.h>
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

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

/* nucleus-init's image, linked in from build/init (init_blob.S) */
extern const unsigned char nc_init_blob[], nc_init_blob_end[];

int nc_init_fd (struct nc_err *err)
{
  /* MFD_EXEC says so to kernels that ask (6.3+: vm.memfd_noexec); older
   * ones know no such flag */
  int fd = memfd_create ("nucleus-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL)
    fd = memfd_create ("nucleus-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return nc_err_set (err, NC_STAGE_INIT, errno,
                       errno == EACCES ? "an executable memfd for nucleus-init (vm.memfd_noexec "
                                         "forbids them in this pid namespace)"
                                       : "memfd for nucleus-init");
  const unsigned char *p = nc_init_blob;
  size_t len = (size_t) (nc_init_blob_end - nc_init_blob);
  while (len > 0)
    {
      ssize_t w = write (fd, p, len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          int e = w < 0 ? errno : EIO;
          close (fd);
          return nc_err_set (err, NC_STAGE_INIT, e, "write nucleus-init");
        }
      p += w;
      len -= (size_t) w;
    }
  /* nothing can change it from here on, not even its mode */
  int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (fcntl (fd, F_ADD_SEALS, seals | F_SEAL_EXEC) < 0
      && (errno != EINVAL || fcntl (fd, F_ADD_SEALS, seals) < 0))
    {
      int e = errno;
      close (fd);
      return nc_err_set (err, NC_STAGE_INIT, e, "seal nucleus-init");
    }
  return fd;
}

/* The detached trees of the plan's NC_MNT_F_FD binds, made here in the
 * parent for this spawn alone (a detached tree can be attached once, and
 * cloned only where it was made, not in the child's new mount
 * namespace): a clone of the O_PATH fd the caller checked, its flags set
 * on every submount before the child sees it.  *out is NULL when the plan
 * has none, else one fd per plan mount (-1 for the others).  0 or -errno
 * with err set. */
static int make_trees (const struct nc_plan *plan, int **out, struct nc_err *err)
{
  *out = NULL;
  size_t n = 0;
  for (size_t i = 0; i < plan->nmounts; i++)
    n += (plan->mounts[i].flags & NC_MNT_F_FD) != 0;
  if (n == 0)
    return 0;
  int *t = malloc (plan->nmounts * sizeof *t);
  if (!t)
    return nc_err_set (err, NC_STAGE_MOUNTS, ENOMEM, "mount trees");
  for (size_t i = 0; i < plan->nmounts; i++)
    t[i] = -1;
  *out = t;
  for (size_t i = 0; i < plan->nmounts; i++)
    {
      const struct nc_mount *m = &plan->mounts[i];
      if (!(m->flags & NC_MNT_F_FD))
        continue;
      unsigned rec = (m->flags & NC_MNT_F_RECURSIVE) ? AT_RECURSIVE : 0;
      t[i] = (int) syscall (SYS_open_tree, m->src_fd, "",
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | rec);
      if (t[i] < 0)
        return nc_err_set (err, NC_STAGE_MOUNTS, errno, "bind %s", m->source);
      struct nc_mount_attr attr = { 0 };
      attr.attr_set = nc_mount_attrs (m->flags);
      if (attr.attr_set
          && syscall (SYS_mount_setattr, t[i], "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0)
        return nc_err_set (err, NC_STAGE_MOUNTS, errno, "mount_setattr %s", m->target);
    }
  return 0;
}

static void close_trees (const struct nc_plan *plan, int **trees)
{
  if (*trees)
    for (size_t i = 0; i < plan->nmounts; i++)
      if ((*trees)[i] >= 0)
        close ((*trees)[i]);
  free (*trees);
  *trees = NULL;
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

static void release_stdio (struct nc_proc *proc)
{
  for (int i = 0; i < 2; i++)
    if (proc->out[i] >= 0)
      {
        close (proc->out[i]);
        proc->out[i] = -1;
      }
  if (proc->in >= 0)
    close (proc->in);
  proc->in = -1;
}

static int same_file (int a, int b)
{
  struct stat x, y;
  return fstat (a, &x) == 0 && fstat (b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* The workload's ends go to *w_in (interactive only), *w_out and *w_err
 * (-1 when our stdout and stderr are one file: then one pipe serves both,
 * and their order is kept); ours, non-blocking, to proc. */
static int stdio_pipes (struct nc_proc *proc, int interactive, int *w_in, int *w_out, int *w_err,
                        struct nc_err *err)
{
  int p[2];
  int n = same_file (proc->to[0], proc->to[1]) ? 1 : 2;
  for (int i = 0; i < n; i++)
    {
      if (pipe2 (p, O_CLOEXEC) < 0)
        return nc_err_set (err, NC_STAGE_SYNC, errno, "pipe");
      proc->out[i] = p[0];
      *(i == 0 ? w_out : w_err) = p[1];
      fcntl (p[0], F_SETFL, O_NONBLOCK);
    }
  if (interactive)
    {
      if (pipe2 (p, O_CLOEXEC) < 0)
        return nc_err_set (err, NC_STAGE_SYNC, errno, "pipe");
      *w_in = p[0];
      proc->in = p[1];
      fcntl (p[1], F_SETFL, O_NONBLOCK);
    }
  return 0;
}

int nc_spawn (const struct nc_plan *plan, struct nc_proc *proc, const int *hold, size_t nhold,
              const struct nc_io *io, nc_warn_fn warn, void *ctx, struct nc_err *err)
{
  NC_AUTOCLOSE int parent_fd = -1;
  NC_AUTOCLOSE int child_fd = -1;
  NC_AUTOCLOSE int abort_fd = -1; /* terminating signals while the start goes on */
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
  proc->out[0] = proc->out[1] = proc->in = -1;
  proc->in_eof = 0;
  proc->to[0] = io && io->out_fd > 0 ? io->out_fd : STDOUT_FILENO;
  proc->to[1] = io && io->err_fd > 0 ? io->err_fd : STDERR_FILENO;
  proc->pty_live = 0;

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
  NC_AUTOCLOSE int init_fd = -1;
  if (plan->mini_init && (init_fd = nc_init_fd (err)) < 0)
    return init_fd;
  int *trees = NULL;
  if ((ret = make_trees (plan, &trees, err)) < 0)
    {
      close_trees (plan, &trees);
      return ret;
    }
  /* the workload's stdio: pipes of ours (module comment) */
  struct nc_child_io cio = { -1, NULL, { -1, -1, -1 }, io && io->tty, netns_fd, init_fd, trees };
  NC_AUTOCLOSE int w_in = -1, w_out = -1, w_err = -1;
  if (!cio.tty && (ret = stdio_pipes (proc, io && io->interactive, &w_in, &w_out, &w_err, err)) < 0)
    {
      close_trees (plan, &trees);
      release_stdio (proc);
      return ret;
    }
  cio.stdio[0] = w_in;
  cio.stdio[1] = w_out;
  cio.stdio[2] = w_err >= 0 ? w_err : w_out;

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
  cio.sync_fd = child_fd;
  cio.mask = &old;
  pid_t pid = (pid_t) syscall (SYS_clone3, &args, sizeof args);
  if (pid == 0)
    {
      /* proc is Lua memory, not mapped here: the child reads cio only */
      close (parent_fd);
      nc_child_run (plan, &cio);
    }
  int clone_errno = errno;
  /* the child's now (or nobody's) */
  close_trees (plan, &trees);
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
      release_stdio (proc);
      return nc_err_set (err, NC_STAGE_CLONE, clone_errno, "clone3");
    }
  close (nc_steal_fd (&child_fd));

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

  /* A terminating signal among the held ones ends a start that has not
   * reached the workload yet: held, it would wait for a start that may
   * never end (a setup stuck on a file system, a hook that hangs). */
  {
    static const int terminating[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    sigset_t term;
    int any = 0;
    sigemptyset (&term);
    for (size_t i = 0; i < nhold; i++)
      for (size_t j = 0; j < sizeof terminating / sizeof terminating[0]; j++)
        if (hold[i] == terminating[j])
          any = sigaddset (&term, hold[i]) == 0;
    if (any)
      abort_fd = signalfd (-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  int failed = 0, reset_seen = 0;
  for (;;)
    {
      if (proc->listener >= 0 || abort_fd >= 0)
        {
          /* trace mode: the child's own syscalls wait for our answers */
          struct pollfd pfd[3] = { { parent_fd, POLLIN, 0 }, { proc->listener, POLLIN, 0 },
                                   { abort_fd, POLLIN, 0 } };
          if (poll (pfd, 3, -1) < 0)
            {
              if (errno == EINTR)
                continue;
              ret = nc_err_set (err, NC_STAGE_SYNC, errno, "poll");
              goto fail;
            }
          struct signalfd_siginfo ssi;
          if ((pfd[2].revents & POLLIN) && read (abort_fd, &ssi, sizeof ssi) == sizeof ssi)
            {
              ret = nc_err_set (err, NC_STAGE_SYNC, EINTR, "the start was interrupted (%s)",
                                strsignal ((int) ssi.ssi_signo));
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
          proc->pty_live = 1;
          if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
            ioctl (passed_fd, TIOCSWINSZ, &ws);
          continue;
        }
      if (passed_fd >= 0 && (m.type != NC_MSG_LISTENER || proc->listener >= 0))
        {
          close (passed_fd);
          passed_fd = -1;
        }
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
      if (m.type == NC_MSG_LISTENER && proc->listener < 0 && passed_fd >= 0)
        {
          /* the workload's pidfd came with the number */
          proc->listener = take_listener (passed_fd, m.err.code, err);
          close (passed_fd);
          if (proc->listener < 0)
            {
              ret = proc->listener;
              proc->listener = -1;
              goto fail;
            }
          /* the profile each call is judged by; the proc may outlive the plan */
          size_t size = plan->trace_judge_len * sizeof *plan->trace_judge;
          if (plan->trace_judge && !(proc->trace.judge = malloc (size)))
            {
              ret = nc_err_set (err, NC_STAGE_SECCOMP, ENOMEM, "trace");
              goto fail;
            }
          if (plan->trace_judge)
            memcpy (proc->trace.judge, plan->trace_judge, size);
          proc->trace.judge_len = plan->trace_judge_len;
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
  release_stdio (proc);
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

/* All of n bytes of buf to fd, waiting while fd is full (a caller's
 * stdout may be non-blocking: its flags are not ours to change). */
static int write_all (int fd, const char *buf, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, buf, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && errno == EAGAIN)
        {
          struct pollfd p = { fd, POLLOUT, 0 };
          poll (&p, 1, -1);
          continue;
        }
      if (w <= 0)
        return -1;
      buf += w;
      n -= (size_t) w;
    }
  return 0;
}

/* Copy what is readable on from to to.  Returns the bytes moved, 0 when
 * nothing is there now, -1 at EOF or when from is gone (EIO on a hung-up
 * pty) or to failed (EPIPE: its reader is gone).  from is non-blocking. */
static ssize_t pump (int from, int to)
{
  char buf[65536];
  ssize_t n = read (from, buf, sizeof buf);
  if (n < 0)
    return errno == EAGAIN || errno == EINTR ? 0 : -1;
  if (n == 0 || write_all (to, buf, (size_t) n) < 0)
    return -1;
  return n;
}

/* Our end of a relay is done: the workload reads EOF (stdin) or gets
 * EPIPE at its next write (stdout, stderr whose reader went away), as it
 * would have with our own file. */
static void close_relay (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

/* Our stdin to the workload's (interactive, no terminal): what we read
 * waits in buf while its pipe is full, so that its output is still
 * relayed meanwhile.  Returns 1 when something moved. */
struct in_relay {
  char buf[65536];
  size_t off, len;
};

static void relay_in (struct nc_proc *proc, struct in_relay *r, int readable)
{
  if (r->len == 0 && readable && !proc->in_eof)
    {
      ssize_t n = read (STDIN_FILENO, r->buf, sizeof r->buf);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      if (n <= 0)
        {
          proc->in_eof = 1;
          close_relay (&proc->in);
          return;
        }
      r->off = 0;
      r->len = (size_t) n;
    }
  while (r->len > 0)
    {
      ssize_t w = write (proc->in, r->buf + r->off, r->len);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && errno == EAGAIN)
        return; /* full: polled for POLLOUT */
      if (w < 0)
        {
          /* the workload closed its stdin */
          proc->in_eof = 1;
          close_relay (&proc->in);
          r->len = 0;
          return;
        }
      r->off += (size_t) w;
      r->len -= (size_t) w;
    }
}

/* What is ready on the relay's fds (their revents): the trace listener
 * answered, the terminal's and the pipes' output copied out. */
static void relay_out (struct nc_proc *proc, short trace, short pty, short out, short err)
{
  if (trace & POLLIN)
    nc_trace_service (proc->listener, &proc->trace);
  else if (trace & (POLLHUP | POLLERR))
    {
      /* every traced process is gone */
      close (proc->listener);
      proc->listener = -1;
    }
  /* the terminal is read until it hangs up (EIO once the workload has
   * closed every fd of it): polling it after that would spin */
  if (pty & (POLLIN | POLLHUP | POLLERR) && pump (proc->pty_master, proc->to[0]) < 0)
    proc->pty_live = 0;
  short ev[2] = { out, err };
  for (int i = 0; i < 2; i++)
    if (ev[i] & (POLLIN | POLLHUP | POLLERR) && pump (proc->out[i], proc->to[i]) < 0)
      close_relay (&proc->out[i]);
}

/* What the workload wrote last, once its first process has exited: its
 * pipes hold all of it now (when the first process was PID 1, every
 * process of the container is gone). */
static void drain (struct nc_proc *proc)
{
  if (proc->pty_live)
    {
      int fl = fcntl (proc->pty_master, F_GETFL);
      fcntl (proc->pty_master, F_SETFL, fl | O_NONBLOCK);
      while (pump (proc->pty_master, proc->to[0]) > 0)
        ;
      proc->pty_live = 0;
    }
  for (int i = 0; i < 2; i++)
    if (proc->out[i] >= 0)
      {
        while (pump (proc->out[i], proc->to[i]) > 0)
          ;
        close_relay (&proc->out[i]);
      }
  close_relay (&proc->in);
}

size_t nc_proc_fds (const struct nc_proc *proc, int *fds)
{
  size_t n = 0;
  if (proc->pidfd < 0)
    return 0;
  fds[n++] = proc->pidfd;
  if (proc->listener >= 0)
    fds[n++] = proc->listener;
  if (proc->pty_live)
    fds[n++] = proc->pty_master;
  for (int i = 0; i < 2; i++)
    if (proc->out[i] >= 0)
      fds[n++] = proc->out[i];
  return n;
}

int nc_proc_poll (struct nc_proc *proc, struct nc_status *st, struct nc_err *err)
{
  if (proc->pidfd < 0)
    return nc_err_set (err, NC_STAGE_WAIT, ESRCH, "process already released");
  if (proc->in >= 0 || proc->relay_stdin)
    return nc_err_set (err, NC_STAGE_WAIT, EINVAL, "a relayed stdin needs a blocking wait");
  restore_mask (proc);
  /* a reader of our output that went away is an EPIPE for the workload,
   * not a SIGPIPE that kills the caller's process */
  sigset_t pipe_set, old, pending;
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old);
  int pipe_was_pending = sigpending (&pending) == 0 && sigismember (&pending, SIGPIPE);
  enum { P_PID, P_TRACE, P_PTY, P_OUT, P_ERR, P_N };
  struct pollfd pfd[P_N] = {
    [P_PID] = { proc->pidfd, POLLIN, 0 },
    [P_TRACE] = { proc->listener, POLLIN, 0 },
    [P_PTY] = { proc->pty_live ? proc->pty_master : -1, POLLIN, 0 },
    [P_OUT] = { proc->out[0], POLLIN, 0 },
    [P_ERR] = { proc->out[1], POLLIN, 0 },
  };
  int ret = 0;
  if (poll (pfd, P_N, 0) < 0)
    {
      if (errno != EINTR)
        ret = nc_err_set (err, NC_STAGE_WAIT, errno, "poll");
      goto out;
    }
  relay_out (proc, pfd[P_TRACE].revents, pfd[P_PTY].revents, pfd[P_OUT].revents, pfd[P_ERR].revents);
  if (pfd[P_PID].revents & (POLLIN | POLLHUP))
    {
      siginfo_t si;
      memset (&si, 0, sizeof si);
      if (waitid (P_PIDFD, (id_t) proc->pidfd, &si, WEXITED | WNOHANG) < 0)
        {
          if (errno != EINTR)
            ret = nc_err_set (err, NC_STAGE_WAIT, errno, "waitid");
          goto out;
        }
      if (si.si_pid != 0)
        {
          drain (proc);
          status_from (&si, st);
          nc_proc_release (proc);
          ret = 1;
        }
    }
out:
  if (!pipe_was_pending)
    {
      struct timespec zero = { 0, 0 };
      while (sigtimedwait (&pipe_set, NULL, &zero) > 0)
        ;
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return ret;
}

int nc_proc_wait (struct nc_proc *proc, const int *sigs, size_t nsigs, struct nc_status *st,
                  struct nc_err *err)
{
  siginfo_t si;
  if (proc->pidfd < 0)
    return nc_err_set (err, NC_STAGE_WAIT, ESRCH, "process already released");
  if (nsigs == 0 && proc->listener < 0 && proc->pty_master < 0 && proc->out[0] < 0
      && proc->out[1] < 0 && proc->in < 0)
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
   * host's own handlers (if any) do not run meanwhile.  SIGPIPE is
   * blocked too (a relay whose reader went away closes its pipe: the
   * workload gets the EPIPE) and a SIGPIPE of ours is consumed below. */
  sigset_t set, old, pipe_set;
  sigemptyset (&set);
  for (size_t i = 0; i < nsigs; i++)
    sigaddset (&set, sigs[i]);
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  sigset_t block = set;
  sigaddset (&block, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &block, &old);
  if (proc->held)
    old = proc->held_from; /* what the caller had before nc_spawn */
  proc->held = 0;
  sigset_t pending;
  int pipe_was_pending = sigpending (&pending) == 0 && sigismember (&pending, SIGPIPE);
  NC_AUTOCLOSE int sfd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  int ret = 0;
  struct termios saved_tio;
  int raw = 0;
  int in_open = proc->pty_master >= 0 && proc->relay_stdin;
  struct in_relay *inr = NULL;
  if (sfd < 0)
    {
      ret = nc_err_set (err, NC_STAGE_WAIT, errno, "signalfd");
      goto out;
    }
  if (proc->in >= 0 && !(inr = malloc (sizeof *inr)))
    {
      ret = nc_err_set (err, NC_STAGE_WAIT, ENOMEM, "stdin relay");
      goto out;
    }
  if (inr)
    inr->off = inr->len = 0;
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
      enum { P_PID, P_SIG, P_TRACE, P_PTY, P_IN, P_INW, P_OUT, P_ERR, P_N };
      int relay_in_open = proc->in >= 0 && !proc->in_eof;
      struct pollfd pfd[P_N] = {
        [P_PID] = { proc->pidfd, POLLIN, 0 },
        [P_SIG] = { sfd, POLLIN, 0 },
        [P_TRACE] = { proc->listener, POLLIN, 0 },
        [P_PTY] = { proc->pty_live ? proc->pty_master : -1, POLLIN, 0 },
        /* our stdin: for the terminal, or for the pipe when nothing of
         * it waits to be written */
        [P_IN] = { in_open || (relay_in_open && inr->len == 0) ? STDIN_FILENO : -1, POLLIN, 0 },
        [P_INW] = { relay_in_open && inr->len > 0 ? proc->in : -1, POLLOUT, 0 },
        [P_OUT] = { proc->out[0], POLLIN, 0 },
        [P_ERR] = { proc->out[1], POLLIN, 0 },
      };
      if (poll (pfd, P_N, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          ret = nc_err_set (err, NC_STAGE_WAIT, errno, "poll");
          goto out;
        }
      relay_out (proc, pfd[P_TRACE].revents, pfd[P_PTY].revents, pfd[P_OUT].revents, pfd[P_ERR].revents);
      if (in_open && pfd[P_IN].revents & (POLLIN | POLLHUP | POLLERR)
          && pump (STDIN_FILENO, proc->pty_master) <= 0)
        {
          /* our stdin ended: the terminal reads EOF (^D) */
          char eot = 4;
          if (write (proc->pty_master, &eot, 1) < 0)
            {
            }
          in_open = 0;
        }
      if (relay_in_open
          && (pfd[P_IN].revents & (POLLIN | POLLHUP | POLLERR)
              || pfd[P_INW].revents & (POLLOUT | POLLERR | POLLHUP)))
        relay_in (proc, inr, (pfd[P_IN].revents & (POLLIN | POLLHUP | POLLERR)) != 0);
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
  drain (proc);
  status_from (&si, st);
out:
  free (inr);
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
  if (!pipe_was_pending)
    {
      struct timespec zero = { 0, 0 };
      while (sigtimedwait (&pipe_set, NULL, &zero) > 0)
        ;
    }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return ret;
}

void nc_proc_kill (struct nc_proc *proc)
{
  if (proc->pidfd >= 0)
    kill_and_reap (proc->pid, proc->pidfd);
}

void nc_proc_release (struct nc_proc *proc)
{
  restore_mask (proc);
  release_stdio (proc);
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

/* trace.c - seccomp trace mode: the supervisor's side.
 *
 * In trace mode the container's filter is one instruction, "notify the
 * supervisor" (SECCOMP_RET_USER_NOTIF), for every syscall of every process
 * and every architecture.  The supervisor judges each call by the profile
 * the container would otherwise run under (the built-in default: its
 * program, run here by nc_seccomp_eval on the call's number, architecture
 * and arguments), records each (architecture, number) with how often it
 * was permitted and refused and the first process that made it, then
 * lets a permitted call proceed (SECCOMP_USER_NOTIF_FLAG_CONTINUE) and
 * answers a refused one as the profile would: its errno, or the process
 * killed (an architecture the profile does not list).  A trace thus
 * records what the workload does under its profile, and never lets
 * through what the profile refuses (clone with CLONE_NEWUSER, kexec_load).
 * Nothing is rate limited and no child process is missed, unlike kernel
 * audit logging.
 *
 * Judging in the supervisor rather than the kernel is what lets refused
 * calls be recorded: a filter's SECCOMP_RET_ERRNO outranks USER_NOTIF,
 * so a kernel-side refusal is never seen.  The profile's conditions are
 * on registers only (seccomp_data), which CONTINUE passes on unchanged.
 * The supervisor does not see a call's result: "permitted" says the
 * profile let it through, not that it succeeded.
 *
 * Runs in: parent.  The child's side is child.c apply_seccomp; the fd hand
 * over is in spawn.c (sync 2b).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>

#include "internal.h"

static size_t slot (const struct nc_trace *t, uint32_t arch, int nr)
{
  uint64_t h = ((uint64_t) arch << 32 | (uint32_t) nr) * 0x9e3779b97f4a7c15ULL;
  return (size_t) (h >> 40) & (t->cap - 1);
}

static int grow (struct nc_trace *t)
{
  size_t cap = t->cap ? t->cap * 2 : 512;
  struct nc_trace_entry *v = calloc (cap, sizeof *v);
  if (!v)
    return -ENOMEM;
  struct nc_trace old = *t;
  t->v = v;
  t->cap = cap;
  t->n = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.v[i].count)
      {
        size_t s = slot (t, old.v[i].arch, old.v[i].nr);
        while (t->v[s].count)
          s = (s + 1) & (cap - 1);
        t->v[s] = old.v[i];
        t->n++;
      }
  free (old.v);
  return 0;
}

static struct nc_trace_entry *find (struct nc_trace *t, uint32_t arch, int nr)
{
  size_t s = slot (t, arch, nr);
  while (t->v[s].count && !(t->v[s].arch == arch && t->v[s].nr == nr))
    s = (s + 1) & (t->cap - 1);
  return &t->v[s];
}

/* The table holds the calls the kernel's tables name (a few hundred per
 * architecture) and one bucket per architecture, number -1, for every
 * number they do not: a workload that tries millions of numbers keeps the
 * supervisor's memory and the record bounded. */
static int record (struct nc_trace *t, uint32_t arch, int nr, pid_t pid, uint32_t verdict)
{
  if ((t->n + 1) * 2 > t->cap && grow (t) < 0)
    return -ENOMEM;
  struct nc_trace_entry *e = find (t, arch, nr);
  if (!e->count)
    {
      char *name = nr >= 0 ? seccomp_syscall_resolve_num_arch (arch, nr) : NULL;
      if (!name)
        {
          nr = NC_TRACE_UNKNOWN;
          e = find (t, arch, nr);
        }
      free (name);
    }
  uint32_t action = verdict & SECCOMP_RET_ACTION_FULL;
  if (action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG)
    e->permitted++;
  else
    {
      e->refused++;
      if (action == SECCOMP_RET_ERRNO && !e->refused_errno)
        e->refused_errno = (int) (verdict & SECCOMP_RET_DATA);
      if (action == SECCOMP_RET_KILL_PROCESS || action == SECCOMP_RET_KILL_THREAD)
        e->killed++;
    }
  if (e->count++ == 0)
    {
      t->n++;
      e->arch = arch;
      e->nr = nr;
      e->first_pid = pid;
      char path[64];
      snprintf (path, sizeof path, "/proc/%d/comm", (int) pid);
      int fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0)
        {
          ssize_t n = read (fd, e->first_comm, sizeof e->first_comm - 1);
          if (n > 0 && e->first_comm[n - 1] == '\n')
            n--;
          e->first_comm[n > 0 ? n : 0] = '\0';
          close (fd);
        }
    }
  return 0;
}

/* Kill the process whose thread tid waits in notification id, as the
 * kernel would for SECCOMP_RET_KILL_* (with SIGKILL: SIGSYS could be
 * caught).  The thread leaves the wait only when answered or interrupted,
 * and either ends id: when id is still valid after the pidfd was opened,
 * the thread was alive throughout, so the Tgid read before named its
 * process, not a process that reused the number. */
static void kill_waiting (int listener, pid_t tid, uint64_t id)
{
  char path[64], buf[512];
  snprintf (path, sizeof path, "/proc/%d/status", (int) tid);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  close (fd);
  buf[n > 0 ? n : 0] = '\0';
  const char *tg = strstr (buf, "\nTgid:");
  if (!tg)
    return;
  int pidfd = (int) syscall (SYS_pidfd_open, (pid_t) atoi (tg + 6), 0);
  if (pidfd < 0)
    return;
  if (ioctl (listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0)
    syscall (SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
  close (pidfd);
}

/* Answer every pending notification.  Returns 0, or -errno when the
 * listener is gone (all traced processes exited: POLLHUP). */
int nc_trace_service (int listener, struct nc_trace *t)
{
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  memset (&req, 0, sizeof req);
  if (ioctl (listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
    return errno == EINTR || errno == ENOENT ? 0 : -errno;
  /* no profile to judge by (a plan built without one): refuse */
  uint32_t verdict = t->judge ? nc_seccomp_eval (t->judge, t->judge_len, &req.data)
                              : SECCOMP_RET_ERRNO | ENOSYS;
  /* x32 calls arrive as x86_64 with the x32 bit set in the number */
  int nr = req.data.nr;
  uint32_t arch = req.data.arch;
  if (arch == AUDIT_ARCH_X86_64 && (nr & 0x40000000))
    {
      arch = SCMP_ARCH_X32;
      nr &= ~0x40000000;
    }
  int r = record (t, arch, nr, (pid_t) req.pid, verdict);
  memset (&resp, 0, sizeof resp);
  resp.id = req.id;
  uint32_t action = verdict & SECCOMP_RET_ACTION_FULL;
  if (action == SECCOMP_RET_ALLOW || action == SECCOMP_RET_LOG)
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else if (action == SECCOMP_RET_ERRNO)
    {
      /* as the kernel has it: at most MAX_ERRNO */
      uint32_t e = verdict & SECCOMP_RET_DATA;
      resp.error = -(int) (e > 4095 ? 4095 : e);
    }
  else
    {
      /* kill, trap, trace or notify: none is ours to give, all refuse */
      if (action == SECCOMP_RET_KILL_PROCESS || action == SECCOMP_RET_KILL_THREAD)
        kill_waiting (listener, (pid_t) req.pid, req.id);
      resp.error = -ENOSYS;
    }
  /* ENOENT: the process died (or was interrupted) meanwhile */
  if (ioctl (listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
    return -errno;
  return r;
}

void nc_trace_free (struct nc_trace *t)
{
  free (t->v);
  free (t->judge);
  memset (t, 0, sizeof *t);
}

const char *nc_trace_arch_name (uint32_t arch)
{
  switch (arch)
    {
    case SCMP_ARCH_X86_64:
      return "SCMP_ARCH_X86_64";
    case SCMP_ARCH_X86:
      return "SCMP_ARCH_X86";
    case SCMP_ARCH_X32:
      return "SCMP_ARCH_X32";
    case SCMP_ARCH_AARCH64:
      return "SCMP_ARCH_AARCH64";
    default:
      return "unknown";
    }
}

/* Name of the syscall; the caller frees it.  NULL when unknown. */
char *nc_trace_syscall_name (uint32_t arch, int nr)
{
  return seccomp_syscall_resolve_num_arch (arch, nr);
}

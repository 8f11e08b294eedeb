/* trace.c - seccomp trace mode: the supervisor's side.
 *
 * In trace mode the container's filter is one instruction, "notify the
 * supervisor" (SECCOMP_RET_USER_NOTIF), for every syscall of every process
 * and every architecture.  The supervisor records each (architecture,
 * number) with a count and the first process that made it, then lets the
 * call proceed (SECCOMP_USER_NOTIF_FLAG_CONTINUE).  Nothing is rate
 * limited and no child process is missed, unlike kernel audit logging.
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
static int record (struct nc_trace *t, uint32_t arch, int nr, pid_t pid)
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

/* Answer every pending notification.  Returns 0, or -errno when the
 * listener is gone (all traced processes exited: POLLHUP). */
int nc_trace_service (int listener, struct nc_trace *t)
{
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  memset (&req, 0, sizeof req);
  if (ioctl (listener, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
    return errno == EINTR || errno == ENOENT ? 0 : -errno;
  /* x32 calls arrive as x86_64 with the x32 bit set in the number */
  int nr = req.data.nr;
  uint32_t arch = req.data.arch;
  if (arch == AUDIT_ARCH_X86_64 && (nr & 0x40000000))
    {
      arch = SCMP_ARCH_X32;
      nr &= ~0x40000000;
    }
  int r = record (t, arch, nr, (pid_t) req.pid);
  memset (&resp, 0, sizeof resp);
  resp.id = req.id;
  resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  /* ENOENT: the process died (or was interrupted) meanwhile */
  if (ioctl (listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
    return -errno;
  return r;
}

void nc_trace_free (struct nc_trace *t)
{
  free (t->v);
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

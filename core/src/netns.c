/* netns.c - a network namespace made ahead of clone3, on a thread.
 *
 * Runs in: parent.  A new network namespace is the dearest part of a
 * container's clone3 (about half a millisecond of pernet set-up: devices,
 * sysctls, proc and sysfs entries, on this kernel).  It depends on nothing
 * the launch plan decides, so a thread can make it (and bring lo up in it)
 * while the caller is still compiling the plan; the child then joins it
 * with setns instead of creating one (nc_io.netns_fd).  unshare() moves
 * only the calling thread; the thread takes the namespace's fd from a
 * socket made in it (SIOCGSKNS) and ends, and the fd alone keeps the
 * namespace alive: closing it unused frees it, as any namespace nothing
 * refers to.
 *
 * Only for a container without a user namespace: a namespace made here
 * belongs to the caller's user namespace, which a container's root in a
 * user namespace of its own has no capability over.
 */
#define _GNU_SOURCE
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "internal.h"

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif

static void *prepare_main (void *arg)
{
  struct nc_netns *ns = arg;
  int s = -1;
  struct ifreq ifr;

  ns->what = "unshare";
  if (unshare (CLONE_NEWNET) < 0)
    goto fail;
  ns->what = "socket";
  s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    goto fail;
  ns->what = "lo";
  memset (&ifr, 0, sizeof ifr);
  memcpy (ifr.ifr_name, "lo", 3);
  if (ioctl (s, SIOCGIFFLAGS, &ifr) < 0)
    goto fail;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (s, SIOCSIFFLAGS, &ifr) < 0)
    goto fail;
  ns->what = "SIOCGSKNS";
  ns->fd = ioctl (s, SIOCGSKNS); /* close-on-exec */
  if (ns->fd < 0)
    goto fail;
  close (s);
  ns->error = 0;
  return NULL;

fail:
  ns->error = errno;
  if (s >= 0)
    close (s);
  return NULL;
}

int nc_netns_prepare (struct nc_netns *ns, struct nc_err *err)
{
  pthread_attr_t attr;
  sigset_t all, old;
  int r;

  memset (ns, 0, sizeof *ns);
  ns->fd = -1;
  /* a small stack; every signal blocked, so none is delivered to it */
  if ((r = pthread_attr_init (&attr)) != 0)
    return nc_err_set (err, NC_STAGE_NETWORK, r, "network namespace: thread");
  pthread_attr_setstacksize (&attr, 64 * 1024);
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  r = pthread_create (&ns->thread, &attr, prepare_main, ns);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  pthread_attr_destroy (&attr);
  if (r != 0)
    return nc_err_set (err, NC_STAGE_NETWORK, r, "network namespace: thread");
  ns->running = 1;
  return 0;
}

int nc_netns_take (struct nc_netns *ns, struct nc_err *err)
{
  if (ns->running)
    {
      pthread_join (ns->thread, NULL);
      ns->running = 0;
    }
  if (ns->fd >= 0)
    return ns->fd;
  if (!ns->error)
    {
      nc_err_set (err, NC_STAGE_NETWORK, 0, "network namespace: closed");
      return -EBADF;
    }
  return nc_err_set (err, NC_STAGE_NETWORK, ns->error, "network namespace: %s", ns->what);
}

void nc_netns_close (struct nc_netns *ns)
{
  if (ns->running)
    {
      pthread_join (ns->thread, NULL);
      ns->running = 0;
    }
  if (ns->fd >= 0)
    close (ns->fd);
  ns->fd = -1;
  ns->error = 0;
}

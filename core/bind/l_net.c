/* l_net.c - the network primitives behind nucleus.net.
 *
 * Links, addresses and routes through libnl-route-3 (no `ip`); helpers
 * (iptables-restore, slirp4netns) run with fork + execve, optionally inside
 * a container's user and network namespaces; host ports are held by a bound
 * socket.  Mechanism only: names, addresses, rules and the order of things
 * are decided in lua/nucleus/net.lua.  Expected failures return
 * nil, "what: reason", errno; misuse raises.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "l_core.h"
#include "../src/internal.h"

static int fail_msg (lua_State *L, int code, const char *fmt, ...)
{
  va_list ap;
  lua_pushnil (L);
  va_start (ap, fmt);
  lua_pushvfstring (L, fmt, ap);
  va_end (ap);
  lua_pushinteger (L, code);
  return 3;
}

/* libnl errors are negative NLE_* codes; keep the kernel's errno where
 * libnl maps one (EEXIST, ENODEV, EPERM...) */
static int nl_errno (int nle)
{
  switch (-nle)
    {
    case NLE_EXIST: return EEXIST;
    case NLE_OBJ_NOTFOUND: return ENODEV;
    case NLE_NODEV: return ENODEV;
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_INVAL: return EINVAL;
    case NLE_BUSY: return EBUSY;
    case NLE_RANGE: return ERANGE;
    default: return EIO;
    }
}

static int fail_nl (lua_State *L, int nle, const char *fmt, const char *arg)
{
  lua_pushnil (L);
  lua_pushfstring (L, fmt, arg);
  lua_pushfstring (L, "%s: %s", lua_tostring (L, -1), nl_geterror (nle));
  lua_remove (L, -2);
  lua_pushinteger (L, nl_errno (nle));
  return 3;
}

/* A NETLINK_ROUTE socket in the network namespace of pid (0: ours).  A
 * socket stays in the namespace it was created in, so we step into the
 * target's only to create it. */
static struct nl_sock *route_socket (pid_t pid, int *nle)
{
  int self = -1, target = -1;
  if (pid > 0)
    {
      char p[64];
      snprintf (p, sizeof p, "/proc/%d/ns/net", (int) pid);
      target = open (p, O_RDONLY | O_CLOEXEC);
      self = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
      if (target < 0 || self < 0 || setns (target, CLONE_NEWNET) < 0)
        {
          int e = errno;
          if (target >= 0) close (target);
          if (self >= 0) close (self);
          *nle = e == ENOENT || e == ESRCH ? -NLE_OBJ_NOTFOUND : e == EPERM ? -NLE_PERM : -NLE_FAILURE;
          return NULL;
        }
      close (target);
    }
  struct nl_sock *sk = nl_socket_alloc ();
  int r = sk ? nl_connect (sk, NETLINK_ROUTE) : -NLE_NOMEM;
  if (self >= 0)
    {
      /* never leave the supervisor in the container's namespace */
      if (setns (self, CLONE_NEWNET) < 0)
        abort ();
      close (self);
    }
  if (r < 0)
    {
      if (sk)
        nl_socket_free (sk);
      *nle = r;
      return NULL;
    }
  return sk;
}

static int parse_cidr (const char *s, struct nl_addr **a)
{
  return nl_addr_parse (s, AF_INET, a);
}

static int link_up (struct nl_sock *sk, struct rtnl_link *link)
{
  struct rtnl_link *chg = rtnl_link_alloc ();
  if (!chg)
    return -NLE_NOMEM;
  rtnl_link_set_flags (chg, IFF_UP);
  int r = rtnl_link_change (sk, link, chg, 0);
  rtnl_link_put (chg);
  return r;
}

/* The first IPv4 address of ifindex as ADDR/PREFIX into buf ("" for none). */
static int first_addr (struct nl_sock *sk, int ifindex, char *buf, size_t len)
{
  struct nl_cache *cache;
  int r = rtnl_addr_alloc_cache (sk, &cache);
  if (r < 0)
    return r;
  buf[0] = '\0';
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_addr *a = (struct rtnl_addr *) o;
      if (rtnl_addr_get_ifindex (a) == ifindex && rtnl_addr_get_family (a) == AF_INET)
        {
          nl_addr2str (rtnl_addr_get_local (a), buf, len);
          break;
        }
    }
  nl_cache_free (cache);
  return 0;
}

/* core.net_bridge(name, "GW/PREFIX") -> created (boolean) | nil, msg, errno
 * The bridge exists, carries GW/PREFIX and is up.  A bridge that exists
 * with another address is an error (it belongs to another subnet); a link
 * of that name that is not a bridge too. */
static int l_net_bridge (lua_State *L)
{
  const char *name = luaL_checkstring (L, 1);
  const char *cidr = luaL_checkstring (L, 2);
  int nle = 0, created = 0;
  struct nl_addr *addr = NULL;
  struct rtnl_link *link = NULL;
  struct rtnl_addr *ra = NULL;
  struct nl_sock *sk = route_socket (0, &nle);
  if (!sk)
    return fail_nl (L, nle, "bridge %s: netlink", name);
  if ((nle = parse_cidr (cidr, &addr)) < 0)
    goto out;
  nle = rtnl_link_get_kernel (sk, 0, name, &link);
  if (nle == -NLE_OBJ_NOTFOUND || nle == -NLE_NODEV)
    {
      struct rtnl_link *br = rtnl_link_bridge_alloc ();
      if (!br)
        {
          nle = -NLE_NOMEM;
          goto out;
        }
      rtnl_link_set_name (br, name);
      nle = rtnl_link_add (sk, br, NLM_F_CREATE | NLM_F_EXCL);
      rtnl_link_put (br);
      if (nle == 0)
        created = 1;
      else if (nle != -NLE_EXIST) /* another nucleus made it meanwhile */
        goto out;
      nle = rtnl_link_get_kernel (sk, 0, name, &link);
    }
  if (nle < 0)
    goto out;
  const char *kind = rtnl_link_get_type (link);
  if (!kind || strcmp (kind, "bridge") != 0)
    {
      lua_pushstring (L, kind ? kind : "non-bridge"); /* before the link goes */
      nl_addr_put (addr);
      rtnl_link_put (link);
      nl_socket_free (sk);
      return fail_msg (L, EEXIST, "bridge %s: a %s link of that name exists", name, lua_tostring (L, -1));
    }
  int ifindex = rtnl_link_get_ifindex (link);
  char have[64];
  if ((nle = first_addr (sk, ifindex, have, sizeof have)) < 0)
    goto out;
  char want[64];
  nl_addr2str (addr, want, sizeof want);
  if (have[0] == '\0')
    {
      ra = rtnl_addr_alloc ();
      rtnl_addr_set_ifindex (ra, ifindex);
      rtnl_addr_set_local (ra, addr);
      nle = rtnl_addr_add (sk, ra, NLM_F_CREATE | NLM_F_EXCL);
      if (nle == -NLE_EXIST)
        nle = 0;
      if (nle < 0)
        goto out;
      if ((nle = first_addr (sk, ifindex, have, sizeof have)) < 0)
        goto out;
    }
  if (strcmp (have, want) != 0)
    {
      nl_addr_put (addr);
      if (ra)
        rtnl_addr_put (ra);
      rtnl_link_put (link);
      nl_socket_free (sk);
      return fail_msg (L, EEXIST, "bridge %s has address %s, not %s: it serves another subnet "
                       "(choose another --bridge or --subnet)", name, have, want);
    }
  if (!(rtnl_link_get_flags (link) & IFF_UP))
    nle = link_up (sk, link);
out:
  if (addr)
    nl_addr_put (addr);
  if (ra)
    rtnl_addr_put (ra);
  if (link)
    rtnl_link_put (link);
  nl_socket_free (sk);
  if (nle < 0)
    return fail_nl (L, nle, "bridge %s", name);
  lua_pushboolean (L, created);
  return 1;
}

/* core.net_veth(host_name, pid, bridge [, peer_name]) -> true | nil, msg, errno
 * A veth pair whose peer is created directly in pid's network namespace
 * (named peer_name, default eth0), the host end enslaved to bridge and up,
 * in one request: no moment where the peer sits in the host's namespace. */
static int l_net_veth (lua_State *L)
{
  const char *host = luaL_checkstring (L, 1);
  pid_t pid = (pid_t) luaL_checkinteger (L, 2);
  const char *bridge = luaL_checkstring (L, 3);
  const char *peer_name = luaL_optstring (L, 4, "eth0");
  int nle = 0;
  struct nl_sock *sk = route_socket (0, &nle);
  if (!sk)
    return fail_nl (L, nle, "veth %s: netlink", host);
  int br = 0;
  struct rtnl_link *veth = NULL, *brl = NULL;
  if ((nle = rtnl_link_get_kernel (sk, 0, bridge, &brl)) < 0)
    goto out;
  br = rtnl_link_get_ifindex (brl);
  veth = rtnl_link_veth_alloc ();
  if (!veth)
    {
      nle = -NLE_NOMEM;
      goto out;
    }
  rtnl_link_set_name (veth, host);
  rtnl_link_set_master (veth, br);
  rtnl_link_set_flags (veth, IFF_UP);
  struct rtnl_link *peer = rtnl_link_veth_get_peer (veth);
  rtnl_link_set_name (peer, peer_name);
  rtnl_link_set_ns_pid (peer, pid);
  rtnl_link_put (peer);
  nle = rtnl_link_add (sk, veth, NLM_F_CREATE | NLM_F_EXCL);
out:
  if (veth)
    rtnl_link_veth_release (veth);
  if (brl)
    rtnl_link_put (brl);
  nl_socket_free (sk);
  if (nle < 0)
    return fail_nl (L, nle, "veth %s", host);
  lua_pushboolean (L, 1);
  return 1;
}

/* core.net_configure(pid, ifname, "ADDR/PREFIX", gateway) -> true | nil, msg, errno
 * Inside pid's network namespace: lo up, ADDR on ifname, ifname up, the
 * default route through gateway. */
static int l_net_configure (lua_State *L)
{
  pid_t pid = (pid_t) luaL_checkinteger (L, 1);
  const char *ifname = luaL_checkstring (L, 2);
  const char *cidr = luaL_checkstring (L, 3);
  const char *gw = luaL_checkstring (L, 4);
  int nle = 0;
  const char *what = "netlink";
  struct nl_addr *addr = NULL, *gwa = NULL, *dst = NULL;
  struct rtnl_link *lo = NULL, *dev = NULL;
  struct rtnl_addr *ra = NULL;
  struct rtnl_route *rt = NULL;
  struct nl_sock *sk = route_socket (pid, &nle);
  if (!sk)
    return fail_nl (L, nle, "container network (pid %s)", lua_pushfstring (L, "%d", (int) pid));
  what = "address";
  if ((nle = parse_cidr (cidr, &addr)) < 0 || (nle = nl_addr_parse (gw, AF_INET, &gwa)) < 0
      || (nle = nl_addr_parse ("0.0.0.0/0", AF_INET, &dst)) < 0)
    goto out;
  what = "lo";
  if ((nle = rtnl_link_get_kernel (sk, 0, "lo", &lo)) < 0 || (nle = link_up (sk, lo)) < 0)
    goto out;
  what = ifname;
  if ((nle = rtnl_link_get_kernel (sk, 0, ifname, &dev)) < 0)
    goto out;
  int ifindex = rtnl_link_get_ifindex (dev);
  ra = rtnl_addr_alloc ();
  rtnl_addr_set_ifindex (ra, ifindex);
  rtnl_addr_set_local (ra, addr);
  if ((nle = rtnl_addr_add (sk, ra, NLM_F_CREATE | NLM_F_EXCL)) < 0 || (nle = link_up (sk, dev)) < 0)
    goto out;
  what = "default route";
  rt = rtnl_route_alloc ();
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc ();
  rtnl_route_nh_set_gateway (nh, gwa);
  rtnl_route_nh_set_ifindex (nh, ifindex);
  rtnl_route_add_nexthop (rt, nh);
  rtnl_route_set_family (rt, AF_INET);
  rtnl_route_set_dst (rt, dst);
  rtnl_route_set_table (rt, RT_TABLE_MAIN);
  rtnl_route_set_protocol (rt, RTPROT_BOOT);
  rtnl_route_set_scope (rt, RT_SCOPE_UNIVERSE);
  rtnl_route_set_type (rt, RTN_UNICAST);
  nle = rtnl_route_add (sk, rt, NLM_F_CREATE | NLM_F_EXCL);
out:
  if (rt) rtnl_route_put (rt);
  if (ra) rtnl_addr_put (ra);
  if (dev) rtnl_link_put (dev);
  if (lo) rtnl_link_put (lo);
  if (addr) nl_addr_put (addr);
  if (gwa) nl_addr_put (gwa);
  if (dst) nl_addr_put (dst);
  nl_socket_free (sk);
  if (nle < 0)
    return fail_nl (L, nle, "container network: %s", what);
  lua_pushboolean (L, 1);
  return 1;
}

/* core.net_link_del(name) -> true (deleted) | false (there was none) | nil, msg, errno */
static int l_net_link_del (lua_State *L)
{
  const char *name = luaL_checkstring (L, 1);
  int nle = 0;
  struct nl_sock *sk = route_socket (0, &nle);
  if (!sk)
    return fail_nl (L, nle, "delete %s: netlink", name);
  struct rtnl_link *link = NULL;
  nle = rtnl_link_get_kernel (sk, 0, name, &link);
  if (nle == -NLE_OBJ_NOTFOUND || nle == -NLE_NODEV)
    {
      nl_socket_free (sk);
      lua_pushboolean (L, 0);
      return 1;
    }
  if (nle == 0)
    nle = rtnl_link_delete (sk, link);
  if (link)
    rtnl_link_put (link);
  nl_socket_free (sk);
  if (nle == -NLE_OBJ_NOTFOUND || nle == -NLE_NODEV)
    nle = 0; /* gone meanwhile (its peer's namespace died) */
  if (nle < 0)
    return fail_nl (L, nle, "delete %s", name);
  lua_pushboolean (L, 1);
  return 1;
}

/* core.net_links() -> { name = kind or true, ... } of our namespace */
static int l_net_links (lua_State *L)
{
  int nle = 0;
  struct nl_sock *sk = route_socket (0, &nle);
  struct nl_cache *cache = NULL;
  if (!sk)
    return fail_nl (L, nle, "%s", "links: netlink");
  if ((nle = rtnl_link_alloc_cache (sk, AF_UNSPEC, &cache)) < 0)
    {
      nl_socket_free (sk);
      return fail_nl (L, nle, "%s", "links");
    }
  lua_newtable (L);
  for (struct nl_object *o = nl_cache_get_first (cache); o; o = nl_cache_get_next (o))
    {
      struct rtnl_link *l = (struct rtnl_link *) o;
      const char *kind = rtnl_link_get_type (l);
      if (kind)
        lua_pushstring (L, kind);
      else
        lua_pushboolean (L, 1);
      lua_setfield (L, -2, rtnl_link_get_name (l));
    }
  nl_cache_free (cache);
  nl_socket_free (sk);
  return 1;
}

/* --- helpers ------------------------------------------------------------ */

/* argv as one block of C memory (free it): the forked child reads none
 * of the Lua state's memory, which the CLI keeps out of its children
 * (MADV_DONTFORK, core/main.c). */
static char **check_argv (lua_State *L, int idx)
{
  luaL_checktype (L, idx, LUA_TTABLE);
  int n = (int) lua_rawlen (L, idx);
  luaL_argcheck (L, n >= 1, idx, "empty argv");
  size_t size = sizeof (char *) * (size_t) (n + 1);
  for (int i = 1; i <= n; i++)
    {
      size_t len;
      lua_rawgeti (L, idx, i);
      if (!lua_isstring (L, -1))
        luaL_error (L, "bad argument #%d (argv[%d]: string expected)", idx, i);
      lua_tolstring (L, -1, &len);
      size += len + 1;
      lua_pop (L, 1);
    }
  char **argv = malloc (size);
  if (!argv)
    luaL_error (L, "out of memory");
  char *at = (char *) (argv + n + 1);
  for (int i = 1; i <= n; i++)
    {
      size_t len;
      lua_rawgeti (L, idx, i);
      const char *a = lua_tolstring (L, -1, &len);
      memcpy (at, a, len + 1);
      argv[i - 1] = at;
      at += len + 1;
      lua_pop (L, 1);
    }
  argv[n] = NULL;
  return argv;
}

/* core.helper(path, argv, opts) -> code, output | pid | nil, msg, errno
 * Runs path with argv (argv[1] is the program's name) and a minimal
 * environment.  opts:
 *   pid = N        enter N's network namespace first (and, with
 *                  userns = true, its user namespace, as root there)
 *   input = str    written to its stdin (otherwise /dev/null)
 *   keep = {fd..}  descriptors it inherits
 *   log = path     detached: its stdout and stderr go to this new file
 *   detach = true  return its pid at once; otherwise wait and return the
 *                  exit code (128+N for a signal) and stdout+stderr */
static int l_helper (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  luaL_checktype (L, 2, LUA_TTABLE);
  lua_rawgeti (L, 2, 1);
  const char *name = lua_tostring (L, -1) ? lua_tostring (L, -1) : path;
  lua_pop (L, 1); /* the string stays alive in the argv table */
  int o = 3;
  lua_settop (L, o);
  if (lua_isnil (L, o))
    {
      lua_newtable (L);
      lua_replace (L, o);
    }
  luaL_checktype (L, o, LUA_TTABLE);
  lua_getfield (L, o, "pid");
  pid_t nspid = (pid_t) luaL_optinteger (L, -1, 0);
  lua_getfield (L, o, "userns");
  int userns = lua_toboolean (L, -1);
  lua_getfield (L, o, "detach");
  int detach = lua_toboolean (L, -1);
  lua_getfield (L, o, "input");
  size_t inlen = 0;
  const char *input = lua_isnil (L, -1) ? NULL : luaL_checklstring (L, -1, &inlen);
  lua_getfield (L, o, "log");
  const char *logpath = luaL_optstring (L, -1, NULL);
  lua_getfield (L, o, "keep");
  int keep[8], nkeep = 0;
  if (!lua_isnil (L, -1))
    {
      luaL_checktype (L, -1, LUA_TTABLE);
      for (int i = 1; i <= (int) lua_rawlen (L, -1) && nkeep < 8; i++)
        {
          lua_rawgeti (L, -1, i);
          keep[nkeep++] = (int) luaL_checkinteger (L, -1);
          lua_pop (L, 1);
        }
    }
  char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
  /* what the child reads, in C memory (see check_argv) */
  char **argv = check_argv (L, 2);
  char *cpath = strdup (path), *clog = logpath ? strdup (logpath) : NULL;
  if (!cpath || (logpath && !clog))
    {
      free (argv);
      free (cpath);
      free (clog);
      return fail_msg (L, ENOMEM, "%s: %s", name, strerror (ENOMEM));
    }

  int pidfd = -1;
  if (nspid > 0)
    {
      pidfd = (int) syscall (SYS_pidfd_open, nspid, 0);
      if (pidfd < 0)
        {
          int e = errno;
          free (argv);
          free (cpath);
          free (clog);
          return fail_msg (L, e, "%s: container process %d: %s", name, (int) nspid, strerror (e));
        }
    }
  int in[2] = { -1, -1 }, out[2] = { -1, -1 };
  if ((input && pipe2 (in, O_CLOEXEC) < 0) || (!detach && pipe2 (out, O_CLOEXEC) < 0))
    {
      int e = errno;
      if (pidfd >= 0) close (pidfd);
      if (in[0] >= 0) { close (in[0]); close (in[1]); }
      free (argv);
      free (cpath);
      free (clog);
      return fail_msg (L, e, "%s: pipe: %s", name, strerror (e));
    }
  struct nc_helper hc = { cpath, argv, envp, pidfd, userns, input ? in[0] : -1, out[1], clog, keep, nkeep };
  pid_t pid = fork ();
  if (pid == 0)
    nc_helper_child (&hc);
  int e = errno;
  free (argv);
  free (cpath);
  free (clog);
  if (pidfd >= 0)
    close (pidfd);
  if (in[0] >= 0)
    close (in[0]);
  if (out[1] >= 0)
    close (out[1]);
  if (pid < 0)
    {
      if (in[1] >= 0) close (in[1]);
      if (out[0] >= 0) close (out[0]);
      return fail_msg (L, e, "%s: fork: %s", name, strerror (e));
    }
  if (detach)
    {
      if (in[1] >= 0)
        {
          (void) !write (in[1], input, inlen);
          close (in[1]);
        }
      lua_pushinteger (L, pid);
      return 1;
    }
  /* feed stdin and drain stdout+stderr together: neither side can block
   * the other whatever the sizes */
  luaL_Buffer b;
  luaL_buffinit (L, &b);
  size_t off = 0;
  if (in[1] >= 0 && inlen == 0)
    {
      close (in[1]);
      in[1] = -1;
    }
  while (out[0] >= 0)
    {
      struct pollfd p[2] = { { out[0], POLLIN, 0 }, { in[1], POLLOUT, 0 } };
      if (poll (p, in[1] >= 0 ? 2 : 1, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (in[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP)))
        {
          ssize_t w = write (in[1], input + off, inlen - off);
          if (w > 0)
            off += (size_t) w;
          if (w < 0 || off == inlen)
            {
              close (in[1]);
              in[1] = -1;
            }
        }
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
        {
          char buf[4096];
          ssize_t r = read (out[0], buf, sizeof buf);
          if (r > 0)
            luaL_addlstring (&b, buf, (size_t) r);
          else if (r == 0 || errno != EINTR)
            {
              close (out[0]);
              out[0] = -1;
            }
        }
    }
  if (in[1] >= 0)
    close (in[1]);
  int st = 0;
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
    ;
  luaL_pushresult (&b);
  lua_pushinteger (L, WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st));
  lua_insert (L, -2);
  return 2;
}

/* core.pipe() -> read_fd, write_fd (both close-on-exec) */
static int l_pipe (lua_State *L)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    {
      int e = errno;
      return fail_msg (L, e, "pipe: %s", strerror (e));
    }
  lua_pushinteger (L, p[0]);
  lua_pushinteger (L, p[1]);
  return 2;
}

/* core.close(fd) */
static int l_close (lua_State *L)
{
  close ((int) luaL_checkinteger (L, 1));
  return 0;
}

/* core.read_byte(fd, timeout_ms) -> byte string | "" (EOF) | nil, "timeout" */
static int l_read_byte (lua_State *L)
{
  int fd = (int) luaL_checkinteger (L, 1);
  int timeout = (int) luaL_checkinteger (L, 2);
  struct pollfd p = { fd, POLLIN, 0 };
  int r;
  do
    r = poll (&p, 1, timeout);
  while (r < 0 && errno == EINTR);
  if (r == 0)
    return fail_msg (L, ETIMEDOUT, "timeout");
  char c;
  ssize_t n;
  do
    n = read (fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return fail_msg (L, errno, "read: %s", strerror (errno));
  lua_pushlstring (L, &c, (size_t) n);
  return 1;
}

/* core.reap(pid [, timeout_ms]) -> code (128+N for a signal) | false (still running) | nil, msg
 * Waits for our child pid (its pidfd wakes us as soon as it exits). */
static int l_reap (lua_State *L)
{
  pid_t pid = (pid_t) luaL_checkinteger (L, 1);
  int timeout = (int) luaL_optinteger (L, 2, 0);
  int pfd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (pfd >= 0 && timeout > 0)
    {
      struct pollfd p = { pfd, POLLIN, 0 };
      while (poll (&p, 1, timeout) < 0 && errno == EINTR)
        ;
    }
  if (pfd >= 0)
    close (pfd);
  int st;
  pid_t r;
  while ((r = waitpid (pid, &st, WNOHANG)) < 0 && errno == EINTR)
    ;
  if (r < 0)
    return fail_msg (L, errno, "wait %d: %s", (int) pid, strerror (errno));
  if (r == 0)
    {
      lua_pushboolean (L, 0);
      return 1;
    }
  lua_pushinteger (L, WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st));
  return 1;
}

/* core.unix_request(path, request [, timeout_ms]) -> reply | nil, msg, errno
 * One request on a stream socket: write it, shut down our side, read the
 * reply to EOF (slirp4netns's API). */
static int l_unix_request (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  size_t len;
  const char *req = luaL_checklstring (L, 2, &len);
  int timeout = (int) luaL_optinteger (L, 3, 5000);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return fail_msg (L, ENAMETOOLONG, "%s: %s", path, strerror (ENAMETOOLONG));
  strcpy (sa.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return fail_msg (L, e, "%s: %s", path, strerror (e));
    }
  size_t off = 0;
  while (off < len)
    {
      ssize_t w = send (fd, req + off, len - off, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          int e = errno;
          close (fd);
          return fail_msg (L, e, "%s: %s", path, strerror (e));
        }
      off += (size_t) w;
    }
  shutdown (fd, SHUT_WR);
  luaL_Buffer b;
  luaL_buffinit (L, &b);
  for (;;)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      int r = poll (&p, 1, timeout);
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0)
        {
          close (fd);
          return fail_msg (L, ETIMEDOUT, "%s: no reply", path);
        }
      char buf[1024];
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      luaL_addlstring (&b, buf, (size_t) n);
    }
  close (fd);
  luaL_pushresult (&b);
  return 1;
}

/* core.reserve_port(proto, ip, port) -> fd | nil, msg, errno
 * Holds a host port for a published container port, so that no other
 * program can bind it while the container runs, and a port already taken
 * is found before anything is set up.  Traffic to it is DNATed before it
 * could reach this socket. */
static int l_reserve_port (lua_State *L)
{
  const char *proto = luaL_checkstring (L, 1);
  const char *ip = luaL_checkstring (L, 2);
  int port = (int) luaL_checkinteger (L, 3);
  luaL_argcheck (L, port > 0 && port < 65536, 3, "port out of range");
  int udp = strcmp (proto, "udp") == 0;
  luaL_argcheck (L, udp || strcmp (proto, "tcp") == 0, 1, "tcp or udp");
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
  luaL_argcheck (L, inet_pton (AF_INET, ip, &sa.sin_addr) == 1, 2, "not an IPv4 address");
  int fd = socket (AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  /* TCP: a listening socket holds the port against every later bind, and
   * SO_REUSEADDR lets it be taken despite connections in TIME_WAIT; UDP
   * has no such state, and SO_REUSEADDR would let others share the port */
  int one = 1;
  if (fd >= 0 && !udp)
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || (!udp && listen (fd, 0) < 0))
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return fail_msg (L, e, "%s:%d/%s: %s", ip, port, proto,
                       e == EADDRINUSE ? "the host port is already in use" : strerror (e));
    }
  lua_pushinteger (L, fd);
  return 1;
}

/* core.flock(path) -> fd | nil, msg, errno: an exclusive lock on path
 * (created 0600), held until core.close(fd) */
static int l_flock (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  int fd = open (path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail_msg (L, errno, "%s: %s", path, strerror (errno));
  while (flock (fd, LOCK_EX) < 0)
    if (errno != EINTR)
      {
        int e = errno;
        close (fd);
        return fail_msg (L, e, "%s: %s", path, strerror (e));
      }
  lua_pushinteger (L, fd);
  return 1;
}

/* core.link(old, new) -> true | nil, msg, errno (hard link: fails if new exists) */
static int l_link (lua_State *L)
{
  const char *from = luaL_checkstring (L, 1);
  const char *to = luaL_checkstring (L, 2);
  if (link (from, to) < 0)
    return fail_msg (L, errno, "%s: %s", to, strerror (errno));
  lua_pushboolean (L, 1);
  return 1;
}

static const luaL_Reg net_funcs[] = {
  { "link", l_link },
  { "flock", l_flock },
  { "net_bridge", l_net_bridge },
  { "net_veth", l_net_veth },
  { "net_configure", l_net_configure },
  { "net_link_del", l_net_link_del },
  { "net_links", l_net_links },
  { "helper", l_helper },
  { "pipe", l_pipe },
  { "close", l_close },
  { "read_byte", l_read_byte },
  { "reap", l_reap },
  { "unix_request", l_unix_request },
  { "reserve_port", l_reserve_port },
  { NULL, NULL },
};

void nc_l_net_open (lua_State *L)
{
  luaL_setfuncs (L, net_funcs, 0);
}

/* l_core.c - luaopen_nucleus_core: the C primitives behind "nucleus".
 *
 * Narrow mechanisms only: plan compilation, spawn/wait, and the few host
 * queries the Lua layer needs (stat, realpath, user and group lookup).
 * Policy lives in lua/nucleus.  Expected OS failures return
 * nil, "what: strerror", errno; misuse raises.  Loading this module has no
 * side effects.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sys/random.h>
#include <sys/vfs.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <fcntl.h>
#include <limits.h>
#include <errno.h>
#include <poll.h>
#include <grp.h>
#include <lauxlib.h>
#include <lua.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <linux/seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l_core.h"
#include "../src/internal.h"

static int fail_errno (lua_State *L, const char *what, int code)
{
  lua_pushnil (L);
  lua_pushfstring (L, "%s: %s", what, strerror (code));
  lua_pushinteger (L, code);
  return 3;
}

int nc_l_last_cap (void)
{
  static int last = -1;
  if (last < 0)
    {
      FILE *f = fopen ("/proc/sys/kernel/cap_last_cap", "re");
      if (!f || fscanf (f, "%d", &last) != 1)
        last = (int) cap_max_bits () - 1;
      if (f)
        fclose (f);
      if (last < 0 || last > 63)
        last = 40;
    }
  return last;
}

/* --- Plan --- */

static struct nc_plan *check_plan (lua_State *L, int idx)
{
  struct nc_plan **ud = luaL_checkudata (L, idx, NC_MT_PLAN);
  luaL_argcheck (L, *ud != NULL, idx, "plan already freed");
  return *ud;
}

static int l_plan_gc (lua_State *L)
{
  struct nc_plan **ud = luaL_checkudata (L, 1, NC_MT_PLAN);
  nc_plan_free (*ud);
  *ud = NULL;
  return 0;
}

static int l_plan_tostring (lua_State *L)
{
  struct nc_plan *p = check_plan (L, 1);
  lua_pushfstring (L, "nucleus.Plan(%s, %d mounts)", p->argv[0], (int) p->nmounts);
  return 1;
}

static void set_str (lua_State *L, const char *k, const char *v)
{
  if (v)
    {
      lua_pushstring (L, v);
      lua_setfield (L, -2, k);
    }
}

static void set_int (lua_State *L, const char *k, lua_Integer v)
{
  lua_pushinteger (L, v);
  lua_setfield (L, -2, k);
}

static void set_bool (lua_State *L, const char *k, int v)
{
  lua_pushboolean (L, v);
  lua_setfield (L, -2, k);
}

static void push_strv (lua_State *L, char **v)
{
  lua_newtable (L);
  for (int i = 0; v && v[i]; i++)
    {
      lua_pushstring (L, v[i]);
      lua_rawseti (L, -2, i + 1);
    }
}

/* plan:describe() -> a plain table of what the child will do, for golden
 * tests and --dry-run. */
int nc_l_plan_describe (lua_State *L)
{
  static const char *const kinds[]
      = { "?", "dir", "bind", "tmpfs", "proc", "devpts", "mqueue", "symlink", "file", "copy", "device",
          "overlay", "hide" };
  static const struct { uint64_t f; const char *n; } nss[] = {
    { CLONE_NEWNS, "mount" },   { CLONE_NEWPID, "pid" }, { CLONE_NEWUTS, "uts" },
    { CLONE_NEWIPC, "ipc" },    { CLONE_NEWNET, "net" }, { CLONE_NEWCGROUP, "cgroup" },
    { CLONE_NEWUSER, "user" },  { CLONE_NEWTIME, "time" },
  };
  struct nc_plan *p = check_plan (L, 1);
  lua_newtable (L);
  push_strv (L, p->argv);
  lua_setfield (L, -2, "argv");
  push_strv (L, p->envp);
  lua_setfield (L, -2, "env");
  set_str (L, "path", p->path_search);
  set_str (L, "cwd", p->cwd);
  set_str (L, "hostname", p->hostname);
  set_str (L, "uid_map", p->uid_map);
  set_str (L, "gid_map", p->gid_map);
  set_bool (L, "setgroups_deny", p->setgroups_deny);
  set_str (L, "staging", p->staging);
  set_str (L, "root_options", p->root_opts);
  set_bool (L, "root_readonly", p->root_readonly);
  set_bool (L, "root_noexec", p->root_noexec);
  set_bool (L, "memfd_noexec", p->memfd_noexec);
  set_bool (L, "chroot_fallback", p->chroot_fallback);
  set_bool (L, "loopback", p->net_loopback);
  set_bool (L, "degraded", p->degraded);
  set_bool (L, "init", p->mini_init);
  set_bool (L, "audit_mounts", p->audit_mounts);
  set_bool (L, "bridged", p->net_bridged);
  set_bool (L, "pause_after_root", p->pause_after_root);
  /* exec: the running container whose namespaces it joins */
  set_bool (L, "join", p->join_pidfd >= 0);
  if (p->cgroup_fd >= 0)
    {
      char link[64], path[4096];
      snprintf (link, sizeof link, "/proc/self/fd/%d", p->cgroup_fd);
      ssize_t n = readlink (link, path, sizeof path - 1);
      if (n > 0)
        {
          path[n] = '\0';
          set_str (L, "cgroup", path);
        }
    }

  lua_newtable (L);
  int n = 0;
  for (size_t i = 0; i < sizeof nss / sizeof nss[0]; i++)
    if (p->clone_flags & nss[i].f)
      {
        lua_pushstring (L, nss[i].n);
        lua_rawseti (L, -2, ++n);
      }
  lua_setfield (L, -2, "namespaces");

  lua_newtable (L);
  set_int (L, "uid", p->uid);
  set_int (L, "gid", p->gid);
  if (p->set_groups)
    {
      lua_newtable (L);
      for (size_t i = 0; i < p->ngroups; i++)
        {
          lua_pushinteger (L, p->groups[i]);
          lua_rawseti (L, -2, (lua_Integer) i + 1);
        }
      lua_setfield (L, -2, "groups");
    }
  lua_setfield (L, -2, "user");

  lua_newtable (L);
  set_int (L, "bounding", (lua_Integer) p->caps.bounding);
  set_int (L, "permitted", (lua_Integer) p->caps.permitted);
  set_int (L, "effective", (lua_Integer) p->caps.effective);
  set_int (L, "inheritable", (lua_Integer) p->caps.inheritable);
  set_int (L, "ambient", (lua_Integer) p->caps.ambient);
  lua_setfield (L, -2, "caps");

  lua_newtable (L);
  for (size_t i = 0; i < p->nmounts; i++)
    {
      const struct nc_mount *m = &p->mounts[i];
      lua_newtable (L);
      set_str (L, "kind", kinds[m->kind < 13 ? m->kind : 0]);
      set_str (L, "target", m->target);
      set_str (L, "source", m->source);
      if (m->kind == NC_MNT_SYMLINK)
        set_str (L, "link", m->data);
      else if (m->kind != NC_MNT_FILE && m->kind != NC_MNT_COPY && m->kind != NC_MNT_DEVICE
               && m->kind != NC_MNT_HIDE)
        set_str (L, "options", m->data);
      if (m->kind == NC_MNT_DIR || m->kind == NC_MNT_FILE || m->kind == NC_MNT_DEVICE)
        set_int (L, "mode", m->mode);
      if (m->kind == NC_MNT_COPY)
        set_int (L, "entries", (lua_Integer) m->copy_count);
      lua_newtable (L);
      int nf = 0;
      /* by bit (nc_plan.h): secret (8) is shown by its kind, fd (9) by the source */
      static const char *const fl[] = { "ro",   "nosuid", "nodev", "noexec", "recursive", "file",
                                        "inner", "owned", NULL,    NULL,     "layer" };
      for (int b = 0; b < 11; b++)
        if (fl[b] && (m->flags & (1u << b)))
          {
            lua_pushstring (L, fl[b]);
            lua_rawseti (L, -2, ++nf);
          }
      lua_setfield (L, -2, "flags");
      lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
  lua_setfield (L, -2, "mounts");

  lua_newtable (L);
  for (size_t i = 0; i < p->nrlimits; i++)
    {
      lua_newtable (L);
      set_int (L, "resource", p->rlimits[i].resource);
      set_int (L, "soft", (lua_Integer) p->rlimits[i].lim.rlim_cur);
      set_int (L, "hard", (lua_Integer) p->rlimits[i].lim.rlim_max);
      lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
  lua_setfield (L, -2, "rlimits");

  set_int (L, "seccomp_instructions", p->bpf ? p->bpf_len : 0);
  set_str (L, "seccomp_builtin", p->seccomp_builtin);
  set_int (L, "seccomp_flags", p->seccomp_flags);
  set_bool (L, "seccomp_trace", p->seccomp_trace);
  set_bool (L, "landlock", p->landlock_fd >= 0);
  lua_newtable (L);
  for (size_t i = 0; i < p->nll_rules; i++)
    {
      lua_newtable (L);
      set_str (L, "path", p->ll_rules[i].path);
      set_int (L, "access", (lua_Integer) p->ll_rules[i].access);
      set_bool (L, "optional", p->ll_rules[i].optional);
      lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
  lua_setfield (L, -2, "landlock_rules");
  return 1;
}

/* --- Proc --- */

static struct nc_proc *check_proc (lua_State *L, int idx)
{
  return luaL_checkudata (L, idx, NC_MT_PROC);
}

/* The Lua side of one core.spawn: the warnings table and the hooks sit at
 * fixed stack slots for as long as nc_spawn runs. */
struct spawn_ctx {
  lua_State *L;
  int warnings, paused, started; /* absolute stack indices */
};

static void warn_cb (void *ctx, const struct nc_err *w)
{
  struct spawn_ctx *sc = ctx;
  lua_State *L = sc->L;
  char buf[512];
  nc_err_format (w, buf, sizeof buf);
  lua_pushstring (L, buf);
  lua_rawseti (L, sc->warnings, (lua_Integer) luaL_len (L, sc->warnings) + 1);
}

static size_t check_signals (lua_State *L, int idx, int *sigs, size_t max)
{
  size_t n = 0;
  if (lua_isnoneornil (L, idx))
    return 0;
  luaL_checktype (L, idx, LUA_TTABLE);
  size_t len = (size_t) luaL_len (L, idx);
  luaL_argcheck (L, len <= max, idx, "too many signals");
  for (size_t i = 0; i < len; i++)
    {
      lua_geti (L, idx, (lua_Integer) i + 1);
      lua_Integer s = luaL_checkinteger (L, -1);
      luaL_argcheck (L, s > 0 && s < NSIG && s != SIGKILL && s != SIGSTOP, idx, "bad signal");
      sigs[n++] = (int) s;
      lua_pop (L, 1);
    }
  return n;
}

/* io.paused, io.started: call the Lua function at stack slot fn with the
 * pid; it returns true, or nil and a message that aborts the spawn. */
static int call_hook (lua_State *L, int fn, pid_t pid, unsigned stage, struct nc_err *err)
{
  lua_pushvalue (L, fn);
  lua_pushinteger (L, pid);
  if (lua_pcall (L, 1, 2, 0) != LUA_OK)
    {
      nc_err_set (err, stage, EPERM, "%s", lua_tostring (L, -1));
      lua_pop (L, 1);
      return -1;
    }
  int ok = lua_toboolean (L, -2);
  if (!ok)
    nc_err_set (err, stage, 0, "%s", lua_tostring (L, -1) ? lua_tostring (L, -1) : "refused");
  lua_pop (L, 2);
  return ok ? 0 : -1;
}

static int paused_cb (void *ctx, pid_t pid, struct nc_err *err)
{
  struct spawn_ctx *sc = ctx;
  return call_hook (sc->L, sc->paused, pid, NC_STAGE_MOUNTS, err);
}

static int started_cb (void *ctx, pid_t pid, struct nc_err *err)
{
  struct spawn_ctx *sc = ctx;
  return call_hook (sc->L, sc->started, pid, NC_STAGE_SYNC, err);
}

/* core.netns_prepare() -> a network namespace being made, with lo up, on
 * a thread (netns.c); nil, msg when the thread cannot start.  Give it to
 * core.spawn as io.netns; ns:fd() waits for it (fd, or nil and why),
 * ns:close() (or its collection) frees it unless a container joined it. */
static struct nc_netns *check_netns (lua_State *L, int idx)
{
  return luaL_checkudata (L, idx, NC_MT_NETNS);
}

static int push_err (lua_State *L, const struct nc_err *err)
{
  char buf[512];
  nc_err_format (err, buf, sizeof buf);
  lua_pushnil (L);
  lua_pushstring (L, buf);
  return 2;
}

static int l_netns_prepare (lua_State *L)
{
  struct nc_netns *ns = lua_newuserdatauv (L, sizeof *ns, 0);
  memset (ns, 0, sizeof *ns);
  ns->fd = -1;
  struct nc_err err = { 0 };
  if (nc_netns_prepare (ns, &err) < 0)
    return push_err (L, &err);
  luaL_setmetatable (L, NC_MT_NETNS);
  return 1;
}

static int l_netns_fd (lua_State *L)
{
  struct nc_err err = { 0 };
  int fd = nc_netns_take (check_netns (L, 1), &err);
  if (fd < 0)
    return push_err (L, &err);
  lua_pushinteger (L, fd);
  return 1;
}

static int l_netns_gc (lua_State *L)
{
  nc_netns_close (check_netns (L, 1));
  return 0;
}

/* core.spawn(plan [, {signals to hold for wait} [, io]]) -> proc, warnings
 *   | nil, msg, errno, stage, detail
 * io = { tty = bool, interactive = bool }: without interactive the
 * workload's stdin is the container's /dev/null, as docker does; its
 * stdout and stderr are relayed by proc:wait (nc.h, struct nc_io). */
static int l_spawn (lua_State *L)
{
  struct nc_plan *plan = check_plan (L, 1);
  int hold[64];
  size_t nhold = check_signals (L, 2, hold, 64);
  struct nc_io io = { .netns_fd = -1 };
  if (!lua_isnoneornil (L, 3))
    {
      luaL_checktype (L, 3, LUA_TTABLE);
      lua_getfield (L, 3, "tty");
      io.tty = lua_toboolean (L, -1);
      lua_getfield (L, 3, "interactive");
      io.interactive = lua_toboolean (L, -1);
      lua_getfield (L, 3, "stdout");
      lua_getfield (L, 3, "stderr");
      for (int i = 0; i < 2; i++)
        if (!lua_isnil (L, -2 + i))
          {
            lua_Integer fd = lua_isinteger (L, -2 + i) ? lua_tointeger (L, -2 + i) : -1;
            if (fd < 1 || fd > INT_MAX || fcntl ((int) fd, F_GETFD) < 0)
              return luaL_error (L, "spawn: io.%s: an open fd (1 or above) expected", i ? "stderr" : "stdout");
            *(i ? &io.err_fd : &io.out_fd) = (int) fd;
          }
      lua_pop (L, 2);
      lua_getfield (L, 3, "netns");
      if (!lua_isnil (L, -1))
        {
          struct nc_netns *ns = luaL_testudata (L, -1, NC_MT_NETNS);
          if (!ns)
            return luaL_error (L, "spawn: io.netns: a core.netns_prepare() handle expected");
          if (!ns->running && ns->fd < 0 && !ns->error)
            return luaL_error (L, "spawn: io.netns: closed");
          /* a namespace that could not be made: the child makes its own */
          struct nc_err ignored = { 0 };
          io.netns_fd = nc_netns_take (ns, &ignored);
        }
      lua_pop (L, 3);
    }
  struct nc_proc *proc = lua_newuserdatauv (L, sizeof *proc, 1);
  memset (proc, 0, sizeof *proc);
  proc->pidfd = -1;
  proc->listener = -1;
  luaL_setmetatable (L, NC_MT_PROC);
  /* keep the plan alive as long as the process handle */
  lua_pushvalue (L, 1);
  lua_setiuservalue (L, -2, 1);
  struct spawn_ctx sc = { L, 0, 0, 0 };
  lua_newtable (L); /* warnings */
  sc.warnings = lua_gettop (L);
  lua_checkstack (L, 8);
  if (!lua_isnoneornil (L, 3))
    {
      lua_getfield (L, 3, "paused");
      lua_getfield (L, 3, "started");
      if (lua_isfunction (L, -2))
        {
          sc.paused = lua_gettop (L) - 1;
          io.paused = paused_cb;
          io.paused_ctx = &sc;
        }
      if (lua_isfunction (L, -1))
        {
          sc.started = lua_gettop (L);
          io.started = started_cb;
          io.started_ctx = &sc;
        }
    }
  struct nc_err err = { 0 };
  int r = nc_spawn (plan, proc, hold, nhold, &io, warn_cb, &sc, &err);
  lua_settop (L, sc.warnings);
  if (r < 0)
    {
      char buf[512];
      nc_err_format (&err, buf, sizeof buf);
      lua_pushnil (L);
      lua_pushstring (L, buf);
      lua_pushinteger (L, err.code);
      lua_pushstring (L, nc_stage_name (err.stage));
      lua_pushstring (L, err.detail);
      return 5;
    }
  return 2;
}

/* proc:close() and the collector: a container whose handle is gone is
 * killed and reaped, not left to run unwatched (and, once it ends, as a
 * zombie of ours). */
static int l_proc_gc (lua_State *L)
{
  struct nc_proc *proc = check_proc (L, 1);
  nc_proc_kill (proc);
  nc_proc_release (proc);
  nc_trace_free (&proc->trace);
  return 0;
}

/* proc:trace() -> { {name=, nr=, arch=, count=, permitted=, refused=,
 * killed=, errno=, first_pid=, first_comm=}, ... } sorted by architecture
 * and number (trace mode); errno (of the first refusal by errno) only when
 * there was one. */
static int cmp_entry (const void *a, const void *b)
{
  const struct nc_trace_entry *x = a, *y = b;
  if (x->arch != y->arch)
    return x->arch < y->arch ? -1 : 1;
  return (x->nr > y->nr) - (x->nr < y->nr);
}

static int l_proc_trace (lua_State *L)
{
  struct nc_proc *proc = check_proc (L, 1);
  struct nc_trace *t = &proc->trace;
  lua_createtable (L, (int) t->n, 0);
  if (!t->n)
    return 1;
  struct nc_trace_entry *v = lua_newuserdatauv (L, t->n * sizeof *v, 0); /* scratch, GC'd */
  size_t n = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (t->v[i].count)
      v[n++] = t->v[i];
  qsort (v, n, sizeof *v, cmp_entry);
  for (size_t i = 0; i < n; i++)
    {
      lua_createtable (L, 0, 10);
      char *name = nc_trace_syscall_name (v[i].arch, v[i].nr);
      if (name)
        set_str (L, "name", name);
      free (name);
      set_int (L, "nr", v[i].nr);
      set_str (L, "arch", nc_trace_arch_name (v[i].arch));
      set_int (L, "count", (lua_Integer) v[i].count);
      set_int (L, "permitted", (lua_Integer) v[i].permitted);
      set_int (L, "refused", (lua_Integer) v[i].refused);
      set_int (L, "killed", (lua_Integer) v[i].killed);
      if (v[i].refused_errno)
        set_int (L, "errno", v[i].refused_errno);
      set_int (L, "first_pid", v[i].first_pid);
      set_str (L, "first_comm", v[i].first_comm);
      lua_rawseti (L, -3, (lua_Integer) i + 1);
    }
  lua_pop (L, 1);
  return 1;
}

static int l_proc_pid (lua_State *L)
{
  lua_pushinteger (L, check_proc (L, 1)->pid);
  return 1;
}

/* proc:fds() -> { fd, ... }: what an event loop polls for this process
 * (core.poll); readable means proc:poll() has work. */
static int l_proc_fds (lua_State *L)
{
  int fds[NC_PROC_FDS];
  size_t n = nc_proc_fds (check_proc (L, 1), fds);
  lua_createtable (L, (int) n, 0);
  for (size_t i = 0; i < n; i++)
    {
      lua_pushinteger (L, fds[i]);
      lua_rawseti (L, -2, (lua_Integer) i + 1);
    }
  return 1;
}

/* proc:poll() -> code, signal once the first process has exited (and
 * then released), false while it runs | nil, msg, errno.  Never blocks. */
static int l_proc_poll (lua_State *L)
{
  struct nc_proc *proc = check_proc (L, 1);
  struct nc_status st;
  struct nc_err err = { 0 };
  int r = nc_proc_poll (proc, &st, &err);
  if (r < 0)
    return push_err (L, &err);
  if (r == 0)
    {
      lua_pushboolean (L, 0);
      return 1;
    }
  lua_pushinteger (L, st.code);
  lua_pushinteger (L, st.signal);
  return 2;
}

/* proc:wait([{signals to forward}]) -> code, signal, last forwarded
 *   | nil, msg, errno
 * Relays the workload's standard streams meanwhile; the status is the
 * kernel's word on the container's first process. */
static int l_proc_wait (lua_State *L)
{
  struct nc_proc *proc = check_proc (L, 1);
  int sigs[64];
  size_t n = check_signals (L, 2, sigs, 64);
  struct nc_status st;
  struct nc_err err = { 0 };
  if (nc_proc_wait (proc, sigs, n, &st, &err) < 0)
    return fail_errno (L, "wait", err.code);
  nc_proc_release (proc);
  lua_pushinteger (L, st.code);
  lua_pushinteger (L, st.signal);
  lua_pushinteger (L, proc->last_forwarded);
  return 3;
}

static int l_proc_signal (lua_State *L)
{
  struct nc_proc *proc = check_proc (L, 1);
  int sig = (int) luaL_checkinteger (L, 2);
  int r = nc_proc_signal (proc, sig);
  if (r < 0)
    return fail_errno (L, "signal", -r);
  lua_pushboolean (L, 1);
  return 1;
}

/* --- host queries --- */

static void push_stat (lua_State *L, const struct stat *sp)
{
  struct stat st = *sp;
  lua_createtable (L, 0, 8);
  const char *type = S_ISDIR (st.st_mode)    ? "dir"
                     : S_ISREG (st.st_mode)  ? "file"
                     : S_ISLNK (st.st_mode)  ? "link"
                     : S_ISCHR (st.st_mode)  ? "char"
                     : S_ISBLK (st.st_mode)  ? "block"
                     : S_ISFIFO (st.st_mode) ? "fifo"
                                             : "socket";
  set_str (L, "type", type);
  set_int (L, "mode", st.st_mode & 07777);
  set_int (L, "uid", st.st_uid);
  set_int (L, "gid", st.st_gid);
  set_int (L, "size", st.st_size);
  set_int (L, "ino", (lua_Integer) st.st_ino);
  set_int (L, "nlink", (lua_Integer) st.st_nlink);
}

static int l_lstat (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  int follow = lua_toboolean (L, 2);
  struct stat st;
  if ((follow ? stat (path, &st) : lstat (path, &st)) < 0)
    return fail_errno (L, path, errno);
  push_stat (L, &st);
  return 1;
}

/* --- Fd: a file or directory resolved once (O_PATH), then named by its
 * fd: what a caller checks through it is what a plan mounts (a bind's
 * "fd"), whatever its path leads to meanwhile. --- */

static struct nc_l_fd *check_fd (lua_State *L, int idx)
{
  struct nc_l_fd *u = luaL_checkudata (L, idx, NC_MT_FD);
  luaL_argcheck (L, u->fd >= 0, idx, "fd already closed");
  return u;
}

static int l_fd_gc (lua_State *L)
{
  struct nc_l_fd *u = luaL_checkudata (L, 1, NC_MT_FD);
  if (u->fd >= 0)
    close (u->fd);
  u->fd = -1;
  return 0;
}

/* core.open_path(path) or core.open_path(dir_fd, name) -> fd, stat | nil,
 * msg, errno.  path: every symlink in it followed, once; name: one
 * component of the directory dir_fd, a symlink there not followed (the
 * fd is then the link's own). */
static int l_open_path (lua_State *L)
{
  struct nc_l_fd *dir = NULL;
  const char *path;
  if (lua_type (L, 1) == LUA_TUSERDATA)
    {
      dir = check_fd (L, 1);
      path = luaL_checkstring (L, 2);
      luaL_argcheck (L, *path && !strchr (path, '/') && strcmp (path, ".") && strcmp (path, ".."), 2,
                     "one path component");
    }
  else
    path = luaL_checkstring (L, 1);
  struct nc_l_fd *u = lua_newuserdatauv (L, sizeof *u, 0);
  u->fd = -1;
  luaL_setmetatable (L, NC_MT_FD);
  /* from here on, GC owns it */
  u->fd = dir ? openat (dir->fd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC)
              : open (path, O_PATH | O_CLOEXEC);
  struct stat st;
  if (u->fd < 0 || fstat (u->fd, &st) < 0)
    return fail_errno (L, path, errno);
  push_stat (L, &st);
  return 2;
}

/* fd:path() -> "/proc/self/fd/N": the file itself for path-based calls
 * (listdir, read_regular ... of what lies beneath) */
static int l_fd_path (lua_State *L)
{
  lua_pushfstring (L, "/proc/self/fd/%d", check_fd (L, 1)->fd);
  return 1;
}

static int l_fd_stat (lua_State *L)
{
  struct stat st;
  if (fstat (check_fd (L, 1)->fd, &st) < 0)
    return fail_errno (L, "fstat", errno);
  push_stat (L, &st);
  return 1;
}

/* fd:readlink() -> the target of the symlink the fd is (open_path(dir, name)) */
static int l_fd_readlink (lua_State *L)
{
  char buf[4096];
  ssize_t n = readlinkat (check_fd (L, 1)->fd, "", buf, sizeof buf);
  if (n < 0)
    return fail_errno (L, "readlink", errno);
  lua_pushlstring (L, buf, (size_t) n);
  return 1;
}

/* fd:realpath() -> where the file is now, as the kernel names it */
static int l_fd_realpath (lua_State *L)
{
  char proc[64], buf[4096];
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", check_fd (L, 1)->fd);
  ssize_t n = readlink (proc, buf, sizeof buf);
  if (n < 0)
    return fail_errno (L, proc, errno);
  lua_pushlstring (L, buf, (size_t) n);
  return 1;
}

/* fd:sha256() -> hex | nil, msg, errno: the content of the regular file
 * the fd is, opened again through it (not by any path) */
static int l_fd_sha256 (lua_State *L)
{
  char proc[64], hex[65];
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", check_fd (L, 1)->fd);
  int fd = open (proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return fail_errno (L, "open", errno);
  int r = nc_sha256_fd_hex (fd, hex);
  close (fd);
  if (r < 0)
    return fail_errno (L, "read", -r);
  lua_pushlstring (L, hex, 64);
  return 1;
}

static int l_readlink (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  char buf[4096];
  ssize_t n = readlink (path, buf, sizeof buf);
  if (n < 0)
    return fail_errno (L, path, errno);
  lua_pushlstring (L, buf, (size_t) n);
  return 1;
}

static int l_realpath (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  char *r = realpath (path, NULL);
  if (!r)
    return fail_errno (L, path, errno);
  lua_pushstring (L, r);
  free (r);
  return 1;
}

static int l_access (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  const char *mode = luaL_optstring (L, 2, "r");
  int m = 0;
  for (const char *s = mode; *s; s++)
    m |= *s == 'r' ? R_OK : *s == 'w' ? W_OK : *s == 'x' ? X_OK : 0;
  lua_pushboolean (L, access (path, m) == 0);
  return 1;
}

static void push_passwd (lua_State *L, const struct passwd *pw)
{
  lua_createtable (L, 0, 5);
  set_str (L, "name", pw->pw_name);
  set_int (L, "uid", pw->pw_uid);
  set_int (L, "gid", pw->pw_gid);
  set_str (L, "home", pw->pw_dir);
  set_str (L, "shell", pw->pw_shell);
}

/* core.getpw(name_or_uid) -> {name, uid, gid, home, shell} | nil */
static int l_getpw (lua_State *L)
{
  struct passwd *pw;
  errno = 0;
  if (lua_type (L, 1) == LUA_TNUMBER)
    pw = getpwuid ((uid_t) luaL_checkinteger (L, 1));
  else
    pw = getpwnam (luaL_checkstring (L, 1));
  if (!pw)
    return 0;
  push_passwd (L, pw);
  return 1;
}

/* core.getgr(name_or_gid) -> {name, gid, members} | nil */
static int l_getgr (lua_State *L)
{
  struct group *gr;
  errno = 0;
  if (lua_type (L, 1) == LUA_TNUMBER)
    gr = getgrgid ((gid_t) luaL_checkinteger (L, 1));
  else
    gr = getgrnam (luaL_checkstring (L, 1));
  if (!gr)
    return 0;
  lua_createtable (L, 0, 3);
  set_str (L, "name", gr->gr_name);
  set_int (L, "gid", gr->gr_gid);
  push_strv (L, gr->gr_mem);
  lua_setfield (L, -2, "members");
  return 1;
}

/* core.grouplist(name, gid) -> {gid...}: the user's groups on the host */
static int l_grouplist (lua_State *L)
{
  const char *name = luaL_checkstring (L, 1);
  gid_t gid = (gid_t) luaL_checkinteger (L, 2);
  gid_t groups[256];
  int n = 256;
  if (getgrouplist (name, gid, groups, &n) < 0)
    n = 256;
  lua_createtable (L, n, 0);
  for (int i = 0; i < n; i++)
    {
      lua_pushinteger (L, groups[i]);
      lua_rawseti (L, -2, i + 1);
    }
  return 1;
}

static int l_ids (lua_State *L)
{
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid (&ruid, &euid, &suid);
  getresgid (&rgid, &egid, &sgid);
  lua_createtable (L, 0, 5);
  set_int (L, "pid", getpid ());
  set_int (L, "uid", ruid);
  set_int (L, "gid", rgid);
  set_int (L, "euid", euid);
  set_int (L, "egid", egid);
  return 1;
}

static int l_landlock_abi (lua_State *L)
{
  lua_pushinteger (L, nc_landlock_abi ());
  return 1;
}

static int l_seccomp_resolve (lua_State *L)
{
  int nr = nc_seccomp_resolve (luaL_checkstring (L, 1));
  if (nr < 0)
    return 0;
  lua_pushinteger (L, nr);
  return 1;
}

/* core.seccomp_eval(bpf, nr, arch, {args}) -> the action the program
 * (bytes, as core.seccomp_export gives them) returns for that call: the
 * judge of trace mode (trace.c), for tests. */
static int l_seccomp_eval (lua_State *L)
{
  size_t len;
  const char *bpf = luaL_checklstring (L, 1, &len);
  struct seccomp_data d;
  memset (&d, 0, sizeof d);
  d.nr = (int) luaL_checkinteger (L, 2);
  d.arch = (uint32_t) luaL_checkinteger (L, 3);
  if (!lua_isnoneornil (L, 4))
    {
      luaL_checktype (L, 4, LUA_TTABLE);
      for (int i = 0; i < 6; i++)
        {
          lua_rawgeti (L, 4, i + 1);
          d.args[i] = (uint64_t) luaL_optinteger (L, -1, 0);
          lua_pop (L, 1);
        }
    }
  if (len == 0 || len % sizeof (struct sock_filter) || len / sizeof (struct sock_filter) > BPF_MAXINSNS)
    return luaL_error (L, "seccomp_eval: a program of %d bytes", (int) len);
  /* the bytes need not be aligned for struct sock_filter */
  struct sock_filter *prog = lua_newuserdatauv (L, len, 0);
  memcpy (prog, bpf, len);
  lua_pushinteger (L, nc_seccomp_eval (prog, len / sizeof *prog, &d));
  return 1;
}

static int l_cap_from_name (lua_State *L)
{
  cap_value_t v;
  if (cap_from_name (luaL_checkstring (L, 1), &v) < 0)
    return 0;
  lua_pushinteger (L, v);
  return 1;
}

static int l_last_cap (lua_State *L)
{
  lua_pushinteger (L, nc_l_last_cap ());
  return 1;
}

/* core.random_hex(n) -> n random bytes as 2n hex digits | nil, msg, errno
 * (container ids: getrandom, without opening /dev/urandom) */
static int l_random_hex (lua_State *L)
{
  lua_Integer n = luaL_checkinteger (L, 1);
  luaL_argcheck (L, n > 0 && n <= 64, 1, "1 to 64 bytes");
  unsigned char b[64];
  char hex[129];
  ssize_t got = 0;
  while (got < n)
    {
      ssize_t r = getrandom (b + got, (size_t) (n - got), 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return fail_errno (L, "getrandom", errno);
      got += r;
    }
  for (lua_Integer i = 0; i < n; i++)
    snprintf (hex + 2 * i, 3, "%02x", b[i]);
  lua_pushlstring (L, hex, (size_t) (2 * n));
  return 1;
}

/* core.sha256(bytes) -> lower-case hex */
static int l_sha256 (lua_State *L)
{
  size_t len;
  const char *data = luaL_checklstring (L, 1, &len);
  char hex[65];
  nc_sha256_hex (data, len, hex);
  lua_pushlstring (L, hex, 64);
  return 1;
}

/* core.mkdir(path [, mode [, uid, gid]]) -> true | nil, msg, errno (EEXIST is
 * success, the directory left as it is); a new one is given to uid:gid
 * when they are passed. */
static int l_mkdir (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  mode_t mode = (mode_t) luaL_optinteger (L, 2, 0700);
  int owned = !lua_isnoneornil (L, 3);
  uid_t uid = owned ? (uid_t) luaL_checkinteger (L, 3) : 0;
  gid_t gid = owned ? (gid_t) luaL_checkinteger (L, 4) : 0;
  if (mkdir (path, mode) < 0)
    {
      if (errno != EEXIST)
        return fail_errno (L, path, errno);
    }
  else if (owned)
    {
      /* the directory just made, by fd: not what a link put there since */
      int fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 || fchown (fd, uid, gid) < 0)
        {
          int e = errno;
          if (fd >= 0)
            close (fd);
          return fail_errno (L, path, e);
        }
      close (fd);
    }
  lua_pushboolean (L, 1);
  return 1;
}

/* core.symlink(target, path), core.link(target, path) (a hard link)
 *   -> true | nil, msg, errno */
static int make_link (lua_State *L, int (*fn) (const char *, const char *))
{
  const char *target = luaL_checkstring (L, 1);
  const char *path = luaL_checkstring (L, 2);
  if (fn (target, path) < 0)
    return fail_errno (L, path, errno);
  lua_pushboolean (L, 1);
  return 1;
}

static int l_symlink (lua_State *L) { return make_link (L, symlink); }
static int l_link (lua_State *L) { return make_link (L, link); }

/* core.append(path, data) -> true | nil, msg, errno: data added at the end
 * of an existing file in one write (O_APPEND: concurrent appends of lines
 * do not overwrite each other, as a seek to the end and a write could);
 * a missing file is ENOENT, never created. */
static int l_append (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  size_t len;
  const char *data = luaL_checklstring (L, 2, &len);
  int fd = open (path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return fail_errno (L, path, errno);
  ssize_t n = write (fd, data, len);
  int e = n < 0 ? errno : EIO;
  close (fd);
  if (n != (ssize_t) len)
    return fail_errno (L, path, e);
  lua_pushboolean (L, 1);
  return 1;
}

/* core.read_regular(path, max_bytes [, nofollow]) -> bytes | nil, msg, errno
 * The whole of a regular file of at most max_bytes: opened O_NONBLOCK (a
 * FIFO must not hang the open, a FIFO's writer must not feed us), checked
 * with fstat on the open file (no window between a check and the open),
 * read to its end however its size changes meanwhile.  Anything else
 * (a directory, a device such as /dev/zero, a FIFO, a socket) is
 * "path: not a regular file (a ...)", EINVAL; a file over the limit
 * "path: larger than N MiB", EFBIG.  nofollow refuses a symlink at path
 * (ELOOP). */
static int l_readbuf_gc (lua_State *L)
{
  char **box = lua_touserdata (L, 1);
  free (*box);
  *box = NULL;
  return 0;
}

static const char *kind_of_mode (mode_t m)
{
  return S_ISDIR (m)    ? "a directory"
         : S_ISCHR (m)  ? "a character device"
         : S_ISBLK (m)  ? "a block device"
         : S_ISFIFO (m) ? "a FIFO"
         : S_ISSOCK (m) ? "a socket"
         : S_ISLNK (m)  ? "a symlink"
                        : "of an unknown type";
}

static int l_read_regular (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  lua_Integer max = luaL_checkinteger (L, 2);
  luaL_argcheck (L, max >= 0 && max <= ((lua_Integer) 1 << 40), 2, "0 to 1 TiB");
  int nofollow = lua_toboolean (L, 3);
  /* the buffer is owned by a userdata from the start: a raise (memory)
   * once the file is read leaks nothing */
  char **box = lua_newuserdatauv (L, sizeof *box, 0);
  *box = NULL;
  if (luaL_newmetatable (L, "nucleus.ReadBuf"))
    {
      lua_pushcfunction (L, l_readbuf_gc);
      lua_setfield (L, -2, "__gc");
    }
  lua_setmetatable (L, -2);
  char limit[32];
  if (max >= (1 << 20) && max % (1 << 20) == 0)
    snprintf (limit, sizeof limit, "%lld MiB", (long long) (max >> 20));
  else if (max >= 1024 && max % 1024 == 0)
    snprintf (limit, sizeof limit, "%lld KiB", (long long) (max >> 10));
  else
    snprintf (limit, sizeof limit, "%lld bytes", (long long) max);

  /* from here no Lua call until the fd is closed */
  int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
  if (fd < 0)
    return fail_errno (L, path, errno);
  struct stat st;
  int err = 0;
  const char *why = NULL;
  size_t got = 0, cap = 0;
  if (fstat (fd, &st) < 0)
    err = errno;
  else if (!S_ISREG (st.st_mode))
    why = kind_of_mode (st.st_mode), err = EINVAL;
  else if (st.st_size > max)
    err = EFBIG;
  else
    {
      /* the size at fstat, plus one byte to see the end (or growth) */
      cap = (size_t) st.st_size + 1;
      *box = malloc (cap);
      if (!*box)
        err = ENOMEM;
      while (!err)
        {
          if (got == cap)
            {
              if (got > (size_t) max)
                {
                  err = EFBIG;
                  break;
                }
              size_t ncap = cap * 2 > (size_t) max + 1 ? (size_t) max + 1 : cap * 2;
              char *n = realloc (*box, ncap);
              if (!n)
                {
                  err = ENOMEM;
                  break;
                }
              *box = n, cap = ncap;
            }
          ssize_t n = read (fd, *box + got, cap - got);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            err = errno;
          else if (n == 0)
            break;
          else
            got += (size_t) n;
        }
      if (!err && got > (size_t) max)
        err = EFBIG;
    }
  close (fd);
  if (err == EINVAL && why)
    {
      lua_pushnil (L);
      lua_pushfstring (L, "%s: not a regular file (%s)", path, why);
      lua_pushinteger (L, EINVAL);
      return 3;
    }
  if (err == EFBIG)
    {
      lua_pushnil (L);
      lua_pushfstring (L, "%s: larger than %s", path, limit);
      lua_pushinteger (L, EFBIG);
      return 3;
    }
  if (err)
    return fail_errno (L, path, err);
  lua_pushlstring (L, *box ? *box : "", got);
  free (*box);
  *box = NULL;
  return 1;
}

/* Remove name in dirfd and, if it is a directory, all it holds, never
 * following a symlink (each level opened O_NOFOLLOW from its parent's fd:
 * a directory swapped for a link meanwhile is not entered).  0 or -errno;
 * at most 64 levels (ELOOP beyond). */
static int remove_tree_at (int dirfd, const char *name, int depth)
{
  struct stat st;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISDIR (st.st_mode))
    return unlinkat (dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
  if (depth >= 64)
    return -ELOOP;
  int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  DIR *d = fdopendir (fd);
  if (!d)
    {
      int e = errno;
      close (fd);
      return -e;
    }
  int r = 0;
  struct dirent *de;
  while (r == 0 && (de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      r = remove_tree_at (fd, de->d_name, depth + 1);
  closedir (d);
  if (r < 0)
    return r;
  return unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* core.remove_tree(dir, name) -> true | nil, msg, errno: dir/name removed,
 * whatever it is (a directory with all it holds); a symlink is removed
 * itself, never followed, at any level.  name is one component.  A name
 * already gone is success. */
static int l_remove_tree (lua_State *L)
{
  const char *dir = luaL_checkstring (L, 1);
  const char *name = luaL_checkstring (L, 2);
  luaL_argcheck (L, *name && !strchr (name, '/') && strcmp (name, ".") && strcmp (name, ".."), 2,
                 "one path component");
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return fail_errno (L, dir, errno);
  int r = remove_tree_at (dfd, name, 0);
  close (dfd);
  if (r < 0)
    {
      lua_pushnil (L);
      lua_pushfstring (L, "%s/%s: %s", dir, name, strerror (-r));
      lua_pushinteger (L, -r);
      return 3;
    }
  lua_pushboolean (L, 1);
  return 1;
}

/* core.listdir(path) -> { names... } | nil, msg, errno ("." and ".." left out) */
static int l_listdir (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  lua_newtable (L); /* before opendir: a raise here leaks nothing */
  DIR *d = opendir (path);
  if (!d)
    return fail_errno (L, path, errno);
  struct dirent *de;
  int n = 0;
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      {
        lua_pushstring (L, de->d_name);
        lua_rawseti (L, -2, ++n);
      }
  closedir (d);
  return 1;
}

/* core.pid_alive(pid, start) -> bool: the process exists and, when start
 * is given, started at that time (field 22 of /proc/pid/stat), so a reused
 * pid is not mistaken for it. */
long long nc_l_proc_start (pid_t pid)
{
  char path[64], buf[1024];
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  FILE *f = fopen (path, "re");
  if (!f)
    return -1;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  char *p = strrchr (buf, ')');
  if (!p || p[1] != ' ')
    return -1;
  /* a zombie or dead process is not running any more, whoever reaps it */
  if (p[2] == 'Z' || p[2] == 'X' || p[2] == 'x')
    return -1;
  /* after ") " come fields 3..: state is field 3, starttime field 22 */
  long long v = -1;
  int field = 2;
  for (char *tok = strtok (p + 1, " "); tok; tok = strtok (NULL, " "))
    if (++field == 22)
      {
        v = strtoll (tok, NULL, 10);
        break;
      }
  return v;
}

static int l_proc_start (lua_State *L)
{
  long long v = nc_l_proc_start ((pid_t) luaL_checkinteger (L, 1));
  if (v < 0)
    return 0;
  lua_pushinteger (L, v);
  return 1;
}

/* core.signal_pid(pid, start, sig) -> true | nil, msg, errno: signal the
 * process only if it is still the one that started at start (a pidfd
 * pins it between the check and the signal). */
static int l_signal_pid (lua_State *L)
{
  pid_t pid = (pid_t) luaL_checkinteger (L, 1);
  long long start = luaL_checkinteger (L, 2);
  int sig = (int) luaL_checkinteger (L, 3);
  int fd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (fd < 0)
    return fail_errno (L, "pidfd_open", errno);
  if (nc_l_proc_start (pid) != start)
    {
      close (fd);
      return fail_errno (L, "signal", ESRCH);
    }
  int r = (int) syscall (SYS_pidfd_send_signal, fd, sig, NULL, 0);
  int e = errno;
  close (fd);
  if (r < 0)
    return fail_errno (L, "signal", e);
  lua_pushboolean (L, 1);
  return 1;
}

/* core.wait_pid_exit(pid, start, timeout_ms) -> true (gone) | false (timeout) */
static int l_wait_pid_exit (lua_State *L)
{
  pid_t pid = (pid_t) luaL_checkinteger (L, 1);
  long long start = luaL_checkinteger (L, 2);
  int timeout = (int) luaL_checkinteger (L, 3);
  int fd = (int) syscall (SYS_pidfd_open, pid, 0);
  if (fd < 0 || nc_l_proc_start (pid) != start)
    {
      if (fd >= 0)
        close (fd);
      lua_pushboolean (L, 1);
      return 1;
    }
  struct pollfd p = { fd, POLLIN, 0 };
  int r;
  do
    r = poll (&p, 1, timeout);
  while (r < 0 && errno == EINTR);
  close (fd);
  lua_pushboolean (L, r > 0);
  return 1;
}

/* core.cgroup_remove(path) -> true | nil, msg, errno: kill every process
 * in the cgroup (cgroup.kill, or one by one on kernels before 5.14) and
 * remove it.  A cgroup that is already gone is success. */
static int l_cgroup_remove (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  char file[4096];
  /* after a run the cgroup is usually empty already: just remove it */
  if (rmdir (path) == 0 || errno == ENOENT)
    {
      lua_pushboolean (L, 1);
      return 1;
    }
  snprintf (file, sizeof file, "%s/cgroup.kill", path);
  int fd = open (file, O_WRONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      if (write (fd, "1", 1) < 0)
        {
        }
      close (fd);
    }
  else if (errno == ENOENT && access (path, F_OK) < 0)
    {
      lua_pushboolean (L, 1);
      return 1;
    }
  for (int i = 0; i < 2000; i++)
    {
      if (rmdir (path) == 0 || errno == ENOENT)
        {
          lua_pushboolean (L, 1);
          return 1;
        }
      if (errno != EBUSY)
        return fail_errno (L, path, errno);
      if (fd < 0)
        {
          /* no cgroup.kill: signal what is listed */
          snprintf (file, sizeof file, "%s/cgroup.procs", path);
          FILE *f = fopen (file, "re");
          int pid;
          while (f && fscanf (f, "%d", &pid) == 1)
            kill (pid, SIGKILL);
          if (f)
            fclose (f);
        }
      usleep (1000);
    }
  return fail_errno (L, path, EBUSY);
}

/* core.sleep(seconds) */
static int l_sleep (lua_State *L)
{
  double s = luaL_checknumber (L, 1);
  luaL_argcheck (L, s >= 0 && s < 1e6, 1, "bad duration");
  struct timespec ts = { (time_t) s, (long) ((s - (double) (time_t) s) * 1e9) };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
  return 0;
}

/* core.monotonic() -> seconds (float) */
/* core.poll({fd, ...}, timeout) -> { fd = revents, ... } (empty when the
 * timeout, in seconds, passed first or a signal came; nil or a negative
 * timeout waits for ever) | nil, msg.  The event loop's one blocking call:
 * pidfds, relay pipes, timerfds, signalfds, whatever the caller holds. */
#define POLL_MAX 1024
static int l_poll (lua_State *L)
{
  luaL_checktype (L, 1, LUA_TTABLE);
  double t = luaL_optnumber (L, 2, -1);
  lua_Unsigned n = lua_rawlen (L, 1);
  luaL_argcheck (L, n <= POLL_MAX, 1, "too many fds");
  struct pollfd *pfd = lua_newuserdatauv (L, (n ? n : 1) * sizeof *pfd, 0);
  for (lua_Unsigned i = 0; i < n; i++)
    {
      lua_rawgeti (L, 1, (lua_Integer) i + 1);
      int isnum;
      lua_Integer fd = lua_tointegerx (L, -1, &isnum);
      luaL_argcheck (L, isnum && fd >= 0 && fd <= INT_MAX, 1, "fds must be non-negative integers");
      pfd[i] = (struct pollfd) { (int) fd, POLLIN, 0 };
      lua_pop (L, 1);
    }
  int ms = t < 0 ? -1 : t > 86400 ? 86400000 : (int) (t * 1000 + 0.999);
  int r = poll (pfd, (nfds_t) n, ms);
  if (r < 0 && errno != EINTR)
    return fail_errno (L, "poll", errno);
  lua_createtable (L, 0, r > 0 ? r : 0);
  for (lua_Unsigned i = 0; r > 0 && i < n; i++)
    if (pfd[i].revents)
      {
        lua_pushinteger (L, pfd[i].revents);
        lua_rawseti (L, -2, pfd[i].fd);
      }
  return 1;
}

static int l_monotonic (lua_State *L)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  lua_pushnumber (L, (double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
  return 1;
}

/* core.sha256_file(path) -> hex | nil, msg, errno (never follows a
 * symlink at path) */
static int l_sha256_file (lua_State *L)
{
  const char *path = luaL_checkstring (L, 1);
  char hex[65];
  int r = nc_sha256_file_hex (AT_FDCWD, path, hex);
  if (r < 0)
    return fail_errno (L, path, -r);
  lua_pushlstring (L, hex, 64);
  return 1;
}

/* core.journal_send({FIELD = value, ...} [, socket]) -> true | nil, msg, errno
 * One entry in the systemd journal's native protocol (a datagram of
 * FIELD=value lines; a value with a newline uses the length-prefixed
 * form), without libsystemd.  Field names are upper case. */
static int l_journal_send (lua_State *L)
{
  luaL_checktype (L, 1, LUA_TTABLE);
  const char *path = luaL_optstring (L, 2, "/run/systemd/journal/socket");
  /* pass 1: check everything (may raise) and size the datagram */
  size_t total = 0;
  lua_pushnil (L);
  while (lua_next (L, 1))
    {
      luaL_argcheck (L, lua_type (L, -2) == LUA_TSTRING, 1, "field names are strings");
      luaL_argcheck (L, lua_type (L, -1) == LUA_TSTRING || lua_type (L, -1) == LUA_TNUMBER, 1,
                     "field values are strings or numbers");
      size_t kl, vl;
      lua_tolstring (L, -2, &kl);
      lua_pushvalue (L, -1);
      lua_tolstring (L, -1, &vl); /* converts the copy, not the key's value in the table */
      lua_pop (L, 2);
      total += kl + vl + 10;
    }
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    return fail_errno (L, path, ENAMETOOLONG);
  strcpy (sa.sun_path, path);
  /* pass 2: build and send; nothing raises from here on */
  char *msg = malloc (total + 1);
  if (!msg)
    return fail_errno (L, "journal", ENOMEM);
  size_t len = 0;
  lua_pushnil (L);
  while (lua_next (L, 1))
    {
      size_t kl, vl;
      const char *k = lua_tolstring (L, -2, &kl);
      lua_pushvalue (L, -1);
      const char *v = lua_tolstring (L, -1, &vl);
      memcpy (msg + len, k, kl);
      len += kl;
      if (memchr (v, '\n', vl))
        {
          uint64_t le = (uint64_t) vl; /* little-endian length on x86_64 */
          msg[len++] = '\n';
          memcpy (msg + len, &le, 8);
          len += 8;
        }
      else
        msg[len++] = '=';
      memcpy (msg + len, v, vl);
      len += vl;
      msg[len++] = '\n';
      lua_pop (L, 2);
    }
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ssize_t n = fd < 0 ? -1 : sendto (fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *) &sa, sizeof sa);
  int e = errno;
  if (fd >= 0)
    close (fd);
  free (msg);
  if (n < 0)
    return fail_errno (L, path, e);
  lua_pushboolean (L, 1);
  return 1;
}

/* core.is_cgroup2(path) -> bool: path is (the top of) a cgroup2 mount
 * that nothing is mounted over */
static int l_is_cgroup2 (lua_State *L)
{
  struct statfs sf;
  lua_pushboolean (L, statfs (luaL_checkstring (L, 1), &sf) == 0
                          && sf.f_type == 0x63677270 /* CGROUP2_SUPER_MAGIC */);
  return 1;
}

/* core.ignored(sig) -> bool: the signal's disposition here is SIG_IGN */
static int l_ignored (lua_State *L)
{
  struct sigaction sa;
  int sig = (int) luaL_checkinteger (L, 1);
  lua_pushboolean (L, sigaction (sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN);
  return 1;
}

/* core.die_of(sig): terminate this process by sig, as if it had killed us
 * (a shell running us in a loop then stops at ^C, like with any program) */
static int l_die_of (lua_State *L)
{
  int sig = (int) luaL_checkinteger (L, 1);
  luaL_argcheck (L, sig > 0 && sig < NSIG, 1, "bad signal");
  fflush (stdout);
  signal (sig, SIG_DFL);
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, sig);
  pthread_sigmask (SIG_UNBLOCK, &set, NULL);
  raise (sig);
  return 0; /* not reached for terminating signals */
}

static int l_strerror (lua_State *L)
{
  lua_pushstring (L, strerror ((int) luaL_checkinteger (L, 1)));
  return 1;
}

static const struct { const char *name; int sig; } signals[] = {
  { "HUP", SIGHUP },   { "INT", SIGINT },     { "QUIT", SIGQUIT }, { "ILL", SIGILL },
  { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },   { "BUS", SIGBUS },   { "FPE", SIGFPE },
  { "KILL", SIGKILL }, { "USR1", SIGUSR1 },   { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
  { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },   { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
  { "CONT", SIGCONT }, { "STOP", SIGSTOP },   { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
  { "TTOU", SIGTTOU }, { "URG", SIGURG },     { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
  { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
  { "PWR", SIGPWR },   { "SYS", SIGSYS },
};

static const luaL_Reg plan_methods[] = {
  { "describe", nc_l_plan_describe },
  { "close", l_plan_gc }, /* frees it now: its fds closed, its secrets zeroed */
  { NULL, NULL },
};

static const luaL_Reg proc_methods[] = {
  { "wait", l_proc_wait },
  { "signal", l_proc_signal },
  { "pid", l_proc_pid },
  { "trace", l_proc_trace },
  { "fds", l_proc_fds },
  { "poll", l_proc_poll },
  { "close", l_proc_gc },
  { NULL, NULL },
};

static const luaL_Reg netns_methods[] = {
  { "fd", l_netns_fd },
  { "close", l_netns_gc },
  { NULL, NULL },
};

static int l_use_builtin_modules (lua_State *L);

static const luaL_Reg fd_methods[] = {
  { "path", l_fd_path },
  { "stat", l_fd_stat },
  { "readlink", l_fd_readlink },
  { "realpath", l_fd_realpath },
  { "sha256", l_fd_sha256 },
  { "close", l_fd_gc },
  { NULL, NULL },
};

static const luaL_Reg core_funcs[] = {
  { "open_path", l_open_path },
  { "netns_prepare", l_netns_prepare },
  { "plan_compile", nc_l_plan_compile },
  { "spawn", l_spawn },
  { "lstat", l_lstat },
  { "readlink", l_readlink },
  { "realpath", l_realpath },
  { "access", l_access },
  { "getpw", l_getpw },
  { "getgr", l_getgr },
  { "grouplist", l_grouplist },
  { "ids", l_ids },
  { "landlock_abi", l_landlock_abi },
  { "seccomp_resolve", l_seccomp_resolve },
  { "seccomp_export", nc_l_seccomp_export },
  { "seccomp_eval", l_seccomp_eval },
  { "cap_from_name", l_cap_from_name },
  { "last_cap", l_last_cap },
  { "strerror", l_strerror },
  { "die_of", l_die_of },
  { "ignored", l_ignored },
  { "is_cgroup2", l_is_cgroup2 },
  { "journal_send", l_journal_send },
  { "sleep", l_sleep },
  { "monotonic", l_monotonic },
  { "poll", l_poll },
  { "use_builtin_modules", l_use_builtin_modules },
  { "cgroup_remove", l_cgroup_remove },
  { "mkdir", l_mkdir },
  { "symlink", l_symlink },
  { "link", l_link },
  { "listdir", l_listdir },
  { "append", l_append },
  { "read_regular", l_read_regular },
  { "remove_tree", l_remove_tree },
  { "proc_start", l_proc_start },
  { "signal_pid", l_signal_pid },
  { "wait_pid_exit", l_wait_pid_exit },
  { "sha256", l_sha256 },
  { "random_hex", l_random_hex },
  { "sha256_file", l_sha256_file },
  { NULL, NULL },
};

static void new_meta (lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                      lua_CFunction tostring)
{
  luaL_newmetatable (L, name);
  lua_newtable (L);
  luaL_setfuncs (L, methods, 0);
  lua_setfield (L, -2, "__index");
  lua_pushcfunction (L, gc);
  lua_setfield (L, -2, "__gc");
  lua_pushcfunction (L, gc);
  lua_setfield (L, -2, "__close");
  if (tostring)
    {
      lua_pushcfunction (L, tostring);
      lua_setfield (L, -2, "__tostring");
    }
  lua_pop (L, 1);
}

/* --- the modules' built-in copy (core.so) ---
 *
 * core.so carries the lua/ modules compiled (with their debug info) and
 * the SHA-256 of each source.  Its searcher, ahead of Lua's own, finds
 * the file Lua's searcher would load and, when that file's text is the
 * one compiled into core.so, loads the compiled copy: the same code,
 * without compiling ~60 KB of source at every start of a stock lua5.4.  A file that differs (edited, another version) is left to
 * Lua's searcher.  The CLI, which embeds its own copy, links no table:
 * the weak symbol is then NULL. */
struct nc_lib_module {
  const char *name;
  const unsigned char *data;
  size_t len;
  const char *sha256;
};
extern const struct nc_lib_module nc_lib_modules[] __attribute__ ((weak));

/* The text of path, if it is a regular file of at most 1 MiB. */
static char *slurp (const char *path, size_t *len)
{
  NC_AUTOCLOSE int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > (1 << 20))
    return NULL;
  char *buf = malloc ((size_t) st.st_size + 1);
  size_t got = 0;
  while (buf && got < (size_t) st.st_size)
    {
      ssize_t n = read (fd, buf + got, (size_t) st.st_size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (size_t) n;
    }
  if (buf && got != (size_t) st.st_size)
    {
      free (buf);
      return NULL;
    }
  *len = got;
  return buf;
}

static int lib_searcher (lua_State *L)
{
  const char *name = luaL_checkstring (L, 1);
  const struct nc_lib_module *m = nc_lib_modules;
  while (m->name && strcmp (m->name, name) != 0)
    m++;
  if (!m->name)
    {
      lua_pushfstring (L, "no built-in copy of '%s'", name);
      return 1;
    }
  /* the file Lua's searcher would load: package.searchpath(name, package.path) */
  lua_getglobal (L, "package");
  lua_getfield (L, -1, "searchpath");
  lua_pushstring (L, name);
  lua_getfield (L, -3, "path");
  lua_call (L, 2, 1);
  const char *path = lua_tostring (L, -1);
  if (!path)
    {
      lua_pushfstring (L, "no file for the built-in copy of '%s'", name);
      return 1;
    }
  size_t len;
  char *text = slurp (path, &len);
  char sum[65];
  if (text)
    nc_sha256_hex (text, len, sum);
  free (text);
  if (!text || strcmp (sum, m->sha256) != 0)
    {
      lua_pushfstring (L, "'%s' differs from the built-in copy", path);
      return 1;
    }
  if (luaL_loadbufferx (L, (const char *) m->data, m->len, name, "b") != LUA_OK)
    return lua_error (L);
  /* the loader data says where the module came from */
  lua_pushfstring (L, "%s (built-in copy)", path);
  return 2;
}

/* core.use_builtin_modules(): put lib_searcher after package.preload's,
 * once per state; returns whether this core.so carries modules.  Asked
 * for by the host program, never done on load: loading nucleus.core
 * leaves package.searchers as it was. */
static int l_use_builtin_modules (lua_State *L)
{
  lua_pushboolean (L, nc_lib_modules != NULL);
  if (!nc_lib_modules)
    return 1;
  if (lua_getfield (L, LUA_REGISTRYINDEX, "nucleus.lib_searcher") != LUA_TNIL)
    {
      lua_pop (L, 1);
      return 1;
    }
  lua_pop (L, 1);
  lua_getglobal (L, "package");
  if (!lua_istable (L, -1) || lua_getfield (L, -1, "searchers") != LUA_TTABLE)
    {
      lua_pop (L, lua_istable (L, -1) ? 2 : 1);
      return 1;
    }
  for (lua_Integer i = luaL_len (L, -1); i >= 2; i--)
    {
      lua_geti (L, -1, i);
      lua_seti (L, -2, i + 1);
    }
  lua_pushcfunction (L, lib_searcher);
  lua_seti (L, -2, 2);
  lua_pop (L, 2);
  lua_pushboolean (L, 1);
  lua_setfield (L, LUA_REGISTRYINDEX, "nucleus.lib_searcher");
  return 1;
}

int luaopen_nucleus_core (lua_State *L)
{
  new_meta (L, NC_MT_PLAN, plan_methods, l_plan_gc, l_plan_tostring);
  new_meta (L, NC_MT_PROC, proc_methods, l_proc_gc, NULL);
  new_meta (L, NC_MT_NETNS, netns_methods, l_netns_gc, NULL);
  new_meta (L, NC_MT_FD, fd_methods, l_fd_gc, NULL);
  luaL_newlib (L, core_funcs);
  nc_l_net_open (L);
  lua_createtable (L, 0, (int) (sizeof signals / sizeof signals[0]));
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    {
      lua_pushinteger (L, signals[i].sig);
      lua_setfield (L, -2, signals[i].name);
    }
  lua_setfield (L, -2, "signals");
  lua_pushliteral (L, NC_VERSION);
  lua_setfield (L, -2, "version");
  return 1;
}

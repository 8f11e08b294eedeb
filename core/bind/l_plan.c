/* l_plan.c - core.plan_compile: a Lua launch-plan table -> nucleus.Plan.
 *
 * Runs in: parent.  Validation is strict: an unknown key, a wrong type or
 * a bad value returns nil, "plan: <where>: <what>", "EPLAN".  Nothing here
 * raises once the plan exists except through Lua itself (out of memory),
 * in which case the Plan userdata's __gc frees it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/seccomp.h>

#include "l_core.h"
#include "../src/internal.h"

struct rd {
  lua_State *L;
  struct nc_plan *plan;
  char msg[256];
  bool host_error; /* about the host (a tree to copy), not the plan's shape */
};

__attribute__ ((format (printf, 2, 3))) static int bad (struct rd *r, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (r->msg, sizeof r->msg, fmt, ap);
  va_end (ap);
  return -1;
}

/* Every key of the table at idx must be a string in allowed. */
static int check_keys (struct rd *r, int idx, const char *where, const char *const *allowed)
{
  lua_State *L = r->L;
  idx = lua_absindex (L, idx);
  lua_pushnil (L);
  while (lua_next (L, idx))
    {
      lua_pop (L, 1);
      if (lua_type (L, -1) != LUA_TSTRING)
        {
          lua_pop (L, 1);
          return bad (r, "%s: non-string key", where);
        }
      const char *k = lua_tostring (L, -1);
      int ok = 0;
      for (const char *const *a = allowed; *a; a++)
        if (strcmp (*a, k) == 0)
          {
            ok = 1;
            break;
          }
      if (!ok)
        {
          bad (r, "%s: unknown key \"%s\"", where, k);
          lua_pop (L, 1);
          return -1;
        }
    }
  return 0;
}

/* Push t[key]; returns its type.  Caller pops. */
/* Raw access only, here and in every list: a plan table's metamethods
 * (__index, __len) are never called, so a hostile table can neither run
 * code in the middle of a compile nor lie about a list's length. */
static int field (struct rd *r, int idx, const char *key)
{
  idx = lua_absindex (r->L, idx);
  lua_pushstring (r->L, key);
  return lua_rawget (r->L, idx);
}

static int get_str (struct rd *r, int idx, const char *where, const char *key, int required,
                    const char **out, size_t *len)
{
  int t = field (r, idx, key);
  int ret = 0;
  if (t == LUA_TNIL)
    {
      if (required)
        ret = bad (r, "%s: missing \"%s\"", where, key);
      *out = NULL;
    }
  else if (t != LUA_TSTRING)
    ret = bad (r, "%s.%s: expected a string, got %s", where, key, lua_typename (r->L, t));
  else
    {
      size_t n;
      const char *s = lua_tolstring (r->L, -1, &n);
      if (!len && strlen (s) != n)
        ret = bad (r, "%s.%s: contains a NUL byte", where, key);
      else if (!(*out = nc_plan_memdup (r->plan, s, n)))
        ret = bad (r, "out of memory");
      if (len)
        *len = n;
    }
  lua_pop (r->L, 1);
  return ret;
}

static int get_int (struct rd *r, int idx, const char *where, const char *key, int required,
                    lua_Integer min, lua_Integer max, lua_Integer *out)
{
  int t = field (r, idx, key);
  int ret = 0;
  if (t == LUA_TNIL)
    {
      if (required)
        ret = bad (r, "%s: missing \"%s\"", where, key);
    }
  else if (!lua_isinteger (r->L, -1))
    ret = bad (r, "%s.%s: expected an integer", where, key);
  else
    {
      lua_Integer v = lua_tointeger (r->L, -1);
      if (v < min || v > max)
        ret = bad (r, "%s.%s: %lld out of range", where, key, (long long) v);
      else
        *out = v;
    }
  lua_pop (r->L, 1);
  return ret;
}

static int get_bool (struct rd *r, int idx, const char *where, const char *key, bool *out)
{
  int t = field (r, idx, key);
  int ret = 0;
  if (t == LUA_TBOOLEAN)
    *out = lua_toboolean (r->L, -1);
  else if (t != LUA_TNIL)
    ret = bad (r, "%s.%s: expected a boolean", where, key);
  lua_pop (r->L, 1);
  return ret;
}

/* Sequence of strings at t[key] -> NULL-terminated arena vector. */
static int get_strv (struct rd *r, int idx, const char *where, const char *key, int required,
                     const char ***out, size_t *count)
{
  lua_State *L = r->L;
  int t = field (r, idx, key);
  *out = NULL;
  if (count)
    *count = 0;
  if (t == LUA_TNIL)
    {
      lua_pop (L, 1);
      return required ? bad (r, "%s: missing \"%s\"", where, key) : 0;
    }
  if (t != LUA_TTABLE)
    {
      lua_pop (L, 1);
      return bad (r, "%s.%s: expected a list of strings", where, key);
    }
  size_t n = lua_rawlen (L, -1);
  const char **v = nc_plan_calloc (r->plan, n + 1, sizeof *v);
  if (!v)
    {
      lua_pop (L, 1);
      return bad (r, "out of memory");
    }
  for (size_t i = 0; i < n; i++)
    {
      lua_rawgeti (L, -1, (lua_Integer) i + 1);
      size_t len;
      const char *s = lua_type (L, -1) == LUA_TSTRING ? lua_tolstring (L, -1, &len) : NULL;
      if (!s || strlen (s) != len)
        {
          lua_pop (L, 2);
          return bad (r, "%s.%s[%zu]: expected a string without NUL bytes", where, key, i + 1);
        }
      v[i] = nc_plan_memdup (r->plan, s, len);
      lua_pop (L, 1);
    }
  lua_pop (L, 1);
  *out = v;
  if (count)
    *count = n;
  return 0;
}

static int check_abs (struct rd *r, const char *where, const char *p)
{
  if (!p || p[0] != '/')
    return bad (r, "%s: \"%s\" is not an absolute path", where, p ? p : "");
  for (const char *s = p; *s; s++)
    if (s[0] == '/' && s[1] == '.' && s[2] == '.' && (s[3] == '/' || s[3] == '\0'))
      return bad (r, "%s: \"%s\" contains \"..\"", where, p);
  return 0;
}

struct named {
  const char *name;
  unsigned value;
};

static int lookup (const struct named *t, const char *name, unsigned *out)
{
  for (; t->name; t++)
    if (strcmp (t->name, name) == 0)
      {
        *out = t->value;
        return 0;
      }
  return -1;
}

static const struct named mount_kinds[] = {
  { "dir", NC_MNT_DIR },         { "bind", NC_MNT_BIND },     { "tmpfs", NC_MNT_TMPFS },
  { "secret", NC_MNT_FILE | 0x100 },
  { "proc", NC_MNT_PROC },       { "devpts", NC_MNT_DEVPTS }, { "mqueue", NC_MNT_MQUEUE },
  { "symlink", NC_MNT_SYMLINK }, { "file", NC_MNT_FILE },     { "copy", NC_MNT_COPY },
  { "device", NC_MNT_DEVICE },    { "overlay", NC_MNT_OVERLAY }, { "hide", NC_MNT_HIDE },
  { NULL, 0 },
};

static const struct named mount_flags[] = {
  { "ro", NC_MNT_F_RO },          { "nosuid", NC_MNT_F_NOSUID },
  { "nodev", NC_MNT_F_NODEV },    { "noexec", NC_MNT_F_NOEXEC },
  { "recursive", NC_MNT_F_RECURSIVE }, { "inner", NC_MNT_F_INNER },
  { "owned", NC_MNT_F_OWNED },    { "layer", NC_MNT_F_LAYER }, { NULL, 0 },
};

static int read_exclude (struct rd *r, int idx, const char *where, struct nc_exclude *ex)
{
  static const char *const keys[]
      = { "names", "inames", "prefixes", "suffixes", "icontains", NULL };
  if (lua_type (r->L, idx) == LUA_TNIL)
    return 0;
  if (lua_type (r->L, idx) != LUA_TTABLE)
    return bad (r, "%s: expected a table", where);
  if (check_keys (r, idx, where, keys) < 0
      || get_strv (r, idx, where, "names", 0, &ex->names, &ex->nnames) < 0
      || get_strv (r, idx, where, "inames", 0, &ex->inames, &ex->ninames) < 0
      || get_strv (r, idx, where, "prefixes", 0, &ex->prefixes, &ex->nprefixes) < 0
      || get_strv (r, idx, where, "suffixes", 0, &ex->suffixes, &ex->nsuffixes) < 0
      || get_strv (r, idx, where, "icontains", 0, &ex->icontains, &ex->nicontains) < 0)
    return -1;
  return 0;
}

/* "1.5G": a size for a message */
static void human_size (char *buf, size_t n, uint64_t v)
{
  static const char units[] = "KMGTPE";
  if (v < 1024)
    {
      snprintf (buf, n, "%lluB", (unsigned long long) v);
      return;
    }
  double d = (double) v;
  int u = -1;
  while (d >= 1024 && u < 5)
    d /= 1024, u++;
  snprintf (buf, n, "%.1f%c", d, units[u]);
}

/* A scanned tree against the tmpfs it is copied into (max_bytes,
 * max_entries: its size and nr_inodes; -1 = unbounded): what the copy
 * will take there, the data of each file (its holes stay holes in the
 * copy) rounded up to whole pages, as tmpfs allocates (a symlink of 128 bytes or more takes one too), so that a
 * tree which cannot fit is refused here, before anything starts.  A tree
 * that grows after the scan is stopped by the tmpfs itself (ENOSPC). */
static int copy_fits (struct rd *r, const struct nc_mount *m, const char *source, lua_Integer max_bytes,
                      lua_Integer max_entries)
{
  const uint64_t page = (uint64_t) sysconf (_SC_PAGESIZE);
  uint64_t bytes = 0;
  for (size_t i = m->copy_first; i < m->copy_first + m->copy_count; i++)
    {
      const struct nc_copy *e = &r->plan->copies[i];
      if (e->type == NC_COPY_REG)
        bytes += (e->data + page - 1) / page * page;
      else if (e->type == NC_COPY_LNK && strlen (e->link) >= 128)
        bytes += page;
    }
  char have[32], limit[32];
  if (max_bytes >= 0 && bytes > (uint64_t) max_bytes)
    {
      human_size (have, sizeof have, bytes);
      human_size (limit, sizeof limit, (uint64_t) max_bytes);
      return bad (r, "context %s: %s of files, more than the %s tmpfs it is copied into (--tmpfs-size)",
                  source, have, limit);
    }
  if (max_entries >= 0 && m->copy_count > (uint64_t) max_entries)
    return bad (r, "context %s: %zu files, directories and links, more than the %lld inodes of the tmpfs "
                   "it is copied into (--tmpfs-size)",
                source, m->copy_count, (long long) max_entries);
  return 0;
}

/* A bind's "fd": a nucleus.Fd (core.open_path) of what is bound, taken
 * by the plan (the Fd is closed for Lua from here on): the tree the
 * caller checked is the one mounted, whatever happens to its path.  source
 * then only names it. */
static int take_fd (struct rd *r, int idx, const char *where, struct nc_mount *m)
{
  lua_State *L = r->L;
  int t = field (r, idx, "fd");
  if (t == LUA_TNIL)
    {
      lua_pop (L, 1);
      return 0;
    }
  struct nc_l_fd *u = luaL_testudata (L, -1, NC_MT_FD);
  lua_pop (L, 1);
  if (!u)
    return bad (r, "%s.fd: expected a nucleus.Fd", where);
  if (u->fd < 0)
    return bad (r, "%s.fd: already closed", where);
  if (m->flags & NC_MNT_F_INNER)
    return bad (r, "%s: \"inner\" takes a path of the new root, not an fd", where);
  struct stat st;
  if (fstat (u->fd, &st) < 0)
    return bad (r, "%s.fd: %s", where, strerror (errno));
  int file = (m->flags & NC_MNT_F_FILE) != 0;
  if (!(file ? S_ISREG (st.st_mode) : S_ISDIR (st.st_mode)))
    return bad (r, "%s.fd: not a %s", where, file ? "regular file (file = true)" : "directory");
  m->src_fd = u->fd;
  u->fd = -1;
  m->flags |= NC_MNT_F_FD;
  return 0;
}

static int read_mount (struct rd *r, int idx, size_t i, struct nc_mount *m)
{
  static const char *const keys[] = { "kind", "source", "target", "flags",   "options",
                                      "mode", "link",   "content", "exclude", "max_depth",
                                      "file", "max_bytes", "max_entries", "fd", NULL };
  lua_State *L = r->L;
  char where[48];
  snprintf (where, sizeof where, "mounts[%zu]", i + 1);
  if (lua_type (L, idx) != LUA_TTABLE)
    return bad (r, "%s: expected a table", where);
  if (check_keys (r, idx, where, keys) < 0)
    return -1;

  const char *kind;
  unsigned k;
  if (get_str (r, idx, where, "kind", 1, &kind, NULL) < 0)
    return -1;
  if (lookup (mount_kinds, kind, &k) < 0)
    return bad (r, "%s.kind: unknown kind \"%s\"", where, kind);
  int secret = (k & 0x100) != 0;
  m->kind = (uint16_t) (k & 0xff);
  m->src_fd = -1;

  if (get_str (r, idx, where, "target", 1, &m->target, NULL) < 0
      || check_abs (r, where, m->target) < 0)
    return -1;
  if (strcmp (m->target, "/") == 0)
    return bad (r, "%s.target: the root itself cannot be a mount target", where);

  const char **flags;
  size_t nflags;
  if (get_strv (r, idx, where, "flags", 0, &flags, &nflags) < 0)
    return -1;
  for (size_t f = 0; f < nflags; f++)
    {
      unsigned v;
      if (lookup (mount_flags, flags[f], &v) < 0)
        return bad (r, "%s.flags: unknown flag \"%s\"", where, flags[f]);
      m->flags |= (uint16_t) v;
    }
  bool is_file = false;
  if (get_bool (r, idx, where, "file", &is_file) < 0)
    return -1;
  if (is_file)
    m->flags |= NC_MNT_F_FILE;

  lua_Integer mode = -1;
  if (get_int (r, idx, where, "mode", 0, 0, 07777, &mode) < 0)
    return -1;
  m->mode = mode < 0 ? 0755 : (uint32_t) mode;

  const char *source = NULL, *options = NULL, *link = NULL, *content = NULL;
  size_t content_len = 0;
  if (get_str (r, idx, where, "source", 0, &source, NULL) < 0
      || get_str (r, idx, where, "options", 0, &options, NULL) < 0
      || get_str (r, idx, where, "link", 0, &link, NULL) < 0
      || get_str (r, idx, where, "content", 0, &content, &content_len) < 0)
    return -1;

  switch (m->kind)
    {
    case NC_MNT_OVERLAY:
      /* the child names both layers in one "lowerdir" string, where ':'
       * separates layers and '\\' escapes */
      if (strpbrk (m->target, ":\\") || (source && strpbrk (source, ":\\")))
        return bad (r, "%s: an overlay's source and target cannot hold ':' or '\\'", where);
      if (m->flags & ~(NC_MNT_F_RO | NC_MNT_F_NOSUID | NC_MNT_F_NODEV | NC_MNT_F_NOEXEC))
        return bad (r, "%s: an overlay takes only ro, nosuid, nodev and noexec", where);
      /* fall through */
    case NC_MNT_BIND:
    case NC_MNT_COPY:
      if (!source)
        return bad (r, "%s: missing \"source\"", where);
      if (check_abs (r, where, source) < 0)
        return -1;
      m->source = source;
      if (m->kind == NC_MNT_BIND && take_fd (r, idx, where, m) < 0)
        return -1;
      break;
    case NC_MNT_DEVICE:
      {
        /* the host's node, looked at here: its number and mode are made
         * anew in the container (mknod, where binds were once needed) */
        struct stat st;
        if (!source)
          return bad (r, "%s: missing \"source\"", where);
        if (check_abs (r, where, source) < 0)
          return -1;
        if (stat (source, &st) < 0)
          {
            r->host_error = true;
            return bad (r, "device %s: %s", source, strerror (errno));
          }
        if (!S_ISCHR (st.st_mode))
          {
            r->host_error = true;
            return bad (r, "device %s: not a character device", source);
          }
        m->source = source;
        m->rdev = st.st_rdev;
        if (mode < 0)
          m->mode = st.st_mode & 0777;
        break;
      }
    case NC_MNT_SYMLINK:
      if (!link || !*link)
        return bad (r, "%s: missing \"link\"", where);
      m->data = link;
      break;
    case NC_MNT_FILE:
      if (secret)
        {
          /* read here, on the host and before any namespace: the child
           * writes it into the container, the plan zeroes it when freed */
          if (!source || content)
            return bad (r, "%s: a secret has a source and no content", where);
          r->host_error = true;
          /* O_NONBLOCK: a FIFO must not hang the open (refused below) */
          int fd = open (source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
          struct stat st;
          if (fd < 0)
            return bad (r, "secret %s: %s", source, strerror (errno));
          if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > (1 << 20))
            {
              close (fd);
              return bad (r, "secret %s: not a regular file of at most 1 MiB", source);
            }
          char *buf = nc_plan_alloc (r->plan, (size_t) st.st_size + 1);
          ssize_t got = 0;
          while (buf && got < st.st_size)
            {
              ssize_t n = read (fd, buf + got, (size_t) (st.st_size - got));
              if (n < 0 && errno == EINTR)
                continue;
              if (n <= 0)
                break;
              got += n;
            }
          close (fd);
          if (!buf || got != st.st_size)
            return bad (r, "secret %s: short read", source);
          r->host_error = false;
          m->data = buf;
          m->data_len = (size_t) got;
          m->flags |= NC_MNT_F_SECRET | NC_MNT_F_OWNED;
          if (mode < 0)
            m->mode = 0400;
          m->source = NULL;
          break;
        }
      m->data = content ? content : "";
      m->data_len = content_len;
      if (mode < 0)
        m->mode = 0644;
      break;
    case NC_MNT_HIDE:
      break;
    default:
      m->data = options;
      break;
    }
  if (m->kind != NC_MNT_BIND)
    {
      int t = field (r, idx, "fd");
      lua_pop (L, 1);
      if (t != LUA_TNIL)
        return bad (r, "%s.fd: only a bind takes an fd", where);
    }
  if ((m->kind == NC_MNT_HIDE) != 0 && !(m->flags & NC_MNT_F_LAYER))
    return bad (r, "%s: \"hide\" is a whiteout of an overlay layer: it needs the \"layer\" flag", where);
  if ((m->flags & NC_MNT_F_LAYER) && m->kind != NC_MNT_DIR && m->kind != NC_MNT_FILE
      && m->kind != NC_MNT_SYMLINK && m->kind != NC_MNT_HIDE)
    return bad (r, "%s: only dir, file, symlink and hide entries go in a layer", where);

  if (m->kind == NC_MNT_COPY)
    {
      struct nc_exclude ex = { 0 };
      lua_Integer depth = 128, max_bytes = -1, max_entries = -1;
      field (r, idx, "exclude");
      int rc = read_exclude (r, lua_gettop (L), where, &ex);
      lua_pop (L, 1);
      if (rc < 0 || get_int (r, idx, where, "max_depth", 0, 1, 4096, &depth) < 0
          || get_int (r, idx, where, "max_bytes", 0, 0, LUA_MAXINTEGER, &max_bytes) < 0
          || get_int (r, idx, where, "max_entries", 0, 0, LUA_MAXINTEGER, &max_entries) < 0)
        return -1;
      r->host_error = true;
      m->src_fd = open (source, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (m->src_fd < 0)
        return bad (r, "%s: %s", source, strerror (errno));
      struct nc_err err = { 0 };
      size_t skipped = 0;
      if (nc_plan_scan_tree (r->plan, m->src_fd, &ex, (unsigned) depth, &m->copy_first,
                             &m->copy_count, &skipped, &err)
          < 0)
        return bad (r, "%s: %s%s%s", source, err.detail, err.code ? ": " : "",
                    err.code ? strerror (err.code) : "");
      if (copy_fits (r, m, source, max_bytes, max_entries) < 0)
        return -1;
      r->host_error = false;
    }
  return 0;
}

static int under (const char *path, const char *dir)
{
  size_t n = strlen (dir);
  return strncmp (path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Each layer entry goes into the layer of an overlay after it, and each
 * overlay has its layer's top directory made before it: the child makes
 * the layer in the order given and mounts it as it stands. */
static int check_layers (struct rd *r)
{
  const struct nc_plan *p = r->plan;
  for (size_t i = 0; i < p->nmounts; i++)
    {
      const struct nc_mount *m = &p->mounts[i];
      int found = 0;
      if (m->flags & NC_MNT_F_LAYER)
        {
          for (size_t j = i + 1; j < p->nmounts && !found; j++)
            found = p->mounts[j].kind == NC_MNT_OVERLAY && under (m->target, p->mounts[j].target);
          if (!found)
            return bad (r, "mounts[%zu]: layer entry %s is under no overlay after it", i + 1, m->target);
        }
      else if (m->kind == NC_MNT_OVERLAY)
        {
          for (size_t j = 0; j < i && !found; j++)
            found = p->mounts[j].kind == NC_MNT_DIR && (p->mounts[j].flags & NC_MNT_F_LAYER)
                    && strcmp (p->mounts[j].target, m->target) == 0;
          if (!found)
            return bad (r, "mounts[%zu]: overlay %s has no layer directory (a dir entry with the "
                           "layer flag) before it",
                        i + 1, m->target);
        }
    }
  return 0;
}

static int read_mounts (struct rd *r, int idx)
{
  lua_State *L = r->L;
  int t = field (r, idx, "mounts");
  if (t == LUA_TNIL)
    {
      lua_pop (L, 1);
      return 0;
    }
  if (t != LUA_TTABLE)
    {
      lua_pop (L, 1);
      return bad (r, "mounts: expected a list");
    }
  size_t n = lua_rawlen (L, -1);
  r->plan->mounts = nc_plan_calloc (r->plan, n ? n : 1, sizeof (struct nc_mount));
  if (!r->plan->mounts)
    return bad (r, "out of memory");
  for (size_t i = 0; i < n; i++)
    {
      lua_rawgeti (L, -1, (lua_Integer) i + 1);
      /* count it first, so nc_plan_free closes a copy's fd on failure */
      r->plan->nmounts = i + 1;
      int rc = read_mount (r, lua_gettop (L), i, &r->plan->mounts[i]);
      lua_pop (L, 1);
      if (rc < 0)
        {
          lua_pop (L, 1);
          return -1;
        }
    }
  lua_pop (L, 1);
  return check_layers (r);
}

static const struct named rlimit_names[] = {
  { "as", RLIMIT_AS },           { "core", RLIMIT_CORE },       { "cpu", RLIMIT_CPU },
  { "data", RLIMIT_DATA },       { "fsize", RLIMIT_FSIZE },     { "locks", RLIMIT_LOCKS },
  { "memlock", RLIMIT_MEMLOCK }, { "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },
  { "nofile", RLIMIT_NOFILE },   { "nproc", RLIMIT_NPROC },     { "rss", RLIMIT_RSS },
  { "rtprio", RLIMIT_RTPRIO },   { "rttime", RLIMIT_RTTIME },   { "sigpending", RLIMIT_SIGPENDING },
  { "stack", RLIMIT_STACK },     { NULL, 0 },
};

static int read_rlimits (struct rd *r, int idx)
{
  static const char *const keys[] = { "resource", "soft", "hard", NULL };
  lua_State *L = r->L;
  int t = field (r, idx, "rlimits");
  if (t == LUA_TNIL)
    {
      lua_pop (L, 1);
      return 0;
    }
  if (t != LUA_TTABLE)
    {
      lua_pop (L, 1);
      return bad (r, "rlimits: expected a list");
    }
  size_t n = lua_rawlen (L, -1);
  r->plan->rlimits = nc_plan_calloc (r->plan, n ? n : 1, sizeof (struct nc_rlimit));
  for (size_t i = 0; i < n; i++)
    {
      char where[32];
      snprintf (where, sizeof where, "rlimits[%zu]", i + 1);
      lua_rawgeti (L, -1, (lua_Integer) i + 1);
      int e = lua_gettop (L);
      const char *res = NULL;
      unsigned rv = 0;
      lua_Integer soft = -1, hard = -1;
      int rc = lua_type (L, e) != LUA_TTABLE ? bad (r, "%s: expected a table", where)
               : check_keys (r, e, where, keys) < 0 ? -1
               : get_str (r, e, where, "resource", 1, &res, NULL) < 0 ? -1
               : lookup (rlimit_names, res, &rv) < 0
                   ? bad (r, "%s.resource: unknown resource \"%s\"", where, res)
               : get_int (r, e, where, "soft", 1, 0, LUA_MAXINTEGER, &soft) < 0 ? -1
               : get_int (r, e, where, "hard", 1, 0, LUA_MAXINTEGER, &hard) < 0 ? -1
               : soft > hard ? bad (r, "%s: soft limit above the hard limit", where)
                             : 0;
      lua_pop (L, 1);
      if (rc < 0)
        {
          lua_pop (L, 1);
          return -1;
        }
      struct nc_rlimit *l = &r->plan->rlimits[i];
      l->resource = (int) rv;
      l->lim.rlim_cur = soft == LUA_MAXINTEGER ? RLIM_INFINITY : (rlim_t) soft;
      l->lim.rlim_max = hard == LUA_MAXINTEGER ? RLIM_INFINITY : (rlim_t) hard;
      r->plan->nrlimits = i + 1;
    }
  lua_pop (L, 1);
  return 0;
}

/* --- seccomp: the OCI runtime-spec linux.seccomp object --- */

static const struct named sc_actions[] = {
  { "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD },
  { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
  { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS },
  { "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
  { "SCMP_ACT_ERRNO", SCMP_ACT_ERRNO (0) },
  { "SCMP_ACT_TRACE", SCMP_ACT_TRACE (0) },
  { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW },
  { "SCMP_ACT_LOG", SCMP_ACT_LOG },
  { "SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY },
  { NULL, 0 },
};

static const struct named sc_ops[] = {
  { "SCMP_CMP_NE", SCMP_CMP_NE },         { "SCMP_CMP_LT", SCMP_CMP_LT },
  { "SCMP_CMP_LE", SCMP_CMP_LE },         { "SCMP_CMP_EQ", SCMP_CMP_EQ },
  { "SCMP_CMP_GE", SCMP_CMP_GE },         { "SCMP_CMP_GT", SCMP_CMP_GT },
  { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ }, { NULL, 0 },
};

static const struct named sc_arches[] = {
  { "SCMP_ARCH_X86", SCMP_ARCH_X86 },         { "SCMP_ARCH_X86_64", SCMP_ARCH_X86_64 },
  { "SCMP_ARCH_X32", SCMP_ARCH_X32 },         { "SCMP_ARCH_ARM", SCMP_ARCH_ARM },
  { "SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64 }, { "SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64 },
  { "SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE }, { "SCMP_ARCH_S390X", SCMP_ARCH_S390X },
  { NULL, 0 },
};

static const struct named sc_flags[] = {
  { "SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG },
  { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW },
  { NULL, 0 },
};

static int sc_action (struct rd *r, int idx, const char *where, const char *akey,
                      const char *ekey, uint32_t *out)
{
  const char *a;
  unsigned v;
  lua_Integer e = -1;
  if (get_str (r, idx, where, akey, 1, &a, NULL) < 0)
    return -1;
  if (lookup (sc_actions, a, &v) < 0)
    return bad (r, "%s.%s: unknown action \"%s\"", where, akey, a);
  if (get_int (r, idx, where, ekey, 0, 0, 4095, &e) < 0)
    return -1;
  if (v == SCMP_ACT_ERRNO (0))
    v = SCMP_ACT_ERRNO ((uint32_t) (e < 0 ? EPERM : e));
  else if (v == SCMP_ACT_TRACE (0))
    v = SCMP_ACT_TRACE ((uint32_t) (e < 0 ? EPERM : e));
  else if (e >= 0)
    return bad (r, "%s.%s: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE", where, ekey);
  *out = v;
  return 0;
}

static int parse_seccomp (struct rd *r, int idx, struct nc_sc_spec *out)
{
  static const char *const keys[] = { "defaultAction", "defaultErrnoRet", "architectures",
                                      "flags", "syscalls", "listenerPath", "listenerMetadata",
                                      NULL };
  static const char *const rule_keys[] = { "names", "action", "errnoRet", "args", "comment",
                                           "includes", "excludes", NULL };
  static const char *const arg_keys[] = { "index", "value", "valueTwo", "op", NULL };
  lua_State *L = r->L;
  struct nc_sc_spec spec = { 0 };
  const char *W = "seccomp";
  if (check_keys (r, idx, W, keys) < 0
      || sc_action (r, idx, W, "defaultAction", "defaultErrnoRet", &spec.default_action) < 0)
    return -1;

  const char **v;
  size_t n;
  if (get_strv (r, idx, W, "architectures", 0, &v, &n) < 0)
    return -1;
  spec.arches = nc_plan_calloc (r->plan, n + 1, sizeof *spec.arches);
  for (size_t i = 0; i < n; i++)
    {
      unsigned a;
      if (lookup (sc_arches, v[i], &a) < 0)
        return bad (r, "seccomp.architectures[%zu]: unknown architecture \"%s\"", i + 1, v[i]);
      spec.arches[spec.narches++] = a;
    }
  if (get_strv (r, idx, W, "flags", 0, &v, &n) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      unsigned f;
      if (lookup (sc_flags, v[i], &f) < 0)
        return bad (r, "seccomp.flags[%zu]: unsupported flag \"%s\"", i + 1, v[i]);
      if (f == SECCOMP_FILTER_FLAG_LOG)
        spec.log = true;
      else
        spec.spec_allow = true;
    }

  int t = field (r, idx, "syscalls");
  if (t != LUA_TNIL && t != LUA_TTABLE)
    {
      lua_pop (L, 1);
      return bad (r, "seccomp.syscalls: expected a list");
    }
  size_t nrules = t == LUA_TTABLE ? lua_rawlen (L, -1) : 0;
  spec.rules = nc_plan_calloc (r->plan, nrules + 1, sizeof *spec.rules);
  for (size_t i = 0; i < nrules; i++)
    {
      struct nc_sc_rule *rule = &spec.rules[i];
      char where[48];
      snprintf (where, sizeof where, "seccomp.syscalls[%zu]", i + 1);
      rule->where = nc_plan_strdup (r->plan, where);
      lua_rawgeti (L, -1, (lua_Integer) i + 1);
      int e = lua_gettop (L);
      int rc = lua_type (L, e) != LUA_TTABLE ? bad (r, "%s: expected a table", where)
               : check_keys (r, e, where, rule_keys) < 0 ? -1
               : get_strv (r, e, where, "names", 1, &rule->names, &rule->nnames) < 0 ? -1
               : sc_action (r, e, where, "action", "errnoRet", &rule->action);
      if (rc == 0 && rule->nnames == 0)
        rc = bad (r, "%s.names: empty", where);
      if (rc == 0)
        {
          int at = field (r, e, "args");
          if (at == LUA_TTABLE)
            {
              size_t na = lua_rawlen (L, -1);
              if (na > 6)
                rc = bad (r, "%s.args: at most 6", where);
              rule->args = nc_plan_calloc (r->plan, na + 1, sizeof *rule->args);
              for (size_t a = 0; rc == 0 && a < na; a++)
                {
                  char aw[96];
                  snprintf (aw, sizeof aw, "%s.args[%zu]", where, a + 1);
                  lua_rawgeti (L, -1, (lua_Integer) a + 1);
                  int ai = lua_gettop (L);
                  lua_Integer index = 0, value = 0, value2 = 0;
                  const char *op = NULL;
                  unsigned opv = 0;
                  rc = lua_type (L, ai) != LUA_TTABLE ? bad (r, "%s: expected a table", aw)
                       : check_keys (r, ai, aw, arg_keys) < 0 ? -1
                       : get_int (r, ai, aw, "index", 1, 0, 5, &index) < 0 ? -1
                       : get_int (r, ai, aw, "value", 1, LUA_MININTEGER, LUA_MAXINTEGER, &value) < 0 ? -1
                       : get_int (r, ai, aw, "valueTwo", 0, LUA_MININTEGER, LUA_MAXINTEGER, &value2) < 0 ? -1
                       : get_str (r, ai, aw, "op", 1, &op, NULL) < 0 ? -1
                       : lookup (sc_ops, op, &opv) < 0 ? bad (r, "%s.op: unknown op \"%s\"", aw, op)
                                                       : 0;
                  lua_pop (L, 1);
                  if (rc == 0)
                    {
                      rule->args[a].index = (unsigned) index;
                      rule->args[a].value = (uint64_t) value;
                      rule->args[a].value_two = (uint64_t) value2;
                      rule->args[a].op = (int) opv;
                      rule->nargs = a + 1;
                    }
                }
            }
          else if (at != LUA_TNIL)
            rc = bad (r, "%s.args: expected a list", where);
          lua_pop (L, 1);
        }
      lua_pop (L, 1);
      if (rc < 0)
        {
          lua_pop (L, 1);
          return -1;
        }
      spec.nrules = i + 1;
    }
  lua_pop (L, 1);
  *out = spec;
  return 0;
}

static int read_seccomp (struct rd *r, int idx)
{
  struct nc_sc_spec spec;
  if (parse_seccomp (r, idx, &spec) < 0)
    return -1;
  struct nc_err err = { 0 };
  if (nc_seccomp_compile (r->plan, &spec, &err) < 0)
    return bad (r, "%s%s%s", err.detail, err.code && err.code != EINVAL ? ": " : "",
                err.code && err.code != EINVAL ? strerror (err.code) : "");
  return 0;
}

static int read_landlock (struct rd *r, int idx)
{
  static const char *const keys[] = { "handled_fs", "handled_net", "scoped", "rules", NULL };
  static const char *const rule_keys[] = { "path", "access", "optional", NULL };
  lua_State *L = r->L;
  const char *W = "landlock";
  lua_Integer fs = 0, net = 0, scoped = 0;
  if (check_keys (r, idx, W, keys) < 0
      || get_int (r, idx, W, "handled_fs", 1, 1, LUA_MAXINTEGER, &fs) < 0
      || get_int (r, idx, W, "handled_net", 0, 0, LUA_MAXINTEGER, &net) < 0
      || get_int (r, idx, W, "scoped", 0, 0, LUA_MAXINTEGER, &scoped) < 0)
    return -1;
  int t = field (r, idx, "rules");
  if (t != LUA_TTABLE)
    {
      lua_pop (L, 1);
      return bad (r, "landlock.rules: expected a list");
    }
  size_t n = lua_rawlen (L, -1);
  r->plan->ll_rules = nc_plan_calloc (r->plan, n + 1, sizeof *r->plan->ll_rules);
  for (size_t i = 0; i < n; i++)
    {
      char where[40];
      snprintf (where, sizeof where, "landlock.rules[%zu]", i + 1);
      struct nc_ll_rule *rule = &r->plan->ll_rules[i];
      lua_rawgeti (L, -1, (lua_Integer) i + 1);
      int e = lua_gettop (L);
      lua_Integer access = 0;
      int rc = lua_type (L, e) != LUA_TTABLE ? bad (r, "%s: expected a table", where)
               : check_keys (r, e, where, rule_keys) < 0 ? -1
               : get_str (r, e, where, "path", 1, &rule->path, NULL) < 0 ? -1
               : check_abs (r, where, rule->path) < 0 ? -1
               : get_int (r, e, where, "access", 1, 0, LUA_MAXINTEGER, &access) < 0 ? -1
               : get_bool (r, e, where, "optional", &rule->optional);
      lua_pop (L, 1);
      if (rc < 0)
        {
          lua_pop (L, 1);
          return -1;
        }
      if ((uint64_t) access & ~(uint64_t) fs)
        {
          lua_pop (L, 1);
          return bad (r, "%s.access: rights outside handled_fs", where);
        }
      rule->access = (uint64_t) access;
      r->plan->nll_rules = i + 1;
    }
  lua_pop (L, 1);
  struct nc_err err = { 0 };
  if (nc_landlock_prepare (r->plan, (uint64_t) fs, (uint64_t) net, (uint64_t) scoped, &err) < 0)
    return bad (r, "landlock: %s: %s", err.detail, strerror (err.code));
  return 0;
}

static const struct named ns_names[] = {
  { "mount", CLONE_NEWNS },   { "pid", CLONE_NEWPID },   { "uts", CLONE_NEWUTS },
  { "ipc", CLONE_NEWIPC },    { "net", CLONE_NEWNET },   { "cgroup", CLONE_NEWCGROUP },
  { "user", CLONE_NEWUSER },  { "time", CLONE_NEWTIME }, { NULL, 0 },
};

static int read_caps (struct rd *r, int idx)
{
  static const char *const keys[]
      = { "bounding", "permitted", "effective", "inheritable", "ambient", NULL };
  lua_Integer v[5] = { 0 };
  if (check_keys (r, idx, "caps", keys) < 0)
    return -1;
  for (int i = 0; i < 5; i++)
    if (get_int (r, idx, "caps", keys[i], 0, 0, LUA_MAXINTEGER, &v[i]) < 0)
      return -1;
  struct nc_caps *c = &r->plan->caps;
  c->bounding = (uint64_t) v[0];
  c->permitted = (uint64_t) v[1];
  c->effective = (uint64_t) v[2];
  c->inheritable = (uint64_t) v[3];
  c->ambient = (uint64_t) v[4];
  if ((c->effective | c->inheritable) & ~c->permitted)
    return bad (r, "caps: effective and inheritable must be subsets of permitted");
  if (c->ambient & ~(c->permitted & c->inheritable))
    return bad (r, "caps: ambient must be a subset of permitted and inheritable");
  return 0;
}

static int read_user (struct rd *r, int idx)
{
  static const char *const keys[] = { "uid", "gid", "groups", NULL };
  lua_State *L = r->L;
  lua_Integer uid = 0, gid = 0;
  if (check_keys (r, idx, "user", keys) < 0
      || get_int (r, idx, "user", "uid", 1, 0, 0xfffffffe, &uid) < 0
      || get_int (r, idx, "user", "gid", 1, 0, 0xfffffffe, &gid) < 0)
    return -1;
  r->plan->uid = (uid_t) uid;
  r->plan->gid = (gid_t) gid;
  int t = field (r, idx, "groups");
  if (t == LUA_TTABLE)
    {
      size_t n = lua_rawlen (L, -1);
      if (n > 65536)
        {
          lua_pop (L, 1);
          return bad (r, "user.groups: too many groups");
        }
      r->plan->groups = nc_plan_calloc (r->plan, n + 1, sizeof (gid_t));
      for (size_t i = 0; i < n; i++)
        {
          lua_rawgeti (L, -1, (lua_Integer) i + 1);
          int isnum;
          lua_Integer g = lua_tointegerx (L, -1, &isnum);
          lua_pop (L, 1);
          if (!isnum || g < 0 || g > 0xfffffffe)
            {
              lua_pop (L, 1);
              return bad (r, "user.groups[%zu]: expected a gid", i + 1);
            }
          r->plan->groups[i] = (gid_t) g;
        }
      r->plan->ngroups = n;
      r->plan->set_groups = true;
    }
  else if (t != LUA_TNIL)
    {
      lua_pop (L, 1);
      return bad (r, "user.groups: expected a list");
    }
  lua_pop (L, 1);
  return 0;
}

static int read_plan (struct rd *r, int idx)
{
  static const char *const keys[]
      = { "argv",     "env",    "path",       "cwd",          "hostname", "namespaces",
          "uid_map",  "gid_map", "setgroups_deny", "user",     "staging",  "root_options",
          "root_readonly", "chroot_fallback", "loopback", "bridged", "mounts", "caps", "rlimits",
          "seccomp",  "seccomp_log", "seccomp_trace", "landlock", "degraded", "init",
          "join_pid", "join_start", "cgroup", "audit_mounts", "pause_after_root", "root_noexec",
          "memfd_noexec", NULL };
  lua_State *L = r->L;
  struct nc_plan *p = r->plan;
  size_t n;

  if (check_keys (r, idx, "plan", keys) < 0
      || get_strv (r, idx, "plan", "argv", 1, (const char ***) &p->argv, &n) < 0)
    return -1;
  if (n == 0)
    return bad (r, "argv: empty command");
  if (p->argv[0][0] == '\0')
    return bad (r, "argv[1]: empty command name");
  const char **env;
  if (get_strv (r, idx, "plan", "env", 0, &env, &n) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (!strchr (env[i], '=') || env[i][0] == '=')
      return bad (r, "env[%zu]: \"%s\" is not KEY=VALUE", i + 1, env[i]);
  if (!env)
    env = nc_plan_alloc (p, sizeof *env);
  p->envp = (char **) env;

  if (get_str (r, idx, "plan", "path", 0, &p->path_search, NULL) < 0
      || get_str (r, idx, "plan", "cwd", 0, &p->cwd, NULL) < 0
      || get_str (r, idx, "plan", "hostname", 0, &p->hostname, NULL) < 0
      || get_str (r, idx, "plan", "uid_map", 0, &p->uid_map, NULL) < 0
      || get_str (r, idx, "plan", "gid_map", 0, &p->gid_map, NULL) < 0
      || get_bool (r, idx, "plan", "setgroups_deny", &p->setgroups_deny) < 0
      || get_str (r, idx, "plan", "staging", 0, &p->staging, NULL) < 0
      || get_str (r, idx, "plan", "root_options", 0, &p->root_opts, NULL) < 0
      || get_bool (r, idx, "plan", "root_readonly", &p->root_readonly) < 0
      || get_bool (r, idx, "plan", "root_noexec", &p->root_noexec) < 0
      || get_bool (r, idx, "plan", "memfd_noexec", &p->memfd_noexec) < 0
      || get_bool (r, idx, "plan", "chroot_fallback", &p->chroot_fallback) < 0
      || get_bool (r, idx, "plan", "loopback", &p->net_loopback) < 0
      || get_bool (r, idx, "plan", "bridged", &p->net_bridged) < 0
      || get_bool (r, idx, "plan", "degraded", &p->degraded) < 0
      || get_bool (r, idx, "plan", "init", &p->mini_init) < 0
      || get_bool (r, idx, "plan", "audit_mounts", &p->audit_mounts) < 0
      || get_bool (r, idx, "plan", "pause_after_root", &p->pause_after_root) < 0)
    return -1;
  if (strchr (p->argv[0], '/'))
    p->path_search = NULL;
  if (p->cwd && check_abs (r, "cwd", p->cwd) < 0)
    return -1;
  if (!p->staging)
    p->staging = "/tmp";
  else if (check_abs (r, "staging", p->staging) < 0)
    return -1;
  if (!p->root_opts)
    p->root_opts = "mode=0755";
  if (p->hostname && (strlen (p->hostname) == 0 || strlen (p->hostname) > 64))
    return bad (r, "hostname: must be 1 to 64 bytes");

  const char **ns;
  if (get_strv (r, idx, "plan", "namespaces", 0, &ns, &n) < 0)
    return -1;
  p->clone_flags = CLONE_NEWNS; /* the mount namespace is not optional */
  for (size_t i = 0; i < n; i++)
    {
      unsigned f;
      if (lookup (ns_names, ns[i], &f) < 0)
        return bad (r, "namespaces[%zu]: unknown namespace \"%s\"", i + 1, ns[i]);
      p->clone_flags |= f;
    }
  lua_Integer join_pid = 0, join_start = -1;
  if (get_int (r, idx, "plan", "join_pid", 0, 1, 0x7fffffff, &join_pid) < 0
      || get_int (r, idx, "plan", "join_start", 0, 0, LUA_MAXINTEGER, &join_start) < 0)
    return -1;
  if (join_pid)
    {
      /* exec into a running container: the namespaces listed are joined */
      field (r, idx, "mounts");
      int has_mounts = !lua_isnil (L, -1);
      lua_pop (L, 1);
      if (has_mounts || p->uid_map || p->hostname || p->net_loopback)
        return bad (r, "join_pid: excludes mounts, uid_map, hostname and loopback");
      p->join_flags = p->clone_flags;
      p->clone_flags = 0;
      p->join_pidfd = (int) syscall (SYS_pidfd_open, (pid_t) join_pid, 0);
      if (p->join_pidfd < 0)
        return bad (r, "join_pid %lld: %s", (long long) join_pid, strerror (errno));
      /* the pidfd pins the process: check it is still the one meant */
      if (join_start >= 0 && nc_l_proc_start ((pid_t) join_pid) != join_start)
        return bad (r, "join_pid %lld: the process has exited", (long long) join_pid);
    }
  const char *cgroup = NULL;
  if (get_str (r, idx, "plan", "cgroup", 0, &cgroup, NULL) < 0)
    return -1;
  if (cgroup)
    {
      /* a new container's cgroup, or (join_pid) the running one's that
       * exec puts its process in; a directory of a cgroup2 mount, never
       * reached through a symlink at its end */
      struct statfs sf;
      if (check_abs (r, "cgroup", cgroup) < 0)
        return -1;
      p->cgroup_fd = open (cgroup, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (p->cgroup_fd < 0)
        return bad (r, "cgroup %s: %s", cgroup, strerror (errno));
      if (fstatfs (p->cgroup_fd, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
        return bad (r, "cgroup %s: not a cgroup2 directory", cgroup);
    }
  if ((p->uid_map || p->gid_map) && !(p->clone_flags & CLONE_NEWUSER))
    return bad (r, "uid_map/gid_map given without a user namespace");
  if ((p->clone_flags & CLONE_NEWUSER) && !(p->uid_map && p->gid_map))
    return bad (r, "a user namespace needs uid_map and gid_map");
  if (p->hostname && !(p->clone_flags & CLONE_NEWUTS))
    return bad (r, "hostname: needs the uts namespace");
  if (p->net_loopback && !(p->clone_flags & CLONE_NEWNET))
    return bad (r, "loopback: needs the net namespace");
  if (p->net_bridged && !(p->clone_flags & CLONE_NEWNET))
    return bad (r, "bridged: needs the net namespace");

  p->last_cap = (unsigned) nc_l_last_cap ();
  int t = field (r, idx, "caps");
  int rc = t == LUA_TTABLE ? read_caps (r, lua_gettop (L))
           : t == LUA_TNIL ? 0
                           : bad (r, "caps: expected a table");
  lua_pop (L, 1);
  if (rc < 0)
    return -1;

  t = field (r, idx, "user");
  rc = t == LUA_TTABLE ? read_user (r, lua_gettop (L))
       : t == LUA_TNIL ? 0
                       : bad (r, "user: expected a table");
  lua_pop (L, 1);
  if (rc < 0 || read_rlimits (r, idx) < 0 || read_mounts (r, idx) < 0)
    return -1;

  t = field (r, idx, "seccomp");
  if (t == LUA_TSTRING)
    {
      struct nc_err err = { 0 };
      rc = nc_seccomp_use_builtin (p, lua_tostring (L, -1), &err) < 0 ? bad (r, "seccomp: %s", err.detail) : 0;
      if (rc == 0)
        p->seccomp_builtin = nc_plan_strdup (p, lua_tostring (L, -1));
    }
  else
    rc = t == LUA_TTABLE ? read_seccomp (r, lua_gettop (L))
         : t == LUA_TNIL ? 0
                         : bad (r, "seccomp: expected a profile table or a built-in profile's name");
  lua_pop (L, 1);
  if (rc < 0)
    return -1;
  if (get_bool (r, idx, "plan", "seccomp_trace", &p->seccomp_trace) < 0)
    return -1;
  if (p->seccomp_trace)
    {
      /* one instruction: ask the supervisor, for every call; it judges
       * each by the profile (trace.c) */
      if (!p->bpf)
        return bad (r, "seccomp_trace: needs the seccomp profile the calls are judged by");
      p->trace_judge = p->bpf;
      p->trace_judge_len = p->bpf_len;
      p->bpf = nc_plan_alloc (p, sizeof (struct sock_filter));
      p->bpf[0] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF);
      p->bpf_len = 1;
    }
  bool log = false;
  if (get_bool (r, idx, "plan", "seccomp_log", &log) < 0)
    return -1;
  if (log && !p->bpf)
    return bad (r, "seccomp_log: needs a seccomp profile");
  if (log)
    p->seccomp_flags |= SECCOMP_FILTER_FLAG_LOG;
  t = field (r, idx, "landlock");
  rc = t == LUA_TTABLE ? read_landlock (r, lua_gettop (L))
       : t == LUA_TNIL ? 0
                       : bad (r, "landlock: expected a table");
  lua_pop (L, 1);
  return rc;
}

int nc_l_plan_compile (lua_State *L)
{
  luaL_checktype (L, 1, LUA_TTABLE);
  /* The userdata exists before the plan, so __gc frees the plan whatever
   * happens below. */
  struct nc_plan **ud = lua_newuserdatauv (L, sizeof *ud, 0);
  *ud = NULL;
  luaL_setmetatable (L, NC_MT_PLAN);
  struct rd r = { .L = L };
  r.plan = *ud = nc_plan_new ();
  if (!r.plan)
    return luaL_error (L, "out of memory");
  if (read_plan (&r, 1) < 0)
    {
      nc_plan_free (*ud);
      *ud = NULL;
      lua_pushnil (L);
      lua_pushfstring (L, "%s%s", r.host_error ? "" : "plan: ", r.msg);
      lua_pushliteral (L, "EPLAN");
      return 3;
    }
  return 1;
}

/* core.seccomp_export(profile) -> bpf bytes: build time only, to
 * precompile the built-in profiles (tools/embed.lua seccomp). */
int nc_l_seccomp_export (lua_State *L)
{
  luaL_checktype (L, 1, LUA_TTABLE);
  struct nc_plan **ud = lua_newuserdatauv (L, sizeof *ud, 0);
  *ud = NULL;
  luaL_setmetatable (L, NC_MT_PLAN);
  struct rd r = { .L = L };
  r.plan = *ud = nc_plan_new ();
  if (!r.plan)
    return luaL_error (L, "out of memory");
  struct nc_sc_spec spec;
  struct nc_err err = { 0 };
  if (parse_seccomp (&r, 1, &spec) < 0)
    return luaL_error (L, "seccomp: %s", r.msg);
  /* opts.merge = false: libseccomp's program alone (see seccomp.c) */
  if (lua_istable (L, 2) && lua_getfield (L, 2, "merge") != LUA_TNIL)
    spec.no_merge = !lua_toboolean (L, -1);
  if (spec.log || spec.spec_allow)
    return luaL_error (L, "seccomp: built-in profiles take no flags");
  if (nc_seccomp_compile (r.plan, &spec, &err) < 0)
    return luaL_error (L, "seccomp: %s", err.detail);
  lua_pushlstring (L, (const char *) r.plan->bpf, r.plan->bpf_len * sizeof (struct sock_filter));
  return 1;
}

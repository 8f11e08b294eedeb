/* plan.c - plan memory (one arena per plan) and the context tree scan.
 *
 * Runs in: parent only.  Everything here may allocate; the child reads
 * the result and never frees it (it ends in execve or _exit).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "internal.h"

struct chunk {
  struct chunk *next;
  size_t used, size;
  max_align_t data[];
};

struct nc_arena {
  struct chunk *head;
};

struct nc_plan *nc_plan_new (void)
{
  struct nc_plan *p = calloc (1, sizeof *p);
  if (!p)
    return NULL;
  p->arena = calloc (1, sizeof *p->arena);
  if (!p->arena)
    {
      free (p);
      return NULL;
    }
  p->landlock_fd = -1;
  p->join_pidfd = -1;
  p->cgroup_fd = -1;
  return p;
}

void nc_plan_free (struct nc_plan *p)
{
  if (!p)
    return;
  if (p->landlock_fd >= 0)
    close (p->landlock_fd);
  if (p->join_pidfd >= 0)
    close (p->join_pidfd);
  if (p->cgroup_fd >= 0)
    close (p->cgroup_fd);
  for (size_t i = 0; i < p->nmounts; i++)
    if ((p->mounts[i].kind == NC_MNT_COPY || (p->mounts[i].flags & NC_MNT_F_FD))
        && p->mounts[i].src_fd >= 0)
      close (p->mounts[i].src_fd);
  /* secrets leave no copy behind in our memory */
  for (size_t i = 0; i < p->nmounts; i++)
    if ((p->mounts[i].flags & NC_MNT_F_SECRET) && p->mounts[i].data)
      explicit_bzero ((char *) p->mounts[i].data, p->mounts[i].data_len);
  if (p->arena)
    for (struct chunk *c = p->arena->head, *n; c; c = n)
      {
        n = c->next;
        free (c);
      }
  free (p->arena);
  free (p);
}

/* n elements of size bytes, zeroed; NULL when n * size overflows. */
void *nc_plan_calloc (struct nc_plan *p, size_t n, size_t size)
{
  size_t total;
  if (__builtin_mul_overflow (n, size, &total))
    return NULL;
  return nc_plan_alloc (p, total);
}

void *nc_plan_alloc (struct nc_plan *p, size_t size)
{
  size = (size + sizeof (max_align_t) - 1) & ~(sizeof (max_align_t) - 1);
  struct chunk *c = p->arena->head;
  if (!c || c->size - c->used < size)
    {
      size_t csize = size > 16384 ? size : 16384;
      c = malloc (sizeof *c + csize);
      if (!c)
        return NULL;
      c->size = csize;
      c->used = 0;
      c->next = p->arena->head;
      p->arena->head = c;
    }
  void *r = (char *) c->data + c->used;
  c->used += size;
  memset (r, 0, size);
  return r;
}

char *nc_plan_memdup (struct nc_plan *p, const void *src, size_t n)
{
  char *r = nc_plan_alloc (p, n + 1);
  if (r)
    {
      memcpy (r, src, n);
      r[n] = '\0';
    }
  return r;
}

char *nc_plan_strdup (struct nc_plan *p, const char *s)
{
  return s ? nc_plan_memdup (p, s, strlen (s)) : NULL;
}

static int in_list (const char *name, const char **list, size_t n, int icase)
{
  for (size_t i = 0; i < n; i++)
    if (icase ? strcasecmp (name, list[i]) == 0 : strcmp (name, list[i]) == 0)
      return 1;
  return 0;
}

static int excluded (const struct nc_exclude *ex, const char *name)
{
  if (!ex)
    return 0;
  size_t len = strlen (name);
  if (in_list (name, ex->names, ex->nnames, 0) || in_list (name, ex->inames, ex->ninames, 1))
    return 1;
  for (size_t i = 0; i < ex->nprefixes; i++)
    if (strncmp (name, ex->prefixes[i], strlen (ex->prefixes[i])) == 0)
      return 1;
  for (size_t i = 0; i < ex->nsuffixes; i++)
    {
      size_t sl = strlen (ex->suffixes[i]);
      if (len >= sl && strcmp (name + len - sl, ex->suffixes[i]) == 0)
        return 1;
    }
  for (size_t i = 0; i < ex->nicontains; i++)
    if (strcasestr (name, ex->icontains[i]))
      return 1;
  return 0;
}

/* Does a symlink at rel (relative to the tree root) pointing to target
 * stay inside the tree?  Lexical check: absolute targets never do. */
static int link_stays_inside (const char *rel, const char *target)
{
  if (target[0] == '/')
    return 0;
  int depth = 0;
  for (const char *s = rel; *s; s++)
    if (*s == '/')
      depth++;
  const char *s = target;
  while (*s)
    {
      const char *e = strchr (s, '/');
      size_t n = e ? (size_t) (e - s) : strlen (s);
      if (n == 2 && s[0] == '.' && s[1] == '.')
        {
          if (--depth < 0)
            return 0;
        }
      else if (n > 0 && !(n == 1 && s[0] == '.'))
        depth++;
      s += n;
      if (*s == '/')
        s++;
    }
  return 1;
}

struct scan {
  struct nc_plan *plan;
  const struct nc_exclude *ex;
  unsigned max_depth;
  struct nc_copy *v;
  size_t n, cap;
  size_t skipped_links;
  struct nc_err *err;
};

static int push (struct scan *s, struct nc_copy e)
{
  if (s->n == s->cap)
    {
      size_t cap = s->cap ? s->cap * 2 : 64;
      struct nc_copy *v = realloc (s->v, cap * sizeof *v);
      if (!v)
        return nc_err_set (s->err, NC_STAGE_CONTEXT, ENOMEM, "scan");
      s->v = v;
      s->cap = cap;
    }
  s->v[s->n++] = e;
  return 0;
}

static int scan_dir (struct scan *s, int parent_fd, const char *rel, unsigned depth)
{
  if (depth > s->max_depth)
    return nc_err_set (s->err, NC_STAGE_CONTEXT, 0, "deeper than %u levels at %s",
                       s->max_depth, rel[0] ? rel : ".");
  int fd = openat (parent_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return nc_err_set (s->err, NC_STAGE_CONTEXT, errno, "%s", rel[0] ? rel : ".");
  DIR *d = fdopendir (fd);
  if (!d)
    {
      close (fd);
      return nc_err_set (s->err, NC_STAGE_CONTEXT, errno, "%s", rel);
    }
  int ret = 0;
  struct dirent *de;
  while ((errno = 0, de = readdir (d)))
    {
      const char *name = de->d_name;
      if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0 || excluded (s->ex, name))
        continue;
      char path[4096];
      int n = snprintf (path, sizeof path, "%s%s%s", rel, rel[0] ? "/" : "", name);
      if (n < 0 || (size_t) n >= sizeof path)
        {
          ret = nc_err_set (s->err, NC_STAGE_CONTEXT, ENAMETOOLONG, "%s/%s", rel, name);
          break;
        }
      struct stat st;
      if (fstatat (dirfd (d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          ret = nc_err_set (s->err, NC_STAGE_CONTEXT, errno, "%s", path);
          break;
        }
      struct nc_copy e = { 0 };
      e.mode = st.st_mode & 07777;
      if (S_ISDIR (st.st_mode))
        {
          e.type = NC_COPY_DIR;
          e.path = nc_plan_strdup (s->plan, path);
          if (!e.path || (ret = push (s, e)) < 0)
            {
              ret = ret < 0 ? ret : nc_err_set (s->err, NC_STAGE_CONTEXT, ENOMEM, "scan");
              break;
            }
          int sub = openat (dirfd (d), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (sub < 0)
            {
              ret = nc_err_set (s->err, NC_STAGE_CONTEXT, errno, "%s", path);
              break;
            }
          ret = scan_dir (s, sub, e.path, depth + 1);
          close (sub);
          if (ret < 0)
            break;
        }
      else if (S_ISREG (st.st_mode))
        {
          e.type = NC_COPY_REG;
          e.size = (uint64_t) st.st_size;
          /* what it holds: the copy keeps its holes (child.c) */
          e.data = (uint64_t) st.st_blocks * 512 < e.size ? (uint64_t) st.st_blocks * 512 : e.size;
          e.mode &= 0777; /* no setuid/setgid bits into the sandbox */
          e.path = nc_plan_strdup (s->plan, path);
          if (!e.path || (ret = push (s, e)) < 0)
            {
              ret = ret < 0 ? ret : nc_err_set (s->err, NC_STAGE_CONTEXT, ENOMEM, "scan");
              break;
            }
        }
      else if (S_ISLNK (st.st_mode))
        {
          char target[4096];
          ssize_t l = readlinkat (dirfd (d), name, target, sizeof target - 1);
          if (l < 0)
            {
              ret = nc_err_set (s->err, NC_STAGE_CONTEXT, errno, "%s", path);
              break;
            }
          target[l] = '\0';
          if (!link_stays_inside (path, target))
            {
              s->skipped_links++;
              continue;
            }
          e.type = NC_COPY_LNK;
          e.path = nc_plan_strdup (s->plan, path);
          e.link = nc_plan_strdup (s->plan, target);
          if (!e.path || !e.link || (ret = push (s, e)) < 0)
            {
              ret = ret < 0 ? ret : nc_err_set (s->err, NC_STAGE_CONTEXT, ENOMEM, "scan");
              break;
            }
        }
      /* sockets, fifos and device nodes are not copied */
    }
  if (ret == 0 && errno != 0)
    ret = nc_err_set (s->err, NC_STAGE_CONTEXT, errno, "%s", rel[0] ? rel : ".");
  closedir (d);
  return ret;
}

int nc_plan_scan_tree (struct nc_plan *plan, int src_fd, const struct nc_exclude *ex,
                       unsigned max_depth, size_t *first, size_t *count,
                       size_t *skipped_links, struct nc_err *err)
{
  struct scan s = { .plan = plan, .ex = ex, .max_depth = max_depth, .err = err };
  int ret = scan_dir (&s, src_fd, "", 0);
  if (ret < 0)
    {
      free (s.v);
      return ret;
    }
  /* Append to plan->copies (arena-owned, so grow by copying). */
  size_t total = plan->ncopies + s.n;
  struct nc_copy *v = nc_plan_alloc (plan, (total ? total : 1) * sizeof *v);
  if (!v)
    {
      free (s.v);
      return nc_err_set (err, NC_STAGE_CONTEXT, ENOMEM, "scan");
    }
  if (plan->ncopies)
    memcpy (v, plan->copies, plan->ncopies * sizeof *v);
  if (s.n)
    memcpy (v + plan->ncopies, s.v, s.n * sizeof *v);
  *first = plan->ncopies;
  *count = s.n;
  if (skipped_links)
    *skipped_links = s.skipped_links;
  plan->copies = v;
  plan->ncopies = total;
  free (s.v);
  return 0;
}

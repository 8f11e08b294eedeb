/* child.c - the post-fork sequence, from clone3 to execve.
 *
 * Runs in: the child only.  Reads a frozen struct nc_plan; allocates
 * nothing, runs no Lua, uses no stdio: only system calls and the few libc
 * string functions POSIX lists as async-signal-safe, because the host that
 * spawned us may be a multi-threaded program that embeds the interpreter.
 * It reads no memory of the Lua state's either: the CLI's Lua heap is
 * not mapped in the child (MADV_DONTFORK, main.c); what it needs is in
 * the plan (C memory), on the stack or in static storage.
 *
 * Order (see README "Setup order"):
 *   wait GO -> root in userns -> hostname -> loopback (or join the network
 *   namespace made ahead, netns.c) -> mounts on a fresh
 *   tmpfs -> pivot_root -> setsid -> rlimits -> capability bounding drop ->
 *   identity -> capability sets -> no_new_privs -> workdir -> Landlock ->
 *   workload cloned (it applies Landlock, waits at the gate, applies
 *   seccomp, last, so the filter needs to allow nothing of our setup,
 *   and execs once PID 1 is ready) -> PID 1 execs nucleus-init.
 *
 * The workload's standard streams are never the caller's files: pipes the
 * supervisor relays (or the container's own terminal), and the container's
 * own /dev/null for stdin.  An inherited fd would let a workload that owns
 * the file (container root is host root in agent mode) fchmod, fchown or
 * truncate a host inode through it.
 *
 * Any failure writes one struct nc_sync_msg (NC_MSG_ERROR) to the sync
 * socket and _exit()s; the parent formats it.  Success is EOF on that
 * socket, which is close-on-exec.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <termios.h>

#include "internal.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* Prefix under which the host's root is reachable during mount setup. */
#define OLDROOT "/oldroot"

struct child {
  const struct nc_plan *plan;
  const struct nc_child_io *io;
  int sync_fd;
  const char *host_prefix; /* OLDROOT, or "" with the chroot fallback */
  int stdio[3];            /* for the workload's 0, 1, 2 (-1: none yet) */
  int tty_slave;           /* the workload's terminal, or -1 */
  int ready_fd;            /* nucleus-init's "ready" pipe (workload side), or -1 */
  int root_fd;             /* the new root while it is built */
  int stage_fd;            /* the staging tmpfs's root, or -1 */
  int layer_fd;            /* "layer" in it: overlay layers (NC_MNT_F_LAYER), or -1 */
  /* the last mount op's parent directory (parent_of): /etc/passwd after
   * /etc/hosts needs no lookup of etc */
  struct {
    const char *path;
    size_t len;
    int fd;
    int root; /* the tree it is in: root_fd or layer_fd */
  } parent;
};

NC_CHILD static void copy_detail (char *dst, const char *a, const char *b)
{
  size_t n = 0;
  const char *parts[2] = { a, b };
  for (int i = 0; i < 2; i++)
    for (const char *s = parts[i]; s && *s && n < NC_ERR_DETAIL - 1; s++)
      dst[n++] = *s;
  dst[n] = '\0';
}

NC_CHILD static void report2 (const struct child *c, uint32_t type, unsigned stage, int code,
                              const char *a, const char *b)
{
  struct nc_sync_msg m;
  memset (&m, 0, sizeof m);
  m.type = type;
  m.err.stage = (uint16_t) stage;
  m.err.code = code;
  copy_detail (m.err.detail, a, b);
  /* write(), not send(): a custom seccomp profile may deny sendto. */
  ssize_t r;
  do
    r = write (c->sync_fd, &m, sizeof m);
  while (r < 0 && errno == EINTR);
}

NC_CHILD _Noreturn static void fail2 (const struct child *c, unsigned stage, int code,
                                      const char *a, const char *b)
{
  report2 (c, NC_MSG_ERROR, stage, code, a, b);
  _exit (NC_EXIT_SETUP);
}

NC_CHILD _Noreturn static void fail (const struct child *c, unsigned stage, const char *detail)
{
  fail2 (c, stage, errno, detail, NULL);
}

/* Seccomp and Landlock failures are warnings with --allow-degraded-security. */
NC_CHILD static void fail_or_warn (const struct child *c, unsigned stage, const char *detail)
{
  if (!c->plan->degraded)
    fail (c, stage, detail);
  report2 (c, NC_MSG_WARN, stage, errno, detail, NULL);
}

/* dst = the NULL-terminated parts, one after the other; truncation is an
 * error (ENAMETOOLONG). */
NC_CHILD static int concat (char *dst, size_t size, const char *const parts[])
{
  size_t n = 0;
  for (size_t i = 0; parts[i]; i++)
    {
      size_t l = strlen (parts[i]);
      if (n + l + 1 > size)
        {
          errno = ENAMETOOLONG;
          return -1;
        }
      memcpy (dst + n, parts[i], l);
      n += l;
    }
  dst[n] = '\0';
  return 0;
}

/* dst = a + b, truncation is an error (ENAMETOOLONG). */
NC_CHILD static int join (char *dst, size_t size, const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b);
  if (la + lb + 1 > size)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (dst, a, la);
  memcpy (dst + la, b, lb + 1);
  return 0;
}

/* openat2 beneath dirfd, no symlink followed anywhere in path, the last
 * component included (ELOOP), no magic link, no "..": nothing a tree of
 * the container's (a rw volume) holds can lead a target out of the new
 * root to the host's, which is reachable at /oldroot while it is built
 * (runc's CVE-2021-30465). */
NC_CHILD static int open_beneath (int dirfd, const char *path, int flags, mode_t mode)
{
  struct nc_open_how how = { 0 };
  how.flags = (uint64_t) (flags | O_CLOEXEC);
  how.mode = mode;
  how.resolve = NC_RESOLVE_BENEATH | NC_RESOLVE_NO_SYMLINKS | NC_RESOLVE_NO_MAGICLINKS;
  int fd;
  do
    fd = (int) syscall (SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* The directory rel[0..len) of the tree root (the new root or the layer;
 * relative, normalized; "" is the root itself) as an O_PATH fd, each
 * missing component made with mode 0755 (the last with last_mode): one
 * openat2 when it exists. */
NC_CHILD static int walk_dirs (int root, const char *rel, size_t len, mode_t last_mode)
{
  char buf[4096];
  if (len >= sizeof buf)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  memcpy (buf, rel, len);
  buf[len] = '\0';
  int fd = open_beneath (root, len ? buf : ".", O_PATH | O_DIRECTORY, 0);
  if (fd >= 0 || errno != ENOENT)
    return fd;
  int cur = root;
  for (size_t i = 0; i < len;)
    {
      size_t j = i;
      while (j < len && buf[j] != '/')
        j++;
      buf[j] = '\0';
      int next = open_beneath (cur, buf + i, O_PATH | O_DIRECTORY, 0);
      if (next < 0 && errno == ENOENT)
        {
          if (mkdirat (cur, buf + i, j == len ? last_mode : 0755) < 0 && errno != EEXIST)
            next = -1;
          else
            next = open_beneath (cur, buf + i, O_PATH | O_DIRECTORY, 0);
        }
      if (cur != root)
        {
          int e = errno;
          close (cur);
          errno = e;
        }
      if (next < 0)
        return -1;
      cur = next;
      i = j + 1;
    }
  return cur;
}

/* The parent directory of t (relative to root: the new root or the
 * layer) as an fd owned by c, and t's last component in *base.  The op
 * before usually had the same parent: its fd is kept (no op mounts over
 * its own parent, so it still names the directory the path leads to). */
NC_CHILD static int parent_in (struct child *c, int root, const char *t, const char **base)
{
  size_t n = 0;
  for (size_t i = 0; t[i]; i++)
    if (t[i] == '/')
      n = i;
  *base = n ? t + n + 1 : t;
  if (c->parent.fd >= 0 && c->parent.root == root && c->parent.len == n
      && memcmp (c->parent.path, t, n) == 0)
    return c->parent.fd;
  if (c->parent.fd >= 0)
    close (c->parent.fd);
  c->parent.fd = walk_dirs (root, t, n, 0755);
  c->parent.root = root;
  c->parent.path = t;
  c->parent.len = n;
  return c->parent.fd;
}

NC_CHILD static int parent_of (struct child *c, const char *t, const char **base)
{
  return parent_in (c, c->root_fd, t, base);
}

/* Attach the detached mount mfd on base in pfd (made beforehand), by fd:
 * no path is looked up again between the check and the mount. */
NC_CHILD static void attach (const struct child *c, int mfd, int pfd, const char *base, int dir,
                             const char *target)
{
  int tfd = open_beneath (pfd, base, O_PATH | (dir ? O_DIRECTORY : 0), 0);
  if (tfd < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "mount point ", target);
  if (syscall (SYS_move_mount, mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
      < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "mount on ", target);
  close (tfd);
  close (mfd);
}

NC_CHILD static void do_bind (struct child *c, const struct nc_mount *m)
{
  const char *base;
  unsigned rec = (m->flags & NC_MNT_F_RECURSIVE) ? AT_RECURSIVE : 0;
  int tree;
  if (m->flags & NC_MNT_F_FD)
    {
      /* made by the parent from the tree it checked, its flags set
       * (nc_spawn): nothing here looks a host path up again */
      size_t i = (size_t) (m - c->plan->mounts);
      tree = c->io->trees ? c->io->trees[i] : -1;
      if (tree < 0)
        fail2 (c, NC_STAGE_MOUNTS, EBADF, "bind ", m->source);
    }
  else if (m->flags & NC_MNT_F_INNER)
    /* a path of the container itself (/proc/sys over itself, say) */
    tree = (int) syscall (SYS_open_tree, c->root_fd, m->source + 1,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW | rec);
  else
    {
      char src[4096];
      if (join (src, sizeof src, c->host_prefix, m->source) < 0)
        fail (c, NC_STAGE_MOUNTS, m->source);
      tree = (int) syscall (SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
    }
  if (tree < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "bind ", m->source);
  /* the flags on the detached tree, every submount too (a plain
   * MS_REMOUNT would leave submounts of a recursive bind writable) */
  struct nc_mount_attr attr = { 0 };
  attr.attr_set = nc_mount_attrs (m->flags);
  if (attr.attr_set && !(m->flags & NC_MNT_F_FD)
      && syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "mount_setattr ", m->target);

  int pfd = parent_of (c, m->target + 1, &base);
  if (pfd < 0)
    fail (c, NC_STAGE_MOUNTS, m->target);
  int file = (m->flags & NC_MNT_F_FILE) != 0;
  if (!(m->flags & NC_MNT_F_INNER))
    {
      if (file)
        {
          int fd = openat (pfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
          if (fd < 0)
            fail (c, NC_STAGE_MOUNTS, m->target);
          close (fd);
        }
      else if (mkdirat (pfd, base, 0755) < 0 && errno != EEXIST)
        fail (c, NC_STAGE_MOUNTS, m->target);
    }
  attach (c, tree, pfd, base, !file, m->target);
}

/* A new mount of file system fs (tmpfs, proc, ...) with options data,
 * "key=value,flag,...", and key=val if key, made detached and attached by
 * fd. */
NC_CHILD static void do_fs (struct child *c, const struct nc_mount *m, const char *fs,
                            const char *key, const char *val)
{
  int fsfd = (int) syscall (SYS_fsopen, fs, FSOPEN_CLOEXEC);
  if (fsfd < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "fsopen ", fs);
  if (syscall (SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "source", fs, 0) < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "options of ", m->target);
  if (key && syscall (SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, key, val, 0) < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "options of ", m->target);
  const char *d = m->data ? m->data : "";
  while (*d)
    {
      char opt[256];
      size_t n = 0;
      while (d[n] && d[n] != ',')
        n++;
      if (n >= sizeof opt)
        fail2 (c, NC_STAGE_MOUNTS, E2BIG, "options of ", m->target);
      memcpy (opt, d, n);
      opt[n] = '\0';
      d += n + (d[n] == ',');
      if (!n)
        continue;
      char *eq = strchr (opt, '=');
      if (eq)
        *eq = '\0';
      if (syscall (SYS_fsconfig, fsfd, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, opt,
                   eq ? eq + 1 : NULL, 0)
          < 0)
        fail2 (c, NC_STAGE_MOUNTS, errno, "options of ", m->target);
    }
  if (syscall (SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "mount ", m->target);
  int mfd = (int) syscall (SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, nc_mount_attrs (m->flags));
  if (mfd < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "mount ", m->target);
  close (fsfd);
  const char *base;
  int pfd = parent_of (c, m->target + 1, &base);
  if (pfd < 0 || (mkdirat (pfd, base, 0755) < 0 && errno != EEXIST))
    fail (c, NC_STAGE_MOUNTS, m->target);
  attach (c, mfd, pfd, base, 1, m->target);
}

/* The layer tree of the staging tmpfs, made at its first use. */
NC_CHILD static int layer_root (struct child *c)
{
  if (c->layer_fd >= 0)
    return c->layer_fd;
  if (mkdirat (c->stage_fd, "layer", 0755) < 0 && errno != EEXIST)
    fail (c, NC_STAGE_MOUNTS, "overlay layer");
  c->layer_fd = open_beneath (c->stage_fd, "layer", O_PATH | O_DIRECTORY, 0);
  if (c->layer_fd < 0)
    fail (c, NC_STAGE_MOUNTS, "overlay layer");
  return c->layer_fd;
}

/* A read-only overlay at target: what the layer holds there on top of
 * the host's source.  The layer lives on the staging tmpfs, "/" until the
 * last pivot (the build directory with the chroot fallback); the overlay
 * keeps its own reference to both once the staging tree is gone. */
NC_CHILD static void do_overlay (struct child *c, const struct nc_mount *m)
{
  char lower[8192];
  const char *stage = c->host_prefix[0] ? "" : c->plan->staging;
  const char *const parts[]
      = { "lowerdir=", stage, "/layer", m->target, ":", c->host_prefix, m->source, NULL };
  if (concat (lower, sizeof lower, parts) < 0)
    fail (c, NC_STAGE_MOUNTS, m->target);
  do_fs (c, m, "overlay", "lowerdir", lower + 9);
}

NC_CHILD static void write_all (const struct child *c, int fd, const char *p, size_t n,
                                const char *what)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        fail (c, NC_STAGE_MOUNTS, what);
      p += w;
      n -= (size_t) w;
    }
}

/* One regular file of the context: opened without blocking (a file
 * swapped for a FIFO since the scan would hang the open for good) and
 * checked to be a regular file still; its data copied, its holes kept (a
 * sparse file is not expanded into the container's memory). */
NC_CHILD static void copy_file (const struct child *c, int src_dir, int dfd, const struct nc_copy *e)
{
  int s = open_beneath (src_dir, e->path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
  if (s < 0)
    fail2 (c, NC_STAGE_CONTEXT, errno, "open source ", e->path);
  struct stat st;
  if (fstat (s, &st) < 0)
    fail2 (c, NC_STAGE_CONTEXT, errno, "stat source ", e->path);
  if (!S_ISREG (st.st_mode))
    fail2 (c, NC_STAGE_CONTEXT, EINVAL, "no longer a regular file: ", e->path);
  int d = open_beneath (dfd, e->path, O_WRONLY | O_CREAT | O_EXCL, e->mode);
  if (d < 0)
    fail (c, NC_STAGE_CONTEXT, e->path);
  off_t end = st.st_size, pos = 0;
  while (pos < end)
    {
      off_t data = lseek (s, pos, SEEK_DATA);
      if (data < 0 && errno == ENXIO)
        break; /* a hole to the end */
      off_t hole = data < 0 ? end : lseek (s, data, SEEK_HOLE);
      if (data < 0)
        data = pos; /* no SEEK_DATA here: all of it */
      if (hole < 0 || hole > end)
        hole = end;
      if (lseek (d, data, SEEK_SET) < 0)
        fail2 (c, NC_STAGE_CONTEXT, errno, "copy ", e->path);
      off_t off = data;
      while (off < hole)
        {
          ssize_t n = sendfile (d, s, &off, (size_t) (hole - off));
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            fail2 (c, NC_STAGE_CONTEXT, errno, "copy ", e->path);
          if (n == 0)
            break; /* it shrank */
        }
      pos = hole;
    }
  if (ftruncate (d, end) < 0)
    fail2 (c, NC_STAGE_CONTEXT, errno, "copy ", e->path);
  close (s);
  close (d);
}

/* Copy the tree scanned at plan time.  Paths are opened beneath the source
 * and target directories with symlinks refused, so a tree changed since the
 * scan cannot redirect a copy outside either of them. */
NC_CHILD static void do_copy (const struct child *c, const struct nc_mount *m)
{
  const struct nc_plan *plan = c->plan;
  const char *t = m->target + 1;
  int dfd = walk_dirs (c->root_fd, t, strlen (t), m->mode ? m->mode : 0755);
  if (dfd < 0)
    fail (c, NC_STAGE_CONTEXT, m->target);
  int chown_needed = plan->uid != 0 || plan->gid != 0;
  if (chown_needed && fchownat (dfd, "", plan->uid, plan->gid, AT_EMPTY_PATH) < 0)
    fail (c, NC_STAGE_CONTEXT, m->target);

  for (size_t i = m->copy_first; i < m->copy_first + m->copy_count; i++)
    {
      const struct nc_copy *e = &plan->copies[i];
      switch (e->type)
        {
        case NC_COPY_DIR:
          if (mkdirat (dfd, e->path, e->mode) < 0 && errno != EEXIST)
            fail (c, NC_STAGE_CONTEXT, e->path);
          break;
        case NC_COPY_LNK:
          if (symlinkat (e->link, dfd, e->path) < 0)
            fail (c, NC_STAGE_CONTEXT, e->path);
          break;
        case NC_COPY_REG:
          copy_file (c, m->src_fd, dfd, e);
          break;
        default:
          break;
        }
      if (chown_needed
          && fchownat (dfd, e->path, plan->uid, plan->gid, AT_SYMLINK_NOFOLLOW) < 0)
        fail (c, NC_STAGE_CONTEXT, e->path);
    }
  if (dfd != c->root_fd)
    close (dfd);
}

NC_CHILD static void do_mount (struct child *c, const struct nc_mount *m)
{
  const char *t = m->target + 1; /* relative to the new root */
  const char *base;
  int pfd;
  /* umask is 0 here: what mkdir and open create has the mode asked for,
   * but for set-id bits, which only chmod sets */
  const mode_t plain = S_IRWXU | S_IRWXG | S_IRWXO | S_ISVTX;
  int root = (m->flags & NC_MNT_F_LAYER) ? layer_root (c) : c->root_fd;
  switch (m->kind)
    {
    case NC_MNT_DIR:
      {
        if ((pfd = parent_in (c, root, t, &base)) < 0)
          fail (c, NC_STAGE_MOUNTS, m->target);
        int made = mkdirat (pfd, base, m->mode) == 0;
        if (!made && errno != EEXIST)
          fail (c, NC_STAGE_MOUNTS, m->target);
        if (!made || (m->mode & ~plain) || (m->flags & NC_MNT_F_OWNED))
          {
            int fd = open_beneath (pfd, base, O_RDONLY | O_DIRECTORY, 0);
            if (fd < 0 || ((!made || (m->mode & ~plain)) && fchmod (fd, m->mode) < 0)
                || ((m->flags & NC_MNT_F_OWNED) && fchown (fd, c->plan->uid, c->plan->gid) < 0))
              fail (c, NC_STAGE_MOUNTS, m->target);
            close (fd);
          }
        break;
      }
    case NC_MNT_BIND:
      do_bind (c, m);
      break;
    case NC_MNT_TMPFS:
    case NC_MNT_PROC:
    case NC_MNT_DEVPTS:
    case NC_MNT_MQUEUE:
      {
        static const char *const fstype[] = {
          [NC_MNT_TMPFS] = "tmpfs",
          [NC_MNT_PROC] = "proc",
          [NC_MNT_DEVPTS] = "devpts",
          [NC_MNT_MQUEUE] = "mqueue",
        };
        do_fs (c, m, fstype[m->kind], NULL, NULL);
        break;
      }
    case NC_MNT_SYMLINK:
      if ((pfd = parent_in (c, root, t, &base)) < 0 || symlinkat (m->data, pfd, base) < 0)
        fail (c, NC_STAGE_MOUNTS, m->target);
      break;
    case NC_MNT_HIDE:
      /* an overlay whiteout (a 0:0 character device), which mknod
       * allows in a user namespace too */
      if ((pfd = parent_in (c, root, t, &base)) < 0 || mknodat (pfd, base, S_IFCHR, 0) < 0)
        fail (c, NC_STAGE_MOUNTS, m->target);
      break;
    case NC_MNT_OVERLAY:
      do_overlay (c, m);
      break;
    case NC_MNT_FILE:
      {
        if ((pfd = parent_in (c, root, t, &base)) < 0)
          fail (c, NC_STAGE_MOUNTS, m->target);
        int fd = openat (pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, m->mode);
        int made = fd >= 0;
        if (!made && errno == EEXIST)
          fd = open_beneath (pfd, base, O_WRONLY | O_TRUNC, 0);
        if (fd < 0)
          fail (c, NC_STAGE_MOUNTS, m->target);
        write_all (c, fd, m->data, m->data_len, m->target);
        if ((!made || (m->mode & ~plain)) && fchmod (fd, m->mode) < 0)
          fail (c, NC_STAGE_MOUNTS, m->target);
        if ((m->flags & NC_MNT_F_OWNED) && fchown (fd, c->plan->uid, c->plan->gid) < 0)
          fail (c, NC_STAGE_MOUNTS, m->target);
        close (fd);
        break;
      }
    case NC_MNT_COPY:
      do_copy (c, m);
      break;
    case NC_MNT_DEVICE:
      /* umask is 0 here: the mode is the host node's */
      if ((pfd = parent_of (c, t, &base)) < 0
          || mknodat (pfd, base, S_IFCHR | m->mode, m->rdev) < 0)
        fail (c, NC_STAGE_MOUNTS, m->target);
      break;
    default:
      errno = EINVAL;
      fail (c, NC_STAGE_MOUNTS, m->target);
    }
}

/* A bridged container's own network namespace, before any link reaches
 * it: its ports below 1024 are its workload's to bind (docker's default:
 * nothing of the host's lives there), and links that arrive later (eth0,
 * tap0) get no IPv6, which the bridge does not route and egress rules do
 * not cover (link-local addresses would reach the host's bridge).
 * /proc/sys/net is the caller's namespace's. */
NC_CHILD static void write_sysctl (const struct child *c, const char *path, const char *v, int optional)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && optional && errno == ENOENT)
    return; /* a kernel without IPv6 */
  if (fd < 0 || write (fd, v, 1) != 1)
    fail (c, NC_STAGE_NETWORK, path);
  close (fd);
}

NC_CHILD static void bridged_netns (const struct child *c)
{
  write_sysctl (c, "/proc/sys/net/ipv4/ip_unprivileged_port_start", "0", 0);
  write_sysctl (c, "/proc/sys/net/ipv6/conf/default/disable_ipv6", "1", 1);
}

NC_CHILD static void loopback_up (const struct child *c)
{
  int s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    fail (c, NC_STAGE_NETWORK, "socket");
  struct ifreq ifr;
  memset (&ifr, 0, sizeof ifr);
  memcpy (ifr.ifr_name, "lo", 3);
  if (ioctl (s, SIOCGIFFLAGS, &ifr) < 0)
    fail (c, NC_STAGE_NETWORK, "lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl (s, SIOCSIFFLAGS, &ifr) < 0)
    fail (c, NC_STAGE_NETWORK, "lo");
  close (s);
}

/* Does the comma-separated option list opts contain opt? */
NC_CHILD static int has_opt (const char *opts, size_t len, const char *opt)
{
  size_t ol = strlen (opt);
  for (size_t i = 0; i < len;)
    {
      size_t j = i;
      while (j < len && opts[j] != ',')
        j++;
      if (j - i == ol && memcmp (opts + i, opt, ol) == 0)
        return 1;
      i = j + 1;
    }
  return 0;
}

/* Mount audit (production): after pivot_root, every mount the plan made
 * must be in /proc/self/mountinfo with at least the flags it asked for,
 * and the root as well.  Anything else is fatal. */
NC_CHILD static void audit_mounts (const struct child *c)
{
  static char buf[1 << 16];
  const struct nc_plan *p = c->plan;
  int fd = open ("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail (c, NC_STAGE_MOUNTS, "mount audit: /proc/self/mountinfo");
  size_t len = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf + len, sizeof buf - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (size_t) n;
    }
  close (fd);
  if (len >= sizeof buf - 1)
    fail2 (c, NC_STAGE_MOUNTS, E2BIG, "mount audit: mount table too large", NULL);
  for (size_t i = 0; i <= p->nmounts; i++)
    {
      const struct nc_mount *m = i < p->nmounts ? &p->mounts[i] : NULL;
      const char *target = m ? m->target : "/";
      unsigned want = m ? m->flags : (p->root_readonly ? NC_MNT_F_RO : 0) | NC_MNT_F_NOSUID
                                          | NC_MNT_F_NODEV;
      if (m && (m->kind == NC_MNT_DIR || m->kind == NC_MNT_SYMLINK || m->kind == NC_MNT_FILE
                || m->kind == NC_MNT_COPY || m->kind == NC_MNT_DEVICE || m->kind == NC_MNT_HIDE
                || (m->flags & NC_MNT_F_LAYER)))
        continue;
      /* the last line with this mount point is the one on top */
      const char *opts = NULL;
      size_t optlen = 0;
      for (size_t pos = 0; pos < len;)
        {
          const char *line = buf + pos;
          const char *end = memchr (line, '\n', len - pos);
          size_t ll = end ? (size_t) (end - line) : len - pos;
          /* fields: id parent maj:min root mountpoint options ... */
          const char *f = line;
          int field = 0;
          const char *mp = NULL, *mo = NULL;
          size_t mpl = 0, mol = 0;
          for (const char *q = line; q <= line + ll; q++)
            if (q == line + ll || *q == ' ')
              {
                if (field == 4)
                  mp = f, mpl = (size_t) (q - f);
                else if (field == 5)
                  {
                    mo = f, mol = (size_t) (q - f);
                    break;
                  }
                field++;
                f = q + 1;
              }
          if (mp && mo && mpl == strlen (target) && memcmp (mp, target, mpl) == 0)
            opts = mo, optlen = mol;
          pos += ll + 1;
        }
      if (!opts)
        fail2 (c, NC_STAGE_MOUNTS, ENOENT, "mount audit: not mounted: ", target);
      if (((want & NC_MNT_F_RO) && !has_opt (opts, optlen, "ro"))
          || ((want & NC_MNT_F_NOSUID) && !has_opt (opts, optlen, "nosuid"))
          || ((want & NC_MNT_F_NODEV) && !has_opt (opts, optlen, "nodev"))
          || ((want & NC_MNT_F_NOEXEC) && !has_opt (opts, optlen, "noexec")))
        fail2 (c, NC_STAGE_MOUNTS, EPERM, "mount audit: flags differ from the plan on ", target);
    }
}

/* W^X where the plan promises it: no memfd made from here on can be
 * executed (vm.memfd_noexec=2 is per pid namespace, and only rises; the
 * kernel reads it for the writer's own, the container's).  Written
 * through the host's /proc before it goes (/proc/sys is read-only
 * inside); nucleus-init's memfd was made before, in the host's. */
NC_CHILD static void memfd_noexec (struct child *c)
{
  char path[64];
  if (join (path, sizeof path, c->host_prefix, "/proc/sys/vm/memfd_noexec") < 0)
    fail (c, NC_STAGE_MOUNTS, "memfd_noexec");
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd >= 0 && write (fd, "2", 1) == 1)
    {
      close (fd);
      return;
    }
  if (fd >= 0)
    close (fd);
  else if (errno == ENOENT)
    {
      /* a kernel before 6.3 has no such setting, and no way to refuse
       * an executable memfd: said, not fatal (noexec mounts and Landlock
       * still hold for files) */
      report2 (c, NC_MSG_WARN, NC_STAGE_MOUNTS, ENOENT,
               "vm.memfd_noexec (kernel < 6.3): memfds stay executable", NULL);
      return;
    }
  fail_or_warn (c, NC_STAGE_MOUNTS, "vm.memfd_noexec=2 (W^X for memfds)");
}

/* Build the new root: a staging tmpfs holds "newroot" (the container's
 * root tmpfs) and "oldroot" (the host's root after the first pivot), as
 * bubblewrap does, so host paths stay reachable under /oldroot while the
 * container tree is assembled, whatever host directory hosts the staging
 * mount. */
NC_CHILD static void setup_root (struct child *c)
{
  const struct nc_plan *p = c->plan;

  /* Nothing we mount may propagate back to the host. */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    fail (c, NC_STAGE_MOUNTS, "make / rslave");
  /* its size: the layers of overlays (a page a file) besides the two
   * directories */
  if (mount ("tmpfs", p->staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=256k") < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "staging tmpfs on ", p->staging);
  if (chdir (p->staging) < 0)
    fail (c, NC_STAGE_MOUNTS, p->staging);
  c->stage_fd = open (".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (c->stage_fd < 0)
    fail (c, NC_STAGE_MOUNTS, p->staging);
  if (mkdir ("newroot", 0755) < 0 || mkdir ("oldroot", 0755) < 0)
    fail (c, NC_STAGE_MOUNTS, "staging directories");
  if (mount ("tmpfs", "newroot", "tmpfs", MS_NOSUID | MS_NODEV | (p->root_noexec ? MS_NOEXEC : 0),
             p->root_opts)
      < 0)
    fail2 (c, NC_STAGE_MOUNTS, errno, "root tmpfs", NULL);

  if (syscall (SYS_pivot_root, ".", "oldroot") == 0)
    {
      if (chdir ("/newroot") < 0)
        fail (c, NC_STAGE_PIVOT, "/newroot");
      c->host_prefix = OLDROOT;
    }
  else if (p->chroot_fallback)
    {
      /* The host root cannot be pivoted (an initramfs, say): build in
       * place and chroot at the end. */
      if (chdir ("newroot") < 0)
        fail (c, NC_STAGE_PIVOT, "newroot");
      c->host_prefix = "";
    }
  else
    fail (c, NC_STAGE_PIVOT, "pivot_root to the staging root");

  if (p->memfd_noexec)
    memfd_noexec (c);
  c->root_fd = open (".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (c->root_fd < 0)
    fail (c, NC_STAGE_MOUNTS, "the new root");
  for (size_t i = 0; i < p->nmounts; i++)
    do_mount (c, &p->mounts[i]);

  /* The workdir is created when missing, as docker does; permission to
   * enter it is checked later, as the workload's user. */
  if (p->cwd && p->cwd[1] != '\0')
    {
      int fd = walk_dirs (c->root_fd, p->cwd + 1, strlen (p->cwd + 1), 0755);
      if (fd < 0)
        fail (c, NC_STAGE_WORKDIR, p->cwd);
      if (fd != c->root_fd)
        close (fd);
    }
  if (c->parent.fd >= 0)
    close (c->parent.fd);
  c->parent.fd = -1;
  close (c->root_fd);
  c->root_fd = -1;
  if (c->layer_fd >= 0)
    close (c->layer_fd);
  close (c->stage_fd);
  c->layer_fd = c->stage_fd = -1;

  if (c->host_prefix[0] != '\0')
    {
      /* pivot_root(".", ".") stacks the old root on top of the new one;
       * unmounting "." then drops the host tree (and the staging tmpfs)
       * from this mount namespace. */
      if (syscall (SYS_pivot_root, ".", ".") < 0)
        fail (c, NC_STAGE_PIVOT, "pivot_root");
      if (umount2 (".", MNT_DETACH) < 0)
        fail (c, NC_STAGE_PIVOT, "detach old root");
    }
  else
    {
      if (mount (".", "/", NULL, MS_MOVE, NULL) < 0)
        fail (c, NC_STAGE_PIVOT, "move new root");
      if (chroot (".") < 0)
        fail (c, NC_STAGE_PIVOT, "chroot");
    }
  if (chdir ("/") < 0)
    fail (c, NC_STAGE_PIVOT, "/");
  if (p->root_readonly
      && mount (NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)
             < 0)
    fail (c, NC_STAGE_PIVOT, "remount / read-only");
  if (p->audit_mounts)
    audit_mounts (c);
}


NC_CHILD static int capset_sets (uint64_t eff, uint64_t prm, uint64_t inh)
{
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2];
  d[0].effective = (uint32_t) eff;
  d[1].effective = (uint32_t) (eff >> 32);
  d[0].permitted = (uint32_t) prm;
  d[1].permitted = (uint32_t) (prm >> 32);
  d[0].inheritable = (uint32_t) inh;
  d[1].inheritable = (uint32_t) (inh >> 32);
  return (int) syscall (SYS_capset, &h, d);
}

NC_CHILD static void drop_privileges (const struct child *c)
{
  const struct nc_plan *p = c->plan;

  for (size_t i = 0; i < p->nrlimits; i++)
    if (setrlimit ((__rlimit_resource_t) p->rlimits[i].resource, &p->rlimits[i].lim) < 0)
      fail (c, NC_STAGE_RLIMITS, "setrlimit");

  /* Bounding set first: it needs CAP_SETPCAP, which the identity switch
   * may take away. */
  for (unsigned cap = 0; cap <= p->last_cap; cap++)
    if (!(p->caps.bounding & (1ULL << cap)) && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) < 0
        && errno != EINVAL)
      fail (c, NC_STAGE_CAPS, "drop bounding set");
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    fail (c, NC_STAGE_CAPS, "clear ambient set");

  /* Keep the permitted set across setresuid so the kept capabilities (if
   * any) survive a switch to a non-root user; capset below trims it. */
  if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    fail (c, NC_STAGE_CAPS, "keepcaps");
  /* The system calls themselves, not glibc's wrappers: those make every
   * thread of the process take the new ids (nptl's setxid broadcast),
   * and clone3 has left glibc's list of our parent's threads (the netns
   * thread of another launch, say) in place while none of them exists
   * here: the wrapper would wait for them for ever. */
  if (p->set_groups && syscall (SYS_setgroups, p->ngroups, p->groups) < 0)
    fail (c, NC_STAGE_IDENTITY, "setgroups");
  if (syscall (SYS_setresgid, p->gid, p->gid, p->gid) < 0)
    fail (c, NC_STAGE_IDENTITY, "setresgid");
  if (syscall (SYS_setresuid, p->uid, p->uid, p->uid) < 0)
    fail (c, NC_STAGE_IDENTITY, "setresuid");
  if (prctl (PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    fail (c, NC_STAGE_CAPS, "keepcaps");

  if (capset_sets (p->caps.effective, p->caps.permitted, p->caps.inheritable) < 0)
    fail (c, NC_STAGE_CAPS, "capset");
  for (unsigned cap = 0; cap <= p->last_cap; cap++)
    if ((p->caps.ambient & (1ULL << cap))
        && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      fail (c, NC_STAGE_CAPS, "raise ambient capability");

  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    fail (c, NC_STAGE_NNP, "no_new_privs");
}

NC_CHILD static void enter_workdir (const struct child *c)
{
  const char *cwd = c->plan->cwd ? c->plan->cwd : "/";
  if (chdir (cwd) < 0)
    fail (c, NC_STAGE_WORKDIR, cwd);
  /* The kernel prefixes "(unreachable)" when cwd is outside our root. */
  char buf[4096];
  long n = syscall (SYS_getcwd, buf, sizeof buf);
  if (n < 0)
    fail (c, NC_STAGE_WORKDIR, cwd);
  if (buf[0] != '/')
    fail2 (c, NC_STAGE_WORKDIR, EXDEV, cwd, NULL);
}

NC_CHILD static void apply_landlock (const struct child *c)
{
  const struct nc_plan *p = c->plan;
  if (p->landlock_fd < 0)
    return;
  for (size_t i = 0; i < p->nll_rules; i++)
    {
      const struct nc_ll_rule *r = &p->ll_rules[i];
      int fd = open (r->path, O_PATH | O_CLOEXEC);
      if (fd < 0)
        {
          if (r->optional && (errno == ENOENT || errno == ENOTDIR))
            continue;
          fail_or_warn (c, NC_STAGE_LANDLOCK, r->path);
          if (p->degraded)
            return;
        }
      /* A file takes only the rights that apply to files: EINVAL says
       * so, then the rule is made again with those (most rules are on
       * directories, which would otherwise cost a stat each). */
      struct stat st;
      struct nc_ll_path_beneath pb = { r->access, fd };
      long rc = syscall (SYS_landlock_add_rule, p->landlock_fd, NC_LL_RULE_PATH_BENEATH, &pb, 0);
      if (rc < 0 && errno == EINVAL && (pb.allowed_access & ~NC_LL_FS_FILE_RIGHTS)
          && fstat (fd, &st) == 0 && !S_ISDIR (st.st_mode))
        {
          pb.allowed_access &= NC_LL_FS_FILE_RIGHTS;
          rc = syscall (SYS_landlock_add_rule, p->landlock_fd, NC_LL_RULE_PATH_BENEATH, &pb, 0);
        }
      if (rc < 0)
        {
          fail_or_warn (c, NC_STAGE_LANDLOCK, r->path);
          close (fd);
          return;
        }
      close (fd);
    }
  if (syscall (SYS_landlock_restrict_self, p->landlock_fd, 0) < 0)
    fail_or_warn (c, NC_STAGE_LANDLOCK, "restrict_self");
}

/* One record of the given type carrying fd (SCM_RIGHTS) to the parent. */
NC_CHILD static int send_fd (const struct child *c, uint32_t type, int code, int fd)
{
  struct nc_sync_msg msg;
  memset (&msg, 0, sizeof msg);
  msg.type = type;
  msg.err.code = code;
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE (sizeof (int))];
  } cbuf;
  memset (&cbuf, 0, sizeof cbuf);
  struct iovec iov = { &msg, sizeof msg };
  struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
                       .msg_controllen = sizeof cbuf.buf };
  struct cmsghdr *cm = CMSG_FIRSTHDR (&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (cm), &fd, sizeof fd);
  return sendmsg (c->sync_fd, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

NC_CHILD static void apply_seccomp (const struct child *c)
{
  const struct nc_plan *p = c->plan;
  if (!p->bpf)
    return;
  struct sock_fprog prog = { p->bpf_len, p->bpf };
  if (p->seccomp_trace)
    {
      /* From the filter on, every syscall of ours waits for the parent, so
       * the listener cannot be sent over the socket: announce the number
       * it will get (the lowest free fd) with a pidfd of ours, and the
       * parent takes it with pidfd_getfd (sync 2b).  The pidfd stays open
       * (close-on-exec) so that the number stays the lowest free. */
      int self = (int) syscall (SYS_pidfd_open, getpid (), 0);
      if (self < 0)
        fail (c, NC_STAGE_SECCOMP, "pidfd_open");
      int n = fcntl (c->sync_fd, F_DUPFD_CLOEXEC, 0);
      if (n < 0)
        fail (c, NC_STAGE_SECCOMP, "probe a free fd");
      close (n);
      if (send_fd (c, NC_MSG_LISTENER, n, self) < 0)
        fail (c, NC_STAGE_SECCOMP, "announce the listener");
      long fd = syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                         p->seccomp_flags | SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
      if (fd < 0)
        fail (c, NC_STAGE_SECCOMP, "load trace filter");
      return;
    }
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog) < 0)
    fail_or_warn (c, NC_STAGE_SECCOMP, "load filter");
}

/* An unsigned number into buf (at least 12 bytes), NUL-terminated. */
NC_CHILD static void utoa (char *buf, unsigned v)
{
  char tmp[12];
  int n = 0;
  do
    tmp[n++] = (char) ('0' + v % 10);
  while ((v /= 10) && n < 11);
  for (int i = 0; i < n; i++)
    buf[i] = tmp[n - 1 - i];
  buf[n] = '\0';
}

/* PID 1 from here on: exec nucleus-init (core/init/init.c) from the
 * sealed memfd the parent made, with an empty environment and no fd but
 * the write end of the "ready" pipe as its 0.  Until this exec, PID 1 is
 * a copy of the caller's memory; the workload does not exec before the
 * init says it is ready (after its exec), so it never sees that copy. */
NC_CHILD _Noreturn static void exec_init (const struct child *c, pid_t workload, int ready_w)
{
  char pid[12];
  utoa (pid, (unsigned) workload);
  char *const argv[] = { (char *) "nucleus-init", pid, NULL };
  char *const envp[] = { NULL };
  if (ready_w != 0 && dup2 (ready_w, 0) < 0)
    fail (c, NC_STAGE_INIT, "init: ready pipe");
  /* everything else goes at the exec: the sync socket (the parent then
   * waits for the workload's end of it alone), the workload's pipes,
   * the caller's own stdio */
  if (syscall (SYS_close_range, 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    fail (c, NC_STAGE_INIT, "init: close_range");
  syscall (SYS_execveat, c->io->init_fd, "", argv, envp, AT_EMPTY_PATH);
  fail (c, NC_STAGE_INIT, "exec nucleus-init");
}

NC_CHILD _Noreturn static void exec_workload (const struct child *c, const sigset_t *mask)
{
  const struct nc_plan *p = c->plan;
  const char *file = p->argv[0];

  umask (022);
  if (c->tty_slave >= 0)
    {
      /* its own session, with the new terminal as controlling tty */
      if (setsid () < 0 || ioctl (c->tty_slave, TIOCSCTTY, 0) < 0)
        fail (c, NC_STAGE_EXEC, "controlling terminal");
      for (int fd = 0; fd < 3; fd++)
        if (dup2 (c->tty_slave, fd) < 0)
          fail (c, NC_STAGE_EXEC, "terminal as stdio");
    }
  else
    for (int fd = 0; fd < 3; fd++)
      if (c->stdio[fd] >= 0 && c->stdio[fd] != fd && dup2 (c->stdio[fd], fd) < 0)
        fail (c, NC_STAGE_EXEC, "standard streams");
  /* Only 0, 1 and 2 cross into the workload (the sync socket is already
   * close-on-exec: EOF on it tells the parent exec succeeded). */
  if (syscall (SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
    fail (c, NC_STAGE_EXEC, "close_range");
  sigprocmask (SIG_SETMASK, mask, NULL);

  if (!p->path_search)
    {
      execve (file, p->argv, p->envp);
      int e = errno;
      report2 (c, NC_MSG_ERROR, NC_STAGE_EXEC, e, file, NULL);
      _exit (e == ENOENT || e == ENOTDIR ? NC_EXIT_NOTFOUND : NC_EXIT_NOEXEC);
    }

  /* execvp without malloc: try each PATH entry in a stack buffer. */
  char buf[4096];
  int seen_eacces = 0;
  const char *dir = p->path_search;
  size_t flen = strlen (file);
  for (;;)
    {
      const char *end = strchr (dir, ':');
      size_t dlen = end ? (size_t) (end - dir) : strlen (dir);
      if (dlen + flen + 2 <= sizeof buf)
        {
          size_t n = 0;
          if (dlen == 0)
            buf[n++] = '.';
          memcpy (buf + n, dir, dlen);
          n += dlen;
          buf[n++] = '/';
          memcpy (buf + n, file, flen + 1);
          execve (buf, p->argv, p->envp);
          if (errno == EACCES)
            seen_eacces = 1;
          else if (errno != ENOENT && errno != ENOTDIR)
            {
              int e = errno;
              report2 (c, NC_MSG_ERROR, NC_STAGE_EXEC, e, buf, NULL);
              _exit (NC_EXIT_NOEXEC);
            }
        }
      if (!end)
        break;
      dir = end + 1;
    }
  report2 (c, NC_MSG_ERROR, NC_STAGE_EXEC, seen_eacces ? EACCES : ENOENT, file, NULL);
  _exit (seen_eacces ? NC_EXIT_NOEXEC : NC_EXIT_NOTFOUND);
}

/* The workload's last steps, in the process that becomes it: Landlock,
 * the gate (the record is written before anything of the workload runs),
 * PID 1's ready byte, seccomp (last: a profile need not allow our own
 * reads), execve. */
NC_CHILD _Noreturn static void finish_workload (struct child *c, const sigset_t *mask, int gated)
{
  apply_landlock (c);
  if (gated)
    {
      /* sync 2d */
      char open_ = 0;
      ssize_t r;
      do
        r = read (c->sync_fd, &open_, 1);
      while (r < 0 && errno == EINTR);
      if (r != 1 || open_ != NC_SYNC_GATE)
        _exit (NC_EXIT_SETUP);
    }
  if (c->ready_fd >= 0)
    {
      /* nucleus-init is PID 1 now; EOF without its byte: it failed and
       * reported why, and the container is going down */
      char one = 0;
      ssize_t r;
      do
        r = read (c->ready_fd, &one, 1);
      while (r < 0 && errno == EINTR);
      if (r != 1)
        _exit (NC_EXIT_SETUP);
      close (c->ready_fd);
    }
  apply_seccomp (c);
  exec_workload (c, mask);
}

struct workload_arg {
  struct child *c;
  const sigset_t *mask;
  int gated;
  int ready_w; /* PID 1's end of the ready pipe: not ours to hold */
};

NC_CHILD static int workload_entry (void *p)
{
  struct workload_arg *a = p;
  close (a->ready_w);
  /* dies with its init */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  finish_workload (a->c, a->mask, a->gated);
}

/* -t: a terminal of the container's own devpts instance (so ttyname()
 * works inside), its master passed to the parent over the sync socket. */
NC_CHILD static void make_tty (struct child *c)
{
  int m = open ("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0)
    fail (c, NC_STAGE_EXEC, "/dev/ptmx");
  int unlock = 0;
  if (ioctl (m, TIOCSPTLCK, &unlock) < 0)
    fail (c, NC_STAGE_EXEC, "unlock the terminal");
  int sl = ioctl (m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (sl < 0)
    fail (c, NC_STAGE_EXEC, "open the terminal");
  /* the workload's own terminal, as login(1) would have it */
  if (fchown (sl, c->plan->uid, c->plan->gid) < 0)
    fail (c, NC_STAGE_EXEC, "chown the terminal");
  if (send_fd (c, NC_MSG_PTY, 0, m) < 0)
    fail (c, NC_STAGE_EXEC, "pass the terminal");
  close (m);
  c->tty_slave = sl;
}

/* The workload's stdin without -i: the container's own /dev/null (a node
 * on its /dev tmpfs, or the host's bound under a user namespace, where
 * container root does not own it), else an empty pipe. */
NC_CHILD static int null_stdin (const struct child *c)
{
  int fd = open ("/dev/null", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0)
    return fd;
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    fail (c, NC_STAGE_EXEC, "stdin");
  close (p[1]);
  return p[0];
}

NC_CHILD _Noreturn void nc_child_run (const struct nc_plan *plan, const struct nc_child_io *io)
{
  struct child c = { plan, io, io->sync_fd, OLDROOT, { io->stdio[0], io->stdio[1], io->stdio[2] },
                     -1, -1, -1, -1, -1, { NULL, 0, -1, -1 } };
  int sync_fd = io->sync_fd;
  char go = 0;
  ssize_t r;

  /* The container dies with the thread that spawned it.  Set before the
   * GO wait: a parent that died earlier shows as EOF there. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    fail (&c, NC_STAGE_SYNC, "pdeathsig");
  do
    r = read (sync_fd, &go, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1 || (go != NC_SYNC_GO && go != NC_SYNC_GO_GATED))
    _exit (NC_EXIT_SETUP);
  int gated = go == NC_SYNC_GO_GATED;

  umask (0);
  if (plan->join_pidfd >= 0)
    {
      /* exec: enter the running container's namespaces all at once; its
       * mount namespace brings its root and a cwd at that root */
      if (setns (plan->join_pidfd, (int) plan->join_flags) < 0)
        fail (&c, NC_STAGE_CLONE, "join the container's namespaces");
      if ((plan->join_flags & CLONE_NEWUSER)
          && (syscall (SYS_setresgid, 0, 0, 0) < 0 || syscall (SYS_setresuid, 0, 0, 0) < 0))
        fail (&c, NC_STAGE_IDENTITY0, "become root in the user namespace");
    }
  else
    {
      if ((plan->clone_flags & CLONE_NEWUSER)
          && (syscall (SYS_setresgid, 0, 0, 0) < 0 || syscall (SYS_setresuid, 0, 0, 0) < 0))
        fail (&c, NC_STAGE_IDENTITY0, "become root in the user namespace");
      if (plan->hostname && sethostname (plan->hostname, strlen (plan->hostname)) < 0)
        fail (&c, NC_STAGE_HOSTNAME, plan->hostname);
      if (io->netns_fd >= 0)
        {
          /* made ahead, with lo up (netns.c) */
          if (setns (io->netns_fd, CLONE_NEWNET) < 0)
            fail (&c, NC_STAGE_NETWORK, "join the network namespace made ahead");
          close (io->netns_fd);
        }
      else if (plan->net_loopback)
        loopback_up (&c);
      if (plan->net_bridged)
        bridged_netns (&c);
      setup_root (&c);
      if (plan->pause_after_root)
        {
          /* sync 2c: the parent inspects the built root (/proc/PID/root)
           * before anything of the workload's runs */
          report2 (&c, NC_MSG_PAUSED, NC_STAGE_MOUNTS, 0, NULL, NULL);
          char go2 = 0;
          for (;;)
            {
              r = read (sync_fd, &go2, 1);
              if (r < 0 && errno == EINTR)
                continue;
              if (r == 1 && go2 == NC_SYNC_GATE && gated)
                {
                  gated = 0; /* opened already: nothing to wait for there */
                  continue;
                }
              break;
            }
          if (r != 1 || go2 != NC_SYNC_GO)
            _exit (NC_EXIT_SETUP);
        }
    }
  if (io->tty)
    make_tty (&c);
  else if (c.stdio[0] < 0)
    c.stdio[0] = null_stdin (&c);
  if (setsid () < 0)
    fail (&c, NC_STAGE_IDENTITY, "setsid");
  drop_privileges (&c);
  /* Any change of credentials (the workload's user, root of a user
   * namespace) cleared the parent-death signal: arm it again, then make
   * sure the parent did not die in between (its end of the sync socket
   * stays open until we exec). */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    fail (&c, NC_STAGE_IDENTITY, "pdeathsig");
  struct pollfd parent = { sync_fd, POLLRDHUP, 0 };
  if (poll (&parent, 1, 0) > 0 && (parent.revents & (POLLRDHUP | POLLHUP)))
    _exit (NC_EXIT_SETUP);
  enter_workdir (&c);

  if (!plan->mini_init)
    finish_workload (&c, io->mask, gated);

  /* The workload is a process of its own from here; we become PID 1.  It
   * shares our memory until it execs (CLONE_VM: no page tables copied;
   * its stack is a buffer of ours), and reads only what neither of us
   * changes (the plan, c).  Our exec of nucleus-init leaves that memory
   * to it alone.  glibc's clone() runs no atfork handlers. */
  static char stack[64 * 1024] __attribute__ ((aligned (16)));
  int ready[2];
  if (pipe2 (ready, O_CLOEXEC) < 0)
    fail (&c, NC_STAGE_INIT, "ready pipe");
  c.ready_fd = ready[0];
  struct workload_arg arg = { &c, io->mask, gated, ready[1] };
  pid_t pid = clone (workload_entry, stack + sizeof stack, CLONE_VM | SIGCHLD, &arg);
  if (pid < 0)
    fail (&c, NC_STAGE_INIT, "clone");
  exec_init (&c, pid, ready[1]);
}

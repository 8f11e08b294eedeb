/* internal.h - syscall wrappers, kernel ABI bits missing from older
 * headers, and the cleanup idioms of the core.  Not installed. */
#ifndef NUCLEUS_INTERNAL_H
#define NUCLEUS_INTERNAL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nucleus/nc.h"

/* Marks functions that run between clone3 and execve: async-signal-safe,
 * no allocation, no stdio, no Lua.  tests/core/child_safety.t greps them. */
#define NC_CHILD

#define UNLIKELY(x) __builtin_expect (!!(x), 0)

/* core.helper's child (helper.c), between fork and execve: everything it
 * needs, resolved before the fork. */
struct nc_helper {
  const char *path;
  char **argv;
  char *const *envp;
  int ns_pidfd;    /* enter this process's network namespace, or -1 */
  int userns;      /* ... and its user namespace, as root there */
  int in_fd;       /* stdin, or -1 for /dev/null */
  int out_fd;      /* stdout and stderr (and errors), or -1 */
  const char *log; /* with out_fd -1: stdout and stderr to this new file */
  const int *keep; /* fds it inherits */
  int nkeep;
};
_Noreturn void nc_helper_child (const struct nc_helper *h);

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef SYS_execveat
#define SYS_execveat 322
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#define FSMOUNT_CLOEXEC 0x00000001
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct nc_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_NOEXEC 0x00000008
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* MOUNT_ATTR_* of a mount's NC_MNT_F_* flags (parent and child alike). */
static inline unsigned nc_mount_attrs (unsigned f)
{
  return ((f & NC_MNT_F_RO) ? MOUNT_ATTR_RDONLY : 0u) | ((f & NC_MNT_F_NOSUID) ? MOUNT_ATTR_NOSUID : 0u)
         | ((f & NC_MNT_F_NODEV) ? MOUNT_ATTR_NODEV : 0u)
         | ((f & NC_MNT_F_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0u);
}

struct nc_open_how {
  uint64_t flags, mode, resolve;
};
#define NC_RESOLVE_NO_MAGICLINKS 0x02
#define NC_RESOLVE_NO_SYMLINKS 0x04
#define NC_RESOLVE_BENEATH 0x08

/* Landlock UAPI, up to ABI 6 (the installed headers may be older). */
struct nc_ll_ruleset_attr {
  uint64_t handled_access_fs, handled_access_net, scoped;
};
struct nc_ll_path_beneath {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__ ((packed));
#define NC_LL_CREATE_RULESET_VERSION (1U << 0)
#define NC_LL_RULE_PATH_BENEATH 1
#define NC_LL_FS_EXECUTE (1ULL << 0)
#define NC_LL_FS_WRITE_FILE (1ULL << 1)
#define NC_LL_FS_READ_FILE (1ULL << 2)
#define NC_LL_FS_TRUNCATE (1ULL << 14)
#define NC_LL_FS_IOCTL_DEV (1ULL << 15)
#define NC_LL_FS_FILE_RIGHTS                                                                 \
  (NC_LL_FS_EXECUTE | NC_LL_FS_WRITE_FILE | NC_LL_FS_READ_FILE | NC_LL_FS_TRUNCATE           \
   | NC_LL_FS_IOCTL_DEV)

/* Cleanup attributes: parent-side code only, never in child.c. */
static inline void nc_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}
static inline void nc_freep (void *p)
{
  free (*(void **) p);
}
#define NC_AUTOCLOSE __attribute__ ((cleanup (nc_closep)))
#define NC_AUTOFREE __attribute__ ((cleanup (nc_freep)))

static inline int nc_steal_fd (int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

#endif

/* nc_plan.h - the launch plan: everything the child needs, resolved before
 * the fork.
 *
 * A plan is filled in the parent by core.plan_compile (bind/l_plan.c: from
 * a Lua table, validated) or by a C caller (nc_plan_new, the fields below,
 * the arena helpers; tests/core/test_plan.c).  Every string lives in the
 * plan's arena; the child only reads the plan, allocates nothing and calls
 * nothing that is not async-signal-safe.  A plan may be spawned any number
 * of times; nc_plan_free closes its fds and zeroes its secrets.
 */
#ifndef NUCLEUS_NC_PLAN_H
#define NUCLEUS_NC_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <linux/filter.h>

#include "nc_err.h"

enum nc_mount_kind {
  NC_MNT_DIR = 1, /* mkdir target */
  NC_MNT_BIND,    /* bind the host path source onto target */
  NC_MNT_TMPFS,
  NC_MNT_PROC,
  NC_MNT_DEVPTS,
  NC_MNT_MQUEUE,
  NC_MNT_SYMLINK, /* target -> data */
  NC_MNT_FILE,    /* regular file holding data */
  NC_MNT_COPY,    /* copy of a tree scanned when the plan was built */
  NC_MNT_DEVICE,  /* character device node: the host node source's number (mknod) */
  NC_MNT_OVERLAY, /* read-only overlay: the layer at target on top of the host's source */
  NC_MNT_HIDE,    /* whiteout in the layer: hides target's name of the host's tree */
};

#define NC_MNT_F_RO (1u << 0)
#define NC_MNT_F_NOSUID (1u << 1)
#define NC_MNT_F_NODEV (1u << 2)
#define NC_MNT_F_NOEXEC (1u << 3)
#define NC_MNT_F_RECURSIVE (1u << 4)
#define NC_MNT_F_FILE (1u << 5)  /* bind of a non-directory */
#define NC_MNT_F_INNER (1u << 6) /* bind source is a path in the new root */
#define NC_MNT_F_OWNED (1u << 7) /* dir or file owned by the workload's uid/gid */
#define NC_MNT_F_SECRET (1u << 8) /* file data read from the host, zeroed on free */
#define NC_MNT_F_FD (1u << 9)     /* bind of src_fd, opened on the host (source is its name) */
#define NC_MNT_F_LAYER (1u << 10) /* dir, file or hide made in the overlay layer, not the root */

struct nc_mount {
  uint16_t kind;
  uint16_t flags;
  uint32_t mode;
  const char *source; /* bind: host path, as seen under the staging root */
  const char *target; /* absolute path inside the container */
  const char *data;   /* fs options, symlink target or file contents */
  size_t data_len;
  int src_fd;         /* copy: O_PATH directory fd of the source tree; bind with
                       * NC_MNT_F_FD: O_PATH fd of what is bound, the tree the
                       * caller checked (nc_spawn clones it before the fork) */
  size_t copy_first, copy_count; /* copy: range of plan->copies */
  dev_t rdev;         /* device: the number, read from source on the host */
};

/* One entry of a scanned tree (context copy). */
struct nc_copy {
  uint8_t type; /* NC_COPY_DIR, NC_COPY_REG, NC_COPY_LNK */
  uint32_t mode;
  const char *path; /* relative, same under the source and the target */
  const char *link; /* symlink target */
  uint64_t size;
  uint64_t data; /* regular file: the bytes it holds, holes left out */
};
enum { NC_COPY_DIR = 1, NC_COPY_REG, NC_COPY_LNK };

struct nc_rlimit {
  int resource;
  struct rlimit lim;
};

struct nc_ll_rule {
  const char *path; /* path inside the container */
  uint64_t access;
  bool optional;    /* skip when missing */
};

struct nc_caps {
  uint64_t bounding, permitted, effective, inheritable, ambient;
};

/* Seccomp specification (OCI runtime-spec linux.seccomp shape). */
struct nc_sc_arg {
  unsigned index;
  uint64_t value, value_two;
  int op; /* enum scmp_compare */
};
struct nc_sc_rule {
  const char **names;
  size_t nnames;
  uint32_t action; /* libseccomp action, errno folded in */
  struct nc_sc_arg *args;
  size_t nargs;
  const char *where; /* "syscalls[3]" for error messages */
};
struct nc_sc_spec {
  uint32_t default_action;
  uint32_t *arches; /* libseccomp arch tokens; empty = native only */
  size_t narches;
  struct nc_sc_rule *rules;
  size_t nrules;
  bool log;         /* SECCOMP_FILTER_FLAG_LOG */
  bool spec_allow;  /* SECCOMP_FILTER_FLAG_SPEC_ALLOW */
  bool no_merge;    /* libseccomp's program as it is (tests compare the two) */
};

struct nc_arena;

struct nc_plan {
  /* process */
  char **argv;
  char **envp;
  const char *path_search; /* PATH to search argv[0] in; NULL when argv[0] has '/' */
  const char *cwd;
  const char *hostname;
  uint64_t clone_flags; /* CLONE_NEW* */

  /* exec into a running container: join these namespaces of its init
   * instead of creating any, and build no filesystem */
  int join_pidfd; /* -1 = a new container */
  uint64_t join_flags;

  int cgroup_fd; /* cgroup v2 directory the init starts in (CLONE_INTO_CGROUP), -1 = ours */

  /* user namespace */
  const char *uid_map, *gid_map;
  bool setgroups_deny;

  /* identity after setup */
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  bool set_groups;

  /* filesystem */
  const char *staging;   /* mount point of the staging tmpfs, e.g. "/tmp" */
  const char *root_opts; /* options of the root tmpfs */
  bool root_readonly;
  bool root_noexec;  /* nothing on the root tmpfs (/tmp, home, /context) runs */
  bool memfd_noexec; /* vm.memfd_noexec=2 in the container's pid namespace */
  bool chroot_fallback;
  bool audit_mounts; /* compare /proc/self/mountinfo with the plan after pivot */
  bool pause_after_root; /* stop after the root is built, until the parent's go */
  struct nc_mount *mounts;
  size_t nmounts;
  struct nc_copy *copies;
  size_t ncopies;

  bool net_loopback; /* bring lo up (new network namespace) */
  bool net_bridged; /* a bridged namespace: low ports open, no IPv6 on new links */

  /* security */
  struct nc_caps caps;
  unsigned last_cap;
  struct nc_rlimit *rlimits;
  size_t nrlimits;
  struct sock_filter *bpf; /* compiled seccomp program, NULL = none */
  const char *seccomp_builtin; /* name of the built-in profile used, if any */
  unsigned short bpf_len;
  unsigned seccomp_flags;
  bool seccomp_trace; /* notify the supervisor of every syscall (bpf is that) */
  /* trace mode: the profile the supervisor judges each call by (trace.c) */
  const struct sock_filter *trace_judge;
  unsigned short trace_judge_len;
  int landlock_fd; /* ruleset fd, -1 = none */
  struct nc_ll_rule *ll_rules;
  size_t nll_rules;
  bool degraded; /* seccomp/landlock failures are warnings */
  bool mini_init; /* a C init is PID 1 and the workload its child */

  struct nc_arena *arena;
};

struct nc_plan *nc_plan_new (void);
void nc_plan_free (struct nc_plan *plan);

/* Arena helpers for builders: memory lives as long as the plan. */
void *nc_plan_alloc (struct nc_plan *plan, size_t size);
/* n * size bytes, zeroed; NULL when that overflows. */
void *nc_plan_calloc (struct nc_plan *plan, size_t n, size_t size);
char *nc_plan_strdup (struct nc_plan *plan, const char *s);
char *nc_plan_memdup (struct nc_plan *plan, const void *p, size_t n);

/* Scan the directory tree at host path src (an open O_PATH dir fd) and
 * append its entries to plan->copies.  Names matching the exclusion lists
 * are skipped; symlinks whose target would leave the tree are skipped and
 * counted in *skipped_links.  Returns 0 or -errno with err set. */
struct nc_exclude {
  const char **names; size_t nnames;       /* exact */
  const char **inames; size_t ninames;     /* exact, case-insensitive */
  const char **prefixes; size_t nprefixes;
  const char **suffixes; size_t nsuffixes;
  const char **icontains; size_t nicontains; /* case-insensitive substring */
};
int nc_plan_scan_tree (struct nc_plan *plan, int src_fd, const struct nc_exclude *ex,
                       unsigned max_depth, size_t *first, size_t *count,
                       size_t *skipped_links, struct nc_err *err);

/* A profile of policies/ compiled at build time ("default", ...). */
struct nc_sc_builtin {
  const char *name;
  const struct sock_filter *bpf;
  unsigned short bpf_len;
};
int nc_seccomp_use_builtin (struct nc_plan *plan, const char *name, struct nc_err *err);

/* Compile spec into plan->bpf. */
int nc_seccomp_compile (struct nc_plan *plan, const struct nc_sc_spec *spec, struct nc_err *err);
/* The action prog (a seccomp filter the kernel accepted or libseccomp
 * made) returns for data: classic BPF run as the kernel runs it.  An
 * instruction the kernel would have refused gives SECCOMP_RET_KILL_PROCESS. */
struct seccomp_data;
uint32_t nc_seccomp_eval (const struct sock_filter *prog, size_t len, const struct seccomp_data *data);
/* Resolve a syscall name for the native arch; -1 when unknown. */
int nc_seccomp_resolve (const char *name);

/* Landlock: ABI of the running kernel, 0 when unavailable. */
int nc_landlock_abi (void);
int nc_landlock_prepare (struct nc_plan *plan, uint64_t handled_fs, uint64_t handled_net,
                         uint64_t scoped, struct nc_err *err);

#endif

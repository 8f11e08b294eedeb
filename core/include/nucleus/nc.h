/* nc.h - public embedding API of the Nucleus core.
 *
 * Build a plan (nc_plan.h), spawn it, wait for it:
 *
 *   struct nc_proc proc;
 *   struct nc_err err = {0};
 *   int fwd[] = { SIGINT, SIGTERM };
 *   if (nc_spawn (plan, &proc, fwd, 2, NULL, NULL, NULL, &err) < 0) ...report err...
 *   struct nc_status st;
 *   nc_proc_wait (&proc, fwd, 2, &st, &err);
 *   nc_proc_release (&proc);
 */
#ifndef NUCLEUS_NC_H
#define NUCLEUS_NC_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nc_err.h"
#include "nc_plan.h"

#define NC_VERSION "0.1.0"

/* Exit codes, docker's convention. */
#define NC_EXIT_SETUP 125   /* nucleus itself failed */
#define NC_EXIT_NOEXEC 126  /* command found but not executable */
#define NC_EXIT_NOTFOUND 127

/* Child -> parent records on the SOCK_SEQPACKET sync socket.  EOF after
 * NC_SYNC_GO means the workload was exec'd. */
enum nc_msg_type {
  NC_MSG_ERROR = 1,
  NC_MSG_WARN = 2,
  NC_MSG_LISTENER = 3, /* trace mode: err.code is the fd number the seccomp
                          listener will have in the workload, whose pidfd
                          the record carries (SCM_RIGHTS) */
  NC_MSG_PTY = 4,      /* -t: carries the terminal's master fd (SCM_RIGHTS) */
  NC_MSG_PAUSED = 5,   /* plan->pause_after_root: the root is built; the child
                          waits for NC_SYNC_GO (sync 2c) */
};
struct nc_sync_msg {
  uint32_t type;
  struct nc_err err;
};

/* Parent -> child: one byte, sent once the parent's work on the new
 * process is done (id maps written).  EOF instead means abort.
 * NC_SYNC_GO_GATED: go, but wait at the gate before seccomp and the
 * workload until NC_SYNC_GATE arrives: the parent sends it as soon as its
 * own work done meanwhile (io->started) succeeded, without being asked,
 * so a child that gets there later finds it waiting (sync 2d).  It may
 * arrive before the NC_SYNC_GO that answers NC_MSG_PAUSED. */
enum nc_sync { NC_SYNC_GO = 1, NC_SYNC_GO_GATED = 2, NC_SYNC_GATE = 3 };

/* Trace mode: one entry per (architecture, syscall number) seen. */
struct nc_trace_entry {
  uint32_t arch; /* libseccomp arch token */
  int nr;
  uint64_t count;     /* permitted + refused */
  uint64_t permitted; /* let through (the profile allows it) */
  uint64_t refused;   /* answered with an errno, or the process killed */
  uint64_t killed;    /* of refused: the profile kills (an architecture it does not list) */
  int refused_errno;  /* the errno of the first refusal by errno, 0 if none */
  pid_t first_pid;
  char first_comm[16];
};
/* The number under which calls of numbers no kernel table names are counted. */
#define NC_TRACE_UNKNOWN (-1)
struct nc_trace {
  struct nc_trace_entry *v; /* open-addressing table, cap entries */
  size_t n, cap;
  struct sock_filter *judge; /* the profile each call is judged by (a copy) */
  size_t judge_len;
};
int nc_trace_service (int listener, struct nc_trace *t);
void nc_trace_free (struct nc_trace *t);
const char *nc_trace_arch_name (uint32_t arch);
char *nc_trace_syscall_name (uint32_t arch, int nr);

struct nc_proc {
  pid_t pid;  /* host pid of the container's first process */
  int pidfd;
  int listener;          /* trace mode: seccomp notification fd, else -1 */
  struct nc_trace trace; /* trace mode: what was recorded */
  sigset_t held_from;    /* the caller's mask before nc_spawn held signals */
  int held;              /* nc_spawn blocked the signals to forward */
  int pty_master;        /* -t: our side of the workload's terminal, else -1 */
  int relay_stdin;       /* -t -i: copy our stdin to the terminal */
  int last_forwarded;    /* the last signal nc_proc_wait passed on, 0 if none */
  /* The relay of the workload's standard streams (no terminal): our ends
   * of its pipes, -1 once closed.  nc_proc_wait copies out[i] to our fd
   * i + 1 (out[1] is -1 when our 1 and 2 are one file: one pipe keeps
   * their order) and our stdin to in (-i). */
  int out[2];
  int in;
  int in_eof; /* our stdin ended, or the workload closed its end */
  int to[2];  /* where out[0] and out[1] (and the terminal) are copied */
  int pty_live; /* the terminal is read until it hangs up */
};

/* The workload's standard streams and terminal (per spawn, not per plan).
 * The workload never holds a file of the caller's: its stdout and stderr
 * are pipes that nc_proc_wait relays to ours, its stdin the container's
 * own /dev/null, or a pipe fed from ours (interactive), or with tty a
 * terminal of the container's own devpts, relayed. */
struct nc_io {
  int tty;      /* give the workload a new pseudo-terminal as 0, 1, 2 and
                   controlling terminal; nc_proc_wait relays it */
  int interactive; /* relay our stdin to the workload's */
  /* plan->pause_after_root: called with the child's pid once its root is
   * built (the child waits meanwhile); nonzero aborts the spawn, err set */
  int (*paused) (void *ctx, pid_t pid, struct nc_err *err);
  void *paused_ctx;
  /* called with the child's pid right after it is told to go, while it
   * sets the container up; the workload starts only after it returned 0
   * (the gate, sync 2d); nonzero aborts the spawn, err set.  The caller's
   * work that needs the pid (the container's record) overlaps the setup. */
  int (*started) (void *ctx, pid_t pid, struct nc_err *err);
  void *started_ctx;
  /* a network namespace made ahead (nc_netns_take), which the child joins
   * instead of making one; -1 = none.  Only for a plan with a new network
   * namespace, lo up, not bridged and without a user namespace. */
  int netns_fd;
  /* where the relay copies the workload's stdout and stderr (and its
   * terminal's output: out_fd); 0 means ours, 1 and 2 */
  int out_fd, err_fd;
};

struct nc_status {
  int code;   /* exit code, or 128 + signal */
  int signal; /* signal that killed the first process, 0 if it exited */
};

typedef void (*nc_warn_fn) (void *ctx, const struct nc_err *warning);

/* Create the container described by plan.  Returns 0 once the workload has
 * been exec'd, or -errno with err describing the failed setup stage (the
 * child has then been reaped; nothing is left behind).  The signals in
 * hold stay blocked in the calling thread from before clone3 until
 * nc_proc_wait (or nc_proc_release) restores the mask, so none of them is
 * lost to a default action between the two calls. */
int nc_spawn (const struct nc_plan *plan, struct nc_proc *proc, const int *hold, size_t nhold,
              const struct nc_io *io, nc_warn_fn warn, void *ctx, struct nc_err *err);

/* Wait for the container to exit, forwarding the listed signals to it
 * meanwhile.  Returns 0 and fills st, or -errno. */
int nc_proc_wait (struct nc_proc *proc, const int *sigs, size_t nsigs, struct nc_status *st,
                  struct nc_err *err);

/* For a caller's own event loop: the fds to poll for proc (its pidfd, the
 * relay's pipes, the terminal, the trace listener), at most NC_PROC_FDS;
 * returns how many.  Readable means nc_proc_poll has work. */
#define NC_PROC_FDS 5
size_t nc_proc_fds (const struct nc_proc *proc, int *fds);

/* One step of nc_proc_wait without blocking, forwarding nothing: copies
 * what the workload wrote, answers trace notifications, and returns 1
 * with st filled once the container's first process has exited (its
 * output drained, proc released), 0 while it runs, or -errno.  Not for a
 * relayed stdin (interactive): that needs nc_proc_wait. */
int nc_proc_poll (struct nc_proc *proc, struct nc_status *st, struct nc_err *err);

int nc_proc_signal (struct nc_proc *proc, int sig);
/* SIGKILL the container's first process (all of the container, when it
 * is PID 1) and reap it, unless it has already been waited for. */
void nc_proc_kill (struct nc_proc *proc);
void nc_proc_release (struct nc_proc *proc);

/* Lower-case hex SHA-256 of data (policy pinning). */
void nc_sha256_hex (const void *data, size_t len, char out[65]);
int nc_sha256_file_hex (int dirfd, const char *path, char out[65]);
int nc_sha256_fd_hex (int fd, char out[65]);

/* A network namespace with lo up, made on a thread of its own while the
 * caller goes on (netns.c).  nc_netns_take waits for it and returns its
 * fd (close-on-exec, still owned by ns) or -errno with err set;
 * nc_netns_close waits and frees it. */
struct nc_netns {
  pthread_t thread;
  int running;
  int fd;
  int error;
  const char *what;
};
int nc_netns_prepare (struct nc_netns *ns, struct nc_err *err);
int nc_netns_take (struct nc_netns *ns, struct nc_err *err);
void nc_netns_close (struct nc_netns *ns);

/* What nc_spawn hands the child besides the plan. */
struct nc_child_io {
  int sync_fd;
  const sigset_t *mask; /* the caller's signal mask, restored before execve */
  int stdio[3];         /* the workload's 0, 1, 2 (pipes); stdin -1: /dev/null */
  int tty;              /* a terminal of the container's own instead */
  int netns_fd;         /* a network namespace made ahead, or -1 */
  int init_fd;          /* nucleus-init, a sealed memfd (nc_init_fd) */
  const int *trees;     /* per plan mount: the detached tree of a NC_MNT_F_FD bind, else -1 */
};

/* The post-fork sequence; never returns.  Exposed for tests only. */
_Noreturn void nc_child_run (const struct nc_plan *plan, const struct nc_child_io *io);

/* nucleus-init (core/init/init.c) in a sealed, executable memfd, made once
 * per process; close-on-exec.  Returns the fd or -errno. */
int nc_init_fd (struct nc_err *err);

#endif

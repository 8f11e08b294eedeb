/* probe.c - multi-call sandbox probe for the integration tests.
 *
 * Runs inside a container and reports what the sandbox looks like.
 *
 *   Build:  gcc -O2 -static -Wall -Wextra -o probe probe.c
 *   Usage:  probe CMD [ARGS...]        (probe help lists the commands)
 *
 * Output is one key=value pair per line on stdout, so a test can grep for
 * "^key=".  Failures of the probed operation are data (e.g. read=EACCES,
 * mount=signal:31), never an exit status.  Exit status: 0 the probe ran,
 * 1 the probe's own machinery failed (fork, pipe, writing stdout, ...),
 * 2 usage error; "exit N" exits N and "kill-self SIG" dies by SIG.
 *
 * Only libc and raw syscall(2): no libseccomp, no libcap, no kernel
 * headers beyond what libc ships, so it links statically anywhere.
 *
 * The "syscall" probes run in a forked child, so a seccomp kill is reported
 * as NAME=signal:N instead of killing the probe.  Their arguments are chosen
 * so that the call has no lasting effect even when it is allowed; where the
 * obvious arguments could do damage with full privileges (umount2 of "/",
 * pivot_root, kexec_load, acct) the arguments fail right after the
 * permission check instead, so "allowed" shows up as an errno other than
 * EPERM (see each probe).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Syscalls numbered 424 and up are the same on every architecture libc
 * headers might lack them for. */
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

/* Kernel ABI constants, spelled out to avoid depending on linux/ headers. */
#define PROBE_NETLINK_ROUTE 0
#define PROBE_KEYCTL_GET_KEYRING_ID 0
#define PROBE_KEY_SPEC_PROCESS_KEYRING (-2)
#define PROBE_KEY_SPEC_SESSION_KEYRING (-3)
#define PROBE_BPF_PROG_LOAD 5
#define PROBE_OPEN_TREE_CLONE 1
#define PROBE_FSOPEN_CLOEXEC 1
#define PROBE_KEXEC_SEGMENT_MAX 16
#define PROBE_LANDLOCK_CREATE_RULESET_VERSION 1U
#define PROBE_CAP_VERSION_3 0x20080522
#define PROBE_UNKNOWN_SYSCALL 1000L
#define PROBE_MISSING_PATH "/nonexistent-nucleus-probe"

enum
{
  EXIT_PROBE_OK = 0,
  EXIT_PROBE_FAIL = 1,
  EXIT_PROBE_USAGE = 2,
};

/* ------------------------------------------------------------------ */
/* errno names                                                         */

struct errno_name
{
  int num;
  const char *name;
};

#define ERRNO_NAME(e) { e, #e }
static const struct errno_name errno_names[] = {
  ERRNO_NAME (EPERM), ERRNO_NAME (ENOENT), ERRNO_NAME (ESRCH),
  ERRNO_NAME (EINTR), ERRNO_NAME (EIO), ERRNO_NAME (ENXIO),
  ERRNO_NAME (E2BIG), ERRNO_NAME (ENOEXEC), ERRNO_NAME (EBADF),
  ERRNO_NAME (ECHILD), ERRNO_NAME (EAGAIN), ERRNO_NAME (ENOMEM),
  ERRNO_NAME (EACCES), ERRNO_NAME (EFAULT), ERRNO_NAME (EBUSY),
  ERRNO_NAME (EEXIST), ERRNO_NAME (EXDEV), ERRNO_NAME (ENODEV),
  ERRNO_NAME (ENOTDIR), ERRNO_NAME (EISDIR), ERRNO_NAME (EINVAL),
  ERRNO_NAME (ENFILE), ERRNO_NAME (EMFILE), ERRNO_NAME (ENOTTY),
  ERRNO_NAME (ETXTBSY), ERRNO_NAME (EFBIG), ERRNO_NAME (ENOSPC),
  ERRNO_NAME (ESPIPE), ERRNO_NAME (EROFS), ERRNO_NAME (EMLINK),
  ERRNO_NAME (EPIPE), ERRNO_NAME (ERANGE), ERRNO_NAME (EDEADLK),
  ERRNO_NAME (ENAMETOOLONG), ERRNO_NAME (ENOSYS), ERRNO_NAME (ENOTEMPTY),
  ERRNO_NAME (ELOOP), ERRNO_NAME (ENODATA), ERRNO_NAME (EOVERFLOW),
  ERRNO_NAME (ENOTSOCK), ERRNO_NAME (EPROTONOSUPPORT),
  /* ENOTSUP == EOPNOTSUPP on Linux. */
  ERRNO_NAME (EOPNOTSUPP), ERRNO_NAME (EAFNOSUPPORT), ERRNO_NAME (EADDRINUSE),
  ERRNO_NAME (EADDRNOTAVAIL), ERRNO_NAME (ENETDOWN), ERRNO_NAME (ENETUNREACH),
  ERRNO_NAME (ECONNRESET), ERRNO_NAME (ENOTCONN), ERRNO_NAME (ETIMEDOUT),
  ERRNO_NAME (ECONNREFUSED), ERRNO_NAME (EHOSTUNREACH), ERRNO_NAME (ESTALE),
  ERRNO_NAME (EDQUOT), ERRNO_NAME (ENOMEDIUM), ERRNO_NAME (ECANCELED),
  ERRNO_NAME (ENOKEY), ERRNO_NAME (EKEYREVOKED), ERRNO_NAME (EKEYREJECTED),
};

/* Name of errno value E ("EACCES"), or "E<number>" in BUF if unknown. */
static const char *errno_name (int e, char buf[static 24])
{
  for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (errno_names[i].num == e)
      return errno_names[i].name;
  snprintf (buf, 24, "E%d", e);
  return buf;
}

/* Print "KEY=ok" for E == 0, else "KEY=ENAME". */
static void print_errno (const char *key, int e)
{
  char buf[24];
  printf ("%s=%s\n", key, e == 0 ? "ok" : errno_name (e, buf));
}

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

/* Strict decimal parse of S into [MIN, MAX]; 0 on success, -1 if bad. */
static int parse_long (const char *s, long min, long max, long *out)
{
  char *end;
  if (!s || !*s)
    return -1;
  errno = 0;
  long v = strtol (s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* waitpid that retries on EINTR. */
static int wait_child (pid_t pid, int *status)
{
  for (;;)
    {
      if (waitpid (pid, status, 0) == pid)
        return 0;
      if (errno != EINTR)
        return -1;
    }
}

/* Read exactly LEN bytes unless EOF comes first; returns bytes read or -1. */
static ssize_t read_full (int fd, void *buf, size_t len)
{
  size_t got = 0;
  while (got < len)
    {
      ssize_t n = read (fd, (char *) buf + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      got += (size_t) n;
    }
  return (ssize_t) got;
}

/* 0 if the call returned >= 0, else the errno it set. */
static int call_errno (long ret)
{
  return ret < 0 ? errno : 0;
}

/* As call_errno, closing the descriptor a successful call returned. */
static int fd_errno (long fd)
{
  if (fd < 0)
    return errno;
  close ((int) fd);
  return 0;
}

/* ------------------------------------------------------------------ */
/* running an operation in a forked child                              */

enum outcome_kind
{
  OUTCOME_RESULT, /* the child reported an errno value (0 = success) */
  OUTCOME_SIGNAL, /* the child was killed by a signal */
  OUTCOME_EXIT,   /* the child exited without reporting */
};

struct outcome
{
  enum outcome_kind kind;
  int value; /* errno, signal number or exit status */
};

/* Run FN in a forked child; it returns 0 or an errno value, which comes
 * back through a close-on-exec pipe.  Returns 0 and fills OUT, or -1 with
 * errno set if the probe machinery itself failed. */
static int run_in_child (int (*fn) (void), struct outcome *out)
{
  int fds[2];
  if (pipe2 (fds, O_CLOEXEC) != 0)
    return -1;
  fflush (stdout);
  fflush (stderr);
  pid_t pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close (fds[0]);
      close (fds[1]);
      errno = e;
      return -1;
    }
  if (pid == 0)
    {
      close (fds[0]);
      int result = fn ();
      ssize_t n = write (fds[1], &result, sizeof result);
      _exit (n == (ssize_t) sizeof result ? 0 : 126);
    }
  close (fds[1]);
  int result = 0;
  ssize_t got = read_full (fds[0], &result, sizeof result);
  int read_errno = errno;
  close (fds[0]);

  int status = 0;
  for (;;)
    {
      if (wait_child (pid, &status) != 0)
        return -1;
      if (!WIFSTOPPED (status))
        break;
      /* Only a ptraced child (the ptrace probe) reports stops here. */
      syscall (SYS_ptrace, PTRACE_CONT, pid, NULL, (void *) (uintptr_t) WSTOPSIG (status));
    }
  if (got == (ssize_t) sizeof result)
    *out = (struct outcome) { OUTCOME_RESULT, result };
  else if (got < 0)
    {
      errno = read_errno;
      return -1;
    }
  else if (WIFSIGNALED (status))
    *out = (struct outcome) { OUTCOME_SIGNAL, WTERMSIG (status) };
  else
    *out = (struct outcome) { OUTCOME_EXIT, WEXITSTATUS (status) };
  return 0;
}

/* Print KEY=ok|ENAME|signal:N|exit:N for OUT. */
static void print_outcome (const char *key, const struct outcome *out)
{
  switch (out->kind)
    {
    case OUTCOME_RESULT:
      print_errno (key, out->value);
      break;
    case OUTCOME_SIGNAL:
      printf ("%s=signal:%d\n", key, out->value);
      break;
    case OUTCOME_EXIT:
      printf ("%s=exit:%d\n", key, out->value);
      break;
    }
}

/* Run FN in a child and print the outcome under KEY. */
static int probe_in_child (const char *key, int (*fn) (void))
{
  struct outcome out;
  if (run_in_child (fn, &out) != 0)
    {
      perror ("probe: fork");
      return EXIT_PROBE_FAIL;
    }
  print_outcome (key, &out);
  return EXIT_PROBE_OK;
}

/* ------------------------------------------------------------------ */
/* syscall probes: each returns 0 or errno, running in a forked child   */

static int sc_mount (void)
{
  int e = call_errno (syscall (SYS_mount, "none", "/tmp", "tmpfs", 0UL, NULL));
  if (e == 0)
    syscall (SYS_umount2, "/tmp", MNT_DETACH);
  return e;
}

/* umount2("/", 0) with privilege would remount the root filesystem
 * read-only.  With MNT_EXPIRE the kernel checks privilege first and then
 * refuses to expire the root mount with EINVAL: EPERM = denied. */
static int sc_umount2 (void)
{
  return call_errno (syscall (SYS_umount2, "/", MNT_EXPIRE));
}

static int sc_unshare_user (void)
{
  return call_errno (syscall (SYS_unshare, CLONE_NEWUSER));
}

static int sc_unshare_ns (void)
{
  return call_errno (syscall (SYS_unshare, CLONE_NEWNS));
}

static int sc_unshare_net (void)
{
  return call_errno (syscall (SYS_unshare, CLONE_NEWNET));
}

static int sc_unshare_pid (void)
{
  return call_errno (syscall (SYS_unshare, CLONE_NEWPID));
}

static int sc_unshare_uts (void)
{
  return call_errno (syscall (SYS_unshare, CLONE_NEWUTS));
}

static int sc_unshare_ipc (void)
{
  return call_errno (syscall (SYS_unshare, CLONE_NEWIPC));
}

static int sc_unshare_cgroup (void)
{
  return call_errno (syscall (SYS_unshare, CLONE_NEWCGROUP));
}

/* Re-join our own network namespace.  Without /proc, setns(-1) still
 * shows whether the syscall is filtered (EBADF = reached the kernel). */
static int sc_setns (void)
{
  int fd = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int e = call_errno (syscall (SYS_setns, fd, fd >= 0 ? CLONE_NEWNET : 0));
  if (fd >= 0)
    close (fd);
  return e;
}

static int sc_ptrace (void)
{
  return call_errno (syscall (SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL));
}

static int sc_kcmp (void)
{
  /* fd 0 against itself: the kernel answers 0 (a comparison, no privilege) */
  return call_errno (syscall (SYS_kcmp, getpid (), getpid (), 0 /* KCMP_FILE */, 0, 0));
}

static int sc_sethostname (void)
{
  return call_errno (syscall (SYS_sethostname, "x", 1));
}

static int sc_init_module (void)
{
  return call_errno (syscall (SYS_init_module, NULL, 0UL, ""));
}

static int sc_finit_module (void)
{
  return call_errno (syscall (SYS_finit_module, -1, "", 0));
}

static int sc_delete_module (void)
{
  return call_errno (syscall (SYS_delete_module, "nucleus_probe_nonexistent", 0));
}

/* kexec_load with no segments would unload a loaded kexec image; too many
 * segments fails with EINVAL right after the privilege check. */
static int sc_kexec_load (void)
{
  return call_errno (syscall (SYS_kexec_load, 0UL, (unsigned long) PROBE_KEXEC_SEGMENT_MAX + 1,
                              NULL, 0UL));
}

static int sc_bpf (void)
{
  uint64_t attr[16] = { 0 };
  return fd_errno (syscall (SYS_bpf, PROBE_BPF_PROG_LOAD, attr, sizeof attr));
}

static int sc_keyctl (void)
{
  return call_errno (syscall (SYS_keyctl, PROBE_KEYCTL_GET_KEYRING_ID,
                              PROBE_KEY_SPEC_SESSION_KEYRING, 0));
}

/* The process keyring belongs to this child and goes away with it. */
static int sc_add_key (void)
{
  return call_errno (syscall (SYS_add_key, "user", "nucleus-probe", "x", 1UL,
                              PROBE_KEY_SPEC_PROCESS_KEYRING));
}

static int sc_userfaultfd (void)
{
  return fd_errno (syscall (SYS_userfaultfd, 0));
}

static int sc_perf_event_open (void)
{
  uint64_t attr[16] = { 0 };
  return fd_errno (syscall (SYS_perf_event_open, attr, 0, -1, -1, 0UL));
}

/* A well-formed handle (struct file_handle: handle_bytes, handle_type,
 * bytes) naming inode 0, which cannot exist, so the kernel gets past its
 * copy-in checks to the permission check: EPERM = denied, ESTALE (or
 * another errno) = allowed. */
static int sc_open_by_handle_at (void)
{
  struct
  {
    uint32_t handle_bytes;
    int32_t handle_type;
    uint32_t ino, gen;
  } handle = { 8, 1 /* FILEID_INO32_GEN */, 0, 0 };
  return fd_errno (syscall (SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY | O_CLOEXEC));
}

/* A detached copy of the root mount; dissolved when the fd is closed. */
static int sc_open_tree (void)
{
  return fd_errno (syscall (SYS_open_tree, AT_FDCWD, "/",
                            PROBE_OPEN_TREE_CLONE | O_CLOEXEC));
}

static int sc_fsopen (void)
{
  return fd_errno (syscall (SYS_fsopen, "tmpfs", PROBE_FSOPEN_CLOEXEC));
}

/* Reap the child of a raw clone, which exits at once. */
static int reap_clone (long pid)
{
  if (pid < 0)
    return errno;
  if (pid == 0)
    _exit (0);
  int status;
  wait_child ((pid_t) pid, &status);
  return 0;
}

static int sc_clone_newuser (void)
{
  return reap_clone (syscall (SYS_clone, (unsigned long) (CLONE_NEWUSER | SIGCHLD), NULL, NULL,
                              NULL, NULL));
}

static int sc_clone3 (void)
{
  /* struct clone_args, CLONE_ARGS_SIZE_VER0: exit_signal is field 4. */
  uint64_t args[8] = { 0 };
  args[4] = SIGCHLD;
  return reap_clone (syscall (SYS_clone3, args, sizeof args));
}

static int sc_chroot (void)
{
  return call_errno (syscall (SYS_chroot, "/"));
}

/* pivot_root(".", ".") can succeed with privilege; a missing path fails
 * with ENOENT right after the privilege check. */
static int sc_pivot_root (void)
{
  return call_errno (syscall (SYS_pivot_root, PROBE_MISSING_PATH, PROBE_MISSING_PATH));
}

static int sc_swapon (void)
{
  return call_errno (syscall (SYS_swapon, PROBE_MISSING_PATH, 0));
}

/* Privilege is checked before the magic numbers, so this can never reboot:
 * EPERM = denied, EINVAL = allowed. */
static int sc_reboot (void)
{
  return call_errno (syscall (SYS_reboot, 0, 0, 0U, NULL));
}

/* acct(NULL) would switch accounting off; a missing file is ENOENT after
 * the privilege check. */
static int sc_acct (void)
{
  return call_errno (syscall (SYS_acct, PROBE_MISSING_PATH));
}

static int sc_setuid (void)
{
  return call_errno (syscall (SYS_setuid, 0));
}

static int sc_getpid (void)
{
  return call_errno (syscall (SYS_getpid));
}

static int sc_socket_unix (void)
{
  return fd_errno (syscall (SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

static int sc_socket_inet (void)
{
  return fd_errno (syscall (SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

static int sc_socket_inet6 (void)
{
  return fd_errno (syscall (SYS_socket, AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

static int sc_socket_netlink (void)
{
  return fd_errno (syscall (SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
                            PROBE_NETLINK_ROUTE));
}

/* Address families the default profile refuses (issue 16), spelled out
 * as the kernel numbers them. */
#define PROBE_AF_KEY 15
#define PROBE_AF_PACKET 17
#define PROBE_AF_BLUETOOTH 31
#define PROBE_AF_ALG 38
#define PROBE_AF_VSOCK 40
#define PROBE_VMADDR_CID_ANY 0xffffffffU
#define PROBE_VSOCK_PORT 5555

/* struct sockaddr_vm of linux/vm_sockets.h */
struct probe_sockaddr_vm
{
  sa_family_t svm_family;
  unsigned short svm_reserved1;
  unsigned int svm_port;
  unsigned int svm_cid;
  unsigned char svm_zero[4];
};

/* A vsock listener, as a workload under --network none made one: socket,
 * bind to any CID, listen; the first failure's errno.  FAMILY is passed
 * to the kernel as a 64-bit register, of which it reads the low int. */
static int vsock_listen (long family)
{
  long fd = syscall (SYS_socket, family, (long) (SOCK_STREAM | SOCK_CLOEXEC), 0L);
  if (fd < 0)
    return errno;
  struct probe_sockaddr_vm sa = { .svm_family = PROBE_AF_VSOCK, .svm_port = PROBE_VSOCK_PORT,
                                  .svm_cid = PROBE_VMADDR_CID_ANY };
  int e = 0;
  if (bind ((int) fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen ((int) fd, 1) < 0)
    e = errno;
  close ((int) fd);
  return e;
}

static int sc_socket_vsock (void)
{
  return vsock_listen (PROBE_AF_VSOCK);
}

/* AF_VSOCK with garbage in the upper half of the register: a filter that
 * compares 64 bits against "not 40" would let it through */
static int sc_socket_vsock_hibits (void)
{
  return vsock_listen ((long) (0x100000000L | PROBE_AF_VSOCK));
}

static int sc_socket_alg (void)
{
  return fd_errno (syscall (SYS_socket, PROBE_AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
}

/* needs CAP_NET_RAW too: EPERM from the kernel where the profile allows it */
static int sc_socket_packet (void)
{
  return fd_errno (syscall (SYS_socket, PROBE_AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
}

static int sc_socket_bluetooth (void)
{
  return fd_errno (syscall (SYS_socket, PROBE_AF_BLUETOOTH, SOCK_RAW | SOCK_CLOEXEC, 0));
}

static int sc_socket_key (void)
{
  return fd_errno (syscall (SYS_socket, PROBE_AF_KEY, SOCK_RAW | SOCK_CLOEXEC, 2 /* PF_KEY_V2 */));
}

static int pair_errno (long family)
{
  int sv[2];
  if (syscall (SYS_socketpair, family, (long) (SOCK_STREAM | SOCK_CLOEXEC), 0L, sv) < 0)
    return errno;
  close (sv[0]);
  close (sv[1]);
  return 0;
}

static int sc_socketpair_unix (void)
{
  return pair_errno (AF_UNIX);
}

/* the kernel says EOPNOTSUPP for AF_INET pairs; the profile refuses first */
static int sc_socketpair_inet (void)
{
  return pair_errno (AF_INET);
}

static int sc_socketpair_vsock (void)
{
  return pair_errno (PROBE_AF_VSOCK);
}

static int make_null_node (int use_mknodat)
{
  char path[64];
  snprintf (path, sizeof path, "/tmp/probe-null.%ld", (long) getpid ());
  unsigned long mode = S_IFCHR | 0600;
  unsigned long dev = makedev (1, 3);
  long r;
#ifdef SYS_mknod
  if (!use_mknodat)
    r = syscall (SYS_mknod, path, mode, dev);
  else
#endif
    r = syscall (SYS_mknodat, AT_FDCWD, path, mode, dev);
  if (r < 0)
    return errno;
  unlink (path);
  return 0;
}

static int sc_mknod (void)
{
  return make_null_node (0);
}

static int sc_mknodat (void)
{
  return make_null_node (1);
}

static int sc_personality (void)
{
  return call_errno (syscall (SYS_personality, 0xffffffffUL));
}

static int sc_io_uring_setup (void)
{
  uint64_t params[16] = { 0 }; /* struct io_uring_params is 120 bytes */
  return fd_errno (syscall (SYS_io_uring_setup, 1U, params));
}

static int sc_unknown (void)
{
  return call_errno (syscall (PROBE_UNKNOWN_SYSCALL));
}

struct syscall_probe
{
  const char *name;
  int (*fn) (void);
};

static const struct syscall_probe syscall_probes[] = {
  { "mount", sc_mount },
  { "umount2", sc_umount2 },
  { "unshare", sc_unshare_user },
  { "unshare-user", sc_unshare_user },
  { "unshare-ns", sc_unshare_ns },
  { "unshare-net", sc_unshare_net },
  { "unshare-pid", sc_unshare_pid },
  { "unshare-uts", sc_unshare_uts },
  { "unshare-ipc", sc_unshare_ipc },
  { "unshare-cgroup", sc_unshare_cgroup },
  { "setns", sc_setns },
  { "ptrace", sc_ptrace },
  { "kcmp", sc_kcmp },
  { "sethostname", sc_sethostname },
  { "init_module", sc_init_module },
  { "finit_module", sc_finit_module },
  { "delete_module", sc_delete_module },
  { "kexec_load", sc_kexec_load },
  { "bpf", sc_bpf },
  { "keyctl", sc_keyctl },
  { "add_key", sc_add_key },
  { "userfaultfd", sc_userfaultfd },
  { "perf_event_open", sc_perf_event_open },
  { "open_by_handle_at", sc_open_by_handle_at },
  { "open_tree", sc_open_tree },
  { "fsopen", sc_fsopen },
  { "clone-newuser", sc_clone_newuser },
  { "clone3", sc_clone3 },
  { "chroot", sc_chroot },
  { "pivot_root", sc_pivot_root },
  { "swapon", sc_swapon },
  { "reboot", sc_reboot },
  { "acct", sc_acct },
  { "setuid", sc_setuid },
  { "getpid", sc_getpid },
  { "socket-unix", sc_socket_unix },
  { "socket-inet", sc_socket_inet },
  { "socket-inet6", sc_socket_inet6 },
  { "socket-netlink", sc_socket_netlink },
  { "socket-vsock", sc_socket_vsock },
  { "socket-vsock-hibits", sc_socket_vsock_hibits },
  { "socket-alg", sc_socket_alg },
  { "socket-packet", sc_socket_packet },
  { "socket-bluetooth", sc_socket_bluetooth },
  { "socket-key", sc_socket_key },
  { "socketpair-unix", sc_socketpair_unix },
  { "socketpair-inet", sc_socketpair_inet },
  { "socketpair-vsock", sc_socketpair_vsock },
  { "mknod", sc_mknod },
  { "mknodat", sc_mknodat },
  { "personality", sc_personality },
  { "io_uring_setup", sc_io_uring_setup },
  { "unknown", sc_unknown },
};

/* ------------------------------------------------------------------ */
/* foreign syscall ABIs (x86-64 only)                                  */

#if defined(__x86_64__)
/* getpid through the x32 ABI: the syscall instruction with bit 30 set. */
static int abi_x32_getpid (void)
{
  long ret;
  __asm__ volatile ("syscall"
                    : "=a"(ret)
                    : "0"(39L | 0x40000000L)
                    : "rcx", "r11", "memory", "cc");
  return ret < 0 && ret > -4096 ? (int) -ret : 0;
}

/* getpid through the i386 ABI: int $0x80, result in eax. */
static int abi_i386_getpid (void)
{
  unsigned long ax = 20;
  __asm__ volatile ("int $0x80"
                    : "+a"(ax)
                    :
                    : "r8", "r9", "r10", "r11", "memory", "cc");
  int32_t ret = (int32_t) (uint32_t) ax;
  return ret < 0 && ret > -4096 ? (int) -ret : 0;
}
#endif

static int run_abi (const char *key, int (*fn) (void), int argc, char **argv)
{
  if (argc > 0 && strcmp (argv[0], "getpid") != 0)
    {
      fprintf (stderr, "probe: %s: only getpid is supported\n", key);
      return EXIT_PROBE_USAGE;
    }
  if (!fn)
    {
      printf ("%s=unsupported\n", key);
      return EXIT_PROBE_OK;
    }
  return probe_in_child (key, fn);
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

static int cmd_pid (int argc, char **argv)
{
  (void) argc, (void) argv;
  printf ("pid=%ld\nppid=%ld\n", (long) getpid (), (long) getppid ());
  return EXIT_PROBE_OK;
}

static int cmd_hostname (int argc, char **argv)
{
  (void) argc, (void) argv;
  struct utsname u;
  if (uname (&u) != 0)
    print_errno ("hostname", errno);
  else
    printf ("hostname=%s\n", u.nodename);
  return EXIT_PROBE_OK;
}

static int cmd_ids (int argc, char **argv)
{
  (void) argc, (void) argv;
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid (&ru, &eu, &su) != 0 || getresgid (&rg, &eg, &sg) != 0)
    {
      perror ("probe: getresuid");
      return EXIT_PROBE_FAIL;
    }
  printf ("uid=%lu,%lu,%lu\n", (unsigned long) ru, (unsigned long) eu, (unsigned long) su);
  printf ("gid=%lu,%lu,%lu\n", (unsigned long) rg, (unsigned long) eg, (unsigned long) sg);

  gid_t *groups = NULL;
  int n = getgroups (0, NULL);
  if (n > 0)
    {
      groups = calloc ((size_t) n, sizeof *groups);
      n = groups ? getgroups (n, groups) : -1;
    }
  if (n < 0)
    {
      perror ("probe: getgroups");
      free (groups);
      return EXIT_PROBE_FAIL;
    }
  fputs ("groups=", stdout);
  for (int i = 0; i < n; i++)
    printf ("%s%lu", i ? "," : "", (unsigned long) groups[i]);
  putchar ('\n');
  free (groups);
  return EXIT_PROBE_OK;
}

/* Capabilities and friends.  Prefers /proc/self/status; without /proc falls
 * back to capget and prctl (and says so with caps_source=syscall). */
struct status_field
{
  const char *field;
  const char *key;
};

static const struct status_field status_fields[] = {
  { "CapInh", "capinh" },
  { "CapPrm", "capprm" },
  { "CapEff", "capeff" },
  { "CapBnd", "capbnd" },
  { "CapAmb", "capamb" },
  { "NoNewPrivs", "nonewprivs" },
  { "Seccomp", "seccomp" },
  { "Seccomp_filters", "seccomp_filters" },
};
#define N_STATUS_FIELDS (sizeof status_fields / sizeof status_fields[0])

static int caps_from_syscalls (void)
{
  struct
  {
    uint32_t version;
    int pid;
  } hdr = { PROBE_CAP_VERSION_3, 0 };
  struct
  {
    uint32_t effective, permitted, inheritable;
  } data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
  if (syscall (SYS_capget, &hdr, data) != 0)
    {
      print_errno ("caps", errno);
      return EXIT_PROBE_OK;
    }
  uint64_t bnd = 0, amb = 0;
  for (int cap = 0; cap < 64; cap++)
    {
      int r = prctl (PR_CAPBSET_READ, (unsigned long) cap, 0UL, 0UL, 0UL);
      if (r < 0)
        break;
      if (r > 0)
        bnd |= UINT64_C (1) << cap;
      if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long) cap, 0UL, 0UL) > 0)
        amb |= UINT64_C (1) << cap;
    }
#define CAP64(field) ((uint64_t) data[1].field << 32 | data[0].field)
  printf ("caps_source=syscall\n");
  printf ("capinh=%016llx\n", (unsigned long long) CAP64 (inheritable));
  printf ("capprm=%016llx\n", (unsigned long long) CAP64 (permitted));
  printf ("capeff=%016llx\n", (unsigned long long) CAP64 (effective));
  printf ("capbnd=%016llx\n", (unsigned long long) bnd);
  printf ("capamb=%016llx\n", (unsigned long long) amb);
#undef CAP64
  printf ("nonewprivs=%d\n", prctl (PR_GET_NO_NEW_PRIVS, 0UL, 0UL, 0UL, 0UL));
  printf ("seccomp=%d\n", prctl (PR_GET_SECCOMP, 0UL, 0UL, 0UL, 0UL));
  return EXIT_PROBE_OK;
}

static int cmd_caps (int argc, char **argv)
{
  (void) argc, (void) argv;
  FILE *f = fopen ("/proc/self/status", "re");
  if (!f)
    return caps_from_syscalls ();

  /* Printed in the kernel's order, which is the table's order. */
  char *line = NULL;
  size_t cap = 0;
  while (getline (&line, &cap, f) >= 0)
    {
      char *colon = strchr (line, ':');
      if (!colon)
        continue;
      *colon = '\0';
      for (size_t i = 0; i < N_STATUS_FIELDS; i++)
        if (strcmp (line, status_fields[i].field) == 0)
          {
            char *v = colon + 1;
            v += strspn (v, " \t");
            v[strcspn (v, " \t\n")] = '\0';
            printf ("%s=%s\n", status_fields[i].key, v);
          }
    }
  free (line);
  fclose (f);
  return EXIT_PROBE_OK;
}

static int cmd_read (int argc, char **argv)
{
  (void) argc;
  int fd = open (argv[0], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      print_errno ("read", errno);
      return EXIT_PROBE_OK;
    }
  int e = 0;
  struct stat st;
  if (fstat (fd, &st) != 0)
    e = errno;
  else if (S_ISDIR (st.st_mode))
    {
      uint64_t buf[512];
      if (syscall (SYS_getdents64, fd, buf, sizeof buf) < 0)
        e = errno;
    }
  else
    {
      char c;
      ssize_t n;
      while ((n = read (fd, &c, 1)) < 0 && errno == EINTR)
        ;
      /* EOF is success; EAGAIN means the open worked but nothing is
       * available yet (FIFO, device). */
      if (n < 0 && errno != EAGAIN)
        e = errno;
    }
  close (fd);
  print_errno ("read", e);
  return EXIT_PROBE_OK;
}

/* size PATH: how much a file holds (read to EOF, up to 1 MiB), or how many
 * entries a directory has besides . and .. */
static int cmd_size (int argc, char **argv)
{
  (void) argc;
  int fd = open (argv[0], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      print_errno ("size", errno);
      return EXIT_PROBE_OK;
    }
  struct stat st;
  if (fstat (fd, &st) != 0)
    {
      print_errno ("size", errno);
      close (fd);
      return EXIT_PROBE_OK;
    }
  long total = 0;
  if (S_ISDIR (st.st_mode))
    {
      DIR *d = fdopendir (fd);
      if (!d)
        {
          print_errno ("size", errno);
          close (fd);
          return EXIT_PROBE_OK;
        }
      struct dirent *de;
      while ((de = readdir (d)))
        if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
          total++;
      closedir (d);
      printf ("entries=%ld\n", total);
      return EXIT_PROBE_OK;
    }
  char buf[4096];
  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          print_errno ("size", e);
          return EXIT_PROBE_OK;
        }
      if (n == 0 || (total += n) >= (1L << 20))
        break;
    }
  close (fd);
  printf ("size=%ld\n", total);
  return EXIT_PROBE_OK;
}

/* umount PATH: umount2(PATH, MNT_DETACH), as a workload would try to lift
 * a mask */
static int cmd_umount (int argc, char **argv)
{
  (void) argc;
  print_errno ("umount", call_errno (syscall (SYS_umount2, argv[0], (long) MNT_DETACH)));
  return EXIT_PROBE_OK;
}

static int cmd_write (int argc, char **argv)
{
  (void) argc;
  int fd = open (argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
  if (fd < 0)
    {
      print_errno ("write", errno);
      return EXIT_PROBE_OK;
    }
  int e = 0;
  ssize_t n;
  while ((n = write (fd, "x", 1)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    e = errno;
  else if (n != 1)
    e = EIO;
  if (close (fd) != 0 && e == 0 && errno != EINTR)
    e = errno;
  print_errno ("write", e);
  return EXIT_PROBE_OK;
}

static int cmd_exec (int argc, char **argv)
{
  (void) argc;
  /* argv is PATH ARGS... NULL: exactly the child's argument vector. */
  int fds[2];
  if (pipe2 (fds, O_CLOEXEC) != 0)
    {
      perror ("probe: pipe2");
      return EXIT_PROBE_FAIL;
    }
  fflush (stdout);
  fflush (stderr);
  pid_t pid = fork ();
  if (pid < 0)
    {
      perror ("probe: fork");
      close (fds[0]);
      close (fds[1]);
      return EXIT_PROBE_FAIL;
    }
  if (pid == 0)
    {
      close (fds[0]);
      execve (argv[0], argv, environ);
      int e = errno;
      ssize_t n = write (fds[1], &e, sizeof e);
      (void) n;
      _exit (127);
    }
  close (fds[1]);
  int exec_errno = 0;
  ssize_t got = read_full (fds[0], &exec_errno, sizeof exec_errno);
  close (fds[0]);
  int status;
  if (wait_child (pid, &status) != 0)
    {
      perror ("probe: waitpid");
      return EXIT_PROBE_FAIL;
    }
  if (got == (ssize_t) sizeof exec_errno)
    print_errno ("exec", exec_errno);
  else
    {
      printf ("exec=ok\n");
      if (WIFSIGNALED (status))
        printf ("signal=%d\n", WTERMSIG (status));
      else
        printf ("exit=%d\n", WEXITSTATUS (status));
    }
  return EXIT_PROBE_OK;
}

static int cmd_syscall (int argc, char **argv)
{
  (void) argc;
  for (size_t i = 0; i < sizeof syscall_probes / sizeof syscall_probes[0]; i++)
    if (strcmp (argv[0], syscall_probes[i].name) == 0)
      return probe_in_child (syscall_probes[i].name, syscall_probes[i].fn);
  fprintf (stderr, "probe: unknown syscall probe '%s'; known:", argv[0]);
  for (size_t i = 0; i < sizeof syscall_probes / sizeof syscall_probes[0]; i++)
    fprintf (stderr, " %s", syscall_probes[i].name);
  fputc ('\n', stderr);
  return EXIT_PROBE_USAGE;
}

static int cmd_syscall_x32 (int argc, char **argv)
{
#if defined(__x86_64__)
  return run_abi ("x32", abi_x32_getpid, argc, argv);
#else
  return run_abi ("x32", NULL, argc, argv);
#endif
}

static int cmd_syscall_i386 (int argc, char **argv)
{
#if defined(__x86_64__)
  return run_abi ("i386", abi_i386_getpid, argc, argv);
#else
  return run_abi ("i386", NULL, argc, argv);
#endif
}

static int cmd_mounts (int argc, char **argv)
{
  (void) argc, (void) argv;
  FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (!f)
    {
      print_errno ("mounts", errno);
      return EXIT_PROBE_OK;
    }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline (&line, &cap, f)) >= 0)
    {
      if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = '\0';
      printf ("mount=%s\n", line);
    }
  free (line);
  fclose (f);
  return EXIT_PROBE_OK;
}

/* Undo mountinfo's octal escapes (\040 for space etc.) in place. */
static void unescape_octal (char *s)
{
  char *out = s;
  while (*s)
    {
      if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7'
          && s[3] >= '0' && s[3] <= '7')
        {
          *out++ = (char) ((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
          s += 4;
        }
      else
        *out++ = *s++;
    }
  *out = '\0';
}

static int cmd_mountopts (int argc, char **argv)
{
  (void) argc;
  char *want = strdup (argv[0]);
  if (!want)
    {
      perror ("probe: strdup");
      return EXIT_PROBE_FAIL;
    }
  /* "/tmp/" names the same mount point as "/tmp". */
  for (size_t len = strlen (want); len > 1 && want[len - 1] == '/'; len--)
    want[len - 1] = '\0';

  FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (!f)
    {
      print_errno ("mountopts", errno);
      free (want);
      return EXIT_PROBE_OK;
    }
  char *line = NULL, *opts = NULL, *fstype = NULL, *superopts = NULL;
  size_t cap = 0;
  int rc = EXIT_PROBE_OK;
  while (getline (&line, &cap, f) >= 0)
    {
      /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
      char *save = NULL;
      char *field[6];
      int nf = 0;
      for (char *t = strtok_r (line, " \n", &save); t; t = strtok_r (NULL, " \n", &save))
        {
          field[nf++] = t;
          if (nf == 6)
            break;
        }
      if (nf < 6)
        continue;
      unescape_octal (field[4]);
      if (strcmp (field[4], want) != 0)
        continue;
      char *t;
      while ((t = strtok_r (NULL, " \n", &save)) && strcmp (t, "-") != 0)
        ;
      char *type = t ? strtok_r (NULL, " \n", &save) : NULL;
      char *source = type ? strtok_r (NULL, " \n", &save) : NULL;
      char *sopts = source ? strtok_r (NULL, " \n", &save) : NULL;
      free (opts);
      free (fstype);
      free (superopts);
      opts = strdup (field[5]);
      fstype = strdup (type ? type : "unknown");
      superopts = strdup (sopts ? sopts : "");
      if (!opts || !fstype || !superopts)
        rc = EXIT_PROBE_FAIL;
    }
  free (line);
  fclose (f);
  if (!opts)
    printf ("mountopts=none\n");
  else
    printf ("mountopts=%s\nfstype=%s\nsuperopts=%s\n", opts, fstype ? fstype : "",
            superopts ? superopts : "");
  free (opts);
  free (fstype);
  free (superopts);
  free (want);
  return rc;
}

static int cmd_env (int argc, char **argv)
{
  (void) argc, (void) argv;
  for (char **e = environ; e && *e; e++)
    printf ("env=%s\n", *e);
  return EXIT_PROBE_OK;
}

static int cmd_cwd (int argc, char **argv)
{
  (void) argc, (void) argv;
  char buf[PATH_MAX + 1];
  if (!getcwd (buf, sizeof buf))
    print_errno ("cwd", errno);
  else
    printf ("cwd=%s\n", buf);
  return EXIT_PROBE_OK;
}

static int cmd_signals (int argc, char **argv)
{
  (void) argc, (void) argv;
  sigset_t all;
  sigfillset (&all);
  /* Blocked signals are queued even when their default action is to be
   * ignored, and even when this process is a namespace's init. */
  if (sigprocmask (SIG_BLOCK, &all, NULL) != 0)
    {
      perror ("probe: sigprocmask");
      return EXIT_PROBE_FAIL;
    }
  printf ("ready\n");
  if (fflush (stdout) != 0)
    return EXIT_PROBE_FAIL;
  for (;;)
    {
      int sig = sigwaitinfo (&all, NULL);
      if (sig < 0)
        {
          if (errno == EINTR)
            continue;
          perror ("probe: sigwaitinfo");
          return EXIT_PROBE_FAIL;
        }
      printf ("signal=%d\n", sig);
      if (fflush (stdout) != 0)
        return EXIT_PROBE_FAIL;
      if (sig == SIGTERM)
        return EXIT_PROBE_OK;
    }
}

static int cmd_sleep (int argc, char **argv)
{
  (void) argc;
  char *end;
  errno = 0;
  double secs = strtod (argv[0], &end);
  if (errno != 0 || end == argv[0] || *end != '\0' || !(secs >= 0 && secs <= 1e9))
    {
      fprintf (stderr, "probe: sleep: bad duration '%s'\n", argv[0]);
      return EXIT_PROBE_USAGE;
    }
  struct timespec ts;
  ts.tv_sec = (time_t) secs;
  ts.tv_nsec = (long) ((secs - (double) ts.tv_sec) * 1e9);
  if (ts.tv_nsec > 999999999L)
    ts.tv_nsec = 999999999L;
  while (nanosleep (&ts, &ts) != 0)
    if (errno != EINTR)
      {
        perror ("probe: nanosleep");
        return EXIT_PROBE_FAIL;
      }
  return EXIT_PROBE_OK;
}

static int cmd_exit (int argc, char **argv)
{
  (void) argc;
  long code;
  if (parse_long (argv[0], 0, 255, &code) != 0)
    {
      fprintf (stderr, "probe: exit: bad status '%s'\n", argv[0]);
      return EXIT_PROBE_USAGE;
    }
  return (int) code;
}

static int cmd_kill_self (int argc, char **argv)
{
  (void) argc;
  long sig;
  if (parse_long (argv[0], 1, SIGRTMAX, &sig) != 0)
    {
      fprintf (stderr, "probe: kill-self: bad signal '%s'\n", argv[0]);
      return EXIT_PROBE_USAGE;
    }
  if (fflush (stdout) != 0)
    return EXIT_PROBE_FAIL;
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, (int) sig);
  signal ((int) sig, SIG_DFL);
  sigprocmask (SIG_UNBLOCK, &set, NULL);
  raise ((int) sig);
  /* Still here: the signal's default action is to ignore it, it stopped
   * us, or we are a namespace's init (which drops such signals). */
  printf ("kill-self=survived\n");
  return EXIT_PROBE_FAIL;
}

static int compare_int (const void *a, const void *b)
{
  int x = *(const int *) a, y = *(const int *) b;
  return (x > y) - (x < y);
}

/* What a workload could do to the files behind its standard streams:
 * each call on fds 0, 1 and 2, fdN_CALL=ok|ERRNO.  The caller checks the
 * host's files afterwards. */
static int cmd_stdio_attack (int argc, char **argv)
{
  (void) argc, (void) argv;
  for (int fd = 0; fd < 3; fd++)
    {
      char key[32];
      struct timespec old[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
      snprintf (key, sizeof key, "fd%d_fchmod", fd);
      print_errno (key, fchmod (fd, 04755) == 0 ? 0 : errno);
      snprintf (key, sizeof key, "fd%d_fchown", fd);
      print_errno (key, fchown (fd, getuid (), getgid ()) == 0 ? 0 : errno);
      snprintf (key, sizeof key, "fd%d_ftruncate", fd);
      print_errno (key, ftruncate (fd, 0) == 0 ? 0 : errno);
      snprintf (key, sizeof key, "fd%d_futimens", fd);
      print_errno (key, futimens (fd, old) == 0 ? 0 : errno);
      snprintf (key, sizeof key, "fd%d_fsetxattr", fd);
      print_errno (key, syscall (SYS_fsetxattr, fd, "user.nucleus", "x", 1, 0) == 0 ? 0 : errno);
    }
  return EXIT_PROBE_OK;
}

/* What PID 1 shows the workload: environ=, mem=, maps=, fd= (listing),
 * ptrace= (attach), vmread= (process_vm_readv), each ok|ERRNO, and
 * forge=ok|ERRNO: a write into each of /proc/1/fd/N. */
static int cmd_pid1 (int argc, char **argv)
{
  (void) argc, (void) argv;
  static const char *const files[][2] = {
    { "environ", "/proc/1/environ" }, { "maps", "/proc/1/maps" }, { "mem", "/proc/1/mem" }
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    {
      int fd = open (files[i][1], O_RDONLY | O_CLOEXEC);
      int e = fd < 0 ? errno : 0;
      char buf[256];
      if (fd >= 0 && i < 2 && read (fd, buf, sizeof buf) < 0)
        e = errno;
      if (fd >= 0 && i == 2 && pread (fd, buf, 8, 0x400000) < 0 && errno != EIO)
        e = errno;
      if (fd >= 0)
        close (fd);
      print_errno (files[i][0], e);
    }
  DIR *d = opendir ("/proc/1/fd");
  int forged = 0, e = d ? 0 : errno;
  if (d)
    {
      struct dirent *de;
      while ((de = readdir (d)))
        {
          char path[300];
          if (de->d_name[0] == '.')
            continue;
          snprintf (path, sizeof path, "/proc/1/fd/%s", de->d_name);
          int fd = open (path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
          if (fd >= 0)
            {
              int zero = 0;
              if (write (fd, &zero, sizeof zero) == sizeof zero)
                forged = 1;
              close (fd);
            }
        }
      closedir (d);
    }
  print_errno ("fd", e);
  printf ("forge=%s\n", forged ? "ok" : "none");
  print_errno ("ptrace", ptrace (PTRACE_ATTACH, 1, 0, 0) == 0 ? 0 : errno);
  char buf[8];
  struct iovec local = { buf, sizeof buf }, remote = { (void *) 0x400000, sizeof buf };
  print_errno ("vmread", syscall (SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0) >= 0 ? 0 : errno);
  return EXIT_PROBE_OK;
}

static int cmd_fds (int argc, char **argv)
{
  (void) argc, (void) argv;
  size_t n = 0, cap = 64;
  int *list = malloc (cap * sizeof *list);
  if (!list)
    {
      perror ("probe: malloc");
      return EXIT_PROBE_FAIL;
    }
  DIR *d = opendir ("/proc/self/fd");
  if (d)
    {
      int self = dirfd (d);
      struct dirent *de;
      while ((de = readdir (d)))
        {
          long fd;
          if (parse_long (de->d_name, 0, INT_MAX, &fd) != 0 || fd == self)
            continue;
          if (n == cap)
            {
              int *grown = realloc (list, 2 * cap * sizeof *list);
              if (!grown)
                {
                  perror ("probe: realloc");
                  free (list);
                  closedir (d);
                  return EXIT_PROBE_FAIL;
                }
              list = grown;
              cap *= 2;
            }
          list[n++] = (int) fd;
        }
      closedir (d);
    }
  else
    {
      /* No /proc: ask each descriptor below the limit (capped) instead. */
      struct rlimit rl;
      long max = 1024;
      if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        max = rl.rlim_cur < 65536 ? (long) rl.rlim_cur : 65536;
      for (long fd = 0; fd < max; fd++)
        {
          if (fcntl ((int) fd, F_GETFD) < 0)
            continue;
          if (n == cap)
            {
              int *grown = realloc (list, 2 * cap * sizeof *list);
              if (!grown)
                {
                  perror ("probe: realloc");
                  free (list);
                  return EXIT_PROBE_FAIL;
                }
              list = grown;
              cap *= 2;
            }
          list[n++] = (int) fd;
        }
    }
  qsort (list, n, sizeof *list, compare_int);
  fputs ("fds=", stdout);
  for (size_t i = 0; i < n; i++)
    printf ("%s%d", i ? "," : "", list[i]);
  putchar ('\n');
  free (list);
  return EXIT_PROBE_OK;
}

static const char *file_type (mode_t mode)
{
  switch (mode & S_IFMT)
    {
    case S_IFDIR: return "dir";
    case S_IFREG: return "file";
    case S_IFCHR: return "chr";
    case S_IFBLK: return "blk";
    case S_IFIFO: return "fifo";
    case S_IFLNK: return "lnk";
    case S_IFSOCK: return "sock";
    default: return "unknown";
    }
}

static int cmd_stat (int argc, char **argv)
{
  (void) argc;
  struct stat st;
  if (lstat (argv[0], &st) != 0)
    {
      print_errno ("stat", errno);
      return EXIT_PROBE_OK;
    }
  printf ("mode=%04o\n", (unsigned) (st.st_mode & 07777));
  printf ("uid=%lu\ngid=%lu\n", (unsigned long) st.st_uid, (unsigned long) st.st_gid);
  printf ("type=%s\n", file_type (st.st_mode));
  if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
    printf ("rdev=%u:%u\n", major (st.st_rdev), minor (st.st_rdev));
  return EXIT_PROBE_OK;
}

static int cmd_landlock (int argc, char **argv)
{
  (void) argc, (void) argv;
  long abi = syscall (SYS_landlock_create_ruleset, NULL, 0UL,
                      PROBE_LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 0)
    print_errno ("landlock_abi", errno);
  else
    printf ("landlock_abi=%ld\n", abi);
  return EXIT_PROBE_OK;
}

static int cmd_tty (int argc, char **argv)
{
  (void) argc, (void) argv;
  printf ("isatty0=%d\nisatty1=%d\nisatty2=%d\n", isatty (0), isatty (1), isatty (2));
  int fd = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  printf ("ctty=%s\n", fd >= 0 ? "yes" : "no");
  if (fd >= 0)
    close (fd);
  return EXIT_PROBE_OK;
}

struct limit_name
{
  const char *key;
  int resource;
};

static const struct limit_name limit_names[] = {
  { "nofile", RLIMIT_NOFILE },   { "nproc", RLIMIT_NPROC },     { "memlock", RLIMIT_MEMLOCK },
  { "core", RLIMIT_CORE },       { "cpu", RLIMIT_CPU },         { "fsize", RLIMIT_FSIZE },
  { "data", RLIMIT_DATA },       { "stack", RLIMIT_STACK },     { "rss", RLIMIT_RSS },
  { "as", RLIMIT_AS },           { "locks", RLIMIT_LOCKS },     { "sigpending", RLIMIT_SIGPENDING },
  { "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },     { "rtprio", RLIMIT_RTPRIO },
  { "rttime", RLIMIT_RTTIME },
};

static void print_rlim (rlim_t v)
{
  if (v == RLIM_INFINITY)
    fputs ("inf", stdout);
  else
    printf ("%llu", (unsigned long long) v);
}

static int cmd_limits (int argc, char **argv)
{
  (void) argc, (void) argv;
  for (size_t i = 0; i < sizeof limit_names / sizeof limit_names[0]; i++)
    {
      struct rlimit rl;
      if (getrlimit (limit_names[i].resource, &rl) != 0)
        {
          print_errno (limit_names[i].key, errno);
          continue;
        }
      printf ("%s=", limit_names[i].key);
      print_rlim (rl.rlim_cur);
      putchar (',');
      print_rlim (rl.rlim_max);
      putchar ('\n');
    }
  return EXIT_PROBE_OK;
}

static int cmd_help (int argc, char **argv);

/* ------------------------------------------------------------------ */
/* udp ADDR PORT: send one datagram, print the answer (2 s, three tries)
 * as udp=ANSWER, or udp=ERRNO / udp=TIMEOUT */
static int cmd_udp (int argc, char **argv)
{
  (void) argc;
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) atoi (argv[1])) };
  if (inet_pton (AF_INET, argv[0], &sa.sin_addr) != 1)
    return EXIT_PROBE_USAGE;
  int fd = socket (AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    {
      print_errno ("udp", errno);
      return EXIT_PROBE_OK;
    }
  for (int i = 0; i < 3; i++)
    {
      if (sendto (fd, "x", 1, 0, (struct sockaddr *) &sa, sizeof sa) < 0)
        {
          print_errno ("udp", errno);
          return EXIT_PROBE_OK;
        }
      struct pollfd p = { fd, POLLIN, 0 };
      if (poll (&p, 1, 700) == 1)
        {
          char buf[256];
          ssize_t n = recv (fd, buf, sizeof buf - 1, 0);
          if (n < 0)
            {
              print_errno ("udp", errno);
              return EXIT_PROBE_OK;
            }
          buf[n] = '\0';
          buf[strcspn (buf, "\n")] = '\0';
          printf ("udp=%s\n", buf);
          return EXIT_PROBE_OK;
        }
    }
  printf ("udp=TIMEOUT\n");
  return EXIT_PROBE_OK;
}

/* dispatch                                                            */

struct command
{
  const char *name;
  int min_args, max_args; /* max_args < 0: unlimited */
  int (*run) (int argc, char **argv);
  const char *synopsis;
};

static const struct command commands[] = {
  { "pid", 0, 0, cmd_pid, "pid=N ppid=N" },
  { "hostname", 0, 0, cmd_hostname, "hostname=NAME" },
  { "ids", 0, 0, cmd_ids, "uid=R,E,S gid=R,E,S groups=G,..." },
  { "caps", 0, 0, cmd_caps, "capinh= capprm= capeff= capbnd= capamb= nonewprivs= seccomp=" },
  { "read", 1, 1, cmd_read, "PATH: read=ok|ERRNO" },
  { "write", 1, 1, cmd_write, "PATH: write=ok|ERRNO" },
  { "size", 1, 1, cmd_size, "PATH: size=BYTES (a file, to EOF) or entries=N (a directory), or size=ERRNO" },
  { "umount", 1, 1, cmd_umount, "PATH: umount=ok|ERRNO (umount2 with MNT_DETACH)" },
  { "exec", 1, -1, cmd_exec, "PATH [ARGS]: exec=ok exit=N|signal=N, or exec=ERRNO" },
  { "syscall", 1, 1, cmd_syscall, "NAME: NAME=ok|ERRNO|signal:N" },
  { "syscall-x32", 0, 1, cmd_syscall_x32, "[getpid]: x32=ok|ERRNO|signal:N" },
  { "syscall-i386", 0, 1, cmd_syscall_i386, "[getpid]: i386=ok|ERRNO|signal:N" },
  { "mounts", 0, 0, cmd_mounts, "mount=MOUNTINFO-LINE..." },
  { "mountopts", 1, 1, cmd_mountopts, "PATH: mountopts=OPTS fstype=T superopts=S, or mountopts=none" },
  { "env", 0, 0, cmd_env, "env=KEY=VALUE..." },
  { "cwd", 0, 0, cmd_cwd, "cwd=PATH" },
  { "signals", 0, 0, cmd_signals, "ready, then signal=N per signal until SIGTERM" },
  { "sleep", 1, 1, cmd_sleep, "SECS" },
  { "exit", 1, 1, cmd_exit, "N: exit with status N" },
  { "kill-self", 1, 1, cmd_kill_self, "SIG: die by signal SIG" },
  { "fds", 0, 0, cmd_fds, "fds=0,1,2" },
  { "stdio-attack", 0, 0, cmd_stdio_attack, "fdN_fchmod= fdN_fchown= fdN_ftruncate= fdN_futimens= fdN_fsetxattr= (ok|ERRNO)" },
  { "pid1", 0, 0, cmd_pid1, "environ= maps= mem= fd= ptrace= vmread= (ok|ERRNO) forge=ok|none" },
  { "stat", 1, 1, cmd_stat, "PATH: mode=0755 uid=N gid=N type=T [rdev=MAJ:MIN]" },
  { "landlock", 0, 0, cmd_landlock, "landlock_abi=N|ERRNO" },
  { "tty", 0, 0, cmd_tty, "isatty0=0|1 isatty1=0|1 isatty2=0|1 ctty=yes|no" },
  { "limits", 0, 0, cmd_limits, "nofile=SOFT,HARD nproc= memlock= core= ... (inf = unlimited)" },
  { "udp", 2, 2, cmd_udp, "ADDR PORT: udp=ANSWER|ERRNO|TIMEOUT (one datagram, three tries)" },
  { "help", 0, 0, cmd_help, "this list" },
};

static void usage (FILE *out)
{
  fputs ("usage: probe CMD [ARGS...]\n", out);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (out, "  %-13s %s\n", commands[i].name, commands[i].synopsis);
  fputs ("syscall probes:", out);
  for (size_t i = 0; i < sizeof syscall_probes / sizeof syscall_probes[0]; i++)
    fprintf (out, " %s", syscall_probes[i].name);
  fputc ('\n', out);
}

static int cmd_help (int argc, char **argv)
{
  (void) argc, (void) argv;
  usage (stdout);
  return EXIT_PROBE_OK;
}

int main (int argc, char **argv)
{
  if (argc < 2)
    {
      usage (stderr);
      return EXIT_PROBE_USAGE;
    }
  const struct command *cmd = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      cmd = &commands[i];
  int nargs = argc - 2;
  if (!cmd)
    {
      fprintf (stderr, "probe: unknown command '%s'\n", argv[1]);
      usage (stderr);
      return EXIT_PROBE_USAGE;
    }
  if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args))
    {
      fprintf (stderr, "usage: probe %s %s\n", cmd->name, cmd->synopsis);
      return EXIT_PROBE_USAGE;
    }
  int rc = cmd->run (nargs, argv + 2);
  /* A probe whose report did not reach stdout has failed. */
  if (fflush (stdout) != 0 || ferror (stdout))
    return EXIT_PROBE_FAIL;
  return rc;
}

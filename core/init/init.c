/* init.c - nucleus-init, PID 1 of a container.
 *
 * A freestanding static program (no libc, a few kilobytes), embedded in the
 * CLI and in core.so and exec'd by the container's first process from a
 * sealed memfd once the workload is on its way (child.c).  Exec'ing it is
 * the point: the first process is a fork of the caller, so until then its
 * memory and environment are the caller's (the Lua host's strings, keys in
 * its environment); after the exec PID 1 holds nothing of them.
 *
 *   argv: nucleus-init PID     fd 0: the write end of the "ready" pipe
 *
 * It names itself, makes itself non-dumpable (so /proc/1/mem, environ and
 * fd/ are closed to the workload, which runs as the same user), confines
 * itself to the five system calls below, tells the workload side it may
 * exec (one byte on fd 0), then reaps every child, forwards every signal
 * to the workload and exits with its status (128 + N for signal N).  The
 * supervisor learns that status from the kernel (waitid on PID 1's pidfd),
 * never through a channel the workload could reach.
 *
 * Every signal is blocked when this starts (the mask survives execve), so
 * rt_sigtimedwait sees them all; a namespace init would otherwise drop the
 * signals it has no handler for.
 */
#include <asm/unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <linux/signal.h>
#include <linux/wait.h>
#include <stddef.h>

#if defined(__x86_64__)
#define NC_AUDIT_ARCH AUDIT_ARCH_X86_64
static long sys6 (long n, long a, long b, long c, long d, long e, long f)
{
  long ret;
  register long r10 __asm__ ("r10") = d;
  register long r8 __asm__ ("r8") = e;
  register long r9 __asm__ ("r9") = f;
  __asm__ volatile ("syscall"
                    : "=a"(ret)
                    : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                    : "rcx", "r11", "memory");
  return ret;
}
__asm__ (".text\n.globl _start\n_start:\n"
         "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call init_main\n  hlt\n");
#elif defined(__aarch64__)
#define NC_AUDIT_ARCH AUDIT_ARCH_AARCH64
static long sys6 (long n, long a, long b, long c, long d, long e, long f)
{
  register long x8 __asm__ ("x8") = n;
  register long x0 __asm__ ("x0") = a;
  register long x1 __asm__ ("x1") = b;
  register long x2 __asm__ ("x2") = c;
  register long x3 __asm__ ("x3") = d;
  register long x4 __asm__ ("x4") = e;
  register long x5 __asm__ ("x5") = f;
  __asm__ volatile ("svc 0"
                    : "+r"(x0)
                    : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                    : "memory");
  return x0;
}
__asm__ (".text\n.globl _start\n_start:\n  mov x0, sp\n  bl init_main\n");
#else
#error "nucleus-init: no system call stub for this architecture"
#endif

#define sys(n, a, b, c, d) sys6 ((n), (long) (a), (long) (b), (long) (c), (long) (d), 0, 0)

/* kernel sigset_t: 64 signals */
#define KSIGSET_SIZE 8

struct ksiginfo {
  int si_signo, si_errno, si_code, pad;
  char rest[112];
};

__attribute__ ((noreturn)) static void leave (int code)
{
  for (;;)
    sys (__NR_exit_group, code, 0, 0, 0);
}

/* The calls PID 1 needs from here on; any other kills it, and with it the
 * container (the kernel takes a pid namespace down with its init). */
static void confine (void)
{
#define ALLOW(nr)                                                                            \
  BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
  struct sock_filter f[] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, NC_AUDIT_ARCH, 1, 0),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    ALLOW (__NR_rt_sigtimedwait),
    ALLOW (__NR_wait4),
    ALLOW (__NR_kill),
    ALLOW (__NR_exit_group),
    ALLOW (__NR_exit),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
#undef ALLOW
  struct sock_fprog prog = { sizeof f / sizeof f[0], f };
  /* no_new_privs is set already (the workload's setup did it); a
   * filter needs it, and asking again costs nothing */
  if (sys (__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0) < 0
      || sys (__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog, 0) < 0)
    leave (125);
}

__attribute__ ((noreturn, used)) void init_main (long *sp)
{
  char **argv = (char **) (sp + 1);
  long workload = 0;
  if (sp[0] < 2)
    leave (125);
  for (const char *p = argv[1]; *p; p++)
    {
      if (*p < '0' || *p > '9' || workload > 1 << 22)
        leave (125);
      workload = workload * 10 + (*p - '0');
    }
  if (workload <= 1)
    leave (125);

  sys (__NR_prctl, PR_SET_NAME, "nucleus-init", 0, 0);
  if (sys (__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0) < 0)
    leave (125);
  /* ready: the workload side execs only after this byte (EOF without it
   * means this init failed, and the workload side gives up); by then
   * /proc/1 shows this program's name and is closed to the workload */
  char one = 1;
  if (sys (__NR_write, 0, &one, 1, 0) != 1)
    leave (125);
  sys (__NR_close, 0, 0, 0, 0);
  confine ();

  unsigned long all = ~0UL;
  for (;;)
    {
      struct ksiginfo si;
      long sig = sys (__NR_rt_sigtimedwait, &all, &si, 0, KSIGSET_SIZE);
      if (sig < 0)
        continue;
      if (sig != SIGCHLD)
        {
          sys (__NR_kill, workload, sig, 0, 0);
          continue;
        }
      for (;;)
        {
          int status = 0;
          long r = sys (__NR_wait4, -1, &status, WNOHANG, 0);
          if (r <= 0)
            break;
          if (r == workload)
            {
              int sigterm = status & 0x7f;
              leave (sigterm ? 128 + sigterm : (status >> 8) & 0xff);
            }
        }
    }
}

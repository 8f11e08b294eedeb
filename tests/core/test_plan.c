/* test_plan.c - C unit tests of the plan compiler pieces: the context tree
 * scan, seccomp compilation and canonical form, error formatting, and a
 * spawn whose setup fails (the error record path).  TAP; exit 0 on
 * success, 1 on failure (crun's tests return 77 to skip a whole file). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nucleus/nc.h"

static int n, failed;

static void ok (int cond, const char *name)
{
  printf ("%s %d - %s\n", cond ? "ok" : "not ok", ++n, name);
  if (!cond)
    failed++;
}

static void write_file (const char *path, const char *data)
{
  FILE *f = fopen (path, "w");
  fputs (data, f);
  fclose (f);
}

static const struct nc_copy *find (struct nc_plan *p, size_t first, size_t count, const char *path)
{
  for (size_t i = first; i < first + count; i++)
    if (strcmp (p->copies[i].path, path) == 0)
      return &p->copies[i];
  return NULL;
}

static void test_scan (void)
{
  char dir[] = "/tmp/nc-test-scan.XXXXXX";
  char path[512];
  if (!mkdtemp (dir))
    {
      ok (0, "mkdtemp");
      return;
    }
#define P(s) (snprintf (path, sizeof path, "%s/%s", dir, s), path)
  mkdir (P ("a"), 0755);
  mkdir (P ("a/b"), 0700);
  write_file (P ("a/b/file.txt"), "hello");
  write_file (P ("top"), "x");
  chmod (P ("top"), 04755);
  write_file (P ("id.key"), "secret");
  write_file (P (".env"), "secret");
  mkdir (P (".ssh"), 0700);
  write_file (P (".ssh/id"), "secret");
  int links = symlink ("b/file.txt", P ("a/in"));
  links |= symlink ("../../top", P ("a/b/up-ok"));
  links |= symlink ("../../../etc", P ("a/b/up-out"));
  links |= symlink ("/etc/passwd", P ("abs"));
  ok (links == 0, "scan: test tree created");

  struct nc_plan *p = nc_plan_new ();
  const char *names[] = { ".env", ".ssh" };
  const char *suffixes[] = { ".key" };
  struct nc_exclude ex = { .names = names, .nnames = 2, .suffixes = suffixes, .nsuffixes = 1 };
  struct nc_err err = { 0 };
  size_t first = 0, count = 0, skipped = 0;
  int fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int r = nc_plan_scan_tree (p, fd, &ex, 128, &first, &count, &skipped, &err);
  ok (r == 0, "scan succeeds");
  ok (count == 6, "scan: a, a/b, a/b/file.txt, top, a/in, a/b/up-ok");
  ok (skipped == 2, "scan: two symlinks leaving the tree are skipped");
  const struct nc_copy *e = find (p, first, count, "a/b/file.txt");
  ok (e && e->type == NC_COPY_REG && e->size == 5, "scan: nested file with its size");
  e = find (p, first, count, "a/b");
  ok (e && e->type == NC_COPY_DIR && e->mode == 0700, "scan: directory mode kept");
  ok (find (p, first, count, "a") < find (p, first, count, "a/b"), "scan: parents before children");
  e = find (p, first, count, "top");
  ok (e && e->mode == 0755, "scan: setuid bit dropped");
  e = find (p, first, count, "a/in");
  ok (e && e->type == NC_COPY_LNK && strcmp (e->link, "b/file.txt") == 0, "scan: inner symlink kept");
  ok (!find (p, first, count, ".env") && !find (p, first, count, "id.key")
          && !find (p, first, count, ".ssh/id"),
      "scan: excluded names, suffixes and their subtrees skipped");

  r = nc_plan_scan_tree (p, fd, &ex, 1, &first, &count, &skipped, &err);
  ok (r < 0 && strstr (err.detail, "deeper than 1 levels"), "scan: depth limit");
  close (fd);
  nc_plan_free (p);
  char cmd[600];
  snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
  if (system (cmd) != 0)
    ok (0, "cleanup");
#undef P
}

static void test_seccomp (void)
{
  struct nc_plan *p = nc_plan_new ();
  const char *allow[] = { "read", "write", "exit_group" };
  const char *bogus[] = { "read", "no_such_syscall" };
  struct nc_sc_rule rules[2] = {
    { allow, 3, SCMP_ACT_ALLOW, NULL, 0, "syscalls[1]" },
    { bogus, 2, SCMP_ACT_ALLOW, NULL, 0, "syscalls[2]" },
  };
  struct nc_sc_spec spec = { .default_action = SCMP_ACT_ERRNO (38), .rules = rules, .nrules = 1 };
  struct nc_err err = { 0 };
  ok (nc_seccomp_compile (p, &spec, &err) == 0 && p->bpf && p->bpf_len > 3, "seccomp: compiles");
  spec.nrules = 2;
  int r = nc_seccomp_compile (p, &spec, &err);
  ok (r < 0 && strstr (err.detail, "syscalls[2]: unknown syscall \"no_such_syscall\""),
      "seccomp: unknown syscall named with its entry");
  ok (nc_seccomp_use_builtin (p, "default", &err) == 0 && p->bpf_len > 100,
      "seccomp: the built-in default profile is linked in");
  ok (nc_seccomp_use_builtin (p, "nope", &err) < 0 && strstr (err.detail, "\"nope\""),
      "seccomp: unknown built-in profile");
  ok (nc_seccomp_resolve ("openat") > 0 && nc_seccomp_resolve ("bogus") < 0, "seccomp: resolve");
  nc_plan_free (p);
}

static void test_err (void)
{
  struct nc_err e = { 0 };
  char buf[256];
  nc_err_set (&e, NC_STAGE_MOUNTS, ENOENT, "bind %s", "/x");
  nc_err_format (&e, buf, sizeof buf);
  ok (strcmp (buf, "mount: bind /x: No such file or directory") == 0, "err: format");
  ok (strcmp (nc_stage_name (9999), "unknown stage") == 0, "err: unknown stage name");
}

/* A plan whose bind source does not exist: the child reports the failure
 * as a record naming the stage and path, and nothing is left running. */
static void test_spawn_failure (void)
{
  if (geteuid () != 0)
    {
      printf ("ok %d # SKIP spawn needs root\n", ++n);
      return;
    }
  struct nc_plan *p = nc_plan_new ();
  char *argv[] = { "/bin/true", NULL };
  char *envp[] = { NULL };
  struct nc_mount m = { .kind = NC_MNT_BIND, .source = "/nonexistent-nc-test",
                        .target = "/x", .src_fd = -1 };
  p->argv = argv;
  p->envp = envp;
  p->clone_flags = CLONE_NEWNS | CLONE_NEWPID;
  p->staging = "/tmp";
  p->root_opts = "mode=0755";
  p->mounts = &m;
  p->nmounts = 1;
  struct nc_proc proc;
  struct nc_err err = { 0 };
  int r = nc_spawn (p, &proc, NULL, 0, NULL, NULL, NULL, &err);
  ok (r == -ENOENT, "spawn: failure returned as -errno");
  ok (err.stage == NC_STAGE_MOUNTS && strstr (err.detail, "/nonexistent-nc-test"),
      "spawn: record carries stage and path");
  ok (waitpid (-1, NULL, WNOHANG) < 0 && errno == ECHILD, "spawn: the child was reaped");
  p->mounts = NULL;
  p->nmounts = 0;
  p->argv = (char *[]){ "/no/such/binary", NULL };
  r = nc_spawn (p, &proc, NULL, 0, NULL, NULL, NULL, &err);
  /* no /bin in this root: the exec fails with ENOENT */
  ok (r == -ENOENT && err.stage == NC_STAGE_EXEC, "spawn: exec failure reported");
  p->mounts = NULL;
  p->argv = argv;
  nc_plan_free (p);
}

int main (void)
{
  test_scan ();
  test_seccomp ();
  test_err ();
  test_spawn_failure ();
  printf ("1..%d\n", n);
  return failed ? 1 : 0;
}

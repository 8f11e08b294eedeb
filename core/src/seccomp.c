/* seccomp.c - compile a seccomp specification to BPF with libseccomp.
 *
 * Runs in: parent only (nc_seccomp_compile).  The child loads the program
 * with seccomp(2) as its last setup step; see child.c apply_seccomp.
 */
#define _GNU_SOURCE
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/seccomp.h>

#include "internal.h"

/* The built-in profiles (policies/NAME.seccomp.json), compiled once when
 * nucleus was built: libseccomp needs about 2 ms for the default profile,
 * a lookup here nothing.  The generator that produces the table links an
 * empty one (tools/embed.lua). */
extern const struct nc_sc_builtin nc_seccomp_builtins[];

int nc_seccomp_use_builtin (struct nc_plan *plan, const char *name, struct nc_err *err)
{
  for (const struct nc_sc_builtin *b = nc_seccomp_builtins; b->name; b++)
    if (strcmp (b->name, name) == 0)
      {
        plan->bpf = (struct sock_filter *) b->bpf;
        plan->bpf_len = b->bpf_len;
        plan->seccomp_flags = 0;
        return 0;
      }
  return nc_err_set (err, NC_STAGE_SECCOMP, ENOENT, "no built-in profile \"%s\"", name);
}

int nc_seccomp_resolve (const char *name)
{
  int nr = seccomp_syscall_resolve_name (name);
  return nr == __NR_SCMP_ERROR ? -1 : nr;
}

static int export_bpf (struct nc_plan *plan, scmp_filter_ctx ctx, struct nc_err *err)
{
  NC_AUTOCLOSE int fd = memfd_create ("nucleus-bpf", MFD_CLOEXEC);
  if (fd < 0)
    return nc_err_set (err, NC_STAGE_SECCOMP, errno, "memfd_create");
  int r = seccomp_export_bpf (ctx, fd);
  if (r < 0)
    return nc_err_set (err, NC_STAGE_SECCOMP, -r, "export filter");
  off_t size = lseek (fd, 0, SEEK_END);
  if (size <= 0 || size % sizeof (struct sock_filter) != 0
      || size / sizeof (struct sock_filter) > BPF_MAXINSNS)
    return nc_err_set (err, NC_STAGE_SECCOMP, E2BIG, "filter of %lld bytes", (long long) size);
  struct sock_filter *prog = nc_plan_alloc (plan, (size_t) size);
  if (!prog)
    return nc_err_set (err, NC_STAGE_SECCOMP, ENOMEM, "filter");
  if (pread (fd, prog, (size_t) size, 0) != size)
    return nc_err_set (err, NC_STAGE_SECCOMP, errno ? errno : EIO, "read filter");
  plan->bpf = prog;
  plan->bpf_len = (unsigned short) (size / sizeof (struct sock_filter));
  return 0;
}

static int same_cmp (const struct nc_sc_arg *a, const struct nc_sc_arg *b)
{
  return a->index == b->index && a->op == b->op && a->value == b->value
         && a->value_two == b->value_two;
}

static void sorted_args (const struct nc_sc_rule *r, struct nc_sc_arg out[6])
{
  for (size_t i = 0; i < r->nargs; i++)
    {
      size_t j = i;
      for (; j > 0 && out[j - 1].index > r->args[i].index; j--)
        out[j] = out[j - 1];
      out[j] = r->args[i];
    }
}

static int shares_name (const struct nc_sc_rule *a, const struct nc_sc_rule *b, const char **name)
{
  for (size_t i = 0; i < a->nnames; i++)
    for (size_t j = 0; j < b->nnames; j++)
      if (strcmp (a->names[i], b->names[j]) == 0)
        {
          *name = a->names[i];
          return 1;
        }
  return 0;
}

/* libseccomp 2.5 never returns from seccomp_rule_add when two rules of one
 * syscall begin with the same comparison, an ordering one (NE, LT, LE, GT,
 * GE) among them, and go on to compare different arguments (found by
 * fuzz_seccomp: two four-line rules hang it).  Refuse such a pair with
 * what to do instead, rather than hang. */
static int check_libseccomp_hang (const struct nc_sc_spec *spec, struct nc_err *err)
{
  for (size_t i = 0; i < spec->nrules; i++)
    for (size_t j = i + 1; j < spec->nrules; j++)
      {
        const struct nc_sc_rule *a = &spec->rules[i], *b = &spec->rules[j];
        const char *name;
        if (a->nargs == 0 || b->nargs == 0 || a->nargs > 6 || b->nargs > 6 || !shares_name (a, b, &name))
          continue;
        struct nc_sc_arg x[6], y[6];
        sorted_args (a, x);
        sorted_args (b, y);
        size_t k = 0;
        int ordering = 0;
        while (k < a->nargs && k < b->nargs && same_cmp (&x[k], &y[k]))
          {
            if (x[k].op != SCMP_CMP_EQ && x[k].op != SCMP_CMP_MASKED_EQ)
              ordering = 1;
            k++;
          }
        if (ordering && k < a->nargs && k < b->nargs && x[k].index != y[k].index)
          return nc_err_set (err, NC_STAGE_SECCOMP, EINVAL,
                             "%s, %s: \"%s\" rules sharing a non-EQ comparison, then comparing "
                             "other arguments, hang libseccomp: merge them",
                             a->where, b->where, name);
      }
  return 0;
}

int nc_seccomp_compile (struct nc_plan *plan, const struct nc_sc_spec *spec, struct nc_err *err)
{
  int hang = check_libseccomp_hang (spec, err);
  if (hang < 0)
    return hang;
  plan->seccomp_flags = (spec->log ? SECCOMP_FILTER_FLAG_LOG : 0)
                        | (spec->spec_allow ? SECCOMP_FILTER_FLAG_SPEC_ALLOW : 0);
  scmp_filter_ctx ctx = seccomp_init (spec->default_action);
  if (!ctx)
    return nc_err_set (err, NC_STAGE_SECCOMP, EINVAL, "invalid default action");
  int r = 0;
  /* Syscalls of an architecture the filter does not list kill the
   * process: x32 and i386 entry points are a classic filter bypass. */
  if ((r = seccomp_attr_set (ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0
      || (r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0
      || (r = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
    {
      nc_err_set (err, NC_STAGE_SECCOMP, -r, "filter attributes");
      goto out;
    }
  for (size_t i = 0; i < spec->narches; i++)
    {
      r = seccomp_arch_add (ctx, spec->arches[i]);
      if (r < 0 && r != -EEXIST)
        {
          nc_err_set (err, NC_STAGE_SECCOMP, -r, "architecture %u", spec->arches[i]);
          goto out;
        }
    }
  for (size_t i = 0; i < spec->nrules; i++)
    {
      const struct nc_sc_rule *rule = &spec->rules[i];
      struct scmp_arg_cmp cmp[6];
      if (rule->nargs > 6)
        {
          r = nc_err_set (err, NC_STAGE_SECCOMP, EINVAL, "%s: more than 6 args", rule->where);
          goto out;
        }
      for (size_t a = 0; a < rule->nargs; a++)
        {
          cmp[a].arg = rule->args[a].index;
          cmp[a].op = (enum scmp_compare) rule->args[a].op;
          cmp[a].datum_a = rule->args[a].value;
          cmp[a].datum_b = rule->args[a].value_two;
        }
      for (size_t n = 0; n < rule->nnames; n++)
        {
          int nr = seccomp_syscall_resolve_name (rule->names[n]);
          if (nr == __NR_SCMP_ERROR)
            {
              r = nc_err_set (err, NC_STAGE_SECCOMP, EINVAL, "%s: unknown syscall \"%s\"",
                              rule->where, rule->names[n]);
              goto out;
            }
          /* A rule equal to the default action is redundant, and
           * libseccomp refuses it. */
          if (rule->action == spec->default_action && rule->nargs == 0)
            continue;
          r = seccomp_rule_add_array (ctx, rule->action, nr, (unsigned) rule->nargs, cmp);
          if (r < 0)
            {
              nc_err_set (err, NC_STAGE_SECCOMP, -r, "%s: rule for \"%s\"", rule->where,
                          rule->names[n]);
              goto out;
            }
        }
    }
  r = export_bpf (plan, ctx, err);
out:
  seccomp_release (ctx);
  return r < 0 ? r : 0;
}

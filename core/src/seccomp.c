/* seccomp.c - compile a seccomp specification to BPF with libseccomp.
 *
 * Runs in: parent only (nc_seccomp_compile).  The child loads the program
 * with seccomp(2) as its last setup step; see child.c apply_seccomp.
 *
 * On x86_64, the rules without argument conditions are compiled here into
 * a head that finds a syscall number's action by binary search over runs
 * of numbers with the same action; libseccomp's program for the rest (the
 * conditional rules, other architectures, x32) follows it.  libseccomp
 * compares one number per allowed syscall: the default profile is 510
 * instructions from it alone and 178 this way, and the kernel's work to
 * load a filter (checking, converting and JIT-compiling it) grows with its
 * length (docs/design-measurements.md).  A syscall the head does
 * not decide on goes to libseccomp's program unchanged, so each number
 * gets the action libseccomp would give it (tests/unit/seccomp_bpf.t
 * compares the two programs over every number, architecture and a set of
 * arguments).
 */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/seccomp.h>

#include "internal.h"

/* The built-in profiles (policies/NAME.seccomp.json), compiled once when
 * nucleus was built: libseccomp's compilation of the default profile
 * would cost each start milliseconds, a lookup here nothing.  The generator that produces the table links an
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

/* Classic BPF as seccomp runs it (kernel/seccomp.c seccomp_check_filter
 * lists the instructions a filter may hold): A, X, 16 scratch words, loads
 * from seccomp_data only.  Jumps go forward only, so it ends within len
 * steps; anything the kernel would not have loaded kills, as a filter
 * that cannot be judged must refuse. */
uint32_t nc_seccomp_eval (const struct sock_filter *prog, size_t len, const struct seccomp_data *data)
{
  uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };
  size_t pc = 0;
  while (pc < len)
    {
      const struct sock_filter *f = &prog[pc++];
      uint32_t k = f->k, src = BPF_SRC (f->code) == BPF_X ? X : k;
      switch (BPF_CLASS (f->code))
        {
        case BPF_LD:
        case BPF_LDX:
          {
            uint32_t v;
            if (f->code == (BPF_LD | BPF_W | BPF_ABS))
              {
                if (k % 4 || k > sizeof *data - 4)
                  return SECCOMP_RET_KILL_PROCESS;
                memcpy (&v, (const char *) data + k, 4);
              }
            else if (BPF_MODE (f->code) == BPF_LEN && BPF_SIZE (f->code) == BPF_W)
              v = sizeof *data;
            else if (BPF_MODE (f->code) == BPF_IMM)
              v = k;
            else if (BPF_MODE (f->code) == BPF_MEM && k < BPF_MEMWORDS)
              v = M[k];
            else
              return SECCOMP_RET_KILL_PROCESS;
            if (BPF_CLASS (f->code) == BPF_LD)
              A = v;
            else
              X = v;
            break;
          }
        case BPF_ST:
        case BPF_STX:
          if (k >= BPF_MEMWORDS)
            return SECCOMP_RET_KILL_PROCESS;
          M[k] = BPF_CLASS (f->code) == BPF_ST ? A : X;
          break;
        case BPF_ALU:
          switch (BPF_OP (f->code))
            {
            case BPF_ADD: A += src; break;
            case BPF_SUB: A -= src; break;
            case BPF_MUL: A *= src; break;
            case BPF_DIV: A = src ? A / src : 0; break;
            case BPF_MOD: A = src ? A % src : 0; break;
            case BPF_AND: A &= src; break;
            case BPF_OR: A |= src; break;
            case BPF_XOR: A ^= src; break;
            case BPF_LSH: A = src < 32 ? A << src : 0; break;
            case BPF_RSH: A = src < 32 ? A >> src : 0; break;
            case BPF_NEG: A = -A; break;
            default: return SECCOMP_RET_KILL_PROCESS;
            }
          break;
        case BPF_JMP:
          {
            size_t off;
            if (BPF_OP (f->code) == BPF_JA)
              off = k;
            else
              {
                int yes;
                switch (BPF_OP (f->code))
                  {
                  case BPF_JEQ: yes = A == src; break;
                  case BPF_JGT: yes = A > src; break;
                  case BPF_JGE: yes = A >= src; break;
                  case BPF_JSET: yes = (A & src) != 0; break;
                  default: return SECCOMP_RET_KILL_PROCESS;
                  }
                off = yes ? f->jt : f->jf;
              }
            if (off >= len - pc)
              return SECCOMP_RET_KILL_PROCESS;
            pc += off;
            break;
          }
        case BPF_RET:
          if (BPF_RVAL (f->code) == BPF_X)
            return SECCOMP_RET_KILL_PROCESS;
          return BPF_RVAL (f->code) == BPF_A ? A : k;
        case BPF_MISC:
          if (BPF_MISCOP (f->code) == BPF_TAX)
            X = A;
          else
            A = X;
          break;
        default:
          return SECCOMP_RET_KILL_PROCESS;
        }
    }
  return SECCOMP_RET_KILL_PROCESS;
}

/* libseccomp's program for ctx, in plan's arena. */
static int export_bpf (struct nc_plan *plan, scmp_filter_ctx ctx, struct sock_filter **out,
                       size_t *len, struct nc_err *err)
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
  *out = prog;
  *len = (size_t) (size / sizeof (struct sock_filter));
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

/* The head's syscall numbers: x86_64 has fewer than 500. */
#define HEAD_NR_MAX 1024
enum { OUT_DEFAULT = -1, OUT_TAIL = -2 };

struct head {
  int out[HEAD_NR_MAX]; /* OUT_DEFAULT, OUT_TAIL, or 0: action[nr] */
  uint32_t action[HEAD_NR_MAX];
};

/* libseccomp's filter for spec; with h, only the rules of the numbers the
 * head leaves to it (OUT_TAIL, or outside the head's range). */
static int libseccomp_program (struct nc_plan *plan, const struct nc_sc_spec *spec,
                               const struct head *h, struct sock_filter **prog, size_t *len,
                               struct nc_err *err)
{
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
          if (h && nr >= 0 && nr < HEAD_NR_MAX && h->out[nr] != OUT_TAIL)
            continue; /* the head's */
          r = seccomp_rule_add_array (ctx, rule->action, nr, (unsigned) rule->nargs, cmp);
          if (r < 0)
            {
              nc_err_set (err, NC_STAGE_SECCOMP, -r, "%s: rule for \"%s\"", rule->where,
                          rule->names[n]);
              goto out;
            }
        }
    }
  r = export_bpf (plan, ctx, prog, len, err);
out:
  seccomp_release (ctx);
  return r < 0 ? r : 0;
}

#ifdef __x86_64__
/* Sort the rules into the head's table.  Returns 0, or 1 when the head
 * does not apply (another architecture is listed, a name libseccomp
 * cannot resolve: its own program says so). */
static int head_classify (const struct nc_sc_spec *spec, struct head *h)
{
  if (spec->no_merge)
    return 1;
  for (size_t i = 0; i < spec->narches; i++)
    if (spec->arches[i] != SCMP_ARCH_NATIVE && spec->arches[i] != SCMP_ARCH_X86_64)
      return 1;
  for (int nr = 0; nr < HEAD_NR_MAX; nr++)
    h->out[nr] = OUT_DEFAULT;
  for (size_t i = 0; i < spec->nrules; i++)
    {
      const struct nc_sc_rule *rule = &spec->rules[i];
      for (size_t n = 0; n < rule->nnames; n++)
        {
          int nr = seccomp_syscall_resolve_name (rule->names[n]);
          if (nr == __NR_SCMP_ERROR || nr >= HEAD_NR_MAX)
            return 1;
          if (nr < 0) /* not an x86_64 syscall: libseccomp's business */
            continue;
          if (rule->nargs > 0)
            h->out[nr] = OUT_TAIL;
          else if (rule->action == spec->default_action || h->out[nr] == OUT_TAIL)
            continue;
          else if (h->out[nr] == OUT_DEFAULT)
            {
              h->out[nr] = 0;
              h->action[nr] = rule->action;
            }
          else if (h->action[nr] != rule->action)
            h->out[nr] = OUT_TAIL; /* two unconditional actions: as libseccomp has it */
        }
    }
  return 0;
}

/* Runs of numbers with one outcome: lo[i] .. lo[i+1]-1 (the last up to
 * the x32 bit) have outcome key[i]: an action (>= 0), or -1, the tail. */
struct runs {
  uint32_t lo[HEAD_NR_MAX];
  int64_t key[HEAD_NR_MAX];
  size_t n;
};

static int64_t key_of (const struct nc_sc_spec *spec, const struct head *h, int nr)
{
  if (h->out[nr] == OUT_DEFAULT)
    return spec->default_action;
  return h->out[nr] == OUT_TAIL ? -1 : (int64_t) h->action[nr];
}

static size_t tree_size (size_t a, size_t b)
{
  if (b - a < 2)
    return 0;
  size_t m = a + (b - a) / 2;
  return 1 + tree_size (a, m) + tree_size (m, b);
}

struct emit {
  struct sock_filter *code;
  const struct runs *runs;
  const int64_t *rets; /* distinct actions, returned at ret_at + i */
  size_t nrets, ret_at, tail_at;
  int too_far;
};

static size_t target_of (const struct emit *e, size_t run)
{
  if (e->runs->key[run] < 0)
    return e->tail_at;
  size_t i = 0;
  while (e->rets[i] != e->runs->key[run])
    i++;
  return e->ret_at + i;
}

/* A conditional jump's offset from from to to (forward, at most 255). */
static uint8_t rel (struct emit *e, size_t from, size_t to)
{
  if (to <= from || to - from - 1 > 255)
    {
      e->too_far = 1;
      return 0;
    }
  return (uint8_t) (to - from - 1);
}

/* The search over runs a..b-1, its first instruction at pos (when it has
 * any): returns where it starts (for one run: where its outcome is). */
static size_t emit_tree (struct emit *e, size_t a, size_t b, size_t pos)
{
  if (b - a < 2)
    return target_of (e, a);
  size_t m = a + (b - a) / 2;
  size_t left = emit_tree (e, a, m, pos + 1);
  size_t right = emit_tree (e, m, b, pos + 1 + tree_size (a, m));
  e->code[pos] = (struct sock_filter) BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K, e->runs->lo[m],
                                                rel (e, pos, right), rel (e, pos, left));
  return pos;
}

/* spec's filter as head + libseccomp's program.  Returns 0, 1 when the
 * head does not apply, or -errno. */
static int compile_merged (struct nc_plan *plan, const struct nc_sc_spec *spec, struct nc_err *err)
{
  struct head *h = malloc (sizeof *h);
  struct runs *runs = malloc (sizeof *runs);
  int64_t *rets = malloc (HEAD_NR_MAX * sizeof *rets);
  int ret = 1;
  if (!h || !runs || !rets)
    {
      ret = nc_err_set (err, NC_STAGE_SECCOMP, ENOMEM, "filter");
      goto out;
    }
  if (head_classify (spec, h) != 0)
    goto out;
  runs->n = 0;
  for (int nr = 0; nr < HEAD_NR_MAX; nr++)
    if (nr == 0 || key_of (spec, h, nr) != runs->key[runs->n - 1])
      {
        runs->lo[runs->n] = (uint32_t) nr;
        runs->key[runs->n++] = key_of (spec, h, nr);
      }
  size_t nrets = 0;
  for (size_t i = 0; i < runs->n; i++)
    {
      size_t j = 0;
      while (j < nrets && rets[j] != runs->key[i])
        j++;
      if (j == nrets && runs->key[i] >= 0)
        rets[nrets++] = runs->key[i];
    }

  struct sock_filter *tail;
  size_t tail_len;
  if ((ret = libseccomp_program (plan, spec, h, &tail, &tail_len, err)) < 0)
    goto out;
  /* ld arch; not x86_64: the tail; ld nr; the x32 bit (or -1): the tail;
   * the search; one ret per action; then the tail */
  const size_t pro = 4;
  size_t tree = tree_size (0, runs->n);
  size_t head_len = pro + tree + nrets;
  ret = 1;
  if (head_len + tail_len > BPF_MAXINSNS)
    goto out;
  struct sock_filter *code = nc_plan_alloc (plan, (head_len + tail_len) * sizeof *code);
  if (!code)
    {
      ret = nc_err_set (err, NC_STAGE_SECCOMP, ENOMEM, "filter");
      goto out;
    }
  struct emit e = { code, runs, rets, nrets, pro + tree, head_len, 0 };
  code[0] = (struct sock_filter) BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch));
  code[1] = (struct sock_filter) BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0,
                                           rel (&e, 1, e.tail_at));
  code[2] = (struct sock_filter) BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr));
  size_t search = emit_tree (&e, 0, runs->n, pro);
  code[3] = (struct sock_filter) BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K, 0x40000000, rel (&e, 3, e.tail_at),
                                           rel (&e, 3, search));
  for (size_t i = 0; i < nrets; i++)
    code[pro + tree + i] = (struct sock_filter) BPF_STMT (BPF_RET | BPF_K, (uint32_t) rets[i]);
  memcpy (code + head_len, tail, tail_len * sizeof *code);
  if (e.too_far)
    goto out; /* a head too long for 8-bit jumps: libseccomp's program alone */
  plan->bpf = code;
  plan->bpf_len = (unsigned short) (head_len + tail_len);
  ret = 0;
out:
  free (h);
  free (runs);
  free (rets);
  return ret;
}
#endif

int nc_seccomp_compile (struct nc_plan *plan, const struct nc_sc_spec *spec, struct nc_err *err)
{
  int hang = check_libseccomp_hang (spec, err);
  if (hang < 0)
    return hang;
  plan->seccomp_flags = (spec->log ? SECCOMP_FILTER_FLAG_LOG : 0)
                        | (spec->spec_allow ? SECCOMP_FILTER_FLAG_SPEC_ALLOW : 0);
#ifdef __x86_64__
  int r = compile_merged (plan, spec, err);
  if (r <= 0)
    return r;
#endif
  struct sock_filter *prog;
  size_t len;
  int ret = libseccomp_program (plan, spec, NULL, &prog, &len, err);
  if (ret < 0)
    return ret;
  plan->bpf = prog;
  plan->bpf_len = (unsigned short) len;
  return 0;
}

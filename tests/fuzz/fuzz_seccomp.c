/* fuzz_seccomp.c - libFuzzer target: the seccomp profile loader, from the
 * bytes of a profile file to BPF.
 *
 *   input -> policy.seccomp(input, "fuzz.json")      (Lua, lua-cjson)
 *         -> core.plan_compile { argv = { "x" }, seccomp = profile }
 *                                                    (C: l_plan.c, seccomp.c,
 *                                                     libseccomp)
 *
 * policy.seccomp returns a table or nil and a message naming the file;
 * plan_compile returns a plan, or nil, "plan: ...", "EPLAN"; neither ever
 * raises.  A compiled plan can be described, and every file descriptor
 * opened while compiling (the memfd the BPF is exported through) is closed
 * again.  The C core is compiled into this executable with the same
 * sanitizers; the built-in profile table is empty here (profiles are given
 * as tables, never by name).
 *
 * lua-cjson is Debian's C module, loaded by require; the executable
 * exports the Lua API (-Wl,-E) for it.
 */
#include "fuzz_lua.h"

#include <fcntl.h>

#include "../../core/bind/l_core.h"
#include "nucleus/nc_plan.h"

int luaopen_nucleus_core (lua_State *L);

/* no built-in profiles (the real table is generated at build time) */
const struct nc_sc_builtin nc_seccomp_builtins[] = { { 0, 0, 0 } };

static const char harness[] =
  "local policy = require 'nucleus.policy'\n"
  "local core = require 'nucleus.core'\n"
  "assert(require 'cjson.safe', 'lua-cjson')\n"
  "local format = string.format\n"
  "local function bug(fmt, ...) error(format(fmt, ...), 0) end\n"
  "return function(input)\n"
  "  local v, err = policy.seccomp(input, 'fuzz.json')\n"
  "  if v == nil then\n"
  "    if type(err) ~= 'string' or err:sub(1, 10) ~= 'fuzz.json:' then\n"
  "      bug('policy.seccomp: error not naming the file: %s', tostring(err))\n"
  "    end\n"
  "    return\n"
  "  end\n"
  "  if type(v) ~= 'table' then bug('policy.seccomp returned a %s', type(v)) end\n"
  "  local plan, msg, code = core.plan_compile { argv = { 'x' }, seccomp = v }\n"
  "  if plan == nil then\n"
  "    if type(msg) ~= 'string' or msg:sub(1, 6) ~= 'plan: ' or code ~= 'EPLAN' then\n"
  "      bug('plan_compile: nil, %s, %s', tostring(msg), tostring(code))\n"
  "    end\n"
  "    return\n"
  "  end\n"
  "  if msg ~= nil then bug('plan_compile returned a second value: %s', tostring(msg)) end\n"
  "  local d = plan:describe()\n"
  "  if type(d) ~= 'table' or d.argv[1] ~= 'x' then bug('describe: unexpected result') end\n"
  "end\n";

static void preload (lua_State *L)
{
  luaL_requiref (L, "nucleus.core", luaopen_nucleus_core, 0);
  lua_pop (L, 1);
}

/* The lowest free descriptor: what open() would return now. */
static int lowest_free_fd (void)
{
  int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    close (fd);
  return fd;
}

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fz_init ("fuzz_seccomp", harness, preload);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* compared around this input only: libFuzzer itself keeps pipes to
   * llvm-symbolizer open once it has symbolized something */
  int before = lowest_free_fd ();
  fz_run (data, size);
  int after = lowest_free_fd ();
  if (after != before)
    {
      char link[64], target[256] = "?";
      snprintf (link, sizeof link, "/proc/self/fd/%d", before);
      ssize_t n = readlink (link, target, sizeof target - 1);
      target[n > 0 ? n : 1] = '\0';
      fprintf (stderr, "BUG: file descriptor %d (%s) left open\n", before, target);
      abort ();
    }
  return 0;
}

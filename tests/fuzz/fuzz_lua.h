/* fuzz_lua.h - the Lua side of the libFuzzer targets in tests/fuzz.
 *
 * One Lua 5.4 state per process, made once in LLVMFuzzerInitialize:
 *
 *   - package.path starts with the repository's lua/ directory, found as
 *     $NUCLEUS_FUZZ_LUA_DIR if set, else NUCLEUS_FUZZ_LUA_DIR as compiled in
 *     (-D, default "../../lua"); a relative directory is taken relative to
 *     the directory of the fuzzer executable (build/fuzz/ -> <repo>/lua).
 *   - a harness chunk (a Lua string in the target) returns check(input);
 *     check raises an error for anything that is a bug, and the C side turns
 *     that error into abort(), which libFuzzer reports as a crash.
 *
 * Lua coverage: liblua is not instrumented, so libFuzzer would see almost
 * no coverage from the Lua code under test.  A line hook feeds (function,
 * previous line, line) edges into libFuzzer's extra counters
 * (__libfuzzer_extra_counters), so inputs that take new paths through
 * toml.lua and policy.lua are kept in the corpus.  NUCLEUS_FUZZ_LUA_COV=0
 * turns it off (to compare).
 */
#ifndef NUCLEUS_FUZZ_LUA_H
#define NUCLEUS_FUZZ_LUA_H

#define _GNU_SOURCE
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NUCLEUS_FUZZ_LUA_DIR
#define NUCLEUS_FUZZ_LUA_DIR "../../lua"
#endif

#define FZ_COUNTERS (1u << 15)
__attribute__ ((section ("__libfuzzer_extra_counters"), used))
static uint8_t fz_counters[FZ_COUNTERS];

static lua_State *fz_L;
static int fz_check_ref = LUA_NOREF;
static uintptr_t fz_prev; /* the previous line's (source, line) */

static void fz_hook (lua_State *L, lua_Debug *ar)
{
  if (!lua_getinfo (L, "S", ar))
    return;
  /* ar->source points into the function's prototype: stable for the life
   * of the loaded module, so it tells the files (and chunks) apart */
  uintptr_t cur = ((uintptr_t) ar->source * 0x9E3779B97F4A7C15u) ^ (uintptr_t) ar->currentline;
  uint32_t h = (uint32_t) ((cur ^ (fz_prev >> 1)) * 0x9E3779B1u) >> 17;
  fz_prev = cur;
  uint8_t *c = &fz_counters[h & (FZ_COUNTERS - 1)];
  if (*c != 255)
    (*c)++;
}

static void fz_die (const char *fmt, const char *detail)
{
  fprintf (stderr, fmt, detail);
  fputc ('\n', stderr);
  abort ();
}

/* Directory of lua/ modules -> malloc'd string. */
static char *fz_lua_dir (void)
{
  const char *dir = getenv ("NUCLEUS_FUZZ_LUA_DIR");
  if (!dir || !*dir)
    dir = NUCLEUS_FUZZ_LUA_DIR;
  if (dir[0] == '/')
    return strdup (dir);
  char exe[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return strdup (dir); /* relative to the working directory then */
  exe[n] = '\0';
  char *slash = strrchr (exe, '/');
  *slash = '\0';
  char *out;
  if (asprintf (&out, "%s/%s", exe, dir) < 0)
    abort ();
  return out;
}

static int fz_traceback (lua_State *L)
{
  const char *msg = lua_tostring (L, 1);
  luaL_traceback (L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

/* Make the state, run preload(L) (register C modules), load the harness
 * chunk and keep the check function it returns. */
static void fz_init (const char *name, const char *harness, void (*preload) (lua_State *))
{
  lua_State *L = fz_L = luaL_newstate ();
  if (!L)
    fz_die ("%s: cannot create a Lua state", name);
  luaL_openlibs (L);
  char *dir = fz_lua_dir ();
  char probe[PATH_MAX + 32];
  snprintf (probe, sizeof probe, "%s/nucleus/toml.lua", dir);
  if (access (probe, R_OK) != 0)
    {
      fprintf (stderr, "%s: %s not found; set NUCLEUS_FUZZ_LUA_DIR to the repository's lua/\n",
               name, probe);
      exit (2);
    }
  lua_getglobal (L, "package");
  lua_pushfstring (L, "%s/?.lua;%s/?/init.lua;", dir, dir);
  lua_getfield (L, -2, "path");
  lua_concat (L, 2);
  lua_setfield (L, -2, "path");
  lua_pop (L, 1);
  free (dir);
  if (preload)
    preload (L);

  lua_pushcfunction (L, fz_traceback);
  if (luaL_loadbuffer (L, harness, strlen (harness), "=harness") != LUA_OK
      || lua_pcall (L, 0, 1, -2) != LUA_OK)
    {
      fprintf (stderr, "%s: harness failed to load: %s\n", name, lua_tostring (L, -1));
      exit (2);
    }
  if (lua_type (L, -1) != LUA_TFUNCTION)
    fz_die ("%s: the harness chunk must return a function", name);
  fz_check_ref = luaL_ref (L, LUA_REGISTRYINDEX);
  lua_settop (L, 0);
  lua_gc (L, LUA_GCCOLLECT);

  const char *cov = getenv ("NUCLEUS_FUZZ_LUA_COV");
  if (!cov || strcmp (cov, "0") != 0)
    lua_sethook (L, fz_hook, LUA_MASKLINE, 0);
}

/* check(input): a Lua error is a finding. */
static void fz_run (const uint8_t *data, size_t size)
{
  lua_State *L = fz_L;
  fz_prev = 0;
  lua_pushcfunction (L, fz_traceback);
  lua_rawgeti (L, LUA_REGISTRYINDEX, fz_check_ref);
  lua_pushlstring (L, (const char *) data, size);
  if (lua_pcall (L, 1, 0, 1) != LUA_OK)
    fz_die ("BUG: %s", lua_tostring (L, -1));
  lua_settop (L, 0);
  /* free this input's garbage now: keeps mallocs and frees balanced per
   * input, so LeakSanitizer (through libFuzzer) sees a real leak only */
  lua_gc (L, LUA_GCCOLLECT);
}

#endif

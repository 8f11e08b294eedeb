/* main.c - the nucleus CLI: a Lua 5.4 state with nucleus.core registered,
 * the lua/ modules embedded as bytecode and lua-cjson preloaded, linked as
 * one static PIE (Makefile: CLI_LIBS).
 *
 * NUCLEUS_LUA_DIR=DIR loads the Lua modules from DIR instead (development).
 * All policy and command-line handling is in lua/nucleus/cli.lua; this file
 * only hosts it and turns its result into the exit status.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "nucleus/nc.h"

int luaopen_nucleus_core (lua_State *L);
int luaopen_cjson (lua_State *L);
int luaopen_cjson_safe (lua_State *L);
/* glibc: the services of one database, in place of nsswitch.conf's */
int __nss_configure_lookup (const char *db, const char *services);

struct nc_embedded {
  const char *name;
  const unsigned char *data;
  size_t len;
};
extern const struct nc_embedded nc_embedded_modules[];

/* package.searchers entry: modules compiled into the binary. */
static int embedded_searcher (lua_State *L)
{
  const char *name = luaL_checkstring (L, 1);
  for (const struct nc_embedded *m = nc_embedded_modules; m->name; m++)
    if (strcmp (m->name, name) == 0)
      {
        if (luaL_loadbufferx (L, (const char *) m->data, m->len, m->name, "b") != LUA_OK)
          return lua_error (L);
        lua_pushstring (L, ":embedded:");
        return 2;
      }
  lua_pushfstring (L, "no embedded module '%s'", name);
  return 1;
}

static int setup_loader (lua_State *L)
{
  const char *dir = getenv ("NUCLEUS_LUA_DIR");
  lua_getglobal (L, "package");
  if (dir && *dir)
    {
      lua_getfield (L, -1, "path");
      lua_pushfstring (L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring (L, -1));
      lua_setfield (L, -3, "path");
      lua_pop (L, 1);
    }
  /* Embedded modules come right after preload, or after the file
   * searcher when a development directory was given. */
  lua_getfield (L, -1, "searchers");
  int pos = dir && *dir ? 3 : 2;
  for (int i = (int) luaL_len (L, -1); i >= pos; i--)
    {
      lua_geti (L, -1, i);
      lua_seti (L, -2, i + 1);
    }
  lua_pushcfunction (L, embedded_searcher);
  lua_seti (L, -2, pos);
  lua_pop (L, 2);
  return 0;
}

/* The Lua state's allocator.  A CLI run allocates a few hundred KiB in
 * a few thousand pieces and frees next to nothing (the collector is
 * stopped, see run): those come from a bump arena, where an allocation
 * is an addition and a free of the last piece gives it back; the rest,
 * and whatever a long-lived command allocates once the arena is used up,
 * from malloc.  The arena is MADV_DONTFORK: clone3 copies none of its
 * page tables, and the supervisor's writes to it while the container is
 * set up take no copy-on-write faults.  A child (the container's, a
 * helper's) reads nothing of the Lua state: the plan and a helper's argv
 * are C memory; the arena is not mapped in the child at all, so a slip
 * is a crash there, not a silent read of something else. */
#define ARENA_SIZE (4u << 20)
static char *arena, *arena_top, *arena_last;

static int in_arena (const void *p)
{
  return arena && (const char *) p >= arena && (const char *) p < arena + ARENA_SIZE;
}

static void *arena_alloc (size_t n)
{
  size_t need = (n + 15) & ~(size_t) 15;
  if (arena && (size_t) (arena + ARENA_SIZE - arena_top) >= need)
    {
      arena_last = arena_top;
      arena_top += need;
      return arena_last;
    }
  return malloc (n);
}

static void *l_alloc (void *ud, void *ptr, size_t osize, size_t nsize)
{
  (void) ud;
  if (nsize == 0)
    {
      if (!in_arena (ptr))
        free (ptr);
      else if (ptr == arena_last)
        arena_top = arena_last; /* the last piece: given back */
      return NULL;
    }
  if (!ptr)
    return arena_alloc (nsize);
  if (!in_arena (ptr))
    return realloc (ptr, nsize);
  if (ptr == arena_last && (size_t) (arena + ARENA_SIZE - arena_last) >= ((nsize + 15) & ~(size_t) 15))
    {
      arena_top = arena_last + ((nsize + 15) & ~(size_t) 15); /* grows in place */
      return ptr;
    }
  if (nsize <= osize)
    return ptr;
  void *n = arena_alloc (nsize);
  if (n)
    memcpy (n, ptr, osize);
  return n;
}

/* An internal error is one line (its message, newlines folded); the
 * traceback only with NUCLEUS_DEBUG set. */
static int traceback (lua_State *L)
{
  const char *msg = lua_tostring (L, 1);
  if (getenv ("NUCLEUS_DEBUG"))
    {
      luaL_traceback (L, L, msg ? msg : "(error object is not a string)", 1);
      return 1;
    }
  luaL_gsub (L, msg ? msg : "(error object is not a string)", "\n", " ");
  return 1;
}

static int run (lua_State *L)
{
  int argc = (int) lua_tointeger (L, 1);
  char **argv = lua_touserdata (L, 2);
  /* A CLI run allocates a few hundred KiB before its container starts:
   * collecting garbage would only cost start-up time.  cli.lua restarts
   * the collector once the container runs, and at once for other verbs. */
  lua_gc (L, LUA_GCSTOP);
  /* the standard libraries the modules use (not coroutine, not debug) */
  static const luaL_Reg libs[] = {
    { LUA_GNAME, luaopen_base },         { LUA_LOADLIBNAME, luaopen_package },
    { LUA_TABLIBNAME, luaopen_table },   { LUA_IOLIBNAME, luaopen_io },
    { LUA_OSLIBNAME, luaopen_os },       { LUA_STRLIBNAME, luaopen_string },
    { LUA_MATHLIBNAME, luaopen_math },   { LUA_UTF8LIBNAME, luaopen_utf8 },
  };
  for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++)
    {
      luaL_requiref (L, libs[i].name, libs[i].func, 1);
      lua_pop (L, 1);
    }
  luaL_requiref (L, "nucleus.core", luaopen_nucleus_core, 0);
  /* what this binary's user database lookups see: its files only (the
   * agent asks getent(1) for a name they lack) */
  lua_pushboolean (L, 1);
  lua_setfield (L, -2, "nss_files_only");
  lua_pop (L, 1);
  luaL_getsubtable (L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction (L, luaopen_cjson);
  lua_setfield (L, -2, "cjson");
  lua_pushcfunction (L, luaopen_cjson_safe);
  lua_setfield (L, -2, "cjson.safe");
  lua_pop (L, 1);
  setup_loader (L);
  lua_getglobal (L, "require");
  lua_pushliteral (L, "nucleus.cli");
  lua_call (L, 1, 1);
  lua_getfield (L, -1, "main");
  lua_createtable (L, argc, 0);
  for (int i = 1; i < argc; i++)
    {
      lua_pushstring (L, argv[i]);
      lua_rawseti (L, -2, i);
    }
  lua_call (L, 1, 1);
  return 1;
}

int main (int argc, char **argv)
{
  /* A static glibc reads passwd and group files itself but would load the
   * other services of nsswitch.conf (systemd, sss, ...) as shared objects,
   * which it cannot: files only (protocols and hosts too, for the name
   * lookups libnl links in, which nucleus does not call). */
  __nss_configure_lookup ("passwd", "files");
  __nss_configure_lookup ("group", "files");
  __nss_configure_lookup ("initgroups", "files");
  __nss_configure_lookup ("protocols", "files");
  __nss_configure_lookup ("hosts", "files");
  /* 0-2 exist, so that no fd of ours lands there and is taken for our
   * stdio by the relay of the workload's (crun#1702). */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl (fd, F_GETFD) < 0)
      {
        int n = open ("/dev/null", O_RDWR);
        if (n >= 0 && n != fd)
          close (n);
      }

  arena = mmap (NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (arena == MAP_FAILED)
    arena = NULL;
  else
    madvise (arena, ARENA_SIZE, MADV_DONTFORK);
  arena_top = arena_last = arena;
  lua_State *L = lua_newstate (l_alloc, NULL);
  if (!L)
    {
      fputs ("nucleus: cannot create the Lua state\n", stderr);
      return NC_EXIT_SETUP;
    }
  lua_pushcfunction (L, traceback);
  lua_pushcfunction (L, run);
  lua_pushinteger (L, argc);
  lua_pushlightuserdata (L, argv);
  int status = NC_EXIT_SETUP;
  if (lua_pcall (L, 2, 1, 1) != LUA_OK)
    fprintf (stderr, "nucleus: internal error: %s\n", lua_tostring (L, -1));
  else if (lua_isinteger (L, -1))
    status = (int) lua_tointeger (L, -1);
  fflush (stdout);
  /* Skip lua_close: the process is ending, and closing the state would
   * only walk the heap. */
  _exit (status);
}

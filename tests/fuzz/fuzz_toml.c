/* fuzz_toml.c - libFuzzer target: lua/nucleus/toml.lua and the TOML policy
 * loaders of lua/nucleus/policy.lua (caps, landlock).
 *
 * For every input (the bytes of a would-be TOML document):
 *   1. toml.decode(input) returns a table, or nil and one line
 *      "LINE:COL: message" (LINE within the document, never an
 *      "internal error"); it never raises;
 *   2. a decoded document is well formed: string keys, values of TOML
 *      types only (type_of), valid UTF-8 strings, arrays that are
 *      sequences, date/time fields in range, no table reachable twice;
 *   3. toml.decode(input, { positions = true }) gives the same result (or
 *      the same error), plus a positions table whose lines are in range;
 *   4. policy.caps and policy.landlock (ABI 0, 1, 6) return a value or
 *      nil and a message naming the file; they never raise.
 * Anything else raises in the harness below, and fz_run aborts.
 *
 * nucleus.policy requires nucleus.core, which caps and landlock do not use:
 * an empty table stands in for it, so this target is pure Lua.
 */
#include "fuzz_lua.h"

static const char harness[] =
  "local toml = require 'nucleus.toml'\n"
  "local policy = require 'nucleus.policy'\n"
  "local mtype, utf8len, format = math.type, utf8.len, string.format\n"
  "local function bug(fmt, ...) error(format(fmt, ...), 0) end\n"
  "\n"
  "-- nil, err from decode: one line, LINE:COL within the document\n"
  "local function check_error(what, input, err)\n"
  "  if type(err) ~= 'string' then bug('%s: error is a %s, not a string', what, type(err)) end\n"
  "  local l, c = err:match('^(%d+):(%d+): .')\n"
  "  if not l then bug('%s: error without \"LINE:COL: \": %q', what, err) end\n"
  "  if err:find('[\\r\\n]') then bug('%s: multi-line error: %q', what, err) end\n"
  "  if err:find('internal error', 1, true) then bug('%s: %s', what, err) end\n"
  "  local _, nl = input:gsub('\\n', '')\n"
  "  if tonumber(l) < 1 or tonumber(l) > nl + 1 or tonumber(c) < 1 then\n"
  "    bug('%s: position out of the document (%d lines): %q', what, nl + 1, err)\n"
  "  end\n"
  "end\n"
  "\n"
  "local DT = { ['datetime'] = true, ['datetime-local'] = true, ['date-local'] = true,\n"
  "             ['time-local'] = true }\n"
  "local function range(d, k, lo, hi)\n"
  "  local x = d[k]\n"
  "  if mtype(x) ~= 'integer' or x < lo or x > hi then\n"
  "    bug('%s %q: %s = %s out of [%d, %d]', d.kind, tostring(d.text), k, tostring(x), lo, hi)\n"
  "  end\n"
  "end\n"
  "local function check_datetime(d, t)\n"
  "  if type(d.text) ~= 'string' or tostring(d) ~= d.text then bug('%s without its text', t) end\n"
  "  if t ~= 'time-local' then range(d, 'year', 0, 9999); range(d, 'month', 1, 12); range(d, 'day', 1, 31) end\n"
  "  if t ~= 'date-local' then\n"
  "    range(d, 'hour', 0, 23); range(d, 'minute', 0, 59); range(d, 'second', 0, 60)\n"
  "    range(d, 'nanosecond', 0, 999999999)\n"
  "  end\n"
  "  if t == 'datetime' then range(d, 'offset', -24 * 60 + 1, 24 * 60 - 1) end\n"
  "end\n"
  "\n"
  "-- walk a decoded document without recursion (it may be deep)\n"
  "local function check_doc(root)\n"
  "  if toml.type_of(root) ~= 'table' then bug('decode returned a %s', toml.type_of(root) or type(root)) end\n"
  "  local seen, stack, n = { [root] = true }, { root }, 1\n"
  "  while n > 0 do\n"
  "    local v = stack[n]; stack[n] = nil; n = n - 1\n"
  "    local t = toml.type_of(v)\n"
  "    if t == nil then bug('a value of Lua type %s', type(v)) end\n"
  "    if t == 'table' or t == 'array' then\n"
  "      local len = t == 'array' and #v or 0\n"
  "      for k, x in pairs(v) do\n"
  "        if t == 'table' and type(k) ~= 'string' then bug('a table key of type %s', type(k)) end\n"
  "        if t == 'array' and (mtype(k) ~= 'integer' or k < 1 or k > len) then\n"
  "          bug('an array that is not a sequence (key %s, length %d)', tostring(k), len)\n"
  "        end\n"
  "        if type(x) == 'table' then\n"
  "          if seen[x] then bug('a table reachable twice (key %s)', tostring(k)) end\n"
  "          seen[x] = true\n"
  "        end\n"
  "        n = n + 1; stack[n] = x\n"
  "      end\n"
  "    elseif t == 'string' then\n"
  "      if not utf8len(v) then bug('a string that is not UTF-8: %q', v) end\n"
  "    elseif DT[t] then\n"
  "      check_datetime(v, t)\n"
  "    end\n"
  "  end\n"
  "  return seen\n"
  "end\n"
  "\n"
  "local function same(a, b)\n"
  "  local sa, sb, n = { a }, { b }, 1\n"
  "  while n > 0 do\n"
  "    local x, y = sa[n], sb[n]; sa[n], sb[n] = nil, nil; n = n - 1\n"
  "    if type(x) ~= type(y) or mtype(x) ~= mtype(y) then return false end\n"
  "    if type(x) == 'table' then\n"
  "      if getmetatable(x) ~= getmetatable(y) then return false end\n"
  "      for k, v in pairs(x) do\n"
  "        if y[k] == nil then return false end\n"
  "        n = n + 1; sa[n], sb[n] = v, y[k]\n"
  "      end\n"
  "      for k in pairs(y) do if x[k] == nil then return false end end\n"
  "    elseif x ~= y and (x == x or y == y) then\n"
  "      return false\n"
  "    end\n"
  "  end\n"
  "  return true\n"
  "end\n"
  "\n"
  "local function check_policy(what, input, v, err)\n"
  "  if v == nil then\n"
  "    if type(err) ~= 'string' or err:sub(1, 10) ~= 'fuzz.toml:' then\n"
  "      bug('%s: error not naming the file: %s', what, tostring(err))\n"
  "    end\n"
  "    if err:find('internal error', 1, true) then bug('%s: %s', what, err) end\n"
  "  elseif type(v) ~= 'table' then\n"
  "    bug('%s returned a %s', what, type(v))\n"
  "  end\n"
  "end\n"
  "\n"
  "return function(input)\n"
  "  local v, err = toml.decode(input)\n"
  "  local pv, pos = toml.decode(input, { positions = true })\n"
  "  if v == nil then\n"
  "    check_error('decode', input, err)\n"
  "    if pv ~= nil or pos ~= err then\n"
  "      bug('decode with positions differs: %s / %s', tostring(err), tostring(pos))\n"
  "    end\n"
  "  else\n"
  "    if err ~= nil then bug('decode returned a second value: %s', tostring(err)) end\n"
  "    local seen = check_doc(v)\n"
  "    if pv == nil then bug('decode with positions failed: %s', tostring(pos)) end\n"
  "    if not same(v, pv) then bug('decode with positions decodes differently') end\n"
  "    if type(pos) ~= 'table' then bug('positions: a %s', type(pos)) end\n"
  "    local pseen = check_doc(pv)\n"
  "    local _, nl = input:gsub('\\n', '')\n"
  "    for c, m in pairs(pos) do\n"
  "      if not pseen[c] then bug('positions: a container not in the document') end\n"
  "      for k, line in pairs(m) do\n"
  "        if mtype(line) ~= 'integer' or line < 1 or line > nl + 1 then\n"
  "          bug('positions: key %s at line %s of %d', tostring(k), tostring(line), nl + 1)\n"
  "        end\n"
  "      end\n"
  "    end\n"
  "  end\n"
  "  check_policy('policy.caps', input, policy.caps(input, 'fuzz.toml'))\n"
  "  for _, abi in ipairs { 0, 1, 6 } do\n"
  "    check_policy('policy.landlock(abi ' .. abi .. ')', input, policy.landlock(input, 'fuzz.toml', abi))\n"
  "  end\n"
  "  local kind = policy.kind_of('fuzz', input)\n"
  "  if kind ~= 'seccomp' and kind ~= 'caps' and kind ~= 'landlock' then bug('kind_of: %s', tostring(kind)) end\n"
  "end\n";

static void preload (lua_State *L)
{
  luaL_getsubtable (L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_newtable (L);
  lua_setfield (L, -2, "nucleus.core");
  lua_pop (L, 1);
}

int LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fz_init ("fuzz_toml", harness, preload);
  return 0;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fz_run (data, size);
  return 0;
}

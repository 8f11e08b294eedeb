#!/usr/bin/env lua5.4
-- The seccomp compiler's head (core/src/seccomp.c): on x86_64, rules
-- without argument conditions become a binary search over runs of syscall
-- numbers, in front of libseccomp's program for the rest.  Each program is
-- run here by a classic-BPF interpreter over every syscall number, the
-- architectures the kernel may report, x32 numbers and a set of argument
-- values, and must give exactly the action libseccomp's program alone
-- gives: for the default profile and for generated ones.
local src = debug.getinfo(1, "S").source:sub(2)
package.path = (src:match("^(.*)/[^/]+$") or ".") .. "/../lib/?.lua;" .. package.path
local tap = require "tap"
local root = tap.tree()
local ok_core, core = pcall(require, "nucleus.core")
if not ok_core then tap.skip_all("the C core is not built (make)") end
if not pcall(require, "cjson.safe") then tap.skip_all("lua-cjson is not installed (make deps)") end
local policy = require "nucleus.policy"
local arch = io.popen("uname -m"):read("l")
if arch ~= "x86_64" then tap.skip_all("the head is built on x86_64 only (this is " .. arch .. ")") end

-- classic BPF as seccomp runs it: A, X, 16 scratch words, seccomp_data
local function run(prog, data)
  local A, X, M = 0, 0, {}
  local pc = 1
  for _ = 1, 100000 do
    local ins = prog[pc]
    if not ins then error("ran off the end at " .. pc) end
    local c, jt, jf, k = ins[1], ins[2], ins[3], ins[4]
    pc = pc + 1
    if c == 0x20 then A = data(k)                            -- ld [k]
    elseif c == 0x00 then A = k                              -- ld #k
    elseif c == 0x01 then X = k                              -- ldx #k
    elseif c == 0x60 then A = M[k] or 0                      -- ld M[k]
    elseif c == 0x61 then X = M[k] or 0                      -- ldx M[k]
    elseif c == 0x02 then M[k] = A                           -- st M[k]
    elseif c == 0x03 then M[k] = X                           -- stx M[k]
    elseif c == 0x07 then X = A                              -- tax
    elseif c == 0x87 then A = X                              -- txa
    elseif c == 0x54 then A = A & k                          -- and #k
    elseif c == 0x44 then A = A | k                          -- or #k
    elseif c == 0x04 then A = (A + k) & 0xffffffff           -- add #k
    elseif c == 0x14 then A = (A - k) & 0xffffffff           -- sub #k
    elseif c == 0x05 then pc = pc + k                        -- ja
    elseif c == 0x15 then pc = pc + (A == k and jt or jf)    -- jeq #k
    elseif c == 0x25 then pc = pc + (A > k and jt or jf)     -- jgt #k
    elseif c == 0x35 then pc = pc + (A >= k and jt or jf)    -- jge #k
    elseif c == 0x45 then pc = pc + ((A & k) ~= 0 and jt or jf) -- jset #k
    elseif c == 0x1d then pc = pc + (A == X and jt or jf)    -- jeq x
    elseif c == 0x2d then pc = pc + (A > X and jt or jf)     -- jgt x
    elseif c == 0x3d then pc = pc + (A >= X and jt or jf)    -- jge x
    elseif c == 0x06 then return k                           -- ret #k
    elseif c == 0x16 then return A                           -- ret a
    else error(("opcode 0x%x at %d"):format(c, pc - 1)) end
  end
  error("no return")
end

local function decode(bytes)
  local prog = {}
  for j = 1, #bytes, 8 do
    local c, jt, jf, k = string.unpack("<I2I1I1I4", bytes, j)
    prog[#prog + 1] = { c, jt, jf, k }
  end
  return prog
end

-- seccomp_data: nr, arch, instruction pointer, six 64-bit arguments
local function data_of(nr, a, args)
  return function(off)
    if off == 0 then return nr & 0xffffffff end
    if off == 4 then return a end
    if off < 16 then return 0 end
    local i, hi = (off - 16) // 8, (off - 16) % 8 == 4
    local v = args[i + 1] or 0
    return hi and (v >> 32) & 0xffffffff or v & 0xffffffff
  end
end

local X86_64, I386, AARCH64 = 0xc000003e, 0x40000003, 0xc00000b7
local ARGS = {
  {}, { 0x7e020000 }, { 0x20000 }, { 8 }, { 0xffffffff }, { 0x100000000 }, { 0x20008 },
  { 0x11, 0x22, 0x33 }, { -1, -1, -1, -1, -1, -1 },
  { 1 }, { 2 }, { 10 }, { 16 }, { 40 }, { 0x100000028 }, { 13 },
}

-- compare the two programs of a profile table; returns the number of
-- inputs that differ (and reports the first), the lengths
local function compare(profile, label, nrs_max, arg_sets)
  local okm, bm = pcall(core.seccomp_export, profile)
  local okp, bp = pcall(core.seccomp_export, profile, { merge = false })
  if okm ~= okp or (not okm and bm ~= bp) then
    io.write("# ", label, ": ", tostring(bm), " against libseccomp's ", tostring(bp), "\n")
    return 1
  end
  if not okm then return nil, bm end -- refused alike
  local merged, plain = decode(bm), decode(bp)
  local diff, first = 0, nil
  local function check(nr, a, args)
    local d = data_of(nr, a, args)
    local x, y = run(merged, d), run(plain, d)
    if x ~= y then
      diff = diff + 1
      first = first or ("nr %d arch 0x%x args %s: 0x%x against libseccomp's 0x%x"):format(nr, a,
        table.concat(args, ","), x, y)
    end
  end
  for _, args in ipairs(arg_sets) do
    for nr = -1, nrs_max do
      check(nr, X86_64, args)
      check(nr | 0x40000000, X86_64, args)
      check(nr, I386, args)
    end
    check(5, AARCH64, args)
  end
  if first then io.write("# ", label, ": ", first, "\n") end
  return diff, #merged, #plain
end

local f = assert(io.open(root .. "/policies/default.seccomp.json"))
local default = assert(policy.seccomp(f:read("a"), "default.seccomp.json"))
f:close()
local diff, m, p = compare(default, "default", 1100, ARGS)
tap.is(diff, 0, "the default profile: the same action for every number, architecture and argument set")
tap.ok(m < p / 2, ("... in %d instructions instead of libseccomp's %d"):format(m, p))

-- socket(2) and socketpair(2) by address family (issue 16): an allow-list,
-- everything else EAFNOSUPPORT; all 64 bits of the argument count (the
-- kernel reads an int: 0x100000028 would be AF_VSOCK to it)
local ALLOW, EAFNOSUPPORT = 0x7fff0000, 0x00050000 | 97
local SOCKET, SOCKETPAIR = 41, 53
local families = { -1, 0xffffffff, 0x80000001, 0x100000001, 0x100000002, 0x10000000a, 0x100000010,
                   0x100000028, 0xffffffff00000001 }
for fam = 0, 64 do families[#families + 1] = fam end
local prog = decode(core.seccomp_export(default))
for _, call in ipairs { { "socket", SOCKET, { [1] = true, [2] = true, [10] = true, [16] = true } },
                        { "socketpair", SOCKETPAIR, { [1] = true } } } do
  local name, nr, allowed = call[1], call[2], call[3]
  local wrong = {}
  for _, fam in ipairs(families) do
    local want = allowed[fam] and ALLOW or EAFNOSUPPORT
    local got = run(prog, data_of(nr, X86_64, { fam, 1, 0 }))
    if got ~= want then wrong[#wrong + 1] = ("%#x: %#x"):format(fam, got) end
  end
  tap.is(table.concat(wrong, ", "), "",
    ("%s: families %s allowed, every other one (and any upper bits) EAFNOSUPPORT"):format(name,
      name == "socket" and "1, 2, 10, 16" or "1"))
end

-- the production profile, derived at build time from the default by
-- policies/production.seccomp-overlay.json: what agents need to debug
-- their own processes (ptrace, process_vm_*), refused; privileged calls
-- refused with EPERM in both (software reads ENOSYS as "not implemented")
do
  local gen = loadfile(root .. "/build/lua/nucleus/policies.lua")
  if gen and pcall(require, "cjson") then
    local prod_tbl = gen()["production.seccomp.json"]
    local production = assert(policy.seccomp(require("cjson").encode(prod_tbl), "production.seccomp.json"))
    local dprog, pprog = decode(core.seccomp_export(default)), decode(core.seccomp_export(production))
    local EPERM = 0x00050000 | 1
    local want = {
      { "ptrace", 101, ALLOW, EPERM }, { "process_vm_readv", 310, ALLOW, EPERM },
      { "process_vm_writev", 311, ALLOW, EPERM }, { "sethostname", 170, EPERM, EPERM },
      { "setdomainname", 171, EPERM, EPERM }, { "modify_ldt", 154, EPERM, EPERM },
      { "fanotify_init", 300, EPERM, EPERM }, { "get_mempolicy", 239, ALLOW, ALLOW },
      { "getpid", 39, ALLOW, ALLOW }, { "mount", 165, EPERM, EPERM },
    }
    local wrong = {}
    for _, w in ipairs(want) do
      local d = run(dprog, data_of(w[2], X86_64, { 0, 0, 0 }))
      local p = run(pprog, data_of(w[2], X86_64, { 0, 0, 0 }))
      if d ~= w[3] or p ~= w[4] then wrong[#wrong + 1] = ("%s: %#x %#x"):format(w[1], d, p) end
    end
    tap.is(table.concat(wrong, ", "), "", "default and production profiles: ptrace and process_vm_* allowed in one, "
      .. "refused in the other; privileged calls EPERM in both")
    local diff2 = compare(production, "production", 1100, ARGS)
    tap.is(diff2, 0, "the production profile: the same action as libseccomp's for every number and argument set")
  else
    tap.skip("build/lua/nucleus/policies.lua not built, or no lua-cjson", 2)
  end
end

-- generated profiles: unconditional and conditional rules of several
-- actions on overlapping names, both default actions
local NAMES = { "read", "write", "open", "close", "clone", "personality", "mmap", "socket",
                "ioctl", "kill", "getpid", "futex", "execve", "mount", "ptrace", "unshare",
                "setns", "chmod", "fchmod", "socketcall", "ipc", "time", "openat2", "clone3" }
local ACTIONS = { "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_LOG",
                  "SCMP_ACT_TRACE" }
local OPS = { "SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ" }
local seed = 20261129
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed % n + 1
end
local generated, failures, compiled = 200, 0, 0
for g = 1, generated do
  local prof = { defaultAction = ({ "SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW" })[rand(2)], syscalls = {} }
  -- a run of consecutive numbers too (read .. close are 0 .. 3)
  for _ = 1, rand(8) do
    local names, seen = {}, {}
    for _ = 1, rand(6) do
      local n = NAMES[rand(#NAMES)]
      if not seen[n] then seen[n] = true; names[#names + 1] = n end
    end
    local rule = { names = names, action = ACTIONS[rand(#ACTIONS)] }
    if rule.action == "SCMP_ACT_ERRNO" then rule.errnoRet = rand(40) end
    if rand(3) == 1 then
      -- one comparison per rule: two rules of one syscall that compare
      -- different arguments are refused (libseccomp 2.5 hangs on them)
      local op = OPS[rand(#OPS)]
      rule.args = { { index = 0, value = rand(4) == 1 and 0x20000 or rand(16), op = op,
                      valueTwo = op == "SCMP_CMP_MASKED_EQ" and rand(16) or nil } }
    end
    prof.syscalls[#prof.syscalls + 1] = rule
  end
  local v = assert(policy.seccomp(require("cjson").encode(prof), "gen.json"))
  local d = compare(v, "generated " .. g, 500, { {}, { 0x20000 }, { 7 }, { 0x100000003 } })
  if d then compiled = compiled + 1 end
  if d ~= nil and d ~= 0 then failures = failures + 1 end
end
tap.ok(compiled >= generated // 2, ("%d of %d generated profiles compiled"):format(compiled, generated))
tap.is(failures, 0, "generated profiles: the same action for every input, or refused alike")

-- trace mode's judge (core/src/seccomp.c nc_seccomp_eval, which the
-- supervisor runs on every call): the action the interpreter above gives,
-- for the programs of the default profile (merged and libseccomp's) and
-- of a multi-architecture profile
local multi = assert(policy.seccomp([[{"defaultAction":"SCMP_ACT_ERRNO","architectures":
  ["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
  {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,
  "op":"SCMP_CMP_MASKED_EQ"}]},{"names":["socket"],"action":"SCMP_ACT_ERRNO","errnoRet":97,
  "args":[{"index":0,"value":16,"op":"SCMP_CMP_GT"}]}]}]], "multi.json"))
for _, case in ipairs { { "the default profile's program", default },
                        { "libseccomp's program of the default profile", default, { merge = false } },
                        { "a multi-architecture profile's program", multi } } do
  local bytes = core.seccomp_export(case[2], case[3])
  local prog = decode(bytes)
  local diff, first, n = 0, nil, 0
  for _, args in ipairs(ARGS) do
    for nr = -1, 1100 do
      for _, c in ipairs { { nr, X86_64 }, { nr | 0x40000000, X86_64 }, { nr, I386 }, { nr, AARCH64 } } do
        local want = run(prog, data_of(c[1], c[2], args))
        local got = core.seccomp_eval(bytes, c[1], c[2], args)
        n = n + 1
        if got ~= want then
          diff = diff + 1
          first = first or ("nr %d arch %#x args %s: %#x, not %#x"):format(c[1], c[2], table.concat(args, ","), got, want)
        end
      end
    end
  end
  if first then io.write("# ", first, "\n") end
  tap.is(diff, 0, ("the trace judge, on %s: the interpreter's action for each of %d calls"):format(case[1], n))
end

-- a program the kernel would not have loaded refuses: kill
local KILL = 0x80000000
local function ins(c, jt, jf, k) return string.pack("<I2I1I1I4", c, jt, jf, k) end
local RET_ALLOW = ins(0x06, 0, 0, 0x7fff0000)
for _, bad in ipairs {
  { "a load beyond seccomp_data", ins(0x20, 0, 0, 64) .. RET_ALLOW },
  { "an unaligned load", ins(0x20, 0, 0, 2) .. RET_ALLOW },
  { "a jump past the end", ins(0x05, 0, 0, 1) .. RET_ALLOW },
  { "a conditional jump past the end", ins(0x15, 5, 0, 0) .. RET_ALLOW },
  { "a scratch word out of range", ins(0x60, 0, 0, 16) .. RET_ALLOW },
  { "ret x (not a seccomp instruction)", ins(0x0e, 0, 0, 0) },
  { "a packet load (ldb)", ins(0x30, 0, 0, 0) .. RET_ALLOW },
  { "no return", ins(0x00, 0, 0, 1) },
} do
  tap.is(core.seccomp_eval(bad[2], 39, X86_64), KILL, "the trace judge kills on " .. bad[1])
end
tap.is(core.seccomp_eval(ins(0x20, 0, 0, 16) .. ins(0x16, 0, 0, 0), 39, X86_64, { 0x7fff0000 }), 0x7fff0000,
  "... and runs one it would: ld [args[0]]; ret a")
local okb, berr = pcall(core.seccomp_eval, "1234567", 0, X86_64)
tap.ok(not okb and tostring(berr):match("seccomp_eval: a program of 7 bytes"), "a program cut short is an error")

-- a trace-mode plan: the workload's filter notifies the supervisor of
-- every call, which judges each by the profile (none: refused)
local tplan = assert(core.plan_compile { argv = { "x" }, seccomp = "default", seccomp_trace = true })
local td = tplan:describe()
tap.ok(td.seccomp_trace and td.seccomp_instructions == 1, "a trace plan: one instruction, notify, judged by the profile")
local nplan, nerr = core.plan_compile { argv = { "x" }, seccomp_trace = true }
tap.ok(not nplan and tostring(nerr):match("seccomp_trace: needs the seccomp profile the calls are judged by"),
  "a trace plan without a profile is refused")

-- seccomp generate never allows what the built-in profile refuses: from a
-- trace in which every call the profile names was permitted, the profile
-- gives each number, architecture and argument set the built-in action;
-- from a trace of some of them, the built-in action or a refusal
do
  local bin = root .. "/build/bin/nucleus"
  local fb = io.open(bin)
  if fb then
    fb:close()
    local names, seen = {}, {}
    for _, rule in ipairs(default.syscalls) do
      for _, n in ipairs(rule.names) do
        if not seen[n] then seen[n] = true; names[#names + 1] = n end
      end
    end
    table.sort(names)
    local function generated(every)
      local trace, out = os.tmpname(), os.tmpname()
      local f = assert(io.open(trace, "w"))
      for i, n in ipairs(names) do
        if i % every == 0 then
          f:write(('{"name":"%s","arch":"SCMP_ARCH_X86_64","count":1,"permitted":1,"refused":0}\n'):format(n))
        end
      end
      f:close()
      local okg = os.execute(("%q seccomp generate %q -o %q 2>/dev/null"):format(bin, trace, out))
      local text = io.open(out):read("a")
      os.remove(trace)
      os.remove(out)
      assert(okg, "seccomp generate failed")
      return decode(core.seccomp_export(assert(policy.seccomp(text, "generated.json"))))
    end
    local dprog = decode(core.seccomp_export(default))
    for _, every in ipairs { 1, 2, 3 } do
      local gprog = generated(every)
      local wider, differ, first = 0, 0, nil
      for _, args in ipairs(ARGS) do
        for nr = -1, 1100 do
          for _, c in ipairs { { nr, X86_64 }, { nr | 0x40000000, X86_64 }, { nr, I386 } } do
            local d, g = run(dprog, data_of(c[1], c[2], args)), run(gprog, data_of(c[1], c[2], args))
            if g ~= d then
              differ = differ + 1
              if g == ALLOW then
                wider = wider + 1
                first = first or ("nr %d arch %#x args %s"):format(c[1], c[2], table.concat(args, ","))
              end
            end
          end
        end
      end
      if first then io.write("# allowed beyond the built-in profile: ", first, "\n") end
      if every == 1 then
        tap.is(differ, 0, "generate, every call the built-in profile names traced: its action for every input")
      else
        tap.ok(wider == 0 and differ > 0, ("generate, 1 in %d of them traced: %d inputs refused that it allows, "
          .. "%d allowed that it refuses (none may be)"):format(every, differ - wider, wider))
      end
    end
  else
    tap.skip("build/bin/nucleus not built", 3)
  end
end

-- another architecture listed: libseccomp's program as it is
multi = assert(policy.seccomp([[{"defaultAction":"SCMP_ACT_ERRNO","architectures":
  ["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}]],
  "multi.json"))
tap.is(core.seccomp_export(multi), core.seccomp_export(multi, { merge = false }),
  "a profile for more than x86_64 is libseccomp's program unchanged")
tap.done()

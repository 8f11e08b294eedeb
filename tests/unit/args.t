#!/usr/bin/env lua5.4
-- nucleus.args: the command-line parser.
local src = debug.getinfo(1, "S").source:sub(2)
local root = src:match("^(.*)/tests/unit/[^/]+$") or "."
package.path = root .. "/tests/lib/?.lua;" .. root .. "/lua/?.lua;" .. package.path
local tap = require "tap"
local args = require "nucleus.args"

local spec = {
  { name = "name", kind = "string", help = "n" },
  { name = "env", short = "e", kind = "list", help = "e" },
  { name = "rootless", kind = "flag", help = "r" },
  { name = "verbose", short = "V", kind = "flag", help = "v" },
  { name = "mode", kind = "choice", choices = { "copy", "bind" }, default = "copy", help = "m" },
}
local function p(list, stop) return args.parse(spec, list, 1, stop ~= false) end

local v = assert(p { "--name", "x", "-e", "A=1", "-eB=2", "--env=C=3", "--rootless", "ls", "-la" })
tap.is(v.name, "x", "--name VALUE")
tap.is(table.concat(v.env, ","), "A=1,B=2,C=3", "-e VALUE, -eVALUE, --env=VALUE accumulate")
tap.is(v.rootless, true, "flag")
tap.is(table.concat(v.operands, " "), "ls -la", "options stop at the first operand")
tap.is(v.mode, "copy", "default filled")
tap.is(v.verbose, false, "absent flag is false")
v = assert(p { "--", "--name", "x" })
tap.is(table.concat(v.operands, " "), "--name x", "-- ends the options")
v = assert(p { "-Ve", "K=V", "cmd" })
tap.ok(v.verbose and v.env[1] == "K=V", "bundled short flag then an option with its value")
v = assert(p({ "a", "--rootless", "b" }, false))
tap.ok(v.rootless and #v.operands == 2, "without stop_at_operand options may follow operands")
local _, err = p { "--nmae", "x" }
tap.like(err, "^unknown option '%-%-nmae'", "unknown long option")
_, err = p { "--verbos" }
tap.like(err, "did you mean %-%-verbose%?", "suggestion for a near miss")
_, err = p { "--root_less" }
tap.like(err, "^unknown option '%-%-root_less' %(did you mean %-%-rootless%?%)", "a flag is spelled with dashes, not underscores")
_, err = p { "-z" }
tap.is(err, "unknown option '-z'", "unknown short option")
_, err = p { "--name" }
tap.is(err, "option --name needs a value", "missing value")
_, err = p { "-e" }
tap.is(err, "option -e needs a value", "missing value (short)")
_, err = p { "--rootless=1" }
tap.is(err, "option --rootless takes no value", "value on a flag")
_, err = p { "--mode", "zip" }
tap.is(err, 'option --mode: "zip" is not one of copy, bind', "choice checked")
v = assert(p { "--name=", "c" })
tap.is(v.name, "", "--name= gives an empty value (validated later)")
local h = args.help("Usage: x", "Does x", spec)
tap.like(h, "%-e, %-%-env VALUE", "help lists short and long forms")
tap.like(h, "%-%-mode copy|bind", "help shows the choices")
tap.like(h, "%(default: copy%)", "help shows defaults")
tap.done()

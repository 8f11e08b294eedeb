#!/usr/bin/env bash
# Bad input: a one-line message naming the input, a non-zero exit status
# (125 runtime/usage, 126 not executable, 127 not found), nothing left behind.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)
mkdir -p "$T/ctx"

check() { check_fails "$@"; }

check 125 "^nucleus: run: unknown option '--bogus'" "unknown flag" -- run --bogus -- true
check 125 "^nucleus: run: option --name needs a value" "missing option value" -- run --name
check 125 "^nucleus: run: option --rootless takes no value" "value given to a flag" -- run --rootless=yes -- true
check 125 "^nucleus: unknown option '--bogus'" "unknown global flag" -- --bogus run -- true
check 125 "^nucleus: unknown command 'frobnicate'" "unknown verb" -- frobnicate
check 125 "^nucleus: run: missing command" "missing command" -- run
check 125 "^nucleus: run: missing command" "missing command after --" -- run --name x --
check 125 "^nucleus: context directory \"$T/none\": No such file or directory" "missing --context directory" \
  -- run --context "$T/none" -- true
touch "$T/file"
check 125 "context directory \"$T/file\": not a directory" "--context is a file" -- run --context "$T/file" -- true
check 125 "^nucleus: invalid hostname \"bad_host!\"" "bad hostname" -- run --hostname 'bad_host!' -- true
check 125 "^nucleus: invalid hostname \"$(printf 'a%.0s' $(seq 65))\": must be 1 to 64" "over-long hostname" \
  -- run --hostname "$(printf 'a%.0s' $(seq 65))" -- true
check 125 "^nucleus: invalid environment variable \"=x\"" "bad -e (empty key)" -- run -e =x -- true
check 125 "^nucleus: invalid environment variable \"A B=1\"" "bad -e (space in key)" -- run -e 'A B=1' -- true
check 125 "^nucleus: unknown user \"no-such-user\"" "unknown user" -- run --user no-such-user -- true
check 125 "^nucleus: unknown group \"no-such-group\"" "unknown group" -- run --user 0 --group no-such-group -- true
check 125 "^nucleus: unknown group \"no-such-group\"" "unknown additional group" \
  -- run --user 0 --additional-group no-such-group -- true
check 125 "need --user" "--group without --user" -- run --group 0 -- true
# names that would read as getent(1) options are not handed to it
check 125 "^nucleus: unknown user \"-s\"" "a user name that starts with -" -- run --user=-s -- true
check 125 "^nucleus: unknown group \"-s\"" "a group name that starts with -" -- run --user 0 --group=-s -- true
check 125 "^nucleus: invalid name \"a/b\"" "bad --name" -- run --name a/b -- true
check 127 "^nucleus: /no/such/cmd: command not found" "absent command (path)" -- run -- /no/such/cmd
check 127 "^nucleus: no-such-cmd: command not found" "absent command (PATH search)" -- run -- no-such-cmd
check 126 "^nucleus: /etc/passwd: cannot execute: Permission denied" "not executable" -- run -- /etc/passwd
check 126 "^nucleus: /usr: cannot execute: Permission denied" "a directory as command" -- run -- /usr
check 125 "^nucleus: workdir: /etc/passwd: Not a directory" "workdir is a file" -- run --workdir /etc/passwd -- true
check 125 "^nucleus: workdir \"rel\": must be an absolute path" "relative workdir" -- run --workdir rel -- true
check 125 "^nucleus: workdir \"/a/../b\": must not contain" "workdir with .." -- run --workdir /a/../b -- true
check 125 "^nucleus: workdir: /usr/nucleus-x: Read-only file system" "workdir on a read-only tree" \
  -- run --workdir /usr/nucleus-x -- true
mkdir -m 0700 "$T/private"
check 125 "^nucleus: workdir: /context: Permission denied" "workdir the user may not enter" \
  -- run --user 4242 --context "$T/private" --context-mode bind --workdir /context -- true
check 125 "add --allow-host-network" "host network without opt-in" -- run --network host -- true
check 125 "option --network: \"bridge0\" is not one of none, host" "unknown network mode" -- run --network bridge0 -- true
check 125 "option --context-mode: \"foo\" is not one of copy, bind, rw" "unknown context mode" -- run --context-mode foo -- true
check 125 "^nucleus: invalid ulimit \"nofile=x\"" "bad ulimit value" -- run --ulimit nofile=x -- true
check 125 "unknown resource \"bogus\"" "unknown ulimit" -- run --ulimit bogus=1 -- true
check 125 "soft limit above hard limit" "ulimit soft > hard" -- run --ulimit nofile=10:5 -- true
check 125 "^nucleus: volume \"$T/none:/x\": $T/none: No such file" "volume source missing" -- run -v "$T/none:/x" -- true
check 125 "/proc is reserved" "volume over /proc" -- run -v "$T/ctx:/proc/x" -- true
check 125 "mode must be ro or rw" "volume mode" -- run -v "$T/ctx:/x:rx" -- true
check 125 "must be an absolute path" "volume destination relative" -- run -v "$T/ctx:x" -- true
check 125 "only root \(uid 0, gid 0\)" "--user with --rootless" -- run --rootless --user 4242 -- true

# a context that cannot be read is reported before anything starts
mkdir -p "$T/deep"
d="$T/deep"
for _ in $(seq 130); do d="$d/d"; done
mkdir -p "$d" 2>/dev/null
if [ -d "$d" ]; then
  check 125 "deeper than 128 levels" "context too deep" -- run --context "$T/deep" -- true
else
  skip "cannot create a 130-level tree here" 3
fi

is "$(host_state)" "$before" "no mount or process left after all the failures"
done_testing

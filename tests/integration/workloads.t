#!/usr/bin/env bash
# Agents' real work in the default agent sandbox (issue 17), as root and as
# --user 1000: a C program built with the default $(CC) and run in
# /context and in /tmp; a git commit through a hook, in a copied context
# and in the caller's own repository (--context-mode rw: the commit lands
# there, owned by the workload's user); virtualenvs (--copies too) and a
# console script installed in them; awk, sed and find pipelines; getent
# services; an ASan program with a leak (reported) and without (exit 0);
# gdb -batch on a crashing program; `npm test` running a node_modules/.bin
# tool where node is installed.  Every case runs the tools of the host's
# /usr, as an agent would.
set -u
. "$(dirname "$0")/../lib/nucleus.sh"

before=$(host_state)

# the tools the workloads are made of (make deps installs them: TEST_DEPS)
missing=""
for t in gcc make git gdb python3 awk sed find getent; do
  command -v "$t" >/dev/null || missing="$missing $t"
done
[ -z "$missing" ] || skip_all "not installed:$missing (make deps)"
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || skip_all "python3's venv and ensurepip missing (python3-venv)"
printf 'int main(void){return 0;}\n' > "$T/asan.c"
gcc -fsanitize=address -o "$T/asan" "$T/asan.c" 2>/dev/null && ASAN_OPTIONS=detect_leaks=1 "$T/asan" 2>/dev/null ||
  skip_all "gcc -fsanitize=address does not build or run a program on this host (libasan)"

# The project an agent works on: C sources and a Makefile with make's
# default $(CC), a leaking and a clean program, one that crashes, a Python
# package with a console script, and a node package whose test script runs
# a tool from node_modules/.bin.
P=$T/project
mkdir -p "$P/wlhello" "$P/node_modules/wltool" "$P/node_modules/.bin"
cat > "$P/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { puts("hello from C"); return 0; }
EOF
printf 'hello: hello.c\n' > "$P/Makefile"
cat > "$P/leak.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
  char *p = malloc(64);
  strcpy(p, argv[0]);
  if (argc > 1) {
    p = NULL;
    return 0;
  }
  free(p);
  return 0;
}
EOF
cat > "$P/crash.c" <<'EOF'
#include <stdio.h>
static int crash_here(int *p) { return *p; }
int main(void) { printf("%d\n", crash_here(NULL)); return 0; }
EOF
cat > "$P/setup.py" <<'EOF'
from setuptools import setup
setup(name="wlhello", version="1.0", packages=["wlhello"],
      entry_points={"console_scripts": ["wl-hello = wlhello:main"]})
EOF
printf 'import sys\n\n\ndef main():\n    print("wl-hello in", sys.prefix)\n' > "$P/wlhello/__init__.py"
cat > "$P/package.json" <<'EOF'
{ "name": "wl", "version": "1.0.0", "private": true, "scripts": { "test": "wltool check" } }
EOF
cat > "$P/node_modules/wltool/cli.js" <<'EOF'
#!/usr/bin/env node
console.log("wltool " + process.argv[2] + " ok");
EOF
chmod 0755 "$P/node_modules/wltool/cli.js"
ln -s ../wltool/cli.js "$P/node_modules/.bin/wltool"
# what `npm test` does, for a machine with node but without npm: the test
# script in a shell, node_modules/.bin first on the PATH
cat > "$P/npm-test.js" <<'EOF'
const { execFileSync } = require("child_process");
const script = require("./package.json").scripts.test;
const env = Object.assign({}, process.env, { PATH: __dirname + "/node_modules/.bin:" + process.env.PATH });
execFileSync("/bin/sh", ["-c", script], { stdio: "inherit", env });
EOF
chmod -R a+rX "$P"

run_as() { # uid [nucleus run options...] -- command...: the workload's output, stderr included
  local uid=$1
  shift
  "$NUCLEUS" run --rm --user "$uid:$uid" "$@" 2>&1
}

for uid in 0 1000; do
  as="as uid $uid"

  # --- C with the default $(CC), in /context and in /tmp ----------------------
  out=$(run_as "$uid" --context "$P" -- sh -c 'make -s hello && ./hello')
  is "$out" "hello from C" "$as: make's default \$(CC) builds in /context, the program runs"
  out=$(run_as "$uid" --context "$P" -- sh -c 'cp hello.c Makefile /tmp && cd /tmp && make -s hello && ./hello')
  is "$out" "hello from C" "$as: ... and in /tmp"
  out=$(run_as "$uid" --context "$P" -- sh -c 'cc -o "$HOME/hello" hello.c && "$HOME/hello"')
  is "$out" "hello from C" "$as: ... and cc in the home"

  # --- git: a commit through a hook, in a copied context ----------------------
  out=$(run_as "$uid" --context "$P" -- sh -c '
    git init -q repo && cd repo &&
    printf "#!/bin/sh\necho pre-commit ran > hook.out\n" > .git/hooks/pre-commit &&
    chmod +x .git/hooks/pre-commit &&
    echo one > f && git add f &&
    git -c user.name=agent -c user.email=agent@example.invalid commit -q -m "first" &&
    cat hook.out && git log --format=%s')
  is "$out" "$(printf 'pre-commit ran\nfirst')" "$as: git commit with a pre-commit hook in /context"

  # --- awk, sed and find pipelines ---------------------------------------------
  out=$(run_as "$uid" --context "$P" -- sh -c \
    'find . -name "*.c" | sed "s,^\./,," | sort | awk "{ n++; s = s \$0 \" \" } END { print n \": \" s }"')
  is "$out" "3: crash.c hello.c leak.c " "$as: find | sed | sort | awk"
  out=$(run_as "$uid" -- sh -c 'printf "b 2\na 1\n" | sort | sed -n "s/ /=/p" | tr "\n" " "')
  is "$out" "a=1 b=2 " "$as: sort | sed | tr"

  # --- getent services ------------------------------------------------------
  out=$(run_as "$uid" -- getent services ssh)
  like "$out" "^ssh +22/tcp" "$as: getent services ssh"

  # --- ASan and LSan ------------------------------------------------------------
  out=$(run_as "$uid" --context "$P" -- sh -c '
    gcc -g -fsanitize=address -o leak leak.c || exit 99
    ./leak > /dev/null 2>&1; echo "clean=$?"
    ./leak leak 2> lsan.out; echo "leak=$?"; grep -m1 -o "ERROR: LeakSanitizer: detected memory leaks" lsan.out
    grep -m1 -o "in main .*leak.c:[0-9]*" lsan.out')
  is "$out" "$(printf 'clean=0\nleak=1\nERROR: LeakSanitizer: detected memory leaks\nin main /context/leak.c:5')" \
    "$as: ASan program: exit 0 without a leak, the leak reported with its line (LSan's ptrace works)"

  # --- gdb -batch ----------------------------------------------------------------
  out=$(run_as "$uid" --context "$P" -- sh -c 'gcc -g -O0 -o crash crash.c && gdb -q -batch -ex run -ex bt ./crash')
  like "$out" "SIGSEGV" "$as: gdb -batch runs a program under ptrace and sees its SIGSEGV"
  like "$out" "#0 +(0x[0-9a-f]+ in )?crash_here \(p=0x0\) at crash.c:2" "$as: ... and its backtrace"

  # --- virtualenvs and a console script ------------------------------------------
  for copies in "" --copies; do
    out=$(run_as "$uid" --context "$P" -- sh -c '
      python3 -m venv '"$copies"' /tmp/venv &&
      /tmp/venv/bin/pip install -q --no-index --no-build-isolation --no-use-pep517 . 2>/dev/null &&
      cd / && /tmp/venv/bin/wl-hello && { test -L /tmp/venv/bin/python && echo linked || echo copied; }')
    is "$out" "$(printf 'wl-hello in /tmp/venv\n%s' "$([ -n "$copies" ] && echo copied || echo linked)")" \
      "$as: python3 -m venv ${copies:+$copies }with pip, a console script installed and run"
  done

  # --- npm test with a node_modules/.bin tool --------------------------------------
  if ! command -v node >/dev/null; then
    skip "node is not installed (Debian package nodejs)"
  else
    if command -v npm >/dev/null; then how="npm test"; else how="node npm-test.js"; fi
    out=$(run_as "$uid" --context "$P" -- $how)
    like "$out" "wltool check ok" "$as: $how runs the package's test script with its node_modules/.bin tool"
  fi
done

# --- edit in place: --context-mode rw, the commit lands in the caller's repository --
for uid in 0 1000; do
  R=$T/repo-$uid
  mkdir -p "$R"
  git -C "$R" init -q
  printf '#!/bin/sh\necho "post-commit $(id -u)" > .git/hook.out\n' > "$R/.git/hooks/post-commit"
  chmod 0755 "$R/.git/hooks/post-commit"
  echo base > "$R/README"
  git -C "$R" add README
  git -C "$R" -c user.name=host -c user.email=host@example.invalid commit -q -m base
  chown -R "$uid:$uid" "$R"
  out=$(run_as "$uid" --context "$R" --context-mode rw -- sh -c '
    echo fixed >> README && git add README &&
    git -c user.name=agent -c user.email=agent@example.invalid commit -q -m "agent fix"' )
  is "$out" "" "as uid $uid, --context-mode rw: git commit in the caller's repository"
  is "$(git -c safe.directory="$R" -C "$R" log --format='%s %an' | tr '\n' ';')" "agent fix agent;base host;" \
    "... the commit is in the host's repository"
  is "$(cat "$R/.git/hook.out" 2>/dev/null)" "post-commit $uid" "... its post-commit hook ran as the workload user"
  is "$(find "$R" \( ! -user "$uid" -o ! -group "$uid" \) -printf '%p ' | sed "s,$R,,g")" "" \
    "... every file in the repository still the owner's ($uid:$uid)"
  git -c safe.directory="$R" -C "$R" fsck --no-progress >/dev/null 2>&1
  is "$?" 0 "... and the host's git finds the repository sound"
done

is "$(host_state)" "$before" "no mount or process left on the host"
done_testing

#!/usr/bin/env bash
# Host-side TAP (run by prove): boots ONE test VM that runs every
# tests/vm/guest/*.t inside it, and reports one host test per guest file.
# The guest's own TAP is shown as an indented subtest (prove -v), and as
# '#' diagnostics on stderr when the file fails.
#
# Skips (1..0 # SKIP) when tests/vm/run --check says the VM cannot run here.
# NUCLEUS_VM_TIMEOUT (default 900 s) bounds the whole VM run;
# NUCLEUS_VM_TEST_TIMEOUT (default 300 s) bounds each guest file.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 1

if ! reason=$(tests/vm/run --check 2>&1); then
    echo "1..0 # SKIP ${reason//$'\n'/ }"
    exit 0
fi

files=()
for f in tests/vm/guest/*.t; do
    [[ -f $f ]] && files+=("$f")
done
if ((${#files[@]} == 0)); then
    echo "1..0 # SKIP no tests in tests/vm/guest/"
    exit 0
fi
echo "1..${#files[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nucleus-vm-t.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

nonce=$RANDOM$RANDOM$RANDOM
start=$SECONDS
tests/vm/run --timeout "${NUCLEUS_VM_TIMEOUT:-900}" --disk 64 --log "$REPO/build/vm/vm-t.console.log" \
    -- tests/vm/guest-runner.sh "$nonce" "${files[@]}" >"$tmp/out" 2>"$tmp/err"
vmrc=$?
echo "# one VM ran ${#files[@]} guest file(s) in $((SECONDS - start))s (tests/vm/run exit $vmrc)"

# Split the framed output into $tmp/<index>.tap and $tmp/<index>.rc.
declare -A index
for i in "${!files[@]}"; do index[${files[$i]}]=$i; done
cur=""
while IFS= read -r line; do
    if [[ $line == "@@nucleus-vm-begin $nonce "* ]]; then
        cur=${index[${line#"@@nucleus-vm-begin $nonce "}]:-}
        [[ -n $cur ]] && : >"$tmp/$cur.tap"
    elif [[ $line == "@@nucleus-vm-end $nonce "* ]]; then
        [[ -n $cur ]] && read -r _ _ rc _ <<<"$line" && echo "$rc" >"$tmp/$cur.rc"
        cur=""
    elif [[ -n $cur ]]; then
        printf '%s\n' "$line" >>"$tmp/$cur.tap"
    fi
done <"$tmp/out"

# Prints why a guest TAP stream failed (nothing if it passed); returns 1 on failure.
tap_verdict() {
    awk '
        /^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; hasplan = 1
                         if (tolower($0) ~ /#[ \t]*skip/) skipall = 1 }
        /^ok([ \t]|$)/ { n++ }
        /^not ok([ \t]|$)/ { n++; if (tolower($0) !~ /#[ \t]*todo/) bad++ }
        /^Bail out!/ { bail = 1 }
        END {
            if (bail) { print "bailed out"; exit 1 }
            if (!hasplan) { print "no TAP plan"; exit 1 }
            if (bad) { print bad " of " n " test(s) failed"; exit 1 }
            if (n != plan) { print "planned " plan " test(s) but ran " n; exit 1 }
            if (skipall) print "SKIP"
        }' "$1"
}

diag() { sed 's/^/# /' "$@" >&2; }

failed=0
for i in "${!files[@]}"; do
    name=guest/${files[$i]#tests/vm/guest/}
    t=$tmp/$i.tap
    n=$((i + 1))
    if [[ ! -f $tmp/$i.rc ]]; then
        failed=$((failed + 1))
        echo "not ok $n - $name (did not complete in the VM; tests/vm/run exit $vmrc)"
        echo "# --- tests/vm/run stderr ---" >&2
        diag "$tmp/err"
        [[ -s $t ]] && { echo "# --- partial output of $name ---" >&2; diag "$t"; }
        continue
    fi
    rc=$(cat "$tmp/$i.rc")
    sed 's/^/    /' "$t"
    verdict=$(tap_verdict "$t")
    vrc=$?
    if ((vrc == 0 && rc == 0)); then
        if [[ $verdict == SKIP* ]]; then
            echo "ok $n - $name # SKIP $(sed -n 's/^1\.\.0[^#]*#[ \t]*[Ss][Kk][Ii][Pp][ \t]*//p' "$t" | head -1)"
        else
            echo "ok $n - $name"
        fi
    else
        failed=$((failed + 1))
        ((vrc == 0)) && verdict="exit code $rc"
        echo "not ok $n - $name ($verdict)"
        echo "# --- output of $name in the VM (exit $rc) ---" >&2
        diag "$t"
    fi
done
((failed == 0))

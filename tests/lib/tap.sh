# tap.sh - a small TAP producer for bash tests (after bubblewrap's libtest.sh).
#
#   . "$(dirname "$0")/../lib/tap.sh"
#   ok "$cond_status" "name"; is "$got" "$want" "name"; like "$got" "pattern" "name"
#   skip_all "reason"; skip "reason" [count]; done_testing
#   TODO="reason" ok ...: a known failure (TAP's # TODO directive); it does
#   not fail the file, and prove reports it when it passes
T_N=0
T_FAILED=0

_tap_result() { # status name
  T_N=$((T_N + 1))
  if [ "$1" -eq 0 ]; then
    echo "ok $T_N - $2${TODO:+ # TODO $TODO}"
  else
    echo "not ok $T_N - $2${TODO:+ # TODO $TODO}"
    [ -n "${TODO:-}" ] || T_FAILED=$((T_FAILED + 1))
  fi
}

ok() { _tap_result "$1" "$2"; }

is() { # got want name
  if [ "$1" = "$2" ]; then _tap_result 0 "$3"; else
    _tap_result 1 "$3"
    diag "got:  '$1'"
    diag "want: '$2'"
  fi
}

isnt() { # got unwanted name
  if [ "$1" != "$2" ]; then _tap_result 0 "$3"; else
    _tap_result 1 "$3"
    diag "got the unwanted value '$1'"
  fi
}

like() { # got extended-regex name
  if printf '%s\n' "$1" | grep -Eq -- "$2"; then _tap_result 0 "$3"; else
    _tap_result 1 "$3"
    diag "got: '$1'"
    diag "expected to match: $2"
  fi
}

unlike() { # got extended-regex name
  if ! printf '%s\n' "$1" | grep -Eq -- "$2"; then _tap_result 0 "$3"; else
    _tap_result 1 "$3"
    diag "got: '$1'"
    diag "expected not to match: $2"
  fi
}

diag() { printf '%s\n' "$*" | sed 's/^/# /'; }

skip() { # reason [count]
  local i
  for ((i = 0; i < ${2:-1}; i++)); do
    T_N=$((T_N + 1))
    echo "ok $T_N # SKIP $1"
  done
}

skip_all() { echo "1..0 # SKIP $1"; exit 0; }

done_testing() {
  echo "1..$T_N"
  [ "$T_FAILED" -eq 0 ]
  exit $?
}

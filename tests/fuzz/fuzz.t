#!/usr/bin/env bash
# fuzz.t - run the libFuzzer targets briefly (8 s each) as part of make check;
# tests/fuzz/run.sh prints the TAP (or "1..0 # SKIP" without clang/libFuzzer).
# FUZZ_SECONDS overrides the budget; make fuzz runs tests/fuzz/run.sh 300.
exec "$(dirname "$0")/run.sh" "${FUZZ_SECONDS:-8}"

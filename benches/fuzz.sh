#!/usr/bin/env bash
# Long fuzz runs of every parser of outside input (tests/fuzz_parsers.rs): MINUTES per
# target (default 10), all targets at once. Prints the inputs tried per target; a failing
# input is saved in target/fuzz-failures/ and the run fails.
#
#   benches/fuzz.sh            # 10 minutes a target
#   benches/fuzz.sh 1          # 1 minute a target
#   VIGIA_FUZZ_SEED=7 benches/fuzz.sh 30
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
export VIGIA_FUZZ_SECS=$((minutes * 60))
cargo test --locked --test fuzz_parsers -- --nocapture --test-threads=8 2>&1 |
    grep -E '^\[fuzz|test result|panicked|failed'

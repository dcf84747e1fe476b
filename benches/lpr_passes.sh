#!/usr/bin/env bash
# The rendered LPR benchmark (tests/lpr_passes.rs), every scenario: vehicle passes rendered
# from ../shared/data/plates/eu (real plates, and synthetic Colombian plates on the same
# vehicles), served over RTSP to a node publishing to mosquitto, scored against the truth.
#
#   benches/lpr_passes.sh                  # 40 vehicles per scenario
#   benches/lpr_passes.sh 12               # 12 vehicles per scenario
#   benches/lpr_passes.sh 12 'settled_read_every = 1'   # extra [lpr.pass] settings
#
# Prints one line per scenario (right / wrong / missed, passes with more than one final
# read, extra events, latency of the final read after the vehicle left view, plate-detector
# runs, cores used) and writes target/lpr-bench/report.json with every pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIA_LPR_BENCH_VEHICLES="${1:-40}"
export VIGIA_LPR_BENCH_SCENARIOS="${VIGIA_LPR_BENCH_SCENARIOS:-approach,slide,stop_and_go,pair,night,blur,small,close,co_cars,co_motorcycles,co_other}"
export VIGIA_LPR_BENCH_OUT="${VIGIA_LPR_BENCH_OUT:-$PWD/target/lpr-bench}"
if [[ -n "${2:-}" ]]; then
  export VIGIA_LPR_BENCH_CONFIG="[lpr.pass]
$2"
fi
cargo test --locked --test lpr_passes -- --nocapture 2>&1 | grep -E '^\[lpr-bench\]|test result|panicked'

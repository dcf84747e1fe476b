#!/usr/bin/env bash
# The long soak (tests/soak.rs): 32 simulated RTSP cameras on the real binary for 30
# minutes, one flapping every 30 s, RSS / threads / open fds sampled every minute.
#
#   benches/soak.sh                 # 32 cameras, 30 minutes
#   benches/soak.sh 16 10           # 16 cameras, 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIA_SOAK_CAMERAS="${1:-32}"
export VIGIA_SOAK_SECS="$(( ${2:-30} * 60 ))"
export VIGIA_SOAK_FLAP_SECS=30
export VIGIA_SOAK_SAMPLE_SECS=60
cargo test --locked --test soak -- --nocapture 2>&1 | grep -E '^\[soak\]|test result|panicked'

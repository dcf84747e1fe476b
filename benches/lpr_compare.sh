#!/usr/bin/env bash
# Two plate-reading set-ups side by side on the rendered LPR benchmark (tests/lpr_passes.rs),
# alternating per scenario in one run so both see the same machine state.
#
#   benches/lpr_compare.sh [VEHICLES]
#   A="platedet.toml|scan_vehicle_width = 0" B="platedet_fit.toml|scan_vehicle_width = 320" \
#     SCENARIOS="approach stop_and_go co_cars" benches/lpr_compare.sh 12
#
# A and B are "<plate detector manifest in models/>|<extra [lpr] TOML>"; the defaults are
# the whole-frame 640x640 detector (before 2026-12-01) and today's defaults. Prints the
# benchmark's lines prefixed with A or B (docs/performance.md has a table made this way).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-12}"
A="${A:-platedet.toml|scan_vehicle_width = 0}"
B="${B:-platedet_fit.toml|scan_vehicle_width = 320}"
SCENARIOS="${SCENARIOS:-approach slide stop_and_go pair night blur small co_cars co_motorcycles co_other}"
cargo test --locked --test lpr_passes --no-run 2>/dev/null
for sc in $SCENARIOS; do
  for side in A B; do
    spec="${!side}"
    VIGIA_LPR_BENCH_VEHICLES="$N" VIGIA_LPR_BENCH_SCENARIOS="$sc" \
    VIGIA_LPR_BENCH_PLATE_DETECTOR="${spec%%|*}" VIGIA_LPR_BENCH_CONFIG="${spec#*|}" \
      cargo test --locked --test lpr_passes -- --nocapture 2>&1 \
      | grep -E '^\[lpr-bench\]|panicked' | sed "s/^/$side /"
  done
done

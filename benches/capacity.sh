#!/usr/bin/env bash
# Fleet capacity of one node (tests/capacity.rs), vigia and the Python peer
# (benches/capacity/peer.py) on the same simulated RTSP fleet in the same run, one after
# the other for each camera count, the order alternating; prints one row per run and the
# ratios. vigia is the release build.
#
#   benches/capacity.sh                          # N = 1,4,8,16,24,32,48; 20 s warm-up, 30 s measured
#   benches/capacity.sh 8,16 10 20               # N list, warm-up s, measured s
#   VIGIA_CAPACITY_PEER=0 benches/capacity.sh    # vigia only
#   VIGIA_CAPACITY_EXTRA='threads_per_worker = 2' benches/capacity.sh 24   # [inference] lines
#   VIGIA_CAPACITY_PEER=0 VIGIA_CAPACITY_LPR=1 VIGIA_CAPACITY_VIDEO=target/lpr-bench/approach.mp4 \
#     benches/capacity.sh 10 15 25                # LPR cameras on a rendered pass video
#     (VIGIA_CAPACITY_PLATE_DETECTOR=platedet_fit_int8.toml: another plate detector)
#
# The peer's packages (pinned in peer.py) go to .vigia/venv-peer from PyPI, once.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIGIA_CAPACITY_CAMERAS="${1:-1,4,8,16,24,32,48}"
export VIGIA_CAPACITY_WARMUP_SECS="${2:-20}"
export VIGIA_CAPACITY_SECS="${3:-30}"
export VIGIA_CAPACITY_OUT="${VIGIA_CAPACITY_OUT:-target/capacity-$(date +%Y%m%dT%H%M%S).jsonl}"
if [ "${VIGIA_CAPACITY_PEER:-1}" != 0 ]; then
  venv=.vigia/venv-peer
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cv2, onnxruntime, paho.mqtt, numpy' 2>/dev/null; then
    python3 -m venv "$venv"
    reqs=$(python3 benches/capacity/peer.py --requirements)
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet $reqs
  fi
  export VIGIA_CAPACITY_PEER_PYTHON="$PWD/$venv/bin/python"
fi
cargo build --locked --release --bin vigia
export VIGIA_BIN="$PWD/target/release/vigia"
cargo test --locked --test capacity -- --nocapture 2>&1 | grep -E '^\[capacity\]|test result|panicked'
echo "rows: $VIGIA_CAPACITY_OUT"

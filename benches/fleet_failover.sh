#!/usr/bin/env bash
# Fleet failover time, N runs (default 5) of tests/fleet.rs: 3 etcd members, 3 vigia nodes,
# 12 test-pattern cameras; kill -9 of the busiest node → its cameras streaming on the
# others. Prints each run and the p50 / max. Needs etcd (deploy/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
times=()
for i in $(seq 1 "$runs"); do
  t=$(cargo test -q --test fleet cameras_fail_over -- --nocapture 2>&1 | sed -n 's/^.*failover of [0-9]* camera(s): \([0-9.]*\) s$/\1/p')
  [ -n "$t" ] || { echo "run $i: no failover figure (test failed?)" >&2; exit 1; }
  echo "run $i: $t s"
  times+=("$t")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "failover over %d runs: p50 %.1f s, max %.1f s\n", NR, a[int((NR+1)/2)], a[NR]}'

#!/usr/bin/env bash
# `make test` ten times in a row beside a CPU-heavy process (a busy loop on one core), in the checkout
# given as the argument (a fresh clone, so that every install step comes from the repository):
#   git clone . /tmp/ten && bench/ten_test_runs.sh /tmp/ten     (RUNS=5 for five runs)
set -u
cd "$1"
( while :; do :; done ) & HOG=$!
trap 'kill $HOG' EXIT
for i in $(seq 1 ${RUNS:-10}); do
  start=$(date +%s)
  if make test > "/tmp/ten_run_$i.log" 2>&1; then
    echo "run $i passed in $(( $(date +%s) - start ))s: $(grep -E '[0-9]+ passed' /tmp/ten_run_$i.log | tail -1)"
  else
    echo "run $i FAILED: $(grep -E 'FAILED|failed' /tmp/ten_run_$i.log | tail -3)"
  fi
done

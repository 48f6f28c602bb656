#!/usr/bin/env bash
# The README's two commands, three times in a row, each from a fresh clone of this repository,
# while `stress-ng --cpu N` keeps every core busy: a test that only passes on an idle machine is
# a bug (docs/testing.md). Not part of .ci/run (three runs take about two hours on 2 cores);
# run it by hand: tests/under_load/run.sh [RUNS] [LOG_DIR]. Needs stress-ng (apt-get install stress-ng).
set -u
cd "$(dirname "$0")/../.."
repo=$PWD; runs=${1:-3}; logs=${2:-/tmp/ptmlock-under-load}; mkdir -p "$logs"
command -v stress-ng >/dev/null || { echo "needs stress-ng: apt-get install -y stress-ng" >&2; exit 2; }
main_cmd=$(sed -n '/^python3 -m venv .venv && .venv\/bin\/pip install -e \. && /p' README.md | head -1)
test_cmd=$(sed -n "/pip install -e '.\[test\]' && .venv\/bin\/python -m pytest/p" README.md | head -1)
[ -n "$main_cmd" ] && [ -n "$test_cmd" ] || { echo "the README's two commands were not found" >&2; exit 2; }
stress-ng --cpu "$(nproc)" --timeout 0 >"$logs/stress-ng.log" 2>&1 &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT
echo "commit $(git -C "$repo" rev-parse --short HEAD), stress-ng --cpu $(nproc), $(date -u +%FT%TZ)" | tee -a "$logs/summary.txt"
for i in $(seq 1 "$runs"); do
  clone=$(mktemp -d); git clone -q "$repo" "$clone"; cd "$clone" || exit 2
  t0=$(date +%s); bash -c "$main_cmd" >"$logs/main-$i.log" 2>&1; rc1=$?; t1=$(date +%s)
  rm -rf .venv
  bash -c "$test_cmd" >"$logs/test-$i.log" 2>&1; rc2=$?; t2=$(date +%s)
  echo "run $i: main command exit $rc1 in $((t1 - t0)) s; test command exit $rc2 in $((t2 - t1)) s:" \
       "$(tail -1 "$logs/test-$i.log"); load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$logs/summary.txt"
  cd "$repo"; rm -rf "$clone"
  [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] || exit 1
done

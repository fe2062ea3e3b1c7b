#!/usr/bin/env bash
# The test suite N times in a row while every core is kept busy by another process, as on a
# laptop doing other work. Stops at the first red run; prints each run's summary and wall time.
#
#   tests/stress.sh [RUNS] [pytest args...]     e.g. tests/stress.sh 5   or   tests/stress.sh 3 -m slow
#
# The CPU hog is Debian's stress-ng when installed, else one shell busy loop per core.
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-5}"
shift || true
cores="$(nproc)"
logs="$(mktemp -d)"

if command -v stress-ng >/dev/null; then
    stress-ng --cpu "$cores" --cpu-method all --quiet &
    hog=$!
    hog_name="stress-ng --cpu $cores"
else
    pids=()
    for _ in $(seq "$cores"); do (while :; do :; done) & pids+=($!); done
    hog="${pids[*]}"
    hog_name="$cores busy loops"
fi
# shellcheck disable=SC2086
trap 'kill $hog 2>/dev/null; wait 2>/dev/null' EXIT

echo "load: $hog_name on $cores cores; logs in $logs"
status=0
for i in $(seq "$runs"); do
    start=$(date +%s)
    .venv/bin/pytest -p no:cacheprovider "$@" >"$logs/run-$i.log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    summary="$(grep -E '[0-9]+ (passed|failed|errors?)' "$logs/run-$i.log" | tail -1)"
    printf 'run %d: exit %d, %dm%02ds wall, load %s  %s\n' "$i" "$rc" $((took / 60)) $((took % 60)) \
        "$(cut -d' ' -f1 /proc/loadavg)" "$summary"
    if [ "$rc" -ne 0 ]; then
        grep -E '^(FAILED|ERROR) ' "$logs/run-$i.log"
        status=1
        break
    fi
done
exit "$status"

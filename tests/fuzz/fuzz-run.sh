#!/bin/sh
# SPDX-License-Identifier: AGPL-3.0-or-later
# fuzz-run.sh: run a built libFuzzer binary on a copy of the seeds for a bounded time; non-zero if it crashed.
# Usage: tests/sim/fuzz-run.sh FUZZ_BINARY [SECONDS]   (SECONDS defaults to 60; builds nothing)
set -u

usage() {
	echo "usage: $0 FUZZ_BINARY [SECONDS]" >&2
	exit 64
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
bin=$1
secs=${2:-60}
case $secs in
'' | *[!0-9]*) usage ;;
esac
[ "$secs" -ge 1 ] || usage
if [ ! -x "$bin" ]; then
	echo "$0: $bin is not an executable; configure with --enable-fuzzer CC=clang and run make first" >&2
	exit 66
fi

seeds=$(cd "$(dirname "$0")" && pwd)/fuzz-seeds
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-wire.XXXXXX") || exit 73
mkdir "$work/corpus" "$work/artifacts"
cp "$seeds"/*.bin "$work/corpus/"

"$bin" "$work/corpus" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" 2>"$work/fuzz.log"
rc=$?
grep -E '^(#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
	"$work/fuzz.log" || true

found=$(ls "$work/artifacts" 2>/dev/null)
if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
	tail -n 60 "$work/fuzz.log" >&2
	echo "$0: the fuzzer failed (exit $rc); inputs and log kept in $work" >&2
	exit 1
fi
rm -rf "$work"
exit 0

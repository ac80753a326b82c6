#!/bin/sh
# SPDX-License-Identifier: AGPL-3.0-or-later
# fuzz-run.sh: run a built libFuzzer binary on a copy of its corpus for a bounded time, print how many
# inputs it executed; non-zero if it crashed (the input is kept for the corpus, see below).
# Usage: tests/fuzz/fuzz-run.sh FUZZ_BINARY [SECONDS [CORPUS_DIR]]   (builds nothing)
#   SECONDS defaults to 60.  CORPUS_DIR defaults to the committed corpus of the binary's name:
#   fuzz-wire -> tests/sim/fuzz-seeds, fuzz-NAME -> tests/fuzz/corpus/NAME.
# Every corpus input runs first, so an input that once broke a property is a regression test: when the
# fuzzer finds one, fix the code, then copy the input into CORPUS_DIR as regress-WHAT.
set -u

usage() {
	echo "usage: $0 FUZZ_BINARY [SECONDS [CORPUS_DIR]]" >&2
	exit 64
}

[ $# -ge 1 ] && [ $# -le 3 ] || usage
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
name=$(basename "$bin")
top=$(cd "$(dirname "$0")/../.." && pwd)
case $name in
fuzz-wire) seeds=$top/tests/sim/fuzz-seeds ;;
fuzz-*) seeds=$top/tests/fuzz/corpus/${name#fuzz-} ;;
*) seeds="" ;;
esac
seeds=${3:-$seeds}
if [ -z "$seeds" ] || [ ! -d "$seeds" ]; then
	echo "$0: no corpus directory for $name: give one as the third argument" >&2
	exit 66
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX") || exit 73
mkdir "$work/corpus" "$work/artifacts"
for f in "$seeds"/*; do
	case $f in
	*.py | */README*) continue ;;
	esac
	[ -f "$f" ] && cp "$f" "$work/corpus/"
done
nseeds=$(ls "$work/corpus" | wc -l)

"$bin" "$work/corpus" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" 2>"$work/fuzz.log"
rc=$?
grep -E '^(#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
	"$work/fuzz.log" || true
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
echo "$name: ${execs:-?} executions in ${secs} s, corpus $nseeds seeds -> $(ls "$work/corpus" | wc -l) inputs"

found=$(ls "$work/artifacts" 2>/dev/null)
if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
	tail -n 60 "$work/fuzz.log" >&2
	echo "$0: $name failed (exit $rc); inputs and log kept in $work: fix the code, then add the input" \
		"to $seeds as regress-WHAT" >&2
	exit 1
fi
rm -rf "$work"
exit 0

#!/bin/bash
# metrics-rules.sh: the shipped alerting rules (conf/mongo-backup.rules.yml) pass promtool check rules
# and their unit tests (promtool test rules, tests/fixtures/metrics/), and those tests catch a rule
# that was changed.  Skipped where promtool is missing.
# SPDX-License-Identifier: AGPL-3.0-or-later
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/simlib.sh"

PROMTOOL=$(t_prombin promtool)
[ -n "$PROMTOOL" ] || tap_skip_all "no promtool (tools/install-deps takes it out of Debian's prometheus package)"
RULES=$top_srcdir/conf/mongo-backup.rules.yml
TESTS_YML=$top_srcdir/tests/fixtures/metrics/mongo-backup.rules.test.yml
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mbh-rules.XXXXXX") || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$TMP"' EXIT

"$PROMTOOL" check rules "$RULES" >"$TMP/check.out" 2>&1
tap_is "$?" 0 "promtool check rules accepts $(basename "$RULES")" || tap_diag_file "$TMP/check.out"
tap_like "$TMP/check.out" "SUCCESS: 5 rules found" "five rules: locked too long, watchdog unlock, no recent success, failures, snapshot left"
"$PROMTOOL" test rules "$TESTS_YML" >"$TMP/test.out" 2>&1
tap_is "$?" 0 "promtool test rules: the rules' unit tests pass" || tap_diag_file "$TMP/test.out"

# mutant EDIT NAME: the same tests against the rules with one sed edit must fail.
mutant() {
	rm -rf "$TMP/m"
	mkdir -p "$TMP/m/conf" "$TMP/m/tests/fixtures/metrics"
	sed "$1" "$RULES" >"$TMP/m/conf/mongo-backup.rules.yml"
	cp "$TESTS_YML" "$TMP/m/tests/fixtures/metrics/"
	if cmp -s "$RULES" "$TMP/m/conf/mongo-backup.rules.yml"; then
		tap_fail "$2 (the edit changed nothing)"
		return
	fi
	"$PROMTOOL" test rules "$TMP/m/tests/fixtures/metrics/$(basename "$TESTS_YML")" >"$TMP/mutant.out" 2>&1
	tap_isnt "$?" 0 "$2"
}
mutant 's/> 86400/> 172800/' "the tests catch a day turned into two (no recent success)"
mutant 's/lock_deadline_timestamp_seconds + 60/lock_deadline_timestamp_seconds + 3600/' "the tests catch a late locked-too-long alert"
mutant 's/increase(mongo_backup_watchdog_unlocks_total\[1h\]) > 0/increase(mongo_backup_watchdog_unlocks_total[1h]) > 1/' \
	"the tests catch a watchdog alert that never fires"
mutant 's/time() - mongo_backup_snapshot_timestamp_seconds > 6 \* 3600/time() - mongo_backup_snapshot_timestamp_seconds > 8 * 3600/' \
	"the tests catch a snapshot alert that fires late"
tap_done

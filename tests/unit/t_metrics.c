/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_metrics.c: the Prometheus textfile: rendering, label escaping, counters, atomic write, unwritable directory (TAP). */
#include "autoconfig.h"

#include <sys/stat.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "metrics.h"
#include "state.h"
#include "tap.h"

static bool
has(const char *text, const char *line)
{
	return text != NULL && strstr(text, line) != NULL;
}

/* Every sample line's family was announced with HELP and TYPE before it. */
static bool
families_announced(const char *text)
{
	const char *p = text, *nl;
	char name[128], typed[128] = "";
	size_t n;

	for (; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			return false; /* the last line ends with a newline */
		if (strncmp(p, "# TYPE ", 7) == 0) {
			n = strcspn(p + 7, " ");
			snprintf(typed, sizeof(typed), "%.*s", (int)n, p + 7);
		} else if (*p != '#') {
			n = strcspn(p, "{ ");
			snprintf(name, sizeof(name), "%.*s", (int)n, p);
			if (strcmp(name, typed) != 0)
				return false;
		}
	}
	return true;
}

static void
sample_rec(mbh_state_rec *r, mbh_phase phase)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->set_name, sizeof(r->set_name), "rs0");
	snprintf(r->member, sizeof(r->member), "db2.example:27018");
	snprintf(r->job, sizeof(r->job), "Nightly");
	snprintf(r->mode, sizeof(r->mode), "hooks");
	snprintf(r->hostname, sizeof(r->hostname), "backup1");
	snprintf(r->token, sizeof(r->token), "0123456789abcdef0123456789abcdef");
	r->phase = phase;
	r->since = 1700000000;
	r->deadline = 1700007200;
	r->pid = 42;
	r->lock_count = phase == MBH_PHASE_LOCKING ? 0 : 1;
}

static void
test_render(void)
{
	mbh_metrics_counters c;
	mbh_state_rec r;
	mbh_error e;
	char *t = NULL;

	mbh_metrics_counters_init(&c);
	mbh_error_init(&e);
	memset(&r, 0, sizeof(r));
	ok(mbh_metrics_render(&t, "rs0", &r, false, true, &c, &e) == 0, "render with no record");
	ok(has(t, "# HELP mongo_backup_locked ") && has(t, "# TYPE mongo_backup_locked gauge\n"), "  HELP and TYPE");
	ok(has(t, "\nmongo_backup_locked{set=\"rs0\"} 0\n"), "  nothing held: locked 0");
	ok(!has(t, "lock_start_timestamp_seconds{"), "  no lock start without a lock");
	ok(has(t, "mongo_backup_last_success_timestamp_seconds{set=\"rs0\"} 0.000\n"), "  never a success: 0");
	ok(has(t, "# TYPE mongo_backup_failures_total counter\n") &&
	   has(t, "mongo_backup_failures_total{set=\"rs0\",reason=\"lock\"} 0\n") &&
	   has(t, "mongo_backup_failures_total{set=\"rs0\",reason=\"stream\"} 0\n"), "  every failure reason, at 0");
	ok(has(t, "mongo_backup_watchdog_unlocks_total{set=\"rs0\"} 0\n"), "  watchdog unlocks at 0");
	ok(!has(t, "last_run_success"), "  no last run before the first");
	ok(families_announced(t), "  every sample after its family's TYPE; ends with a newline");
	free(t);

	sample_rec(&r, MBH_PHASE_LOCKING);
	ok(mbh_metrics_render(&t, "rs0", &r, true, true, &c, &e) == 0, "render an intent (LOCKING)");
	ok(has(t, "mongo_backup_locked{set=\"rs0\",member=\"db2.example:27018\",job=\"Nightly\"} 1\n"),
	   "  the intent counts as locked, with set, member and job");
	ok(has(t, "mongo_backup_lock_start_timestamp_seconds{set=\"rs0\",member=\"db2.example:27018\",job=\"Nightly\"} 1700000000\n"),
	   "  when the lock started");
	ok(has(t, "mongo_backup_lock_deadline_timestamp_seconds{set=\"rs0\",member=\"db2.example:27018\",job=\"Nightly\"} 1700007200\n"),
	   "  when the watchdog ends it");
	ok(!has(t, "mongo_backup_locked{set=\"rs0\"} 0"), "  no 'unlocked' series beside it");
	free(t);

	sample_rec(&r, MBH_PHASE_LOCKED);
	ok(mbh_metrics_render(&t, "rs0", &r, true, true, &c, &e) == 0 && has(t, "job=\"Nightly\"} 1\n"), "LOCKED: locked 1");
	free(t);

	sample_rec(&r, MBH_PHASE_SNAPSHOT);
	snprintf(r.snapshot, sizeof(r.snapshot), "/srv/snap/rs0-1");
	r.snapshot_since = 1700000005;
	ok(mbh_metrics_render(&t, "rs0", &r, true, true, &c, &e) == 0, "render a SNAPSHOT record");
	ok(has(t, "mongo_backup_locked{set=\"rs0\"} 0\n"), "  the member is unlocked");
	ok(has(t, "mongo_backup_snapshot_present{set=\"rs0\",member=\"db2.example:27018\",job=\"Nightly\"} 1\n") &&
	   has(t, "mongo_backup_snapshot_timestamp_seconds{set=\"rs0\",member=\"db2.example:27018\",job=\"Nightly\"} 1700000005\n"),
	   "  the snapshot is there, since when");
	ok(!has(t, "/srv/snap"), "  the snapshot's path is not a label");
	free(t);

	ok(mbh_metrics_render(&t, "rs0", &r, false, false, &c, &e) == 0, "render an unreadable record");
	ok(has(t, "mongo_backup_locked{set=\"rs0\",member=\"unknown\",job=\"\"} 1\n"), "  unknown: reported as locked");
	free(t);

	c.successes = 3;
	c.failures[MBH_METRICS_FAIL_COMMAND] = 2;
	c.watchdog_unlocks = 1;
	c.streamed_bytes = 123456789012ULL;
	c.last_success = 1700000100.25;
	c.last_run = 1700000200.5;
	c.last_run_ok = 0;
	c.last_run_duration = 12.5;
	c.last_lock_duration = 3.25;
	c.last_run_bytes = 4096;
	memset(&r, 0, sizeof(r));
	ok(mbh_metrics_render(&t, "rs0", &r, false, true, &c, &e) == 0, "render counters");
	ok(has(t, "mongo_backup_successes_total{set=\"rs0\"} 3\n") &&
	   has(t, "mongo_backup_failures_total{set=\"rs0\",reason=\"command\"} 2\n") &&
	   has(t, "mongo_backup_watchdog_unlocks_total{set=\"rs0\"} 1\n") &&
	   has(t, "mongo_backup_streamed_bytes_total{set=\"rs0\"} 123456789012\n"), "  the counters");
	ok(has(t, "mongo_backup_last_success_timestamp_seconds{set=\"rs0\"} 1700000100.250\n") &&
	   has(t, "mongo_backup_last_run_timestamp_seconds{set=\"rs0\"} 1700000200.500\n") &&
	   has(t, "mongo_backup_last_run_success{set=\"rs0\"} 0\n") &&
	   has(t, "mongo_backup_last_run_duration_seconds{set=\"rs0\"} 12.500\n") &&
	   has(t, "mongo_backup_last_lock_duration_seconds{set=\"rs0\"} 3.250\n") &&
	   has(t, "mongo_backup_last_run_streamed_bytes{set=\"rs0\"} 4096\n"), "  the last run's figures, in seconds and bytes");
	ok(families_announced(t), "  every sample after its family's TYPE");
	free(t);
}

static void
test_escape(void)
{
	mbh_metrics_counters c;
	mbh_state_rec r;
	mbh_error e;
	char *s, *t = NULL;

	s = mbh_metrics_label_escape("plain-Job_1");
	is_str(s, "plain-Job_1", "label: plain text unchanged");
	free(s);
	s = mbh_metrics_label_escape("a\"b\\c\nd");
	is_str(s, "a\\\"b\\\\c\\nd", "label: quote, backslash and newline as \\\" \\\\ \\n");
	free(s);
	s = mbh_metrics_label_escape("esc\x1b[0m tab\t caf\xc3\xa9 bad\xff");
	is_str(s, "esc\\\\x1b[0m tab\\\\x09 caf\xc3\xa9 bad\\\\xff",
	       "label: other controls and non-UTF-8 as the text \\xNN (its backslash escaped); UTF-8 kept");
	free(s);
	s = mbh_metrics_label_escape(NULL);
	is_str(s, "", "label: NULL is empty");
	free(s);

	mbh_metrics_counters_init(&c);
	mbh_error_init(&e);
	sample_rec(&r, MBH_PHASE_LOCKED);
	snprintf(r.job, sizeof(r.job), "evil\"} 0\nmongo_backup_locked{set=\"x\"} 0\n#");
	ok(mbh_metrics_render(&t, "rs0", &r, true, true, &c, &e) == 0, "render a job name that tries to end the label");
	ok(has(t, "job=\"evil\\\"} 0\\nmongo_backup_locked{set=\\\"x\\\"} 0\\n#\"} 1\n"), "  it stays inside its label value");
	ok(!has(t, "\nmongo_backup_locked{set=\"x\"}"), "  no sample line of its own");
	ok(families_announced(t), "  the file still parses line by line");
	free(t);
}

static void
test_counters(void)
{
	mbh_metrics_counters c, d;
	mbh_metrics_event ev;
	mbh_error e;
	char buf[4096];
	int n;

	mbh_metrics_counters_init(&c);
	memset(&ev, 0, sizeof(ev));
	ev.kind = MBH_METRICS_RELEASED;
	ev.since = 1000;
	ev.by_watchdog = true;
	mbh_metrics_apply(&c, &ev, 1060.5);
	ok(c.watchdog_unlocks == 1 && c.last_lock_duration == 60.5, "released by the watchdog: counted, lock duration");
	ev.by_watchdog = false;
	mbh_metrics_apply(&c, &ev, 1010);
	ok(c.watchdog_unlocks == 1 && c.last_lock_duration == 10, "released by the run: not a watchdog unlock");
	ev.kind = MBH_METRICS_SUCCESS;
	ev.since = 990;
	ev.bytes = 1000;
	mbh_metrics_apply(&c, &ev, 1020);
	ok(c.successes == 1 && c.last_success == 1020 && c.last_run_ok == 1 && c.last_run_duration == 30 &&
	   c.streamed_bytes == 1000 && c.last_run_bytes == 1000, "success: counted, time, duration, bytes");
	ev.kind = MBH_METRICS_FAILURE;
	ev.reason = MBH_METRICS_FAIL_UNLOCK;
	ev.bytes = -1;
	mbh_metrics_apply(&c, &ev, 1030);
	ok(c.failures[MBH_METRICS_FAIL_UNLOCK] == 1 && c.last_success == 1020 && c.last_run_ok == 0 &&
	   c.streamed_bytes == 1000 && c.last_run_bytes == -1, "failure: by reason; the last success stays");
	ev.kind = MBH_METRICS_CHANGED;
	d = c;
	mbh_metrics_apply(&c, &ev, 2000);
	ok(memcmp(&c, &d, sizeof(c)) == 0, "a change of the record counts nothing");

	n = mbh_metrics_counters_format(&c, buf, sizeof(buf));
	ok(n > 0, "counters format");
	mbh_error_init(&e);
	ok(mbh_metrics_counters_parse(&d, buf, &e) == 0 && memcmp(&c, &d, sizeof(c)) == 0, "  and parse back the same");
	ok(mbh_metrics_counters_format(&c, buf, 20) == -1, "  a buffer too small: -1");
	ok(mbh_metrics_counters_parse(&d, "successes_total 5\nfrom_a_newer_version 7\n\n", &e) == 0 && d.successes == 5,
	   "parse skips unknown names and blank lines");
	ok(mbh_metrics_counters_parse(&d, "successes_total five\n", &e) == -1 && e.code == EX_DATAERR &&
	   strstr(e.msg, "line 1") != NULL, "a bad value: EX_DATAERR with its line");
	ok(mbh_metrics_counters_parse(&d, "", &e) == 0 && d.successes == 0 && d.last_run_ok == -1, "empty: nothing counted");
}

/* Files in dir whose name starts with prefix. */
static int
count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = calloc(1, 65536);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int warnings;

static void
count_warnings(void *ctx, mbh_log_level level, const char *line)
{
	(void)ctx;
	(void)line;
	if (level == MBH_LOG_WARNING)
		warnings++;
}

static void
test_files(void)
{
	char dir[] = "/tmp/t_metrics.XXXXXX", path[512], sdir[300], prom[300], *text, *p;
	mbh_metrics m, m2;
	mbh_state_rec r;
	mbh_logger *lg = NULL;
	mbh_error e;
	struct stat st;

	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/mongo-backup-rs0.prom", dir);
	mbh_error_init(&e);
	ok(mbh_metrics_write_file(path, "a 1\n", false, &e) == 0, "write a textfile");
	ok(mbh_metrics_write_file(path, "a 2\n", true, &e) == 0, "replace it (durable)");
	text = slurp(path);
	is_str(text, "a 2\n", "  it holds the last text whole");
	free(text);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "  mode 0644 (the exporter reads it)");
	is_int(count_files(dir, "."), 2, "  no temporary file left (only . and ..)");
	snprintf(prom, sizeof(prom), "%s/missing/x.prom", dir);
	ok(mbh_metrics_write_file(prom, "a 3\n", false, &e) == -1 && e.code == EX_CANTCREAT && strstr(e.msg, prom) != NULL,
	   "a missing directory: EX_CANTCREAT naming the file");
	snprintf(prom, sizeof(prom), "%s/mongo-backup-rs0.prom/x.prom", dir);
	ok(mbh_metrics_write_file(prom, "a 3\n", false, &e) == -1, "a directory that is a file: fails");
	text = slurp(path);
	is_str(text, "a 2\n", "  the file in place is untouched");
	free(text);

	p = mbh_metrics_path("/x/mongo-backup-%s.prom", "rs0");
	is_str(p, "/x/mongo-backup-rs0.prom", "%s in the path is the set");
	free(p);
	p = mbh_metrics_path("/x/fixed.prom", "rs0");
	is_str(p, "/x/fixed.prom", "a path without %s is used as is");
	free(p);

	/* note: the record and the counters file, end to end */
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	mkdir(sdir, 0700);
	mbh_logger_new(&lg, "t_metrics", MBH_LOG_DEBUG, 0, count_warnings, NULL);
	memset(&m, 0, sizeof(m));
	snprintf(prom, sizeof(prom), "%s/mongo-backup-%%s.prom", dir);
	m.textfile = prom;
	m.state_dir = sdir;
	m.log = lg;
	mbh_metrics_note(&m, "rs0", &(mbh_metrics_event){ .kind = MBH_METRICS_CHANGED });
	text = slurp(path);
	ok(has(text, "\nmongo_backup_locked{set=\"rs0\"} 0\n"), "note without a record: unlocked");
	free(text);
	sample_rec(&r, MBH_PHASE_LOCKING);
	mbh_state_put(sdir, &r, &e);
	mbh_metrics_note(&m, "rs0", &(mbh_metrics_event){ .kind = MBH_METRICS_CHANGED });
	text = slurp(path);
	ok(has(text, "job=\"Nightly\"} 1\n"), "note after the intent: locked, read from the record");
	free(text);
	mbh_state_unlink(sdir, "rs0", &e);
	mbh_metrics_note(&m, "rs0", &(mbh_metrics_event){ .kind = MBH_METRICS_RELEASED, .since = 1, .by_watchdog = true });
	memset(&m2, 0, sizeof(m2));
	m2 = m;
	m2.warned = false;
	mbh_metrics_note(&m2, "rs0", &(mbh_metrics_event){ .kind = MBH_METRICS_FAILURE, .reason = MBH_METRICS_FAIL_COMMAND,
							  .bytes = -1 });
	text = slurp(path);
	ok(has(text, "\nmongo_backup_locked{set=\"rs0\"} 0\n") && has(text, "mongo_backup_watchdog_unlocks_total{set=\"rs0\"} 1\n") &&
	   has(text, "reason=\"command\"} 1\n"), "counters survive from one run to the next (DIR/SET.metrics)");
	free(text);
	snprintf(path, sizeof(path), "%s/rs0.metrics", sdir);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "  the counters file is 0600 in the state directory");
	text = slurp(path);
	ok(text != NULL && !has(text, "Nightly") && !has(text, "db2.example"), "  it holds counts, not the record");
	free(text);
	is_int(warnings, 0, "no warning while all is writable");

	/* a textfile directory that cannot be written: one warning per run, nothing else */
	snprintf(prom, sizeof(prom), "%s/missing/mongo-backup-%%s.prom", dir);
	m.textfile = prom;
	m.warned = false;
	mbh_metrics_note(&m, "rs0", &(mbh_metrics_event){ .kind = MBH_METRICS_CHANGED });
	mbh_metrics_note(&m, "rs0", &(mbh_metrics_event){ .kind = MBH_METRICS_SUCCESS, .since = 1, .bytes = -1 });
	is_int(warnings, 1, "an unwritable directory: one warning for the run, however many notes");
	text = slurp(path);
	ok(has(text, "successes_total 1\n"), "  the counters are still kept");
	free(text);
	mbh_metrics_note(&m, "../etc", &(mbh_metrics_event){ .kind = MBH_METRICS_CHANGED });
	snprintf(path, sizeof(path), "%s/../etc.metrics", sdir);
	ok(access(path, F_OK) != 0, "a set name that is not a file name: nothing written");
	m.textfile = NULL;
	mbh_metrics_note(&m, "rs0", &(mbh_metrics_event){ .kind = MBH_METRICS_SUCCESS });
	snprintf(path, sizeof(path), "%s/rs0.metrics", sdir);
	text = slurp(path);
	ok(has(text, "successes_total 1\n"), "metrics off: nothing counted, nothing written");
	free(text);
	mbh_logger_free(lg);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		diag("could not remove %s", dir);
}

int
main(void)
{
	tap_init();
	test_render();
	test_escape();
	test_counters();
	test_files();
	return tap_done();
}

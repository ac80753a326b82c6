/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_log.c: log lines: stderr format, levels, the sink, secret and URI masking, driver routing (TAP). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "log.h"
#include "tap.h"

/* What the sink saw last. */
static char last_line[1024];
static int last_level = -1;
static int sink_calls;

static void
sink(void *ctx, mbh_log_level level, const char *line)
{
	(void)ctx;
	snprintf(last_line, sizeof(last_line), "%s", line);
	last_level = (int)level;
	sink_calls++;
}

static void
reset(void)
{
	last_line[0] = '\0';
	last_level = -1;
	sink_calls = 0;
}

static void
test_stderr_format(void)
{
	char path[] = "/tmp/t_log.XXXXXX", buf[1024];
	int fd, saved;
	ssize_t n;

	fd = mkstemp(path);
	saved = dup(STDERR_FILENO);
	if (fd < 0 || saved < 0 || dup2(fd, STDERR_FILENO) < 0) {
		ok(0, "redirect stderr");
		return;
	}
	mbh_log_setup("mongo-prebackup", MBH_LOG_DEBUG, true, false);
	mbh_log(MBH_LOG_ERROR, "cannot reach %s", "h1:27017");
	mbh_log(MBH_LOG_WARNING, "lockCount %d, expected %d", 2, 1);
	mbh_log(MBH_LOG_NOTICE, "watchdog armed");
	mbh_log(MBH_LOG_INFO, "locked %s", "h3:27019");
	mbh_log(MBH_LOG_DEBUG, "hello sent");
	mbh_log_setup("mongo-prebackup", MBH_LOG_WARNING, true, false);
	mbh_log(MBH_LOG_INFO, "dropped at warning level");
	mbh_log(MBH_LOG_WARNING, "two\nlines");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf,
	       "mongo-prebackup: error: cannot reach h1:27017\n"
	       "mongo-prebackup: warning: lockCount 2, expected 1\n"
	       "mongo-prebackup: watchdog armed\n"
	       "mongo-prebackup: locked h3:27019\n"
	       "mongo-prebackup: debug: hello sent\n"
	       "mongo-prebackup: warning: two lines\n",
	       "stderr lines: 'IDENT: level: message', no level word for info/notice, one line each");
	close(fd);
	unlink(path);
}

static void
test_sink_and_masking(void)
{
	char out[256], big[3000];

	mbh_log_setup("t_log", MBH_LOG_INFO, false, false);
	mbh_log_set_sink(sink, NULL);
	reset();
	mbh_log(MBH_LOG_INFO, "plain %d", 1);
	is_str(last_line, "plain 1", "the sink gets the message without ident");
	is_int(last_level, MBH_LOG_INFO, "  and its level");
	reset();
	mbh_log(MBH_LOG_DEBUG, "too verbose");
	is_int(sink_calls, 0, "lines above max_level are dropped");

	mbh_log_add_secret("s3cr3t");
	mbh_log_add_secret("abc");
	mbh_log_add_secret("abcdef");
	mbh_log_add_secret("");
	mbh_log_add_secret(NULL);
	reset();
	mbh_log(MBH_LOG_WARNING, "auth with s3cr3t failed, s3cr3t!");
	is_str(last_line, "auth with ***** failed, *****!", "every occurrence of a secret is masked");
	reset();
	mbh_log(MBH_LOG_INFO, "xabcdefx abcx");
	is_str(last_line, "x*****x *****x", "a secret containing another is masked whole");
	reset();
	mbh_log(MBH_LOG_INFO, "connecting to mongodb://backup:hunter2@h1:27017,h2/?replicaSet=rs0 now");
	is_str(last_line, "connecting to mongodb://backup:*****@h1:27017,h2/?replicaSet=rs0 now",
	       "an unregistered URI password is masked");
	reset();
	mbh_log(MBH_LOG_INFO, "uri \"mongodb+srv://u:p%%40w@c.example.com/\" and 'MONGODB://a:b@h'");
	is_str(last_line, "uri \"mongodb+srv://u:*****@c.example.com/\" and 'MONGODB://a:*****@h'",
	       "srv and upper-case schemes, quoted");
	reset();
	mbh_log(MBH_LOG_INFO, "user@example.com: a:b is not a URI");
	is_str(last_line, "user@example.com: a:b is not a URI", "text without a scheme is left alone");
	mbh_log_redact("key s3cr3t\nnext", out, sizeof(out));
	is_str(out, "key ***** next", "mbh_log_redact masks and flattens");
	mbh_log_redact("s3cr3t s3cr3t", out, 8);
	is_str(out, "***** *", "mbh_log_redact truncates after masking");
	memset(big, 'a', sizeof(big) - 8);
	memcpy(big + sizeof(big) - 8, "s3cr3t", 7);
	reset();
	mbh_log(MBH_LOG_INFO, "%s", big);
	ok(strlen(last_line) > 0 && strstr(last_line, "s3cr3t") == NULL, "a long line is masked too");
	mbh_log_clear_secrets();
	reset();
	mbh_log(MBH_LOG_INFO, "s3cr3t");
	is_str(last_line, "s3cr3t", "after clear_secrets nothing is masked");
	mbh_log_set_sink(NULL, NULL);
	reset();
	mbh_log(MBH_LOG_ERROR, "no sink");
	is_int(sink_calls, 0, "sink removed");
}

static void
test_driver(void)
{
	mbh_log_setup("t_log", MBH_LOG_INFO, false, false);
	mbh_log_set_sink(sink, NULL);
	mbh_log_add_secret("drvpw");
	reset();
	mongoc_log(MONGOC_LOG_LEVEL_WARNING, "cluster", "Unsupported URI option \"%s\"", "bogus");
	is_str(last_line, "driver: cluster: Unsupported URI option \"bogus\"", "a driver warning is logged");
	is_int(last_level, MBH_LOG_WARNING, "  at warning level");
	reset();
	mongoc_log(MONGOC_LOG_LEVEL_ERROR, "mongoc", "auth failed for drvpw");
	is_str(last_line, "driver: mongoc: auth failed for *****", "a driver error is a masked warning");
	is_int(last_level, MBH_LOG_WARNING, "  at warning level");
	reset();
	mongoc_log(MONGOC_LOG_LEVEL_INFO, "cluster", "chatter");
	is_int(sink_calls, 0, "driver info is debug: dropped at info");
	mbh_log_setup("t_log", MBH_LOG_DEBUG, false, false);
	reset();
	mongoc_log(MONGOC_LOG_LEVEL_MESSAGE, "cluster", "chatter");
	is_int(last_level, MBH_LOG_DEBUG, "driver message: debug level");
	mbh_log_set_sink(NULL, NULL);
	mbh_log_clear_secrets();
}

static void
test_levels(void)
{
	static const char *const names[] = { "error", "warning", "notice", "info", "debug" };
	mbh_log_level l = MBH_LOG_INFO;
	size_t i;

	for (i = 0; i < 5; i++)
		ok(mbh_log_level_parse(names[i], &l) == 0 && l == (mbh_log_level)i, "level '%s'", names[i]);
	ok(mbh_log_level_parse("loud", &l) != 0, "unknown level refused");
	ok(mbh_log_level_parse("INFO", &l) != 0, "names are lower case");
	ok(mbh_log_level_parse(NULL, &l) != 0, "NULL refused");
}

static void
test_syslog_setup(void)
{
	/* openlog/closelog only: the lines themselves go to the system's logger, not checked here. */
	mbh_log_setup("t_log", MBH_LOG_ERROR, false, true);
	mbh_log_setup("t_log", MBH_LOG_ERROR, false, false);
	ok(1, "syslog can be switched on and off");
}

int
main(void)
{
	tap_init();
	test_stderr_format();
	test_sink_and_masking();
	test_driver();
	test_levels();
	test_syslog_setup();
	return tap_done();
}

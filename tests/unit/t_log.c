/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_log.c: log lines: stderr format, levels, the sink, secret and URI masking, driver routing (TAP). */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mongoc/mongoc.h>

#include "log.h"
#include "mongoerr.h"
#include "tap.h"

/* The logger under test. */
static mbh_logger *L;

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
	mbh_logger_new(&L, "mongo-prebackup", MBH_LOG_DEBUG, MBH_LOG_STDERR, NULL, NULL);
	mbh_logf(L, MBH_LOG_ERROR, "cannot reach %s", "h1:27017");
	mbh_logf(L, MBH_LOG_WARNING, "lockCount %d, expected %d", 2, 1);
	mbh_logf(L, MBH_LOG_NOTICE, "watchdog armed");
	mbh_logf(L, MBH_LOG_INFO, "locked %s", "h3:27019");
	mbh_logf(L, MBH_LOG_DEBUG, "hello sent");
	mbh_logger_configure(L, MBH_LOG_WARNING, MBH_LOG_STDERR);
	mbh_logf(L, MBH_LOG_INFO, "dropped at warning level");
	mbh_logf(L, MBH_LOG_WARNING, "two\nlines");
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
	mbh_logger_free(L);
}

static void
test_sink_and_masking(void)
{
	char out[256], big[3000];

	mbh_logger_new(&L, "t_log", MBH_LOG_INFO, 0, sink, NULL);
	reset();
	mbh_logf(L, MBH_LOG_INFO, "plain %d", 1);
	is_str(last_line, "plain 1", "the sink gets the message without ident");
	is_int(last_level, MBH_LOG_INFO, "  and its level");
	reset();
	mbh_logf(L, MBH_LOG_DEBUG, "too verbose");
	is_int(sink_calls, 0, "lines above max_level are dropped");

	mbh_logger_add_secret(L, "s3cr3t");
	mbh_logger_add_secret(L, "abc");
	mbh_logger_add_secret(L, "abcdef");
	mbh_logger_add_secret(L, "");
	mbh_logger_add_secret(L, NULL);
	reset();
	mbh_logf(L, MBH_LOG_WARNING, "auth with s3cr3t failed, s3cr3t!");
	is_str(last_line, "auth with ***** failed, *****!", "every occurrence of a secret is masked");
	reset();
	mbh_logf(L, MBH_LOG_INFO, "xabcdefx abcx");
	is_str(last_line, "x*****x *****x", "a secret containing another is masked whole");
	reset();
	mbh_logf(L, MBH_LOG_INFO, "connecting to mongodb://backup:hunter2@h1:27017,h2/?replicaSet=rs0 now");
	is_str(last_line, "connecting to mongodb://backup:*****@h1:27017,h2/?replicaSet=rs0 now",
	       "an unregistered URI password is masked");
	reset();
	mbh_logf(L, MBH_LOG_INFO, "uri \"mongodb+srv://u:p%%40w@c.example.com/\" and 'MONGODB://a:b@h'");
	is_str(last_line, "uri \"mongodb+srv://u:*****@c.example.com/\" and 'MONGODB://a:*****@h'",
	       "srv and upper-case schemes, quoted");
	reset();
	mbh_logf(L, MBH_LOG_INFO, "user@example.com: a:b is not a URI");
	is_str(last_line, "user@example.com: a:b is not a URI", "text without a scheme is left alone");
	mbh_logger_redact(L, "key s3cr3t\nnext", out, sizeof(out));
	is_str(out, "key ***** next", "mbh_logger_redact masks and flattens");
	mbh_logger_redact(L, "s3cr3t s3cr3t", out, 8);
	is_str(out, "***** *", "mbh_logger_redact truncates after masking");
	memset(big, 'a', sizeof(big) - 8);
	memcpy(big + sizeof(big) - 8, "s3cr3t", 7);
	reset();
	mbh_logf(L, MBH_LOG_INFO, "%s", big);
	ok(strlen(last_line) > 0 && strstr(last_line, "s3cr3t") == NULL, "a long line is masked too");
	mbh_logger_redact(L, "esc \x1b[31m bell \a", out, sizeof(out));
	is_str(out, "esc \\x1b[31m bell \\x07", "control characters are escaped, never sent raw");
	mbh_logger_free(L);
	L = NULL;
	reset();
	mbh_logf(L, MBH_LOG_ERROR, "no logger");
	is_int(sink_calls, 0, "a NULL logger logs nothing");
}

/* Two jobs' loggers in one process: each its own sink and secrets. */
typedef struct rec_sink {
	char last[256];
	int calls;
} rec_sink;

static void
rec(void *ctx, mbh_log_level level, const char *line)
{
	rec_sink *r = ctx;

	(void)level;
	snprintf(r->last, sizeof(r->last), "%s", line);
	r->calls++;
}

typedef struct writer {
	mbh_logger *lg;
	const char *word;
} writer;

static void *
write_many(void *arg)
{
	writer *w = arg;
	int i;

	for (i = 0; i < 2000; i++)
		mbh_logf(w->lg, MBH_LOG_INFO, "%s %d", w->word, i);
	return NULL;
}

static void
test_two_loggers(void)
{
	mbh_logger *a = NULL, *b = NULL;
	rec_sink ra = { "", 0 }, rb = { "", 0 };
	pthread_t ta, tb;
	writer wa, wb;

	mbh_logger_new(&a, "job-a", MBH_LOG_INFO, 0, rec, &ra);
	mbh_logger_new(&b, "job-b", MBH_LOG_INFO, 0, rec, &rb);
	mbh_logger_add_secret(a, "alpha-pw");
	mbh_logger_add_secret(b, "beta-pw");
	mbh_logf(a, MBH_LOG_INFO, "a sees alpha-pw and beta-pw");
	is_str(ra.last, "a sees ***** and beta-pw", "a logger masks its own secrets only");
	is_int(rb.calls, 0, "  and writes into its own sink only");
	mbh_logger_free(a);
	a = NULL;
	mbh_logf(b, MBH_LOG_INFO, "b still masks beta-pw");
	is_str(rb.last, "b still masks *****", "freeing one job's logger does not wipe another's secrets");
	mbh_logger_new(&a, "job-a", MBH_LOG_INFO, 0, rec, &ra);
	ra.calls = rb.calls = 0;
	wa.lg = a;
	wa.word = "from-a";
	wb.lg = b;
	wb.word = "from-b";
	pthread_create(&ta, NULL, write_many, &wa);
	pthread_create(&tb, NULL, write_many, &wb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ok(ra.calls == 2000 && rb.calls == 2000 && strncmp(ra.last, "from-a", 6) == 0 && strncmp(rb.last, "from-b", 6) == 0,
	   "two threads, two loggers: every line in its own sink (%d, %d)", ra.calls, rb.calls);
	mbh_logger_free(a);
	mbh_logger_free(b);
}

static void
test_driver(void)
{
	mbh_logger_new(&L, "t_log", MBH_LOG_INFO, 0, sink, NULL);
	mbh_logger_add_secret(L, "drvpw");
	mongoc_log_set_handler(mbh_log_driver, L);
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
	mbh_logger_configure(L, MBH_LOG_DEBUG, 0);
	reset();
	mongoc_log(MONGOC_LOG_LEVEL_MESSAGE, "cluster", "chatter");
	is_int(last_level, MBH_LOG_DEBUG, "driver message: debug level");
	mongoc_log_set_handler(NULL, NULL);
	mbh_logger_free(L);
	L = NULL;
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


int
main(void)
{
	tap_init();
	test_stderr_format();
	test_sink_and_masking();
	test_driver();
	test_levels();
	test_two_loggers();
	return tap_done();
}

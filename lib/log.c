/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* log.c: one job's logger: stderr, syslog and an extra sink, that job's secrets masked. */
#include "autoconfig.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "escape.h"
#include "log.h"
#include "uri.h"

#define MASK "*****"

/*
 * One job's logger.  The plugin logs from the job thread and from Bacula's
 * cancel thread, so every field is read and written under mu.
 */
struct mbh_logger {
	pthread_mutex_t mu;
	char ident[64];
	mbh_log_level max_level;
	unsigned flags;
	mbh_log_sink sink;
	void *sink_ctx;
	char **secrets;   /* longest first, so a secret containing another is masked whole */
	size_t nsecrets;
};

/* A growable string; on allocation failure it stays NULL and every append is a no-op. */
typedef struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
} sbuf;

static void
sb_append(sbuf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 128;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			free(b->p);
			b->p = NULL;
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Replace every registered secret; caller holds lg->mu (lg may be NULL).  Returns a new string or NULL. */
static char *
mask_secrets(const mbh_logger *lg, const char *in)
{
	sbuf b = { 0 };
	const char *p = in;
	size_t i, slen;

	sb_append(&b, "", 0);
	while (*p != '\0') {
		for (i = 0; lg != NULL && i < lg->nsecrets; i++) {
			slen = strlen(lg->secrets[i]);
			if (strncmp(p, lg->secrets[i], slen) == 0)
				break;
		}
		if (lg != NULL && i < lg->nsecrets) {
			sb_append(&b, MASK, strlen(MASK));
			p += strlen(lg->secrets[i]);
		} else {
			sb_append(&b, p, 1);
			p++;
		}
	}
	return b.p;
}

/* Does a connection string start at p?  Returns the scheme length or 0. */
static size_t
uri_scheme_at(const char *p)
{
	if (strncasecmp(p, "mongodb://", 10) == 0)
		return 10;
	if (strncasecmp(p, "mongodb+srv://", 14) == 0)
		return 14;
	return 0;
}

/*
 * Redact every token that looks like a connection string (it runs to the
 * next blank or quote) and flatten line breaks.  Returns a new string or NULL.
 */
static char *
mask_uris(const char *in)
{
	sbuf b = { 0 };
	const char *p = in;
	char *red;
	size_t n;

	sb_append(&b, "", 0);
	while (*p != '\0') {
		if (uri_scheme_at(p) > 0) {
			n = strcspn(p, " \t\r\n\"'<>");
			red = mbh_uri_redact_dup(p, n);
			if (red == NULL) {
				free(b.p);
				return NULL;
			}
			sb_append(&b, red, strlen(red));
			free(red);
			p += n;
			continue;
		}
		if (*p == '\n' || *p == '\r')
			sb_append(&b, " ", 1);
		else
			sb_append(&b, p, 1);
		p++;
	}
	return b.p;
}

/*
 * Both maskings, then escaping (a terminal, syslog or a job log must never get
 * raw control characters from a config or URI); caller holds lg->mu.
 * Returns a new string or NULL.
 */
static char *
mask_line(const mbh_logger *lg, const char *in)
{
	char *a, *b, *c;

	a = mask_secrets(lg, in);
	if (a == NULL)
		return NULL;
	b = mask_uris(a);
	explicit_bzero(a, strlen(a));
	free(a);
	if (b == NULL)
		return NULL;
	c = mbh_escape_dup(b, strlen(b));
	free(b);
	return c;
}

static const char *
level_word(mbh_log_level level)
{
	switch (level) {
	case MBH_LOG_ERROR:
		return "error: ";
	case MBH_LOG_WARNING:
		return "warning: ";
	case MBH_LOG_DEBUG:
		return "debug: ";
	default:
		return "";
	}
}

static int
syslog_priority(mbh_log_level level)
{
	switch (level) {
	case MBH_LOG_ERROR:
		return LOG_ERR;
	case MBH_LOG_WARNING:
		return LOG_WARNING;
	case MBH_LOG_NOTICE:
		return LOG_NOTICE;
	case MBH_LOG_INFO:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

/* A new logger. */
int
mbh_logger_new(mbh_logger **out, const char *ident, mbh_log_level max_level, unsigned flags, mbh_log_sink sink,
	       void *sink_ctx)
{
	mbh_logger *lg;

	*out = NULL;
	if ((lg = calloc(1, sizeof(*lg))) == NULL)
		return -1;
	pthread_mutex_init(&lg->mu, NULL);
	snprintf(lg->ident, sizeof(lg->ident), "%s", ident != NULL ? ident : "mongo-backup-hooks");
	lg->max_level = max_level;
	lg->flags = flags;
	lg->sink = sink;
	lg->sink_ctx = sink_ctx;
	*out = lg;
	return 0;
}

/* New level and destinations. */
void
mbh_logger_configure(mbh_logger *lg, mbh_log_level max_level, unsigned flags)
{
	if (lg == NULL)
		return;
	pthread_mutex_lock(&lg->mu);
	lg->max_level = max_level;
	lg->flags = flags;
	pthread_mutex_unlock(&lg->mu);
}

/* Remember a secret (a copy), keeping the list longest first. */
void
mbh_logger_add_secret(mbh_logger *lg, const char *secret)
{
	char **nv, *copy;
	size_t i, pos, slen;

	if (lg == NULL || secret == NULL || secret[0] == '\0')
		return;
	slen = strlen(secret);
	pthread_mutex_lock(&lg->mu);
	for (i = 0; i < lg->nsecrets; i++)
		if (strcmp(lg->secrets[i], secret) == 0)
			goto out;
	copy = strdup(secret);
	if (copy == NULL)
		goto out;
	nv = realloc(lg->secrets, (lg->nsecrets + 1) * sizeof(*nv));
	if (nv == NULL) {
		explicit_bzero(copy, slen);
		free(copy);
		goto out;
	}
	lg->secrets = nv;
	for (pos = 0; pos < lg->nsecrets; pos++)
		if (strlen(lg->secrets[pos]) < slen)
			break;
	memmove(&lg->secrets[pos + 1], &lg->secrets[pos], (lg->nsecrets - pos) * sizeof(*nv));
	lg->secrets[pos] = copy;
	lg->nsecrets++;
out:
	pthread_mutex_unlock(&lg->mu);
}

/* Wipe and free. */
void
mbh_logger_free(mbh_logger *lg)
{
	size_t i;

	if (lg == NULL)
		return;
	for (i = 0; i < lg->nsecrets; i++) {
		explicit_bzero(lg->secrets[i], strlen(lg->secrets[i]));
		free(lg->secrets[i]);
	}
	free(lg->secrets);
	pthread_mutex_destroy(&lg->mu);
	free(lg);
}

/* Mask a message for use outside mbh_logf. */
void
mbh_logger_redact(mbh_logger *lg, const char *in, char *out, size_t outlen)
{
	char *m;

	if (out == NULL || outlen == 0)
		return;
	if (lg != NULL)
		pthread_mutex_lock(&lg->mu);
	m = mask_line(lg, in ? in : "");
	if (lg != NULL)
		pthread_mutex_unlock(&lg->mu);
	/* Never hand back the unmasked text, even when memory is short. */
	snprintf(out, outlen, "%s", m ? m : "(message withheld: out of memory)");
	free(m);
}

/* Log one line. */
void
mbh_logf(mbh_logger *lg, mbh_log_level level, const char *fmt, ...)
{
	char stackbuf[512], *raw = stackbuf, *line = NULL;
	const char *text;
	mbh_log_sink sink;
	void *sink_ctx;
	va_list ap;
	int n;

	if (lg == NULL)
		return;
	pthread_mutex_lock(&lg->mu);
	if (level > lg->max_level) {
		pthread_mutex_unlock(&lg->mu);
		return;
	}
	pthread_mutex_unlock(&lg->mu);

	va_start(ap, fmt);
	n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(stackbuf)) {
		raw = malloc((size_t)n + 1);
		if (raw == NULL)
			return;
		va_start(ap, fmt);
		vsnprintf(raw, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}

	pthread_mutex_lock(&lg->mu);
	line = mask_line(lg, raw);
	text = line ? line : "(message withheld: out of memory)";
	if (lg->flags & MBH_LOG_STDERR)
		fprintf(stderr, "%s: %s%s\n", lg->ident, level_word(level), text);
	if (lg->flags & MBH_LOG_SYSLOG)
		syslog(syslog_priority(level), "%s%s", level_word(level), text);
	sink = lg->sink;
	sink_ctx = lg->sink_ctx;
	pthread_mutex_unlock(&lg->mu);

	/* Outside the lock: a sink may log again. */
	if (sink != NULL)
		sink(sink_ctx, level, text);

	/* The unmasked text may hold a secret: wipe it. */
	if (raw != stackbuf) {
		explicit_bzero(raw, (size_t)n);
		free(raw);
	}
	explicit_bzero(stackbuf, sizeof(stackbuf));
	free(line);
}

/* Parse a level name. */
int
mbh_log_level_parse(const char *name, mbh_log_level *out)
{
	static const char *const names[] = { "error", "warning", "notice", "info", "debug" };
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (mbh_log_level)i;
			return 0;
		}
	}
	return -1;
}

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* log.c: one logger for the process: stderr, syslog and an extra sink, secrets masked. */
#include "autoconfig.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <mongoc/mongoc.h>

#include "log.h"
#include "uri.h"

#define MASK "*****"

/*
 * Process-wide: the plugin logs from the job thread and from Bacula's cancel
 * thread, so every field is read and written under mu.
 */
static struct {
	pthread_mutex_t mu;
	char ident[64];
	mbh_log_level max_level;
	bool to_stderr;
	bool to_syslog;
	bool syslog_open;
	mbh_log_sink sink;
	void *sink_ctx;
	char **secrets;   /* longest first, so a secret containing another is masked whole */
	size_t nsecrets;
} L = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.ident = "mongo-backup-hooks",
	.max_level = MBH_LOG_INFO,
	.to_stderr = true,
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

/* Replace every registered secret; caller holds L.mu.  Returns a new string or NULL. */
static char *
mask_secrets(const char *in)
{
	sbuf b = { 0 };
	const char *p = in;
	size_t i, slen;

	sb_append(&b, "", 0);
	while (*p != '\0') {
		for (i = 0; i < L.nsecrets; i++) {
			slen = strlen(L.secrets[i]);
			if (strncmp(p, L.secrets[i], slen) == 0)
				break;
		}
		if (i < L.nsecrets) {
			sb_append(&b, MASK, strlen(MASK));
			p += strlen(L.secrets[i]);
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

/* Both maskings; caller holds L.mu.  Returns a new string or NULL. */
static char *
mask_line(const char *in)
{
	char *a, *b;

	a = mask_secrets(in);
	if (a == NULL)
		return NULL;
	b = mask_uris(a);
	free(a);
	return b;
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

/* libmongoc's own messages: its warnings and errors are ours, the rest is debug. */
static void
driver_log(mongoc_log_level_t dlevel, const char *domain, const char *message, void *ctx)
{
	mbh_log_level level;

	(void)ctx;
	if (dlevel == MONGOC_LOG_LEVEL_TRACE)
		return;
	if (dlevel == MONGOC_LOG_LEVEL_ERROR || dlevel == MONGOC_LOG_LEVEL_CRITICAL ||
	    dlevel == MONGOC_LOG_LEVEL_WARNING)
		level = MBH_LOG_WARNING;
	else
		level = MBH_LOG_DEBUG;
	mbh_log(level, "driver: %s: %s", domain ? domain : "mongoc", message ? message : "");
}

/* Configure the logger; see log.h. */
void
mbh_log_setup(const char *ident, mbh_log_level max_level, bool to_stderr, bool to_syslog)
{
	pthread_mutex_lock(&L.mu);
	if (ident != NULL)
		snprintf(L.ident, sizeof(L.ident), "%s", ident);
	L.max_level = max_level;
	L.to_stderr = to_stderr;
	/* openlog keeps the ident pointer: L.ident lives as long as the process. */
	if (L.syslog_open && (!to_syslog || ident != NULL)) {
		closelog();
		L.syslog_open = false;
	}
	if (to_syslog && !L.syslog_open) {
		openlog(L.ident, LOG_PID, LOG_DAEMON);
		L.syslog_open = true;
	}
	L.to_syslog = to_syslog;
	pthread_mutex_unlock(&L.mu);
	mongoc_log_set_handler(driver_log, NULL);
}

/* Install or remove the extra sink. */
void
mbh_log_set_sink(mbh_log_sink fn, void *ctx)
{
	pthread_mutex_lock(&L.mu);
	L.sink = fn;
	L.sink_ctx = fn ? ctx : NULL;
	pthread_mutex_unlock(&L.mu);
}

/* Remember a secret (a copy), keeping the list longest first. */
void
mbh_log_add_secret(const char *secret)
{
	char **nv, *copy;
	size_t i, pos, slen;

	if (secret == NULL || secret[0] == '\0')
		return;
	slen = strlen(secret);
	pthread_mutex_lock(&L.mu);
	for (i = 0; i < L.nsecrets; i++)
		if (strcmp(L.secrets[i], secret) == 0)
			goto out;
	copy = strdup(secret);
	if (copy == NULL)
		goto out;
	nv = realloc(L.secrets, (L.nsecrets + 1) * sizeof(*nv));
	if (nv == NULL) {
		explicit_bzero(copy, slen);
		free(copy);
		goto out;
	}
	L.secrets = nv;
	for (pos = 0; pos < L.nsecrets; pos++)
		if (strlen(L.secrets[pos]) < slen)
			break;
	memmove(&L.secrets[pos + 1], &L.secrets[pos], (L.nsecrets - pos) * sizeof(*nv));
	L.secrets[pos] = copy;
	L.nsecrets++;
out:
	pthread_mutex_unlock(&L.mu);
}

/* Forget (and wipe) every secret. */
void
mbh_log_clear_secrets(void)
{
	size_t i;

	pthread_mutex_lock(&L.mu);
	for (i = 0; i < L.nsecrets; i++) {
		explicit_bzero(L.secrets[i], strlen(L.secrets[i]));
		free(L.secrets[i]);
	}
	free(L.secrets);
	L.secrets = NULL;
	L.nsecrets = 0;
	pthread_mutex_unlock(&L.mu);
}

/* Mask a message for use outside mbh_log. */
void
mbh_log_redact(const char *in, char *out, size_t outlen)
{
	char *m;

	if (out == NULL || outlen == 0)
		return;
	pthread_mutex_lock(&L.mu);
	m = mask_line(in ? in : "");
	pthread_mutex_unlock(&L.mu);
	/* Never hand back the unmasked text, even when memory is short. */
	snprintf(out, outlen, "%s", m ? m : "(message withheld: out of memory)");
	free(m);
}

/* Log one line. */
void
mbh_log(mbh_log_level level, const char *fmt, ...)
{
	char stackbuf[512], *raw = stackbuf, *line = NULL;
	const char *text;
	mbh_log_sink sink;
	void *sink_ctx;
	va_list ap;
	int n;

	pthread_mutex_lock(&L.mu);
	if (level > L.max_level) {
		pthread_mutex_unlock(&L.mu);
		return;
	}
	pthread_mutex_unlock(&L.mu);

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

	pthread_mutex_lock(&L.mu);
	line = mask_line(raw);
	text = line ? line : "(message withheld: out of memory)";
	if (L.to_stderr)
		fprintf(stderr, "%s: %s%s\n", L.ident, level_word(level), text);
	if (L.to_syslog)
		syslog(syslog_priority(level), "%s%s", level_word(level), text);
	sink = L.sink;
	sink_ctx = L.sink_ctx;
	pthread_mutex_unlock(&L.mu);

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

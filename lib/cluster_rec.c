/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cluster_rec.c: the cluster's record as text and back (cluster_rec.h). */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_rec.h"
#include "config.h"

static const char *const comp_states[] = { "pending", "locked", "released" };
static const char *const modes[] = { "online", "exact" };

const char *
mbh_comp_state_name(mbh_comp_state s)
{
	return (unsigned)s < 3 ? comp_states[s] : "?";
}

/* One word: non-empty, no blank, no control character. */
static bool
word_ok(const char *s)
{
	const unsigned char *p;

	if (s == NULL || s[0] == '\0')
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* A line's value: no control character. */
static bool
value_ok(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < ' ' || *p == 0x7f)
			return false;
	return true;
}

/* See cluster_rec.h. */
int
mbh_cluster_rec_format(const mbh_cluster_rec *r, char **text, mbh_error *err)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	*text = NULL;
	if (!word_ok(r->name) || (r->mode != 0 && r->mode != 1) || !word_ok(r->balancer) || !value_ok(r->hostname) ||
	    !value_ok(r->job) || r->ncomps > MBH_CLUSTER_MAX_COMPONENTS ||
	    (r->phase != MBH_PHASE_LOCKING && r->phase != MBH_PHASE_LOCKED && r->phase != MBH_PHASE_SNAPSHOT) ||
	    (r->token[0] != '\0' && !word_ok(r->token)))
		return mbh_error_set(err, EX_SOFTWARE, "refusing to write an invalid cluster record");
	for (i = 0; i < r->ncomps; i++) {
		const mbh_cluster_comp *c = &r->comps[i];

		if (!word_ok(c->name) || !word_ok(c->set) || !word_ok(c->hosts) ||
		    (c->member[0] != '\0' && !word_ok(c->member)) || (unsigned)c->state > MBH_COMP_RELEASED ||
		    (c->snapshot[0] != '\0' && !mbh_state_snapshot_path_ok(c->snapshot)))
			return mbh_error_set(err, EX_SOFTWARE, "refusing to write an invalid cluster record (component %zu)",
					     i);
	}
	if ((f = open_memstream(&buf, &len)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	fprintf(f, "mbh-cluster=1\nname=%s\nmode=%s\nphase=%s\nbalancer=%s\nbalancer_stopped=%d\n", r->name,
		modes[r->mode], mbh_state_phase_name(r->phase), r->balancer, r->balancer_stopped ? 1 : 0);
	fprintf(f, "since=%" PRId64 "\ndeadline=%" PRId64 "\npid=%ld\nhostname=%s\njob=%s\nskew_ms=%" PRId64 "\n",
		r->since, r->deadline, r->pid, r->hostname, r->job, r->skew_ms);
	if (r->token[0] != '\0')
		fprintf(f, "token=%s\nwatchdog=%ld %" PRIu64 "\n", r->token, r->watchdog_pid, r->watchdog_start);
	for (i = 0; i < r->ncomps; i++) {
		const mbh_cluster_comp *c = &r->comps[i];

		fprintf(f, "component=%s %s %s %s %" PRId64 " %" PRId64 " %s\n", c->name, c->set, c->hosts,
			c->member[0] != '\0' ? c->member : "-", c->lock_count, c->lock_ms, comp_states[c->state]);
	}
	for (i = 0; i < r->ncomps; i++)
		if (r->comps[i].snapshot[0] != '\0')
			fprintf(f, "snapshot=%s %s\n", r->comps[i].name, r->comps[i].snapshot);
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return mbh_error_set(err, EX_OSERR, "out of memory");
	}
	*text = buf;
	return 0;
}

static int
parse_i64(const char *v, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0)
		return -1;
	*out = n;
	return 0;
}

/* Copy v into dst (dstlen bytes); -1 if it does not fit. */
static int
copy(char *dst, size_t dstlen, const char *v)
{
	if (strlen(v) >= dstlen)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int
parse_component(mbh_cluster_comp *c, char *v)
{
	char *w[8], *save = NULL, *t;
	int n = 0;
	size_t i;

	for (t = strtok_r(v, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (n == 7)
			return -1;
		w[n++] = t;
	}
	if (n != 7 || copy(c->name, sizeof(c->name), w[0]) != 0 || copy(c->set, sizeof(c->set), w[1]) != 0 ||
	    copy(c->hosts, sizeof(c->hosts), w[2]) != 0 ||
	    copy(c->member, sizeof(c->member), strcmp(w[3], "-") == 0 ? "" : w[3]) != 0 ||
	    parse_i64(w[4], &c->lock_count) != 0 || parse_i64(w[5], &c->lock_ms) != 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (strcmp(w[6], comp_states[i]) == 0)
			break;
	if (i == 3)
		return -1;
	c->state = (mbh_comp_state)i;
	return 0;
}

/* "PID START" */
static int
parse_watchdog(mbh_cluster_rec *r, const char *v)
{
	unsigned long long start;
	long pid;
	int used = 0;

	if (sscanf(v, "%ld %llu%n", &pid, &start, &used) != 2 || v[used] != '\0' || pid < 0 || v[0] == '-')
		return -1;
	r->watchdog_pid = pid;
	r->watchdog_start = start;
	return 0;
}

/* "NAME PATH": a component already on record (component lines come first) and a path a record may hold. */
static int
parse_snapshot(mbh_cluster_rec *r, char *v)
{
	char *sp = strchr(v, ' ');
	size_t i;

	if (sp == NULL)
		return -1;
	*sp = '\0';
	for (i = 0; i < r->ncomps; i++)
		if (strcmp(r->comps[i].name, v) == 0)
			break;
	if (i == r->ncomps || r->comps[i].snapshot[0] != '\0' || !mbh_state_snapshot_path_ok(sp + 1))
		return -1;
	return copy(r->comps[i].snapshot, sizeof(r->comps[i].snapshot), sp + 1);
}

/* See cluster_rec.h. */
int
mbh_cluster_rec_parse(mbh_cluster_rec *r, const char *text, mbh_error *err)
{
	char *copy_text, *line, *save = NULL, *eq, *v;
	int lineno = 0, rc = -1;
	int64_t n;
	bool versioned = false;

	memset(r, 0, sizeof(*r));
	r->skew_ms = -1;
	if ((copy_text = strdup(text)) == NULL)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	for (line = strtok_r(copy_text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if ((eq = strchr(line, '=')) == NULL)
			goto bad;
		*eq = '\0';
		v = eq + 1;
		if (strcmp(line, "mbh-cluster") == 0) {
			if (strcmp(v, "1") != 0)
				goto bad;
			versioned = true;
		} else if (strcmp(line, "name") == 0) {
			if (!word_ok(v) || copy(r->name, sizeof(r->name), v) != 0)
				goto bad;
		} else if (strcmp(line, "mode") == 0) {
			if (strcmp(v, "online") == 0)
				r->mode = 0;
			else if (strcmp(v, "exact") == 0)
				r->mode = 1;
			else
				goto bad;
		} else if (strcmp(line, "phase") == 0) {
			if (strcmp(v, "LOCKING") == 0)
				r->phase = MBH_PHASE_LOCKING;
			else if (strcmp(v, "LOCKED") == 0)
				r->phase = MBH_PHASE_LOCKED;
			else if (strcmp(v, "SNAPSHOT") == 0)
				r->phase = MBH_PHASE_SNAPSHOT;
			else
				goto bad;
		} else if (strcmp(line, "balancer") == 0) {
			if (strcmp(v, "full") != 0 && strcmp(v, "off") != 0 && strcmp(v, "unknown") != 0)
				goto bad;
			copy(r->balancer, sizeof(r->balancer), v);
		} else if (strcmp(line, "balancer_stopped") == 0) {
			if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
				goto bad;
			r->balancer_stopped = v[0] == '1';
		} else if (strcmp(line, "since") == 0) {
			if (parse_i64(v, &r->since) != 0)
				goto bad;
		} else if (strcmp(line, "deadline") == 0) {
			if (parse_i64(v, &r->deadline) != 0)
				goto bad;
		} else if (strcmp(line, "pid") == 0) {
			if (parse_i64(v, &n) != 0 || n < 0)
				goto bad;
			r->pid = (long)n;
		} else if (strcmp(line, "hostname") == 0) {
			if (copy(r->hostname, sizeof(r->hostname), v) != 0)
				goto bad;
		} else if (strcmp(line, "job") == 0) {
			if (copy(r->job, sizeof(r->job), v) != 0)
				goto bad;
		} else if (strcmp(line, "skew_ms") == 0) {
			if (parse_i64(v, &r->skew_ms) != 0)
				goto bad;
		} else if (strcmp(line, "token") == 0) {
			if (strlen(v) != MBH_TOKEN_LEN || strspn(v, "0123456789abcdef") != MBH_TOKEN_LEN ||
			    copy(r->token, sizeof(r->token), v) != 0)
				goto bad;
		} else if (strcmp(line, "watchdog") == 0) {
			if (parse_watchdog(r, v) != 0)
				goto bad;
		} else if (strcmp(line, "snapshot") == 0) {
			if (parse_snapshot(r, v) != 0)
				goto bad;
		} else if (strcmp(line, "component") == 0) {
			if (r->ncomps == MBH_CLUSTER_MAX_COMPONENTS || parse_component(&r->comps[r->ncomps], v) != 0)
				goto bad;
			r->ncomps++;
		} else {
			goto bad;
		}
	}
	if (!versioned || r->name[0] == '\0' || r->phase == 0 || r->balancer[0] == '\0') {
		mbh_error_set(err, EX_DATAERR, "incomplete cluster record: check it, then remove it");
		goto out;
	}
	rc = 0;
	goto out;
bad:
	mbh_error_set(err, EX_DATAERR, "corrupt cluster record at line %d: check it, then remove it", lineno);
out:
	free(copy_text);
	return rc;
}

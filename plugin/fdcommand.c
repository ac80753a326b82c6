/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fdcommand.c: parse and check the FileSet's plugin string. */
#include "autoconfig.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "config.h"
#include "fdcommand.h"
#include "state.h"
#include "uri.h"

#define SHOWN 60    /* bytes of a bad value quoted in a message */

/* The keys, in the order the messages list them. */
static const char *const keys[] = { "config", "member", "policy", "job" };
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Where each key's value goes. */
static char **
slot(mbh_fdcommand *c, size_t k)
{
	char **slots[NKEYS] = { &c->config, &c->member, &c->policy, &c->job };

	return slots[k];
}

/* Length of the key at s when s starts with WORD'=' (WORD = a letter or '_', then letters, digits, '_'), else 0. */
static size_t
key_len(const char *s, const char *end)
{
	const char *p = s;

	if (p >= end || !(isalpha((unsigned char)*p) || *p == '_'))
		return 0;
	while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
		p++;
	return p < end && *p == '=' ? (size_t)(p - s) : 0;
}

/* Copy [s, end) to a new string without its leading and trailing blanks. */
static char *
dup_trimmed(const char *s, const char *end)
{
	char *v;

	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	v = malloc((size_t)(end - s) + 1);
	if (v != NULL) {
		memcpy(v, s, (size_t)(end - s));
		v[end - s] = '\0';
	}
	return v;
}

/* Check one value by the core's rules; on failure fill err naming the key. */
static int
check_value(size_t k, const char *v, mbh_error *err)
{
	char why[160];

	if (*v == '\0')
		return mbh_error_set(err, EX_CONFIG, "plugin string: %s= has an empty value", keys[k]);
	switch (k) {
	case 0:
		if (*v != '/')
			return mbh_error_set(err, EX_CONFIG, "plugin string: config=\"%.*s\" is not an absolute path",
			                     SHOWN, v);
		break;
	case 1:
		if (mbh_hostport_check(v, why, sizeof(why)) != 0)
			return mbh_error_set(err, EX_CONFIG, "plugin string: member=\"%.*s\" is not HOST:PORT (%s)", SHOWN,
			                     v, why);
		break;
	case 2:
		if (mbh_policy_from_name(v) < 0)
			return mbh_error_set(err, EX_CONFIG, "plugin string: policy=\"%.*s\" is not one of " MBH_POLICY_NAMES,
			                     SHOWN, v);
		break;
	default:
		if (mbh_state_job_name_check(v, why, sizeof(why)) != 0)
			return mbh_error_set(err, EX_CONFIG, "plugin string: job= %s", why);
		break;
	}
	return 0;
}

/* Parse a plugin string. */
int
mbh_fdcommand_parse(mbh_fdcommand **out, const char *text, mbh_error *err)
{
	mbh_fdcommand *c = NULL;
	const char *p, *end, *field, *f, *next, *vstart = NULL;
	size_t plen = strlen(MBH_FDCOMMAND_PLUGIN), klen, k, cur = NKEYS;
	int rc = -1;

	*out = NULL;
	if (text == NULL || strncmp(text, MBH_FDCOMMAND_PLUGIN, plen) != 0 || text[plen] != ':') {
		mbh_error_set(err, EX_CONFIG, "plugin string: does not start with \"%s:\"", MBH_FDCOMMAND_PLUGIN);
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		mbh_error_set(err, EX_OSERR, "plugin string: out of memory");
		goto out;
	}
	p = text + plen + 1;
	end = p + strlen(p);
	/* One pass per ':'-separated field; a field that starts with KEY= ends the value before it. */
	for (field = p;; field = next + 1) {
		if ((next = memchr(field, ':', (size_t)(end - field))) == NULL)
			next = end;
		for (f = field; f < next && isspace((unsigned char)*f); f++)
			;
		klen = key_len(f, next);
		if (klen == 0 && cur == NKEYS) {
			if (f == end)
				break; /* nothing but blanks: config= is missing */
			mbh_error_set(err, EX_CONFIG, "plugin string: \"%.*s\" is not KEY=VALUE (keys: config, member, policy, job)",
			              (int)((size_t)(next - f) > SHOWN ? SHOWN : (size_t)(next - f)), f);
			goto out;
		}
		if (klen > 0) {
			if (cur < NKEYS && (*slot(c, cur) = dup_trimmed(vstart, field - 1)) == NULL) {
				mbh_error_set(err, EX_OSERR, "plugin string: out of memory");
				goto out;
			}
			for (k = 0; k < NKEYS && (strlen(keys[k]) != klen || strncmp(keys[k], f, klen) != 0); k++)
				;
			if (k == NKEYS) {
				mbh_error_set(err, EX_CONFIG,
				              "plugin string: unknown key \"%.*s\" (keys: config, member, policy, job)",
				              (int)(klen > SHOWN ? SHOWN : klen), f);
				goto out;
			}
			if (*slot(c, k) != NULL) {
				mbh_error_set(err, EX_CONFIG, "plugin string: %s= is given twice", keys[k]);
				goto out;
			}
			cur = k;
			vstart = f + klen + 1;
		}
		if (next == end)
			break;
	}
	if (cur < NKEYS && (*slot(c, cur) = dup_trimmed(vstart, end)) == NULL) {
		mbh_error_set(err, EX_OSERR, "plugin string: out of memory");
		goto out;
	}
	for (k = 0; k < NKEYS; k++)
		if (*slot(c, k) != NULL && check_value(k, *slot(c, k), err) != 0)
			goto out;
	if (c->config == NULL) {
		mbh_error_set(err, EX_CONFIG, "plugin string: config= is missing (mongo: config=/etc/mongo-backup/SET.conf)");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	mbh_fdcommand_free(c);
	return rc;
}

/* Free. */
void
mbh_fdcommand_free(mbh_fdcommand *cmd)
{
	if (cmd == NULL)
		return;
	free(cmd->config);
	free(cmd->member);
	free(cmd->policy);
	free(cmd->job);
	free(cmd);
}

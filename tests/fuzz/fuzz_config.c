/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fuzz_config.c: libFuzzer target for the config: libconfig text, command-line overrides, finish. */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "config.h"
#include "error.h"
#include "escape.h"
#include "log.h"
#include "uri.h"
#include "fuzz.h"

/*
 * The input is a config file.  Its comment lines "#--KEY=VALUE" are also
 * applied, in order, as command-line overrides (mbh_config_set), so one input
 * covers both ways in.  The password file is never read (the fuzzer must not
 * wander the file system), nor is an @include followed.
 */

/* Every escape of a command template is one the runner knows. */
static void
check_template(char *const *argv)
{
	const char *p;
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		for (p = strchr(argv[i], '%'); p != NULL; p = strchr(p + 2, '%')) {
			FUZZ_ASSERT(p[1] != '\0' && strchr("hpsjS%", p[1]) != NULL, "a template has only known escapes");
			if (p[1] == '\0')
				break;
		}
}

/* What a finished config promises the flows. */
static void
check_finished(mbh_config *cfg)
{
	mongoc_uri_t *u = NULL;
	mbh_uri_settings us;
	char why[128];
	mbh_error err;

	FUZZ_ASSERT(cfg->uri != NULL && cfg->state_dir != NULL && cfg->state_dir[0] == '/', "uri and state_dir set");
	FUZZ_ASSERT(cfg->selection.policy >= MBH_POLICY_AUTO && cfg->selection.policy <= MBH_POLICY_MEMBER,
		    "a known policy");
	FUZZ_ASSERT((cfg->selection.policy == MBH_POLICY_MEMBER) == (cfg->selection.member != NULL),
		    "policy member exactly when a member is named");
	FUZZ_ASSERT(cfg->selection.member == NULL || mbh_hostport_check(cfg->selection.member, why, sizeof(why)) == 0,
		    "the member is HOST:PORT");
	FUZZ_ASSERT(cfg->selection.max_lag_seconds >= 0 && cfg->lock.max_seconds >= 1 && cfg->script.timeout >= 0 &&
			    cfg->connect_timeout_ms >= 0 && cfg->log.level >= 0 && cfg->log.syslog >= 0,
		    "every default filled");
	check_template(cfg->script.backup);
	check_template(cfg->script.restore);
	mbh_error_init(&err);
	mbh_config_uri_settings(cfg, &us);
	FUZZ_ASSERT(mbh_uri_build(&u, &us, &err) == 0, "a finished config's URI builds");
	mongoc_uri_destroy(u);
}

/* Apply the "#--KEY=VALUE" lines; false when one is refused (its message checked). */
static bool
apply_overrides(mbh_config *cfg, const char *text, const char *password)
{
	const char *line = text, *nl, *eq;
	char *copy;
	mbh_error err;
	int r;

	for (; line != NULL && *line != '\0'; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (strncmp(line, "#--", 3) != 0)
			continue;
		copy = strndup(line + 3, nl ? (size_t)(nl - line - 3) : strlen(line + 3));
		if (copy == NULL)
			return false;
		eq = strchr(copy, '=');
		mbh_error_init(&err);
		if (eq != NULL) {
			copy[eq - copy] = '\0';
			r = mbh_config_set(cfg, copy, copy + (eq - copy) + 1, &err);
		} else {
			r = mbh_config_set(cfg, copy, NULL, &err);
		}
		free(copy);
		if (r != 0) {
			FUZZ_ASSERT(err.code == EX_USAGE || err.code == EX_OSERR, "a bad override is a usage error");
			fuzz_check_message(err.msg, password);
			return false;
		}
	}
	return true;
}

/*
 * libconfig 1.5 (Debian 12) leaks the strings its scanner was building
 * ("a" "b" concatenation) when a syntax error follows: its bug, found by this
 * target, a few bytes per bad file (see the regress-libconfig-leak-* inputs).
 * LeakSanitizer (libFuzzer's and the ASan replay's) ignores what is allocated
 * inside libconfig; none of it is ever ours to free, every value is copied.
 */
const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

/* Quiet libmongoc: its warnings about odd URI options are not findings. */
static void
no_log(mongoc_log_level_t level, const char *domain, const char *message, void *ctx)
{
	(void)level;
	(void)domain;
	(void)message;
	(void)ctx;
}

/* Once per process: the URI must come from the input, never from the environment. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("MONGO_BACKUP_URI");
	mongoc_init();
	mongoc_log_set_handler(no_log, NULL);
	return 0;
}

/* One input: load, override, finish, and check what each step promises. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mbh_config *cfg = NULL;
	char *text, *password = NULL;
	mbh_error err;

	if ((text = strndup((const char *)data, size)) == NULL)
		return 0;
	if (strcasestr(text, "@include") != NULL)
		goto out;
	mbh_error_init(&err);
	if (mbh_config_new(&cfg, &err) != 0)
		goto out;
	if (mbh_config_load_string(cfg, text, "fuzz.conf", &err) != 0) {
		FUZZ_ASSERT(err.code == EX_CONFIG || err.code == EX_OSERR, "a bad file is a config error");
		FUZZ_ASSERT(strncmp(err.msg, "fuzz.conf:", 10) == 0, "a file error starts with FILE:LINE");
		fuzz_check_message(err.msg, NULL);
		goto out;
	}
	password = fuzz_telltale_password(cfg->uri, text);
	if (!apply_overrides(cfg, text, password))
		goto out;
	free(password);
	password = fuzz_telltale_password(cfg->uri, text);
	free(cfg->password_file);
	cfg->password_file = NULL;
	mbh_error_init(&err);
	if (mbh_config_finish(cfg, &err) != 0) {
		FUZZ_ASSERT(err.code == EX_CONFIG || err.code == EX_USAGE || err.code == EX_OSERR,
			    "an incomplete config is a config or usage error");
		fuzz_check_message(err.msg, password);
		goto out;
	}
	check_finished(cfg);
out:
	mbh_config_free(cfg);
	free(password);
	free(text);
	return 0;
}

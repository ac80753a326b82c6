/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongo-postbackup.c: release the fsync lock mongo-prebackup recorded, or show it (--status). */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include <mongoc/mongoc.h>

#include "cli.h"
#include "config.h"
#include "job.h"
#include "log.h"

#define PROG "mongo-postbackup"

static const cli_option options[] = {
	{ "config", 'c', true, CLI_CONFIG, NULL, NULL, "FILE", "libconfig file (see mongo-backup.conf(5))" },
	{ "uri", 0, true, CLI_URI, NULL, NULL, "URI", "connection string (no password here)" },
	{ "username", 'u', true, CLI_KEY, "username", NULL, "NAME", "user to authenticate as" },
	{ "password-file", 0, true, CLI_KEY, "password_file", NULL, "FILE", "file holding the password (mode 0600)" },
	{ "state-dir", 0, true, CLI_KEY, "state_dir", NULL, "DIR", "state directory (default /var/lib/mongo-backup)" },
	{ "job", 'j', true, CLI_JOB, NULL, NULL, "NAME", "Bacula job name (%j): only unlock this job's lock" },
	{ "set", 0, true, CLI_SET, NULL, NULL, "NAME", "replica set, when the URI has no replicaSet=" },
	{ "status", 0, false, CLI_STATUS, NULL, NULL, NULL, "show what is locked; change nothing" },
	{ "check-config", 0, false, CLI_CHECK, NULL, NULL, NULL, "validate the configuration and exit" },
	{ "verbose", 'v', false, CLI_VERBOSE, NULL, NULL, NULL, "debug messages too" },
	{ "quiet", 'q', false, CLI_QUIET, NULL, NULL, NULL, "only warnings and errors" },
	{ "syslog", 0, false, CLI_KEY, "log.syslog", "true", NULL, "also log to syslog" },
	{ "help", 'h', false, CLI_HELP, NULL, NULL, NULL, "show this help and exit" },
	{ "version", 'V', false, CLI_VERSION, NULL, NULL, NULL, "show the version and exit" },
};

static const cli_program program = {
	.name = PROG,
	.synopsis = "[OPTIONS] [--status]",
	.about = "Release the fsync lock mongo-prebackup took on a MongoDB replica-set member, using\n"
		 "the state file; or show what is locked.",
	.options = options,
	.noptions = sizeof(options) / sizeof(options[0]),
};

int
main(int argc, char **argv)
{
	cli_args args;
	mbh_config *cfg = NULL;
	mbh_job *job = NULL;
	mbh_job_params params = { .cancel_fd = -1 };
	mbh_error err;
	char *text = NULL;
	int rc = EX_SOFTWARE;

	mbh_error_init(&err);
	mongoc_init();
	if (cli_start(&args, &cfg, &program, argc, argv, &rc, &err) != 0)
		goto done;
	params.cfg = cfg;
	params.job_name = args.job;
	params.set_name = args.set;
	if (mbh_job_new(&job, &params, &err) != 0)
		goto done;
	if (args.status) {
		if (mbh_job_status(job, &text, &err) != 0)
			goto done;
		fputs(text, stdout);
	} else if (mbh_job_post(job, &err) != 0) {
		goto done;
	}
	rc = 0;
done:
	if (err.code != 0) {
		mbh_log(MBH_LOG_ERROR, "%s", err.msg);
		rc = err.code;
	}
	free(text);
	mbh_job_free(job);
	mbh_config_free(cfg);
	cli_args_free(&args);
	mongoc_cleanup();
	return rc;
}

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongo-postbackup.c: release the fsync lock mongo-prebackup recorded, or show it (--status). */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include <mongoc/mongoc.h>

#include "cli.h"
#include "cluster.h"
#include "config.h"
#include "job.h"
#include "log.h"

#define PROG "mongo-postbackup"

static const cli_option options[] = {
	CLI_CONNECTION_OPTIONS,
	{ "job", 'j', true, CLI_JOB, NULL, NULL, "NAME", "Bacula job name (%j): only unlock this job's lock" },
	{ "set", 0, true, CLI_SET, NULL, NULL, "NAME", "replica set, when the URI has no replicaSet=" },
	{ "status", 0, false, CLI_STATUS, NULL, NULL, NULL, "show what is locked; change nothing" },
	{ "json", 0, false, CLI_JSON, NULL, NULL, NULL, "with --status: one JSON object, for scripts" },
	{ "forget", 0, false, CLI_FORGET, NULL, NULL, NULL,
	  "discard the record of a member that no longer answers (it is NOT unlocked)" },
	{ "check-held", 0, true, CLI_CHECK_HELD, NULL, NULL, "COMPONENT=HOST:PORT",
	  "exit 0 only while that cluster component's member is locked (for --job); change nothing" },
	CLI_OUTPUT_OPTIONS,
};

static const cli_program program = {
	.name = PROG,
	.synopsis = "[OPTIONS] [--status [--json] | --forget | --check-held COMPONENT=HOST:PORT]",
	.about = "Release the fsync lock mongo-prebackup took on a MongoDB replica-set member, using\n"
		 "the state file, and remove its snapshot in snapshot mode; or show what is locked.",
	.options = options,
	.noptions = sizeof(options) / sizeof(options[0]),
};

/* The cluster named name: --status (--json) or the post.  The exit status, or -1 with err. */
static int
run_cluster(const cli_args *args, const mbh_config *cfg, const char *name, mbh_error *err)
{
	mbh_cluster_params cp = { .cfg = cfg, .log = cli_log, .job_name = args->job, .cancel_fd = -1 };
	mbh_cluster *cl = NULL;
	char *text = NULL;
	int rc = -1;

	if (mbh_cluster_new(&cl, &cp, err) != 0)
		return -1;
	if (args->status) {
		if (mbh_cluster_status(cl, name, args->json, &text, err) == 0 || text != NULL)
			fputs(text, stdout);
		if (err->code == 0)
			rc = 0;
	} else if (mbh_cluster_post(cl, name, err) == 0) {
		rc = 0;
	}
	free(text);
	mbh_cluster_free(cl);
	return rc;
}

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
	char cluster[160], held[600];
	bool is_cluster = false;

	mbh_error_init(&err);
	mongoc_init();
	if (cli_start(&args, &cfg, &program, argc, argv, &rc, &err) != 0)
		goto done;
	params.cfg = cfg;
	params.job_name = args.job;
	params.set_name = args.set;
	params.log = cli_log;
	if (mbh_job_new(&job, &params, &err) != 0)
		goto done;
	/* a post-backup finishes its unlock whatever signal comes: the handlers only note it */
	cli_signals(job);
	if (args.status && args.forget) {
		mbh_error_set(&err, EX_USAGE, "--status and --forget exclude each other; try --help");
		goto done;
	}
	if (args.check_held != NULL && (args.status || args.forget || args.set != NULL)) {
		mbh_error_set(&err, EX_USAGE, "--check-held goes with --job alone (not --status, --forget or --set); "
			      "try --help");
		goto done;
	}
	if (args.json && !args.status) {
		mbh_error_set(&err, EX_USAGE, "--json goes with --status; try --help");
		goto done;
	}
	/* a cluster's record in state_dir (and no --set): the cluster's post (cluster.h) */
	if (args.set == NULL) {
		if (mbh_cluster_find(cfg, cluster, sizeof(cluster), &is_cluster, &err) != 0)
			goto done;
		if (args.check_held != NULL) {
			if (mbh_cluster_check_held(cfg, is_cluster ? cluster : NULL, args.job, args.check_held, held,
						   sizeof(held), &err) != 0)
				goto done;
			printf("%s\n", held);
			rc = 0;
			goto done;
		}
		if (is_cluster) {
			if (args.forget) {
				mbh_error_set(&err, EX_USAGE, "--forget works on one replica set: give --set SET and "
					      "--state-dir %s/%s.cluster.d/SET", cfg->state_dir, cluster);
				goto done;
			}
			rc = run_cluster(&args, cfg, cluster, &err);
			goto done;
		}
	}
	if (args.forget) {
		if (mbh_job_forget(job, &err) != 0)
			goto done;
	} else if (args.status) {
		if ((args.json ? mbh_job_status_json : mbh_job_status)(job, &text, &err) != 0 && text == NULL)
			goto done;
		fputs(text, stdout);
		if (err.code != 0)
			goto done;
	} else if (mbh_job_post(job, &err) != 0) {
		goto done;
	}
	rc = 0;
done:
	rc = cli_status(rc, &err);
	free(text);
	mbh_job_free(job);
	mbh_config_free(cfg);
	cli_args_free(&args);
	cli_end();
	mongoc_cleanup();
	return rc;
}

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongo-prebackup.c: choose a secondary, fsync-lock it and record the lock (or run a command under it). */
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

#define PROG "mongo-prebackup"

static const cli_option options[] = {
	CLI_CONNECTION_OPTIONS,
	{ "job", 'j', true, CLI_JOB, NULL, NULL, "NAME", "Bacula job name (%j), recorded in the state file" },
	{ "policy", 0, true, CLI_KEY, "selection.policy", NULL, "POLICY", "auto, local or member" },
	{ "member", 0, true, CLI_KEY, "selection.member", NULL, "HOST:PORT", "lock this member (implies --policy member)" },
	{ "max-lag", 0, true, CLI_KEY, "selection.max_lag_seconds", NULL, "SECONDS", "refuse members lagging more" },
	{ "allow-delayed", 0, false, CLI_KEY, "selection.allow_delayed", "true", NULL, "delayed members may be chosen" },
	{ "tag", 0, true, CLI_KEY, "selection.tags", NULL, "KEY=VALUE", "required member tag (repeatable)" },
	{ "max-lock-seconds", 0, true, CLI_KEY, "lock.max_seconds", NULL, "N", "the watchdog unlocks after N seconds" },
	{ "allow-locked", 0, false, CLI_KEY, "lock.refuse_if_locked", "false", NULL,
	  "lock a member someone else already fsync-locked" },
	{ "allow-majority-stall", 0, false, CLI_KEY, "lock.allow_majority_stall", "true", NULL,
	  "lock even if majority writes would stall" },
	{ "dry-run", 'n', false, CLI_DRY_RUN, NULL, NULL, NULL,
	  "print every member with a verdict and the snapshot commands; lock nothing" },
	{ "exec", 0, false, CLI_EXEC, NULL, NULL, NULL,
	  "[-- CMD [ARGS...]]: lock, run CMD (default script.backup), always unlock (snapshot mode: against the snapshot)" },
	CLI_OUTPUT_OPTIONS,
};

static const cli_program program = {
	.name = PROG,
	.synopsis = "[OPTIONS] [--dry-run | --exec -- CMD [ARGS...]]",
	.about = "Choose a secondary of a MongoDB replica set, fsync-lock it for a file-level backup\n"
		 "and record the lock for mongo-postbackup (or run CMD under the lock).  In snapshot mode\n"
		 "(a snapshot group in the config) it unlocks right after a filesystem snapshot instead.\n"
		 "A mongos URI backs up a sharded cluster: one secondary per shard and of the config\n"
		 "servers locked at once (cluster.mode \"online\"), or every primary through the mongos\n"
		 "for snapshots of one moment (\"exact\"); see SHARDED CLUSTERS in mongo-prebackup(1).",
	.options = options,
	.noptions = sizeof(options) / sizeof(options[0]),
};

/*
 * A mongos URI: the cluster's flow (cluster.h), cancelled by the signals
 * that cancel job.  The exit status, or -1 with err.
 */
static int
run_cluster(const cli_args *args, const mbh_config *cfg, mbh_job *job, mbh_error *err)
{
	mbh_cluster_params cp = {
		.cfg = cfg,
		.log = cli_log,
		.job_name = args->job,
		.mode = args->exec ? "exec" : "hooks",
		.watchdog_path = args->dry_run ? NULL : cli_watchdog_path(),
		.gate_path = args->dry_run ? NULL : cli_gate_path(),
		.cancel_fd = mbh_job_cancel_fd(job),
	};
	mbh_cluster *cl = NULL;
	char *text = NULL;
	int rc = -1, status = 0;

	if (mbh_cluster_new(&cl, &cp, err) != 0)
		return -1;
	if (args->dry_run) {
		if (mbh_cluster_dry_run(cl, &text, err) == 0 || text != NULL)
			fputs(text, stdout);
		if (err->code == 0)
			rc = 0;
	} else if (args->exec) {
		if (mbh_cluster_exec(cl, (const char *const *)args->command, &status, err) == 0)
			rc = status;
	} else if (mbh_cluster_lock(cl, err) == 0) {
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
	int rc = EX_SOFTWARE, status = 0;
	bool is_mongos = false;

	mbh_error_init(&err);
	mongoc_init();
	if (cli_start(&args, &cfg, &program, argc, argv, &rc, &err) != 0)
		goto done;
	params.cfg = cfg;
	params.job_name = args.job;
	params.mode = args.exec ? "exec" : "hooks";
	params.log = cli_log;
	params.watchdog_path = args.dry_run ? NULL : cli_watchdog_path();
	params.gate_path = args.dry_run ? NULL : cli_gate_path();
	if (mbh_job_new(&job, &params, &err) != 0)
		goto done;
	cli_signals(job);
	if (mbh_job_is_mongos(job, &is_mongos, &err) != 0) {
		if (!args.dry_run)
			mbh_job_outcome(job, false, MBH_METRICS_FAIL_LOCK, -1);
		goto done;
	}
	if (is_mongos) {
		rc = run_cluster(&args, cfg, job, &err);
		goto done;
	}
	if (args.dry_run) {
		if (mbh_job_dry_run(job, &text, &err) != 0 && text == NULL)
			goto done;
		fputs(text, stdout);
		if (err.code != 0)
			goto done;
	} else if (args.exec) {
		if (mbh_job_exec(job, (const char *const *)args.command, &status, &err) != 0)
			goto done;
		rc = status;
		goto done;
	} else if (mbh_job_lock(job, &err) != 0) {
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

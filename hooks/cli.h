/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cli.h: the option table, --help and config assembly shared by the two programs. */
#ifndef MBH_CLI_H
#define MBH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "error.h"
#include "job.h"
#include "log.h"

/* The program's logger, made by cli_start; freed by cli_end. */
extern mbh_logger *cli_log;

typedef enum cli_id {
	CLI_KEY,      /* sets config key `key` to the argument, or to `value` for a flag */
	CLI_URI,      /* "uri", refused when it holds a password */
	CLI_CONFIG,
	CLI_JOB,
	CLI_SET,
	CLI_CHECK,
	CLI_VERBOSE,
	CLI_QUIET,
	CLI_HELP,
	CLI_VERSION,
	CLI_DRY_RUN,
	CLI_EXEC,
	CLI_STATUS,
	CLI_JSON,
	CLI_FORGET,
	CLI_CHECK_HELD
} cli_id;

/* One row of a program's option table: parsing and --help come from it. */
typedef struct cli_option {
	const char *name;  /* long name */
	int short_name;    /* 0 = none */
	bool has_arg;
	cli_id id;
	const char *key;   /* CLI_KEY: the config key */
	const char *value; /* CLI_KEY flags: the value set */
	const char *arg;   /* argument name in --help */
	const char *help;
} cli_option;

/* The rows both programs have: where to connect and what to record ... */
#define CLI_CONNECTION_OPTIONS \
	{ "config", 'c', true, CLI_CONFIG, NULL, NULL, "FILE", "libconfig file (see mongo-backup.conf(5))" }, \
	{ "uri", 0, true, CLI_URI, NULL, NULL, "URI", "connection string (no password here)" }, \
	{ "username", 'u', true, CLI_KEY, "username", NULL, "NAME", "user to authenticate as" }, \
	{ "password-file", 0, true, CLI_KEY, "password_file", NULL, "FILE", "file holding the password (mode 0600)" }, \
	{ "state-dir", 0, true, CLI_KEY, "state_dir", NULL, "DIR", "state directory (default /var/lib/mongo-backup)" }

/* ... and how to talk (last in both tables). */
#define CLI_OUTPUT_OPTIONS \
	{ "check-config", 0, false, CLI_CHECK, NULL, NULL, NULL, "validate the configuration and exit" }, \
	{ "verbose", 'v', false, CLI_VERBOSE, NULL, NULL, NULL, "debug messages too" }, \
	{ "quiet", 'q', false, CLI_QUIET, NULL, NULL, NULL, "only warnings and errors" }, \
	{ "syslog", 0, false, CLI_KEY, "log.syslog", "true", NULL, "also log to syslog" }, \
	{ "help", 'h', false, CLI_HELP, NULL, NULL, NULL, "show this help and exit" }, \
	{ "version", 'V', false, CLI_VERSION, NULL, NULL, NULL, "show the version and exit" }

typedef struct cli_override {
	const char *key;
	const char *value;
	const char *option; /* the long option that set it, for messages */
} cli_override;

/* What the command line asked for.  Strings are borrowed from argv. */
typedef struct cli_args {
	const char *config;
	const char *job;
	const char *set;
	const char *check_held;   /* --check-held COMPONENT=HOST:PORT */
	bool check, dry_run, exec, status, json, forget, help, version;
	int verbosity;            /* -1 quiet, 0, 1 verbose */
	char **command;           /* --exec: argv of the command, in argv */
	cli_override *overrides;  /* in command-line order */
	size_t noverrides;
} cli_args;

/*
 * Parse argv against the table.  Unknown options, missing arguments, stray
 * operands and a password in --uri fail with EX_USAGE.  Caller frees with
 * cli_args_free (also on failure).
 */
int cli_parse(cli_args *out, const char *prog, const cli_option *opts, size_t nopts, int argc, char **argv,
	      mbh_error *err);

/* Print the usage text from the table. */
void cli_usage(FILE *f, const char *prog, const char *synopsis, const char *about, const cli_option *opts,
	       size_t nopts);

/* The config: file (if any), then the overrides, then mbh_config_finish.  Caller owns *out. */
int cli_config(mbh_config **out, const cli_args *a, mbh_error *err);

/* The log level the command line and config ask for. */
mbh_log_level cli_log_level(const cli_args *a, const mbh_config *cfg);

void cli_args_free(cli_args *a);

/* The exit status: when err is set, its code (and its message is logged as the one error line), else rc. */
int cli_status(int rc, const mbh_error *err);

/* What --help says about a program, and its option table. */
typedef struct cli_program {
	const char *name;
	const char *synopsis;
	const char *about;
	const cli_option *options;
	size_t noptions;
} cli_program;

/*
 * Everything a program does before its one library call: parse argv, answer
 * --help, --version and --check-config, set up the log, build the config.
 * Returns 1 when the program is done (*rc is its exit status), 0 to go on
 * (*cfg holds the finished config, caller owns it), -1 on error (err filled).
 * Free *args with cli_args_free in every case.
 */
int cli_start(cli_args *args, mbh_config **cfg, const cli_program *prog, int argc, char **argv, int *rc,
	      mbh_error *err);

/* From now on SIGINT, SIGTERM and SIGHUP cancel job (mbh_job_cancel) instead of killing the program. */
void cli_signals(mbh_job *job);

/* The first of those signals seen, 0 if none. */
int cli_signal_received(void);

/* Where the watchdog program is. */
const char *cli_watchdog_path(void);

/* The gate program (where the watchdog waits until told what to guard, and a command for the lock): $MONGO_BACKUP_GATE, else beside the watchdog. */
const char *cli_gate_path(void);

/* Free what cli_start set up (the logger). */
void cli_end(void);

#endif

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* cli.c: the option table, --help and config assembly shared by the two programs. */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <syslog.h>

#include <mongoc/mongoc.h>

#include "cli.h"
#include "escape.h"
#include "mongoerr.h"
#include "state.h"
#include "watchdog.h"

/* The program's logger (a front end may hold process state; the library may not). */
mbh_logger *cli_log;

/* The job the signal handlers cancel, and the first signal seen. */
static mbh_job *volatile signal_job;
static volatile sig_atomic_t signal_first;

/* getopt_long's value for a table row without a short name. */
#define LONG_BASE 256

/* Is name[0..len) a way of asking for a password on the command line (--password, --pass, --pw, ...)? */
static bool
password_like(const char *name, size_t len)
{
	return (len >= 4 && strncasecmp(name, "pass", 4) == 0) || (len >= 2 && strncasecmp(name, "pw", 2) == 0);
}

/*
 * getopt_long takes any unique prefix of a long option for the option:
 * "--password SECRET" would be "--password-file SECRET", and SECRET would be
 * quoted as a file name in an error (and in syslog).  Only whole names are
 * accepted.  arg is the argv element that held a long option; its value after
 * '=' (or in the next element) is never quoted.  Returns 0 when the name is
 * one of the table's, else -1 with err filled.
 */
static int
check_long_name(const char *arg, const cli_option *opts, size_t nopts, mbh_error *err)
{
	const char *name = arg + 2, *full = NULL;
	size_t len = strcspn(name, "="), i, matches = 0, used = 0;
	char q[128], typed[128], all[256];

	all[0] = '\0';
	for (i = 0; i < nopts; i++) {
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return 0;
		if (len > 0 && strncmp(opts[i].name, name, len) == 0) {
			full = opts[i].name;
			matches++;
			if (used < sizeof(all))
				used += (size_t)snprintf(all + used, sizeof(all) - used, "%s--%s", used > 0 ? " or " : "",
							 full);
		}
	}
	if (password_like(name, len))
		return mbh_error_set(err, EX_USAGE, "a password is never accepted on the command line: put it in a file "
		                     "(mode 0600) named by password_file in the config file or by --password-file FILE");
	snprintf(typed, sizeof(typed), "%.*s", (int)(len < 100 ? len : 100), name);
	if (matches == 1)
		return mbh_error_set(err, EX_USAGE, "option --%s must be written in full: --%s; try --help",
		                     mbh_escape(typed, q, sizeof(q)), full);
	if (matches > 1)
		return mbh_error_set(err, EX_USAGE, "option --%s must be written in full: %s; try --help",
		                     mbh_escape(typed, q, sizeof(q)), all);
	return mbh_error_set(err, EX_USAGE, "unknown option --%s; try --help", mbh_escape(typed, q, sizeof(q)));
}

/* A job name fits the state record and one log line. */
static int
check_job(const char *job, mbh_error *err)
{
	char why[160];

	if (mbh_state_job_name_check(job, why, sizeof(why)) != 0)
		return mbh_error_set(err, EX_USAGE, "--job: the job name %s", why);
	return 0;
}

/* Parse argv. */
int
cli_parse(cli_args *out, const char *prog, const cli_option *opts, size_t nopts, int argc, char **argv, mbh_error *err)
{
	struct option *longopts = NULL;
	char shortopts[128], q[128], opt[2];
	size_t i, used = 0;
	int c, idx, prev, rc = -1;
	const cli_option *o;

	memset(out, 0, sizeof(*out));
	if ((longopts = calloc(nopts + 1, sizeof(*longopts))) == NULL ||
	    (out->overrides = calloc((size_t)argc + 1, sizeof(*out->overrides))) == NULL) {
		mbh_error_set(err, EX_OSERR, "out of memory");
		goto out;
	}
	/* '+': stop at the first operand, so "--exec ls -l" leaves -l to ls; ':': report missing arguments */
	shortopts[used++] = '+';
	shortopts[used++] = ':';
	for (i = 0; i < nopts; i++) {
		longopts[i].name = opts[i].name;
		longopts[i].has_arg = opts[i].has_arg ? required_argument : no_argument;
		longopts[i].val = opts[i].short_name != 0 ? opts[i].short_name : LONG_BASE + (int)i;
		if (opts[i].short_name != 0 && used + 3 < sizeof(shortopts)) {
			shortopts[used++] = (char)opts[i].short_name;
			if (opts[i].has_arg)
				shortopts[used++] = ':';
		}
	}
	shortopts[used] = '\0';
	opterr = 0;
	optind = 1;
	/*
	 * prev: the element getopt_long starts from.  A long option is always a
	 * whole element, so when one is returned (or refused) it is argv[prev]
	 * (short options in a cluster keep optind on their element, which is
	 * never "--...").
	 */
	while ((prev = optind, c = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		if (prev < argc && strncmp(argv[prev], "--", 2) == 0 && argv[prev][2] != '\0' &&
		    check_long_name(argv[prev], opts, nopts, err) != 0)
			goto out;
		if (c == '?') {
			opt[0] = (char)optopt;
			opt[1] = '\0';
			if (prev < argc && strncmp(argv[prev], "--", 2) == 0)
				mbh_error_set(err, EX_USAGE, "option --%.*s takes no value; try --help",
				              (int)strcspn(argv[prev] + 2, "="), argv[prev] + 2);
			else
				mbh_error_set(err, EX_USAGE, "unknown option -%s; try --help", mbh_escape(opt, q, sizeof(q)));
			goto out;
		}
		if (c == ':') {
			mbh_error_set(err, EX_USAGE, "option %s needs an argument; try --help",
			              mbh_escape(argv[optind - 1], q, sizeof(q)));
			goto out;
		}
		o = NULL;
		for (i = 0; i < nopts && o == NULL; i++)
			if ((opts[i].short_name != 0 && c == opts[i].short_name) || c == LONG_BASE + (int)i)
				o = &opts[i];
		if (o == NULL) {
			mbh_error_set(err, EX_SOFTWARE, "option table error; try --help");
			goto out;
		}
		switch (o->id) {
		case CLI_URI:
			if (mbh_config_uri_has_password(optarg)) {
				mbh_error_set(err, EX_USAGE, "do not put the password on the command line: use "
							     "password_file or MONGO_BACKUP_URI");
				goto out;
			}
			out->overrides[out->noverrides].key = "uri";
			out->overrides[out->noverrides].option = o->name;
			out->overrides[out->noverrides++].value = optarg;
			break;
		case CLI_KEY:
			out->overrides[out->noverrides].key = o->key;
			out->overrides[out->noverrides].option = o->name;
			out->overrides[out->noverrides++].value = o->has_arg ? optarg : o->value;
			break;
		case CLI_CONFIG:
			out->config = optarg;
			break;
		case CLI_JOB:
			if (check_job(optarg, err) != 0)
				goto out;
			out->job = optarg;
			break;
		case CLI_SET:
			out->set = optarg;
			break;
		case CLI_CHECK:
			out->check = true;
			break;
		case CLI_VERBOSE:
			out->verbosity = 1;
			break;
		case CLI_QUIET:
			out->verbosity = -1;
			break;
		case CLI_HELP:
			out->help = true;
			break;
		case CLI_VERSION:
			out->version = true;
			break;
		case CLI_DRY_RUN:
			out->dry_run = true;
			break;
		case CLI_EXEC:
			out->exec = true;
			break;
		case CLI_STATUS:
			out->status = true;
			break;
		case CLI_JSON:
			out->json = true;
			break;
		case CLI_FORGET:
			out->forget = true;
			break;
		case CLI_CHECK_HELD:
			out->check_held = optarg;
			break;
		}
	}
	if (out->help || out->version) {
		rc = 0;
		goto out;
	}
	if (out->exec) {
		/* no command: script.backup of the config */
		out->command = optind < argc ? &argv[optind] : NULL;
	} else if (optind < argc) {
		mbh_error_set(err, EX_USAGE, "unexpected argument '%s'; try --help", mbh_escape(argv[optind], q, sizeof(q)));
		goto out;
	}
	if (out->exec && out->dry_run) {
		mbh_error_set(err, EX_USAGE, "--exec and --dry-run exclude each other; try --help");
		goto out;
	}
	rc = 0;
out:
	free(longopts);
	(void)prog;
	return rc;
}

/* Usage from the table. */
void
cli_usage(FILE *f, const char *prog, const char *synopsis, const char *about, const cli_option *opts, size_t nopts)
{
	char left[64];
	size_t i;

	fprintf(f, "Usage: %s %s\n%s\n\nOptions:\n", prog, synopsis, about);
	for (i = 0; i < nopts; i++) {
		if (opts[i].short_name != 0)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", opts[i].short_name, opts[i].name,
				 opts[i].has_arg ? " " : "", opts[i].has_arg ? opts[i].arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", opts[i].name, opts[i].has_arg ? " " : "",
				 opts[i].has_arg ? opts[i].arg : "");
		fprintf(f, "  %-28s %s\n", left, opts[i].help);
	}
	fprintf(f, "\nEnvironment: MONGO_BACKUP_URI (used when neither --uri nor the config file gives one).\n"
		   "Exit status: 0 ok, 64 usage, 65 bad state file, 69 unavailable, 70 internal error, 73 cannot\n"
		   "create state, 75 temporary failure (try again), 77 permission, 78 configuration.\n"
		   "See %s(1).\n",
		prog);
}

/* File, overrides, finish. */
int
cli_config(mbh_config **out, const cli_args *a, mbh_error *err)
{
	mbh_config *cfg = NULL;
	size_t i;
	int rc = -1;

	*out = NULL;
	if (mbh_config_new(&cfg, err) != 0)
		goto out;
	if (a->config != NULL && mbh_config_load_file(cfg, a->config, err) != 0)
		goto out;
	for (i = 0; i < a->noverrides; i++)
		if (mbh_config_set_as(cfg, a->overrides[i].key, a->overrides[i].value, a->overrides[i].option, err) != 0)
			goto out;
	if (mbh_config_finish(cfg, err) != 0)
		goto out;
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	mbh_config_free(cfg);
	return rc;
}

/* -v / -q win over log.level. */
mbh_log_level
cli_log_level(const cli_args *a, const mbh_config *cfg)
{
	if (a->verbosity > 0)
		return MBH_LOG_DEBUG;
	if (a->verbosity < 0)
		return MBH_LOG_WARNING;
	if (cfg != NULL && cfg->log.level >= 0)
		return (mbh_log_level)cfg->log.level;
	return MBH_LOG_INFO;
}

/* Free what cli_parse allocated. */
void
cli_args_free(cli_args *a)
{
	if (a == NULL)
		return;
	free(a->overrides);
	a->overrides = NULL;
}

/* Parse, answer --help/--version/--check-config, log, config; see cli.h. */
int
cli_start(cli_args *args, mbh_config **cfg, const cli_program *prog, int argc, char **argv, int *rc,
	  mbh_error *err)
{
	size_t i;

	*cfg = NULL;
	*rc = EX_SOFTWARE;
	/* a lost log pipe (`| head`) must never cost an unlock */
	signal(SIGPIPE, SIG_IGN);
	if (mbh_logger_new(&cli_log, prog->name, MBH_LOG_INFO, MBH_LOG_STDERR, NULL, NULL) != 0)
		return mbh_error_set(err, EX_OSERR, "out of memory");
	mongoc_log_set_handler(mbh_log_driver, cli_log);
	if (cli_parse(args, prog->name, prog->options, prog->noptions, argc, argv, err) != 0)
		return -1;
	if (args->help) {
		cli_usage(stdout, prog->name, prog->synopsis, prog->about, prog->options, prog->noptions);
		*rc = 0;
		return 1;
	}
	if (args->version) {
		printf("%s (%s) %s\n", prog->name, PACKAGE_NAME, PACKAGE_VERSION);
		*rc = 0;
		return 1;
	}
	mbh_logger_configure(cli_log, cli_log_level(args, NULL), MBH_LOG_STDERR);
	if (cli_config(cfg, args, err) != 0)
		return -1;
	for (i = 0; (*cfg)->secrets != NULL && (*cfg)->secrets[i] != NULL; i++)
		mbh_logger_add_secret(cli_log, (*cfg)->secrets[i]);
	if ((*cfg)->log.syslog > 0)
		openlog(prog->name, LOG_PID, LOG_DAEMON);
	mbh_logger_configure(cli_log, cli_log_level(args, *cfg),
			     MBH_LOG_STDERR | ((*cfg)->log.syslog > 0 ? MBH_LOG_SYSLOG : 0));
	if (args->check) {
		printf("config ok\n");
		*rc = 0;
		return 1;
	}
	return 0;
}

/*
 * err's code after logging it, or rc.  The line is redacted, then its control
 * characters escaped, whatever module wrote it: it goes to a terminal and syslog.
 */
int
cli_status(int rc, const mbh_error *err)
{
	char line[MBH_ERRMSG_LEN * 4];

	if (err->code == 0)
		return rc;
	if (cli_log != NULL)
		mbh_logf(cli_log, MBH_LOG_ERROR, "%s", mbh_escape(err->msg, line, sizeof(line)));
	return err->code;
}

/* Cancel the job: async-signal-safe (mbh_job_cancel is). */
static void
on_stop_signal(int sig)
{
	int saved = errno;

	if (signal_first == 0)
		signal_first = sig;
	if (signal_job != NULL)
		mbh_job_cancel(signal_job);
	errno = saved;
}

/* SIGINT, SIGTERM, SIGHUP cancel job. */
void
cli_signals(mbh_job *job)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	signal_job = job;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* The first stop signal seen, 0 if none. */
int
cli_signal_received(void)
{
	return (int)signal_first;
}

/* The watchdog program: $MONGO_BACKUP_WATCHDOG (tests, unusual installs), else the installed one. */
const char *
cli_watchdog_path(void)
{
	const char *p = getenv("MONGO_BACKUP_WATCHDOG");

	return p != NULL && p[0] != '\0' ? p : MBH_WATCHDOG_PATH;
}

/* The gate program: $MONGO_BACKUP_GATE, else beside the watchdog program. */
const char *
cli_gate_path(void)
{
	static char buf[4096];

	return mbh_watchdog_gate_path(cli_watchdog_path(), getenv("MONGO_BACKUP_GATE"), buf, sizeof(buf));
}

/* Free the logger. */
void
cli_end(void)
{
	mongoc_log_set_handler(NULL, NULL);
	mbh_logger_free(cli_log);
	cli_log = NULL;
}

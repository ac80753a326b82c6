/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* main.c: mongo-rs-sim command line, start-up (listeners, seed URI, ready file), signals and shutdown. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "sim.h"

static sim *g_sim;

static void on_signal(int sig)
{
	(void)sig;
	if (g_sim)
		g_sim->stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: mongo-rs-sim --topology FILE [--ready-file PATH] [--ctl SOCKET] [--data-dir DIR]\n"
	        "                    [--tls-cert PEM --tls-key PEM [--tls-ca PEM]] [--log FILE] [-v[v]]\n"
	        "                    [--set-name NAME]   (overrides the topology's set_name: one file, N shards)\n"
	        "                    [--config-server CTL --shard CTL [--shard CTL...]]   (role = \"mongos\")\n"
	        "       mongo-rs-sim ctl SOCKET COMMAND [ARGS...]\n"
	        "       mongo-rs-sim verify DBPATH\n"
	        "       mongo-rs-sim verify --cluster [--whole-only] NAME=DBPATH...   (every shard and the CSRS)\n"
	        "       mongo-rs-sim --help | --version\n"
	        "A simulated MongoDB replica set on 127.0.0.1 (one port per member) for tests.\n"
	        "Prints the seed URI first on stdout once every member listens. See tests/sim/README.md.\n");
}

static int set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

/* One more shard simulator's control socket for the mongos. */
static int add_shard(sim_cluster *cl, const char *ctl)
{
	char **nv = realloc(cl->shard_ctl, (cl->n_shards + 1) * sizeof *nv);

	if (!nv)
		return -1;
	cl->shard_ctl = nv;
	if (!(nv[cl->n_shards] = strdup(ctl)))
		return -1;
	cl->n_shards++;
	return 0;
}

static char *build_seed(const sim *s)
{
	size_t cap = 64 + strlen(s->set_name) + s->n_members * 24, len = 0;
	char *u = malloc(cap);
	bool first = true;

	if (!u)
		return NULL;
	len = (size_t)snprintf(u, cap, "mongodb://");
	for (size_t i = 0; i < s->n_members; i++) {
		const sim_member *m = &s->members[i];

		if (m->hidden || m->delay_secs > 0 || m->arbiter)
			continue;
		len += (size_t)snprintf(u + len, cap - len, "%s%s", first ? "" : ",", m->host);
		first = false;
	}
	/* A mongos's endpoints are a list of routers, not a set. */
	if (s->role == SIM_ROLE_MONGOS)
		snprintf(u + len, cap - len, "/");
	else
		snprintf(u + len, cap - len, "/?replicaSet=%s", s->set_name);
	return u;
}

static int write_ready(const sim *s, const char *path)
{
	size_t l = strlen(path) + 32;
	char *tmp = malloc(l);
	FILE *f = NULL;
	int rc = -1, fd;

	if (!tmp)
		return -1;
	snprintf(tmp, l, "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "%ld\n%s\n%s\n", (long)getpid(), s->seed_uri, s->ctl_path);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		goto out;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"topology", required_argument, NULL, 't'},
	                                     {"ready-file", required_argument, NULL, 'r'},
	                                     {"ctl", required_argument, NULL, 'c'},
	                                     {"data-dir", required_argument, NULL, 'd'},
	                                     {"tls-cert", required_argument, NULL, 'C'},
	                                     {"tls-key", required_argument, NULL, 'K'},
	                                     {"tls-ca", required_argument, NULL, 'A'},
	                                     {"log", required_argument, NULL, 'l'},
	                                     {"shard", required_argument, NULL, 'S'},
	                                     {"set-name", required_argument, NULL, 'N'},
	                                     {"config-server", required_argument, NULL, 'G'},
	                                     {"verbose", no_argument, NULL, 'v'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {"version", no_argument, NULL, 'V'},
	                                     {NULL, 0, NULL, 0}};
	const char *topo = NULL, *ready = NULL, *ctl = NULL, *ddir = NULL, *cert = NULL, *key = NULL, *ca = NULL,
	           *logp = NULL, *setname = NULL;
	sim s;
	char err[1024];
	int opt, rc = EX_SOFTWARE, verbose = 0;
	bool started = false;
	sigset_t block;
	struct sigaction sa;

	memset(&s, 0, sizeof s);
	s.ctl_fd = -1;
	s.primary = -1;
	if (argc >= 2 && strcmp(argv[1], "ctl") == 0)
		return sim_ctl_client(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "verify") == 0 && strcmp(argv[2], "--cluster") == 0)
		return sim_verify_cluster(argc - 3, argv + 3);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
		if (argc != 3) {
			fprintf(stderr, "usage: mongo-rs-sim verify DBPATH\n");
			return EX_USAGE;
		}
		return sim_datadir_verify(argv[2]);
	}
	while ((opt = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (opt) {
		case 't': topo = optarg; break;
		case 'r': ready = optarg; break;
		case 'c': ctl = optarg; break;
		case 'd': ddir = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'A': ca = optarg; break;
		case 'l': logp = optarg; break;
		case 'N': setname = optarg; break;
		case 'S':
			if (add_shard(&s.cluster, optarg) != 0)
				goto out;
			break;
		case 'G':
			if (set_str(&s.cluster.config_ctl, optarg) != 0)
				goto out;
			break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); rc = 0; goto out;
		case 'V': printf("mongo-rs-sim %s\n", PACKAGE_VERSION); rc = 0; goto out;
		default: usage(stderr); rc = EX_USAGE; goto out;
		}
	}
	if (optind != argc || !topo) {
		fprintf(stderr, "mongo-rs-sim: %s\n", topo ? "unexpected argument" : "--topology FILE is required");
		usage(stderr);
		rc = EX_USAGE;
		goto out;
	}
	s.verbose = verbose;
	g_sim = &s;
	if (sim_topology_load(&s, topo, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		rc = EX_CONFIG;
		goto out;
	}
	/* A router needs its components; a replica set has none. */
	if (s.role == SIM_ROLE_MONGOS ? !s.cluster.n_shards || !s.cluster.config_ctl
	                              : s.cluster.n_shards > 0 || s.cluster.config_ctl != NULL) {
		fprintf(stderr, "mongo-rs-sim: %s\n",
		        s.role == SIM_ROLE_MONGOS ? "a mongos (role = \"mongos\") needs --config-server CTL and at least one --shard CTL"
		                                  : "--shard and --config-server are for a mongos topology (role = \"mongos\")");
		rc = EX_USAGE;
		goto out;
	}
	if ((setname && set_str(&s.set_name, setname) != 0) || (ddir && set_str(&s.data_dir, ddir) != 0) || (cert && set_str(&s.tls_cert, cert) != 0) ||
	    (key && set_str(&s.tls_key, key) != 0) || (ca && set_str(&s.tls_ca, ca) != 0))
		goto out;
	if (cert || key || ca)
		s.tls = true;
	if (logp && !(s.log = fopen(logp, "ae"))) {
		fprintf(stderr, "mongo-rs-sim: cannot open the log %s: %s\n", logp, strerror(errno));
		rc = EX_CANTCREAT;
		goto out;
	}
	if (ctl) {
		if (set_str(&s.ctl_path, ctl) != 0)
			goto out;
	} else {
		const char *tmp = getenv("TMPDIR");
		size_t l;

		if (!tmp || !*tmp)
			tmp = "/tmp";
		l = strlen(tmp) + 48;
		if (!(s.ctl_path = malloc(l)))
			goto out;
		snprintf(s.ctl_path, l, "%s/mongo-rs-sim.%ld.ctl", tmp, (long)getpid());
	}
	if (sim_tls_init(&s, err, sizeof err) != 0) {
		fprintf(stderr, "mongo-rs-sim: %s\n", err);
		rc = EX_CONFIG;
		goto out;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < s.n_members; i++) {
		sim_member *m = &s.members[i];

		if (sim_loop_listen_member(&s, (int)i, m->up, m->port, err, sizeof err) != 0) {
			fprintf(stderr, "mongo-rs-sim: %s\n", err);
			rc = EX_UNAVAILABLE;
			goto out;
		}
		if (sim_datadir_open(&s, m, err, sizeof err) != 0) {
			fprintf(stderr, "mongo-rs-sim: %s\n", err);
			rc = EX_CANTCREAT;
			goto out;
		}
	}
	sim_rs_init(&s);
	if (sim_ctl_listen(&s, err, sizeof err) != 0) {
		fprintf(stderr, "mongo-rs-sim: %s\n", err);
		rc = EX_CANTCREAT;
		goto out;
	}
	started = true;
	if (!(s.seed_uri = build_seed(&s)))
		goto out;
	printf("%s\n", s.seed_uri);
	fflush(stdout);
	if (ready && write_ready(&s, ready) != 0) {
		fprintf(stderr, "mongo-rs-sim: cannot write the ready file %s: %s\n", ready, strerror(errno));
		rc = EX_CANTCREAT;
		goto out;
	}
	sim_logf(&s, "started: %s (control socket %s)", s.seed_uri, s.ctl_path);
	sim_loop_run(&s);
	sim_logf(&s, "shutting down");
	rc = 0;
out:
	if (s.ctl_fd >= 0)
		close(s.ctl_fd);
	if (started && s.ctl_path)
		unlink(s.ctl_path);
	for (size_t i = 0; s.members && i < s.n_members; i++) {
		if (s.members[i].listen_fd >= 0)
			close(s.members[i].listen_fd);
		sim_datadir_close(&s.members[i]);
	}
	sim_rs_free(&s);
	sim_topology_free(&s);
	sim_cluster_free(&s.cluster);
	SSL_CTX_free(s.ssl_ctx);
	if (s.log)
		fclose(s.log);
	free(s.ctl_path);
	free(s.seed_uri);
	g_sim = NULL;
	return rc;
}

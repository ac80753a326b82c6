/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* uri.h: connection-string validation, credentials, per-member URIs and redaction. */
#ifndef MBH_URI_H
#define MBH_URI_H

#include <stddef.h>

#include <mongoc/mongoc.h>

#include "config.h"
#include "error.h"

/*
 * Copy uri into out with any password in the userinfo replaced by "*****"
 * (user names stay).  Works on invalid strings too, so error messages can
 * quote them.  Always NUL-terminates; truncates to outlen.
 */
void mbh_uri_redact(const char *uri, char *out, size_t outlen);

/*
 * Parse and validate cfg->uri (mongodb:// or mongodb+srv://), apply
 * cfg->username / cfg->password, connect_timeout_ms and a short
 * serverSelection/socket timeout, appname "mongo-backup-hooks".  A bad string
 * fails with EX_USAGE and the redacted URI in the message.  Caller owns *out.
 */
int mbh_uri_build(mongoc_uri_t **out, const mbh_config *cfg, mbh_error *err);

/*
 * A URI for one member "host:port": directConnection=true, no replicaSet,
 * same credentials, auth source/mechanism and TLS options as base.  Caller
 * owns *out.
 */
int mbh_uri_for_member(mongoc_uri_t **out, const mongoc_uri_t *base, const char *host_port, mbh_error *err);

/* Split "host:port" (or "[v6]:port") into host (NUL-terminated) and port. Returns 0 or -1. */
int mbh_hostport_split(const char *host_port, char *host, size_t hostlen, int *port);

#endif

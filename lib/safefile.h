/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* safefile.h: create a file below a directory others may write to, following no link and trusting no one else's directory. */
#ifndef MBH_SAFEFILE_H
#define MBH_SAFEFILE_H

#include "error.h"

/*
 * Create base/rel anew for writing and return its descriptor in *out
 * (caller closes).  base (the operator's choice; "" = "/") is created when
 * missing (mode 0700) and must be owned by root or by us; it may be a
 * symbolic link only if that link is root's or ours.  Below it, every
 * directory of rel is opened one at a time without following a symbolic
 * link (missing ones are created, mode 0700) and must be owned by root or
 * by us.  An existing regular file at the end is unlinked and a new one
 * created with O_EXCL, mode 0600; anything else there (a FIFO, a link, a
 * directory) is refused.  Errors name the path and what to do:
 * EX_CANTCREAT, EX_NOPERM (an owner or a link), EX_OSERR.
 */
int mbh_safefile_create(int *out, const char *base, const char *rel, mbh_error *err);

#endif

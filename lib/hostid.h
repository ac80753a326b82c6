/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* hostid.h: the names and addresses this host answers to (for selection.policy = "local"). */
#ifndef MBH_HOSTID_H
#define MBH_HOSTID_H

/* NULL-terminated: "localhost", the host name, its canonical and short names, every interface address.  Free with mbh_strv_free; NULL on no memory. */
char **mbh_host_names(void);

#endif

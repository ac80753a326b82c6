/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* strv.h: NULL-terminated string vectors (argv templates, lists of names). */
#ifndef MBH_STRV_H
#define MBH_STRV_H

/* Free a NULL-terminated string vector and every string in it.  NULL is fine. */
void mbh_strv_free(char **v);

#endif

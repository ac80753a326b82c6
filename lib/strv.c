/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* strv.c: NULL-terminated string vectors (argv templates, lists of names). */
#include "autoconfig.h"

#include <stdlib.h>

#include "strv.h"

/* Free a NULL-terminated string vector. */
void
mbh_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-layers.h: the Bacula plugin interfaces mongo-fd.so speaks, as loadPlugin chooses among them. */
#ifndef MBH_BACULA_LAYERS_H
#define MBH_BACULA_LAYERS_H

/*
 * One layer per interface (bacula14.c, bacula21.c, bacula22.c,
 * bacula23.c: bacula-layer-template.h compiled with that interface's
 * declarations) maps the neutral face of fdhost.h onto it.  All of a
 * layer's process-wide state is the daemon's callback table, kept by bind()
 * when loadPlugin picks that layer and read-only afterwards.
 */

#include <stdbool.h>
#include <stdint.h>

#include "bacula-abi.h"
#include "fdhost.h"

typedef struct bacula_layer {
	uint32_t version;           /* the FD_PLUGIN_INTERFACE_VERSION it speaks */
	const char *releases;       /* the Bacula releases that speak it, for messages */
	const fdhost *host;         /* what the logic calls */
	pInfo *info;                /* handed to the daemon: version = the interface's */
	void *funcs;                /* that interface's pFuncs, every slot it has (unused ones NULL) */
	/* Keep the daemon's callbacks (that interface's bFuncs); false when one the logic needs is missing. */
	bool (*bind)(void *bfuncs);
	/* A daemon message (no job: the daemon's Messages resource), through callbacks not bound. */
	void (*daemon_message)(void *bfuncs, fdhost_msg kind, const char *line);
	const int *msg_types;       /* JobMessage's type for each fdhost_msg */
	const int *var_ids;         /* getBaculaValue's id for each fdhost_var */
} bacula_layer;

extern const bacula_layer bacula14, bacula21, bacula22, bacula23;

#endif

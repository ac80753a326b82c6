/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula-load.c: loadPlugin and unloadPlugin: speak the plugin interface bacula-fd reports, or refuse to load. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>

#include "bacula-abi.h"
#include "bacula-layers.h"
#include "fdhost.h"

/*
 * bacula-fd calls loadPlugin before it checks pInfo (lib/plugins.c, every
 * version from 9.6 to 15.0), and accepts only a pInfo.version equal to its
 * own interface: so one mongo-fd.so answers with the layer of the version
 * the daemon reports in bInfo.  Any other version gets bRC_Error, which the
 * daemon takes as "not accepted" (it then calls unloadPlugin and dlcloses
 * the file): nothing half-loaded stays behind.
 */

static const bacula_layer *const layers[] = { &bacula14, &bacula21, &bacula22, &bacula23 };
#define NLAYERS (sizeof(layers) / sizeof(layers[0]))

/* Interfaces up to this one may be Bareos's (7 to 10), whose callback table is laid out otherwise. */
#define BAREOS_MAX_INTERFACE 10

/* The layer loadPlugin accepted; NULL before, after a refusal and after unloadPlugin. */
static const bacula_layer *loaded;

static const bacula_layer *
layer_for(uint32_t version)
{
	size_t i;

	for (i = 0; i < NLAYERS; i++)
		if (layers[i]->version == version)
			return layers[i];
	return NULL;
}

/* The layer whose message numbers an unknown Bacula most likely shares: the newest not above it, else the oldest. */
static const bacula_layer *
nearest(uint32_t version)
{
	const bacula_layer *best = layers[0];
	size_t i;

	for (i = 0; i < NLAYERS; i++)
		if (layers[i]->version <= version)
			best = layers[i];
	return best;
}

/*
 * Say why the plugin is not loaded.  bacula-fd's own loader reports a
 * refused plugin as a daemon message (it reaches the operator only where
 * the file daemon's Messages resource sends daemon messages) and at debug
 * level 50: so the line goes to stderr too, which is the journal under
 * systemd and the terminal with -f (/dev/null once daemonized).  The
 * daemon's callbacks are used only when its interface is a Bacula one
 * (their first entries have been the same since Bacula 5), never for what
 * may be Bareos's.
 */
static void
refuse(uint32_t version, void *bfuncs, const char *why)
{
	char line[600];
	size_t n, i;
	int w;

	w = snprintf(line, sizeof(line), "not loaded: %s; mongo-fd.so speaks ", why);
	n = w > 0 && (size_t)w < sizeof(line) ? (size_t)w : sizeof(line) - 1;
	for (i = 0; i < NLAYERS && n < sizeof(line) - 1; i++) {
		w = snprintf(line + n, sizeof(line) - n, "%s%u (Bacula %s)",
		             i == 0 ? "" : i + 1 == NLAYERS ? " and " : ", ", (unsigned)layers[i]->version,
		             layers[i]->releases);
		n = w > 0 && (size_t)w < sizeof(line) - n ? n + (size_t)w : sizeof(line) - 1;
	}
	fprintf(stderr, "mongo-fd: %s\n", line);
	fflush(stderr);
	if (version > BAREOS_MAX_INTERFACE)
		nearest(version)->daemon_message(bfuncs, FDHOST_ERROR, line);
}

bRC loadPlugin(bInfo *binfo, void *bfuncs, pInfo **pinfo, void **pfuncs);
bRC unloadPlugin(void);

/* Once, when bacula-fd loads the file: choose the layer, keep the daemon's callbacks, start the logic. */
bRC
loadPlugin(bInfo *binfo, void *bfuncs, pInfo **pinfo, void **pfuncs)
{
	const bacula_layer *layer;
	char why[160];

	if (binfo == NULL || bfuncs == NULL || pinfo == NULL || pfuncs == NULL)
		return bRC_Error;
	if ((layer = layer_for(binfo->version)) == NULL) {
		snprintf(why, sizeof(why), "this bacula-fd speaks plugin interface %u", (unsigned)binfo->version);
		refuse(binfo->version, bfuncs, why);
		return bRC_Error;
	}
	if (!layer->bind(bfuncs)) {
		snprintf(why, sizeof(why), "this bacula-fd (plugin interface %u) lacks JobMessage, DebugMessage or "
		         "getBaculaValue", (unsigned)binfo->version);
		refuse(binfo->version, bfuncs, why);
		return bRC_Error;
	}
	if (mfd_load(layer->host) != 0)
		return bRC_Error;
	loaded = layer;
	*pinfo = layer->info;
	*pfuncs = layer->funcs;
	return bRC_OK;
}

/* Once, when bacula-fd unloads the plugin; also after it refused it (then there is nothing to stop). */
bRC
unloadPlugin(void)
{
	if (loaded != NULL)
		mfd_unload();
	loaded = NULL;
	return bRC_OK;
}

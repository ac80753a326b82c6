/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula14.c: the layer for plugin interface 14 (Bacula 9.0 to 9.6). */
#include "autoconfig.h"

#include "bacula-abi14.h"

#define LAYER_NAME bacula14
#define LAYER_RELEASES "9.0 to 9.6"
#include "bacula-layer-template.h"

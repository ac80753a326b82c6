/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula23.c: the layer for plugin interface 23 (Bacula 15.0). */
#include "autoconfig.h"

#include "bacula-abi23.h"

#define LAYER_NAME bacula23
#define LAYER_RELEASES "15.0"
#include "bacula-layer-template.h"

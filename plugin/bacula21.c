/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula21.c: the layer for plugin interface 21 (Bacula 11.0). */
#include "autoconfig.h"

#include "bacula-abi21.h"

#define LAYER_NAME bacula21
#define LAYER_RELEASES "11.0"
#include "bacula-layer-template.h"

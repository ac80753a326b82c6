/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bacula22.c: the layer for plugin interface 22 (Bacula 13.0). */
#include "autoconfig.h"

#include "bacula-abi22.h"

#define LAYER_NAME bacula22
#define LAYER_RELEASES "13.0"
#include "bacula-layer-template.h"

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* wire.c: placeholder until the module lands. */
#include "autoconfig.h"

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* run.c: placeholder until the module lands. */
#include "autoconfig.h"

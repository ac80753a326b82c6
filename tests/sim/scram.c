/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* scram.c: placeholder until the module lands. */
#include "autoconfig.h"

/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fakefd23.c: the fake file daemon's plugin interface 23 (Bacula 15.0). */
#include "autoconfig.h"

#include "bacula-abi23.h"

#define FAKE_NAME fake23
#define FAKE_RELEASES "15.0"
#include "fakefd-template.h"

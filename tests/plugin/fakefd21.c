/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fakefd21.c: the fake file daemon's plugin interface 21 (Bacula 11.0). */
#include "autoconfig.h"

#include "bacula-abi21.h"

#define FAKE_NAME fake21
#define FAKE_RELEASES "11.0"
#include "fakefd-template.h"

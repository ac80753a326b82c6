/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fakefd22.c: the fake file daemon's plugin interface 22 (Bacula 13.0). */
#include "autoconfig.h"

#include "bacula-abi22.h"

#define FAKE_NAME fake22
#define FAKE_RELEASES "13.0"
#include "fakefd-template.h"

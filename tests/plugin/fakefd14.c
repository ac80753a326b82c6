/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fakefd14.c: the fake file daemon's plugin interface 14 (Bacula 9.0 to 9.6). */
#include "autoconfig.h"

#include "bacula-abi14.h"

#define FAKE_NAME fake14
#define FAKE_RELEASES "9.0 to 9.6"
#include "fakefd-template.h"

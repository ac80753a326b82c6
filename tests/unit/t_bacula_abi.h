/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* t_bacula_abi.h: the size, offset and value assertions of the t_bacula_abi*.c tests (TAP). */
#ifndef MBH_T_BACULA_ABI_H
#define MBH_T_BACULA_ABI_H

#include <stddef.h>

#include "tap.h"

#define SIZE(type, want) is_int((long long)sizeof(type), want, "sizeof(" #type ") == " #want)
#define OFF(type, field, want) is_int((long long)offsetof(type, field), want, "offsetof(" #type ", " #field ") == " #want)
#define VAL(name, want) is_int((long long)(name), want, #name " == " #want)

#endif

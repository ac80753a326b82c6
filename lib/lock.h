/* SPDX-License-Identifier: AGPL-3.0-or-later */
#ifndef MBH_LOCK_H
#define MBH_LOCK_H
#endif

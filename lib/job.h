/* SPDX-License-Identifier: AGPL-3.0-or-later */
#ifndef MBH_JOB_H
#define MBH_JOB_H
#endif

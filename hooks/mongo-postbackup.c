/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* mongo-postbackup.c: placeholder until the program lands. */
#include "autoconfig.h"
#include <sysexits.h>
int main(void);
int
main(void)
{
	return EX_SOFTWARE;
}

#!/bin/sh
# plugin-cluster.sh against Bacula 15.0.3 (unpacked by tools/install-deps; see BACULA_SERIES in ../baculalib.sh).
# SPDX-License-Identifier: AGPL-3.0-or-later
BACULA_SERIES=15 exec bash "${top_srcdir:-$(cd "$(dirname "$0")/../../.." && pwd)}/tests/bacula/plugin-cluster.sh" "$@"

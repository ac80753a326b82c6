#!/bin/sh
# plugin-snapshot-btrfs.sh: plugin-snapshot.sh on btrfs, with the shipped conf/scripts/snapshot-btrfs (SNAPSHOT_FS=btrfs there).
# SPDX-License-Identifier: AGPL-3.0-or-later
SNAPSHOT_FS=btrfs exec bash "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/bacula/plugin-snapshot.sh" "$@"

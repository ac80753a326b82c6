#!/bin/bash
# tests/plugin/plugin-stream.sh with the fake file daemon speaking plugin interface 22 (Bacula 13.0).
# SPDX-License-Identifier: AGPL-3.0-or-later
MBH_FAKEFD_INTERFACE=22 exec bash "$(dirname "$0")/../plugin-stream.sh" "$@"

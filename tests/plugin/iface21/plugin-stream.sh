#!/bin/bash
# tests/plugin/plugin-stream.sh with the fake file daemon speaking plugin interface 21 (Bacula 11.0).
# SPDX-License-Identifier: AGPL-3.0-or-later
MBH_FAKEFD_INTERFACE=21 exec bash "$(dirname "$0")/../plugin-stream.sh" "$@"

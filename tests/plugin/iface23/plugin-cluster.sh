#!/bin/bash
# tests/plugin/plugin-cluster.sh with the fake file daemon speaking plugin interface 23 (Bacula 15.0).
# SPDX-License-Identifier: AGPL-3.0-or-later
MBH_FAKEFD_INTERFACE=23 exec bash "$(dirname "$0")/../plugin-cluster.sh" "$@"

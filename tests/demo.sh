#!/bin/sh
echo "demo: not yet"
exit 1

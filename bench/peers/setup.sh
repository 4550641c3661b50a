#!/bin/sh
# Install the benchmark peers (node-oidc-provider with npm ci at pinned versions; the plain
# django-oauth-toolkit project's RSA key) into bench/peers/.install/, git-ignored.
# Idempotent and bounded; see install.py. Usage: bench/peers/setup.sh [dot|node|all]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-$here/../../.venv/bin/python}" "$here/install.py" "$@"

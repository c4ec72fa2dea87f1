#!/usr/bin/env bash
# Start flowrt the sFlow-RT way: ./start.sh -Dname=value ... (RTPROP is read too).
set -euo pipefail
cd "$(dirname "$0")"
. ./scripts/bootstrap.sh
# home (apps/, store/, conf.d/): $FLOWRT_HOME if set, else this checkout
exec "$VENV/bin/python" -m engine.main --home "${FLOWRT_HOME:-$PWD}" "$@"

#!/usr/bin/env bash
# Start flowrt the sFlow-RT way: ./start.sh -Dname=value ... (RTPROP is read too).
set -euo pipefail
cd "$(dirname "$0")"
. ./scripts/bootstrap.sh
exec "$VENV/bin/python" -m engine.main "$@"

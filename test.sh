#!/usr/bin/env bash
# Run the whole test suite (creates .venv on first run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
FLOWRT_EXTRAS=test . ./scripts/bootstrap.sh
exec "$VENV/bin/python" -m pytest "$@"

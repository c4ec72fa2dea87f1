#!/usr/bin/env bash
# Run the whole test suite (creates .venv on first run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
# the history extra too: the history tests use the embedded chDB store (docs/testing.md);
# the lint extra so scripts/lint.sh shares this venv
FLOWRT_EXTRAS=test,history,lint . ./scripts/bootstrap.sh
exec "$VENV/bin/python" -m pytest "$@"

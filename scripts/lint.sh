#!/usr/bin/env bash
# Lint, format check and type check (docs/testing.md, "Lint, format and types"), with the
# tools pinned in pyproject.toml's lint extra, installed into the same .venv as ./test.sh.
# Runs all three and fails if any of them reports something.
set -uo pipefail
cd "$(dirname "$0")/.."
FLOWRT_EXTRAS=test,history,lint . ./scripts/bootstrap.sh || exit 1
status=0
echo "== ruff check" >&2
"$VENV/bin/ruff" check . || status=1
echo "== ruff format --check" >&2
"$VENV/bin/ruff" format --check --output-format concise . || status=1
echo "== mypy" >&2
"$VENV/bin/mypy" || status=1
exit $status

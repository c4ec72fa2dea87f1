#!/usr/bin/env bash
# Install an sFlow-RT app: ./get-app.sh <github-user> <github-project>  |  ./get-app.sh url <zip>
# (stdlib Python only, so it works before the first ./start.sh; see jsapi/getapp.py)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="$here/.venv/bin/python"
[ -x "$py" ] || py="$(command -v python3)"
FLOWRT_HOME="${FLOWRT_HOME:-$here}" exec "$py" -P "$here/jsapi/getapp.py" "$@"

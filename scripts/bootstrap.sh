# Sourced by start.sh and test.sh: make sure .venv exists and holds this checkout.
VENV="${FLOWRT_VENV:-$PWD/.venv}"
stamp="$VENV/.flowrt-installed"
# the C extensions are built at install time: a changed source means reinstall
want="$({ cat pyproject.toml setup.py $(find engine jsapi -name '*.c' -o -name '*.h' 2>/dev/null | sort) 2>/dev/null || true; } | sha1sum | cut -c1-12)-${FLOWRT_EXTRAS:-base}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "flowrt: creating virtual environment in $VENV" >&2
  python3 -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || ! grep -qx -- "$want" "$stamp" 2>/dev/null; then
  echo "flowrt: installing dependencies" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  spec="."
  [ -n "${FLOWRT_EXTRAS:-}" ] && spec=".[${FLOWRT_EXTRAS}]"
  # pip's and setuptools' chatter goes to a log, shown in full only when the install fails
  log="$VENV/.flowrt-install.log"
  if ! "$VENV/bin/python" -m pip install -q -e "$spec" >"$log" 2>&1; then
    cat "$log" >&2
    echo "flowrt: installing failed (log: $log)" >&2
    exit 1
  fi
  # a test install also satisfies a plain start, so remember both
  { echo "$want"; [ -n "${FLOWRT_EXTRAS:-}" ] && echo "${want%-*}-base"; } > "$stamp"
fi
export VENV

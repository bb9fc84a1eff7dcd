#!/usr/bin/env bash
# Installs the pinned real MCP servers used by the interop tests:
#   npm  → tests/interop/node_modules   (from tests/interop/package-lock.json, `npm ci`)
#   PyPI → .venv                        (from tests/interop/requirements.txt)
# Idempotent: each step is skipped while its lock/requirements file is unchanged since the
# last successful install (a stamp with the file's hash). `--force` reinstalls both.
#
# A missing `npm` or `python3` is a warning (the interop tests then skip), unless
# MCP_GATEWAY_REQUIRE_INTEROP=1, where it is an error. PYTHON selects the interpreter.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
INTEROP=$ROOT/tests/interop
VENV=$ROOT/.venv
PYTHON=${PYTHON:-python3}
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1

required() { [[ -n ${MCP_GATEWAY_REQUIRE_INTEROP:-} && ${MCP_GATEWAY_REQUIRE_INTEROP} != 0 && ${MCP_GATEWAY_REQUIRE_INTEROP} != false ]]; }
missing() {
  if required; then
    echo "setup-interop: $1 (MCP_GATEWAY_REQUIRE_INTEROP is set)" >&2
    exit 1
  fi
  echo "setup-interop: warning: $1; interop tests will be skipped" >&2
}
hash_of() { sha256sum "$1" | cut -d' ' -f1; }
up_to_date() { [[ $FORCE == 0 && -f $1 && $(cat "$1") == "$2" ]]; }

# --- npm peers ---
if command -v npm >/dev/null 2>&1; then
  stamp=$INTEROP/node_modules/.mcp-gateway-stamp
  want=$(hash_of "$INTEROP/package-lock.json")
  if up_to_date "$stamp" "$want" && [[ -x $INTEROP/node_modules/.bin/mcp-server-everything ]]; then
    echo "setup-interop: npm peers up to date"
  else
    echo "setup-interop: npm ci in tests/interop"
    (cd "$INTEROP" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
else
  missing "npm not found"
fi

# --- Python peers ---
if command -v "$PYTHON" >/dev/null 2>&1 &&
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  stamp=$VENV/.mcp-gateway-stamp
  want=$(hash_of "$INTEROP/requirements.txt")
  if up_to_date "$stamp" "$want" && [[ -x $VENV/bin/mcp-server-time ]]; then
    echo "setup-interop: Python peers up to date"
  else
    if [[ ! -x $VENV/bin/python ]]; then
      echo "setup-interop: creating .venv with $("$PYTHON" --version)"
      "$PYTHON" -m venv "$VENV"
    fi
    echo "setup-interop: pip install -r tests/interop/requirements.txt"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$INTEROP/requirements.txt"
    echo "$want" >"$stamp"
  fi
else
  missing "$PYTHON (>= 3.10) not found"
fi

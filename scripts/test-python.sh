#!/usr/bin/env bash
# The Python package's checks, as its users get it: builds the wheel (which carries the
# gateway binary), installs it into a fresh virtualenv, type-checks the package and its
# tests (mypy --strict), and runs the pytest suite against gateways started from the binary
# the wheel installed. Called by scripts/test.sh; runs on its own too.
#
# The wheel is built from the dev profile by default: the test step has just built that
# binary, so this costs seconds, not a release build. MCP_GATEWAY_WHEEL_PROFILE=release
# builds what would be published.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=$ROOT/target/python-venv
WHEELS=$ROOT/target/wheels
PROFILE=${MCP_GATEWAY_WHEEL_PROFILE:-dev}

step() { printf '\n==> %s\n' "$*"; }

step "python: fresh virtualenv with the build and test tools ($VENV)"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r python/requirements-dev.txt

step "python: wheel (maturin, cargo profile $PROFILE)"
rm -rf "$WHEELS"
# From python/: maturin reads its pyproject.toml there (manifest-path: crates/cli).
(cd python && "$VENV/bin/maturin" build --profile "$PROFILE" --locked --out "$WHEELS" \
  --compatibility linux)
WHEEL=$(ls "$WHEELS"/mcp_gateway-*.whl)
echo "built $WHEEL ($(du -h "$WHEEL" | cut -f1))"

step "python: install the wheel"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$WHEEL"
# The binary the tests run is the one the wheel put on the virtualenv's PATH.
test -x "$VENV/bin/mcp-gateway"

step "python: mypy --strict"
(cd python && "$VENV/bin/mypy" --config-file pyproject.toml)

step "python: pytest (a real gateway from the wheel's binary)"
# Run from outside the source tree, so the installed package is the one imported.
(cd "$ROOT/target" && env -u MCP_GATEWAY_BIN -u MCP_GATEWAY_URL -u MCP_GATEWAY_MASTER_KEY \
  PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/python/tests")

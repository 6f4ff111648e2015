#!/usr/bin/env bash
# wsgen dev under load (crates/wsgen-cli/examples/ws_bench.rs is the client): the stock handlers built
# as deployed (release), the embedded DynamoDB, one `wsgen dev` process.
#
#   - round trip of a two-way Lambda route (whoAmI: gateway -> Runtime API -> handler
#     -> back), one client, 2,000 messages; beside a bare tokio-tungstenite echo server;
#   - a chat broadcast (sendmessage: a DynamoDB scan and one @connections POST per
#     client) to 1,000 clients;
#   - wsgen dev's resident memory with 10,000 idle connections.
#
#   bash bench/dev.sh [CLIENTS_IDLE]      (default 10000)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
idle_clients=${1:-10000}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --manifest-path "$repo/Cargo.toml" --bin wsgen --example ws_bench >&2
bin="${CARGO_TARGET_DIR:-$repo/target}/release"
wsgen="$bin/wsgen"
load="$bin/examples/ws_bench"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# The stock project as the tests build it (the handler crates and lockfile copied in).
project="$work/stock"
cp -r "$repo/tests/fixtures/stock" "$project"
cp -r "$repo/lambdas" "$project/lambdas"
mkdir -p "$project/tests" && cp -r "$repo/tests/handlers" "$project/tests/handlers"
cp "$repo/Cargo.lock" "$project/Cargo.lock"
rm -rf "$project/lambdas/"*/target
sed -i "s|\"\.\./\.\./\.\./\.\./crates/|\"$repo/crates/|" "$project/infra/Cargo.toml"
export CARGO_TARGET_DIR="${BENCH_TARGET_DIR:-$repo/target/bench-stock}"

"$wsgen" dev --project "$project" --release --port 0 --json --no-watch \
  --stage live --idle-timeout 2h >"$work/dev.log" 2>&1 &
dev=$!
pids+=("$dev")
until grep -q '"type":"ready"' "$work/dev.log"; do
  kill -0 "$dev" 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
  sleep 0.5
done
address=$(grep '"type":"ready"' "$work/dev.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["address"])')
url="ws://$address/live"
echo "wsgen dev at $url" >&2

# Each measurement against the bare server first (the ceiling), then wsgen dev.
"$load" echo-server > "$work/echo.url" &
echo_pid=$!
pids+=("$echo_pid")
until [[ -s "$work/echo.url" ]]; do sleep 0.1; done
echo_url=$(cat "$work/echo.url")

echo "== round trip, 2,000 messages, one client"
echo -n "bare tokio-tungstenite echo: "; "$load" roundtrip "$echo_url" '{"action":"whoAmI"}' 2000
echo -n "wsgen dev, whoAmI (two-way Lambda route): "; "$load" roundtrip "$url" '{"action":"whoAmI"}' 2000

echo "== broadcast to 1,000 clients, 10 rounds"
bare=$("$load" broadcast "$echo_url" '{"action":"sendmessage","data":"hello"}' 1001 10)
echo "bare tokio-tungstenite server: $bare"
dev_broadcast=$("$load" broadcast "$url" '{"action":"sendmessage","data":"hello"}' 1001 10)
echo "wsgen dev, sendmessage (DynamoDB scan, then @connections POSTs): $dev_broadcast"
rate() { sed -n 's/.*(\([0-9]*\) deliveries\/s at p50).*/\1/p' <<<"$1" | tail -1; }
echo "wsgen dev / bare: $(python3 -c 'import sys; print(f"{int(sys.argv[1]) / int(sys.argv[2]):.0%}")' "$(rate "$dev_broadcast")" "$(rate "$bare")") of the bare server's deliveries/s (target: 30% or more)"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# Opens $idle_clients connections to $1 and reports the resident memory of process $2.
idle() {
  local before after
  before=$(rss "$2")
  rm -f "$work/hold" "$work/idle.out"
  mkfifo "$work/hold"
  "$load" idle "$1" "$idle_clients" < "$work/hold" > "$work/idle.out" &
  local client=$!
  exec 3>"$work/hold"
  until grep -q '^open' "$work/idle.out" 2>/dev/null; do
    kill -0 "$client" 2>/dev/null || { echo "the idle client failed" >&2; exit 1; }
    sleep 0.5
  done
  sleep 2
  after=$(rss "$2")
  echo "$(cat "$work/idle.out"); RSS $before kB -> $after kB: $(( (after - before) * 1024 / idle_clients )) bytes per connection"
  exec 3>&-
  wait "$client" || true
}
echo "== $idle_clients idle connections"
echo -n "bare tokio-tungstenite server: "; idle "$echo_url" "$echo_pid"
echo -n "wsgen dev: "; idle "$url" "$dev"

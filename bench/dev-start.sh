#!/usr/bin/env bash
# How long `wsgen dev` takes from its start to its ready line, for the chat blueprint
# with its handlers built (the second start of the day, and every restart), with an
# empty connections table and with 10,000 items in it; beside the `wsgen` of another
# revision (default: the last with the hand-written DynamoDB engine) in the same run.
# The time is synth (cached), bundle (cached), opening the local DynamoDB's data,
# creating the tables, starting the gateway.
#
#   bash bench/dev-start.sh [BASE_REV] [RUNS]      (default a39c24a, 10 runs)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-a39c24a}
runs=${2:-10}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  git -C "$repo" worktree remove --force "$work/base" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
git -C "$repo" worktree add --detach "$work/base" "$base" >/dev/null 2>&1
export CARGO_INCREMENTAL=0
# Builds go to a directory that later runs reuse (the two wsgen binaries and the
# handlers take minutes to build; they are not what is measured).
targets="${BENCH_TARGET_DIR:-$repo/target/bench-dev-start}"
echo "building both wsgen binaries (release) in $targets" >&2
CARGO_TARGET_DIR="$targets/new" cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" --bin wsgen
CARGO_TARGET_DIR="$targets/base" cargo build --release --locked --quiet --manifest-path "$work/base/Cargo.toml" --bin wsgen
# One handler target for both projects (same crates, same layout).
export CARGO_TARGET_DIR="$targets/handlers"

python3 - "$work" "$targets" "$runs" <<'PY'
import json, os, signal, subprocess, sys, time, urllib.request
work, targets, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
binaries = {"base": f"{targets}/base/release/wsgen", "this checkout": f"{targets}/new/release/wsgen"}

def start(wsgen, project):
    """wsgen dev on the project: (process, ready line, seconds to it)."""
    began = time.monotonic()
    p = subprocess.Popen([wsgen, "dev", "--port", "0", "--json", "--no-watch"], cwd=project,
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in p.stderr:
        if '"type":"ready"' in line:
            return p, json.loads(line), time.monotonic() - began
    raise SystemExit(f"{wsgen} dev did not start")

def stop(p):
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)

def seed(endpoint, table, n):
    """n items through DynamoDB's JSON API (BatchWriteItem, 25 at a time)."""
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    auth = (f"AWS4-HMAC-SHA256 Credential=local/{date[:8]}/us-east-1/dynamodb/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")
    for i in range(0, n, 25):
        items = [{"PutRequest": {"Item": {"connectionId": {"S": f"seed-{j:06}"},
                 "connectedAt": {"N": "1700000000"}}}} for j in range(i, min(i + 25, n))]
        req = urllib.request.Request(endpoint, json.dumps({"RequestItems": {table: items}}).encode(),
            {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
             "X-Amz-Date": date, "Authorization": auth})
        urllib.request.urlopen(req).read()

results = {}
for name, wsgen in binaries.items():
    project = f"{work}/projects/{name.split()[0]}"
    os.makedirs(project)
    subprocess.run([wsgen, "new", "chat", "--name", "bench"], cwd=project, check=True,
                   stderr=subprocess.DEVNULL)
    project += "/chat"
    p, ready, first = start(wsgen, project)   # builds the handlers
    stop(p)
    for items in (0, 10_000):
        if items:
            p, ready, _ = start(wsgen, project)
            seed(ready["dynamodb"], "Bench-Connections", items)
            stop(p)
        times = []
        for _ in range(runs):
            p, _, t = start(wsgen, project)
            times.append(t)
            stop(p)
        times.sort()
        results[(name, items)] = times
for (name, items), t in results.items():
    print(f"{name:<14} {items:>6} items: median {t[len(t)//2]*1000:7.1f} ms, "
          f"min {t[0]*1000:7.1f} ms, max {t[-1]*1000:7.1f} ms ({len(t)} starts)")
PY

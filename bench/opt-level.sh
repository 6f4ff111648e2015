#!/usr/bin/env bash
# The deployable profile's opt-level, chosen by what users pay: for each level, the chat
# blueprint bundled by `wsgen bundle` with `[profile.wsgen-lambda] opt-level = LEVEL`
# in the project's Cargo.toml (everything else as wsgen's profile: fat LTO, one codegen
# unit, strip), then
#   - the cold build's time and the zips' sizes (what is uploaded and loaded on a cold
#     start);
#   - a Lambda-style cold start of its `default` bootstrap (Context::from_env, the AWS
#     configuration and the DynamoDB client included): process start to the first
#     response posted to a Runtime API (a small loopback server here), RUNS rounds
#     alternating between the levels, median and minimum, in a Lambda-like environment
#     (no AWS call is made);
#   - the CPU per `@connections` post of wsgen-handler's client (bench/post-cpu.sh's
#     measurement, the same opt-levels).
# Each level's bundle is cold (its own, emptied target directory) unless
# OPT_LEVEL_REUSE=1, which keeps the last run's builds (the build time is then not new).
#
#   bash bench/opt-level.sh [LEVELS] [RUNS]      (default "z s 3", 20)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
levels=${1:-z s 3}
runs=${2:-20}
export CARGO_INCREMENTAL=0
targets="${BENCH_TARGET_DIR:-$repo/target/bench-opt-level}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
CARGO_TARGET_DIR="$targets/wsgen" cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" --bin wsgen
wsgen="$targets/wsgen/release/wsgen"
export WSGEN_DATA_DIR="$targets/data"
(cd "$work" && "$wsgen" new chat --blueprint chat >/dev/null)

bootstraps=()
for level in $levels; do
  project="$work/chat-$level"
  cp -r "$work/chat" "$project"
  printf '\n[profile.wsgen-lambda]\ninherits = "release"\nopt-level = %s\n' \
    "$([[ $level =~ ^[0-9]$ ]] && echo "$level" || echo "\"$level\"")" >>"$project/Cargo.toml"
  [[ "${OPT_LEVEL_REUSE:-}" == 1 ]] || rm -rf "$targets/handlers-$level"
  start=$(date +%s)
  CARGO_TARGET_DIR="$targets/handlers-$level" "$wsgen" bundle --project "$project" -q >/dev/null 2>&1
  built=$(( $(date +%s) - start ))
  zips=$(python3 - "$project/wsgen.out" <<'PY'
import os, sys
out = sys.argv[1]
sizes = [os.path.getsize(os.path.join(out, "assets", f)) for f in os.listdir(os.path.join(out, "assets")) if f.endswith(".zip")]
print(f"{len(sizes)} zips, {sum(sizes)/1024/len(sizes):.0f} KiB each on average, {sum(sizes)/1024:.0f} KiB in all")
PY
)
  echo "opt-level $level: bundled in ${built} s$([[ "${OPT_LEVEL_REUSE:-}" == 1 ]] && echo " (reused build)"); $zips"
  bootstraps+=("$level=$(find "$targets/handlers-$level" -path "*wsgen-lambda/default" -type f | head -1)")
done

python3 - "$runs" "${bootstraps[@]}" <<'PY'
import http.server, json, os, statistics, subprocess, sys, threading, time
runs, exes = int(sys.argv[1]), [a.split("=", 1) for a in sys.argv[2:]]
event = json.dumps({"requestContext": {"routeKey": "$default", "eventType": "MESSAGE",
    "connectionId": "L0SM9cOFvHcCIhw=", "requestId": "r", "domainName": "127.0.0.1",
    "stage": "live", "apiId": "local", "connectedAt": 0, "requestTimeEpoch": 0,
    "messageDirection": "IN", "extendedRequestId": "r", "requestTime": "x",
    "identity": {"sourceIp": "127.0.0.1"}}, "body": "{}", "isBase64Encoded": False}).encode()
class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.server.served:
            time.sleep(60); return
        self.server.served = True
        self.send_response(200)
        for k, v in (("Lambda-Runtime-Aws-Request-Id", "r1"), ("Lambda-Runtime-Deadline-Ms", str(int(time.time()*1000)+30000)),
                     ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:f"),
                     ("Content-Type", "application/json"), ("Content-Length", str(len(event)))):
            self.send_header(k, v)
        self.end_headers(); self.wfile.write(event)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.finished = time.perf_counter()
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
        self.server.done.set()
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, address): pass  # the killed process's connection
def cold_start(exe):
    server = Server(("127.0.0.1", 0), Api)
    server.served, server.finished, server.done = False, None, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"PATH": os.environ["PATH"], "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_port}",
           "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "TABLE_NAME": "t",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    began = time.perf_counter()
    p = subprocess.Popen([exe], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not server.done.wait(30):
        sys.exit(f"{exe}: no response in 30 s")
    took = (server.finished - began) * 1000
    p.kill(); p.wait(); server.shutdown(); server.server_close()
    return took
took = {level: [] for level, _ in exes}
for _ in range(runs):
    for level, exe in exes:
        took[level].append(cold_start(exe))
for level, _ in exes:
    t = took[level]
    print(f"opt-level {level}: cold start to first response (the `default` handler), median {statistics.median(t):.1f} ms, min {min(t):.1f} ms, {runs} runs")
PY
echo "CPU per @connections post at each level (bench/post-cpu.sh):"
bash "$repo/bench/post-cpu.sh" 2000 "$levels" | grep -v '^machine'

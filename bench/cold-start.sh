#!/usr/bin/env bash
# A Rust handler's cold start under `wsgen dev`: the echo blueprint's handler, a fresh
# `wsgen dev` per run, one message: the first round trip as a client sees it, and the
# REPORT line's Init Duration (process start to its first request for work) and
# Duration, for the dev profile (wsgen dev's default) and the release profile. Lambda's
# own figure for a Rust function's init is about 15 ms (published lambda-perf numbers);
# it cannot be measured here.
#
#   bash bench/cold-start.sh [RUNS]      (default 10 runs per profile)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CARGO_INCREMENTAL=0
targets="${BENCH_TARGET_DIR:-$repo/target/bench-cold-start}"
echo "building wsgen (release) in $targets" >&2
CARGO_TARGET_DIR="$targets/wsgen" cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" --bin wsgen
export CARGO_TARGET_DIR="$targets/handlers" WSGEN_DATA_DIR="$targets/data"
wsgen="$targets/wsgen/release/wsgen"
(cd "$work" && "$wsgen" new echo-app --blueprint echo >/dev/null 2>&1)

python3 - "$wsgen" "$work/echo-app" "$runs" <<'PY'
import json, os, re, signal, socket, statistics, subprocess, sys, time
wsgen, project, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])

def first_round_trip(address):
    host, port = address.split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall((f"GET /live HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    payload, mask = b"hello", os.urandom(4)
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    began = time.perf_counter()
    s.sendall(frame)
    header = s.recv(2)
    s.recv(header[1] & 0x7F)
    elapsed = (time.perf_counter() - began) * 1000
    s.close()
    return elapsed

def run(profile):
    p = subprocess.Popen([wsgen, "dev", "--port", "0", "--json", "--no-watch", profile],
                         cwd=project, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = None
    for line in p.stdout:
        event = json.loads(line)
        if event.get("type") == "ready":
            address = event["address"]
            break
    trip = first_round_trip(address)
    report = None
    for line in p.stdout:
        if "REPORT RequestId" in line:
            report = json.loads(line)["line"]
            break
    p.send_signal(signal.SIGINT)
    p.wait()
    init = float(re.search(r"Init Duration: ([\d.]+) ms", report).group(1))
    duration = float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1))
    return trip, init, duration

print(f"echo handler, first message after a fresh `wsgen dev`, median of {runs} runs")
print(f"{'profile':<10} {'first round trip':>18} {'Init Duration':>14} {'Duration':>10}")
for profile in ["--debug", "--release"]:
    run(profile)  # builds the handler once, outside the figures
    results = [run(profile) for _ in range(runs)]
    med = [statistics.median(r[i] for r in results) for i in range(3)]
    print(f"{profile:<10} {med[0]:>15.1f} ms {med[1]:>11.1f} ms {med[2]:>7.2f} ms")
print(f"{'Lambda':<10} {'':>18} {'~15 ms':>14}   (published lambda-perf figure, not measured here)")
PY

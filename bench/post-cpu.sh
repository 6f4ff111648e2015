#!/usr/bin/env bash
# The CPU a handler spends per `@connections` post, wsgen-handler's client beside the AWS
# SDK's PostToConnection in the same process and run (bench/post-cpu/), built as
# `wsgen bundle` builds handlers (fat LTO, one codegen unit, strip), for each opt-level
# given (default: s, the deployable profile's), against the fake API in a second process.
#
#   bash bench/post-cpu.sh [POSTS] [OPT_LEVELS]     (default 4000 per round, 5 rounds; "s")
#   bash bench/post-cpu.sh 4000 "z s 3"
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
posts=${1:-4000}
levels=${2:-s}
export CARGO_INCREMENTAL=0
targets="${BENCH_TARGET_DIR:-$repo/target/bench-post-cpu}"
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
for level in $levels; do
  target="$targets/opt-$level"
  CARGO_PROFILE_RELEASE_OPT_LEVEL="$level" CARGO_TARGET_DIR="$target" \
    cargo build --release --quiet --manifest-path "$repo/bench/post-cpu/Cargo.toml"
  bin="$target/release/post-cpu"
  coproc server { "$bin" serve; }
  read -r url <&"${server[0]}"
  echo "== opt-level $level (binary $(( $(stat -c %s "$bin") / 1024 )) KiB), $posts posts x 5 rounds, sequential"
  "$bin" measure "$url" "$posts"
  exec {server[1]}>&-
  wait "$server_PID" 2>/dev/null || true
done

#!/usr/bin/env bash
# A cold bundle of the chat blueprint's four handlers (onconnect, ondisconnect,
# sendmessage, default), side by side in one run: `wsgen bundle` (its deployable profile,
# wsgen-lambda) and cargo-lambda 1.9.2 (`cargo lambda build --release --output-format
# zip`, its defaults: the release profile with its release optimizations, thin LTO, one
# codegen unit, panic=abort, strip and the target CPU, and its own zig linker), each
# from an emptied target directory, the same crates and lockfile; then cargo-lambda
# again with wsgen's settings instead (fat LTO, one codegen unit, opt-level "s", strip,
# panic unwind). Prints the times, the zips' sizes and the ratios.
#
#   bash bench/cold-bundle.sh [ROUNDS]      (default 1)
#
# cargo-lambda comes from PyPI (the project's own wheels, pinned) into a venv in the
# bench's target directory; building it from the crates registry takes longer than the
# builds it measures.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-1}
CARGO_LAMBDA_VERSION=1.9.2
export CARGO_INCREMENTAL=0
targets="${BENCH_TARGET_DIR:-$repo/target/bench-cold-bundle}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"

venv="$targets/venv"
if ! "$venv/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q "^cargo-lambda $CARGO_LAMBDA_VERSION "; then
  echo "installing cargo-lambda $CARGO_LAMBDA_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
CARGO_TARGET_DIR="$targets/wsgen" cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" --bin wsgen
wsgen="$targets/wsgen/release/wsgen"
export WSGEN_DATA_DIR="$targets/data"
(cd "$work" && "$wsgen" new chat --blueprint chat >/dev/null)
packages=$(python3 -c 'import tomllib,sys; print(" ".join(tomllib.load(open(sys.argv[1],"rb"))["handlers"]))' "$repo/blueprints/chat/blueprint.toml")
# Resolve the lockfile once (and fetch), outside the timings.
(cd "$work/chat" && cargo fetch --quiet)

sizes() { python3 - "$@" <<'PY'
import os, sys
zips = [os.path.join(r, f) for d in sys.argv[1:] for r, _, fs in os.walk(d) for f in fs if f.endswith(".zip")]
total = sum(os.path.getsize(z) for z in zips)
print(f"{len(zips)} zips, {total / 1024:.0f} KiB in all, {total / 1024 / max(1, len(zips)):.0f} KiB each")
PY
}
# Seconds since START (a `date +%s.%N`), to a tenth.
seconds_since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }
results="$work/results"
for round in $(seq "$rounds"); do
  rm -rf "$targets/handlers" "$work/chat/wsgen.out"
  start=$(date +%s.%N)
  CARGO_TARGET_DIR="$targets/handlers" "$wsgen" bundle --project "$work/chat" -q
  took=$(seconds_since "$start")
  echo "round $round, wsgen bundle: $took s; $(sizes "$work/chat/wsgen.out/assets")"
  echo "wsgen $took" >>"$results"

  rm -rf "$targets/cargo-lambda" "$work/lambda-zips"
  args=()
  for p in $packages; do args+=(--package "$p"); done
  start=$(date +%s.%N)
  (cd "$work/chat" && PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$targets/cargo-lambda" \
    cargo lambda build --release --output-format zip --lambda-dir "$work/lambda-zips" "${args[@]}" --quiet)
  took=$(seconds_since "$start")
  echo "round $round, cargo lambda build --release: $took s; $(sizes "$work/lambda-zips")"
  echo "cargo-lambda $took" >>"$results"

  # The same crates with wsgen's deployable settings (fat LTO, one codegen unit,
  # opt-level "s", strip, panic unwind) instead of cargo-lambda's own (which it passes
  # as --config, above the environment, unless --disable-optimizations).
  rm -rf "$targets/cargo-lambda" "$work/lambda-zips"
  start=$(date +%s.%N)
  (cd "$work/chat" && PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$targets/cargo-lambda" \
    CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_STRIP=true \
    cargo lambda build --release --disable-optimizations --output-format zip \
    --lambda-dir "$work/lambda-zips" "${args[@]}" --quiet)
  took=$(seconds_since "$start")
  echo "round $round, cargo lambda build --release, wsgen's profile settings: $took s; $(sizes "$work/lambda-zips")"
  echo "cargo-lambda-lto $took" >>"$results"
done
python3 - "$results" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    tool, took = line.split()
    runs.setdefault(tool, []).append(float(took))
w, c = statistics.median(runs["wsgen"]), statistics.median(runs["cargo-lambda"])
l = statistics.median(runs["cargo-lambda-lto"])
print(f"medians: wsgen bundle {w:.1f} s, cargo lambda build {c:.1f} s; wsgen / cargo-lambda = {w / c:.2f}x (target: 0.6x or less)")
print(f"with wsgen's profile settings, cargo lambda build {l:.1f} s; wsgen / cargo-lambda = {w / l:.2f}x")
PY

#!/usr/bin/env bash
# What one multi-call binary saves a cold build (issue 16; `wsgen bundle` now links
# the handlers that name an entry point this way, see README): the chat blueprint's four
# handlers built from an emptied target directory as each crate's own binary (the
# wsgen-lambda profile: fat LTO, one codegen unit, opt-level "s", strip; four binaries,
# four LTO links), and as one binary that links all four crates' routers and picks one
# by the function it runs as (`WSGEN_HANDLER`), one LTO link. Side by side in one run;
# prints the times, the binaries' sizes and the ratio. Synth is left out of both (it is
# the same for each).
#
#   bash bench/multi-call.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_INCREMENTAL=0
targets="${BENCH_TARGET_DIR:-$repo/target/bench-multi-call}"
# The wsgen that generates the project (the cold bundle bench's build when there is one).
wsgen_target="${WSGEN_TARGET_DIR:-$repo/target/bench-cold-bundle/wsgen}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"

CARGO_TARGET_DIR="$wsgen_target" cargo build --release --locked --quiet --manifest-path "$repo/Cargo.toml" --bin wsgen
export WSGEN_DATA_DIR="$targets/data"
(cd "$work" && "$wsgen_target/release/wsgen" new chat --blueprint chat >/dev/null)
project="$work/chat"
handlers="onconnect ondisconnect sendmessage default"

# The multi-call crate: each handler crate's library (its router), chosen at start.
mkdir -p "$project/lambdas/multicall/src"
{
  printf '[package]\nname = "multicall"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
  printf 'wsgen-handler = { version = "0.1.0" }\n'
  printf 'tokio = { version = "1", features = ["macros", "rt"] }\n'
  for h in $handlers; do printf '%s = { path = "../%s" }\n' "$h" "$h"; done
} >"$project/lambdas/multicall/Cargo.toml"
{
  printf '//! The four handlers in one binary: WSGEN_HANDLER names the one to run.\n\n'
  printf '#[tokio::main(flavor = "current_thread")]\nasync fn main() -> Result<(), wsgen_handler::Error> {\n'
  printf '    let ctx = wsgen_handler::Context::from_env().await?;\n'
  printf '    match std::env::var("WSGEN_HANDLER").unwrap_or_default().as_str() {\n'
  for h in $handlers; do printf '        "%s" => %s::router(ctx).run().await,\n' "$h" "$h"; done
  printf '        other => Err(format!("no handler `{other}`").into()),\n    }\n}\n'
} >"$project/lambdas/multicall/src/main.rs"
(cd "$project" && cargo fetch --quiet)

profile=(--profile wsgen-lambda
  --config 'profile.wsgen-lambda.inherits="release"' --config profile.wsgen-lambda.lto=true
  --config profile.wsgen-lambda.codegen-units=1 --config 'profile.wsgen-lambda.opt-level="s"'
  --config profile.wsgen-lambda.strip=true --config 'profile.wsgen-lambda.panic="unwind"')
timed() {
  local start took
  start=$(date +%s.%N)
  "$@"
  took=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$start" "$(date +%s.%N)")
  echo "$took"
}
size() { python3 -c "import os, sys; print(f'{sum(os.path.getsize(p) for p in sys.argv[1:]) / 1024:.0f} KiB')" "$@"; }

rm -rf "$targets/four"
args=()
for h in $handlers; do args+=(-p "$h"); done
four=$(cd "$project" && timed env CARGO_TARGET_DIR="$targets/four" cargo build --quiet "${profile[@]}" "${args[@]}")
bins=()
for h in $handlers; do bins+=("$targets/four/wsgen-lambda/$h"); done
echo "four binaries (each crate's own): $four s; $(size "${bins[@]}") in all"

rm -rf "$targets/one"
one=$(cd "$project" && timed env CARGO_TARGET_DIR="$targets/one" cargo build --quiet "${profile[@]}" -p multicall)
echo "one multi-call binary: $one s; $(size "$targets/one/wsgen-lambda/multicall")"
python3 -c "import sys; print(f'one / four = {float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" "$one" "$four"

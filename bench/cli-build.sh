#!/usr/bin/env bash
# The cold build of the `wsgen` binary (release, as `cargo install` builds it) at this
# checkout and at another revision, one after the other on the same machine, each in an
# empty target directory. The default base is the last revision with wsgen dev's
# hand-written DynamoDB engine, so this measures what dynoxide costs to build.
#
#   bash bench/cli-build.sh [BASE_REV]      (default a39c24a)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-a39c24a}
work=$(mktemp -d)
cleanup() { git -C "$repo" worktree remove --force "$work/base" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
git -C "$repo" worktree add --detach "$work/base" "$base" >/dev/null 2>&1
cargo fetch --locked --manifest-path "$repo/Cargo.toml" >/dev/null
cargo fetch --locked --manifest-path "$work/base/Cargo.toml" >/dev/null
build() { # name, checkout
  local start end
  start=$(date +%s.%N)
  CARGO_TARGET_DIR="$work/target-$1" CARGO_INCREMENTAL=0 \
    cargo build --release --locked --offline --quiet --manifest-path "$2/Cargo.toml" --bin wsgen
  end=$(date +%s.%N)
  printf '%-28s %6.1f s   %s\n' "$1" "$(echo "$end - $start" | bc)" \
    "$(du -h "$work/target-$1/release/wsgen" | cut -f1) binary"
}
echo "cold release build of the wsgen binary ($(nproc) cores):"
build "base ($base)" "$work/base"
build "this checkout" "$repo"

#!/usr/bin/env bash
# `wsgen synth` (warm: the infra binary is cached) of the chat fixture, side by side
# with `cdk synth` of the same stack written with aws-cdk-lib (bench/cdk-chat), timed
# by hyperfine in one run. Needs hyperfine (Debian) and node/npm; installs the pinned
# CDK packages into bench/cdk-chat/node_modules on first use.
#
#   bash bench/synth-vs-cdk.sh [hyperfine options]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || { echo "install hyperfine first: apt-get install hyperfine" >&2; exit 1; }

cargo build --release --manifest-path "$repo/Cargo.toml" --bin wsgen >&2
wsgen="${CARGO_TARGET_DIR:-$repo/target}/release/wsgen"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/tests/fixtures/chat" "$work/chat"
rm -rf "$work/chat/wsgen.out" "$work/chat/target"
# Paths into this checkout, made absolute for the copy.
sed -i "s|\"\.\./\.\./\.\./\.\./crates/|\"$repo/crates/|" "$work/chat/infra/Cargo.toml"
sed -i "s|\"\.\./\.\./\.\./\.\./\.\./blueprints/|\"$repo/blueprints/|" "$work/chat/infra/src/main.rs"
"$wsgen" synth --project "$work/chat" -q > /dev/null   # builds and caches the infra binary

(cd "$repo/bench/cdk-chat" && { [[ -d node_modules ]] || npm install --no-audit --no-fund --loglevel=error; })
export CHAT_LAMBDAS="$work/chat/lambdas" CDK_DISABLE_VERSION_CHECK=1
cdk() { (cd "$repo/bench/cdk-chat" && npx --no-install cdk synth --quiet --no-notices --output "$work/cdk.out" "$@"); }
cdk > /dev/null

hyperfine --warmup 3 --min-runs 20 "$@" \
  -n "wsgen synth" "$wsgen synth --project $work/chat -q > /dev/null" \
  -n "cdk synth" "cd $repo/bench/cdk-chat && npx --no-install cdk synth --quiet --no-notices --output $work/cdk.out > /dev/null"
